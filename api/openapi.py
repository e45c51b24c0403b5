"""The OpenAPI document and its docs page.

The docs page (`/schema/swagger`) loads Swagger UI from this server, not from a
CDN, so it works on a machine without internet access: the `swagger-ui-py`
package ships swagger-ui's dist files, and `/schema/swagger-ui/<file>` serves the
few the page needs.
"""

from __future__ import annotations

import importlib.util
from functools import cache
from pathlib import Path
from typing import Annotated

from litestar import Router, get
from litestar.datastructures import CacheControlHeader
from litestar.exceptions import NotFoundException
from litestar.openapi import OpenAPIConfig
from litestar.openapi.plugins import SwaggerRenderPlugin
from litestar.openapi.spec import Components, SecurityScheme
from litestar.params import PathParameter
from litestar.response import File

SCHEMA_PATH = "/schema"
ASSETS_PATH = "/swagger-ui"
"""Under SCHEMA_PATH: where the docs page's scripts, stylesheet and icon are served."""

ASSETS_PACKAGE = "swagger_ui"
"""The module of `swagger-ui-py`: swagger-ui's dist files are in its `static/` folder."""

ASSETS = {
    "swagger-ui-bundle.js": "text/javascript",
    "swagger-ui-standalone-preset.js": "text/javascript",
    "swagger-ui.css": "text/css",
    "favicon-32x32.png": "image/png",
}
"""The files the page loads, and nothing else of the package."""


def asset_url(name: str) -> str:
    return f"{SCHEMA_PATH}{ASSETS_PATH}/{name}"


@cache
def assets_directory() -> Path | None:
    """Where the installed package keeps swagger-ui's files (None: not installed).

    Found without importing the package, whose own code (a Jinja2 page renderer
    for other frameworks) the service does not need.
    """
    spec = importlib.util.find_spec(ASSETS_PACKAGE)
    if spec is None or not spec.submodule_search_locations:
        return None
    directory = Path(next(iter(spec.submodule_search_locations))) / "static"
    return directory if directory.is_dir() else None


def swagger_asset(name: Annotated[str, PathParameter(description="The file's name")]) -> File:
    """One of the docs page's files; 404 for any other name."""
    media_type = ASSETS.get(name)
    directory = assets_directory()
    if media_type is None or directory is None:
        raise NotFoundException()
    return File(
        path=directory / name,
        filename=name,
        media_type=media_type,
        content_disposition_type="inline",
    )


class OfflineSwagger(SwaggerRenderPlugin):
    """Swagger UI with its files served by this app (the route is added to the
    OpenAPI router, beside the page)."""

    def __init__(self) -> None:
        super().__init__(
            path="/swagger",
            js_url=asset_url("swagger-ui-bundle.js"),
            css_url=asset_url("swagger-ui.css"),
            standalone_preset_js_url=asset_url("swagger-ui-standalone-preset.js"),
            favicon=f"<link rel='icon' type='image/png' href='{asset_url('favicon-32x32.png')}'>",
        )

    def receive_router(self, router: Router) -> None:
        super().receive_router(router)  # the OAuth2 redirect page
        router.register(
            get(
                f"{ASSETS_PATH}/{{name:str}}",
                include_in_schema=False,
                sync_to_thread=False,
                cache_control=CacheControlHeader(max_age=86400, public=True),
            )(swagger_asset)
        )


def openapi_config() -> OpenAPIConfig:
    return OpenAPIConfig(
        title="Resource service",
        version="1.0.0",
        description="Register, upload, confirm, rename, describe, list, download "
        "and delete project resources. Every change is an event.",
        path=SCHEMA_PATH,
        render_plugins=[OfflineSwagger()],
        components=Components(
            security_schemes={
                "BearerAuth": SecurityScheme(
                    type="http", scheme="bearer", description="A project API key (rsk_...)"
                )
            }
        ),
    )
