"""mockagent's own API under /__mockagent: health, the clock, runs, reload."""

from __future__ import annotations

from collections.abc import Iterable

from aiohttp import web

from mockagent.appkeys import ENGINE, PLATFORMS, SETTINGS
from mockagent.clock import ManualClock
from mockagent.errors import MockAgentError
from mockagent.platforms.base import ApiError, ErrorKind, Route, json_response
from mockagent.settings import load_scenarios

ADMIN_PREFIX = "/__mockagent"


def admin_routes() -> Iterable[Route]:
    return [
        Route("GET", "/health", on_health),
        Route("GET", "/clock", on_clock),
        Route("POST", "/clock/advance", on_clock_advance),
        Route("GET", "/runs", on_runs),
        Route("POST", "/reload", on_reload),
        Route("GET", "/journal", on_journal),
        Route("DELETE", "/journal", on_journal_clear),
    ]


async def on_journal(request: web.Request) -> web.Response:
    """Requests served so far, oldest first; filter with ?platform=beeos and ?path=/invoke."""
    engine = request.app[ENGINE]
    entries = engine.journal.entries(platform=request.query.get("platform"), path=request.query.get("path"))
    return json_response([entry.as_json(engine.clock) for entry in entries])


async def on_journal_clear(request: web.Request) -> web.Response:
    request.app[ENGINE].journal.clear()
    return json_response({"cleared": True})


async def on_health(request: web.Request) -> web.Response:
    return json_response({"status": "ok", "platforms": [key.value for key in request.app[PLATFORMS]]})


async def on_clock(request: web.Request) -> web.Response:
    clock = request.app[ENGINE].clock
    manual = isinstance(clock, ManualClock)
    body = {"now": clock.now(), "wall": clock.wall().isoformat(), "manual": manual}
    if isinstance(clock, ManualClock):
        body["waiting"] = clock.waiting  # timers set and not yet due
    return json_response(body)


async def on_clock_advance(request: web.Request) -> web.Response:
    """Advance a manual clock: ``{"seconds": 30}``. Answers once the woken runs have moved on."""
    clock = request.app[ENGINE].clock
    if not isinstance(clock, ManualClock):
        raise ApiError(ErrorKind.CONFLICT, "the clock is not manual; start the server with a manual clock")
    try:
        body = await request.json()
        seconds = float(body["seconds"])
    except (ValueError, KeyError, TypeError):
        raise ApiError(ErrorKind.INVALID_BODY, 'expected {"seconds": <number>}') from None
    if seconds < 0:
        raise ApiError(ErrorKind.INVALID_BODY, "seconds must not be negative")
    await clock.advance(seconds)
    return json_response({"now": clock.now(), "wall": clock.wall().isoformat()})


async def on_runs(request: web.Request) -> web.Response:
    engine = request.app[ENGINE]
    now = engine.clock.now()
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
            }
            for run in engine.runs()
        ]
    )


async def on_reload(request: web.Request) -> web.Response:
    """Load the scenario files again; on an error the old scenarios stay and the error is returned."""
    engine = request.app[ENGINE]
    try:
        engine.scenarios = load_scenarios(request.app[SETTINGS])
    except (MockAgentError, OSError) as err:
        return json_response({"reloaded": False, "error": str(err)}, status=422)
    return json_response({"reloaded": True, "agents": sorted(engine.scenarios.agents)})
