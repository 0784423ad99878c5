"""Verifying what clients did: counting requests by pattern, and verdicts on their behaviour
(docs/admin.md#verification)."""

from __future__ import annotations

from collections.abc import Iterable

from aiohttp import web

from mockagent.admin.bodies import json_object
from mockagent.admin.sessions import session_named, sessions_of
from mockagent.appkeys import redactor_of
from mockagent.encoding import json_response
from mockagent.errors import ApiError, ErrorKind
from mockagent.journal import Entry, in_order
from mockagent.sessions import Session
from mockagent.verdicts import VERDICTS, VerdictError, judge
from mockagent.verification import PatternError, pattern_of, verify


async def on_verify(request: web.Request) -> web.Response:
    """``POST /verify`` with a pattern and a count: whether the count holds, and the closest other entries."""
    try:
        pattern, count = pattern_of(await json_object(request))
    except PatternError as error:
        raise ApiError(ErrorKind.INVALID_BODY, str(error)) from None
    if pattern.session is not None:
        sessions = [await session_named(request, pattern.session, ("body", "session"))]
    else:
        sessions = await sessions_of(request)
    redactor = redactor_of(request.app)
    checked = verify(_entries(sessions), pattern, count, redactor)
    clocks = {session.name: session.clock for session in sessions}
    return json_response(
        {
            "passed": checked.passed,
            "count": checked.count,
            "message": checked.message,
            "near": [entry.as_json(clocks[entry.session], redactor) for entry in checked.near],
        }
    )


async def on_get_verdict(request: web.Request) -> web.Response:
    """``GET /verdicts/{name}?session=…&<option>=…``: one verdict on the journal of a session (or all)."""
    name = request.match_info["name"]
    if name not in VERDICTS:
        raise ApiError(ErrorKind.NOT_FOUND, f"no verdict {name[:60]!r}; the verdicts are {', '.join(VERDICTS)}")
    options = {key: value for key, value in request.query.items() if key != "session"}
    sessions = await sessions_of(request)
    runs = [run for s in sessions for run in s.runs.values()]
    try:
        verdict = judge(name, _entries(sessions), runs, options)
    except VerdictError as error:
        raise ApiError(ErrorKind.INVALID_BODY, str(error)) from None
    return json_response(verdict.as_json())


def _entries(sessions: Iterable[Session]) -> list[Entry]:
    return list(in_order(session.journal for session in sessions))
