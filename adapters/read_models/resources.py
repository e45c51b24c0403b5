"""The `resources` table: the SQL that carries out `projections.resources`'s effects
inside each append's transaction, and in bulk for a rebuild."""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from typing import Any
from uuid import UUID

from eventsourcing.domain import Aggregate
from eventsourcing.persistence import Mapper, StoredEvent
from psycopg import Cursor
from psycopg.sql import SQL, Composed, Identifier

from adapters.read_models.tables import create_table_statements
from projections.resources import (
    RESOURCES,
    Effect,
    Insert,
    Rows,
    fold_effects,
    is_resource_event,
    merge_effects,
    resource_effect,
)
from projections.shapes import TableShape

Statement = tuple[Composed, Sequence[Any]]


class ResourcesProjection:
    """Applies Resource events to a table of the `resources` shape."""

    def __init__(
        self, mapper: Mapper[UUID], shape: TableShape = RESOURCES, table: str | None = None
    ) -> None:
        self.mapper = mapper
        self.shape = shape
        self.table = table or shape.name
        self._name = Identifier(self.table)
        columns = shape.columns
        self._columns = SQL(", ").join(map(Identifier, columns))
        self._insert = SQL(
            "INSERT INTO {name} ({columns}) VALUES ({values}) ON CONFLICT DO NOTHING"
        ).format(
            name=self._name,
            columns=self._columns,
            values=SQL(", ").join(SQL("%s") for _ in columns),
        )
        self._insert_many = SQL(
            "INSERT INTO {name} ({columns}) SELECT * FROM unnest({arrays}) ON CONFLICT DO NOTHING"
        ).format(
            name=self._name,
            columns=self._columns,
            arrays=SQL(", ").join(
                SQL("%s::" + shape.sql_types[column] + "[]") for column in columns
            ),
        )
        self._returning = SQL(" RETURNING {0}").format(self._columns)
        self._delete = SQL("DELETE FROM {name} WHERE aggregate_id = ANY(%s)").format(
            name=self._name
        )
        self._insert_returning = self._insert + self._returning
        self._delete_returning = self._delete + self._returning
        self._updates: dict[tuple[tuple[str, ...], bool], Composed] = {}
        """Statements are built once and kept: an append's combined statement is cached
        by the statements it is made of (adapters/resource_store.py)."""

    def effect(self, event: Aggregate.Event) -> Effect | None:
        """What one event does to a row (a new projection version may extend it)."""
        return resource_effect(event)

    def create_table_statements(self) -> list[Composed]:
        return create_table_statements(self.shape, self.table)

    def events(self, stored_events: Iterable[StoredEvent]) -> list[Aggregate.Event]:
        """The Resource events among stored ones, decoded."""
        decoded = []
        for stored in stored_events:
            if is_resource_event(stored):
                domain_event = self.mapper.to_domain_event(stored)
                assert isinstance(domain_event, Aggregate.Event)
                decoded.append(domain_event)
        return decoded

    def statements(self, stored_events: Iterable[StoredEvent]) -> list[Statement]:
        """The SQL that writes an append's events: one statement per resource, not per event."""
        return self.statements_for(self.events(stored_events))

    def statements_for(
        self, events: Iterable[Aggregate.Event], *, returning: bool = False
    ) -> list[Statement]:
        """As `statements`, for events already decoded. With `returning`, a written row
        is returned as it is after the statement (for read-your-writes)."""
        effects = [effect for event in events if (effect := self.effect(event)) is not None]
        inserts, updates, removals = merge_effects(effects)
        statements: list[Statement] = []
        columns = self.shape.columns
        if len(inserts) == 1:
            insert = self._insert_returning if returning else self._insert
            statements.append((insert, [inserts[0][column] for column in columns]))
        elif inserts:
            arrays = [[row[column] for row in inserts] for column in columns]
            statements.append((self._insert_many, arrays))
        for update in updates:
            statements.append(
                (
                    self._update(tuple(update.values), returning=returning),
                    (*update.values.values(), update.aggregate_id, update.version),
                )
            )
        if removals:
            delete = self._delete_returning if returning else self._delete
            statements.append((delete, (removals,)))
        return statements

    def apply_stored(self, curs: Cursor[Any], stored_events: Iterable[StoredEvent]) -> None:
        """Writes an append's events, inside its pipelined transaction (never waiting)."""
        for statement, params in self.statements(stored_events):
            curs.execute(statement, params)

    def _update(self, columns: tuple[str, ...], *, returning: bool = False) -> Composed:
        statement = self._updates.get((columns, returning))
        if statement is None:
            statement = SQL(
                "UPDATE {name} SET {assignments} WHERE aggregate_id = %s AND version < %s"
            ).format(
                name=self._name,
                assignments=SQL(", ").join(
                    SQL("{0} = %s").format(Identifier(column)) for column in columns
                ),
            )
            if returning:
                statement += self._returning
            self._updates[(columns, returning)] = statement
        return statement

    def write_batch(
        self, curs: Cursor[Any], table: str, stored_events: Sequence[StoredEvent]
    ) -> None:
        """Bulk-applies a batch to `table`: fold in memory, then one delete and one COPY."""
        effects = [
            effect
            for event in self.events(stored_events)
            if (effect := self.effect(event)) is not None
        ]
        created = {
            effect.values["aggregate_id"] for effect in effects if isinstance(effect, Insert)
        }
        earlier = {
            effect.aggregate_id
            for effect in effects
            if not isinstance(effect, Insert) and effect.aggregate_id not in created
        }
        name = Identifier(table)
        columns = self.shape.columns
        rows: Rows = {}
        if earlier:
            curs.execute(
                SQL("SELECT {columns} FROM {name} WHERE aggregate_id = ANY(%s)").format(
                    columns=self._columns, name=name
                ),
                (list(earlier),),
            )
            for found in curs.fetchall():
                values = (
                    dict(found)
                    if isinstance(found, dict)
                    else dict(zip(columns, found, strict=True))
                )
                rows[values["aggregate_id"]] = values
        fold_effects(rows, effects)
        if not rows:
            return
        curs.execute(
            SQL("DELETE FROM {name} WHERE aggregate_id = ANY(%s)").format(name=name), (list(rows),)
        )
        with curs.copy(
            SQL("COPY {name} ({columns}) FROM STDIN").format(name=name, columns=self._columns)
        ) as copy:
            for row in rows.values():
                if row is not None:
                    copy.write_row([row[column] for column in columns])
