"""The process as a whole: health (open to a container's health check) and what it holds now."""

from __future__ import annotations

import asyncio

from aiohttp import web

from mockagent.appkeys import ENGINE, GUARD, PLATFORMS, SERVING_SINCE
from mockagent.encoding import json_response
from mockagent.loops import running_loop_name


async def on_get_health(request: web.Request) -> web.Response:
    """Up, what it serves, and since when (a restarted server tells a new time: the web page reads again)."""
    platforms = [key.value for key in request.app[PLATFORMS]]
    return json_response({"status": "ok", "platforms": platforms, "started": request.app[SERVING_SINCE]})


async def on_get_stats(request: web.Request) -> web.Response:
    """What the process holds now, for watching a long-running server (bench/soak.py): its asyncio tasks,
    open client connections (this one included), requests being answered (this one included), and the event
    loop that runs it ("uvloop" or "asyncio")."""
    guard = request.app.get(GUARD)
    return json_response(
        {
            "tasks": len(asyncio.all_tasks()),
            "connections": guard.open if guard is not None else None,
            "in_flight": request.app[ENGINE].in_flight,
            "loop": running_loop_name(),
        }
    )
