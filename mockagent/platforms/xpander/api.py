"""xpander.ai: agents invoked sync, async or streamed; a task per thread; FastAPI-style errors."""

from __future__ import annotations

import math
import re
import uuid
from collections.abc import Iterable
from typing import Any, ClassVar

from aiohttp import web

from mockagent.errors import RunStateError
from mockagent.model import (
    Completed,
    Failed,
    Paused,
    PauseKind,
    PlatformKey,
    ReasoningDelta,
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
    hang_up_cancels,
    json_response,
)
from mockagent.platforms.xpander.requests import (
    LLM_CATALOG,
    Decision,
    HitlBody,
    StreamBody,
    SyncBody,
    validate_body,
)
from mockagent.platforms.xpander.tasks import META, QUESTION_REJECTED, REJECTED, TaskRequest, TaskView, status_of
from mockagent.runs import Conversation, Run
from mockagent.runs import Decision as RunDecision
from mockagent.scenarios.model import Agent

# Starlette's own wording where the detail is a fixed phrase; other kinds carry their message.
_FIXED_DETAIL = {
    ErrorKind.METHOD_NOT_ALLOWED: "Method Not Allowed",
    ErrorKind.RATE_LIMITED: "Rate limit exceeded",
    ErrorKind.INTERNAL: "Internal Server Error",
    ErrorKind.BAD_GATEWAY: "Bad Gateway",
    ErrorKind.UNAVAILABLE: "Service Unavailable",
    ErrorKind.TIMEOUT: "Gateway Timeout",
}
_JSON_POSITION = re.compile(r"\(char (\d+)\)")
_LOC_ROOTS = frozenset({"body", "query", "path", "header"})


