"""Every read the API makes walks an index: PostgreSQL's plans, checked.

On a seeded store of a few thousand rows with statistics, each statement is
EXPLAINed twice: with its parameters (the plan of its first executions) and as a
prepared statement's generic plan (which psycopg's prepared statements settle on
after five executions). A sequential scan of `resources`, `activity` or the events
table fails the test, and so does a walk of a whole index (an index scan with no
condition, filtering as it goes: other projects' rows), and a Sort or a count
(Aggregate, WindowAgg) over them: an ordered page must come from an index and a
total from a kept count, not from reading a whole project (sorting or counting
what a Limit below has already cut, or rows named by key, is fine).
"""

from __future__ import annotations

import json
import re
from collections.abc import Iterator
from datetime import UTC, datetime
from typing import Any

import pytest
from psycopg import Connection
from psycopg._queries import PostgresQuery
from psycopg.adapt import Transformer
from psycopg.sql import SQL, Composed, Literal

from adapters.event_history import PostgresEventHistory
from adapters.read_models.reader import CommitOrderedReader
from api.composition.services import Services
from application.access import key_digest
from domain.resource import resource_uuid
from projections.activity import ActivityFilter
from tests.seeding import seed

GUARDED = {"resources", "activity", "resources_events"}
PROJECTS = (4, 5, 6)


def plan_nodes(plan: dict[str, Any]) -> Iterator[dict[str, Any]]:
    yield plan
    for child in plan.get("Plans", []):
        yield from plan_nodes(child)


KEYED = re.compile(r"(?<![a-z_])(id|originator_id) = ")
"""An index condition that names rows by key: a page's ids, or one resource's events."""


def unbounded_relations(node: dict[str, Any]) -> set[str]:
    """The relations read below `node` other than through a Limit (which bounds what
    reaches the node: a page's rows, not a project's) or by key."""
    keyed = bool(KEYED.search(node.get("Index Cond", "")))
    found = {node["Relation Name"]} if "Relation Name" in node and not keyed else set()
    for child in node.get("Plans", []):
        if child["Node Type"] != "Limit":
            found |= unbounded_relations(child)
    return found


def faults(plan: dict[str, Any]) -> list[str]:
    found = []
    for node in plan_nodes(plan):
        kind = node["Node Type"]
        if kind == "Seq Scan" and node.get("Relation Name") in GUARDED:
            found.append(f"sequential scan of {node['Relation Name']}")
        if (
            kind in ("Index Scan", "Index Only Scan")
            and node.get("Relation Name") in GUARDED
            and "Index Cond" not in node
        ):
            found.append(f"walk of the whole {node['Index Name']}")
        sorted_relations = unbounded_relations(node) & GUARDED
        if kind in ("Sort", "Incremental Sort") and sorted_relations:
            found.append(f"sort of whole {sorted(sorted_relations)}")
        if kind in ("Aggregate", "WindowAgg") and sorted_relations:
            found.append(f"count of whole {sorted(sorted_relations)}")
    return found


def explain(conn: Connection[Any], query: bytes | Composed, params: Any) -> list[str]:
    """The faults of the statement's custom plan and of its generic plan."""
    statement = query if isinstance(query, bytes) else query.as_bytes(conn)
    converted = PostgresQuery(Transformer(conn))
    converted.convert(statement, params)
    custom = conn.execute(b"EXPLAIN (FORMAT JSON) " + statement, params).fetchone()
    assert custom is not None
    problems = [f"custom plan: {fault}" for fault in faults(json.loads(_json(custom))[0]["Plan"])]
    conn.execute(b"PREPARE checked AS " + converted.query)
    try:
        conn.execute("SET plan_cache_mode = force_generic_plan")
        names = converted._order  # the names of $1, $2, ... (None: positional parameters)
        ordered = [params[name] for name in names] if names is not None else list(params)
        values = SQL(", ").join(Literal(value) for value in ordered)
        generic = conn.execute(
            SQL("EXPLAIN (FORMAT JSON) EXECUTE checked ({0})").format(values)
        ).fetchone()
        assert generic is not None
        plan = json.loads(_json(generic))[0]["Plan"]
        problems += [f"generic plan: {fault}" for fault in faults(plan)]
    finally:
        conn.execute("RESET plan_cache_mode")
        conn.execute("DEALLOCATE checked")
    return problems


def _json(row: Any) -> str:
    value = row["QUERY PLAN"] if isinstance(row, dict) else row[0]
    return value if isinstance(value, str) else json.dumps(value)


@pytest.fixture
def seeded(services: Services) -> Services:
    for project in PROJECTS:
        seed(services, resources=800, changes_each=2, project_id=project, links=True)
        seed(services, resources=200, changes_each=0, project_id=project)
    while services.activity_runner().process_batch():
        pass
    with services.datastore.get_connection() as conn:
        conn.execute("VACUUM ANALYZE")  # as autovacuum leaves a live store
    return services


def reads(services: Services, digest: bytes) -> dict[str, tuple[bytes | Composed, Any]]:
    """Every statement the API reads with, and the parameters of a typical request."""
    _, store = services.resource_service()  # not opened: only its statements are needed
    history = PostgresEventHistory(
        store,
        services.events.mapper,
        events_table="resources_events",
        snapshots_table="resources_snapshots",
    )
    aggregate = resource_uuid(17)
    page = {"digest": digest, "limit": 20, "offset": 40}
    activity = {
        f"activity, {label}": services.activity.page_statement(4, where, 3, 20)
        for label, where in (
            ("all", ActivityFilter()),
            ("by actor", ActivityFilter(actor="seeder")),
            ("by type", ActivityFilter(type="Renamed")),
            ("by resource", ActivityFilter(resource_id=17)),
            ("since", ActivityFilter(since=datetime(2020, 1, 1, tzinfo=UTC))),
        )
    }
    return {
        "authenticate": (store._authenticate, {"digest": digest}),
        "GET one": (store._load_one, {"resource_id": 17, "digest": digest}),
        "list, all": (store._page_all, page | {"status": "all"}),
        "list, uploaded": (store._page_with_status, page | {"status": "uploaded"}),
        "list, pending": (store._page_with_status, page | {"status": "pending"}),
        "a signed URL's resource": (store._find, (17,)),
        "history exists": (store._has_history, (aggregate,)),
        "history page, time travel": (
            history._stretch,
            {"digest": digest, "id": aggregate, "restore_at": 40, "until": 60},
        ),
        "time travel: version at": (
            history._version_at,
            {"digest": digest, "id": aggregate, "moment": datetime.now(UTC)},
        ),
        **activity,
        "events after a position": (
            CommitOrderedReader("resources_events")._read,
            (1000, 500),
        ),
    }


def test_every_read_walks_an_index(seeded: Services) -> None:
    _, secret = seeded.keys.create(4, "planner")
    digest = key_digest(secret)
    assert digest is not None
    problems = {}
    with seeded.datastore.get_connection() as conn:
        for name, (query, params) in reads(seeded, digest).items():
            found = explain(conn, query, params)
            if found:
                problems[name] = found
    assert problems == {}, json.dumps(problems, indent=1)
