"""Request bodies: read whole and within a limit, decoded strictly, validated into models."""

from __future__ import annotations

import asyncio
from collections.abc import Mapping
from typing import Any, TypeVar

import pydantic
from aiohttp import web

from mockagent.encoding import DECODER
from mockagent.errors import ApiError, ErrorKind, FieldError

M = TypeVar("M", bound=pydantic.BaseModel)
BODY_KEY = web.RequestKey("mockagent.body", bytes)


async def read_body(request: web.Request, limit: int, what: str) -> bytes:
    """The whole body, however many packets it came in; a 413 ApiError as soon as it passes `limit`.

    (`request.content.read(n)` returns what has arrived so far, which for a large body is only a part.)
    A body read once (by the replay step) is kept on the request for the handler that reads it again.
    """
    kept: bytes | None = request.get(BODY_KEY)
    if kept is not None:
        if len(kept) > limit:
            raise ApiError(ErrorKind.PAYLOAD_TOO_LARGE, f"{what} exceeds {limit} bytes")
        return kept
    data = await _read(request, limit, what)
    request[BODY_KEY] = data
    return data


async def _read(request: web.Request, limit: int, what: str) -> bytes:
    length = request.content_length
    if length == 0:
        return b""
    if length is not None:
        if length > limit:
            raise ApiError(ErrorKind.PAYLOAD_TOO_LARGE, f"{what} exceeds {limit} bytes")
        try:
            return await request.content.readexactly(length)
        except asyncio.IncompleteReadError:
            raise ApiError(ErrorKind.INVALID_BODY, f"{what} ended before its Content-Length") from None
    chunks: list[bytes] = []  # chunked: no length to trust
    size = 0
    while chunk := await request.content.readany():
        size += len(chunk)
        if size > limit:
            raise ApiError(ErrorKind.PAYLOAD_TOO_LARGE, f"{what} exceeds {limit} bytes")
        chunks.append(chunk)
    return b"".join(chunks)


async def read_json(request: web.Request, limit: int, *, require_json_type: bool = True) -> dict[str, Any]:
    """The request body as a JSON object, or an ApiError naming what is wrong with it."""
    if request.content_length is not None and request.content_length > limit:
        raise ApiError(ErrorKind.PAYLOAD_TOO_LARGE, f"request body exceeds {limit} bytes")
    # A missing Content-Type is let through (as most JSON APIs do); a wrong one is not.
    content_type = request.content_type
    declared = "Content-Type" in request.headers
    if require_json_type and declared and content_type != "application/json" and not content_type.endswith("+json"):
        raise ApiError(ErrorKind.UNSUPPORTED_MEDIA_TYPE, f"Content-Type must be application/json, got {content_type}")
    raw = await read_body(request, limit, "request body")
    try:
        # JSON on the wire is UTF-8 (RFC 8259); decoding first skips json's encoding sniffing.
        body = DECODER.decode(raw.decode("utf-8"))
    except RecursionError:
        raise ApiError(ErrorKind.INVALID_JSON, "request body is not valid JSON: it is nested too deeply") from None
    except (ValueError, UnicodeDecodeError) as err:
        raise ApiError(ErrorKind.INVALID_JSON, f"request body is not valid JSON: {err}") from None
    if not isinstance(body, dict):
        raise ApiError(ErrorKind.INVALID_BODY, f"request body must be a JSON object, got {type(body).__name__}")
    return body


def validate(model: type[M], data: Mapping[str, Any]) -> M:
    """Validate a body with a pydantic model (strictly); errors become one ApiError listing every field."""
    try:
        return model.model_validate(data, strict=True)
    except pydantic.ValidationError as err:
        fields = [
            FieldError(tuple(e["loc"]), e["msg"], e["type"])
            for e in err.errors(include_url=False, include_context=False)
        ]
        first = fields[0]
        raise ApiError(ErrorKind.VALIDATION, f"{first.field}: {first.msg}", fields=fields) from None
