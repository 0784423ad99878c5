"""Aster Agents: POST /api/chat (an AI SDK v5 UI-message stream, or 202 + poll) and GET /api/getConversation.

Aster has no paused state: the agent asks in text and the next message on the same threadId answers
(`PauseStyle.CHAT`). Every view — the stream, the 202 + poll form — reads the same run.
"""

from __future__ import annotations

import base64
import binascii
import json
import re
import uuid
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from typing import Any, ClassVar

from aiohttp import web

from mockagent.model import (
    Completed,
    Event,
    Failed,
    PauseKind,
    PlatformKey,
    ReasoningDelta,
    TextDelta,
    ToolCalled,
    ToolReturned,
)
from mockagent.platforms.base import (
    HTTP_STATUS,
    ApiError,
    ErrorKind,
    EventStream,
    FieldError,
    MiB,
    Platform,
    Route,
    dumps,
    hang_up_cancels,
    json_response,
)
from mockagent.runs import PauseStyle, Run, RunStatus
from mockagent.scenarios.model import Agent

Chunk = dict[str, Any]

# Aster's documented (or CHOSEN) fixed texts; a kind not listed here shows the ApiError's own message.
_TEXT = {
    ErrorKind.MISSING_CREDENTIAL: "Unauthorized",
    ErrorKind.INVALID_CREDENTIAL: "Unauthorized",
    ErrorKind.FORBIDDEN: "Unauthorized: User is not an admin in this organization",
    ErrorKind.METHOD_NOT_ALLOWED: "Method not allowed",
    ErrorKind.PAYLOAD_TOO_LARGE: "Request body too large",
    ErrorKind.UNSUPPORTED_MEDIA_TYPE: "Content-Type must be application/json",
    ErrorKind.RATE_LIMITED: "Too many requests",
    ErrorKind.INTERNAL: "Internal server error",
    ErrorKind.BAD_GATEWAY: "Bad Gateway",
    ErrorKind.UNAVAILABLE: "Service Unavailable",
    ErrorKind.TIMEOUT: "Gateway Timeout",
}
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
_UUID = re.compile(r"^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$", re.IGNORECASE)
# Loose on purpose (CHOSEN): the shape of an IANA name, not a lookup in a tz database the host may lack.
_TIMEZONE = re.compile(r"^[A-Za-z][A-Za-z0-9_+\-]*(?:/[A-Za-z0-9_+\-]+){0,2}$")
_ADMIN_ROLES = frozenset({"org:admin", "admin"})
_INVALID_BODY = "Invalid request body"
_TERMINAL_CHUNKS = frozenset({"finish", "abort"})
_TURN = "aster"  # the key of a run's Aster metadata in run.metadata


@dataclass(frozen=True)
class _Caller:
    user_id: str
    org_id: str
    agent: str | None  # a scenario credential may be limited to one agent


@dataclass(frozen=True)
class _ChatRequest:
    agent_id: int
    message: dict[str, Any] | None  # the UIMessage as sent; None on a continuation call
    thread_id: str | None
    timezone: str | None

    @property
    def text(self) -> str:
        parts = self.message["parts"] if self.message else []
        return "".join(p["text"] for p in parts if p["type"] == "text")


