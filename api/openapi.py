"""The OpenAPI document and its docs page."""

from __future__ import annotations

from litestar.openapi import OpenAPIConfig
from litestar.openapi.plugins import SwaggerRenderPlugin
from litestar.openapi.spec import Components, SecurityScheme


def openapi_config() -> OpenAPIConfig:
    return OpenAPIConfig(
        title="Resource service",
        version="1.0.0",
        description="Register, upload, confirm, rename, describe, list, download "
        "and delete project resources. Every change is an event.",
        path="/schema",
        render_plugins=[SwaggerRenderPlugin(path="/swagger")],
        components=Components(
            security_schemes={
                "BearerAuth": SecurityScheme(
                    type="http", scheme="bearer", description="A project API key (rsk_...)"
                )
            }
        ),
    )
