"""The docs page's own copy of Swagger UI's files, so that the page (`/schema/swagger`,
`api.http.openapi`) works without internet access: the `swagger-ui-py` package ships
swagger-ui's dist files, and `/schema/swagger-ui/<file>` serves the few the page needs.
"""

from __future__ import annotations

import importlib.util
from functools import cache
from pathlib import Path
from typing import Annotated

from litestar import get
from litestar.datastructures import CacheControlHeader
from litestar.exceptions import NotFoundException
from litestar.handlers import HTTPRouteHandler
from litestar.params import PathParameter
from litestar.response import File

ASSETS_PATH = "/swagger-ui"
"""Under the OpenAPI router's path: where the page's scripts, stylesheet and icon are."""
ASSETS = {
    "swagger-ui-bundle.js": "text/javascript",
    "swagger-ui-standalone-preset.js": "text/javascript",
    "swagger-ui.css": "text/css",
    "favicon-32x32.png": "image/png",
}
"""The files of the package's `static/` folder the page loads, and nothing else."""


@cache
def assets_directory() -> Path | None:
    """Where the installed package keeps swagger-ui's files (None: not installed).

    Found without importing the package, whose own code (a Jinja2 page renderer
    for other frameworks) the service does not need.
    """
    spec = importlib.util.find_spec("swagger_ui")
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


def assets_handler() -> HTTPRouteHandler:
    """The route of the files, for an app's OpenAPI router (a handler of its own each)."""
    return get(
        f"{ASSETS_PATH}/{{name:str}}",
        include_in_schema=False,
        sync_to_thread=False,
        cache_control=CacheControlHeader(max_age=86400, public=True),
    )(swagger_asset)
