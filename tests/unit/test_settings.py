"""Configuration read from the environment: defaults, and plain errors for bad values."""

from __future__ import annotations

import io
import logging
from pathlib import Path

import pytest
import structlog

from api.composition.settings import Settings, SettingsError
from api.http.app import create_app
from api.observability.logs import configure as configure_logging


def settings(tmp_path: Path, **env: str) -> Settings:
    return Settings.from_env({"DATA_DIR": str(tmp_path), "SIGNING_KEY": "k" * 32, **env})


def test_the_async_pool_size_defaults_to_16_and_can_be_set(tmp_path: Path) -> None:
    assert settings(tmp_path).database_pool_size == 16
    assert settings(tmp_path, DATABASE_POOL_SIZE="40").database_pool_size == 40


@pytest.mark.parametrize("value", ["0", "-3", "many"])
def test_a_pool_size_that_is_not_a_positive_number_is_refused(tmp_path: Path, value: str) -> None:
    with pytest.raises(SettingsError, match="DATABASE_POOL_SIZE"):
        settings(tmp_path, DATABASE_POOL_SIZE=value)


def test_log_level_sets_the_root_logger_and_the_app_leaves_it_so(tmp_path: Path) -> None:
    root = logging.getLogger()
    before = root.handlers[:], root.level
    try:
        for name in ("ERROR", "DEBUG"):
            configured = settings(tmp_path, LOG_LEVEL=name)
            configure_logging(configured.log_level, "json", stream=io.StringIO())
            create_app(configured)
            assert root.getEffectiveLevel() == getattr(logging, name)
            assert logging.getLogger("uvicorn.error").getEffectiveLevel() == getattr(logging, name)
    finally:
        root.handlers[:], saved_level = before
        root.setLevel(saved_level)
        structlog.reset_defaults()
