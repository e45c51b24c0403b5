"""The `resources` read model: one row per live resource, written only from events.

`resource_effect` says, once, what each event does to the table. Two writers
carry it out: `ResourcesProjection.apply` as SQL inside each append's
transaction (so a PATCH reads its own write), and `fold_effects` in memory for
the bulk rebuild. Both are guarded by the row's version, so applying an event
twice changes nothing.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from typing import Any
from uuid import UUID

from eventsourcing.domain import Aggregate
from eventsourcing.persistence import Mapper, StoredEvent
from psycopg import Cursor
from psycopg.sql import SQL, Composed, Identifier

from domain.resource import Resource

READ_MODEL_TABLE = "resources"

_RESOURCE_TOPIC_PREFIX = f"{Resource.__module__}:{Resource.__qualname__}."


def is_resource_event(stored: StoredEvent) -> bool:
    """Whether a stored event is one of the Resource aggregate's (decoding not needed)."""
    return stored.topic.startswith(_RESOURCE_TOPIC_PREFIX)


COLUMNS = (
    "aggregate_id",
    "id",
    "project_id",
    "name",
    "description",
    "status",
    "kind",
    "mime_type",
    "size_bytes",
    "link_url",
    "created_by",
    "created_at",
    "updated_at",
    "version",
)
_VERSION = COLUMNS.index("version")
COLUMN_TYPES = {
    "aggregate_id": "uuid",
    "id": "bigint",
    "project_id": "bigint",
    "name": "text",
    "description": "text",
    "status": "text",
    "kind": "text",
    "mime_type": "text",
    "size_bytes": "bigint",
    "link_url": "text",
    "created_by": "text",
    "created_at": "timestamptz",
    "updated_at": "timestamptz",
    "version": "bigint",
}


def create_table_statements(table: str = READ_MODEL_TABLE) -> list[Composed]:
    """DDL for a `resources`-shaped table under the given name."""
    name = Identifier(table)
    return [
        SQL(
            "CREATE TABLE IF NOT EXISTS {name} ("
            " aggregate_id uuid NOT NULL UNIQUE,"
            " id bigint PRIMARY KEY,"
            " project_id bigint NOT NULL,"
            " name text NOT NULL,"
            " description text,"
            " status text NOT NULL,"
            " kind text NOT NULL,"
            " mime_type text NOT NULL,"
            " size_bytes bigint,"
            " link_url text,"
            " created_by text NOT NULL,"
            " created_at timestamptz NOT NULL,"
            " updated_at timestamptz NOT NULL,"
            " version bigint NOT NULL)"
        ).format(name=name),
        SQL("CREATE INDEX IF NOT EXISTS {index} ON {name} (project_id, status, id DESC)").format(
            index=Identifier(f"{table}_listing_idx"), name=name
        ),
        # The list with ?status=all: a project's rows newest first, read only to the page.
        SQL("CREATE INDEX IF NOT EXISTS {index} ON {name} (project_id, id DESC)").format(
            index=Identifier(f"{table}_project_idx"), name=name
        ),
    ]


@dataclass(frozen=True, slots=True)
class Insert:
    row: tuple[Any, ...]
    """All of `COLUMNS`, in order."""


@dataclass(frozen=True, slots=True)
class Update:
    aggregate_id: UUID
    version: int
    values: dict[str, Any]
    """Changed columns, `updated_at` and `version` included."""


@dataclass(frozen=True, slots=True)
class Remove:
    aggregate_id: UUID


Effect = Insert | Update | Remove


def resource_effect(event: Aggregate.Event) -> Effect | None:
    """What one event does to its resource's row."""
    aggregate_id = event.originator_id
    version = event.originator_version
    at = event.timestamp
    stamp = {"updated_at": at, "version": version}
    match event:
        case Resource.Registered():
            link = event.url if isinstance(event, Resource.LinkRegistered) else None
            return Insert(
                (
                    aggregate_id,
                    event.resource_id,
                    event.project_id,
                    event.name,
                    event.description,
                    "uploaded" if link is not None else "pending",
                    "link" if link is not None else "file",
                    event.mime_type,
                    event.size_bytes,
                    link,
                    event.actor,
                    at,
                    at,
                    version,
                )
            )
        case Resource.Renamed(name=name):
            return Update(aggregate_id, version, {"name": name, **stamp})
        case Resource.DescriptionChanged(description=description):
            return Update(aggregate_id, version, {"description": description, **stamp})
        case Resource.UploadConfirmed(size_bytes=size):
            return Update(
                aggregate_id, version, {"status": "uploaded", "size_bytes": size, **stamp}
            )
        case Resource.Deleted():
            return Remove(aggregate_id)
    return None


def fold_effects(
    rows: dict[UUID, list[Any] | None], effects: Iterable[Effect]
) -> dict[UUID, list[Any] | None]:
    """Applies effects to rows in memory (None: a removed row), as the SQL would."""
    for effect in effects:
        match effect:
            case Insert(row=row):
                if rows.get(row[0]) is None:
                    rows[row[0]] = list(row)
            case Update(aggregate_id=aggregate_id, version=version, values=values):
                current = rows.get(aggregate_id)
                if current is not None and current[_VERSION] < version:
                    for column, value in values.items():
                        current[COLUMNS.index(column)] = value
            case Remove(aggregate_id=aggregate_id):
                rows[aggregate_id] = None
    return rows


