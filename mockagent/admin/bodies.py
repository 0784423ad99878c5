"""An admin request's JSON body: an object, or nothing where every field is optional."""

from __future__ import annotations

from typing import Any

from aiohttp import web

from mockagent.encoding import loads
from mockagent.errors import ApiError, ErrorKind
from mockagent.platforms.bodies import read_body

#: CHOSEN: the largest JSON body an admin route other than PUT /scenarios reads.
BODY_LIMIT = 64 * 1024


async def json_object(request: web.Request, *, optional: bool = False, limit: int = BODY_LIMIT) -> dict[str, Any]:
    """The body as a JSON object; an empty body is ``{}`` when `optional`, else a 400 as any malformed one."""
    raw = await read_body(request, limit, "request body")
    if not raw.strip() and optional:
        return {}
    try:
        body = loads(raw.decode("utf-8"))
    except UnicodeDecodeError:
        raise ApiError(ErrorKind.INVALID_JSON, "the request body is not UTF-8") from None
    except ValueError as err:
        raise ApiError(ErrorKind.INVALID_JSON, f"the request body is not JSON: {err}") from None
    if not isinstance(body, dict):
        raise ApiError(ErrorKind.INVALID_BODY, "the request body must be a JSON object")
    return body


def unknown_fields(body: dict[str, Any], known: set[str]) -> None:
    """A field the route does not take is a 400 naming it (a typo must not be silently ignored)."""
    extra = sorted(set(body) - known)
    if extra:
        raise ApiError(ErrorKind.INVALID_BODY, f"{extra[0]}: unknown field (expected {', '.join(sorted(known))})")
