"""Schemathesis hooks (SCHEMATHESIS_HOOKS=tests.contract.hooks): the test data that a
schema cannot hold.

The document says which requests are well formed; some well-formed requests are
still refused for what they say about the world, and these hooks keep the
generated ones from saying it by chance:

- a content URL needs the service's signature (its key is the server's secret):
  a request whose `expires` and `signature` are well formed gets a valid pair;
- an Idempotency-Key names one request for 24 hours: another request with the
  same key is a 422, so each request gets a key of its own;
- `project_id`, if given, must be the key's project;
- GET /api/resources/{id} takes `version` or `as_of`, not both (400), which an
  OpenAPI document cannot say of two parameters: `as_of` is left out when both
  are there;
- a held feed request (`wait`) is held at most a second: the run's requests find
  nothing new and would each wait up to a minute (holding is tested elsewhere);
- a download needs an uploaded file: the test registers, uploads and confirms
  one in another project, so that nothing the run does with its own key can
  change it (a content URL is signed, not tied to a key), and a download of a
  well-formed id asks for that one (CONTRACT_DOWNLOAD_ID);
- reading, changing or deleting one resource needs one of the run's project: random
  ids find one only by chance, and an operation that never reaches one is
  schemathesis's `missing_test_data`. Outside the stateful phase, whose links name
  the resources it creates, a well-formed id names one: reads the one registered
  before the run (CONTRACT_RESOURCE_ID), PATCHes another (CONTRACT_PATCHED_ID), and
  a DELETE one registered for it then; PATCH and DELETE of the stateful phase keep
  off the two. An upload (PUT content) to a well-formed id, outside the stateful
  phase, goes to a file registered for it then, pending.

Requests whose values are malformed are left as they are: the server must refuse
them. The hooks read CONTRACT_URL, CONTRACT_API_KEY, CONTRACT_SIGNING_KEY (hex),
CONTRACT_PROJECT_ID, CONTRACT_DOWNLOAD_ID, CONTRACT_RESOURCE_ID and
CONTRACT_PATCHED_ID.

Two more: If-Match values are drawn for the document's `entity-tags` format (see
below), and `filter_failure` excuses one documented behaviour, time travel to a
deleted resource's past.
"""

from __future__ import annotations

import json
import os
import re
import time
import uuid
from typing import Any, TypeAlias

import httpx
import schemathesis
from hypothesis import strategies as st
from schemathesis import Case as AnyCase
from schemathesis import HookContext, Response
from schemathesis.core.failures import Failure

from api.composition.signing import EXPIRY_DIGITS, UrlSigner
from api.http.controllers.events import MAX_WAIT
from api.http.idempotency import KEY_PATTERN

Case: TypeAlias = AnyCase[Any]
CONTENT = "/api/resources/{resource_id}/content"
RESOURCE = "/api/resources/{resource_id}"
HISTORY = "/api/resources/{resource_id}/history"
FEED = "/api/events"
_SIGNATURE = re.compile(r"[0-9a-f]{64}")
_IDEMPOTENCY_KEY = re.compile(KEY_PATTERN)
_SIGNER = UrlSigner(bytes.fromhex(os.environ.get("CONTRACT_SIGNING_KEY", "")), "", ttl_seconds=3600)


def _whole_number(value: Any, digits: int) -> bool:
    text = str(value) if isinstance(value, int) and not isinstance(value, bool) else value
    return isinstance(text, str) and text.isascii() and text.isdigit() and len(text) <= digits


def _integer(value: Any) -> int | None:
    """A path parameter's integer: generated as an int, or as the text sent."""
    if isinstance(value, int) and not isinstance(value, bool):
        return value
    if isinstance(value, str) and re.fullmatch(r"-?[0-9]+", value):
        return int(value)
    return None


def uploaded_file(case: Case) -> None:
    parameters = case.path_parameters
    resource_id = _integer((parameters or {}).get("resource_id"))
    if parameters is not None and resource_id is not None and 1 <= resource_id < 2**63:
        parameters["resource_id"] = int(os.environ["CONTRACT_DOWNLOAD_ID"])


def _phase(case: Case) -> str | None:
    meta = getattr(case, "_meta", None)
    return None if meta is None else str(meta.phase.name.value)


def own_resource(case: Case) -> None:
    """Outside the stateful phase, a well-formed id names a resource of the run's own:
    a read the kept one, a PATCH the one kept for changes, a DELETE one registered for
    it now. In the stateful phase (ids from its links) PATCH and DELETE keep off both."""
    parameters = case.path_parameters
    resource_id = _integer((parameters or {}).get("resource_id"))
    if parameters is None or resource_id is None or not 1 <= resource_id < 2**63:
        return
    read, changed = int(os.environ["CONTRACT_RESOURCE_ID"]), int(os.environ["CONTRACT_PATCHED_ID"])
    method = case.method.upper()
    if _phase(case) == "stateful":
        if method != "GET" and resource_id in (read, changed):
            parameters["resource_id"] = resource_id + 1_000_000  # names no resource
    elif method == "GET":
        parameters["resource_id"] = read
    elif method == "PATCH":
        parameters["resource_id"] = changed
    elif method == "DELETE":
        parameters["resource_id"] = _registered_now()


