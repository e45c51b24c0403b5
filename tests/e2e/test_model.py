"""A model-based test: Hypothesis drives the HTTP API with random sequences of commands
and checks every response against a small in-memory model of what the API promises."""

from __future__ import annotations

import shutil
from dataclasses import dataclass, field
from typing import Any

import httpx
from hypothesis import HealthCheck, settings
from hypothesis import strategies as st
from hypothesis.stateful import (
    Bundle,
    RuleBasedStateMachine,
    consumes,
    invariant,
    rule,
    run_state_machine_as_test,
)

from api.composition.services import Services
from tests.storage import empty

NAMES = st.text(
    alphabet=st.characters(codec="utf-8", exclude_categories=("Cc", "Cs", "Zl", "Zp")),
    min_size=1,
    max_size=12,
).filter(lambda name: name.strip() != "")
DESCRIPTIONS = st.none() | st.text(
    alphabet=st.characters(codec="utf-8", exclude_categories=("Cc", "Cs")), max_size=20
)
CONTENT = st.binary(max_size=64)


@dataclass
class Modelled:
    id: int
    name: str
    description: str | None
    declared: int | None
    status: str = "pending"
    uploaded: bytes | None = None
    """The bytes of the newest complete upload."""
    confirmed: bytes | None = None
    deleted: bool = False
    names: list[str] = field(default_factory=list)
    """The name after each event (its index + 1 is the version)."""

    @property
    def version(self) -> int:
        return len(self.names)


