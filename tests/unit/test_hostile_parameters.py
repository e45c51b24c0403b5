"""Hostile query, path and header values, read by the parsers the endpoints apply:
each is refused as a client is answered (400, or 404 for an id), naming the parameter.

`tests/e2e/test_hostile_input.py` proves over HTTP that each endpoint applies them.
Page, per_page, wait and status are read by Litestar from the handler's declared
type: msgspec's lax conversion of the text within the declared bounds, which
`litestar_reads` applies here to the product's declarations.
"""

from __future__ import annotations

from datetime import UTC, datetime, timedelta, timezone
from typing import Annotated, Any, get_args, get_type_hints

import msgspec
import pytest
from hypothesis import given
from hypothesis import strategies as st
from litestar.params import ParameterKwarg

from api.http.controllers.events import MAX_LIMIT, MAX_WAIT, EventsController, feed_filter
from api.http.controllers.events import bounded as bounded_number
from api.http.controllers.events import position as event_position
from api.http.controllers.resources import ResourceController
from api.http.parameters import (
    MAX_ID,
    MAX_PAGE,
    MAX_PER_PAGE,
    Page,
    PerPage,
    WholeNumber,
    existing_id,
    id_or_none,
    parse_rfc3339,
    plain_text,
    whole_number,
)
from projections.activity import EVENT_TYPES
from tests.hostile import (
    ARABIC_ONE,
    BIG,
    FULLWIDTH_ONE,
    HUGE,
    LONG_DIGITS,
    MAX,
    SUPERSCRIPT_TWO,
    label,
)
from tests.unit.edge import bad_request, refused

NOT_ASCII_DIGITS = st.one_of(
    st.text(),
    st.text(
        alphabet=st.characters(categories=["Nd", "No"]), min_size=1
    ),  # other scripts' digits, superscripts, fractions
    st.from_regex(r"[0-9]*[^0-9][0-9]*", fullmatch=True),
).filter(lambda text: not (text.isascii() and text.isdigit()))
"""Text that is not a run of ASCII digits, digits of other scripts included."""


# The event feed's `after` and the stream's `after` and Last-Event-ID: a position.

POSITIONS_BAD = [
    "-1",
    BIG,
    HUGE,
    LONG_DIGITS,
    ARABIC_ONE,
    FULLWIDTH_ONE,
    SUPERSCRIPT_TWO,
    "1.5",
    "1e3",
    "",
    "1\x00",
    "null",
    "x",
    "1 2",
    " 1",
    "+1",
    "0x10",
]


@pytest.mark.parametrize("value", POSITIONS_BAD, ids=label)
def test_an_after_that_is_not_a_position_is_a_400_naming_after(value: str) -> None:
    assert bad_request(lambda: event_position(value, "after")) == (
        "after",
        f"after must be an event's position: a whole number from 0 to {MAX_ID}.",
    )


@pytest.mark.parametrize("value", ["-1", BIG, "x", "1.5", ARABIC_ONE, "1 2"], ids=label)
def test_a_last_event_id_that_is_not_a_position_is_a_400_naming_the_header(value: str) -> None:
    answer = refused(lambda: event_position(value, "Last-Event-ID"))

    assert (answer.status, answer.fields) == (400, ["Last-Event-ID"])
    assert answer.message.startswith("Last-Event-ID must be an event's position")


def test_no_after_reads_from_the_first_event() -> None:
    assert event_position(None, "after") == 0


@given(st.integers(min_value=0, max_value=MAX_ID))
def test_every_position_from_0_to_the_largest_bigint_is_read_as_itself(number: int) -> None:
    assert event_position(str(number), "after") == number


@given(st.one_of(st.integers(max_value=-1), st.integers(min_value=MAX_ID + 1)))
def test_every_number_outside_the_positions_is_a_400(number: int) -> None:
    assert refused(lambda: event_position(str(number), "after")).status == 400


