"""Hostile JSON bodies for creating and changing a resource: each gets the status, the
error code and the field a client reads, and changes nothing.

Each body goes where the service takes it (`tests.unit.edge.ResourceEndpoints`): the
Content-Type check, the strict body check, the use case over in-memory ports, the
aggregate's rules. `tests/e2e/test_hostile_input.py` proves a few of them over HTTP.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from typing import Any

import pytest
from hypothesis import given
from hypothesis import strategies as st

from tests.unit.edge import PROJECT, ResourceEndpoints, refused
from tests.unit.edge import answer as read


@dataclass(frozen=True)
class Body:
    what: str
    body: Any
    """A JSON-able value, or bytes sent as they are."""
    status: int
    field: str | None = None
    """The field the one detail names; None: no details (400) or the body as a whole."""

    @property
    def raw(self) -> bytes:
        return self.body if isinstance(self.body, bytes) else json.dumps(self.body).encode()

    @property
    def code(self) -> str:
        return "bad_request" if self.status == 400 else "validation_error"

    @property
    def fields(self) -> list[str | None]:
        return [] if self.status == 400 else [self.field]


def sizes(what: str, base: dict[str, Any], values: list[tuple[str, Any]]) -> list[Body]:
    return [
        Body(f"{what} {name}", {**base, "size_bytes": v}, 422, "size_bytes") for name, v in values
    ]


CREATE = [
    # Numbers at and past the 64-bit bounds, and what is not a whole number.
    *sizes(
        "size_bytes",
        {"name": "a"},
        [
            ("-1", -1),
            ("2^63", 2**63),
            ("2^64", 2**64),
            ("-2^63", -(2**63)),
            ("1.5", 1.5),
            ("true", True),
            ("'3'", "3"),
        ],
    ),
    *sizes(
        "a link's size_bytes",
        {"name": "a", "url": "https://example.com/a"},
        [("2^63", 2**63), ("2^64", 2**64), ("-1", -1)],
    ),
    *[
        Body(f"project_id {name}", {"name": "a", "project_id": v}, 422, "project_id")
        for name, v in (("0", 0), ("2^63", 2**63), ("-1", -1), ("another", PROJECT + 1))
    ],
    # Strings: NUL, control characters, lengths, types.
    *[
        Body(f"name {name}", {"name": v}, 422, "name")
        for name, v in (
            ("empty", ""),
            ("blank", "   "),
            ("NUL", "a\x00b"),
            ("a control character", "a\x1bb"),
            ("DEL", "a\x7fb"),
            ("a C1 control", "a\x85b"),
            ("256 characters", "x" * 256),
            ("null", None),
            ("a number", 5),
            ("a list", ["a"]),
        )
    ],
    *[
        Body(f"description {name}", {"name": "a", "description": v}, 422, "description")
        for name, v in (
            ("NUL", "a\x00b"),
            ("an escape", "a\x1bb"),
            ("10,001 characters", "x" * 10_001),
            ("a number", 1),
        )
    ],
    *[
        Body(f"mime_type {name}", {"name": "a", "mime_type": v}, 422, "mime_type")
        for name, v in (
            ("with NUL", "text/plain\x00"),
            ("with a newline", "text/plain\n"),
            ("a control character in a quoted parameter", 'text/plain; a="b\x01"'),
            ("no subtype", "text"),
            ("spaces", "text / plain"),
            ("non-ASCII", "téxt/plain"),
            ("empty", ""),
        )
    ],
    *[
        Body(f"url {name}", {"name": "a", "url": v}, 422, "url")
        for name, v in (
            ("javascript", "javascript:alert(1)"),
            ("no host", "https://"),
            ("NUL", "https://a.b/\x00"),
            ("a space", "https://a.b/ c"),
            ("file", "file:///etc/passwd"),
            ("too long", "https://a.b/" + "x" * 3000),
            ("a bracketed host that is no address", "http://[x]/"),
        )
    ],
    # The shape of the body.
    Body("an unknown field", {"name": "a", "owner": "me"}, 422, "owner"),
    Body("no name", {"description": "d"}, 422, "name"),
    Body("an array", ["a"], 422),
    Body("a string", "a", 422),
    Body("null", None, 422),
    Body("a number", 1, 422),
    Body("duplicate keys", b'{"name": "a", "name": "b"}', 400),
    Body("deeply nested", b'{"name": ' + b"[" * 10_000 + b"]" * 10_000 + b"}", 400),
    Body("invalid UTF-8", b'{"name": "\xff\xfe"}', 400),
    Body("a lone surrogate", b'{"name": "\\ud800"}', 400),
    Body("truncated", b'{"name": "a"', 400),
    # Python's JSON reader takes NaN (RFC 8259 does not): no field takes it either.
    Body("NaN", b'{"name": "a", "size_bytes": NaN}', 422, "size_bytes"),
    Body("two values", b'{"name": "a"} {}', 400),
]

UPDATE = [
    Body("a field only creation has", {"size_bytes": 3}, 422, "size_bytes"),
    Body("status pending", {"status": "pending"}, 422, "status"),
    Body("status true", {"status": True}, 422, "status"),
    Body("name NUL", {"name": "\x00"}, 422, "name"),
    Body("name blank", {"name": " \t "}, 422, "name"),
    Body("name null", {"name": None}, 422, "name"),
    Body("description escape", {"description": "\x1b[31m"}, 422, "description"),
    Body("duplicate keys", b'{"name": "a", "name": "b"}', 400),
    Body("invalid UTF-8", b'{"name": "\xc3"}', 400),
    Body("an array", [], 422),
]


@pytest.fixture
def endpoints() -> ResourceEndpoints:
    """A project whose resource 1 is a pending file of 10 bytes, at version 1."""
    endpoints = ResourceEndpoints()
    endpoints.create(b'{"name": "report.pdf", "size_bytes": 10}')
    return endpoints


@pytest.mark.parametrize("case", CREATE, ids=[case.what for case in CREATE])
def test_a_hostile_creation_is_refused_naming_the_field_and_changes_nothing(
    endpoints: ResourceEndpoints, case: Body
) -> None:
    before = endpoints.state()

    answer = refused(lambda: endpoints.create(case.raw))

    assert (answer.status, answer.code, answer.fields) == (case.status, case.code, case.fields)
    assert endpoints.state() == before


@pytest.mark.parametrize("case", UPDATE, ids=[case.what for case in UPDATE])
def test_a_hostile_change_is_refused_naming_the_field_and_changes_nothing(
    endpoints: ResourceEndpoints, case: Body
) -> None:
    before = endpoints.state()

    answer = refused(lambda: endpoints.update(1, case.raw))

    assert (answer.status, answer.code, answer.fields) == (case.status, case.code, case.fields)
    assert endpoints.state() == before


def test_a_rule_of_the_domain_is_told_in_its_own_words(endpoints: ResourceEndpoints) -> None:
    answer = refused(lambda: endpoints.create(b'{"name": "a", "mime_type": "text"}'))

    assert answer.message == "mime_type must be a media type such as text/plain."


def test_a_rule_of_the_body_is_told_with_the_field(endpoints: ResourceEndpoints) -> None:
    answer = refused(lambda: endpoints.create(b'{"name": "a", "size_bytes": -1}'))

    assert answer.message == "The request body is not valid: size_bytes: Expected `int` >= 0."


def test_a_key_given_twice_is_named(endpoints: ResourceEndpoints) -> None:
    answer = refused(lambda: endpoints.create(b'{"name": "a", "name": "b"}'))

    assert answer.message == "The request body names 'name' more than once."


def test_confirming_an_upload_that_sent_nothing_is_a_409_and_changes_nothing(
    endpoints: ResourceEndpoints,
) -> None:
    before = endpoints.state()

    answer = refused(lambda: endpoints.update(1, b'{"status": "uploaded"}'))

    assert (answer.status, answer.code) == (409, "upload_incomplete")
    assert endpoints.state() == before


@pytest.mark.parametrize(
    "content_type",
    ["text/plain", "application/x-www-form-urlencoded", "multipart/form-data; boundary=x", "json"],
)
def test_a_body_that_says_it_is_not_json_is_a_415(
    endpoints: ResourceEndpoints, content_type: str
) -> None:
    before = endpoints.state()
    headers = {"Content-Type": content_type}

    assert refused(lambda: endpoints.create(b'{"name": "a"}', headers)).status == 415
    assert refused(lambda: endpoints.update(1, b'{"name": "b"}', headers)).status == 415
    assert endpoints.state() == before


@pytest.mark.parametrize(
    "content_type",
    ["application/json", "Application/JSON; charset=utf-8", "application/merge-patch+json"],
)
def test_a_body_that_says_it_is_json_is_read(
    endpoints: ResourceEndpoints, content_type: str
) -> None:
    outcome = endpoints.create(b'{"name": "a"}', {"Content-Type": content_type})

    assert outcome.created
    assert outcome.record.name == "a"


@given(st.text(max_size=300))
def test_every_name_is_either_registered_trimmed_or_refused_naming_name(name: str) -> None:
    endpoints = ResourceEndpoints()
    body = json.dumps({"name": name}).encode()
    try:
        outcome = endpoints.create(body)
    except Exception as error:  # the refusal, read as a client reads it
        answer = read(error)
        assert (answer.status, answer.fields) == (422, ["name"])
        assert endpoints.state() == (0, [])
    else:
        assert outcome.record.name == name.strip()
        assert 1 <= len(name.strip()) <= 255


@given(st.integers(min_value=-(2**70), max_value=2**70))
def test_a_declared_size_is_registered_within_the_upload_limit_and_refused_outside_it(
    size: int,
) -> None:
    endpoints = ResourceEndpoints()
    body = json.dumps({"name": "a", "size_bytes": size}).encode()
    if 0 <= size <= endpoints.service.max_upload_bytes:
        assert endpoints.create(body).record.size_bytes == size
    else:
        answer = refused(lambda: endpoints.create(body))
        assert (answer.status, answer.fields) == (422, ["size_bytes"])
