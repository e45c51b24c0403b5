"""The activity feed's pages and the event feed's reads, on the resource store's async pool."""

from __future__ import annotations

from adapters.read_models.activity import ActivityView, entry_of
from adapters.resource_store import PostgresResourceStore
from application.feed import FeedFilter
from projections.activity import ActivityEntry, ActivityFilter, ActivityPage


class PostgresActivityReads:
    """ActivityReads: one statement a page (its entries and its total)."""

    def __init__(self, store: PostgresResourceStore, view: ActivityView) -> None:
        self._store = store
        self._view = view

    async def page(
        self, project_id: int, where: ActivityFilter, page: int, per_page: int
    ) -> ActivityPage:
        statement, params = self._view.page_statement(project_id, where, page, per_page)
        return self._view.page_of(await self._store.fetch(statement, params))


class PostgresEventFeed:
    """FeedReads: the event feed's pages, the hub's reads and the feed's head."""

    def __init__(self, store: PostgresResourceStore, view: ActivityView) -> None:
        self._store = store
        self._view = view
        self._since = view.since_statement()
        self._head = view.head_statement()

    async def page(
        self, project_id: int, where: FeedFilter, after: int, limit: int, upto: int | None
    ) -> list[ActivityEntry]:
        statement, params = self._view.feed_statement(
            project_id,
            type=where.type,
            resource_id=where.resource_id,
            after=after,
            limit=limit,
            upto=upto,
        )
        if upto is None:
            rows = await self._store.fetch(statement, params)
        else:  # the hub goes on from `upto`: every event up to it must be read here
            rows = await self._store.fetch_reaching(self._head, upto, statement, params)
        return [entry_of(row) for row in rows]

    async def since(self, after: int, limit: int) -> list[tuple[int, ActivityEntry]]:
        rows = await self._store.follow(self._since, (after, limit))
        return [(row["project_id"], entry_of(row)) for row in rows]

    async def head(self) -> int:
        rows = await self._store.follow(self._head, ())
        return int(rows[0]["head"])
