"""The replica's Session-Token and lag, as the read routing uses them."""

from __future__ import annotations

import pytest
from hypothesis import given
from hypothesis import strategies as st
from psycopg_pool import AsyncConnectionPool

from adapters.replica import InvalidSessionToken, ReplicaWatch, format_token, parse_token


@given(st.integers(0, 2**64 - 1))
def test_a_token_reads_back_as_the_position_it_was_made_from(position: int) -> None:
    assert parse_token(format_token(position)) == position


@pytest.mark.parametrize("text", ["", "0", "yesterday", "1/2/3", "123456789/0", "G/0", "-1/0"])
def test_a_token_the_service_did_not_hand_out_is_refused(text: str) -> None:
    with pytest.raises(InvalidSessionToken, match="Session-Token"):
        parse_token(text)


def watch() -> ReplicaWatch:
    pool: AsyncConnectionPool = AsyncConnectionPool("", open=False)
    return ReplicaWatch(pool, max_lag=1.0, wait=0.2)


def test_the_lag_is_the_age_of_the_oldest_position_the_replica_lacks() -> None:
    replica = watch()
    for when, position in [(10.0, 100), (10.1, 100), (10.2, 150), (10.3, 180)]:
        replica.primary_at(position, now=when)
    replica.replica_at(100)
    assert replica.lag(now=10.5) == pytest.approx(0.3)  # 150 appeared at 10.2
    replica.replica_at(180)
    assert replica.lag(now=10.5) == 0.0
    assert replica.state().detail == "0.0 s behind; serves reads"


def test_an_idle_primary_leaves_no_lag_however_long_ago_its_last_write() -> None:
    replica = watch()
    replica.primary_at(100, now=0.0)
    replica.replica_at(100)
    assert replica.lag(now=3600.0) == 0.0


def test_an_unreachable_replica_has_no_lag_and_says_why() -> None:
    replica = watch()
    replica.primary_at(100, now=0.0)
    replica.replica_at(100)
    replica.unreachable("connection refused")
    assert replica.lag() is None
    state = replica.state()
    assert not state.reachable
    assert state.detail == "connection refused; reads go to the primary"
    replica.replica_at(None)  # answers, but is a primary now (promoted)
    assert "not a replica" in replica.state().detail
