"""Aster Agents: POST /api/chat (an AI SDK v5 UI-message stream, or 202 + poll) and GET /api/getConversation.

Aster has no paused state: the agent asks in text and the next message on the same threadId answers
(`PauseStyle.CHAT`). Every view — the stream, the 202 + poll form — reads the same run.
"""

from __future__ import annotations

import uuid
from collections.abc import Iterable
from typing import Any, ClassVar

from aiohttp import web

from mockagent.context import RequestContext
from mockagent.encoding import json_response
from mockagent.errors import ApiError, ErrorKind
from mockagent.model import PauseKind, PlatformKey
from mockagent.platforms.aster.models import parse_chat
from mockagent.platforms.aster.render import UiMessageFrames, render_error
from mockagent.platforms.aster.threads import Caller, Thread, Turn, system_prompt, title, transcript
from mockagent.platforms.base import MiB, Platform, Route, iso, stream_run
from mockagent.platforms.credentials import jwt_claims
from mockagent.runs import Limit, PauseStyle, RunStatus

_STREAM_STATUS = {
    RunStatus.QUEUED: "in_progress",
    RunStatus.RUNNING: "in_progress",
    RunStatus.PAUSED: "in_progress",  # never with chat-style pauses; listed so every status maps
    RunStatus.COMPLETED: "completed",
    RunStatus.FAILED: "error",
    RunStatus.EXPIRED: "error",
    RunStatus.CANCELLED: "stopped",
    RunStatus.TIMED_OUT: "timeout",
}
_ADMIN_ROLES = frozenset({"org:admin", "admin"})