@given(NOT_ASCII_DIGITS)
def test_every_text_but_ascii_digits_is_a_400_as_a_position(text: str) -> None:
    answer = refused(lambda: event_position(text, "after"))

    assert (answer.status, answer.fields) == (400, ["after"])


# The feed's `limit`: 1 to 1000.


@pytest.mark.parametrize("value", ["0", "1001", BIG, "-1", ARABIC_ONE, "null", ""], ids=label)
def test_a_limit_outside_1_to_1000_is_a_400_naming_limit(value: str) -> None:
    assert bad_request(lambda: bounded_number(value, "limit", 1, MAX_LIMIT)) == (
        "limit",
        "limit must be a whole number from 1 to 1000.",
    )


@given(st.integers(min_value=1, max_value=MAX_LIMIT))
def test_every_limit_from_1_to_1000_is_read_as_itself(number: int) -> None:
    assert bounded_number(str(number), "limit", 1, MAX_LIMIT) == number


@given(NOT_ASCII_DIGITS)
def test_every_text_but_ascii_digits_is_a_400_as_a_limit(text: str) -> None:
    assert refused(lambda: bounded_number(text, "limit", 1, MAX_LIMIT)).status == 400


# Optional whole numbers from 1 (WholeNumber): resource_id of the feed, the stream and
# the activity feed, the time-travel version, a signed stream's project. The decoder's
# ValueError is the 400 that names the parameter.

WHOLE_NUMBERS_BAD = [
    "0",
    "-1",
    BIG,
    HUGE,
    ARABIC_ONE,
    FULLWIDTH_ONE,
    SUPERSCRIPT_TWO,
    "x",
    "null",
    "1.5",
    "",
    "1e3",
    " 1",
    "+1",
]


@pytest.mark.parametrize("value", WHOLE_NUMBERS_BAD, ids=label)
def test_a_value_that_is_not_a_whole_number_from_1_is_refused(value: str) -> None:
    with pytest.raises(ValueError, match=f"^must be a whole number from 1 to {MAX_ID}$"):
        whole_number(WholeNumber, value)


def test_thousands_of_digits_are_refused_as_a_whole_number() -> None:
    # int()'s own message today; a digit bound, as `bounded` has, would give ours.
    with pytest.raises(ValueError, match=r"whole number|4300 digits"):
        whole_number(WholeNumber, LONG_DIGITS)


@given(st.integers(min_value=1, max_value=MAX_ID))
def test_every_whole_number_from_1_to_the_largest_bigint_is_read_as_itself(number: int) -> None:
    read = whole_number(WholeNumber, str(number))

    assert read == number
    assert isinstance(read, WholeNumber)


@given(NOT_ASCII_DIGITS)
def test_every_text_but_ascii_digits_is_refused_as_a_whole_number(text: str) -> None:
    with pytest.raises(ValueError, match=f"^must be a whole number from 1 to {MAX_ID}$"):
        whole_number(WholeNumber, text)


# Page, per_page, wait and status: read by Litestar from the declared types.


def litestar_reads(declared: Any, text: str) -> Any:
    """A query value as Litestar reads it for a handler: msgspec's lax conversion of the
    text to the declared type, within the declared bounds (a ValidationError is a 400
    that names the parameter)."""
    kind, *metadata = get_args(declared)
    [parameter] = [each for each in metadata if isinstance(each, ParameterKwarg)]
    bounds = msgspec.Meta(ge=parameter.ge, le=parameter.le)
    return msgspec.convert(text, Annotated[kind, bounds], strict=False)


def declared(handler: Any, name: str) -> Any:
    """A handler parameter's declared type, with its QueryParameter."""
    return get_type_hints(handler.fn, include_extras=True)[name]


WAIT = declared(EventsController.feed, "wait")
STATUS = declared(ResourceController.list_resources, "status")

PAGES_BAD = [
    "0",
    "-1",
    MAX,
    BIG,
    HUGE,
    LONG_DIGITS,
    ARABIC_ONE,
    FULLWIDTH_ONE,
    "1.5",
    "",
    "1\x00",
]


