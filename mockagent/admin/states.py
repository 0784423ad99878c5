"""A session's scenario states and sequence counters (docs/scenarios.md#states)."""

from __future__ import annotations

from aiohttp import web

from mockagent.admin.sessions import acting, session_of
from mockagent.encoding import json_response, loads
from mockagent.errors import ApiError, ErrorKind
from mockagent.platforms.bodies import read_body

#: CHOSEN: the longest scenario state name and value the admin API sets (a session keeps a bounded number).
MAX_STATE_NAME = 128
MAX_STATE_VALUE = 1024


async def on_get_states(request: web.Request) -> web.Response:
    """The session's states that were set; a state not listed is `started`."""
    return json_response(dict((await session_of(request)).states))


async def on_set_state(request: web.Request) -> web.Response:
    """Set one state: ``PUT /__mockagent/states/checkout`` with ``{"state": "paid"}``."""
    name = _state_name(request)
    try:
        body = loads((await read_body(request, 16 * 1024, "request body")).decode("utf-8"))
        value = body["state"]
    except (ValueError, KeyError, TypeError, UnicodeDecodeError):
        raise ApiError(ErrorKind.INVALID_BODY, 'expected {"state": "<value>"}') from None
    if not isinstance(value, str):
        raise ApiError(ErrorKind.INVALID_BODY, 'expected {"state": "<value>"}: the value is text')
    if len(value) > MAX_STATE_VALUE:
        raise ApiError(ErrorKind.INVALID_BODY, f"a state's value is at most {MAX_STATE_VALUE} characters")
    session = await session_of(request)
    async with acting(request, session):
        session.states[name] = value
    return json_response({"name": name, "state": value})


async def on_reset_state(request: web.Request) -> web.Response:
    """Put one state back to `started`; `reset` says whether it had been set."""
    name = _state_name(request)
    session = await session_of(request)
    async with acting(request, session):
        was_set = session.states.pop(name, None) is not None
    return json_response({"name": name, "reset": was_set})


async def on_reset_states(request: web.Request) -> web.Response:
    """Put every state of the session back to `started`; `reset` names those that had been set."""
    session = await session_of(request)
    async with acting(request, session):
        names = list(session.states)
        session.states.clear()
    return json_response({"reset": names})


def _state_name(request: web.Request) -> str:
    name = request.match_info["name"]
    if len(name) > MAX_STATE_NAME:
        raise ApiError(ErrorKind.INVALID_BODY, f"a state's name is at most {MAX_STATE_NAME} characters")
    return name


async def on_get_sequences(request: web.Request) -> web.Response:
    """How many calls each reply answered in the session (what its sequence used, what `matched` reads),
    by where the reply is declared."""
    return json_response(dict((await session_of(request)).sequences))


async def on_reset_sequences(request: web.Request) -> web.Response:
    """Start every reply's count (and so every sequence) over, leaving the rest of the session alone."""
    session = await session_of(request)
    async with acting(request, session):
        session.sequences.clear()
    return json_response({"reset": True})
