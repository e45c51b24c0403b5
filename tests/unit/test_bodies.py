"""Request bodies: the shortcut for plain bodies accepts only what the full check accepts."""

from __future__ import annotations

import json
from collections.abc import Callable
from typing import Any

import msgspec
import pytest
from hypothesis import given
from hypothesis import strategies as st

from api.bodies import check_body, check_fully
from api.errors import ApiError
from api.schemas import CreateResourceBody, UpdateResourceBody

SCHEMAS = (CreateResourceBody, UpdateResourceBody)
FIELDS = ("name", "description", "status", "mime_type", "size_bytes", "url", "project_id", "x")
VALUES = st.one_of(
    st.none(),
    st.booleans(),
    st.integers(min_value=-(2**70), max_value=2**70),
    st.floats(allow_nan=False),
    st.text(max_size=300),
    st.sampled_from(["uploaded", "pending", "a.txt", "https://example.com/a", "text/plain"]),
)


Check = Callable[[bytes, type[msgspec.Struct]], None]


def outcome(check: Check, body: bytes, schema: type[msgspec.Struct]) -> tuple[Any, ...] | None:
    """None when the body is accepted, else the status, message and details sent."""
    try:
        check(body, schema)
    except ApiError as refused:
        return refused.status_code, refused.message, refused.details
    return None


@given(
    pairs=st.lists(st.tuples(st.sampled_from(FIELDS), VALUES), max_size=5),
    schema=st.sampled_from(SCHEMAS),
    spaced=st.booleans(),
)
def test_a_body_is_answered_as_the_full_check_answers_it(
    pairs: list[tuple[str, object]], schema: type[msgspec.Struct], spaced: bool
) -> None:
    """Keys given twice included: the body is written pair by pair, as a client might."""
    separator = ", " if spaced else ","
    body = (
        "{" + separator.join(f"{json.dumps(k)}: {json.dumps(v)}" for k, v in pairs) + "}"
    ).encode()
    assert outcome(check_body, body, schema) == outcome(check_fully, body, schema)


@pytest.mark.parametrize(
    "body",
    [
        b'{"name": "a.txt", "name": "b.txt"}',
        b'{"name": "a:b", "name": "b.txt"}',
        b'{"name":"a\\"","name":"b"}',  # an escaped quote hides the second key's colon
        b'{"name": "a\\ud800"}',
        b'{"name": "\\u0061.txt"}',
        b'{"size_bytes": 1e3, "name": "a"}',
        b'{"name": "a", "size_bytes": "3"}',
        b'{"name": "a", "url": null, "project_id": 4}',
        b'\xef\xbb\xbf{"name": "a"}',
        b'{"name": NaN}',
        b'{"name": "a"} x',
        b'{"name": "{a}"}',
    ],
)
def test_bodies_the_shortcut_may_not_decide_are_answered_as_before(body: bytes) -> None:
    for schema in SCHEMAS:
        assert outcome(check_body, body, schema) == outcome(check_fully, body, schema)


def test_a_key_given_twice_is_refused_even_in_a_plain_body() -> None:
    assert outcome(check_body, b'{"name":"a.txt","name":"b.txt"}', UpdateResourceBody) == (
        400,
        "The request body names 'name' more than once.",
        [],
    )
