"""Zeus — `https://zeus-api.agentspro.cn`: one SSE invoke endpoint and one SSE resume endpoint.

A Zeus session is a mockagent conversation. The API has no agent id in its path, so the scenario agent
is picked by `?agent=`, the `X-Mockagent-Agent` header, the session's own agent, or the agent named by
`llm_config.modelName`, falling back to `echo` (see `_pick_agent`). Errors follow FastAPI's shapes.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Mapping
from typing import Annotated, Any, ClassVar, Literal

from aiohttp import web
from pydantic import BaseModel, ConfigDict, Field

from mockagent.errors import RunStateError
from mockagent.model import (
    Completed,
    Event,
    Failed,
    Paused,
    PauseKind,
    PlatformKey,
    TextDelta,
    ToolCalled,
    ToolReturned,
)
from mockagent.platforms.base import (
    FASTAPI_STATUS,
    ApiError,
    ErrorKind,
    EventStream,
    FieldError,
    Platform,
    Route,
    bearer,
    hang_up_cancels,
    json_response,
    validate,
)
from mockagent.runs import Decision, Run, RunStatus
from mockagent.scenarios.model import Agent

Frame = dict[str, Any]
AGENT_HEADER = "X-Mockagent-Agent"
FALLBACK_AGENT = "echo"


# ── request models ─────────────────────────────────────────────────────────────────────────────────
# Each builds its validator on first use (defer_build), not at import: building them all took a
# large share of the server's start-up.


class LlmConfig(BaseModel):
    model_config = ConfigDict(defer_build=True)
    baseUrl: str  # the wire spells these in camelCase
    apiKey: str
    modelName: str
    temperature: Annotated[float, Field(ge=0, le=2)] | None = None  # CHOSEN range (OpenAI's)


class Tool(BaseModel):
    # Other keys (base_url, api_key, …) are accepted and dropped, so a tool's secret is never kept.
    model_config = ConfigDict(defer_build=True)
    type: Literal["mcp", "oauth"]
    name: str


class ChatMessage(BaseModel):
    model_config = ConfigDict(defer_build=True)
    role: Literal["user", "assistant", "system"]
    content: str
    timestamp: str | int | float | None = None


class InterruptConfig(BaseModel):
    model_config = ConfigDict(defer_build=True)
    enabled: bool = True
    requires_interrupt: bool = False


class InvokeBody(BaseModel):
    model_config = ConfigDict(defer_build=True)
    message: Annotated[str, Field(min_length=1)]
    llm_config: LlmConfig
    session_id: Annotated[str, Field(min_length=1, max_length=256)] | None = None
    mode: Literal["agent", "ask", "plan"] = "agent"
    tools: list[Tool] = []
    enable_sandbox: bool = True
    enable_web_search: bool = False
    knowledge_base_ids: list[str] = []
    enable_memory: bool = False
    skills: dict[str, Any] | None = None
    chat_history: list[ChatMessage] = []
    resource_files: list[dict[str, Any]] = []
    sandbox_files: list[dict[str, Any]] = []
    chat_attachments: list[dict[str, Any]] = []
    tool_interrupt_config: dict[str, InterruptConfig] | None = None


class ToolCallResult(BaseModel):
    model_config = ConfigDict(defer_build=True)
    tool_call_id: str
    tool_name: str
    decision: Literal["approved", "rejected", "modified", "timeout"]
    modified_args: dict[str, Any] | None = None


class ResumeBody(BaseModel):
    model_config = ConfigDict(defer_build=True)
    session_id: Annotated[str, Field(min_length=1)]
    llm_config: LlmConfig
    tool_call_results: list[ToolCallResult]
    human_order: str | None = None
    tool_interrupt_config: dict[str, InterruptConfig] | None = None


# ── the platform ───────────────────────────────────────────────────────────────────────────────────


class Zeus(Platform):
    key: ClassVar[PlatformKey] = PlatformKey.ZEUS
    title: ClassVar[str] = "Zeus"
    real_base_url: ClassVar[str] = "https://zeus-api.agentspro.cn"
    client_base_path: ClassVar[str] = ""
    # CHOSEN: a stream (invoke or resume) longer than this many clock seconds ends with a timeout error frame.
    gateway_timeout: ClassVar[float] = 300.0

    def routes(self) -> Iterable[Route]:
        return [
            Route("POST", "/api/agent/invoke", self.invoke, "zeus-invoke"),
            Route("POST", "/api/agent/resume", self.resume, "zeus-resume"),
        ]

    # ── handlers ─────────────────────────────────────────────────────────────────────────────────

    async def invoke(self, request: web.Request) -> web.StreamResponse:
        self._authenticate(request)
        body = validate(InvokeBody, await self.read_json(request))
        agent, existing = self._pick_agent(request, body)
        if existing is not None:
            _check_idle(existing)
        self._check_scope(request, agent)
        await self.admit(request, agent=agent, scope=body.session_id)
        conversation = self.engine.open_conversation(self.key, agent, body.session_id)
        interrupting = {
            name
            for name, config in (body.tool_interrupt_config or {}).items()
            if config.enabled and config.requires_interrupt
        }
        run = self.engine.start_run(
            agent, body.message, conversation, pause_style=self.pause_style, require_approval=interrupting
        )
        # Only what a view may show; llm_config's apiKey is never kept.
        run.metadata.update(mode=body.mode, model=body.llm_config.modelName)
        return await self._stream(request, run, start=0)

    async def resume(self, request: web.Request) -> web.StreamResponse:
        self._authenticate(request)
        body = validate(ResumeBody, await self.read_json(request))
        conversation = self.engine.conversation(self.key, body.session_id)
        if conversation is None or not conversation.runs:
            raise ApiError(ErrorKind.NOT_FOUND, "Session not found")
        run = conversation.runs[-1]
        self._check_scope(request, run.agent)
        pause = run.pause()
        if pause is None:
            status = run.status()
            reason = "the interrupt expired" if status is RunStatus.EXPIRED else f"the session is {status.value}"
            raise ApiError(ErrorKind.CONFLICT, f"Session has no pending interrupt ({reason})")
        decision, answer, prelude = _decide(pause, body)
        await self.admit(request, agent=run.agent, scope=conversation.id)
        start = len(run.timeline)
        try:
            run.resume(decision, answer)
        except RunStateError as err:  # expired between the check and now
            raise ApiError(ErrorKind.CONFLICT, f"Session has no pending interrupt ({err})") from None
        return await self._stream(request, run, start=start, prelude=prelude)

    # ── auth and agent choice ────────────────────────────────────────────────────────────────────

    def _authenticate(self, request: web.Request) -> None:
        self.bearer_jwt(request, missing="Not authenticated", invalid="Could not validate credentials")

    def _check_scope(self, request: web.Request, agent: Agent) -> None:
        known = self.credentials()
        credential = known.get(bearer(request) or "") if known is not None else None
        if credential is not None and credential.agent is not None and credential.agent != agent.id:
            raise ApiError(ErrorKind.FORBIDDEN, "Not allowed to use this agent")

    def _pick_agent(self, request: web.Request, body: InvokeBody) -> tuple[Agent, Run | None]:
        """The agent for this turn, and the session's last run when the session already exists.

        Order: `?agent=`, the X-Mockagent-Agent header, the session's agent, the agent named by
        llm_config.modelName, `echo`. A session stays with its agent: naming another one is a 409.
        """
        explicit = request.query.get("agent") or request.headers.get(AGENT_HEADER)
        agent = self._agent(explicit) if explicit else None
        if explicit and agent is None:
            raise ApiError(ErrorKind.NOT_FOUND, "Agent not found")
        conversation = self.engine.conversation(self.key, body.session_id) if body.session_id else None
        if conversation is not None and conversation.runs:
            if agent is not None and agent.id != conversation.agent_id:
                raise ApiError(
                    ErrorKind.CONFLICT,
                    f"Session {conversation.id} belongs to agent {conversation.agent_id}",
                )
            own = self._agent(conversation.agent_id)
            if own is None:  # the scenarios were reloaded without it
                raise ApiError(ErrorKind.NOT_FOUND, "Agent not found")
            return own, conversation.runs[-1]
        agent = agent or self._agent(body.llm_config.modelName) or self._agent(FALLBACK_AGENT)
        if agent is None:
            raise ApiError(ErrorKind.NOT_FOUND, "Agent not found")
        return agent, None

    def _agent(self, agent_id: str) -> Agent | None:
        return self.engine.agent(self.key, agent_id)

    # ── streaming ────────────────────────────────────────────────────────────────────────────────

    async def _stream(
        self, request: web.Request, run: Run, *, start: int, prelude: Iterable[Frame] = ()
    ) -> web.StreamResponse:
        """Write the run's frames from timeline index `start` as each one's moment comes."""
        session_id = run.conversation.id
        stream = EventStream(request, headers={"X-Accel-Buffering": "no"})
        run.time_out_at(self.engine.clock.now() + self.gateway_timeout, "gateway timeout")
        with hang_up_cancels(run):
            await stream.open()
            for frame in prelude:
                await stream.send_json(frame)
            async for _, timed in run.follow(start):
                for frame in _frames(timed.event, session_id):
                    await stream.send_json(frame, terminal=frame["type"] in TERMINAL)
            ending = _ending(run)
            if ending is not None:
                await stream.send_json(ending, terminal=True)
        return await stream.close()

    # ── errors ───────────────────────────────────────────────────────────────────────────────────

    def render_error(self, error: ApiError) -> web.Response:
        status = FASTAPI_STATUS[error.kind]
        headers: dict[str, str] = {}
        detail: Any = error.message
        if error.kind in (ErrorKind.VALIDATION, ErrorKind.INVALID_JSON, ErrorKind.INVALID_BODY):
            detail = [{"loc": _loc(f), "msg": f.msg, "type": f.type} for f in _field_errors(error)]
        elif error.kind in (ErrorKind.MISSING_CREDENTIAL, ErrorKind.INVALID_CREDENTIAL):
            headers["WWW-Authenticate"] = "Bearer"
        if error.kind is ErrorKind.RATE_LIMITED or error.retry_after is not None:
            headers["Retry-After"] = str(max(1, error.retry_after or 1))
        return json_response({"detail": detail}, status=status, headers=headers)


TERMINAL = frozenset({"done", "error", "interrupt"})

_JSON_POSITION = re.compile(r"\(char (\d+)\)")


def _field_errors(error: ApiError) -> tuple[FieldError, ...]:
    """FastAPI's entries for a body that is not JSON, not an object, or not valid."""
    if error.kind is ErrorKind.INVALID_JSON:
        position = _JSON_POSITION.search(error.message)
        loc: tuple[str | int, ...] = (int(position.group(1)),) if position else ()
        return (FieldError(loc, "JSON decode error", "json_invalid"),)
    if error.kind is ErrorKind.INVALID_BODY:
        msg = "Input should be a valid dictionary or object to extract fields from"
        return (FieldError((), msg, "model_attributes_type"),)
    return error.fields or (FieldError((), error.message, "value_error"),)


