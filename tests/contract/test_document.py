"""The served OpenAPI document says exactly what the server does.

Two kinds of test: the document's shape (every operation's statuses, headers,
bodies; integers as integers; no needless unions), and properties showing that
each pattern the document gives equals the rule the server applies, under the
regex engine schemathesis validates with (jsonschema-rs).
"""

from __future__ import annotations

import re
from collections.abc import Callable, Iterator
from typing import Any

import httpx
import jsonschema_rs
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from litestar.handlers import HTTPRouteHandler
from litestar.params import HeaderParameter
from litestar.routes import HTTPRoute

from api.composition.services import Services
from api.http import schemas
from api.http.app import create_app
from api.http.conditions import IF_MATCH_PATTERN, parse_if_match
from api.http.errors import ERROR_HEADERS, ApiError
from api.http.idempotency import _KEY_SHAPE, KEY_PATTERN
from api.http.parameters import MAX_PAGE, MAX_PER_PAGE, REQUEST_ID, _rfc3339
from api.observability.request_ids import ACCEPTABLE
from domain import rules
from domain.errors import InvalidValue

Json = dict[str, Any]

STATUSES = {
    ("post", "/api/resources"): {201, 400, 401, 409, 413, 415, 422, 500, 503},
    ("get", "/api/resources"): {200, 400, 401, 500, 503},
    ("get", "/api/resources/{resource_id}"): {200, 400, 401, 404, 500, 503},
    ("patch", "/api/resources/{resource_id}"): {
        *(200, 400, 401, 404, 409, 412, 413, 415, 422, 500, 503),
    },
    ("delete", "/api/resources/{resource_id}"): {204, 400, 401, 404, 409, 412, 500, 503},
    ("put", "/api/resources/{resource_id}/content"): {
        *(204, 403, 404, 408, 409, 413, 500, 503, 507),
    },
    ("get", "/api/resources/{resource_id}/content"): {200, 307, 403, 404, 500, 503},
    ("get", "/api/resources/{resource_id}/history"): {200, 400, 401, 404, 500, 503},
    ("get", "/api/activity"): {200, 400, 401, 500, 503},
    ("get", "/api/events"): {200, 400, 401, 500, 503},
    ("get", "/api/events/stream"): {200, 400, 401, 403, 500, 503},
    ("get", "/api/events/stream-url"): {200, 401, 500, 503},
    ("get", "/health"): {200},
    ("get", "/ready"): {200, 503},
    ("get", "/metrics"): {200, 401, 500},
}
READ = {"Session-Token", "X-Request-ID"}
REQUEST_HEADERS = {
    "createResource": {"Idempotency-Key", "X-Request-ID"},
    "updateResource": {"If-Match", "Idempotency-Key", "X-Request-ID"},
    "deleteResource": {"If-Match", "X-Request-ID"},
    "listResources": READ,
    "getResource": READ,
    "resourceHistory": READ,
    "projectActivity": READ,
    "eventFeed": READ,
    "eventStream": {"Last-Event-ID", *READ},
}


def operations(document: Json) -> Iterator[tuple[str, str, Json]]:
    for path, item in document["paths"].items():
        for method, operation in item.items():
            yield method, path, operation


def resolve(document: Json, node: Json) -> Json:
    while "$ref" in node:
        _, kind, name = node["$ref"].removeprefix("#/").split("/")
        node = document["components"][kind][name]
    return node


def walk(node: Any) -> Iterator[Any]:
    yield node
    if isinstance(node, dict):
        for value in node.values():
            yield from walk(value)
    elif isinstance(node, list):
        for value in node:
            yield from walk(value)


def test_every_operation_lists_exactly_the_statuses_it_can_answer(document: Json) -> None:
    found = {
        (method, path): {int(status) for status in operation["responses"]}
        for method, path, operation in operations(document)
    }
    assert found == STATUSES


