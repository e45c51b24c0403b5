"""The service's one version: the installed package's, as pyproject.toml declares it.
`resources --version` and the OpenAPI document's `info.version` both say it."""

from __future__ import annotations

from importlib.metadata import PackageNotFoundError, version

PACKAGE = "resource-service"


def package_version() -> str:
    try:
        return version(PACKAGE)
    except PackageNotFoundError:  # run from a source tree that was never installed
        return "unknown"