def _loc(error: FieldError) -> list[str | int]:
    """FastAPI's loc: where the field is (body unless a header or the query), then its path."""
    if error.loc and error.loc[0] in ("header", "query", "path"):
        return list(error.loc)
    return ["body", *error.loc]


def _check_idle(run: Run) -> None:
    """A new message may not start while the session's last turn is still going or waiting."""
    status = run.status()
    if status is RunStatus.PAUSED:
        raise ApiError(ErrorKind.CONFLICT, "Session has a pending interrupt; resume it first")
    if not status.is_terminal:
        raise ApiError(ErrorKind.CONFLICT, "Session is busy with another request")


def _decide(pause: Paused, body: ResumeBody) -> tuple[Decision, str, list[Frame]]:
    """The engine decision for a resume body, and any frame to show before the rest of the run."""
    pending = {pause.tool_call.call_id} if pause.tool_call is not None else set()
    errors = [
        FieldError(("tool_call_results", i, "tool_call_id"), f"No pending tool call {r.tool_call_id!r}")
        for i, r in enumerate(body.tool_call_results)
        if r.tool_call_id not in pending
    ]
    errors += [
        FieldError(("tool_call_results", i, "modified_args"), "Field required when decision is 'modified'", "missing")
        for i, r in enumerate(body.tool_call_results)
        if r.decision == "modified" and r.modified_args is None
    ]
    if pause.kind is PauseKind.INPUT:
        if not body.human_order:
            errors.append(FieldError(("human_order",), "Field required to answer the question", "missing"))
        _raise_fields(errors)
        return Decision.ANSWER, body.human_order or "", []
    call = pause.tool_call
    assert call is not None  # an approval pause always carries its call
    result = next((r for r in body.tool_call_results if r.tool_call_id == call.call_id), None)
    if result is None:
        errors.append(FieldError(("tool_call_results",), f"No decision for pending tool call {call.call_id!r}"))
    _raise_fields(errors)
    assert result is not None
    if result.decision in ("rejected", "timeout"):
        return Decision.REJECT, "", []
    prelude: list[Frame] = []
    if result.decision == "modified":
        # The call as it is actually made; the scripted result follows.
        prelude.append(_tool_call_frame(call.call_id, call.name, result.modified_args or {}))
    return Decision.APPROVE, "", prelude


