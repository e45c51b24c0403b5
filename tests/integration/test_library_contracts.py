"""Our recorder passes the eventsourcing library's own test case for its kind.

Not `NonInterleavingNotificationIDsBaseCase`: appends take no table lock, so two
concurrent bulk appends may draw interleaved positions. Readers never depend on the
contrary: they read through the commit-ordered reader (tests/integration/
test_commit_order.py holds it to exactly-once delivery under concurrent appends)."""

from __future__ import annotations

from uuid import UUID

import pytest
from eventsourcing.persistence import DatetimeAsISO, DecimalAsStr, JSONTranscoder, Mapper, UUIDAsHex
from eventsourcing.tests.persistence import ApplicationRecorderTestCase

from adapters.event_store import ProjectingApplicationRecorder
from adapters.read_models.resources import ResourcesProjection
from tests.storage import library_datastore

EVENTS_TABLE = "contract_events"


class ContractDatabase:
    url: str = ""


@pytest.fixture(autouse=True, scope="module")
def _contract_database(database_url: str) -> None:
    ContractDatabase.url = database_url


def fresh_recorder() -> ProjectingApplicationRecorder:
    datastore = library_datastore(ContractDatabase.url, pool_size=4, max_overflow=8)
    with datastore.transaction(commit=True) as curs:
        curs.execute(f"DROP TABLE IF EXISTS {EVENTS_TABLE}")
        curs.execute("DROP TABLE IF EXISTS contract_resources")
    recorder = ProjectingApplicationRecorder(datastore, events_table_name=EVENTS_TABLE)
    recorder.create_table()
    # The projection is attached as in production: it must let foreign events pass.
    transcoder = JSONTranscoder()
    for transcoding in (UUIDAsHex(), DecimalAsStr(), DatetimeAsISO()):
        transcoder.register(transcoding)
    mapper: Mapper[UUID] = Mapper(transcoder=transcoder)
    projection = ResourcesProjection(mapper, table="contract_resources")
    with datastore.transaction(commit=True) as curs:
        for statement in projection.create_table_statements():
            curs.execute(statement)
    recorder.project_inline(projection)
    return recorder


class TestProjectingRecorderIsAnApplicationRecorder(
    ApplicationRecorderTestCase[ProjectingApplicationRecorder]
):
    def create_recorder(self) -> ProjectingApplicationRecorder:
        return fresh_recorder()
