"""The journal: what each session was asked and answered."""

from __future__ import annotations

from aiohttp import web

from mockagent.admin.sessions import session_of
from mockagent.encoding import json_response


async def on_get_journal(request: web.Request) -> web.Response:
    """Requests served so far in the session, oldest first; filter with ?platform=beeos and ?path=/invoke."""
    session = await session_of(request)
    entries = session.journal.entries(platform=request.query.get("platform"), path=request.query.get("path"))
    return json_response([entry.as_json(session.clock) for entry in entries])


async def on_clear_journal(request: web.Request) -> web.Response:
    (await session_of(request)).journal.clear()
    return json_response({"cleared": True})
