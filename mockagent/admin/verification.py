"""Verifying what clients did: counting requests by pattern, and verdicts on their behaviour
(docs/admin.md#verification).

One process reads its own sessions' journals: the entries whole, as they came. Processes that share Redis
read the journal kept there instead, every process's entries (`journal.rebuilt`), as `GET /journal` does:
what one process served is verified through any other — redacted, as it is kept (mockagent.verification).
"""

from __future__ import annotations

from collections.abc import Iterable

from aiohttp import web

from mockagent.admin.bodies import json_object
from mockagent.admin.sessions import named_session, session_named
from mockagent.appkeys import ENGINE, redactor_of
from mockagent.encoding import json_response
from mockagent.errors import ApiError, ErrorKind
from mockagent.journal import Entry, in_order, rebuilt
from mockagent.sessions import Session
from mockagent.verdicts import VERDICTS, VerdictError, judge
from mockagent.verification import PatternError, pattern_of, verify


async def on_verify(request: web.Request) -> web.Response:
    """``POST /verify`` with a pattern and a count: whether the count holds, and the closest other entries."""
    try:
        pattern, count = pattern_of(await json_object(request))
    except PatternError as error:
        raise ApiError(ErrorKind.INVALID_BODY, str(error)) from None
    sessions, names = await _scope(request, pattern.session)
    redactor = redactor_of(request.app)
    kept = await request.app[ENGINE].sessions.kept(names)
    if kept is not None:
        checked = verify(rebuilt(kept), pattern, count, redactor)
        shown = {entry.id: entry.json for entry in kept}
        near = [shown[entry.id] for entry in checked.near]
    else:
        checked = verify(_entries(sessions), pattern, count, redactor)
        clocks = {session.name: session.clock for session in sessions}
        near = [entry.as_json(clocks[entry.session], redactor) for entry in checked.near]
    return json_response({"passed": checked.passed, "count": checked.count, "message": checked.message, "near": near})


async def on_get_verdict(request: web.Request) -> web.Response:
    """``GET /verdicts/{name}?session=…&<option>=…``: one verdict on the journal of a session (or all)."""
    name = request.match_info["name"]
    if name not in VERDICTS:
        raise ApiError(ErrorKind.NOT_FOUND, f"no verdict {name[:60]!r}; the verdicts are {', '.join(VERDICTS)}")
    options = {key: value for key, value in request.query.items() if key != "session"}
    sessions, names = await _scope(request, None)
    store = request.app[ENGINE].sessions
    kept = await store.kept(names)
    if kept is None:
        entries = _entries(sessions)
    else:
        entries = rebuilt(kept)
        if names is None and VERDICTS[name].needs_runs:
            # Every session: those any process served as well as this one's, each caught up here (a named
            # one already is), so that the runs judged are as every process left them.
            served = {entry.session for entry in entries} | {session.name for session in sessions}
            sessions = [await store.open(served_name) for served_name in sorted(served)]
    runs = [run for s in sessions for run in s.runs.values()]
    try:
        verdict = judge(name, entries, runs, options)
    except VerdictError as error:
        raise ApiError(ErrorKind.INVALID_BODY, str(error)) from None
    return json_response(verdict.as_json())


async def _scope(request: web.Request, session: str | None) -> tuple[list[Session], list[str] | None]:
    """The sessions a verification is about — the pattern's `session`, else the one the request names (as
    `sessions_of` reads it), else every session this process has — and their names for the journal kept
    in Redis (None: every session, whichever process served it)."""
    if session is not None:
        named: Session | None = await session_named(request, session, ("body", "session"))
    else:
        named = await named_session(request)
    if named is not None:
        return [named], [named.name]
    return list(request.app[ENGINE].sessions.sessions()), None


def _entries(sessions: Iterable[Session]) -> list[Entry]:
    return list(in_order(session.journal for session in sessions))
