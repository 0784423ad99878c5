"""Verifying what clients did: counting requests by pattern, and verdicts on their behaviour
(docs/admin.md#verification)."""

from __future__ import annotations

from collections.abc import Iterable

from aiohttp import web

from mockagent.admin.sessions import session_named, sessions_of
from mockagent.appkeys import redactor_of
from mockagent.encoding import json_response, loads
from mockagent.errors import ApiError, ErrorKind
from mockagent.journal import Entry, in_order
from mockagent.platforms.bodies import read_body
from mockagent.sessions import Session
from mockagent.verdicts import VERDICTS, VerdictError, judge
from mockagent.verification import PatternError, pattern_of, verify

#: CHOSEN: the largest verification body read (a pattern is small).
MAX_BODY = 64 * 1024


async def on_verify(request: web.Request) -> web.Response:
    """``POST /verify`` with a pattern and a count: whether the count holds, and the closest other entries."""
    try:
        raw = loads((await read_body(request, MAX_BODY, "request body")).decode("utf-8"))
    except (ValueError, UnicodeDecodeError):
        return _bad("the body is a JSON object: {method?, platform?, path?, agent?, body?, session?, n?, ...}")
    if not isinstance(raw, dict):
        return _bad("the body is a JSON object: {method?, platform?, path?, agent?, body?, session?, n?, ...}")
    try:
        pattern, count = pattern_of(raw)
    except PatternError as error:
        return _bad(str(error))
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
        return _bad(str(error))
    return json_response(verdict.as_json())


def _entries(sessions: Iterable[Session]) -> list[Entry]:
    return list(in_order(session.journal for session in sessions))


def _bad(message: str) -> web.Response:
    return json_response({"error": message}, status=400)
