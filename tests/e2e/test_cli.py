"""The `resources keys` commands, as an operator runs them."""

from __future__ import annotations

import httpx
import pytest

from api.cli import main
from api.services import Services


@pytest.fixture
def cli_env(monkeypatch: pytest.MonkeyPatch, services: Services) -> None:
    settings = services.settings
    assert settings.database_url is not None
    monkeypatch.setenv("DATABASE_URL", settings.database_url)
    monkeypatch.setenv("DATA_DIR", str(settings.data_dir))
    monkeypatch.setenv("SIGNING_KEY", "test-signing-key")


@pytest.mark.usefixtures("cli_env")
def test_keys_create_prints_a_working_key_on_its_last_line(
    capsys: pytest.CaptureFixture[str], anonymous: httpx.Client
) -> None:
    assert main(["keys", "create", "--project-id", "4", "--user", "ci-user"]) == 0
    secret = capsys.readouterr().out.strip().splitlines()[-1]
    assert secret.startswith("rsk_")
    response = anonymous.post(
        "/api/resources", json={"name": "x"}, headers={"Authorization": f"Bearer {secret}"}
    )
    assert response.status_code == 201
    assert response.json()["data"]["resource"]["created_by"] == "ci-user"


@pytest.mark.usefixtures("cli_env")
def test_keys_list_shows_ids_first_and_never_a_secret(capsys: pytest.CaptureFixture[str]) -> None:
    main(["keys", "create", "--project-id", "4", "--user", "a"])
    first = capsys.readouterr().out.strip().splitlines()[-1]
    main(["keys", "create", "--project-id", "5", "--user", "b"])
    capsys.readouterr()
    assert main(["keys", "list"]) == 0
    lines = capsys.readouterr().out.strip().splitlines()
    assert [line.split()[0] for line in lines] == ["1", "2"]
    assert "project=5" in lines[1]
    assert all("rsk_" not in line and first[4:] not in line for line in lines)


@pytest.mark.usefixtures("cli_env")
def test_keys_revoke_stops_the_key_at_once(
    capsys: pytest.CaptureFixture[str], anonymous: httpx.Client
) -> None:
    main(["keys", "create", "--project-id", "4", "--user", "a"])
    secret = capsys.readouterr().out.strip().splitlines()[-1]
    headers = {"Authorization": f"Bearer {secret}"}
    assert anonymous.get("/api/resources", headers=headers).status_code == 200
    assert main(["keys", "revoke", "1"]) == 0
    assert anonymous.get("/api/resources", headers=headers).status_code == 401
    main(["keys", "list"])
    assert "revoked" in capsys.readouterr().out
    assert main(["keys", "revoke", "99"]) == 1
