"""Law: replaying the event store rebuilds exactly the live read model."""

from __future__ import annotations

import contextlib
from typing import Any

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from api.composition.services import BlockingResources, Services
from application.errors import ResourceNotFound
from domain.errors import DomainError
from tests.acting import Acting
from tests.integration.read_models import replayed_rows, rows
from tests.storage import empty

PROJECTS = st.sampled_from([1, 2])
TARGETS = st.integers(1, 4)
steps = st.lists(
    st.one_of(
        st.tuples(st.just("register"), PROJECTS, st.none() | st.integers(0, 4), st.booleans()),
        st.tuples(st.just("rename"), PROJECTS, TARGETS, st.text(max_size=12)),
        st.tuples(st.just("describe"), PROJECTS, TARGETS, st.none() | st.text(max_size=12)),
        st.tuples(st.just("upload"), PROJECTS, TARGETS, st.integers(0, 4)),
        st.tuples(st.just("delete"), PROJECTS, TARGETS, st.none()),
    ),
    max_size=20,
)


def run(acting: Acting, step: tuple[Any, ...]) -> None:
    action, project, target, argument = step
    if action == "register":
        size, is_link = target, argument
        url = "https://example.com/x" if is_link else None
        acting.register(project, "a", name="f", size_bytes=size, url=url)
    elif action == "upload":
        acting.put_bytes(target, b"x" * argument)
        acting.update(project, "a", target, confirm_upload=True)
    elif action == "rename":
        acting.update(project, "a", target, name=argument)
    elif action == "describe":
        acting.update(project, "a", target, description=argument)
    else:
        acting.delete(project, "a", target)


@settings(
    max_examples=25, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture]
)
@given(history=steps)
def test_a_replay_or_rebuild_of_any_history_equals_the_live_read_model(
    session_services: Services,
    session_resources: BlockingResources,
    history: list[tuple[Any, ...]],
) -> None:
    empty(session_services.datastore, keys=False)
    acting = Acting(session_services, session_resources)
    for step in history:
        with contextlib.suppress(DomainError, ResourceNotFound):
            run(acting, step)
    live = rows(session_services, "resources")
    assert replayed_rows(session_services) == live
    # The bulk rebuild (fold in memory, COPY) verifies itself against the live
    # table before it swaps: any difference would raise VerificationFailed.
    for name in ("resources", "timeline"):
        target = session_services.rebuild_targets()[name]
        outcome = session_services.rebuilder(target, batch_size=7).run()
        assert outcome.differences == 0
    assert rows(session_services, "resources") == live
