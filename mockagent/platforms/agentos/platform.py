"""AgentOS: hosted agents invoked over HTTP (blocking or SSE), human-in-the-loop resumes, and ingest.

Every view of a hosted run (the invoke reply, the stream, GET /api/v1/runs/{id}, the reply and approval
endpoints) reads the same engine `Run`; approvals are that run's pause, looked up by its request id.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from typing import Any, ClassVar

from aiohttp import web

from mockagent.engine import Engine
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
from mockagent.platforms.agentos.auth import Key, authenticate
from mockagent.platforms.agentos.ingest import Ingest
from mockagent.platforms.agentos.wire import (
    DecideBody,
    HumanInputBody,
    InvokeBody,
    ReplyBody,
    RpcDecideBody,
    RpcListBody,
    RpcRunBody,
    message_of,
    ok,
    render_error,
)
from mockagent.platforms.base import (
    ApiError,
    ErrorKind,
    EventStream,
    Platform,
    Route,
    hang_up_cancels,
    json_response,
    validate,
)
from mockagent.runs import Conversation, Decision, Run, RunStatus
from mockagent.scenarios.model import Agent
from mockagent.store import Bounded

TERMINAL_FRAMES = frozenset({"done", "awaiting_approval", "awaiting_input", "error"})


@dataclass
class Approval:
    """A tool call waiting for a human, and what the human said."""

    run: Run
    pause: Paused
    created_at: float
    expires_at: float | None
    decision: str | None = None  # approved | rejected
    note: str | None = None
    decided_at: float | None = None

    @property
    def id(self) -> str:
        return self.pause.request_id

    def status(self) -> str:
        if self.decision is not None:
            return self.decision
        status = self.run.status()
        if status is RunStatus.EXPIRED:
            return "expired"
        return "pending" if status is RunStatus.PAUSED else "cancelled"


class AgentOS(Platform):
    key: ClassVar[PlatformKey] = PlatformKey.AGENTOS
    title: ClassVar[str] = "AgentOS"
    real_base_url: ClassVar[str] = "https://agentos-ai.dev"
    client_base_path: ClassVar[str] = ""
    body_limit: ClassVar[int] = 4_500_000  # CHOSEN: the request limit of the serverless host it runs on
    gateway_timeout: ClassVar[float] = 300.0  # CHOSEN: the SDK waits "just over the server's 300 s limit"

    def __init__(self, engine: Engine) -> None:
        super().__init__(engine)
        self.ingest = Ingest(self)
        self._approvals: Bounded[str, Approval] = Bounded(engine.store_limit)

    def routes(self) -> Iterable[Route]:
        return [
            Route("POST", "/api/v1/agents/{agentId}/invoke", self.on_invoke),
            Route("GET", "/api/v1/runs/{runId}", self.on_run),
            Route("POST", "/api/v1/runs/{runId}/reply", self.on_reply),
            Route("POST", "/api/v1/runs/{runId}/human-input", self.on_human_input),
            Route("GET", "/api/v1/approvals", self.on_approvals),
            Route("POST", "/api/v1/approvals/{approvalId}/decide", self.on_decide),
            Route("POST", "/api/v1/rpc/{method}", self.on_rpc),
            *self.ingest.routes(),
        ]

    def admin_routes(self) -> Iterable[Route]:
        return [*self.ingest.admin_routes(), Route("GET", "/approvals", self.on_admin_approvals)]

    def render_error(self, error: ApiError) -> web.Response:
        return render_error(error)

    # ── invoke ───────────────────────────────────────────────────────────────────────────────────

    async def on_invoke(self, request: web.Request) -> web.StreamResponse:
        key = authenticate(self, request)
        agent_id = request.match_info["agentId"]
        key.require_agent(agent_id)
        body = validate(InvokeBody, await self.read_json(request))
        body.check()
        agent = self.engine.agent(self.key, agent_id)
        if agent is None:
            raise ApiError(ErrorKind.NOT_FOUND, f"Agent {agent_id} not found.")
        session = self._session(agent, body)
        await self.admit(request, agent=agent, scope=body.session_id)
        # A new conversation only once the call is admitted: a 429 leaves nothing behind.
        conversation = session or self.engine.open_conversation(self.key, agent)
        run = self.engine.start_run(agent, message_of(body.input), conversation, pause_style=self.pause_style)
        run.metadata.update(
            prompt_variables=body.prompt_variables or {},
            session_id=conversation.id if body.session_id or body.start_session else None,
            external_user_id=body.external_user_id,
            parent_run_id=body.parent_run_id,
            history=[turn.model_dump() for turn in body.history or ()],
            test=body.test,
        )
        if body.stream:
            return await self._stream(request, run)
        return await self._settle(run)

    def _session(self, agent: Agent, body: InvokeBody) -> Conversation | None:
        """The conversation a session_id continues (checked); None: this invoke stands alone."""
        if body.session_id is None:
            return None
        conversation = self.engine.conversation(self.key, body.session_id)
        if conversation is None or conversation.agent_id != agent.id:
            raise ApiError(ErrorKind.NOT_FOUND, f"Session {body.session_id} not found.")
        last = conversation.runs[-1] if conversation.runs else None
        if last is not None and last.status() is RunStatus.PAUSED:
            raise ApiError(
                ErrorKind.CONFLICT,
                f"Session {body.session_id} has run {last.id} awaiting a human; resume it before invoking again.",
            )
        return conversation

    async def _settle(self, run: Run) -> web.Response:
        """The blocking answer: wait for the run to finish or pause, up to the gateway limit."""
        if not await run.settled(timeout=self.gateway_timeout):
            run.time_out("the gateway limit passed")
            raise ApiError(ErrorKind.TIMEOUT, f"The run did not finish within {self.gateway_timeout:g} s.")
        status = run.status()
        if status is RunStatus.COMPLETED:
            data: dict[str, Any] = {"run_id": run.id, "output": self._output(run)}
            if session_id := run.metadata.get("session_id"):
                data["session_id"] = session_id
            data["duration_ms"] = self._duration_ms(run)
            return ok(data)
        if status is RunStatus.PAUSED:
            return ok({"run_id": run.id, **self._awaiting(run), "output": None}, status=202)
        code, message = self._run_error(run)
        raise ApiError(ErrorKind.TIMEOUT if code == "TIMEOUT" else ErrorKind.INTERNAL, message, code=code)

    # ── streaming ────────────────────────────────────────────────────────────────────────────────

    async def _stream(self, request: web.Request, run: Run) -> web.StreamResponse:
        stream = EventStream(request)
        # The gateway limit for a stream: the run times out and the stream ends with an error frame.
        run.time_out_at(run.created_at + self.gateway_timeout, "the gateway limit passed")
        with hang_up_cancels(run):
            await stream.open()
            await stream.send_json({"type": "start", "run_id": run.id})
            async for _, timed in run.follow():
                frame = self._frame(run, timed.event)
                if frame is not None:
                    await stream.send_json(frame, terminal=frame["type"] in TERMINAL_FRAMES)
            if run.status() in (RunStatus.TIMED_OUT, RunStatus.CANCELLED):
                code, message = self._run_error(run)
                await stream.send_json({"type": "error", "code": code, "message": message}, terminal=True)
        return await stream.close()

    def _frame(self, run: Run, event: Event) -> dict[str, Any] | None:
        session = {"session_id": s} if (s := run.metadata.get("session_id")) else {}
        match event:
            case TextDelta(text=text) if text:
                return {"type": "chunk", "text": text}
            case ToolCalled(name=name):
                return {"type": "tool", "status": "calling", "name": name}
            case ToolReturned(name=name):
                return {"type": "tool", "status": "failed" if event.is_error else "returned", "name": name}
            case Paused(kind=PauseKind.APPROVAL):
                approval = self._register(run)
                return {"type": "awaiting_approval", "run_id": run.id, "approval_id": approval.id, **session}
            case Paused():
                return {"type": "awaiting_input", "run_id": run.id, **self._question(event), **session}
            case Failed(message=message):
                return {"type": "error", "code": "AGENT_ERROR", "message": message}
            case Completed():
                return {"type": "done", "run_id": run.id, "duration_ms": self._duration_ms(run), **session}
        return None

    # ── runs and human input ─────────────────────────────────────────────────────────────────────

    async def on_run(self, request: web.Request) -> web.Response:
        key = authenticate(self, request)
        return ok(self._poll(key, request.match_info["runId"]))

    async def on_reply(self, request: web.Request) -> web.Response:
        key = authenticate(self, request)
        key.require_workspace("Replying to a run")
        body = validate(ReplyBody, await self.read_json(request))
        return await self._answer(request, request.match_info["runId"], body.response, body.request_id)

    async def on_human_input(self, request: web.Request) -> web.Response:
        key = authenticate(self, request)
        key.require_workspace("Replying to a run")
        body = validate(HumanInputBody, await self.read_json(request))
        return await self._answer(request, request.match_info["runId"], body.response, None)

    async def _answer(self, request: web.Request, run_id: str, response: str, request_id: str | None) -> web.Response:
        run = self._hosted_run(run_id)
        pause = run.pause()
        if pause is None or pause.kind is not PauseKind.INPUT:
            status = self._wire_status(run)
            raise ApiError(ErrorKind.VALIDATION, f"Run {run_id} is not awaiting input (it is {status}).")
        if request_id is not None and request_id != pause.request_id:
            raise ApiError(
                ErrorKind.CONFLICT, f"request_id {request_id} is not the run's pending question ({pause.request_id})."
            )
        await self.admit(request, agent=run.agent, scope=run.conversation.id)
        run.resume(Decision.ANSWER, answer=response)
        return await self._settle(run)

    def _poll(self, key: Key, run_id: str) -> dict[str, Any]:
        run = self._hosted_run(run_id)
        key.require_agent(run.agent.id)
        run.poll()
        return self._run_view(run)

    def _hosted_run(self, run_id: str) -> Run:
        run = self.engine.run(run_id)
        if run is None or run.conversation.platform is not self.key:
            raise ApiError(ErrorKind.NOT_FOUND, f"Run {run_id} not found.")
        return run

    # ── approvals ────────────────────────────────────────────────────────────────────────────────

    async def on_approvals(self, request: web.Request) -> web.Response:
        key = authenticate(self, request)
        params: dict[str, Any] = dict(request.query)
        if params.get("limit", "").lstrip("-").isdigit():
            params["limit"] = int(params["limit"])  # a query string only has strings; the model wants an int
        return ok(self._list(key, validate(RpcListBody, params)))

    async def on_decide(self, request: web.Request) -> web.Response:
        key = authenticate(self, request)
        key.require_workspace("Deciding an approval")
        body = validate(DecideBody, await self.read_json(request))
        approved = body.decision == "approve"
        return ok(await self._decide(request, request.match_info["approvalId"], approved, body.decision_note))

    async def on_rpc(self, request: web.Request) -> web.Response:
        """The SDK's control-plane calls (``aos.approvals.*``, ``aos.runs.get``) this mock serves."""
        key = authenticate(self, request)
        method = request.match_info["method"]
        if method not in ("approvals_decide", "approvals_list", "runs_get"):
            raise ApiError(ErrorKind.NOT_FOUND, f"Unknown RPC method {method!r}.")
        raw = await self.read_json(request)
        if method == "approvals_list":
            return ok(self._list(key, validate(RpcListBody, raw)))
        if method == "runs_get":
            return ok(self._poll(key, validate(RpcRunBody, raw).run_id))
        key.require_workspace("Deciding an approval")
        body = validate(RpcDecideBody, raw)
        return ok(await self._decide(request, body.approval_id, body.decision == "approved", body.decision_note))

    async def on_admin_approvals(self, request: web.Request) -> web.Response:
        self._pending()  # registers approvals nobody has looked at yet
        return json_response([self._approval_view(a) for a in self._approvals.values()])

    def _list(self, key: Key, query: RpcListBody) -> list[dict[str, Any]]:
        key.require_workspace("Listing approvals")
        found = [a for a in self._pending() if query.agent_id is None or a.run.agent.id == query.agent_id]
        return [self._approval_view(a) for a in found[: query.limit]]

    async def _decide(self, request: web.Request, approval_id: str, approve: bool, note: str | None) -> dict[str, Any]:
        approval = self._approvals.get(approval_id) or next((a for a in self._pending() if a.id == approval_id), None)
        if approval is None:
            raise ApiError(ErrorKind.NOT_FOUND, f"Approval {approval_id} not found.")
        status = approval.status()
        if status == "expired":
            expired = self.timestamp(approval.expires_at)
            raise ApiError(ErrorKind.VALIDATION, f"Approval {approval_id} expired at {expired}; it can't be decided.")
        if status != "pending":
            raise ApiError(ErrorKind.VALIDATION, f"Approval {approval_id} was already {status}.")
        await self.admit(request, agent=approval.run.agent, scope=approval.run.conversation.id)
        approval.run.resume(Decision.APPROVE if approve else Decision.REJECT)
        approval.decision = "approved" if approve else "rejected"
        approval.note, approval.decided_at = note, self.engine.clock.now()
        return self._approval_view(approval)

    def _pending(self) -> list[Approval]:
        runs = self.engine.runs(self.key)
        return [self._register(run) for run in runs if (p := run.pause()) and p.kind is PauseKind.APPROVAL]

    def _register(self, run: Run) -> Approval:
        """The approval a run is paused on, remembered so that it can be decided (once) later."""
        pending = run.pending
        assert pending is not None, "only a run paused for approval has an approval"
        found = self._approvals.get(pending.pause.request_id)
        if found is None:
            found = Approval(run, pending.pause, pending.at, pending.expires_at)
            self._approvals[found.id] = found
        return found

    # ── views ────────────────────────────────────────────────────────────────────────────────────

    def _run_view(self, run: Run) -> dict[str, Any]:
        status = run.status()
        finished = run.moment(status) if status.is_terminal else None
        code_message = self._run_error(run) if status.is_terminal and status is not RunStatus.COMPLETED else None
        view: dict[str, Any] = {
            "run_id": run.id,
            "agent_id": run.agent.id,
            "status": self._wire_status(run),
            "output": self._output(run) if status is RunStatus.COMPLETED else None,
            "error": {"code": code_message[0], "message": code_message[1]} if code_message else None,
            "session_id": run.metadata.get("session_id"),
            "parent_run_id": run.metadata.get("parent_run_id"),
            "test": run.metadata.get("test", False),
            "created_at": self.timestamp(run.created_at),
            "finished_at": self.timestamp(finished),
            "duration_ms": round((finished - run.created_at) * 1000) if finished is not None else None,
        }
        if status is RunStatus.PAUSED:
            view.update(self._awaiting(run))
        return view

    def _wire_status(self, run: Run) -> str:
        status = run.status()
        match status:
            case RunStatus.QUEUED | RunStatus.RUNNING:
                return "running"
            case RunStatus.PAUSED:
                pause = run.pause()
                return "awaiting_approval" if pause and pause.kind is PauseKind.APPROVAL else "awaiting_input"
            case RunStatus.EXPIRED | RunStatus.TIMED_OUT:
                return "failed"  # CHOSEN: an expired approval counts as a rejection
        return status.value

    def _awaiting(self, run: Run) -> dict[str, Any]:
        pause = run.pause()
        assert pause is not None
        if pause.kind is PauseKind.APPROVAL:
            return {"awaiting_approval": {"approval_id": self._register(run).id}}
        return {"awaiting_input": self._question(pause)}

    @staticmethod
    def _question(pause: Paused) -> dict[str, Any]:
        question: dict[str, Any] = {"request_id": pause.request_id, "question": pause.question}
        if pause.options:
            question["options"] = list(pause.options)
        return question

    def _run_error(self, run: Run) -> tuple[str, str]:
        """The code and message of a run that did not complete (CHOSEN codes, see docs/platforms/agentos.md)."""
        match run.status():
            case RunStatus.FAILED:
                failure = run.failure()
                return "AGENT_ERROR", failure.message if failure else "The agent failed."
            case RunStatus.EXPIRED:
                return "APPROVAL_EXPIRED", "The approval expired before anyone decided it."
            case RunStatus.TIMED_OUT:
                return "TIMEOUT", f"The run did not finish within {self.gateway_timeout:g} s."
        return "CANCELLED", f"The run was cancelled: {run.end_reason or 'cancelled'}."

    @staticmethod
    def _output(run: Run) -> dict[str, Any]:
        return {"text": run.text()}

    @staticmethod
    def _duration_ms(run: Run) -> int:
        end = run.moment(RunStatus.COMPLETED)
        return round(((end if end is not None else run.clock.now()) - run.created_at) * 1000)

    def _approval_view(self, approval: Approval) -> dict[str, Any]:
        call = approval.pause.tool_call
        return {
            "id": approval.id,
            "approval_id": approval.id,
            "run_id": approval.run.id,
            "agent_id": approval.run.agent.id,
            "session_id": approval.run.metadata.get("session_id"),
            "tool_name": call.name if call else None,
            "tool_input": call.args if call else None,
            "status": approval.status(),
            "created_at": self.timestamp(approval.created_at),
            "expires_at": self.timestamp(approval.expires_at),
            "decided_at": self.timestamp(approval.decided_at),
            "decision_note": approval.note,
        }
