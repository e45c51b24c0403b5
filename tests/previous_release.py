"""What the previous release wrote, for tests (and the bench) that start from it."""

from __future__ import annotations

PREVIOUS_RELEASE_APPEND = (
    "CREATE OR REPLACE FUNCTION {function}(allowed boolean,"
    " ids uuid[], versions bigint[], topics text[], states bytea[])"
    " RETURNS SETOF bigint LANGUAGE plpgsql AS $$ BEGIN"
    " IF NOT allowed THEN"
    "  RAISE EXCEPTION 'the append''s guard refused it' USING ERRCODE = 'RSG01';"
    " END IF;"
    " LOCK TABLE {events} IN EXCLUSIVE MODE;"
    " NOTIFY {channel};"
    " RETURN QUERY INSERT INTO {events} (originator_id, originator_version, topic, state)"
    " SELECT * FROM unnest(ids, versions, topics, states) RETURNING notification_id;"
    " END $$"
)
"""The append function as the previous release created it, word for word: it took the
events table's lock and sent NOTIFY inside every append's transaction."""