def test_every_error_is_an_error_envelope_with_its_headers(document: Json) -> None:
    for method, path, operation in operations(document):
        for status, response in operation["responses"].items():
            headers = {
                name: resolve(document, header) for name, header in response["headers"].items()
            }
            assert "X-Request-ID" in headers, (method, path, status)
            assert headers["X-Request-ID"]["required"] is (status != "503")
            if int(status) < 400 or path == "/ready":
                continue
            schema = response["content"]["application/json"]["schema"]
            assert schema == {"$ref": "#/components/schemas/ErrorEnvelope"}, (method, path, status)
            expected = {"401": "WWW-Authenticate", "412": "ETag", "503": "Retry-After"}.get(status)
            assert expected is None or expected in headers, (method, path, status)


def test_request_headers_are_declared(document: Json) -> None:
    for _, _, operation in operations(document):
        names = {
            resolve(document, parameter)["name"]
            for parameter in operation["parameters"]
            if resolve(document, parameter)["in"] == "header"
        }
        assert names == REQUEST_HEADERS.get(operation["operationId"], {"X-Request-ID"})


def test_success_headers_are_declared(document: Json) -> None:
    def headers(method: str, path: str, status: str) -> set[str]:
        return set(document["paths"][path][method]["responses"][status]["headers"])

    resource = "/api/resources/{resource_id}"
    assert headers("post", "/api/resources", "201") == {
        "Location",
        "ETag",
        "Idempotent-Replayed",
        "Session-Token",
        "X-Request-ID",
    }
    assert headers("patch", resource, "200") == {
        "ETag",
        "Idempotent-Replayed",
        "Session-Token",
        "X-Request-ID",
    }
    assert headers("delete", resource, "204") == {"Session-Token", "X-Request-ID"}
    assert headers("get", resource, "200") == {"ETag", "X-Request-ID"}
    assert headers("get", f"{resource}/content", "200") == {
        "Content-Length",
        "Content-Disposition",
        "ETag",
        "X-Request-ID",
    }
    assert headers("get", f"{resource}/content", "307") == {"Location", "X-Request-ID"}


def test_the_content_operations_take_and_give_bytes(document: Json) -> None:
    content = document["paths"]["/api/resources/{resource_id}/content"]
    for operation in content.values():
        query = {p["name"]: p for p in operation["parameters"] if p.get("in") == "query"}
        assert query["expires"]["required"] is query["signature"]["required"] is True
        assert query["expires"]["schema"]["type"] == "integer"
        assert query["expires"]["schema"]["maximum"] == 999_999_999_999
        assert query["signature"]["schema"]["pattern"] == "^[0-9a-f]{64}$"
        assert "security" not in operation
    body = content["put"]["requestBody"]["content"]
    assert body == {"application/octet-stream": {"schema": {"type": "string", "format": "binary"}}}
    download = content["get"]["responses"]["200"]["content"]
    assert download["application/octet-stream"]["schema"]["format"] == "binary"
    assert "*/*" in download
    assert "application/json" not in download


def test_numbers_are_integers_and_unions_have_two_branches(document: Json) -> None:
    for node in walk(document):
        assert not isinstance(node, float), node
        if isinstance(node, dict):
            for keyword in ("oneOf", "anyOf"):
                assert len(node.get(keyword, [None, None])) > 1, node
            if node.get("type") == "integer":
                assert node.get("format") == "int64", node
    pages = {
        p["name"]: p["schema"]
        for p in document["paths"]["/api/resources"]["get"]["parameters"]
        if "name" in p
    }
    assert pages["page"]["maximum"] == MAX_PAGE
    assert pages["per_page"]["maximum"] == MAX_PER_PAGE


def test_times_are_date_times(document: Json) -> None:
    components = document["components"]["schemas"]
    for name, field in (
        ("ResourceOut", "created_at"),
        ("ResourceOut", "updated_at"),
        ("HistoryEvent", "occurred_at"),
        ("ActivityEvent", "occurred_at"),
    ):
        assert components[name]["properties"][field]["format"] == "date-time", (name, field)


