"""Request bodies: read whole and within a limit, decoded strictly, validated into models."""

from __future__ import annotations

import asyncio
from collections.abc import Mapping
from typing import Any, TypeVar

import pydantic
from aiohttp import web
from aiohttp.http_exceptions import ContentEncodingError, ContentLengthError, TransferEncodingError

from mockagent.encoding import DECODER, MAX_DEPTH, lone_surrogate, too_deep
from mockagent.errors import ApiError, ErrorKind, FieldError

M = TypeVar("M", bound=pydantic.BaseModel)
BODY_KEY = web.RequestKey("mockagent.body", bytes)

#: CHOSEN, on every platform: the most characters a user's message (or an answer to the agent's question)
#: may have. A longer one is the platform's validation error naming its field. It bounds what a turn keeps
#: and streams back where a script echoes the message (see runs.MAX_CHUNKS for how it is cut).
MESSAGE_LIMIT = 1_000_000


#: Where the application keeps its body timeout (`Settings.body_timeout`): real seconds, whatever the
#: session's clock, that a request body may take to arrive once its handler reads it.
BODY_TIMEOUT = web.AppKey("body_timeout", float)


async def read_body(request: web.Request, limit: int, what: str) -> bytes:
    """The whole body, however many packets it came in; a 413 ApiError as soon as it passes `limit`, and the
    platform's 400 for a body that cannot be read (a broken Content-Encoding or chunking, a Content-Length
    it does not fill) or that has not arrived within the body timeout (a slow client holds nothing for long).

    (`request.content.read(n)` returns what has arrived so far, which for a large body is only a part.)
    A body read once (by the replay step) is kept on the request for the handler that reads it again.
    """
    kept: bytes | None = request.get(BODY_KEY)
    if kept is not None:
        if len(kept) > limit:
            raise ApiError(ErrorKind.PAYLOAD_TOO_LARGE, f"{what} exceeds {limit} bytes")
        return kept
    data = await _receive(request, limit, what)
    request[BODY_KEY] = data
    return data


async def _receive(request: web.Request, limit: int, what: str) -> bytes:
    length = request.content_length
    if length == 0:
        return b""
    if length is not None and length > limit:
        raise ApiError(ErrorKind.PAYLOAD_TOO_LARGE, f"{what} exceeds {limit} bytes")
    try:
        if request.content.is_eof():
            return await _read(request, length, limit, what)  # all here already (most bodies): no timer to set
        async with asyncio.timeout(request.app[BODY_TIMEOUT]):
            return await _read(request, length, limit, what)
    except TimeoutError:
        _close_after_answer(request)
        raise ApiError(ErrorKind.BAD_REQUEST, f"{what} did not arrive within {request.app[BODY_TIMEOUT]:g} s") from None
    except web.RequestPayloadError as err:
        _close_after_answer(request)
        raise ApiError(ErrorKind.BAD_REQUEST, _unreadable(request, what, err)) from None


def _close_after_answer(request: web.Request) -> None:
    """The connection closes once the error is answered, without reading the rest of a body that is late or
    broken (aiohttp would otherwise linger 10 s more to drain it): no more is read from it, and the body
    is over."""
    request.protocol.close()
    request.content.feed_eof()


async def _read(request: web.Request, length: int | None, limit: int, what: str) -> bytes:
    # A compressed body's Content-Length counts the compressed bytes, and aiohttp hands us them
    # decompressed: only an uncompressed body can be read as exactly its length.
    if length is not None and request.headers.get("Content-Encoding", "identity").lower() in ("identity", ""):
        try:
            return await request.content.readexactly(length)
        except asyncio.IncompleteReadError:
            raise ApiError(ErrorKind.BAD_REQUEST, f"{what} ended before its Content-Length") from None
    chunks: list[bytes] = []  # chunked or compressed: read to its end, counting what it decodes to
    size = 0
    while chunk := await request.content.readany():
        size += len(chunk)
        if size > limit:
            raise ApiError(ErrorKind.PAYLOAD_TOO_LARGE, f"{what} exceeds {limit} bytes")
        chunks.append(chunk)
    return b"".join(chunks)


def _unreadable(request: web.Request, what: str, error: web.RequestPayloadError) -> str:
    """What is wrong with a body aiohttp could not read, in words that quote nothing the client sent."""
    cause = error.__cause__
    if isinstance(cause, ContentEncodingError):
        return f"{what} is not valid for its Content-Encoding ({request.headers.get('Content-Encoding', '')[:32]})"
    if isinstance(cause, TransferEncodingError):
        return f"{what} is not valid chunked encoding"
    if isinstance(cause, ContentLengthError):
        return f"{what} ended before its Content-Length"
    return f"{what} could not be read"


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
        text = raw.decode("utf-8")
        body = DECODER.decode(text)
    except RecursionError:
        raise ApiError(ErrorKind.INVALID_JSON, "request body is not valid JSON: it is nested too deeply") from None
    except (ValueError, UnicodeDecodeError) as err:
        raise ApiError(ErrorKind.INVALID_JSON, f"request body is not valid JSON: {err}") from None
    if not isinstance(body, dict):
        raise ApiError(ErrorKind.INVALID_BODY, f"request body must be a JSON object, got {type(body).__name__}")
    # Each check walks the body only when a plain scan of its text says it might fail (most bodies: never).
    if text.count("[") + text.count("{") > MAX_DEPTH and too_deep(body):
        raise ApiError(
            ErrorKind.INVALID_JSON, f"request body is not valid JSON: it is nested more than {MAX_DEPTH} levels deep"
        )
    # A lone surrogate is no text any platform can store or show again: refused here, naming its field, so
    # that nothing kept can break a later view of it.
    if "\\u" in text and (loc := lone_surrogate(body)) is not None:
        error = FieldError(loc, _NOT_UNICODE, "string_unicode")
        raise ApiError(ErrorKind.VALIDATION, f"{error.field}: {_NOT_UNICODE}", fields=[error])
    return body


_NOT_UNICODE = "Input should be a valid string, unable to parse raw data as a unicode string"


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
