"""The admin API's sessions: which one a request is about, listing and resetting them."""

from __future__ import annotations

import contextlib
from collections.abc import AsyncIterator

from aiohttp import web

from mockagent.appkeys import ENGINE
from mockagent.clock import ManualClock
from mockagent.encoding import json_response
from mockagent.errors import ApiError, ErrorKind
from mockagent.holding import TOUCHED
from mockagent.sessions import SESSION_HEADER, SESSION_NAME, Session


async def session_of(request: web.Request) -> Session:
    """The session an admin request is about: ``X-Mockagent-Session``, else ``?session=``, else the default."""
    named = await named_session(request)
    return named if named is not None else await default_session(request)


async def default_session(request: web.Request) -> Session:
    """The session of a request that names none, up to date with the other processes that share it."""
    sessions = request.app[ENGINE].sessions
    if sessions.synced:  # another process may have moved it on
        await sessions.sync(sessions.default)
    return sessions.default


async def sessions_of(request: web.Request) -> list[Session]:
    """The sessions a request about sessions' journals is about: the one it names (as `session_of` reads
    it), else every session."""
    named = await named_session(request)
    return [named] if named is not None else list(request.app[ENGINE].sessions.sessions())


async def named_session(request: web.Request) -> Session | None:
    """The session an admin request names: ``X-Mockagent-Session``, else ``?session=`` (None: it names none)."""
    if (name := request.headers.get(SESSION_HEADER)) is not None:
        return await session_named(request, name)
    if (name := request.query.get("session")) is not None:
        return await session_named(request, name, ("query", "session"))
    return None


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


@contextlib.asynccontextmanager
async def acting(request: web.Request, session: Session) -> AsyncIterator[None]:
    """An admin request that changes `session`, one at a time with the session's other changes: in this
    process (its lock), and — where processes share the session in Redis — in all of them, up to date when
    it begins and written when it ends, as a platform request is from its admission."""
    sessions = request.app[ENGINE].sessions
    if not sessions.synced:
        async with session.lock:
            yield
        return
    # The session in Redis first, then this process's lock: the order a platform request takes them in.
    TOUCHED.set({})
    await sessions.hold(session)
    try:
        async with session.lock:
            yield
    finally:
        await sessions.finish(session)


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


async def on_get_session(request: web.Request) -> web.Response:
    """One session as it is now; 404 when there is none (looking must not make one)."""
    name = request.match_info["name"]
    session = next((s for s in request.app[ENGINE].sessions.sessions() if s.name == name), None)
    if session is None:
        raise ApiError(ErrorKind.NOT_FOUND, f"no session {name[:64]!r}")
    now = session.clock.now()
    return json_response(
        {
            "name": session.name,
            "runs": [
                {
                    "id": run.id,
                    "platform": run.conversation.platform.value,
                    "agent": run.agent.id,
                    "status": run.status(now).value,
                }
                for run in session.runs.values()
            ],
            "conversations": [
                {"platform": c.platform.value, "id": c.id, "agent": c.agent_id, "turns": c.turns}
                for c in session.conversations.values()
            ],
            "states": dict(session.states),
            "sequences": dict(session.sequences),
            "journal": len(session.journal),
            "in_flight": session.in_flight,
            "clock": {"now": now, "manual": isinstance(session.clock, ManualClock)},
        }
    )


async def on_reset_sessions(request: web.Request) -> web.Response:
    """Reset every session (the default one included); answers the names reset."""
    engine = request.app[ENGINE]
    names = [session.name for session in engine.sessions.sessions()]
    for name in names:
        await engine.reset_session(name)
    return json_response({"reset": names})


async def on_reset_session(request: web.Request) -> web.Response:
    """Forget everything the session holds (its unfinished runs are cancelled); its next request starts
    from a clean state. Resetting a session that does not exist is not an error."""
    name = request.match_info["name"]
    existed = await request.app[ENGINE].reset_session(name)
    return json_response({"session": name, "reset": existed})
