"""mockagent's own API under /__mockagent: health, stats, sessions, the clock, runs, the journal, scenario
states and sequence counters, reload.

Everything but health, stats and reload is about one session: the one named by ``X-Mockagent-Session`` (or
``?session=``), else the default session.

It is no way in (`guarded`, docs/admin.md): a request whose ``Host`` is not this server's is refused (DNS
rebinding), so is a state-changing one sent by a page of another origin (cross-site requests), and with a
token set every route but health needs it — which a server bound beyond loopback must have (`exposure`).
"""

from __future__ import annotations

import asyncio
import hmac
import ipaddress
from collections.abc import Awaitable, Callable, Iterable
from dataclasses import dataclass

from aiohttp import hdrs, web
from yarl import URL

from mockagent.appkeys import ENGINE, GUARD, PLATFORMS, SETTINGS
from mockagent.clock import ManualClock
from mockagent.encoding import json_response, loads
from mockagent.errors import ApiError, ErrorKind, MockAgentError, ScenarioError
from mockagent.platforms.bodies import read_body
from mockagent.reloading import reload
from mockagent.sessions import SESSION_HEADER, SESSION_NAME, Session
from mockagent.settings import Settings

ADMIN_PREFIX = "/__mockagent"
Handler = Callable[[web.Request], Awaitable[web.StreamResponse]]
#: CHOSEN: the shortest admin token accepted (a short one could be guessed by trying).
MIN_TOKEN_LENGTH = 16
#: CHOSEN: the longest scenario state name and value the admin API sets (a session keeps a bounded number).
MAX_STATE_NAME = 128
MAX_STATE_VALUE = 1024
_SAFE_METHODS = frozenset({"GET", "HEAD", "OPTIONS"})
_OPEN_PATHS = frozenset({ADMIN_PREFIX + "/health"})  # a container's health check needs no token


@dataclass(frozen=True)
class AdminRoute:
    method: str
    path: str
    handler: Handler


def admin_routes() -> Iterable[AdminRoute]:
    return [
        AdminRoute("GET", "/health", on_get_health),
        AdminRoute("GET", "/stats", on_get_stats),
        AdminRoute("GET", "/sessions", on_list_sessions),
        AdminRoute("DELETE", "/sessions/{name:.+}", on_reset_session),
        AdminRoute("GET", "/clock", on_get_clock),
        AdminRoute("POST", "/clock/advance", on_advance_clock),
        AdminRoute("GET", "/runs", on_list_runs),
        AdminRoute("POST", "/reload", on_reload),
        AdminRoute("GET", "/journal", on_get_journal),
        AdminRoute("DELETE", "/journal", on_clear_journal),
        AdminRoute("GET", "/states", on_get_states),
        AdminRoute("DELETE", "/states", on_reset_states),
        AdminRoute("PUT", "/states/{name:.+}", on_set_state),
        AdminRoute("DELETE", "/states/{name:.+}", on_reset_state),
        AdminRoute("GET", "/sequences", on_get_sequences),
        AdminRoute("DELETE", "/sequences", on_reset_sequences),
    ]


def is_loopback(host: str) -> bool:
    """Whether binding `host` keeps the server on this machine."""
    if host.lower().rstrip(".") == "localhost":
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False


def exposure(host: str, settings: Settings) -> str | None:
    """Why the server may not bind `host` as set up (None: it may): off loopback, the admin API needs a
    token, or must be turned off."""
    token = settings.admin_token
    if token is not None and len(token) < MIN_TOKEN_LENGTH:
        return f"the admin token must be at least {MIN_TOKEN_LENGTH} characters long"
    if is_loopback(host) or not settings.admin_api or token is not None:
        return None
    return (
        f"binding {host or 'every address'} would let anyone who can reach this port use the admin API "
        "(/__mockagent: reload, reset sessions, move clocks): give it a token (--admin-token or "
        "MOCKAGENT_ADMIN_TOKEN) or turn it off (--no-admin)"
    )


def guarded(handler: Handler) -> Handler:
    """An admin route behind the checks of the module's docstring (rules and CHOSEN values: docs/admin.md)."""

    async def guard(request: web.Request) -> web.StreamResponse:
        settings = request.app[SETTINGS]
        refusal = _foreign_host(request, settings) or _foreign_origin(request)
        if refusal is not None:
            return json_response({"error": refusal}, status=403)
        token = settings.admin_token
        if token is not None and request.path not in _OPEN_PATHS and not _has_token(request, token):
            return json_response(
                {"error": "the admin API needs its token: Authorization: Bearer <token>"},
                status=401,
                headers={hdrs.WWW_AUTHENTICATE: 'Bearer realm="mockagent admin"'},
            )
        return await handler(request)

    return guard


