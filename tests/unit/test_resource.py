"""The Resource aggregate's rules and events."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import pytest

from domain.errors import (
    AlreadyUploaded,
    InvalidValue,
    LinkHasNoUpload,
    ResourceDeleted,
    UploadIncomplete,
)
from domain.resource import Actor, Resource


def a_file(**overrides: Any) -> Resource:
    facts: dict[str, Any] = {
        "resource_id": 7,
        "project_id": 4,
        "name": "checkout-flow.docx",
        "description": None,
        "mime_type": None,
        "size_bytes": 5,
        "by": Actor(user_id="user-1"),
    }
    facts.update(overrides)
    return Resource.register_file(**facts)


def event_names(resource: Resource) -> list[str]:
    return [type(event).__name__ for event in resource.collect_events()]


def test_a_registered_file_is_pending_with_the_default_media_type() -> None:
    resource = a_file()
    assert resource.status == "pending"
    assert resource.mime_type == "application/octet-stream"
    assert resource.created_by == "user-1"
    assert event_names(resource) == ["FileRegistered"]


def test_a_registered_link_is_uploaded_at_once() -> None:
    link = Resource.register_link(
        resource_id=8,
        project_id=4,
        name="docs",
        description=None,
        mime_type="text/html",
        size_bytes=None,
        url="https://example.com/docs",
        by=Actor(user_id="user-1"),
    )
    assert link.status == "uploaded"
    assert link.url == "https://example.com/docs"
    assert event_names(link) == ["LinkRegistered"]


def test_the_aggregate_id_is_derived_from_the_public_id() -> None:
    assert a_file(resource_id=7).id == a_file(resource_id=7).id
    assert a_file(resource_id=7).id != a_file(resource_id=8).id


def test_names_are_trimmed() -> None:
    assert a_file(name="  report.pdf \n").name == "report.pdf"


@pytest.mark.parametrize(
    ("name", "reason"),
    [
        ("", "empty"),
        ("   ", "empty"),
        ("x" * 256, "at most 255"),
        ("bad\x00name", "control characters"),
        ("tab\there", "control characters"),
    ],
)
def test_a_bad_name_is_refused_with_the_field_named(name: str, reason: str) -> None:
    with pytest.raises(InvalidValue) as refused:
        a_file(name=name)
    assert refused.value.field == "name"
    assert reason in refused.value.message


def test_a_name_of_255_characters_after_trimming_is_accepted() -> None:
    assert a_file(name=" " + "x" * 255 + " ").name == "x" * 255


def test_a_description_over_10000_characters_is_refused() -> None:
    with pytest.raises(InvalidValue) as refused:
        a_file(description="x" * 10_001)
    assert refused.value.field == "description"


@pytest.mark.parametrize("mime_type", ["text", "text/", "/plain", "text plain", "a/b/c"])
def test_a_malformed_media_type_is_refused(mime_type: str) -> None:
    with pytest.raises(InvalidValue) as refused:
        a_file(mime_type=mime_type)
    assert refused.value.field == "mime_type"


@pytest.mark.parametrize(
    "mime_type", ["text/plain", "application/vnd.ms-excel", "text/plain; charset=utf-8"]
)
def test_media_types_with_parameters_are_accepted(mime_type: str) -> None:
    assert a_file(mime_type=mime_type).mime_type == mime_type


@pytest.mark.parametrize("url", ["ftp://example.com/x", "example.com", "https://", "http://a b"])
def test_a_link_must_be_an_absolute_http_url(url: str) -> None:
    with pytest.raises(InvalidValue) as refused:
        Resource.register_link(
            resource_id=8,
            project_id=4,
            name="docs",
            description=None,
            mime_type=None,
            size_bytes=None,
            url=url,
            by=Actor(user_id="user-1"),
        )
    assert refused.value.field == "url"


def test_renaming_to_the_same_name_appends_nothing() -> None:
    resource = a_file(name="a.txt")
    resource.collect_events()
    resource.rename(" a.txt ", by=Actor(user_id="user-2"))
    assert event_names(resource) == []


def test_renaming_appends_renamed_with_the_actor() -> None:
    resource = a_file()
    resource.collect_events()
    resource.rename("checkout-flow-v2.docx", by=Actor(user_id="user-2"))
    (renamed,) = resource.collect_events()
    assert isinstance(renamed, Resource.Renamed)
    assert (renamed.name, renamed.actor) == ("checkout-flow-v2.docx", "user-2")


def test_describing_with_none_clears_the_description() -> None:
    resource = a_file(description="draft")
    resource.describe(None, by=Actor(user_id="user-1"))
    assert resource.description is None
    assert event_names(resource) == ["FileRegistered", "DescriptionChanged"]


def test_confirming_without_bytes_is_an_incomplete_upload() -> None:
    with pytest.raises(UploadIncomplete):
        a_file().confirm_upload(None, by=Actor(user_id="user-1"))


def test_confirming_with_a_size_other_than_declared_is_an_incomplete_upload() -> None:
    with pytest.raises(UploadIncomplete, match="4 of the declared 5"):
        a_file(size_bytes=5).confirm_upload(4, by=Actor(user_id="user-1"))


def test_confirming_records_the_stored_size_when_none_was_declared() -> None:
    resource = a_file(size_bytes=None)
    resource.confirm_upload(1234, by=Actor(user_id="user-1"))
    assert (resource.status, resource.size_bytes) == ("uploaded", 1234)


def test_confirming_twice_appends_one_event() -> None:
    resource = a_file()
    resource.confirm_upload(5, by=Actor(user_id="user-1"))
    resource.confirm_upload(5, by=Actor(user_id="user-1"))
    assert event_names(resource) == ["FileRegistered", "UploadConfirmed"]


def test_a_confirmed_file_takes_no_more_bytes() -> None:
    resource = a_file()
    resource.confirm_upload(5, by=Actor(user_id="user-1"))
    with pytest.raises(AlreadyUploaded):
        resource.ensure_accepts_upload()


def test_a_link_takes_no_upload() -> None:
    link = Resource.register_link(
        resource_id=8,
        project_id=4,
        name="docs",
        description=None,
        mime_type=None,
        size_bytes=None,
        url="https://example.com/docs",
        by=Actor(user_id="user-1"),
    )
    with pytest.raises(LinkHasNoUpload):
        link.ensure_accepts_upload()


def test_nothing_changes_a_deleted_resource() -> None:
    resource = a_file()
    resource.delete(by=Actor(user_id="user-1"))
    changes: list[Callable[[], None]] = [
        lambda: resource.rename("b", by=Actor(user_id="user-1")),
        lambda: resource.describe("d", by=Actor(user_id="user-1")),
        lambda: resource.confirm_upload(5, by=Actor(user_id="user-1")),
        lambda: resource.delete(by=Actor(user_id="user-1")),
        resource.ensure_accepts_upload,
    ]
    for change in changes:
        with pytest.raises(ResourceDeleted):
            change()
    assert event_names(resource) == ["FileRegistered", "Deleted"]


def test_a_refused_change_leaves_the_state_as_it_was() -> None:
    resource = a_file(name="keep.txt")
    with pytest.raises(InvalidValue):
        resource.rename("", by=Actor(user_id="user-1"))
    assert resource.name == "keep.txt"
    assert resource.version == 1