def test_request_bodies_refuse_unknown_fields(document: Json) -> None:
    for _, _, operation in operations(document):
        body = operation.get("requestBody", {}).get("content", {}).get("application/json")
        if body is not None:
            assert resolve(document, body["schema"])["additionalProperties"] is False


def test_the_declared_size_is_at_most_the_upload_limit(
    document: Json, session_services: Services
) -> None:
    size = document["components"]["schemas"]["CreateResourceBody"]["properties"]["size_bytes"]
    assert size["anyOf"][0]["maximum"] == session_services.settings.max_upload_bytes


def route_handlers(services: Services) -> Iterator[tuple[str, str, HTTPRouteHandler]]:
    """Every handler the app routes that the document shows: method, path, handler."""
    for route in create_app(services.settings, services).routes:
        if isinstance(route, HTTPRoute):
            for method, (handler, _) in route.route_handler_map.items():
                if handler.resolve_include_in_schema():
                    yield method.lower(), route.path_format, handler


def test_every_handler_is_in_the_document_with_what_it_declares(
    document: Json, session_services: Services
) -> None:
    """What a handler declares (its operation, header parameters, response headers and
    responses) is in the document; an operation gone from it, or renamed, fails here."""
    handlers = list(route_handlers(session_services))
    assert len(handlers) == len(STATUSES)
    for method, path, handler in handlers:
        operation = document["paths"].get(path, {}).get(method)
        assert operation is not None, (method, path)
        assert operation["operationId"] == handler.operation_id
        parameters = [resolve(document, parameter) for parameter in operation["parameters"]]
        declared = {
            field.kwarg_definition.name
            for field in handler.parsed_fn_signature.parameters.values()
            if isinstance(field.kwarg_definition, HeaderParameter)
        }
        assert declared <= {p["name"] for p in parameters if p["in"] == "header"}, path
        answers = operation["responses"]
        success = answers[str(handler.status_code)]["headers"]
        assert {header.name for header in handler.resolve_response_headers()} <= set(success)
        assert {str(status) for status in handler.responses or {}} <= set(answers), path
        for status, response in answers.items():
            for header in ERROR_HEADERS.get(int(status), ()):
                found = response["headers"][header.name]
                assert found["description"] == header.description, (path, status)


def test_links_name_operations_and_their_parameters(document: Json) -> None:
    by_id = {operation["operationId"]: operation for _, _, operation in operations(document)}
    links = [
        link
        for _, _, operation in operations(document)
        for response in operation["responses"].values()
        for link in response.get("links", {}).values()
    ]
    assert len(links) == 11
    for link in links:
        target = by_id[link["operationId"]]
        names = {
            f"header.{found['name']}" if found["in"] == "header" else found["name"]
            for found in (resolve(document, parameter) for parameter in target["parameters"])
        }
        assert set(link["parameters"]) <= names, link


def test_options_names_every_method_of_the_path(document: Json, contract_url: str) -> None:
    for path, item in document["paths"].items():
        url = contract_url + path.replace("{resource_id}", "1")
        allowed = httpx.options(url).headers["allow"]
        assert sorted(allowed.split(", ")) == sorted([*(m.upper() for m in item), "OPTIONS"])


# The patterns, against the rules they describe.

ODD = "\t\n\x0b\x0c\r\x1c\x1f \x85\xa0\u2000\u2028\u3000\ufeff\x00\x01\x7f\x9f"


def validator(schema: Json) -> Callable[[str], bool]:
    return jsonschema_rs.Draft202012Validator(schema, validate_formats=True).is_valid


def accepts(rule: Callable[[str], object], value: str) -> bool:
    try:
        rule(value)
    except (InvalidValue, ApiError, ValueError):
        return False
    return True


