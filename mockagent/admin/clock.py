"""A session's clock: read it, and advance it when it is manual."""

from __future__ import annotations

from aiohttp import web

from mockagent.admin.sessions import session_of
from mockagent.appkeys import ENGINE
from mockagent.clock import ManualClock, RealClock
from mockagent.encoding import json_response, loads
from mockagent.errors import ApiError, ErrorKind
from mockagent.platforms.bodies import read_body


async def on_get_clock(request: web.Request) -> web.Response:
    clock = (await session_of(request)).clock
    body: dict[str, object] = {
        "now": clock.now(),
        "wall": clock.wall().isoformat(),
        "manual": isinstance(clock, ManualClock),
        # How much faster than real time a real clock runs (--speed); null for a manual one.
        "speed": clock.speed if isinstance(clock, RealClock) else None,
    }
    if isinstance(clock, ManualClock):
        body["waiting"] = clock.waiting  # timers set and not yet due
    return json_response(body)


async def on_advance_clock(request: web.Request) -> web.Response:
    """Advance a session's manual clock: ``{"seconds": 30}``. Answers once the woken runs have moved on."""
    session = await session_of(request)
    clock = session.clock
    if not isinstance(clock, ManualClock):
        raise ApiError(ErrorKind.CONFLICT, "the clock is not manual; start the server with a manual clock")
    try:
        body = loads((await read_body(request, 4096, "request body")).decode("utf-8"))
        seconds = body["seconds"]
    except (ValueError, KeyError, TypeError, UnicodeDecodeError):
        raise ApiError(ErrorKind.INVALID_BODY, 'expected {"seconds": <number>}') from None
    if isinstance(seconds, bool) or not isinstance(seconds, int | float):
        raise ApiError(ErrorKind.INVALID_BODY, 'expected {"seconds": <number>}')
    if not 0 <= seconds < float("inf"):
        raise ApiError(ErrorKind.INVALID_BODY, "seconds must be a finite number, not negative")
    try:
        await request.app[ENGINE].sessions.advance(session, seconds)
    except ValueError as err:  # past the clock's range: its moments would no longer be dates
        raise ApiError(ErrorKind.INVALID_BODY, f"seconds: {err}") from None
    return json_response({"now": clock.now(), "wall": clock.wall().isoformat()})
