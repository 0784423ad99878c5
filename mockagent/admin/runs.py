"""A session's runs, in neutral form."""

from __future__ import annotations

from aiohttp import web

from mockagent.admin.sessions import session_of
from mockagent.encoding import json_response


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