@dataclass
class _Turn:
    """What Aster remembers of one turn: the transcript getConversation shows, and who asked."""

    caller: _Caller
    agent_id: int
    user_message: dict[str, Any] | None
    assistant_id: str
    timezone: str
    background: bool  # the 202 form: no request holds the run, so the run limit applies on poll
    carried_call: ToolCalled | None  # the approved call of the previous turn, shown again with its output


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
            Route("POST", "/api/chat", self.chat, "chat"),
            Route("GET", "/api/getConversation", self.get_conversation, "getConversation"),
        ]

    def render_error(self, error: ApiError) -> web.Response:
        status = HTTP_STATUS[error.kind]
        body: dict[str, Any] = {"error": _TEXT.get(error.kind, error.message)}
        if error.kind in (ErrorKind.INVALID_JSON, ErrorKind.INVALID_BODY):
            body = {"error": _INVALID_BODY, "details": [{"message": error.message, "path": []}]}
        elif error.kind is ErrorKind.VALIDATION and error.fields:
            details = [{"message": f.msg, "path": list(f.loc)} for f in error.fields]
            body = {"error": _INVALID_BODY, "details": details}
        headers = None
        if error.kind is ErrorKind.RATE_LIMITED:
            headers = {"Retry-After": str(max(1, error.retry_after or 1))}
        return json_response(body, status=status, headers=headers)

    # ── POST /api/chat ───────────────────────────────────────────────────────────────────────────

    async def chat(self, request: web.Request) -> web.StreamResponse:
        caller = self._authenticate(request)
        chat = _parse_chat(await self.read_json(request))
        agent = self.engine.scenarios.aster_ids.get(chat.agent_id)
        if agent is None or not agent.serves(self.key) or caller.agent not in (None, agent.id):
            raise ApiError(ErrorKind.NOT_FOUND, "Agent not found or unauthorized")
        if chat.thread_id is not None:
            self._check_thread(chat.thread_id, agent)
        elif chat.message is None:
            raise ApiError(ErrorKind.VALIDATION, "Message is required for non-continuation calls")
        await self.admit(request, agent=agent, scope=chat.thread_id)
        thread_id = chat.thread_id or str(uuid.uuid4())

        conversation = self.engine.open_conversation(self.key, agent, thread_id)
        pending = conversation.pending
        carried = pending.pause.tool_call if pending and pending.pause.kind is PauseKind.APPROVAL else None
        run = self.engine.start_run(agent, chat.text, conversation, pause_style=self.pause_style)
        background = request.headers.get("X-Stream-Response", "").strip().lower() == "false"
        user_message = None
        if chat.message is not None:
            message_id = chat.message.get("id") or _message_id()
            user_message = {"id": message_id, "role": "user", "parts": chat.message["parts"]}
        run.metadata[_TURN] = _Turn(
            caller=caller,
            agent_id=chat.agent_id,
            user_message=user_message,
            assistant_id=_message_id(),
            timezone=chat.timezone or "UTC",
            background=background,
            carried_call=carried,
        )
        headers = {"X-Thread-ID": thread_id}
        if background:
            return json_response({"threadId": thread_id, "status": "in_progress"}, status=202, headers=headers)
        return await self._stream(request, run, headers)

    def _check_thread(self, thread_id: str, agent: Agent) -> None:
        conversation = self.engine.conversation(self.key, thread_id)
        if conversation is None or not conversation.runs or conversation.agent_id != agent.id:
            raise ApiError(ErrorKind.NOT_FOUND, "Conversation not found")
        if not self._status(conversation.runs[-1]).is_terminal:
            # CHOSEN: one response at a time per thread, as a chat UI allows.
            raise ApiError(ErrorKind.CONFLICT, "A response is already in progress for this conversation")

    async def _stream(self, request: web.Request, run: Run, headers: Mapping[str, str]) -> web.StreamResponse:
        stream = EventStream(
            request,
            headers={
                **headers,
                "Connection": "keep-alive",
                "x-vercel-ai-ui-message-stream": "v1",
                "x-accel-buffering": "no",
            },
        )
        turn: _Turn = run.metadata[_TURN]
        frames = _UiMessageFrames(turn.assistant_id, turn.carried_call)
        run.time_out_at(run.started_at + self.gateway_timeout, "gateway timeout")
        with hang_up_cancels(run):
            await stream.open()
            await _send(stream, frames.begin())
            async for _, timed in run.follow():
                await _send(stream, frames.feed(timed.event))
            if not frames.finished:  # the run was ended from outside: timed out or cancelled
                timed_out = run.status() is RunStatus.TIMED_OUT
                await _send(stream, frames.end(_TEXT[ErrorKind.TIMEOUT]) if timed_out else frames.abort())
            await stream.send("[DONE]")
        return await stream.close()

    # ── GET /api/getConversation ─────────────────────────────────────────────────────────────────

    async def get_conversation(self, request: web.Request) -> web.Response:
        caller = self._authenticate(request)
        thread_id = request.query.get("threadId")
        if not thread_id:
            raise ApiError(ErrorKind.VALIDATION, "threadId is required")
        conversation = self.engine.conversation(self.key, thread_id)
        if conversation is None or not conversation.runs or caller.agent not in (None, conversation.agent_id):
            raise ApiError(ErrorKind.NOT_FOUND, "Conversation not found")
        latest = conversation.runs[-1]
        latest.poll()
        status = self._status(latest)
        first: _Turn = conversation.runs[0].metadata[_TURN]
        turn: _Turn = latest.metadata[_TURN]
        agent = self.engine.scenarios.agents.get(conversation.agent_id)
        updated = max(
            [latest.created_at]
            + [t.at for t in latest.visible()[-1:]]
            + ([end] if status.is_terminal and (end := latest.moment(status)) is not None else [])
        )
        return json_response(
            {
                "id": conversation.id,
                "agentId": first.agent_id,
                "userId": first.caller.user_id,
                "organizationId": first.caller.org_id,
                "name": _title(first),
                "upstreamConversationId": None,
                "renderedSystemPrompt": _system_prompt(agent, turn.timezone),
                "streamStatus": _STREAM_STATUS[status],
                "createdAt": self.timestamp(conversation.created_at),
                "updatedAt": self.timestamp(updated),
                "deletedAt": None,
                "messages": [m for run in conversation.runs for m in _transcript(run)],
            }
        )

    def _status(self, run: Run) -> RunStatus:
        """The run's status, after ending a background run that outlived its limit."""
        status = run.status()
        turn: _Turn = run.metadata[_TURN]
        now = self.engine.clock.now()
        if turn.background and not status.is_terminal and now >= run.started_at + self.background_timeout:
            run.time_out("background run limit")
            status = run.status()
        return status

    # ── auth ─────────────────────────────────────────────────────────────────────────────────────

    def _authenticate(self, request: web.Request) -> _Caller:
        token = self.bearer_jwt(request, missing="Unauthorized", invalid="Unauthorized")
        keys = self.credentials()
        claims = _claims(token)
        org_claim = claims.get("o")  # Clerk's v2 session token nests the organisation
        org: dict[str, Any] = org_claim if isinstance(org_claim, dict) else {}
        role = claims.get("org_role", org.get("rol"))
        if role is not None and role not in _ADMIN_ROLES:
            raise ApiError(ErrorKind.FORBIDDEN, "Unauthorized: User is not an admin in this organization")
        user_id = claims.get("sub")
        org_id = claims.get("org_id", org.get("id"))
        return _Caller(
            user_id=user_id if isinstance(user_id, str) else "user_mock",
            org_id=org_id if isinstance(org_id, str) else "org_mock",
            agent=keys[token].agent if keys is not None else None,
        )


