"""A read model's table as DDL, from its declared `TableShape`."""

from __future__ import annotations

from psycopg.sql import SQL, Composed, Identifier, Literal

from projections.shapes import TableShape


def create_table_statements(shape: TableShape, table: str | None = None) -> list[Composed]:
    """DDL for a table of this shape, under `table` (default: the live name)."""
    table = table or shape.name
    name = Identifier(table)
    definitions = [
        SQL("{0} {1}{2}").format(
            Identifier(column),
            SQL(shape.sql_types[column]),
            SQL("" if column in shape.nullable else " NOT NULL"),
        )
        for column in shape.columns
    ]
    definitions.append(
        SQL("PRIMARY KEY ({0})").format(SQL(", ").join(map(Identifier, shape.primary_key)))
    )
    definitions.extend(SQL("UNIQUE ({0})").format(Identifier(column)) for column in shape.unique)
    statements = [
        SQL("CREATE TABLE IF NOT EXISTS {name} ({definitions})").format(
            name=name, definitions=SQL(", ").join(definitions)
        ),
        SQL("COMMENT ON TABLE {name} IS {comment}").format(
            name=name, comment=Literal(shape.comment())
        ),
    ]
    statements.extend(
        SQL("CREATE INDEX IF NOT EXISTS {index} ON {name} ({columns})").format(
            index=Identifier(f"{table}_{suffix}"), name=name, columns=SQL(columns)
        )
        for suffix, columns in shape.indexes
    )
    return statements
