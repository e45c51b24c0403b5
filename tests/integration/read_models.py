"""Comparing the live read model with a replay of the whole event store."""

from __future__ import annotations

from typing import Any

from eventsourcing.postgres import PostgresApplicationRecorder
from psycopg.sql import SQL, Identifier

from api.services import Services
from projections.replay import replay
from projections.resources import ResourcesProjection

REPLAY_TABLE = "resources_replayed"


def rows(services: Services, table: str) -> list[dict[str, Any]]:
    with services.datastore.get_connection() as conn:
        return conn.execute(
            SQL("SELECT * FROM {0} ORDER BY id").format(Identifier(table))
        ).fetchall()


def replayed_rows(services: Services) -> list[dict[str, Any]]:
    """The rows that replaying every stored event into an empty table gives."""
    with services.datastore.transaction(commit=True) as curs:
        curs.execute(SQL("DROP TABLE IF EXISTS {0}").format(Identifier(REPLAY_TABLE)))
    recorder = services.resources.recorder
    assert isinstance(recorder, PostgresApplicationRecorder)
    replay(recorder, ResourcesProjection(services.resources.mapper, table=REPLAY_TABLE))
    return rows(services, REPLAY_TABLE)
