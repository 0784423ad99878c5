"""mockagent's own API under /__mockagent: health, sessions, the clock, runs, the journal, reload.

Everything but health and reload is about one session: the one named by ``X-Mockagent-Session`` (or
``?session=``), else the default session.
"""

from __future__ import annotations

import asyncio
import weakref
from collections.abc import Awaitable, Callable, Iterable
from dataclasses import dataclass

from aiohttp import web

from mockagent.appkeys import ENGINE, PLATFORMS, SETTINGS
from mockagent.clock import ManualClock
from mockagent.encoding import json_response, loads
from mockagent.errors import ApiError, ErrorKind, MockAgentError, ScenarioError
from mockagent.platforms.bodies import read_body
from mockagent.sessions import SESSION_HEADER, SESSION_NAME, Session
from mockagent.settings import load_scenarios

ADMIN_PREFIX = "/__mockagent"


@dataclass(frozen=True)
class AdminRoute:
    method: str
    path: str
    handler: Callable[[web.Request], Awaitable[web.StreamResponse]]


def admin_routes() -> Iterable[AdminRoute]:
    return [
        AdminRoute("GET", "/health", on_get_health),
        AdminRoute("GET", "/sessions", on_list_sessions),
        AdminRoute("DELETE", "/sessions/{name:.+}", on_reset_session),
        AdminRoute("GET", "/clock", on_get_clock),
        AdminRoute("POST", "/clock/advance", on_advance_clock),
        AdminRoute("GET", "/runs", on_list_runs),
        AdminRoute("POST", "/reload", on_reload),
        AdminRoute("GET", "/journal", on_get_journal),
        AdminRoute("DELETE", "/journal", on_clear_journal),
    ]


async def session_of(request: web.Request) -> Session:
    """The session an admin request is about: ``X-Mockagent-Session``, else ``?session=``, else the default."""
    if (name := request.headers.get(SESSION_HEADER)) is not None:
        return await session_named(request, name)
    if (name := request.query.get("session")) is not None:
        return await session_named(request, name, ("query", "session"))
    return request.app[ENGINE].sessions.default


async def session_named(
    request: web.Request, name: str, where: tuple[str, str] = ("header", SESSION_HEADER)
) -> Session:
    """The session called `name`, made on first use. A name that cannot be one is the platform's (or the
    admin API's) validation error, naming where it came from."""
    if not SESSION_NAME.match(name):
        raise ApiError.invalid(
            where, f"session name {name[:40]!r} must be 1-128 letters, digits or . _ : @ / + - (no spaces)"
        )
    return await request.app[ENGINE].sessions.open(name)


async def on_get_health(request: web.Request) -> web.Response:
    return json_response({"status": "ok", "platforms": [key.value for key in request.app[PLATFORMS]]})


async def on_list_sessions(request: web.Request) -> web.Response:
    return json_response(
        [
            {
                "name": session.name,
                "runs": len(session.runs),
                "conversations": len(session.conversations),
                "in_flight": session.in_flight,
            }
            for session in request.app[ENGINE].sessions.sessions()
        ]
    )


async def on_reset_session(request: web.Request) -> web.Response:
    """Forget everything the session holds (its unfinished runs are cancelled); its next request starts
    from a clean state. Resetting a session that does not exist is not an error."""
    name = request.match_info["name"]
    existed = await request.app[ENGINE].sessions.reset(name)
    return json_response({"session": name, "reset": existed})


async def on_get_clock(request: web.Request) -> web.Response:
    clock = (await session_of(request)).clock
    body: dict[str, object] = {
        "now": clock.now(),
        "wall": clock.wall().isoformat(),
        "manual": isinstance(clock, ManualClock),
    }
    if isinstance(clock, ManualClock):
        body["waiting"] = clock.waiting  # timers set and not yet due
    return json_response(body)


async def on_advance_clock(request: web.Request) -> web.Response:
    """Advance a session's manual clock: ``{"seconds": 30}``. Answers once the woken runs have moved on."""
    clock = (await session_of(request)).clock
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
    await clock.advance(seconds)
    return json_response({"now": clock.now(), "wall": clock.wall().isoformat()})


async def on_list_runs(request: web.Request) -> web.Response:
    session = await session_of(request)
    now = session.clock.now()
    return json_response(
        [
            {
                "id": run.id,
                "platform": run.conversation.platform.value,
                "agent": run.agent.id,
                "conversation": run.conversation.id,
                "status": run.status(now).value,
                "message": run.message,
                "text": run.text(now),
                "reply": str(run.reply.source) if run.reply is not None and run.reply.source is not None else None,
            }
            for run in session.runs.values()
        ]
    )


# One reload at a time per server, so that the last one asked for is the last one swapped in.
_RELOADS: weakref.WeakKeyDictionary[web.Application, asyncio.Lock] = weakref.WeakKeyDictionary()


async def on_reload(request: web.Request) -> web.Response:
    """Load the scenario files again, in a worker thread (a big file must not hold up every client), and
    swap them in once loaded; on an error the old scenarios stay and every problem is returned."""
    engine = request.app[ENGINE]
    async with _RELOADS.setdefault(request.app, asyncio.Lock()):
        try:
            scenarios = await asyncio.to_thread(load_scenarios, request.app[SETTINGS])
        except (MockAgentError, OSError) as err:
            problems = [str(p) for p in err.problems] if isinstance(err, ScenarioError) else [str(err)]
            return json_response({"reloaded": False, "error": str(err), "errors": problems}, status=422)
        engine.scenarios = scenarios
    return json_response({"reloaded": True, "agents": sorted(scenarios.agents)})


async def on_get_journal(request: web.Request) -> web.Response:
    """Requests served so far in the session, oldest first; filter with ?platform=beeos and ?path=/invoke."""
    session = await session_of(request)
    entries = session.journal.entries(platform=request.query.get("platform"), path=request.query.get("path"))
    return json_response([entry.as_json(session.clock) for entry in entries])


async def on_clear_journal(request: web.Request) -> web.Response:
    (await session_of(request)).journal.clear()
    return json_response({"cleared": True})
