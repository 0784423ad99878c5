"""The live event feed, as Server-Sent Events (`feed.Feed`; docs/admin.md#events)."""

from __future__ import annotations

import asyncio
import contextlib

from aiohttp import web

from mockagent.appkeys import ENGINE
from mockagent.encoding import json_response

#: CHOSEN: real seconds between two keep-alive comments on a quiet feed (proxies close silent streams).
HEARTBEAT = 15.0


async def on_get_events(request: web.Request) -> web.StreamResponse:
    """Every event from now on (or, with ``Last-Event-ID``, from the one after it while the backlog has it),
    of one session and one platform when ``?session=`` and ``?platform=`` say so."""
    session = request.query.get("session")
    platform = request.query.get("platform")
    try:
        after = int(request.headers["Last-Event-ID"]) if "Last-Event-ID" in request.headers else None
    except ValueError:
        return json_response({"error": "Last-Event-ID: an event id is an integer"}, status=400)
    feed = request.app[ENGINE].feed
    response = web.StreamResponse(headers={"Content-Type": "text/event-stream", "Cache-Control": "no-cache"})
    await response.prepare(request)
    with feed.subscribe(after) as subscriber, contextlib.suppress(ConnectionResetError):  # the client left
        await response.write(b": mockagent events\n\n")  # the stream is open: a client need not wait for an event
        while True:
            try:
                event = await asyncio.wait_for(subscriber.get(), HEARTBEAT)
            except TimeoutError:
                await response.write(b": keep-alive\n\n")
                continue
            if event is None:
                break
            if (session is None or event.session == session) and (platform is None or event.platform == platform):
                await response.write(event.frame)
    return response
