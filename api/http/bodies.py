"""JSON request bodies, read strictly before a handler runs.

Litestar converts bodies leniently ("3" becomes 3, 1e3 becomes 1000), accepts a
key given twice (the last wins) and recurses without bound into nested arrays.
A body is checked here first, against the handler's declared Struct, exactly as
the OpenAPI document describes it: malformed JSON, a repeated key or too deep a
nesting is a 400; a value of the wrong type ("3" for a number) or out of
bounds, or an unknown field, is a 422 that names the field. A number is an
integer when it has no fraction (1e3 is 1000), as JSON Schema has it.
"""

from __future__ import annotations

import json
import re
from typing import Any

import msgspec
import msgspec.inspect

from api.http.errors import ApiError
from api.http.schemas import ErrorDetail

MAX_DEPTH = 32
_AT = re.compile(r"^(?P<message>.*?)(?: - at `\$(?P<path>[^`]*)`)?$", re.DOTALL)


def _pairs(pairs: list[tuple[str, Any]]) -> dict[str, Any]:
    seen: dict[str, Any] = {}
    for name, value in pairs:
        if name in seen:
            raise ApiError(400, f"The request body names {name!r} more than once.")
        seen[name] = value
    return seen


def _depth(body: bytes) -> int:
    """How deeply arrays and objects nest (strings skipped), without recursing."""
    depth = deepest = 0
    in_string = escaped = False
    for byte in body:
        if in_string:
            if escaped:
                escaped = False
            elif byte == 0x5C:  # backslash
                escaped = True
            elif byte == 0x22:  # quote
                in_string = False
        elif byte == 0x22:
            in_string = True
        elif byte in (0x5B, 0x7B):  # [ {
            depth += 1
            deepest = max(deepest, depth)
        elif byte in (0x5D, 0x7D):  # ] }
            depth -= 1
    return deepest


def _is_text(value: Any) -> bool:
    """False when a string holds a lone surrogate (escaped as \\ud800 in JSON): no
    character, and nothing PostgreSQL can store."""
    if isinstance(value, str):
        return value.isascii() or not any(0xD800 <= ord(char) <= 0xDFFF for char in value)
    if isinstance(value, list):
        return all(_is_text(item) for item in value)
    if isinstance(value, dict):
        return all(_is_text(key) and _is_text(item) for key, item in value.items())
    return True


def _integral(value: Any) -> Any:
    """JSON Schema counts 1.0 and 1e3 as integers: so does the service."""
    if isinstance(value, float) and value.is_integer():
        return int(value)
    if isinstance(value, list):
        return [_integral(item) for item in value]
    if isinstance(value, dict):
        return {key: _integral(item) for key, item in value.items()}
    return value


def _plainly_fits(body: bytes, schema: type[msgspec.Struct]) -> bool:
    """True when a flat object without escapes strictly fits `schema`: most bodies,
    decided by msgspec in a few microseconds. False means "not proven": the full
    check decides (and finds the error to report).

    Without escapes and with one object, no string holds a lone surrogate, nothing
    nests, and every colon outside a string separates a key from its value: as
    many colons as the decoded object has keys means no key was given twice.
    """
    if b"\\" in body or b"[" in body or body.count(b"{") != 1:
        return False
    try:
        value = msgspec.json.decode(body)
    except msgspec.DecodeError:
        return False
    if not isinstance(value, dict):
        return False
    colons = sum(outside.count(b":") for outside in body.split(b'"')[::2])
    if colons != len(value):
        return False
    try:
        msgspec.convert(value, type=schema, strict=True)
    except msgspec.ValidationError:
        return False
    return True


def check_body(body: bytes, schema: type[msgspec.Struct]) -> None:
    """Raises the ApiError a client should get for this body, if any."""
    if not body:
        return  # Litestar answers a missing body (400)
    if not _plainly_fits(body, schema):
        check_fully(body, schema)


def check_fully(body: bytes, schema: type[msgspec.Struct]) -> None:
    """`check_body` without its shortcut: every rule, and the error that names it."""
    if _depth(body) > MAX_DEPTH:
        raise ApiError(400, f"The request body nests deeper than {MAX_DEPTH} levels.")
    try:
        value = json.loads(body, object_pairs_hook=_pairs)
    except (ValueError, RecursionError):
        raise ApiError(400, "The request body is not well-formed JSON.") from None
    if not _is_text(value):
        raise ApiError(400, "The request body has a string that is not Unicode text.")
    try:
        msgspec.convert(_integral(value), type=schema, strict=True)
    except msgspec.ValidationError as invalid:
        field, message = _explained(str(invalid), schema)
        raise ApiError(
            422,
            f"The request body is not valid: {field or 'the body'}"
            f"{' ' if message[:1].islower() else ': '}{message}.",
            details=[ErrorDetail(field=field, message=message)],
        ) from None


_NAMED = re.compile(r"^Object (?P<what>contains unknown|missing required) field `(?P<name>[^`]*)`$")


def _explained(error: str, schema: type[msgspec.Struct]) -> tuple[str | None, str]:
    """The field msgspec's message is about, and what to do about it: an unknown
    field lists the ones there are, a missing one says it is required, a value
    outside a set of choices lists the choices."""
    found = _AT.match(error)
    message = found.group("message") if found else error
    path = (found.group("path") if found else "") or ""
    field = path.lstrip(".").split(".")[0].split("[")[0] or None
    named = _NAMED.match(message)
    if named is not None and field is None:
        field = named.group("name")
        if named.group("what") == "missing required":
            return field, "is required"
        return field, f"is not a field of this body; its fields are {', '.join(_fields(schema))}"
    if message.startswith("Invalid enum value") and field is not None:
        choices = _choices(schema, field)
        if choices:
            return field, f"must be {' or '.join(json.dumps(choice) for choice in choices)}"
    return field, message


def _fields(schema: type[msgspec.Struct]) -> list[str]:
    return [field.encode_name for field in msgspec.structs.fields(schema)]


def _choices(schema: type[msgspec.Struct], name: str) -> list[object]:
    """The values a field's Literal type allows (none when it has no such type)."""
    info = msgspec.inspect.type_info(schema)
    assert isinstance(info, msgspec.inspect.StructType)
    for field in info.fields:
        if field.encode_name == name:
            kind = _bare(field.type)
            types = kind.types if isinstance(kind, msgspec.inspect.UnionType) else (kind,)
            literals = [_bare(each) for each in types]
            return [
                value
                for each in literals
                if isinstance(each, msgspec.inspect.LiteralType)
                for value in each.values
            ]
    return []


def _bare(kind: msgspec.inspect.Type) -> msgspec.inspect.Type:
    """A type without its Annotated metadata."""
    while isinstance(kind, msgspec.inspect.Metadata):
        kind = kind.type
    return kind
