"""The one schema step: every table, sequence and function the service owns.

It runs when a process starts, under an advisory lock, so servers, workers and
commands starting together never race on DDL ("tuple concurrently updated").
A versioned read model whose live table is older than the code's projection is
rebuilt aside and swapped in here (zero downtime: the live table keeps serving
until the swap), so a change to the read model's shape needs no hand-written
migration.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Iterator
from contextlib import contextmanager

import psycopg
from eventsourcing.postgres import PostgresDatastore
from psycopg.sql import Composed

from adapters.event_store import (
    ProjectingApplicationRecorder,
    ResourceEvents,
    append_function,
    append_function_name,
)
from adapters.keys import keys_table
from adapters.read_models.activity import ACTIVITY_INDEXES, ActivityView
from adapters.read_models.counts import (
    COUNTS_TABLE,
    counted_by_project_actor_and_type,
    counted_by_status,
    counts_table_statements,
)
from adapters.read_models.rebuild import STATE_TABLE, create_state_table_statements
from adapters.read_models.resources import ResourcesProjection
from adapters.read_models.tables import create_table_statements
from adapters.read_models.timeline import TimelineProjection
from adapters.resource_store import (
    ID_SEQUENCE,
    OUTCOMES_TABLE,
    id_sequence,
    outcomes_table,
)
from projections.shapes import TableShape, version_of_comment

logger = logging.getLogger(__name__)

SCHEMA_LOCK = "resources:ddl"
"""The advisory lock that processes take to create or change the schema."""


@contextmanager
def schema_lock(conninfo: str) -> Iterator[None]:
    """Held on a connection of its own, for as long as the block runs."""
    with psycopg.connect(conninfo, autocommit=True) as conn:
        conn.execute("SELECT pg_advisory_lock(hashtext(%s))", (SCHEMA_LOCK,))
        yield  # the lock ends with the session


def live_version(datastore: PostgresDatastore, table: str) -> int | None:
    """The projection version of a live table: None when there is no such table.

    A table from before versions were recorded is version 1."""
    with datastore.get_connection() as conn:
        row = conn.execute(
            "SELECT to_regclass(%s) AS oid,"
            " obj_description(to_regclass(%s), 'pg_class') AS comment",
            (table, table),
        ).fetchone()
    if row is None or row["oid"] is None:
        return None
    return version_of_comment(row["comment"]) or 1


def _counted(datastore: PostgresDatastore, table: str) -> bool:
    """Whether the table's rows are counted (its counting triggers exist)."""
    with datastore.get_connection() as conn:
        row = conn.execute(
            "SELECT EXISTS (SELECT FROM pg_trigger WHERE tgrelid = to_regclass(%s)"
            " AND tgname = 'row_counts_added') AS counted",
            (table,),
        ).fetchone()
    return bool(row and row["counted"])


def _complete(
    datastore: PostgresDatastore,
    tables: tuple[str, ...],
    recorder: ProjectingApplicationRecorder,
    shape: TableShape,
    counted: tuple[str, ...],
) -> bool:
    """Whether every table, the sequence and the current append function exist, the
    read model is at the code's projection version, and the counted tables are
    counted (read without taking a lock)."""
    definition = append_function(recorder.events_table_name).as_string()
    body = definition.split("$$")[1]
    with datastore.get_connection() as conn:
        row = conn.execute(
            "SELECT bool_and(to_regclass(name) IS NOT NULL) AS tables,"
            " (SELECT prosrc FROM pg_proc WHERE proname = %s LIMIT 1) AS function"
            " FROM unnest(%s::text[]) AS name",
            (append_function_name(recorder.events_table_name), list(tables)),
        ).fetchone()
    if row is None or not row["tables"] or row["function"] != body:
        return False
    if not all(_counted(datastore, table) for table in counted):
        return False
    return live_version(datastore, shape.name) == shape.version


def create_schema(
    *,
    conninfo: str,
    events: ResourceEvents,
    resources: ResourcesProjection,
    timeline: TimelineProjection,
    activity: ActivityView,
    migrate: Callable[[TableShape], None],
) -> None:
    """Creates what is missing, and migrates an old read model by a rebuild."""
    recorder = events.projecting_recorder
    datastore = recorder.datastore
    snapshots = f"{events.name.lower()}_snapshots"
    tables = (
        recorder.events_table_name,
        snapshots,
        resources.shape.name,
        timeline.table,
        activity.activity_table,
        activity.tracking_table_name,
        STATE_TABLE,
        "api_keys",
        OUTCOMES_TABLE,
        ID_SEQUENCE,
        COUNTS_TABLE,
        *(f"{activity.activity_table}_{suffix}" for suffix, _ in ACTIVITY_INDEXES),
    )
    counted = (resources.shape.name, activity.activity_table)
    if _complete(datastore, tables, recorder, resources.shape, counted):
        # Nothing to create: take no lock at all. `CREATE ... IF NOT EXISTS` of an
        # index locks its table even when the index exists, and held up the appends
        # of running servers whenever a command or a worker started.
        datastore.register_type_adapters()
        for projection in (resources, timeline):
            recorder.project_inline(projection)
        return
    with schema_lock(conninfo):
        recorder.create_table()
        if events.snapshots is not None:
            events.snapshots.recorder.create_table()  # type: ignore[attr-defined]
        activity.create_table()
        shape = resources.shape
        current = live_version(datastore, shape.name)
        statements: list[Composed] = [
            *timeline.create_table_statements(),
            *create_state_table_statements(),
            *keys_table(),
            *outcomes_table(),
            *id_sequence(),
            *counts_table_statements(),
            append_function(recorder.events_table_name),
        ]
        if current is None:
            statements[:0] = create_table_statements(shape)
        with datastore.transaction(commit=True) as curs:
            for statement in statements:
                curs.execute(statement, prepare=False)
        # Tables that were not counted yet (new, or made by an earlier release): their
        # counts from their rows, and the triggers that keep them, in one transaction.
        for table, counting in (
            (shape.name, counted_by_status),
            (activity.activity_table, counted_by_project_actor_and_type),
        ):
            if not _counted(datastore, table):
                with datastore.transaction(commit=True) as curs:
                    for statement in counting(table):
                        curs.execute(statement, prepare=False)
        if current is not None and current < shape.version:
            logger.warning(
                "the %s read model is at projection version %s, the code at %s:"
                " rebuilding it aside, then swapping it in",
                shape.name,
                current,
                shape.version,
            )
            migrate(shape)
        for projection in (resources, timeline):
            recorder.project_inline(projection)
