"""Law: any sequence of valid commands replays from its events to the same state."""

from __future__ import annotations

import contextlib
from typing import Any

from hypothesis import given
from hypothesis import strategies as st

from domain.errors import DomainError
from domain.resource import Actor, Resource

names = st.text(st.characters(exclude_categories=("Cc", "Cs")), min_size=1, max_size=40).filter(
    lambda text: text.strip() != ""
)
any_text = st.text(max_size=40)
descriptions = st.none() | st.text(max_size=60)
commands = st.lists(
    st.one_of(
        st.tuples(st.just("rename"), any_text),
        st.tuples(st.just("describe"), descriptions),
        st.tuples(st.just("confirm"), st.none() | st.integers(0, 10)),
        st.tuples(st.just("delete"), st.none()),
    ),
    max_size=25,
)


def apply(resource: Resource, command: str, argument: Any) -> None:
    if command == "rename":
        resource.rename(argument, by=Actor(user_id="someone"))
    elif command == "describe":
        resource.describe(argument, by=Actor(user_id="someone"))
    elif command == "confirm":
        resource.confirm_upload(argument, by=Actor(user_id="someone"))
    else:
        resource.delete(by=Actor(user_id="someone"))


@given(
    name=names,
    size=st.none() | st.integers(0, 10),
    link=st.booleans(),
    history=commands,
)
def test_any_sequence_of_commands_replays_to_the_same_state(
    name: str, size: int | None, link: bool, history: list[tuple[str, Any]]
) -> None:
    facts: dict[str, Any] = {
        "resource_id": 1,
        "project_id": 1,
        "name": name,
        "description": None,
        "mime_type": None,
        "size_bytes": size,
        "by": Actor(user_id="creator"),
    }
    if link:
        resource = Resource.register_link(url="https://example.com/x", **facts)
    else:
        resource = Resource.register_file(**facts)
    for command, argument in history:
        with contextlib.suppress(DomainError):
            apply(resource, command, argument)
    replayed: Resource | None = None
    events = resource.collect_events()
    for domain_event in events:
        replayed = domain_event.mutate(replayed)
    assert replayed is not None
    assert vars(replayed) == vars(resource)
    assert replayed.version == len(events)
