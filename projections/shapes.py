"""A read-model table declared once, as a row Struct: its columns and DDL derive from it.

The table carries its projection's version as a comment, which moves with the
table when a rebuilt one is swapped in; a live table older than the code's
version is rebuilt aside and swapped (see `adapters.schema`).
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from typing import Any

import msgspec.inspect as mi
from msgspec import Struct

_SQL_TYPES: dict[type[mi.Type], str] = {
    mi.IntType: "bigint",
    mi.StrType: "text",
    mi.LiteralType: "text",
    mi.DateTimeType: "timestamptz",
    mi.UUIDType: "uuid",
    mi.BoolType: "boolean",
    mi.DictType: "jsonb",
}
_VERSION_COMMENT = re.compile(r"projection (\S+) version (\d+)")


def _column(info: mi.Type) -> tuple[str, bool]:
    """The SQL type of a field, and whether it may be NULL."""
    nullable = False
    if isinstance(info, mi.UnionType):
        others = [member for member in info.types if not isinstance(member, mi.NoneType)]
        nullable = len(others) < len(info.types)
        if len(others) != 1:
            msg = f"a column must have one type besides None, not {info}"
            raise TypeError(msg)
        info = others[0]
    sql = _SQL_TYPES.get(type(info))
    if sql is None:
        msg = f"no SQL type for {info}"
        raise TypeError(msg)
    return sql, nullable


@dataclass(frozen=True)
class TableShape:
    """A read model's table: name, projection version, row type, keys and indexes."""

    name: str
    version: int
    row_type: type[Struct]
    primary_key: tuple[str, ...]
    unique: tuple[str, ...] = ()
    indexes: tuple[tuple[str, str], ...] = ()
    """(suffix, column list) of each index, e.g. ("project_idx", "project_id, id DESC")."""
    columns: tuple[str, ...] = field(init=False)
    sql_types: dict[str, str] = field(init=False)
    nullable: frozenset[str] = field(init=False)

    def __post_init__(self) -> None:
        info = mi.type_info(self.row_type)
        assert isinstance(info, mi.StructType)
        types: dict[str, str] = {}
        nullable: set[str] = set()
        for struct_field in info.fields:
            types[struct_field.name], may_be_null = _column(struct_field.type)
            if may_be_null:
                nullable.add(struct_field.name)
        object.__setattr__(self, "columns", tuple(types))
        object.__setattr__(self, "sql_types", types)
        object.__setattr__(self, "nullable", frozenset(nullable))

    def comment(self) -> str:
        return f"projection {self.name} version {self.version}"

    def row(self, values: dict[str, Any]) -> Struct:
        return self.row_type(**values)


def version_of_comment(comment: str | None) -> int | None:
    """The projection version a table's comment records (None: none recorded)."""
    if comment is None:
        return None
    match = _VERSION_COMMENT.fullmatch(comment)
    return int(match.group(2)) if match else None