def merge_effects(
    effects: Iterable[Effect],
) -> tuple[list[tuple[Any, ...]], list[Update], list[UUID]]:
    """One append's effects, merged per resource: rows to insert, updates, removals.

    Rows registered in the same append are folded in memory; changes to earlier
    rows merge into one update each, guarded by the last event's version.
    """
    created: dict[UUID, list[Any] | None] = {}
    updates: dict[UUID, Update] = {}
    removed: list[UUID] = []
    for effect in effects:
        match effect:
            case Insert(row=row) if row[0] not in created:
                created[row[0]] = list(row)
            case Update(aggregate_id=aggregate_id) if aggregate_id in created:
                fold_effects(created, [effect])
            case Update(aggregate_id=aggregate_id, version=version, values=values):
                earlier = updates.get(aggregate_id)
                merged = {**earlier.values, **values} if earlier else dict(values)
                updates[aggregate_id] = Update(aggregate_id, version, merged)
            case Remove(aggregate_id=aggregate_id):
                if aggregate_id in created:
                    created[aggregate_id] = None
                else:
                    updates.pop(aggregate_id, None)
                    removed.append(aggregate_id)
    inserts = [tuple(row) for row in created.values() if row is not None]
    return inserts, list(updates.values()), removed


class ResourcesProjection:
    """Applies Resource events to a `resources`-shaped table, one statement per event."""

    def __init__(self, mapper: Mapper[UUID], table: str = READ_MODEL_TABLE) -> None:
        self.mapper = mapper
        self.table = table
        self._name = Identifier(table)
        self._insert = SQL(
            "INSERT INTO {name} ({columns}) VALUES ({values}) ON CONFLICT DO NOTHING"
        ).format(
            name=self._name,
            columns=SQL(", ").join(map(Identifier, COLUMNS)),
            values=SQL(", ").join(SQL("%s") for _ in COLUMNS),
        )
        self._insert_many = SQL(
            "INSERT INTO {name} ({columns}) SELECT * FROM unnest({arrays}) ON CONFLICT DO NOTHING"
        ).format(
            name=self._name,
            columns=SQL(", ").join(map(Identifier, COLUMNS)),
            arrays=SQL(", ").join(SQL("%s::" + COLUMN_TYPES[column] + "[]") for column in COLUMNS),
        )
        self._delete = SQL("DELETE FROM {name} WHERE aggregate_id = ANY(%s)").format(
            name=self._name
        )
        self._updates: dict[tuple[tuple[str, ...], bool], Composed] = {}

    def create_table_statements(self) -> list[Composed]:
        return create_table_statements(self.table)

    def events(self, stored_events: Iterable[StoredEvent]) -> list[Aggregate.Event]:
        """The Resource events among stored ones, decoded."""
        decoded = []
        for stored in stored_events:
            if is_resource_event(stored):
                domain_event = self.mapper.to_domain_event(stored)
                assert isinstance(domain_event, Aggregate.Event)
                decoded.append(domain_event)
        return decoded

    def statements(
        self, stored_events: Iterable[StoredEvent], *, returning: bool = False
    ) -> list[tuple[Composed, Sequence[Any]]]:
        """The SQL that writes an append's events: one statement per resource, not per event.

        With `returning`, updates return the row after them (for read-your-writes).
        """
        return self.statements_for(self.events(stored_events), returning=returning)

    def statements_for(
        self, events: Iterable[Aggregate.Event], *, returning: bool = False
    ) -> list[tuple[Composed, Sequence[Any]]]:
        """As `statements`, for events already decoded (the append at hand has them)."""
        effects = [effect for event in events if (effect := resource_effect(event)) is not None]
        inserts, updates, removals = merge_effects(effects)
        statements: list[tuple[Composed, Sequence[Any]]] = []
        if len(inserts) == 1:
            statements.append((self._insert, inserts[0]))
        elif inserts:
            statements.append(
                (self._insert_many, [list(column) for column in zip(*inserts, strict=True)])
            )
        for update in updates:
            statements.append(
                (
                    self._update(tuple(update.values), returning=returning),
                    (*update.values.values(), update.aggregate_id, update.version),
                )
            )
        if removals:
            statements.append((self._delete, (removals,)))
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
                statement += SQL(" RETURNING {0}").format(SQL(", ").join(map(Identifier, COLUMNS)))
            self._updates[(columns, returning)] = statement
        return statement

    def write_batch(
        self, curs: Cursor[Any], table: str, stored_events: Sequence[StoredEvent]
    ) -> None:
        """Bulk-applies a batch to `table`: fold in memory, then one delete and one COPY."""
        effects = [
            effect
            for event in self.events(stored_events)
            if (effect := resource_effect(event)) is not None
        ]
        created = {effect.row[0] for effect in effects if isinstance(effect, Insert)}
        earlier = {
            effect.aggregate_id
            for effect in effects
            if not isinstance(effect, Insert) and effect.aggregate_id not in created
        }
        name = Identifier(table)
        rows: dict[UUID, list[Any] | None] = {}
        if earlier:
            curs.execute(
                SQL("SELECT {columns} FROM {name} WHERE aggregate_id = ANY(%s)").format(
                    columns=SQL(", ").join(map(Identifier, COLUMNS)), name=name
                ),
                (list(earlier),),
            )
            for found in curs.fetchall():
                values = list(found.values()) if isinstance(found, dict) else list(found)
                rows[values[0]] = values
        fold_effects(rows, effects)
        if not rows:
            return
        curs.execute(
            SQL("DELETE FROM {name} WHERE aggregate_id = ANY(%s)").format(name=name), (list(rows),)
        )
        with curs.copy(
            SQL("COPY {name} ({columns}) FROM STDIN").format(
                name=name, columns=SQL(", ").join(map(Identifier, COLUMNS))
            )
        ) as copy:
            for row in rows.values():
                if row is not None:
                    copy.write_row(row)
