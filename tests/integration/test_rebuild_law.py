"""Law: replaying the event store rebuilds exactly the live read model."""

from __future__ import annotations

import contextlib
from typing import Any

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from api.services import Services
from application.commands import DeleteResource, RegisterResource, UpdateResource
from application.errors import ResourceNotFound
from application.resources import blob_key
from domain.errors import DomainError
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


def run(services: Services, step: tuple[Any, ...]) -> None:
    action, project, target, argument = step
    app = services.resources
    if action == "register":
        size, is_link = target, argument
        url = "https://example.com/x" if is_link else None
        app.register(
            RegisterResource(project_id=project, actor="a", name="f", size_bytes=size, url=url)
        )
    elif action == "upload":
        with app.blobs.writer(blob_key(target)) as writer:
            writer.write(b"x" * argument)
            writer.commit()
        app.update(
            UpdateResource(project_id=project, actor="a", resource_id=target, confirm_upload=True)
        )
    elif action == "rename":
        app.update(UpdateResource(project_id=project, actor="a", resource_id=target, name=argument))
    elif action == "describe":
        app.update(
            UpdateResource(project_id=project, actor="a", resource_id=target, description=argument)
        )
    else:
        app.delete(DeleteResource(project_id=project, actor="a", resource_id=target))


@settings(
    max_examples=25, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture]
)
@given(history=steps)
def test_a_replay_or_rebuild_of_any_history_equals_the_live_read_model(
    session_services: Services, history: list[tuple[Any, ...]]
) -> None:
    empty(session_services.datastore, keys=False)
    for step in history:
        with contextlib.suppress(DomainError, ResourceNotFound):
            run(session_services, step)
    live = rows(session_services, "resources")
    assert replayed_rows(session_services) == live
    # The bulk rebuild (fold in memory, COPY) verifies itself against the live
    # table before it swaps: any difference would raise VerificationFailed.
    for name in ("resources", "timeline"):
        target = session_services.rebuild_targets()[name]
        outcome = session_services.rebuilder(target, batch_size=7).run()
        assert outcome.differences == 0
    assert rows(session_services, "resources") == live