@settings(max_examples=500)
@given(st.text(alphabet=st.sampled_from(ODD) | st.characters(codec="utf-8"), max_size=300))
def test_the_name_pattern_is_the_name_rule(value: str) -> None:
    matches = validator({"type": "string", "maxLength": 255, "pattern": schemas.NAME_PATTERN})
    assert matches(value) is accepts(rules.valid_name, value)


@settings(max_examples=300)
@given(st.text(alphabet=st.sampled_from(ODD) | st.characters(codec="utf-8"), max_size=50))
def test_the_description_pattern_is_the_description_rule(value: str) -> None:
    assert validator({"type": "string", "pattern": schemas.DESCRIPTION_PATTERN})(value) is accepts(
        rules.valid_description, value
    )


@settings(max_examples=500)
@given(
    st.from_regex(schemas.MIME_TYPE_PATTERN, fullmatch=True)
    | st.text(alphabet=st.sampled_from('ab/; =\t"\\\x01\n+*é'), max_size=20)
)
def test_the_media_type_pattern_is_the_media_type_rule(value: str) -> None:
    matches = validator({"type": "string", "pattern": schemas.MIME_TYPE_PATTERN})
    assert matches(value) is accepts(rules.valid_mime_type, value)


URL_TEXT = st.text(
    alphabet=st.sampled_from("aZ09.-_~%!$&'()*+,;=/?#@:[] \t\né\uff0f\u2100\x00")
    | st.characters(codec="utf-8"),
    max_size=30,
)


@settings(max_examples=1000)
@given(st.sampled_from(["http://", "HTTPS://", "ftp://", "http:", "http:///", ""]), URL_TEXT)
def test_the_link_pattern_is_the_link_rule(scheme: str, rest: str) -> None:
    value = scheme + rest
    matches = validator({"type": "string", "maxLength": 2048, "pattern": schemas.LINK_PATTERN})
    authority = re.split(r"[/?#]", value.partition("://")[2], maxsplit=1)[0]
    if "[" in authority or "]" in authority:  # the document leaves out hosts in brackets
        assert not matches(value)
    else:
        assert matches(value) is accepts(rules.valid_link, value)


@settings(max_examples=1000)
@given(st.text(alphabet=st.sampled_from('"W/*, \t\x85\xa03a!\x7f\xff\x22'), max_size=12))
def test_the_if_match_pattern_is_the_if_match_parser(value: str) -> None:
    matches = validator({"type": "string", "pattern": IF_MATCH_PATTERN})
    assert matches(value) is accepts(parse_if_match, value)


@given(st.text(alphabet=st.characters(max_codepoint=0x2000), max_size=300))
def test_the_idempotency_key_and_request_id_patterns_are_the_servers(value: str) -> None:
    key = validator({"type": "string", "pattern": KEY_PATTERN})
    assert key(value) is bool(_KEY_SHAPE.fullmatch(value))
    request_id = validator(REQUEST_ID.schema or {})
    assert request_id(value) is bool(ACCEPTABLE.fullmatch(value))


DIGITS = st.text(alphabet="0123456789", min_size=1, max_size=4)


@settings(max_examples=2000)
@given(
    st.builds(
        "{}-{}-{}{}{}:{}:{}{}{}".format,
        DIGITS,
        DIGITS,
        DIGITS,
        st.sampled_from("Tt "),
        DIGITS,
        DIGITS,
        DIGITS,
        st.sampled_from(["", ".5", ".123456789", ","]),
        st.sampled_from(["Z", "z", "+01:00", "-14:00", "+00:60", "+2400", "", "+23:59"]),
    )
    | st.datetimes().map(lambda moment: moment.isoformat() + "Z")
)
def test_date_times_are_read_as_the_format_says(value: str) -> None:
    date_time = validator({"type": "string", "format": "date-time"})
    assert date_time(value) is (_rfc3339(value) is not None)


@pytest.mark.parametrize("value", ["2026-11-28T23:59:60Z", "0000-01-01T00:00:00Z"])
def test_leap_seconds_and_the_year_zero_are_times(value: str) -> None:
    assert _rfc3339(value) is not None
