"""List totals come from kept counts: exact under concurrent writers, across a rebuild,
and for a store whose tables were made before counts were kept."""

from __future__ import annotations

import random
from concurrent.futures import ThreadPoolExecutor

from adapters.read_models.rebuild_targets import ResourcesRebuild
from adapters.read_models.resources import ResourcesProjection
from api.composition.services import Services
from application.errors import ConcurrentUpdate
from domain.errors import DomainError
from tests.acting import Acting
from tests.seeding import seed

PROJECTS = (4, 5)
STATUSES = ("uploaded", "pending", "all")


def totals(acting: Acting, project_id: int) -> dict[str, int]:
    """What `GET /api/resources?status=...` answers as `pagination.total`."""
    caller = acting.caller(project_id, "reader")
    service = acting.resources.service
    return {
        status: acting.resources.call(service.page, caller, status, 1, 1).total
        for status in STATUSES
    }


def counted(services: Services, project_id: int) -> dict[str, int]:
    """The same, counted row by row."""
    with services.datastore.get_connection() as conn:
        rows = conn.execute(
            "SELECT status, count(*) AS n FROM resources WHERE project_id = %s GROUP BY status",
            (project_id,),
        ).fetchall()
    found = {row["status"]: int(row["n"]) for row in rows}
    uploaded, pending = found.get("uploaded", 0), found.get("pending", 0)
    return {"uploaded": uploaded, "pending": pending, "all": uploaded + pending}


def test_totals_stay_exact_while_many_writers_register_confirm_and_delete(
    services: Services, acting: Acting
) -> None:
    def work(seed_number: int) -> None:
        rng = random.Random(seed_number)
        project = PROJECTS[seed_number % 2]
        user = f"writer-{seed_number}"
        mine: list[int] = []
        for _ in range(12):
            choice = rng.random()
            try:
                if choice < 0.5 or not mine:
                    link = rng.random() < 0.3
                    fields = {"url": "https://example.com/x"} if link else {"size_bytes": 3}
                    mine.append(acting.register(project, user, name="f.txt", **fields).id)
                elif choice < 0.8:
                    target = rng.choice(mine)
                    acting.put_bytes(target, b"abc")
                    acting.update(project, user, target, confirm_upload=True)
                else:
                    target = mine.pop(rng.randrange(len(mine)))
                    acting.delete(project, user, target)
            except (DomainError, ConcurrentUpdate):
                pass  # e.g. confirming a link, or one already uploaded: nothing changes

    with ThreadPoolExecutor(max_workers=8) as pool:
        list(pool.map(work, range(16)))
    for project in PROJECTS:
        assert totals(acting, project) == counted(services, project)
        assert totals(acting, project)["all"] > 0


def test_totals_are_exact_after_a_rebuild_swaps_the_table(
    services: Services, acting: Acting
) -> None:
    seed(services, resources=40, changes_each=1, project_id=4, links=True)
    seed(services, resources=25, changes_each=0, project_id=4)
    before = totals(acting, 4)
    assert before == {"uploaded": 40, "pending": 25, "all": 65}
    outcome = services.rebuilder(
        ResourcesRebuild(ResourcesProjection(services.events.mapper))
    ).run()
    assert outcome.differences == 0
    acting.register(4, "after", name="new.txt", size_bytes=1)
    assert totals(acting, 4) == {"uploaded": 40, "pending": 26, "all": 66}
    assert totals(acting, 4) == counted(services, 4)


def test_a_table_made_before_counts_were_kept_is_counted_when_a_process_starts(
    services: Services, acting: Acting
) -> None:
    seed(services, resources=30, changes_each=0, project_id=5, links=True)
    with services.datastore.transaction(commit=True) as curs:
        for trigger in ("row_counts_added", "row_counts_removed", "row_counts_status"):
            curs.execute(f"DROP TRIGGER {trigger} ON resources")
        curs.execute("DROP TRIGGER row_counts_added ON activity")
        curs.execute("DELETE FROM row_counts")
    restarted = Services(services.settings)  # the new release's process starts
    restarted.close()
    assert totals(acting, 5) == {"uploaded": 30, "pending": 0, "all": 30}
    acting.register(5, "after", name="new.txt", size_bytes=1)
    assert totals(acting, 5) == counted(services, 5)
