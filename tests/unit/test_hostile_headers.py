"""Hostile request headers: If-Match, Idempotency-Key and Authorization, each read as
the resource endpoints read it (`tests.unit.edge.ResourceEndpoints`): the status a
client gets, and nothing changed.

`tests/e2e/test_hostile_input.py` proves over HTTP that the endpoints read them.
"""

from __future__ import annotations

import json

import pytest
from hypothesis import given
from hypothesis import strategies as st

from api.http.conditions import ANY_VERSION, parse_if_match
from tests.hostile import ARABIC_ONE, HUGE, LONG_DIGITS, SUPERSCRIPT_TWO, label
from tests.unit.edge import KEY, ResourceEndpoints, refused

RENAME = b'{"name": "b"}'
VISIBLE_ASCII = st.characters(min_codepoint=0x21, max_codepoint=0x7E)


@pytest.fixture
def endpoints() -> ResourceEndpoints:
    """A project whose resource 1 is a pending file, at version 1."""
    endpoints = ResourceEndpoints()
    endpoints.create(b'{"name": "report.pdf", "size_bytes": 10}')
    return endpoints


# If-Match: a malformed header is a 400; a tag that is not the current version, a 412.

IF_MATCH = [
    ("stale", '"7"', 412),
    ("weak", 'W/"1"', 412),
    ("unquoted", "1", 400),
    ("non-ASCII digit", f'"{ARABIC_ONE}"', 412),
    ("superscript digit", f'"{SUPERSCRIPT_TWO}"', 412),
    ("2^64", f'"{HUGE}"', 412),
    ("empty", "", 400),
    ("a comma", ",", 400),
    ("thousands of digits", f'"{LONG_DIGITS}"', 412),
    ("negative", '"-1"', 412),
    ("two tags without a comma", '"1" "2"', 400),
    ("a star in a list", '*, "1"', 400),
    ("lower-case weak", 'w/"1"', 400),
    ("an unclosed quote", '"1', 400),
]


@pytest.mark.parametrize(
    ("value", "status"), [case[1:] for case in IF_MATCH], ids=[case[0] for case in IF_MATCH]
)
def test_a_change_with_a_hostile_if_match_is_refused_and_changes_nothing(
    endpoints: ResourceEndpoints, value: str, status: int
) -> None:
    before = endpoints.state()

    answer = refused(lambda: endpoints.update(1, RENAME, {"If-Match": value}))

    assert answer.status == status
    if status == 412:
        assert answer.code == "precondition_failed"
        assert answer.headers["ETag"] == '"1"'  # the version to ask for instead
    else:
        assert answer.message == 'If-Match must be * or a list of entity tags such as "3".'
    assert endpoints.state() == before


@pytest.mark.parametrize(("value", "status"), [('"9"', 412), ("9", 400), ('W/"1"', 412)])
def test_a_delete_with_a_hostile_if_match_is_refused_and_deletes_nothing(
    endpoints: ResourceEndpoints, value: str, status: int
) -> None:
    before = endpoints.state()

    assert refused(lambda: endpoints.delete(1, {"If-Match": value})).status == status
    assert endpoints.state() == before


@pytest.mark.parametrize("value", ['"1"', "*", '"7", "1"', ' "1" '])
def test_an_if_match_that_names_the_current_version_lets_the_change_through(
    endpoints: ResourceEndpoints, value: str
) -> None:
    outcome = endpoints.update(1, RENAME, {"If-Match": value})

    assert (outcome.record.name, outcome.record.version) == ("b", 2)


@given(st.text(alphabet=VISIBLE_ASCII.filter(lambda char: char != '"')))
def test_every_tag_but_the_current_versions_number_fails_the_precondition(tag: str) -> None:
    endpoints = ResourceEndpoints()
    endpoints.create(b'{"name": "report.pdf"}')
    names_version_1 = tag.isdigit() and len(tag) <= 19 and int(tag) == 1

    if names_version_1:
        assert endpoints.update(1, RENAME, {"If-Match": f'"{tag}"'}).record.version == 2
    else:
        answer = refused(lambda: endpoints.update(1, RENAME, {"If-Match": f'"{tag}"'}))
        assert answer.status == 412
        assert endpoints.store.appends == 1


@given(st.text(alphabet=VISIBLE_ASCII, min_size=1).filter(lambda text: '"' not in text))
def test_every_header_without_quotes_but_a_star_is_malformed(header: str) -> None:
    if header == "*":
        assert parse_if_match(header) is ANY_VERSION
    else:
        assert refused(lambda: parse_if_match(header)).status == 400