def _foreign_host(request: web.Request, settings: Settings) -> str | None:
    """A Host that is not one of this server's names: how DNS rebinding reaches a local server. A loopback
    name, an IP address (a rebinding page's Host is its own domain name) or a name allowed by the settings
    (the one bound, --allowed-host) is fine."""
    host = request.headers.get(hdrs.HOST)
    if host is None:
        return "the admin API needs a Host header"
    try:
        name = URL.build(scheme="http", authority=host).host
    except ValueError:
        name = None
    if name is None:
        return "the admin API does not answer for this Host"
    name = name.lower().rstrip(".")
    if name == "localhost" or name.endswith(".localhost"):
        return None
    if any(name == allowed.lower().rstrip(".") for allowed in settings.allowed_hosts):
        return None
    try:
        ipaddress.ip_address(name)
    except ValueError:
        return f"the admin API does not answer for Host {name[:64]!r} (allow it with --allowed-host)"
    return None


def _foreign_origin(request: web.Request) -> str | None:
    """A state-changing request sent by a page of another origin (a browser says which in Origin; clients
    that are no browser send none)."""
    origin = request.headers.get(hdrs.ORIGIN)
    if origin is None or request.method in _SAFE_METHODS:
        return None
    scheme, _, authority = origin.partition("://")
    if scheme in ("http", "https") and authority.lower() == request.headers.get(hdrs.HOST, "").lower():
        return None
    return "the admin API does not take state-changing requests from another origin"


def _has_token(request: web.Request, token: str) -> bool:
    scheme, _, given = request.headers.get(hdrs.AUTHORIZATION, "").partition(" ")
    # Compared in constant time: the time taken tells nothing of how much of the token was right.
    return scheme.lower() == "bearer" and hmac.compare_digest(given.strip().encode(), token.encode())


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


async def on_get_stats(request: web.Request) -> web.Response:
    """What the process holds now, for watching a long-running server (bench/soak.py): its asyncio tasks,
    open client connections (this one included) and requests being answered (this one included)."""
    guard = request.app.get(GUARD)
    return json_response(
        {
            "tasks": len(asyncio.all_tasks()),
            "connections": guard.open if guard is not None else None,
            "in_flight": request.app[ENGINE].in_flight,
        }
    )


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
    try:
        await clock.advance(seconds)
    except ValueError as err:  # past the clock's range: its moments would no longer be dates
        raise ApiError(ErrorKind.INVALID_BODY, f"seconds: {err}") from None
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


async def on_reload(request: web.Request) -> web.Response:
    """Load the scenario files again (`reloading.reload`): 200 with the agents now served, or 422 with every
    problem while the previous scenarios keep serving."""
    try:
        scenarios = await reload(request.app)
    except (MockAgentError, OSError) as err:
        problems = [str(p) for p in err.problems] if isinstance(err, ScenarioError) else [str(err)]
        return json_response({"reloaded": False, "error": str(err), "errors": problems}, status=422)
    return json_response({"reloaded": True, "agents": sorted(scenarios.agents)})


async def on_get_journal(request: web.Request) -> web.Response:
    """Requests served so far in the session, oldest first; filter with ?platform=beeos and ?path=/invoke."""
    session = await session_of(request)
    entries = session.journal.entries(platform=request.query.get("platform"), path=request.query.get("path"))
    return json_response([entry.as_json(session.clock) for entry in entries])


async def on_clear_journal(request: web.Request) -> web.Response:
    (await session_of(request)).journal.clear()
    return json_response({"cleared": True})


# ── scenario states and sequence counters (docs/scenarios.md#states) ──────────────────────────────────


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
    (await session_of(request)).states[name] = value
    return json_response({"name": name, "state": value})


async def on_reset_state(request: web.Request) -> web.Response:
    """Put one state back to `started`; `reset` says whether it had been set."""
    name = _state_name(request)
    was_set = (await session_of(request)).states.pop(name, None) is not None
    return json_response({"name": name, "reset": was_set})


async def on_reset_states(request: web.Request) -> web.Response:
    """Put every state of the session back to `started`; `reset` names those that had been set."""
    states = (await session_of(request)).states
    names = list(states)
    states.clear()
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
    (await session_of(request)).sequences.clear()
    return json_response({"reset": True})