@pytest.mark.parametrize("value", PAGES_BAD, ids=label)
def test_a_page_outside_1_to_the_last_bigint_page_is_refused(value: str) -> None:
    with pytest.raises(msgspec.ValidationError):
        litestar_reads(Page, value)


@pytest.mark.parametrize("value", ["0", "101", BIG, "-" + BIG, ARABIC_ONE], ids=label)
def test_a_per_page_outside_1_to_100_is_refused(value: str) -> None:
    with pytest.raises(msgspec.ValidationError):
        litestar_reads(PerPage, value)


@pytest.mark.parametrize("value", ["-1", "61", BIG, "0.5", "null", ARABIC_ONE], ids=label)
def test_a_wait_outside_0_to_60_seconds_is_refused(value: str) -> None:
    with pytest.raises(msgspec.ValidationError):
        litestar_reads(WAIT, value)


@pytest.mark.parametrize("value", ["gone", "all\x00", "ALL", ""], ids=label)
def test_a_status_other_than_uploaded_pending_or_all_is_refused(value: str) -> None:
    with pytest.raises(msgspec.ValidationError):
        litestar_reads(STATUS, value)


@pytest.mark.parametrize("value", ["uploaded", "pending", "all"])
def test_each_listed_status_is_read(value: str) -> None:
    assert litestar_reads(STATUS, value) == value


@given(st.integers(min_value=1, max_value=MAX_PAGE))
def test_every_page_from_1_to_the_last_is_read_as_itself(number: int) -> None:
    assert litestar_reads(Page, str(number)) == number


@given(st.integers(min_value=1, max_value=MAX_PER_PAGE))
def test_every_per_page_from_1_to_100_is_read_as_itself(number: int) -> None:
    assert litestar_reads(PerPage, str(number)) == number


@given(st.integers(min_value=0, max_value=MAX_WAIT))
def test_every_wait_from_0_to_60_is_read_as_itself(number: int) -> None:
    assert litestar_reads(WAIT, str(number)) == number


@given(st.integers(min_value=1, max_value=MAX_PAGE), st.integers(1, MAX_PER_PAGE))
def test_every_page_that_is_read_starts_at_an_offset_postgresql_can_hold(
    page: int, per_page: int
) -> None:
    offset = (litestar_reads(Page, str(page)) - 1) * litestar_reads(PerPage, str(per_page))

    assert 0 <= offset <= MAX_ID


# Ids in the path: an id out of range names no resource (404), as one never allocated.

OUT_OF_RANGE_IDS = [0, -1, 2**63, 2**64, -(2**63), 10**100]


@pytest.mark.parametrize("resource_id", OUT_OF_RANGE_IDS, ids=label)
def test_an_id_out_of_range_is_looked_up_as_no_id(resource_id: int) -> None:
    assert id_or_none(resource_id) == 0


@pytest.mark.parametrize("resource_id", OUT_OF_RANGE_IDS, ids=label)
def test_an_id_out_of_range_is_a_404(resource_id: int) -> None:
    answer = refused(lambda: existing_id(resource_id))

    assert (answer.status, answer.code, answer.message) == (
        404,
        "not_found",
        "No such resource.",
    )


@given(st.integers(min_value=1, max_value=MAX_ID))
def test_every_id_in_range_is_looked_up_as_itself(resource_id: int) -> None:
    assert id_or_none(resource_id) == resource_id
    assert existing_id(resource_id) == resource_id


# Text filters (the activity feed's actor) and times (since, until, as_of).

CONTROL_CHARACTERS = ["a\x00b", "a\x01b", "a\x1bb", "\x7f", "a\x9fb", "line\nbreak", "tab\t"]


@pytest.mark.parametrize("value", CONTROL_CHARACTERS, ids=label)
def test_an_actor_with_a_control_character_is_a_400_naming_actor(value: str) -> None:
    assert bad_request(lambda: plain_text(value, "actor")) == (
        "actor",
        "actor must not contain control characters.",
    )


