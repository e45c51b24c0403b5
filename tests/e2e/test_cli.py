"""The `resources keys` commands, as an operator runs them."""

from __future__ import annotations

import os
import subprocess
import sys
from importlib.metadata import version
from pathlib import Path

import httpx
import pytest

from api.cli.commands import main
from api.composition.services import Services
from tests.storage import TEST_SIGNING_KEY
from tests.storage import cli_env as process_env


@pytest.fixture
def cli_env(monkeypatch: pytest.MonkeyPatch, services: Services) -> None:
    settings = services.settings
    assert settings.database_url is not None
    monkeypatch.setenv("DATABASE_URL", settings.database_url)
    monkeypatch.setenv("DATA_DIR", str(settings.data_dir))
    monkeypatch.setenv("SIGNING_KEY", TEST_SIGNING_KEY)


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


def run_cli(
    *arguments: str, env: dict[str, str], cwd: Path | None = None
) -> subprocess.CompletedProcess[str]:
    """`resources ARGUMENTS` in a process of its own, as an operator runs it."""
    return subprocess.run(
        [sys.executable, "-m", "api.cli.commands", *arguments],
        env=env,
        cwd=cwd,
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )


def without_database(env: dict[str, str], data_dir: Path) -> dict[str, str]:
    """An environment with no DATABASE_URL, the embedded database under `data_dir`."""
    bare = {name: value for name, value in env.items() if name != "DATABASE_URL"}
    bare["DATA_DIR"] = str(data_dir)
    return bare


def test_version_prints_the_package_version(services: Services) -> None:
    result = run_cli("--version", env=process_env(services.settings))
    assert result.returncode == 0, result.stderr
    assert result.stdout.strip() == f"resources {version('resource-service')}"


@pytest.mark.parametrize("command", [["keys", "list"], ["projections", "status"], ["blobs", "gc"]])
def test_a_command_that_needs_data_never_creates_a_database(
    services: Services, tmp_path: Path, command: list[str]
) -> None:
    data_dir = tmp_path / "empty"
    data_dir.mkdir()
    elsewhere = tmp_path / "elsewhere"
    elsewhere.mkdir()
    env = without_database(process_env(services.settings), data_dir)
    env.pop("SIGNING_KEY")
    result = run_cli(*command, env=env, cwd=elsewhere)
    assert result.returncode == 1
    assert result.stdout == ""
    assert result.stderr.strip() == (
        f"resources: no database at {data_dir / 'postgres'}"
        " (set DATA_DIR or --data-dir, or DATABASE_URL)"
    )
    assert list(data_dir.iterdir()) == []  # no postgres folder, no signing key
    assert list(elsewhere.iterdir()) == []  # and no .data where it ran


def test_without_data_dir_it_looks_in_dot_data_and_says_so_absolutely(
    services: Services, tmp_path: Path
) -> None:
    env = without_database(process_env(services.settings), tmp_path)
    env.pop("DATA_DIR")
    result = run_cli("keys", "list", env=env, cwd=tmp_path)
    assert result.returncode == 1
    assert f"no database at {tmp_path / '.data' / 'postgres'} " in result.stderr
    assert list(tmp_path.iterdir()) == []


def test_data_dir_finds_the_same_embedded_database_from_anywhere(
    services: Services, tmp_path: Path
) -> None:
    data = tmp_path / "service"
    env = without_database(process_env(services.settings), tmp_path / "unused")
    env.pop("SIGNING_KEY")
    created = run_cli(
        "--data-dir", str(data), "keys", "create", "--project-id", "1", "--user", "ops",
        env=env, cwd=tmp_path,
    )  # fmt: skip
    assert created.returncode == 0, created.stderr
    assert created.stdout.splitlines()[-1].startswith("rsk_")
    assert created.stderr.splitlines() == [f"resources: data in {data} (embedded PostgreSQL)"]
    assert (data / "postgres" / "PG_VERSION").is_file()
    assert "initdb" in (data / "pgserver.log").read_text()  # its narration, kept aside

    elsewhere = tmp_path / "elsewhere"
    elsewhere.mkdir()
    relative = os.path.relpath(data, elsewhere)
    for arguments, listing_env in [
        (["keys", "list", "--data-dir", relative], env),  # the option after the command
        (["--data-dir", relative, "keys", "list"], env),  # or before it
        (["keys", "list"], {**env, "DATA_DIR": str(data)}),  # or the variable
    ]:
        listed = run_cli(*arguments, env=listing_env, cwd=elsewhere)
        assert listed.returncode == 0, listed.stderr
        assert listed.stdout.split("\t")[:3] == ["1", "project=1", "user=ops"]
        assert listed.stderr.splitlines() == [f"resources: data in {data} (embedded PostgreSQL)"]
    assert list(elsewhere.iterdir()) == []
    assert not (tmp_path / "unused").exists()


def test_keys_create_with_database_url_says_where_and_keeps_the_key_last(
    services: Services, tmp_path: Path
) -> None:
    env = process_env(services.settings)
    result = run_cli("keys", "create", "--project-id", "2", "--user", "ci", env=env, cwd=tmp_path)
    assert result.returncode == 0, result.stderr
    assert result.stdout.splitlines()[-1].startswith("rsk_")
    assert len(result.stdout.splitlines()[-1].split()) == 1
    assert result.stderr.splitlines() == [
        f"resources: data in {services.settings.data_dir} (DATABASE_URL)"
    ]


@pytest.mark.parametrize(
    ("arguments", "env", "code", "said"),
    [
        (
            ["keys", "list"],
            {"DATABASE_URL": "postgresql://nobody:hunter2@127.0.0.1:1/nowhere"},
            1,
            "resources: the database cannot be reached (DATABASE_URL: nobody@127.0.0.1:1/nowhere)",
        ),
        (
            ["keys", "list"],
            {"DATABASE_URL": "not a url"},
            2,
            "resources: DATABASE_URL must be a PostgreSQL URL such as",
        ),
        (["keys", "list"], {"LOG_LEVEL": "verbose"}, 2, "resources: LOG_LEVEL must be one of"),
        (["serve"], {"PORT": "70000"}, 2, "resources: PORT must be at most 65535, not 70000"),
        (["serve", "--port", "0"], {}, 2, "argument --port: must be a whole number from 1"),
        (["serve", "--workers", "0"], {}, 2, "argument --workers: must be a whole number"),
        (
            ["keys", "create", "--project-id", str(2**63), "--user", "u"],
            {},
            2,
            "argument --project-id: must be a whole number from 1 to 9223372036854775807",
        ),
        (["keys", "list"], {"DATA_DIR": "{file}"}, 2, "resources: DATA_DIR {file} cannot be used"),
    ],
)
def test_a_bad_setting_or_argument_is_one_line_that_says_which_never_a_traceback(
    services: Services,
    tmp_path: Path,
    arguments: list[str],
    env: dict[str, str],
    code: int,
    said: str,
) -> None:
    file = tmp_path / "a-file"
    file.write_text("not a directory")
    process = process_env(services.settings)
    process.pop("SIGNING_KEY")  # generated under DATA_DIR, which must then be usable
    process["DATA_DIR"] = str(tmp_path / "data")
    process.update({name: value.format(file=file) for name, value in env.items()})
    result = run_cli(*arguments, env=process)
    assert result.returncode == code, result.stderr
    assert said.format(file=file) in result.stderr
    assert "Traceback" not in result.stderr
    assert "hunter2" not in result.stderr
