"""Litestar's own refusals of hostile requests (a query value of the wrong type, a
missing or oversized body, an unknown path or method) in the service's error envelope."""

from __future__ import annotations

import logging

import pytest
from litestar.exceptions import HTTPException, ValidationException

from api.http.errors import NOTHING_HERE
from tests.unit.edge import answer, request


def test_a_query_value_litestar_refuses_is_a_400_naming_each_parameter() -> None:
    refusal = ValidationException(
        detail="Validation failed for GET /api/resources?page=0",
        extra=[
            {"key": "page", "message": "Expected `int` >= 1", "source": "query"},
            {"key": "per_page", "message": "Expected `int` <= 100", "source": "query"},
        ],
    )

    answered = answer(refusal)

    assert (answered.status, answered.code) == (400, "bad_request")
    assert answered.fields == ["page", "per_page"]


def test_a_body_litestar_refuses_is_a_422_naming_the_field() -> None:
    refusal = ValidationException(
        extra=[{"key": "name", "message": "Expected `str`", "source": "body"}]
    )

    answered = answer(refusal)

    assert (answered.status, answered.code, answered.fields) == (422, "validation_error", ["name"])


def test_a_missing_body_is_a_400_that_asks_for_one() -> None:
    refusal = ValidationException(extra=[{"key": "data", "message": "'data'", "source": "body"}])

    answered = answer(refusal)

    assert (answered.status, answered.message) == (400, "The request needs a JSON body.")


def test_a_body_over_the_limit_is_a_413_that_says_the_limit() -> None:
    answered = answer(HTTPException(status_code=413))

    assert (answered.status, answered.code) == (413, "payload_too_large")
    assert answered.message == "A JSON body may be at most 1 MiB (1,048,576 bytes)."


def test_an_unknown_path_is_a_404_that_points_to_the_document() -> None:
    answered = answer(HTTPException(status_code=404))

    assert (answered.status, answered.code, answered.message) == (404, "not_found", NOTHING_HERE)


@pytest.mark.parametrize("method", ["POST", "PUT", "DELETE"])
def test_a_method_a_path_does_not_have_is_a_405_naming_it(method: str) -> None:
    answered = answer(HTTPException(status_code=405), request(method, "/api/resources"))

    assert (answered.status, answered.code) == (405, "method_not_allowed")
    assert answered.message == f"{method} is not allowed here."


def test_a_body_litestar_cannot_read_as_json_is_a_400_that_says_so() -> None:
    answered = answer(HTTPException(status_code=400, detail="Malformed JSON body"))

    assert (answered.status, answered.message) == (400, "The request body is not well-formed JSON.")


def test_a_401_asks_for_a_bearer_key() -> None:
    assert answer(HTTPException(status_code=401)).headers["WWW-Authenticate"] == "Bearer"


def test_a_fault_is_a_500_that_tells_nothing_of_it(caplog: pytest.LogCaptureFixture) -> None:
    with caplog.at_level(logging.CRITICAL):
        answered = answer(KeyError("secret table name"))

    assert (answered.status, answered.code) == (500, "internal_error")
    assert "secret" not in answered.message