class Aster(Platform):
    key: ClassVar[PlatformKey] = PlatformKey.ASTER
    title: ClassVar[str] = "Aster Agents"
    real_base_url: ClassVar[str] = "https://www.asteragents.com/api"
    client_base_path: ClassVar[str] = "/api"
    body_limit: ClassVar[int] = int(4.5 * MiB)  # CHOSEN: Vercel's request body limit for functions
    pause_style: ClassVar[PauseStyle] = PauseStyle.CHAT
    gateway_timeout: ClassVar[float] = 300.0  # CHOSEN: clock seconds a streamed request may run
    background_timeout: ClassVar[float] = 800.0  # CHOSEN: clock seconds a 202 (background) run may run

    def routes(self) -> Iterable[Route]:
        return [
            Route("POST", "/api/chat", self.on_chat),
            Route("GET", "/api/getConversation", self.on_get_conversation),
        ]

    def render_error(self, error: ApiError) -> web.Response:
        return render_error(error)

    # ── POST /api/chat ───────────────────────────────────────────────────────────────────────────

    async def on_chat(self, request: web.Request, ctx: RequestContext) -> web.StreamResponse:
        caller = self._authenticate(request)
        raw = await self.read_json(request)
        chat = parse_chat(raw)
        agent = self.engine.scenarios.aster_ids.get(chat.agent_id)
        if agent is None or not agent.serves(self.key) or caller.agent not in (None, agent.id):
            raise ApiError(ErrorKind.NOT_FOUND, "Agent not found or unauthorized")
        if chat.thread_id is not None:
            thread = ctx.session.conversation(self.key, chat.thread_id)
            if thread is None or thread.last is None or thread.agent_id != agent.id:
                raise ApiError(ErrorKind.NOT_FOUND, "Conversation not found")
        elif chat.message is None:
            raise ApiError(ErrorKind.VALIDATION, "Message is required for non-continuation calls")
        ctx.body, ctx.message = raw, chat.text
        await self.admit(ctx, agent=agent, scope=chat.thread_id)
        thread_id = chat.thread_id or str(uuid.uuid4())
        user_message = None
        if chat.message is not None:
            message_id = chat.message.get("id") or _message_id()
            user_message = {"id": message_id, "role": "user", "parts": chat.message["parts"]}
        async with ctx.session.lock:
            conversation = ctx.session.open_conversation(self.key, agent.id, thread_id)
            last = conversation.last
            if last is not None and not last.status().is_terminal:
                # CHOSEN: one response at a time per thread, as a chat UI allows.
                raise ApiError(ErrorKind.CONFLICT, "A response is already in progress for this conversation")
            if conversation.record is None:
                conversation.record = Thread(caller, chat.agent_id, title(user_message))
            pending = conversation.pending
            carried = pending.pause.tool_call if pending and pending.pause.kind is PauseKind.APPROVAL else None
            run = self.start_turn(ctx, conversation)
        run.record = Turn(user_message, _message_id(), chat.timezone or "UTC", carried)
        headers = {"X-Thread-ID": thread_id}
        if request.headers.get("X-Stream-Response", "").strip().lower() == "false":
            # The 202 form: no request holds the run, so its own limit applies (seen on poll).
            run.set_deadline(Limit(run.started_at + self.background_timeout, "background run limit"))
            return json_response({"threadId": thread_id, "status": "in_progress"}, status=202, headers=headers)
        frames = UiMessageFrames(run, run.record_of(Turn).assistant_id, carried)
        return await stream_run(
            request,
            ctx,
            run,
            frames,
            headers={
                **headers,
                "Connection": "keep-alive",
                "x-vercel-ai-ui-message-stream": "v1",
                "x-accel-buffering": "no",
            },
            limit=Limit(run.started_at + self.gateway_timeout, "gateway timeout"),
        )

    # ── GET /api/getConversation ─────────────────────────────────────────────────────────────────

    async def on_get_conversation(self, request: web.Request, ctx: RequestContext) -> web.StreamResponse:
        caller = self._authenticate(request)
        thread_id = request.query.get("threadId")
        if not thread_id:
            raise ApiError(ErrorKind.VALIDATION, "threadId is required")
        conversation = ctx.session.conversation(self.key, thread_id)
        latest = conversation.last if conversation is not None else None
        if conversation is None or latest is None or caller.agent not in (None, conversation.agent_id):
            raise ApiError(ErrorKind.NOT_FOUND, "Conversation not found")
        ctx.run = latest
        await self.admit(ctx, agent=latest.agent, scope=conversation.id)
        latest.poll()
        status = latest.status()
        thread = conversation.record
        assert isinstance(thread, Thread)
        turn = latest.record_of(Turn)
        agent = self.engine.scenarios.agents.get(conversation.agent_id)
        updated = max(
            [latest.created_at]
            + [t.at for t in latest.visible()[-1:]]
            + ([end] if status.is_terminal and (end := latest.moment(status)) is not None else [])
        )
        clock = latest.clock
        return json_response(
            {
                "id": conversation.id,
                "agentId": thread.agent_id,
                "userId": thread.caller.user_id,
                "organizationId": thread.caller.org_id,
                "name": thread.title,
                "upstreamConversationId": None,
                "renderedSystemPrompt": system_prompt(agent, turn.timezone),
                "streamStatus": _STREAM_STATUS[status],
                "createdAt": iso(clock, conversation.created_at),
                "updatedAt": iso(clock, updated),
                "deletedAt": None,
                "messages": [m for run in conversation.runs for m in transcript(run)],
            }
        )

    # ── auth ─────────────────────────────────────────────────────────────────────────────────────

    def _authenticate(self, request: web.Request) -> Caller:
        token = self.bearer_jwt(request, missing="Unauthorized", invalid="Unauthorized")
        claims = jwt_claims(token)
        org_claim = claims.get("o")  # Clerk's v2 session token nests the organisation
        org: dict[str, Any] = org_claim if isinstance(org_claim, dict) else {}
        role = claims.get("org_role", org.get("rol"))
        # A role that is not a string (a list, an object) names no admin role either.
        if role is not None and not (isinstance(role, str) and role in _ADMIN_ROLES):
            raise ApiError(ErrorKind.FORBIDDEN, "Unauthorized: User is not an admin in this organization")
        user_id = claims.get("sub")
        org_id = claims.get("org_id", org.get("id"))
        return Caller(
            user_id=user_id if isinstance(user_id, str) else "user_mock",
            org_id=org_id if isinstance(org_id, str) else "org_mock",
            agent=self.credential_scope(token),
        )


def _message_id() -> str:
    return uuid.uuid4().hex[:16]