def pending_file(case: Case) -> None:
    """Outside the stateful phase, an upload to a well-formed id goes to a file
    registered for it now (still pending: it takes the bytes)."""
    parameters = case.path_parameters
    resource_id = _integer((parameters or {}).get("resource_id"))
    if (
        parameters is not None
        and resource_id is not None
        and 1 <= resource_id < 2**63
        and _phase(case) != "stateful"
    ):
        parameters["resource_id"] = _registered_now(link=False)


def _registered_now(*, link: bool = True) -> int:
    body = {"name": "to be deleted", "url": "https://delete.example"} if link else {"name": "up"}
    created = httpx.post(
        os.environ["CONTRACT_URL"] + "/api/resources",
        json=body,
        headers={"Authorization": f"Bearer {os.environ['CONTRACT_API_KEY']}"},
        timeout=30,
    )
    assert created.status_code == 201, created.text
    return int(created.json()["data"]["resource"]["id"])


def sign(case: Case) -> None:
    """Well-formed expires and signature become a valid pair for the case's method and id."""
    query = case.query
    resource_id = _integer((case.path_parameters or {}).get("resource_id"))
    if not (
        isinstance(query, dict)
        and resource_id is not None
        and _whole_number(query.get("expires"), EXPIRY_DIGITS)
        and isinstance(query.get("signature"), str)
        and _SIGNATURE.fullmatch(query["signature"])
    ):
        return
    url = _SIGNER.content_url(case.method.upper(), resource_id, now=time.time())
    signed = dict(pair.split("=", 1) for pair in url.split("?", 1)[1].split("&"))
    query["expires"] = int(signed["expires"])
    query["signature"] = signed["signature"]


def own_idempotency_key(case: Case) -> None:
    headers = case.headers
    key = headers.get("Idempotency-Key") if headers is not None else None
    if headers is not None and isinstance(key, str) and _IDEMPOTENCY_KEY.fullmatch(key):
        headers["Idempotency-Key"] = uuid.uuid4().hex


def own_project(case: Case) -> None:
    body = case.body
    if not isinstance(body, dict):
        return
    project_id = body.get("project_id")
    if (
        isinstance(project_id, int | float)
        and not isinstance(project_id, bool)
        and float(project_id).is_integer()
        and 1 <= project_id < 2**63
    ):  # an integer (1.0 is one too, in JSON Schema) in range: another project's
        body["project_id"] = int(os.environ["CONTRACT_PROJECT_ID"])


# If-Match values: schemathesis writes header values of its own from letters and digits
# only, and an entity tag needs quotes; its `entity-tags` format (a name the document
# gives If-Match) draws them from this instead: `*`, or a list of tags, some weak.
_TAG = st.builds(
    lambda weak, tag: f'{"W/" if weak else ""}"{tag}"',
    st.booleans(),
    st.one_of(st.integers(1, 20).map(str), st.text("0123456789abcdefXYZ-_.", max_size=8)),
)
schemathesis.openapi.format(
    "entity-tags",
    st.one_of(st.just("*"), st.lists(_TAG, min_size=1, max_size=3).map(", ".join)),
)


# Session-Token values, for the same reason: two hexadecimal numbers (a WAL position).
schemathesis.openapi.format(
    "session-token",
    st.builds(
        lambda high, low: f"{high:X}/{low:X}",
        st.integers(0, 2**32 - 1),
        st.integers(0, 2**32 - 1),
    ),
)


def held_briefly(case: Case) -> None:
    query = case.query
    wait = _integer(query.get("wait")) if isinstance(query, dict) else None
    if isinstance(query, dict) and wait is not None and 1 < wait <= MAX_WAIT:
        query["wait"] = 1


def one_point_in_time(case: Case) -> None:
    query = case.query
    if isinstance(query, dict) and "version" in query and "as_of" in query:
        del query["as_of"]


@schemathesis.hook
def before_call(context: HookContext, case: Case, kwargs: dict[str, Any]) -> None:
    if case.operation.path == CONTENT:
        if case.method.upper() == "GET":
            uploaded_file(case)
        else:
            pending_file(case)
        sign(case)
    if case.operation.path in (RESOURCE, HISTORY):
        own_resource(case)
    if case.operation.path == RESOURCE and case.method.upper() == "GET":
        one_point_in_time(case)
    if case.operation.path == FEED:
        held_briefly(case)
    own_idempotency_key(case)
    if case.operation.method.upper() == "POST":
        own_project(case)


@schemathesis.deserializer("application/x-ndjson")
def ndjson(context: Any, response: Response) -> list[Any]:
    """The feed's export: one JSON value a line, read as the list the document describes."""
    return [json.loads(line) for line in response.content.splitlines() if line.strip()]


@schemathesis.hook
def filter_failure(context: HookContext, failure: Failure, case: Case, response: Response) -> bool:
    """Keeps every failure but one documented behaviour: time travel outlives deletion.

    GET /api/resources/{id}?version=N (or ?as_of=T) answers the resource as it was,
    also once it has been deleted: docs/api.md says a deleted resource is a 404 "for
    the current state", and docs/audit.md (run with the README) reads a deleted resource's
    past. `use_after_free` (ST301) flags exactly that; for the current state, and
    for every other operation but the history (tests/contract/schemathesis.toml),
    it still applies.
    """
    query = case.query if isinstance(case.query, dict) else {}
    return not (
        failure.code == "ST301"
        and case.operation.path == RESOURCE
        and case.method.upper() == "GET"
        and ("version" in query or "as_of" in query)
    )
