"""Request bodies: the shortcut for plain bodies accepts only what the full check accepts."""

from __future__ import annotations

import json
from collections.abc import Callable
from typing import Any

import msgspec
import pytest
from hypothesis import given
from hypothesis import strategies as st

from api.http.bodies import check_body, check_fully
from api.http.errors import ApiError
from api.http.schemas import CreateResourceBody, UpdateResourceBody

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


def refusal(body: dict[str, Any], schema: type[msgspec.Struct]) -> tuple[str, list[Any]]:
    with pytest.raises(ApiError) as refused:
        check_fully(json.dumps(body).encode(), schema)
    error = refused.value
    assert error.status_code == 422
    return error.message, [(detail.field, detail.message) for detail in error.details]


def test_a_missing_name_is_named_and_required() -> None:
    message, details = refusal({"description": "d"}, CreateResourceBody)
    assert details == [("name", "is required")]
    assert message == "The request body is not valid: name is required."


def test_an_unknown_field_is_named_with_the_fields_there_are() -> None:
    _, details = refusal({"name": "a", "colour": "red"}, CreateResourceBody)
    assert details == [
        (
            "colour",
            "is not a field of this body; its fields are"
            " name, mime_type, size_bytes, description, url, project_id",
        )
    ]
    _, details = refusal({"size_bytes": 5}, UpdateResourceBody)
    assert details == [
        ("size_bytes", "is not a field of this body; its fields are name, description, status")
    ]


def test_a_status_other_than_uploaded_says_uploaded_is_the_one() -> None:
    message, details = refusal({"status": "pending"}, UpdateResourceBody)
    assert details == [("status", 'must be "uploaded"')]
    assert message == 'The request body is not valid: status must be "uploaded".'


def test_a_wrong_type_keeps_the_decoders_words_after_the_field() -> None:
    message, details = refusal({"name": 1}, UpdateResourceBody)
    assert details == [("name", "Expected `str`, got `int`")]
    assert message == "The request body is not valid: name: Expected `str`, got `int`."
