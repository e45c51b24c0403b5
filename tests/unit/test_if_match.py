"""If-Match: which versions a PATCH or DELETE may apply to."""

from __future__ import annotations

import pytest

from api.http.conditions import ANY_VERSION, parse_if_match
from api.http.errors import ApiError


def test_without_the_header_any_version_is_allowed_unconditionally() -> None:
    assert parse_if_match(None) is None


@pytest.mark.parametrize("header", ["*", " * ", "\t*"])
def test_a_star_matches_any_current_version(header: str) -> None:
    assert parse_if_match(header) is ANY_VERSION


@pytest.mark.parametrize(
    ("header", "versions"),
    [
        ('"3"', {3}),
        ('"3", "5"', {3, 5}),
        ('"3","5"', {3, 5}),
        ('  "3" ,   "5"  ', {3, 5}),
        ('"12"', {12}),
    ],
)
def test_a_list_of_strong_tags_allows_those_versions(header: str, versions: set[int]) -> None:
    assert parse_if_match(header) == frozenset(versions)


@pytest.mark.parametrize(
    ("header", "versions"),
    [
        ('W/"3"', set()),
        ('W/"3", "4"', {4}),
        ('"abc"', set()),
        ('""', set()),
        ('"-1"', set()),
        ('"3", W/"5", "x"', {3}),
    ],
)
def test_weak_tags_and_tags_that_are_not_versions_never_match(
    header: str, versions: set[int]
) -> None:
    assert parse_if_match(header) == frozenset(versions)


@pytest.mark.parametrize(
    "header",
    ["", "   ", "3", '"3', '3"', '"3" "4"', '"3";', '*, "3"', 'w/"3"', '"a b"', '"3",,'],
)
def test_a_malformed_header_is_a_bad_request(header: str) -> None:
    with pytest.raises(ApiError) as refused:
        parse_if_match(header)

    assert refused.value.status_code == 400
    assert refused.value.code == "bad_request"


def test_a_tag_of_a_superscript_digit_is_not_a_version() -> None:
    assert parse_if_match('"\u00b2"') == frozenset()
