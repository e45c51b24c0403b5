"""Comparing the live read model with a replay of the whole event store."""

from __future__ import annotations

from typing import Any

from eventsourcing.postgres import PostgresApplicationRecorder
from psycopg.sql import SQL, Identifier

from adapters.read_models.resources import ResourcesProjection
from api.composition.services import Services

REPLAY_TABLE = "resources_replayed"


def replay(recorder: PostgresApplicationRecorder, projection: ResourcesProjection) -> None:
    """The reference replay: every event, one statement at a time, in notification order.

    Slow and plainly right; the bulk rebuild is held to what it gives.
    """
    with recorder.datastore.transaction(commit=True) as curs:
        for statement in projection.create_table_statements():
            curs.execute(statement)
    position = 0
    while notifications := recorder.select_notifications(
        start=position, limit=1000, inclusive_of_start=False
    ):
        with recorder.datastore.transaction(commit=True) as curs:
            projection.apply_stored(curs, notifications)
        position = notifications[-1].id


def rows(services: Services, table: str, order: str = "id") -> list[dict[str, Any]]:
    """Every row of a table, in a stable order."""
    with services.datastore.get_connection() as conn:
        return conn.execute(
            SQL("SELECT * FROM {0} ORDER BY {1}").format(Identifier(table), SQL(order))
        ).fetchall()


def replayed_rows(services: Services) -> list[dict[str, Any]]:
    """The rows that replaying every stored event into an empty table gives."""
    with services.datastore.transaction(commit=True) as curs:
        curs.execute(SQL("DROP TABLE IF EXISTS {0}").format(Identifier(REPLAY_TABLE)))
    recorder = services.events.recorder
    assert isinstance(recorder, PostgresApplicationRecorder)
    replay(recorder, ResourcesProjection(services.events.mapper, table=REPLAY_TABLE))
    return rows(services, REPLAY_TABLE)
