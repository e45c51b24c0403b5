"""The activity feed's pages, read on the resource store's async pool."""

from __future__ import annotations

from adapters.resource_store import PostgresResourceStore
from projections.activity import ActivityFilter, ActivityPage, ActivityView


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
