"""xpander.ai: agents invoked sync, async or streamed; a task per thread; FastAPI-style errors."""

from __future__ import annotations

import uuid
from collections.abc import Iterable
from typing import Any, ClassVar

from aiohttp import web

from mockagent.context import RequestContext
from mockagent.encoding import json_response
from mockagent.errors import ApiError, ErrorKind, FieldError
from mockagent.model import PauseKind, PlatformKey
from mockagent.platforms.base import Platform, Route, stream_run
from mockagent.platforms.xpander.models import LLM_CATALOG, Decision, HitlBody, StreamBody, SyncBody, validate_body
from mockagent.platforms.xpander.records import XpanderRecords
from mockagent.platforms.xpander.render import TaskFrames, render_error
from mockagent.platforms.xpander.tasks import QUESTION_REJECTED, TaskRequest, TaskView, request_of, status_of
from mockagent.runs import Conversation, Limit, Run
from mockagent.runs import Decision as RunDecision
from mockagent.scenarios.model import Agent


class Xpander(Platform):
    key: ClassVar[PlatformKey] = PlatformKey.XPANDER
    title: ClassVar[str] = "xpander.ai"
    real_base_url: ClassVar[str] = "https://api.xpander.ai"
    client_base_path: ClassVar[str] = ""
    # CHOSEN: clock seconds a sync invoke (then 504) or a stream (then task_finished, error) waits for the task.
    gateway_timeout: ClassVar[float] = 600.0

    def routes(self) -> Iterable[Route]:
        agent = "/v1/agents/{agent_id}/invoke"
        task = "/v1/tasks/{task_id}"
        yield Route("POST", agent, self.on_invoke_agent)
        yield Route("POST", agent + "/async", self.on_start_task)
        yield Route("POST", agent + "/stream", self.on_stream_task)
        yield Route("GET", task, self.on_get_task)
        yield Route("GET", task + "/thread", self.on_get_thread)
        yield Route("POST", task + "/stop", self.on_stop_task)
        yield Route("POST", task + "/hitl", self.on_answer_task)
        # The spec's paths, and the /v1/misc/ ones xpander's own docs show, answer alike.
        for base in ("/v1", "/v1/misc"):
            yield Route("GET", base + "/llm_providers", self.on_list_providers)
            yield Route("GET", base + "/llm_providers/{provider}/models", self.on_list_models)

    def render_error(self, error: ApiError) -> web.Response:
        return render_error(error)

    # ── invoking ────────────────────────────────────────────────────────────────────────────────

    async def on_invoke_agent(self, request: web.Request, ctx: RequestContext) -> web.StreamResponse:
        run = await self._start(request, ctx)
        if not await run.settled(Limit(run.clock.now() + self.gateway_timeout, "gateway timeout")):
            raise ApiError(ErrorKind.TIMEOUT, "Gateway Timeout")
        return json_response(self._view(ctx).task(run, run.clock.now()))

    async def on_start_task(self, request: web.Request, ctx: RequestContext) -> web.StreamResponse:
        run = await self._start(request, ctx)
        return json_response(self._view(ctx).task(run, run.created_at, created=True))

    async def on_stream_task(self, request: web.Request, ctx: RequestContext) -> web.StreamResponse:
        run = await self._start(request, ctx, stream=True)
        # A stream passes the same gateway as a sync invoke: it gives up at the same limit, and the task with it.
        limit = Limit(run.clock.now() + self.gateway_timeout, "gateway timeout")
        return await stream_run(request, ctx, run, TaskFrames(run, self._view(ctx)), limit=limit)

    async def _start(self, request: web.Request, ctx: RequestContext, *, stream: bool = False) -> Run:
        credential = self._authenticate(request)
        raw = await self._read_body(request)
        body: SyncBody | StreamBody = validate_body(StreamBody, raw) if stream else validate_body(SyncBody, raw)
        # `version` (latest, "draft", a number) selects nothing here: every version is the scenario's agent.
        agent = self.engine.agent(self.key, request.match_info["agent_id"])
        if agent is None:
            raise ApiError(ErrorKind.NOT_FOUND, "Agent not found")
        self._check_scope(credential, agent.id)
        thread = self._thread(ctx, body.id, agent) if body.id is not None else None
        ctx.body, ctx.message = raw, body.input.text
        await self.admit(ctx, agent=agent, scope=body.id)
        async with ctx.session.lock:
            if thread is not None and thread.last is not None:
                # CHOSEN: a thread's last turn must be over before it is continued (409).
                status = status_of(thread.last, thread.last.clock.now())
                if status in ("pending", "executing", "paused"):
                    raise ApiError(ErrorKind.CONFLICT, f"Task is {status}; wait for it to finish before continuing it")
            conversation = thread or ctx.session.open_conversation(self.key, agent.id, str(uuid.uuid4()))
            run = self.start_turn(ctx, conversation)
        run.record = TaskRequest.of(body, agent)
        return run

    async def _read_body(self, request: web.Request) -> dict[str, Any]:
        if not request.body_exists:
            # FastAPI reports a required body that is absent as a missing field named "body".
            missing = FieldError(("body",), "Field required", "missing")
            raise ApiError(ErrorKind.VALIDATION, "body: Field required", fields=[missing])
        return await self.read_json(request)

    def _thread(self, ctx: RequestContext, task_id: str, agent: Agent) -> Conversation:
        """The thread an invocation with `id` continues."""
        conversation = ctx.session.conversation(self.key, task_id)
        if conversation is None or conversation.agent_id != agent.id:
            raise ApiError(ErrorKind.NOT_FOUND, "Task not found")
        return conversation

    def _view(self, ctx: RequestContext) -> TaskView:
        return ctx.session.records(XpanderRecords).view

    # ── tasks ───────────────────────────────────────────────────────────────────────────────────

    def _task_run(self, request: web.Request, ctx: RequestContext) -> Run:
        """The latest run of the task (thread) the path names."""
        credential = self._authenticate(request)
        conversation = ctx.session.conversation(self.key, request.match_info["task_id"])
        run = conversation.last if conversation is not None else None
        if conversation is None or run is None:
            raise ApiError(ErrorKind.NOT_FOUND, "Task not found")
        self._check_scope(credential, conversation.agent_id)
        ctx.run = run
        return run

    async def _admit_task_run(self, request: web.Request, ctx: RequestContext) -> Run:
        run = self._task_run(request, ctx)
        await self.admit(ctx, agent=run.agent, scope=run.conversation.id)
        return run

    async def on_get_task(self, request: web.Request, ctx: RequestContext) -> web.StreamResponse:
        run = await self._admit_task_run(request, ctx)
        run.poll()
        return json_response(self._view(ctx).task(run, run.clock.now()))

    async def on_get_thread(self, request: web.Request, ctx: RequestContext) -> web.StreamResponse:
        run = await self._admit_task_run(request, ctx)
        return json_response(self._view(ctx).thread(run.conversation, run.clock.now()))

    async def on_stop_task(self, request: web.Request, ctx: RequestContext) -> web.StreamResponse:
        run = await self._admit_task_run(request, ctx)
        if not run.cancel("stopped"):
            raise ApiError(ErrorKind.CONFLICT, f"Task is already {status_of(run, run.clock.now())}")
        return json_response(self._view(ctx).task(run, run.clock.now()))

    async def on_answer_task(self, request: web.Request, ctx: RequestContext) -> web.StreamResponse:
        run = self._task_run(request, ctx)
        body = validate_body(HitlBody, await self._read_body(request))
        await self.admit(ctx, agent=run.agent, scope=run.conversation.id)
        async with ctx.session.lock:
            pause = run.pause()
            if pause is None:
                raise ApiError(ErrorKind.CONFLICT, f"Task is {status_of(run, run.clock.now())}, not paused")
            if pause.kind is PauseKind.APPROVAL:
                run.resume(RunDecision.APPROVE if body.decision is Decision.APPROVE else RunDecision.REJECT)
            elif body.decision is Decision.REJECT:
                # The engine has no rejection for a question: the run is ended and shown as failed.
                request_of(run).rejected = True
                run.cancel(QUESTION_REJECTED)
            elif body.comment is None:
                raise ApiError(
                    ErrorKind.VALIDATION,
                    "comment: the answer to the question is required",
                    fields=[FieldError(("body", "comment"), "Field required", "missing")],
                )
            else:
                run.resume(RunDecision.ANSWER, answer=body.comment)
        return json_response(self._view(ctx).task(run, run.clock.now()))

    # ── catalog ─────────────────────────────────────────────────────────────────────────────────

    async def on_list_providers(self, request: web.Request, ctx: RequestContext) -> web.StreamResponse:
        self._authenticate(request)
        await self.admit(ctx)
        return json_response(
            [
                {
                    "id": str(uuid.uuid5(uuid.NAMESPACE_URL, f"xpander:llm:{ident}")),
                    "name": name,
                    "internal_identifier": ident,
                    "logo": None,
                    "description": description,
                }
                for ident, (name, description, _) in LLM_CATALOG.items()
            ]
        )

    async def on_list_models(self, request: web.Request, ctx: RequestContext) -> web.StreamResponse:
        self._authenticate(request)
        provider = request.match_info["provider"]
        entry = LLM_CATALOG.get(provider)
        if entry is None:
            raise ApiError(ErrorKind.NOT_FOUND, "LLM provider not found")
        await self.admit(ctx)
        return json_response([{"id": model, "name": name, "provider": provider} for model, name in entry[2].items()])

    # ── auth ────────────────────────────────────────────────────────────────────────────────────

    def _check_scope(self, key: str, agent_id: str) -> None:
        scope = self.credential_scope(key)  # xpander's key is a header of its own, not a bearer token
        if scope is not None and scope != agent_id:
            raise ApiError(ErrorKind.FORBIDDEN, "This API key may not use this agent")

    def _authenticate(self, request: web.Request) -> str:
        key = request.headers.get("x-api-key", "").strip()
        if not key:
            raise ApiError(ErrorKind.MISSING_CREDENTIAL, "Not authenticated")
        accepted = self.credentials()
        if accepted is not None and key not in accepted:
            raise ApiError(ErrorKind.INVALID_CREDENTIAL, "Invalid API key")
        return key