def _raise_fields(fields: list[FieldError]) -> None:
    if fields:
        raise ApiError(ErrorKind.VALIDATION, f"{fields[0].field}: {fields[0].msg}", fields=fields)


# ── frames ─────────────────────────────────────────────────────────────────────────────────────────


def _tool_call_frame(call_id: str, name: str, args: Mapping[str, Any]) -> Frame:
    return {"type": "tool_call", "tool_name": name, "tool_args": dict(args), "tool_call_id": call_id}


def _frames(event: Event, session_id: str) -> list[Frame]:
    """Zeus's frames for one neutral event (reasoning and resume markers show nothing)."""
    match event:
        case TextDelta(text=text):
            return [{"type": "message_chunk", "content": text}]
        case ToolCalled():
            frame = _tool_call_frame(event.call_id, event.name, event.args)
            if event.requires_approval:
                frame["requires_approval"] = True
            return [frame]
        case ToolReturned():
            result = event.output if event.error is None else event.error
            return [{"type": "tool_result", "tool_name": event.name, "result": result}]
        case Paused(kind=PauseKind.APPROVAL, tool_call=ToolCalled() as call):
            tool_calls = [{"tool_call_id": call.call_id, "tool_name": call.name, "tool_args": call.args}]
            return [{"type": "interrupt", "session_id": session_id, "tool_calls": tool_calls}]
        case Paused():
            return [
                {
                    "type": "interrupt",
                    "session_id": session_id,
                    "tool_calls": [],
                    "question": event.question,
                    "options": list(event.options),
                }
            ]
        case Failed(message=message, code=code):
            return [{"type": "error", "error": message, "error_code": code}]
        case Completed():
            return [{"type": "done", "session_id": session_id}]
    return []


def _ending(run: Run) -> Frame | None:
    """The terminal frame for a run the engine ended early (its timeline has none)."""
    match run.status():
        case RunStatus.TIMED_OUT:
            return {"type": "error", "error": "Gateway timeout: the stream took too long", "error_code": "timeout"}
        case RunStatus.CANCELLED:
            return {"type": "error", "error": "The run was cancelled", "error_code": "cancelled"}
    return None


__all__ = ["InvokeBody", "ResumeBody", "Zeus"]