class Xpander(Platform):
    key: ClassVar[PlatformKey] = PlatformKey.XPANDER
    title: ClassVar[str] = "xpander.ai"
    real_base_url: ClassVar[str] = "https://api.xpander.ai"
    client_base_path: ClassVar[str] = ""
    gateway_timeout: ClassVar[float] = 600.0  # CHOSEN: clock seconds a sync invoke waits before its 504

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        # CHOSEN: one organization per server; its id is fresh each start.
        self.view = TaskView(str(uuid.uuid4()), self.timestamp)

    def routes(self) -> Iterable[Route]:
        agent = "/v1/agents/{agent_id}/invoke"
        task = "/v1/tasks/{task_id}"
        yield Route("POST", agent, self._invoke_sync, "invoke")
        yield Route("POST", agent + "/async", self._invoke_async, "invoke-async")
        yield Route("POST", agent + "/stream", self._invoke_stream, "invoke-stream")
        yield Route("GET", task, self._get_task, "task")
        yield Route("GET", task + "/thread", self._get_thread, "thread")
        yield Route("POST", task + "/stop", self._stop, "stop")
        yield Route("POST", task + "/hitl", self._hitl, "hitl")
        # The spec's paths, and the /v1/misc/ ones xpander's own docs show, answer alike.
        for base in ("/v1", "/v1/misc"):
            yield Route("GET", base + "/llm_providers", self._providers, "llm-providers")
            yield Route("GET", base + "/llm_providers/{provider}/models", self._models, "llm-models")

    # ── errors ──────────────────────────────────────────────────────────────────────────────────

    def render_error(self, error: ApiError) -> web.Response:
        detail: Any
        match error.kind:
            case ErrorKind.VALIDATION:
                detail = [_field_detail(f) for f in error.fields] or [
                    {"type": "value_error", "loc": ["body"], "msg": error.message}
                ]
            case ErrorKind.INVALID_JSON:
                found = _JSON_POSITION.search(error.message)
                position = int(found.group(1)) if found else 0
                detail = [{"type": "json_invalid", "loc": ["body", position], "msg": "JSON decode error"}]
            case ErrorKind.INVALID_BODY:
                detail = [
                    {
                        "type": "model_attributes_type",
                        "loc": ["body"],
                        "msg": "Input should be a valid dictionary or object to extract fields from",
                    }
                ]
            case ErrorKind.NOT_FOUND if error.message == "Not found":
                detail = "Not Found"  # an unknown route, worded as Starlette does
            case kind:
                detail = _FIXED_DETAIL.get(kind, error.message)
        headers = None
        if error.kind is ErrorKind.RATE_LIMITED:
            headers = {"Retry-After": str(max(1, math.ceil(error.retry_after or 1)))}
        return json_response({"detail": detail}, status=FASTAPI_STATUS[error.kind], headers=headers)

    # ── invoking ────────────────────────────────────────────────────────────────────────────────

    async def _invoke_sync(self, request: web.Request) -> web.StreamResponse:
        run = await self._start(request)
        if not await run.settled(timeout=self.gateway_timeout):
            run.time_out("gateway timeout")
            raise ApiError(ErrorKind.TIMEOUT, "Gateway Timeout")
        return json_response(self.view.task(run, self.engine.clock.now()))

    async def _invoke_async(self, request: web.Request) -> web.StreamResponse:
        run = await self._start(request)
        return json_response(self.view.task(run, run.created_at, created=True))

    async def _invoke_stream(self, request: web.Request) -> web.StreamResponse:
        run = await self._start(request, stream=True)
        stream = await EventStream(request).open()
        with hang_up_cancels(run):
            await self._stream(stream, run)
        return await stream.close()

    async def _start(self, request: web.Request, *, stream: bool = False) -> Run:
        credential = self._authenticate(request)
        raw = await self._read_body(request)
        body: SyncBody | StreamBody = validate_body(StreamBody, raw) if stream else validate_body(SyncBody, raw)
        # `version` (latest, "draft", a number) selects nothing here: every version is the scenario's agent.
        agent = self.engine.agent(self.key, request.match_info["agent_id"])
        if agent is None:
            raise ApiError(ErrorKind.NOT_FOUND, "Agent not found")
        self._check_scope(credential, agent.id)
        thread = self._continuable(body.id, agent) if body.id is not None else None
        await self.admit(request, agent=agent, scope=body.id)
        conversation = thread or self.engine.open_conversation(self.key, agent)
        run = self.engine.start_run(agent, body.input.text, conversation, pause_style=self.pause_style)
        run.metadata[META] = TaskRequest.of(body, agent)
        return run

    async def _read_body(self, request: web.Request) -> dict[str, Any]:
        if not request.body_exists:
            # FastAPI reports a required body that is absent as a missing field named "body".
            missing = FieldError(("body",), "Field required", "missing")
            raise ApiError(ErrorKind.VALIDATION, "body: Field required", fields=[missing])
        return await self.read_json(request)

    def _continuable(self, task_id: str, agent: Agent) -> Conversation:
        """The thread an invocation with `id` continues; its last turn must be over (CHOSEN 409)."""
        conversation = self.engine.conversation(self.key, task_id)
        if conversation is None or conversation.agent_id != agent.id:
            raise ApiError(ErrorKind.NOT_FOUND, "Task not found")
        if conversation.runs:
            status = self._status(conversation.runs[-1])
            if status in ("pending", "executing", "paused"):
                raise ApiError(ErrorKind.CONFLICT, f"Task is {status}; wait for it to finish before continuing it")
        return conversation

    def _status(self, run: Run) -> str:
        return status_of(run, self.engine.clock.now())

    async def _stream(self, stream: EventStream, run: Run) -> None:
        view, clock = self.view, self.engine.clock
        created = view.task(run, run.created_at, created=True)
        await stream.send_json(view.frame(run, "task_created", run.created_at, created))
        await clock.sleep_until(run.started_at)
        if not run.status().is_terminal:
            executing = view.task(run, run.started_at)
            await stream.send_json(view.frame(run, "task_updated", run.started_at, executing))
        async for _, timed in run.follow():
            event, at = timed.event, timed.at
            match event:
                case TextDelta(text=text):
                    await stream.send_json(view.frame(run, "chunk", at, text))
                case ReasoningDelta(text=text):
                    await stream.send_json(view.frame(run, "think", at, text))
                case ToolCalled(name=name, args=args):
                    request = {"tool_name": name, "payload": args}
                    await stream.send_json(view.frame(run, "tool_call_request", at, request))
                case ToolReturned():
                    result = event.error if event.is_error else event.output
                    outcome = {"tool_name": event.name, "result": result, "is_error": event.is_error}
                    await stream.send_json(view.frame(run, "tool_call_result", at, outcome))
                case Paused():
                    # A pause ends the stream: the client answers through /hitl and polls the task.
                    await stream.send_json(view.frame(run, "task_updated", at, view.task(run, at)), terminal=True)
                    return
                case Completed() | Failed():
                    await stream.send_json(view.frame(run, "task_finished", at, view.task(run, at)), terminal=True)
                    return
        # Stopped or timed out while streaming: the run ended without an event of its own.
        now = clock.now()
        await stream.send_json(view.frame(run, "task_finished", now, view.task(run, now)), terminal=True)

    # ── tasks ───────────────────────────────────────────────────────────────────────────────────

    def _task_run(self, request: web.Request) -> Run:
        credential = self._authenticate(request)
        conversation = self.engine.conversation(self.key, request.match_info["task_id"])
        if conversation is None or not conversation.runs:
            raise ApiError(ErrorKind.NOT_FOUND, "Task not found")
        self._check_scope(credential, conversation.agent_id)
        return conversation.runs[-1]

    async def _get_task(self, request: web.Request) -> web.StreamResponse:
        run = self._task_run(request)
        run.poll()
        return json_response(self.view.task(run, self.engine.clock.now()))

    async def _get_thread(self, request: web.Request) -> web.StreamResponse:
        run = self._task_run(request)
        return json_response(self.view.thread(run.conversation, self.engine.clock.now()))

    async def _stop(self, request: web.Request) -> web.StreamResponse:
        run = self._task_run(request)
        if not run.cancel("stopped"):
            raise ApiError(ErrorKind.CONFLICT, f"Task is already {self._status(run)}")
        return json_response(self.view.task(run, self.engine.clock.now()))

    async def _hitl(self, request: web.Request) -> web.StreamResponse:
        run = self._task_run(request)
        body = validate_body(HitlBody, await self._read_body(request))
        pause = run.pause()
        if pause is None:
            raise ApiError(ErrorKind.CONFLICT, f"Task is {self._status(run)}, not paused")
        try:
            if pause.kind is PauseKind.APPROVAL:
                run.resume(RunDecision.APPROVE if body.decision is Decision.APPROVE else RunDecision.REJECT)
            elif body.decision is Decision.REJECT:
                # The engine has no rejection for a question: the run is ended and shown as failed.
                run.metadata[REJECTED] = True
                run.cancel(QUESTION_REJECTED)
            elif body.comment is None:
                raise ApiError(
                    ErrorKind.VALIDATION,
                    "comment: the answer to the question is required",
                    fields=[FieldError(("body", "comment"), "Field required", "missing")],
                )
            else:
                run.resume(RunDecision.ANSWER, answer=body.comment)
        except RunStateError as err:
            raise ApiError(ErrorKind.CONFLICT, str(err)) from None
        return json_response(self.view.task(run, self.engine.clock.now()))

    # ── catalog ─────────────────────────────────────────────────────────────────────────────────

    async def _providers(self, request: web.Request) -> web.StreamResponse:
        self._authenticate(request)
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

    async def _models(self, request: web.Request) -> web.StreamResponse:
        self._authenticate(request)
        provider = request.match_info["provider"]
        entry = LLM_CATALOG.get(provider)
        if entry is None:
            raise ApiError(ErrorKind.NOT_FOUND, "LLM provider not found")
        return json_response([{"id": model, "name": name, "provider": provider} for model, name in entry[2].items()])

    # ── auth ────────────────────────────────────────────────────────────────────────────────────

    def _authenticate(self, request: web.Request) -> str:
        key = request.headers.get("x-api-key", "").strip()
        if not key:
            raise ApiError(ErrorKind.MISSING_CREDENTIAL, "Not authenticated")
        accepted = self.credentials()
        if accepted is not None and key not in accepted:
            raise ApiError(ErrorKind.INVALID_CREDENTIAL, "Invalid API key")
        return key

    def _check_scope(self, key: str, agent_id: str) -> None:
        accepted = self.credentials()
        credential = accepted.get(key) if accepted is not None else None
        if credential is not None and credential.agent is not None and credential.agent != agent_id:
            raise ApiError(ErrorKind.FORBIDDEN, "This API key may not use this agent")


def _field_detail(error: FieldError) -> dict[str, Any]:
    loc = list(error.loc) if error.loc and error.loc[0] in _LOC_ROOTS else ["body", *error.loc]
    return {"type": error.type, "loc": loc, "msg": error.msg}