# ── the AI SDK v5 UI-message stream ──────────────────────────────────────────────────────────────


class _UiMessageFrames:
    """Neutral events → UI-message chunks, the way AI SDK's streamText frames a multi-step agent: a step
    ends after tool results, and the text that follows opens the next step."""

    def __init__(self, message_id: str, carried_call: ToolCalled | None) -> None:
        self.message_id = message_id
        self.carried_call = carried_call
        self.open: tuple[str, str] | None = None  # ("text" | "reasoning", id) of the open block
        self.calls: set[str] = set()
        self.after_tools = False
        self.finished = False

    def begin(self) -> list[Chunk]:
        return [{"type": "start", "messageId": self.message_id}, {"type": "start-step"}]

    def feed(self, event: Event) -> list[Chunk]:
        match event:
            case TextDelta(text=text, block=block):
                return self._delta("text", f"text-{block}", text)
            case ReasoningDelta(text=text, block=block):
                return self._delta("reasoning", f"reasoning-{block}", text)
            case ToolCalled(requires_approval=True):
                return []  # chat style: the question that follows in text is the approval request
            case ToolCalled():
                return self._next_step() + self._close() + self._tool_input(event)
            case ToolReturned():
                return self._close() + self._tool_output(event)
            case Failed(message=message):
                return self.end(message)
            case Completed():
                return self.end()
        return []

    def end(self, error: str | None = None) -> list[Chunk]:
        self.finished = True
        failure = [{"type": "error", "errorText": error}] if error is not None else []
        return [*self._close(), {"type": "finish-step"}, *failure, {"type": "finish"}]

    def abort(self) -> list[Chunk]:
        self.finished = True
        return [*self._close(), {"type": "abort"}]

    def _delta(self, kind: str, block_id: str, delta: str) -> list[Chunk]:
        out = self._next_step()
        if self.open != (kind, block_id):
            out += self._close()
            out.append({"type": f"{kind}-start", "id": block_id})
            self.open = (kind, block_id)
        out.append({"type": f"{kind}-delta", "id": block_id, "delta": delta})
        return out

    def _close(self) -> list[Chunk]:
        if self.open is None:
            return []
        kind, block_id = self.open
        self.open = None
        return [{"type": f"{kind}-end", "id": block_id}]

    def _next_step(self) -> list[Chunk]:
        if not self.after_tools:
            return []
        self.after_tools = False
        return [{"type": "finish-step"}, {"type": "start-step"}]

    def _tool_input(self, call: ToolCalled) -> list[Chunk]:
        self.calls.add(call.call_id)
        return [
            {"type": "tool-input-start", "toolCallId": call.call_id, "toolName": call.name},
            {"type": "tool-input-available", "toolCallId": call.call_id, "toolName": call.name, "input": call.args},
        ]

    def _tool_output(self, result: ToolReturned) -> list[Chunk]:
        out: list[Chunk] = []
        call_id = result.call_id
        if call_id not in self.calls:
            # A result whose call was made in the previous turn (an approval answered in chat): the
            # client has no part for it in this message, so the call is shown again first.
            call = self.carried_call or ToolCalled(call_id=call_id, name=result.name, args={})
            self.carried_call = None
            call_id = call.call_id
            out += self._tool_input(call)
        self.after_tools = True
        if result.error is not None:
            return [*out, {"type": "tool-output-error", "toolCallId": call_id, "errorText": result.error}]
        return [*out, {"type": "tool-output-available", "toolCallId": call_id, "output": result.output}]