class ResourcesApi(RuleBasedStateMachine):
    def __init__(self, client: httpx.Client, services: Services) -> None:
        super().__init__()
        empty(services.datastore, keys=False)
        shutil.rmtree(services.settings.data_dir / "blobs", ignore_errors=True)
        self.client = client
        self.model: dict[int, Modelled] = {}

    resources = Bundle("resources")

    def _get(self, resource_id: int, **params: Any) -> httpx.Response:
        return self.client.get(f"/api/resources/{resource_id}", params=params or None)

    @rule(target=resources, name=NAMES, declared=st.none() | st.integers(0, 64))
    def create(self, name: str, declared: int | None) -> int:
        response = self.client.post("/api/resources", json={"name": name, "size_bytes": declared})
        assert response.status_code == 201, response.text
        body = response.json()["data"]["resource"]
        assert (body["name"], body["status"], body["size_bytes"]) == (
            name.strip(),
            "pending",
            declared,
        )
        assert response.headers["etag"] == '"1"'
        self.model[body["id"]] = Modelled(
            body["id"], name.strip(), None, declared, names=[name.strip()]
        )
        return int(body["id"])

    @rule(resource_id=resources, content=CONTENT)
    def upload(self, resource_id: int, content: bytes) -> None:
        modelled = self.model[resource_id]
        url = self.client.get(f"/api/resources/{resource_id}").json()
        if modelled.deleted:
            assert "error" in url
            return
        upload_url = url["data"]["resource"].get("upload_url")
        if modelled.status == "uploaded":
            assert upload_url is None
            return
        response = httpx.put(upload_url, content=content, timeout=30)
        if modelled.declared is not None and len(content) > modelled.declared:
            assert response.status_code == 413, response.text
            return
        assert response.status_code == 204, response.text
        modelled.uploaded = content

    @rule(resource_id=resources)
    def confirm(self, resource_id: int) -> None:
        modelled = self.model[resource_id]
        response = self.client.patch(f"/api/resources/{resource_id}", json={"status": "uploaded"})
        if modelled.deleted:
            assert response.status_code == 404
            return
        if modelled.status == "uploaded":
            assert response.status_code == 200
            assert response.headers["etag"] == f'"{modelled.version}"'
            return
        if modelled.uploaded is None:
            assert response.json()["error"]["code"] == "upload_incomplete"
            return
        if modelled.declared is not None and len(modelled.uploaded) != modelled.declared:
            assert response.json()["error"]["code"] == "size_mismatch"
            return
        assert response.status_code == 200, response.text
        modelled.status, modelled.confirmed = "uploaded", modelled.uploaded
        modelled.declared = len(modelled.uploaded)
        modelled.names.append(modelled.name)
        assert response.headers["etag"] == f'"{modelled.version}"'

    @rule(resource_id=resources, name=NAMES)
    def rename(self, resource_id: int, name: str) -> None:
        modelled = self.model[resource_id]
        response = self.client.patch(f"/api/resources/{resource_id}", json={"name": name})
        if modelled.deleted:
            assert response.status_code == 404
            return
        assert response.status_code == 200, response.text
        if name.strip() != modelled.name:
            modelled.name = name.strip()
            modelled.names.append(modelled.name)
        assert response.json()["data"]["resource"]["name"] == modelled.name
        assert response.headers["etag"] == f'"{modelled.version}"'

    @rule(resource_id=resources, description=DESCRIPTIONS)
    def describe(self, resource_id: int, description: str | None) -> None:
        modelled = self.model[resource_id]
        response = self.client.patch(
            f"/api/resources/{resource_id}", json={"description": description}
        )
        if modelled.deleted:
            assert response.status_code == 404
            return
        assert response.status_code == 200, response.text
        if description != modelled.description:
            modelled.description = description
            modelled.names.append(modelled.name)
        assert response.json()["data"]["resource"]["description"] == modelled.description
        assert response.headers["etag"] == f'"{modelled.version}"'

    @rule(resource_id=consumes(resources))
    def delete(self, resource_id: int) -> None:
        modelled = self.model[resource_id]
        response = self.client.delete(f"/api/resources/{resource_id}")
        if modelled.deleted:
            assert response.status_code == 404
            return
        assert response.status_code == 204, response.text
        modelled.deleted = True
        modelled.names.append(modelled.name)

    @rule(resource_id=resources)
    def history(self, resource_id: int) -> None:
        modelled = self.model[resource_id]
        response = self.client.get(
            f"/api/resources/{resource_id}/history", params={"per_page": 100}
        )
        assert response.status_code == 200, response.text
        events = response.json()["data"]["events"]
        assert [event["version"] for event in events] == list(range(1, modelled.version + 1))
        assert events[-1]["type"] == ("Deleted" if modelled.deleted else events[-1]["type"])

    @rule(resource_id=resources, data=st.data())
    def time_travel(self, resource_id: int, data: st.DataObject) -> None:
        modelled = self.model[resource_id]
        version = data.draw(st.integers(1, modelled.version + 1))
        response = self._get(resource_id, version=version)
        if version > modelled.version or (modelled.deleted and version == modelled.version):
            assert response.status_code == 404
            return
        assert response.status_code == 200, response.text
        assert response.json()["data"]["resource"]["name"] == modelled.names[version - 1]

    @rule()
    def download_what_was_confirmed(self) -> None:
        for modelled in self.model.values():
            if modelled.status == "uploaded" and not modelled.deleted:
                url = self._get(modelled.id).json()["data"]["resource"]["url"]
                assert httpx.get(url, timeout=30).content == modelled.confirmed

    @invariant()
    def every_resource_reads_as_modelled(self) -> None:
        for modelled in self.model.values():
            response = self._get(modelled.id)
            if modelled.deleted:
                assert response.status_code == 404
                continue
            assert response.status_code == 200, response.text
            body = response.json()["data"]["resource"]
            assert (body["name"], body["description"], body["status"]) == (
                modelled.name,
                modelled.description,
                modelled.status,
            )
            assert response.headers["etag"] == f'"{modelled.version}"'

    @invariant()
    def the_list_shows_the_live_resources_newest_first(self) -> None:
        listing = self.client.get("/api/resources", params={"status": "all", "per_page": 100})
        assert listing.status_code == 200
        live = sorted((m.id for m in self.model.values() if not m.deleted), reverse=True)
        assert [r["id"] for r in listing.json()["data"]["resources"]] == live
        uploaded = self.client.get("/api/resources", params={"per_page": 100}).json()
        assert [r["id"] for r in uploaded["data"]["resources"]] == [
            rid for rid in live if self.model[rid].status == "uploaded"
        ]


def test_any_sequence_of_commands_behaves_as_the_model_says(
    client: httpx.Client, services: Services
) -> None:
    run_state_machine_as_test(
        lambda: ResourcesApi(client, services),  # type: ignore[arg-type]
        settings=settings(
            max_examples=25,
            stateful_step_count=20,
            deadline=None,
            suppress_health_check=list(HealthCheck),
        ),
    )
