"""A newer projection version reshapes the read model: rebuilt aside, swapped in on start."""

from __future__ import annotations

import dataclasses
from collections.abc import Iterator
from typing import Any
from uuid import UUID

import pytest
from eventsourcing.domain import Aggregate
from eventsourcing.persistence import Mapper

from adapters.read_models.resources import ResourcesProjection
from adapters.read_models.tables import create_table_statements
from adapters.schema import live_version
from api.composition.services import Services
from application.access import Caller, key_digest
from application.commands import UpdateResource
from projections.resources import RESOURCES, Effect, Insert, ResourceRecord, Update
from tests.acting import Acting
from tests.integration.read_models import rows

PROJECT = 4


class RecordWithLength(ResourceRecord, frozen=True, kw_only=True, gc=False):
    name_length: int | None = None


NEXT_SHAPE = dataclasses.replace(
    RESOURCES, version=RESOURCES.version + 1, row_type=RecordWithLength
)


class ProjectionWithLength(ResourcesProjection):
    """The next version: the row also keeps the length of the name."""

    def __init__(self, mapper: Mapper[UUID], shape: Any = NEXT_SHAPE, table: str | None = None):
        super().__init__(mapper, shape, table)

    def effect(self, event: Aggregate.Event) -> Effect | None:
        effect = super().effect(event)
        if isinstance(effect, Insert):
            return Insert({**effect.values, "name_length": len(effect.values["name"])})
        if isinstance(effect, Update) and "name" in effect.values:
            values = {**effect.values, "name_length": len(effect.values["name"])}
            return Update(effect.aggregate_id, effect.version, values)
        return effect


def table_oid(services: Services) -> int:
    """The live table's identity: a swapped-in table is another table."""
    with services.datastore.get_connection() as conn:
        row = conn.execute("SELECT 'resources'::regclass::oid AS oid").fetchone()
    assert row is not None
    return int(row["oid"])


@pytest.fixture
def back_to_the_current_version(services: Services) -> Iterator[None]:
    yield
    with services.datastore.transaction(commit=True) as curs:
        curs.execute("ALTER TABLE resources DROP COLUMN IF EXISTS name_length")
        for statement in create_table_statements(RESOURCES):
            curs.execute(statement)


@pytest.mark.usefixtures("back_to_the_current_version")
def test_a_service_with_a_newer_projection_rebuilds_the_table_in_the_new_shape(
    services: Services, acting: Acting
) -> None:
    first = acting.register(PROJECT, "u", name="abc")
    acting.update(PROJECT, "u", first.id, name="abcdefgh")
    acting.register(PROJECT, "u", name="xy")
    before = rows(services, "resources")
    assert live_version(services.datastore, "resources") == RESOURCES.version

    table_before = table_oid(services)
    upgraded = Services(services.settings, projection=ProjectionWithLength)
    try:
        assert live_version(services.datastore, "resources") == NEXT_SHAPE.version
        assert table_oid(services) != table_before
        after = rows(services, "resources")
        assert [row["name_length"] for row in after] == [8, 2]
        assert [{k: v for k, v in row.items() if k != "name_length"} for row in after] == before

        _, secret = services.keys.create(PROJECT, "v2")
        digest = key_digest(secret)
        assert digest is not None
        with upgraded.blocking() as resources:
            outcome = resources.update(
                Caller(digest=digest), UpdateResource(resource_id=first.id, name="a")
            )
        assert isinstance(outcome.record, RecordWithLength)
        assert outcome.record.name_length == 1
        assert rows(services, "resources")[0]["name_length"] == 1
    finally:
        upgraded.close()


@pytest.mark.usefixtures("back_to_the_current_version")
def test_a_service_whose_projection_is_current_leaves_the_table_alone(
    services: Services, acting: Acting
) -> None:
    acting.register(PROJECT, "u", name="abc")
    table_before = table_oid(services)
    again = Services(services.settings)
    try:
        assert live_version(services.datastore, "resources") == RESOURCES.version
        assert table_oid(services) == table_before
    finally:
        again.close()