async def _send(stream: EventStream, chunks: list[Chunk]) -> None:
    for chunk in chunks:
        # `finish` (or `abort`) is what ends the message for the AI SDK; `[DONE]` only closes the transport,
        # so a stream cut before its terminal frame loses both.
        await stream.send(dumps(chunk), terminal=chunk["type"] in _TERMINAL_CHUNKS)


# ── the conversation as getConversation shows it ─────────────────────────────────────────────────


def _transcript(run: Run) -> list[dict[str, Any]]:
    """The run's user message, then its assistant message once it has text (CHOSEN: text parts only,
    one per `say` block, as the blocking forms of every platform show only the agent's text)."""
    turn: _Turn = run.metadata[_TURN]
    blocks: dict[int, str] = {}
    for timed in run.visible():
        if isinstance(timed.event, TextDelta):
            blocks[timed.event.block] = blocks.get(timed.event.block, "") + timed.event.text
    messages = [turn.user_message] if turn.user_message is not None else []
    if blocks:
        parts = [{"type": "text", "text": text} for text in blocks.values()]
        messages.append({"id": turn.assistant_id, "role": "assistant", "parts": parts})
    return messages


def _title(turn: _Turn) -> str:
    parts = turn.user_message["parts"] if turn.user_message else []
    text = "".join(p["text"] for p in parts if p["type"] == "text")
    text = " ".join(text.split())
    return text[:60] if text else "New conversation"


