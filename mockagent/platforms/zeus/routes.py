"""Zeus — `https://zeus-api.agentspro.cn`: one SSE invoke endpoint and one SSE resume endpoint.

A Zeus session is a mockagent conversation. The API has no agent id in its path, so the scenario agent
is picked by `?agent=`, the `X-Mockagent-Agent` header, the session's own agent, or the agent named by
`llm_config.modelName`, falling back to `echo` (see `_pick_agent`). Errors follow FastAPI's shapes.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from typing import Any, ClassVar

from aiohttp import web

from mockagent.context import RequestContext
from mockagent.errors import ApiError, ErrorKind, FieldError
from mockagent.ids import uuid4
from mockagent.model import Paused, PauseKind, PlatformKey
from mockagent.platforms.base import Platform, Route, stream_run
from mockagent.platforms.bodies import validate
from mockagent.platforms.zeus.models import InvokeBody, ResumeBody
from mockagent.platforms.zeus.render import Json, RunFrames, render_error, tool_call_frame
from mockagent.runs import Conversation, Decision, Limit, Run, RunStatus
from mockagent.scenarios.model import Agent
from mockagent.sessions import Session

AGENT_HEADER = "X-Mockagent-Agent"
FALLBACK_AGENT = "echo"
STREAM_HEADERS = {"X-Accel-Buffering": "no"}


@dataclass
class Invocation:
    """What a run keeps of its invoke beside the message."""

    mode: str
    model: str
    # A pause decided from outside (the admin API) that no resume has streamed yet: where its continuation
    # starts in the timeline, and the frames to show first. The client's resume streams it (CHOSEN).
    decided: tuple[int, list[Json]] | None = None


class Zeus(Platform):
    key: ClassVar[PlatformKey] = PlatformKey.ZEUS
    title: ClassVar[str] = "Zeus"
    real_base_url: ClassVar[str] = "https://zeus-api.agentspro.cn"
    client_base_path: ClassVar[str] = ""
    # CHOSEN: a stream (invoke or resume) longer than this many clock seconds ends with a timeout error frame.
    gateway_timeout: ClassVar[float] = 300.0

    def routes(self) -> Iterable[Route]:
        return [
            Route("POST", "/api/agent/invoke", self.on_invoke_agent),
            Route("POST", "/api/agent/resume", self.on_resume_agent),
        ]

    def decide(
        self,
        session: Session,
        run: Run,
        decision: Decision,
        answer: str = "",
        args: dict[str, Any] | None = None,
    ) -> None:
        """Resumed from outside, the run goes on; the client's next resume streams what follows (with the
        call as approved first, as a "modified" decision shows it)."""
        pause = run.pause()
        start = len(run.timeline)
        run.resume(decision, answer, args=args)
        call = pause.tool_call if pause is not None else None
        approved = call is not None and args is not None and decision is Decision.APPROVE
        prelude = [tool_call_frame(call.call_id, call.name, args)] if approved and call and args else []
        if isinstance(run.record, Invocation):
            run.record.decided = (start, prelude)

    def render_error(self, error: ApiError) -> web.Response:
        return render_error(error)

    # ── handlers ─────────────────────────────────────────────────────────────────────────────────

    async def on_invoke_agent(self, request: web.Request, ctx: RequestContext) -> web.StreamResponse:
        self._authenticate(request)
        raw = await self.read_json(request)
        body = validate(InvokeBody, raw)
        agent = self._pick_agent(request, ctx, body)
        self.check_scope(request.headers, agent.id, "Not allowed to use this agent")
        ctx.body, ctx.message = raw, body.message
        await self.admit(ctx, agent=agent, scope=body.session_id)
        async with ctx.session.lock:  # checked and started with no wait between: one turn at a time
            existing = ctx.session.conversation(self.key, body.session_id) if body.session_id else None
            if existing is not None and existing.last is not None:
                _check_idle(existing.last)
            conversation = existing or ctx.session.open_conversation(self.key, agent.id, body.session_id or uuid4())
            interrupting = {
                name
                for name, config in (body.tool_interrupt_config or {}).items()
                if config.enabled and config.requires_interrupt
            }
            run = self.start_turn(ctx, conversation, require_approval=interrupting)
        run.record = Invocation(body.mode, body.llm_config.modelName)  # never llm_config's apiKey
        return await self._stream(request, ctx, run, start=0)

    async def on_resume_agent(self, request: web.Request, ctx: RequestContext) -> web.StreamResponse:
        self._authenticate(request)
        raw = await self.read_json(request)
        body = validate(ResumeBody, raw)
        conversation = ctx.session.conversation(self.key, body.session_id)
        run = conversation.last if conversation is not None else None
        if conversation is None or run is None:
            raise ApiError(ErrorKind.NOT_FOUND, "Session not found")
        self.check_scope(request.headers, run.agent.id, "Not allowed to use this agent")
        ctx.body, ctx.run = raw, run
        await self.admit(ctx, agent=run.agent, scope=conversation.id)
        async with ctx.session.lock:
            pause = run.pause()
            invocation = run.record if isinstance(run.record, Invocation) else None
            if invocation is not None and invocation.decided is not None:
                # Decided through the admin API: this resume shows the continuation, whatever it decides
                # (up to the next pause, if the script has one: the client has not seen that one yet).
                (start, prelude), invocation.decided = invocation.decided, None
                return await self._stream(request, ctx, run, start=start, prelude=prelude)
            if pause is None:
                status = run.status()
                reason = "the interrupt expired" if status is RunStatus.EXPIRED else f"the session is {status.value}"
                raise ApiError(ErrorKind.CONFLICT, f"Session has no pending interrupt ({reason})")
            decision, answer, prelude = _decide(pause, body)
            start = len(run.timeline)
            run.resume(decision, answer)
        return await self._stream(request, ctx, run, start=start, prelude=prelude)

    async def _stream(
        self, request: web.Request, ctx: RequestContext, run: Run, *, start: int, prelude: Iterable[Json] = ()
    ) -> web.StreamResponse:
        limit = Limit(run.clock.now() + self.gateway_timeout, "gateway timeout")
        frames = RunFrames(run, prelude)
        return await stream_run(request, ctx, run, frames, headers=STREAM_HEADERS, start=start, limit=limit)

    # ── auth and agent choice ────────────────────────────────────────────────────────────────────

    def _authenticate(self, request: web.Request) -> None:
        self.bearer_jwt(request, missing="Not authenticated", invalid="Could not validate credentials")

    def _pick_agent(self, request: web.Request, ctx: RequestContext, body: InvokeBody) -> Agent:
        """The agent for this turn.

        Order: `?agent=`, the X-Mockagent-Agent header, the session's agent, the agent named by
        llm_config.modelName, `echo`. A session stays with its agent: naming another one is a 409.
        """
        explicit = request.query.get("agent") or request.headers.get(AGENT_HEADER)
        agent = self.engine.agent(self.key, explicit) if explicit else None
        if explicit and agent is None:
            raise ApiError(ErrorKind.NOT_FOUND, "Agent not found")
        conversation = ctx.session.conversation(self.key, body.session_id) if body.session_id else None
        if conversation is not None and conversation.last is not None:
            return self._session_agent(conversation, agent)
        agent = (
            agent
            or self.engine.agent(self.key, body.llm_config.modelName)
            or self.engine.agent(self.key, FALLBACK_AGENT)
        )
        if agent is None:
            raise ApiError(ErrorKind.NOT_FOUND, "Agent not found")
        return agent

    def _session_agent(self, conversation: Conversation, named: Agent | None) -> Agent:
        if named is not None and named.id != conversation.agent_id:
            raise ApiError(ErrorKind.CONFLICT, f"Session {conversation.id} belongs to agent {conversation.agent_id}")
        own = self.engine.agent(self.key, conversation.agent_id)
        if own is None:  # the scenarios were reloaded without it
            raise ApiError(ErrorKind.NOT_FOUND, "Agent not found")
        return own


def _check_idle(run: Run) -> None:
    """A new message may not start while the session's last turn is still going or waiting."""
    status = run.status()
    if status is RunStatus.PAUSED:
        raise ApiError(ErrorKind.CONFLICT, "Session has a pending interrupt; resume it first")
    if not status.is_terminal:
        raise ApiError(ErrorKind.CONFLICT, "Session is busy with another request")


def _decide(pause: Paused, body: ResumeBody) -> tuple[Decision, str, list[Json]]:
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
    prelude: list[Json] = []
    if result.decision == "modified":
        # The call as it is actually made; the scripted result follows.
        prelude.append(tool_call_frame(call.call_id, call.name, result.modified_args or {}))
    return Decision.APPROVE, "", prelude


def _raise_fields(fields: list[FieldError]) -> None:
    if fields:
        raise ApiError(ErrorKind.VALIDATION, f"{fields[0].field}: {fields[0].msg}", fields=fields)