# Idempotency-Key: 1 to 255 visible ASCII characters.

KEYS_BAD = ["", "clé", "k" * 256, "a b", "tab\tkey", "\x7f", "line\nbreak"]


@pytest.mark.parametrize("key", KEYS_BAD, ids=label)
def test_a_creation_with_a_malformed_idempotency_key_is_a_400_and_changes_nothing(
    endpoints: ResourceEndpoints, key: str
) -> None:
    before = endpoints.state()

    answer = refused(lambda: endpoints.create(b'{"name": "a"}', {"Idempotency-Key": key}))

    assert (answer.status, answer.code) == (400, "bad_request")
    assert answer.message == "Idempotency-Key must be 1 to 255 visible ASCII characters."
    assert endpoints.state() == before


@pytest.mark.parametrize("key", KEYS_BAD, ids=label)
def test_a_change_with_a_malformed_idempotency_key_is_a_400_and_changes_nothing(
    endpoints: ResourceEndpoints, key: str
) -> None:
    before = endpoints.state()

    assert refused(lambda: endpoints.update(1, RENAME, {"Idempotency-Key": key})).status == 400
    assert endpoints.state() == before


@given(st.text(alphabet=VISIBLE_ASCII, min_size=1, max_size=255))
def test_every_key_of_visible_ascii_makes_a_retry_answer_the_first_outcome(key: str) -> None:
    endpoints = ResourceEndpoints()
    first = endpoints.create(b'{"name": "a", "size_bytes": 3}', {"Idempotency-Key": key})

    retry = endpoints.create(b'{ "size_bytes": 3,"name":"a" }', {"Idempotency-Key": key})

    assert retry.replayed
    assert retry.record == first.record
    assert endpoints.store.appends == 1


def test_a_key_used_for_another_body_is_a_422_and_changes_nothing() -> None:
    endpoints = ResourceEndpoints()
    endpoints.create(b'{"name": "a"}', {"Idempotency-Key": "k-1"})
    before = endpoints.state()

    answer = refused(lambda: endpoints.create(b'{"name": "b"}', {"Idempotency-Key": "k-1"}))

    assert (answer.status, answer.code) == (422, "validation_error")
    assert endpoints.state() == before


# Authorization: anything but `Bearer <a live key>` is a 401 that asks for a Bearer key.

AUTHORIZATIONS_BAD = [
    ("missing", None),
    ("empty", ""),
    ("missing scheme", KEY),
    ("Basic", "Basic dXNlcjpwYXNz"),
    ("bearer without a key", "Bearer"),
    ("bearer and spaces", "Bearer    "),
    ("too short", "Bearer rsk_abc"),
    ("non-ASCII", "Bearer rsk_" + "é" * 43),
    ("unknown", "Bearer rsk_" + "a" * 43),
    ("8 KB", "Bearer rsk_" + "a" * 8000),
    ("NUL", f"Bearer {KEY}\x00"),
    ("another prefix", "Bearer sk_" + "k" * 43),
]


@pytest.mark.parametrize(
    "value", [case[1] for case in AUTHORIZATIONS_BAD], ids=[case[0] for case in AUTHORIZATIONS_BAD]
)
def test_a_creation_without_a_live_key_is_a_401_and_changes_nothing(
    endpoints: ResourceEndpoints, value: str | None
) -> None:
    before = endpoints.state()

    answer = refused(lambda: endpoints.create(b'{"name": "a"}', {"Authorization": value}))

    assert (answer.status, answer.code) == (401, "unauthorized")
    assert answer.headers["WWW-Authenticate"] == "Bearer"
    assert endpoints.state() == before


@pytest.mark.parametrize("value", [f"Bearer {KEY}", f"bearer {KEY}", f"BEARER   {KEY}  "])
def test_a_live_key_after_the_bearer_scheme_in_any_case_is_accepted(
    endpoints: ResourceEndpoints, value: str
) -> None:
    assert endpoints.create(b'{"name": "a"}', {"Authorization": value}).created


@given(st.text(max_size=80))
def test_every_other_authorization_is_refused_before_anything_changes(value: str) -> None:
    endpoints = ResourceEndpoints()
    body = json.dumps({"name": "a"}).encode()

    answer = refused(lambda: endpoints.create(body, {"Authorization": f"Bearer {value}"}))

    assert answer.status == 401
    assert endpoints.state() == (0, [])