def _system_prompt(agent: Agent | None, timezone: str) -> str:
    if agent is None:  # the scenarios were reloaded without this thread's agent
        return f"Current timezone: {timezone}"
    about = agent.description or f"You are {agent.name or agent.id}."
    return f"{about}\nCurrent timezone: {timezone}"


def _message_id() -> str:
    return uuid.uuid4().hex[:16]


def _claims(token: str) -> dict[str, Any]:
    """The JWT's payload, if it decodes to a JSON object (the signature is never checked)."""
    payload = token.split(".")[1]
    try:
        value = json.loads(base64.urlsafe_b64decode(payload + "=" * (-len(payload) % 4)))
    except (ValueError, binascii.Error):
        return {}
    return value if isinstance(value, dict) else {}


# ── request validation, with zod's messages (the real route validates with zod) ──────────────────


def _kind(value: Any) -> str:
    if value is None:
        return "null"
    if isinstance(value, bool):
        return "boolean"
    if isinstance(value, int | float):
        return "number"
    if isinstance(value, str):
        return "string"
    return "array" if isinstance(value, list) else "object"


def _expect(expected: str, value: Any, loc: tuple[str | int, ...], errors: list[FieldError]) -> bool:
    got = _kind(value)
    if got != expected:
        errors.append(FieldError(loc, f"Expected {expected}, received {got}", "invalid_type"))
        return False
    return True


def _parse_chat(body: dict[str, Any]) -> _ChatRequest:
    errors: list[FieldError] = []
    agent_id: Any = body.get("agentId")
    if "agentId" not in body:
        errors.append(FieldError(("agentId",), "Required", "invalid_type"))
    elif _expect("number", agent_id, ("agentId",), errors) and agent_id != int(agent_id):
        # JSON has one number type: 3.0 is the integer 3 to a JavaScript server, 3.5 is not.
        errors.append(FieldError(("agentId",), "Expected integer, received float", "invalid_type"))

    message: Any = body.get("message")
    if "message" in body and _expect("object", message, ("message",), errors):
        _check_message(message, errors)

    thread_id: Any = body.get("threadId")
    if "threadId" in body and _expect("string", thread_id, ("threadId",), errors) and not _UUID.match(thread_id):
        errors.append(FieldError(("threadId",), "Invalid uuid", "invalid_string"))

    timezone: Any = body.get("timezone")
    if "timezone" in body and _expect("string", timezone, ("timezone",), errors) and not _TIMEZONE.match(timezone):
        errors.append(FieldError(("timezone",), "Invalid timezone", "custom"))

    if errors:
        raise ApiError(ErrorKind.VALIDATION, f"{errors[0].field}: {errors[0].msg}", fields=errors)
    return _ChatRequest(agent_id=int(agent_id), message=message, thread_id=thread_id, timezone=timezone)


def _check_message(message: dict[str, Any], errors: list[FieldError]) -> None:
    if "role" not in message:
        errors.append(FieldError(("message", "role"), "Required", "invalid_type"))
    elif message["role"] != "user":
        errors.append(FieldError(("message", "role"), 'Invalid literal value, expected "user"', "invalid_literal"))
    if "id" in message:
        _expect("string", message["id"], ("message", "id"), errors)
    if "parts" not in message:
        errors.append(FieldError(("message", "parts"), "Required", "invalid_type"))
        return
    if not _expect("array", message["parts"], ("message", "parts"), errors):
        return
    for index, part in enumerate(message["parts"]):
        loc: tuple[str | int, ...] = ("message", "parts", index)
        if not _expect("object", part, loc, errors):
            continue
        if "type" not in part:
            errors.append(FieldError((*loc, "type"), "Required", "invalid_type"))
        elif _expect("string", part["type"], (*loc, "type"), errors) and part["type"] == "text":
            if "text" not in part:
                errors.append(FieldError((*loc, "text"), "Required", "invalid_type"))
            else:
                _expect("string", part["text"], (*loc, "text"), errors)
