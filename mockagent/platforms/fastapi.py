"""FastAPI's error shapes, which xpander and Zeus (both FastAPI services) share: every request-body problem is
a 422 whose `detail` lists each field with its `loc`, `msg` and `type`."""

from __future__ import annotations

import re
from collections.abc import Mapping

from mockagent.errors import HTTP_STATUS, ApiError, ErrorKind, FieldError

FASTAPI_STATUS: Mapping[ErrorKind, int] = {
    **HTTP_STATUS,
    ErrorKind.INVALID_JSON: 422,
    ErrorKind.INVALID_BODY: 422,
    ErrorKind.VALIDATION: 422,
}
NOT_AN_OBJECT = "Input should be a valid dictionary or object to extract fields from"
LOC_ROOTS = frozenset({"body", "query", "path", "header"})
_JSON_POSITION = re.compile(r"\(char (\d+)\)")


def field_errors(error: ApiError) -> tuple[FieldError, ...]:
    """FastAPI's entries for a body that is not JSON, not an object, or not valid (locs under `body`)."""
    if error.kind is ErrorKind.INVALID_JSON:
        position = _JSON_POSITION.search(error.message)
        return (FieldError((int(position.group(1)) if position else 0,), "JSON decode error", "json_invalid"),)
    if error.kind is ErrorKind.INVALID_BODY:
        return (FieldError((), NOT_AN_OBJECT, "model_attributes_type"),)
    return error.fields or (FieldError((), error.message, "value_error"),)


def loc(error: FieldError) -> list[str | int]:
    """Where the field is (the body unless a header, the query or the path), then its path."""
    if error.loc and error.loc[0] in LOC_ROOTS:
        return list(error.loc)
    return ["body", *error.loc]


def detail(error: FieldError) -> dict[str, object]:
    return {"type": error.type, "loc": loc(error), "msg": error.msg}