@given(st.text(alphabet=st.characters(exclude_categories=["Cc"])))
def test_every_text_without_control_characters_is_a_filter_as_it_is(text: str) -> None:
    assert plain_text(text, "actor") == text


@given(st.text(), st.characters(categories=["Cc"]), st.text())
def test_every_text_with_a_control_character_is_a_400(
    before: str, control: str, after: str
) -> None:
    assert refused(lambda: plain_text(before + control + after, "actor")).status == 400


NOT_TIMES = [
    "soon",
    "yesterday",
    "2026-01-01T00:00:00",  # no zone
    "99999-01-01T00:00:00Z",
    "2026-02-30T00:00:00Z",
    "2026-01-01T24:00:00Z",
    "2026-01-01T00:00:00+01:60",
    "2026-01-01T12:00:60Z",  # a leap second at noon
    "2026-01-01 00:00:00Z",
    "2026-01-01T00:00Z",
    "2026-1-01T00:00:00Z",
    "2026-01-01T00:00:00.Z",
    "\uff12026-01-01T00:00:00Z",
    "",
]


@pytest.mark.parametrize("value", NOT_TIMES, ids=label)
def test_a_time_that_is_not_rfc_3339_with_a_zone_is_a_400_naming_it(value: str) -> None:
    assert bad_request(lambda: parse_rfc3339(value, "since")) == (
        "since",
        "since must be an RFC 3339 time with a zone, such as 2026-11-28T09:30:00Z.",
    )


@pytest.mark.parametrize("name", ["since", "until", "as_of"])
@pytest.mark.parametrize("value", ["2026-01-01T00:00:00Z\x00", "a\x01b"], ids=label)
def test_a_time_with_a_control_character_is_a_400_naming_its_parameter(
    name: str, value: str
) -> None:
    answer = refused(lambda: parse_rfc3339(value, name))

    assert (answer.status, answer.fields) == (400, [name])
    assert answer.message == f"{name} must not contain control characters."


@pytest.mark.parametrize(
    ("value", "moment"),
    [
        ("2026-01-01T00:00:00Z", datetime(2026, 1, 1, tzinfo=UTC)),
        ("2026-01-01t00:00:00z", datetime(2026, 1, 1, tzinfo=UTC)),
        ("2026-12-31T23:59:60Z", datetime(2026, 12, 31, 23, 59, 59, 999999, tzinfo=UTC)),
        ("2027-01-01T00:59:60+01:00", datetime(2026, 12, 31, 23, 59, 59, 999999, tzinfo=UTC)),
        ("0000-01-01T00:00:00Z", datetime.min.replace(tzinfo=UTC)),
    ],
)
def test_rfc_3339_times_are_read_as_the_moment_they_name(value: str, moment: datetime) -> None:
    assert parse_rfc3339(value, "since") == moment


ZONES = st.integers(min_value=-(24 * 60 - 1), max_value=24 * 60 - 1).map(
    lambda minutes: timezone(timedelta(minutes=minutes))
)


@given(st.datetimes(min_value=datetime(2, 1, 1), timezones=ZONES))
def test_every_moment_written_in_rfc_3339_is_read_back(moment: datetime) -> None:
    assert parse_rfc3339(moment.isoformat(), "until") == moment


# Event types: the feed's and the stream's `type`.


@pytest.mark.parametrize("value", ["Exploded", "renamed", "Renamed\x00", "", "Hacked"], ids=label)
def test_a_type_that_is_no_event_type_is_a_400_naming_type(value: str) -> None:
    assert bad_request(lambda: feed_filter(value, None)) == (
        "type",
        f"type must be one of {', '.join(EVENT_TYPES)}.",
    )


@pytest.mark.parametrize("value", EVENT_TYPES)
def test_each_event_type_filters_the_feed(value: str) -> None:
    assert feed_filter(value, 7).type == value
