"""Row counts kept beside the read models, so that a page's total costs O(1).

`row_counts` holds, per table and project (and status, for resources), counts
spread over `SLOTS` rows: each writing session adds to the slot of its backend,
so concurrent appends in one project do not queue on one hot row. A total is the
sum of at most `SLOTS` rows, read by primary key.

Triggers keep the counts, in the transaction of the write that changes them:
statement triggers with transition tables for inserts and deletes (one count per
statement, however many rows: an append's, or a rebuild's COPY of thousands), and
a row trigger for a change of status, which fires only when an UPDATE sets the
status and changes it (a rename never fires it). The counts are keyed by the
table's name: a rebuilt table keeps its own under its aside name, and the swap
renames them with it (`rename_counts`).
"""

from __future__ import annotations

from psycopg.sql import SQL, Composable, Composed, Identifier, Literal

COUNTS_TABLE = "row_counts"
SLOTS = 16
NO_STATUS = ""
"""The status of counts kept by project only."""

FEED_KEYS = SQL(
    ", LATERAL unnest(ARRAY[{none}, 'actor:' || actor, 'type:' || type]) AS keys(key)"
).format(none=Literal(NO_STATUS))
"""What the feed's rows are counted by: the project, its actor, its type."""

_UPSERT = (
    " ON CONFLICT (table_name, project_id, status, slot) DO UPDATE SET n = {counts}.n + EXCLUDED.n;"
)


def counts_table_statements() -> list[Composed]:
    """The counts table and the trigger functions (created once by the schema step)."""
    counts = Identifier(COUNTS_TABLE)
    slot = SQL("pg_backend_pid() % {0}").format(Literal(SLOTS))
    upsert = SQL(_UPSERT).format(counts=counts)

    def function(name: str, body: Composed) -> Composed:
        return SQL(
            "CREATE OR REPLACE FUNCTION {name}() RETURNS trigger LANGUAGE plpgsql AS $$"
            " BEGIN {body} RETURN NULL; END $$"
        ).format(name=Identifier(name), body=body)

    def grouped(rows: str, sign: str, status: Composable, keys: Composable) -> Composed:
        return SQL(
            "INSERT INTO {counts} (table_name, project_id, status, slot, n)"
            " SELECT TG_TABLE_NAME, project_id, {status}, {slot}, {sign} count(*)"
            " FROM {rows}{keys} GROUP BY 1, 2, 3{upsert}"
        ).format(
            counts=counts,
            status=status,
            slot=slot,
            sign=SQL(sign),
            rows=SQL(rows),
            keys=keys,
            upsert=upsert,
        )

    by_status = SQL("status")
    return [
        SQL(
            "CREATE TABLE IF NOT EXISTS {0} ("
            " table_name text NOT NULL,"
            " project_id bigint NOT NULL,"
            " status text NOT NULL,"
            " slot integer NOT NULL,"
            " n bigint NOT NULL,"
            " PRIMARY KEY (table_name, project_id, status, slot))"
        ).format(counts),
        function("row_counts_added_by_status", grouped("added", "", by_status, SQL(""))),
        function("row_counts_removed_by_status", grouped("removed", "-", by_status, SQL(""))),
        function("row_counts_feed_added", grouped("added", "", SQL("key"), FEED_KEYS)),
        function(
            "row_counts_status_changed",
            SQL(
                "INSERT INTO {counts} (table_name, project_id, status, slot, n)"
                " VALUES (TG_TABLE_NAME, OLD.project_id, OLD.status, {slot}, -1),"
                " (TG_TABLE_NAME, NEW.project_id, NEW.status, {slot}, 1){upsert}"
            ).format(counts=counts, slot=slot, upsert=upsert),
        ),
    ]


def counted_by_status(table: str) -> list[Composed]:
    """Triggers that count `table`'s rows by project and status, and its first counts."""
    name = Identifier(table)
    return [
        *_recount(table, SQL("status")),
        SQL(
            "CREATE OR REPLACE TRIGGER row_counts_added AFTER INSERT ON {0}"
            " REFERENCING NEW TABLE AS added FOR EACH STATEMENT"
            " EXECUTE FUNCTION row_counts_added_by_status()"
        ).format(name),
        SQL(
            "CREATE OR REPLACE TRIGGER row_counts_removed AFTER DELETE ON {0}"
            " REFERENCING OLD TABLE AS removed FOR EACH STATEMENT"
            " EXECUTE FUNCTION row_counts_removed_by_status()"
        ).format(name),
        SQL(
            "CREATE OR REPLACE TRIGGER row_counts_status AFTER UPDATE OF status ON {0}"
            " FOR EACH ROW WHEN (OLD.status IS DISTINCT FROM NEW.status)"
            " EXECUTE FUNCTION row_counts_status_changed()"
        ).format(name),
    ]


def counted_by_project_actor_and_type(table: str) -> list[Composed]:
    """Triggers that count the feed table's rows by project, by project and actor, and
    by project and type (rows are only ever added): the `status` of a count is
    `NO_STATUS`, `actor_key(actor)` or `type_key(type)`."""
    return [
        *_recount(table, SQL("key"), FEED_KEYS),
        SQL(
            "CREATE OR REPLACE TRIGGER row_counts_added AFTER INSERT ON {0}"
            " REFERENCING NEW TABLE AS added FOR EACH STATEMENT"
            " EXECUTE FUNCTION row_counts_feed_added()"
        ).format(Identifier(table)),
    ]


def actor_key(actor: str) -> str:
    return f"actor:{actor}"


def type_key(type_name: str) -> str:
    return f"type:{type_name}"


def _recount(table: str, status: Composable, keys: Composable | None = None) -> list[Composed]:
    """The table's counts from its rows as they are (run before its triggers exist, in
    the same transaction, which locks out writers until it commits)."""
    counts = Identifier(COUNTS_TABLE)
    return [
        SQL("LOCK TABLE {0} IN SHARE ROW EXCLUSIVE MODE").format(Identifier(table)),
        SQL("DELETE FROM {0} WHERE table_name = {1}").format(counts, Literal(table)),
        SQL(
            "INSERT INTO {counts} (table_name, project_id, status, slot, n)"
            " SELECT {table_name}, project_id, {status}, 0, count(*) FROM {table}{keys}"
            " GROUP BY 2, 3"
        ).format(
            counts=counts,
            table_name=Literal(table),
            status=status,
            table=Identifier(table),
            keys=keys or SQL(""),
        ),
    ]


def rename_counts(aside: str, live: str) -> list[Composed]:
    """Moves a rebuilt table's counts to the live name (in the swap's transaction)."""
    counts = Identifier(COUNTS_TABLE)
    return [
        SQL("DELETE FROM {0} WHERE table_name = {1}").format(counts, Literal(live)),
        SQL("UPDATE {0} SET table_name = {1} WHERE table_name = {2}").format(
            counts, Literal(live), Literal(aside)
        ),
    ]


def total(table: str, project: Composable, status: Composable | None = None) -> Composed:
    """A scalar subquery: the kept count of `table`'s rows of a project (and status)."""
    condition = SQL("") if status is None else SQL(" AND status = {0}").format(status)
    return SQL(
        "(SELECT coalesce(sum(n), 0) FROM {counts} WHERE table_name = {table}"
        " AND project_id = {project}{condition})"
    ).format(
        counts=Identifier(COUNTS_TABLE), table=Literal(table), project=project, condition=condition
    )
