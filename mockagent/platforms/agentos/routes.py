"""AgentOS (https://agentos-ai.dev): hosted agents invoked over HTTP (blocking or SSE), human-in-the-loop
resumes, approvals, and run ingest.

Every view of a hosted run (the invoke reply, the stream, GET /api/v1/runs/{id}, the reply and approval
endpoints, the control plane's runs and conversations) reads the same `Run`; approvals are that run's
pause, looked up by its request id.
"""

from __future__ import annotations

import re
import uuid
from collections.abc import Awaitable, Callable, Iterable, Mapping
from typing import Any, ClassVar, TypeVar

from aiohttp import web

from mockagent.context import RequestContext
from mockagent.encoding import json_response
from mockagent.errors import ApiError, ErrorKind
from mockagent.ids import uuid4
from mockagent.model import PauseKind, PlatformKey
from mockagent.platforms.agentos.approvals import Approvals
from mockagent.platforms.agentos.auth import Key, authenticate
from mockagent.platforms.agentos.control import (
    NOT_MODELLED,
    NOT_MODELLED_PATHS,
    SERVED,
    path_not_modelled,
    rpc_not_modelled,
)
from mockagent.platforms.agentos.conversations import HostedSession, detail, hosted_session, summary
from mockagent.platforms.agentos.ingest import IngestRun, ingest_view
from mockagent.platforms.agentos.models import (
    CancelBody,
    CompleteBody,
    DecideBody,
    EventsBody,
    FailBody,
    HumanInputBody,
    InvokeBody,
    ReplyBody,
    RpcConversationBody,
    RpcConversationGetBody,
    RpcConversationsBody,
    RpcDecideBody,
    RpcEventsBody,
    RpcInvokeBody,
    RpcListBody,
    RpcRunBody,
    RpcRunsBody,
    RunRef,
    RunStartBody,
    TaskBody,
    message_of,
)
from mockagent.platforms.agentos.records import AgentOSRecords
from mockagent.platforms.agentos.render import RunFrames, event_log, ok, render_error
from mockagent.platforms.agentos.runs import (
    GATEWAY_TIMEOUT,
    HostedRun,
    awaiting,
    duration_ms,
    output,
    run_error,
    run_view,
    wire_status,
)
from mockagent.platforms.base import Platform, Route, iso, stream_run
from mockagent.platforms.bodies import validate
from mockagent.platforms.unmodelled import serves_nothing
from mockagent.runs import Conversation, Decision, Limit, Run, RunStatus
from mockagent.scenarios.model import Agent
from mockagent.sessions import Session

R = TypeVar("R", bound=RunRef)
Body = dict[str, Any]
Rpc = Callable[[web.Request, RequestContext, Key, Body], Awaitable[web.StreamResponse]]
CANCELLED_BY_CLIENT = "the client cancelled it"
ADMIN_NOTE = "decided through the mockagent admin API"  # CHOSEN: the decision_note of such an approval
_OK = {"ok": True}
_USAGE_KEYS = ("input_tokens", "output_tokens", "cache_read_tokens", "cache_creation_tokens")
_INTEGER = re.compile(r"-?[0-9]{1,9}")  # ASCII digits only: str.isdigit takes "²", which int() refuses


def _serves_rpc(params: Mapping[str, str]) -> bool:
    """The RPC route models every method but those the SDK has that mockagent does not (a raw stub answers
    those without `shadow`)."""
    return params.get("method") not in NOT_MODELLED


class AgentOS(Platform):
    key: ClassVar[PlatformKey] = PlatformKey.AGENTOS
    title: ClassVar[str] = "AgentOS"
    real_base_url: ClassVar[str] = "https://agentos-ai.dev"
    client_base_path: ClassVar[str] = ""
    body_limit: ClassVar[int] = 4_500_000  # CHOSEN: the request limit of the serverless host it runs on
    gateway_timeout: ClassVar[float] = GATEWAY_TIMEOUT

    def routes(self) -> Iterable[Route]:
        ingest = "/api/ingest/v1"
        return [
            Route("POST", "/api/v1/agents/{agentId}/invoke", self.on_invoke_agent),
            Route("GET", "/api/v1/runs/{runId}", self.on_get_run),
            Route("POST", "/api/v1/runs/{runId}/reply", self.on_reply_run),
            Route("POST", "/api/v1/runs/{runId}/human-input", self.on_answer_run),
            Route("GET", "/api/v1/approvals", self.on_list_approvals),
            Route("POST", "/api/v1/approvals/{approvalId}/decide", self.on_decide_approval),
            Route("POST", "/api/v1/rpc/{method}", self.on_call_rpc, serves=_serves_rpc),
            Route("POST", f"{ingest}/run/start", self.on_start_ingest),
            Route("POST", f"{ingest}/events", self.on_report_events),
            Route("POST", f"{ingest}/run/complete", self.on_complete_ingest),
            Route("POST", f"{ingest}/run/fail", self.on_fail_ingest),
            Route("POST", f"{ingest}/run/cancel", self.on_cancel_ingest),
            Route("POST", f"{ingest}/tasks", self.on_report_task),
            *(Route("POST", path, self.on_call_unmodelled, serves=serves_nothing) for path in NOT_MODELLED_PATHS),
        ]

    def admin_routes(self) -> Iterable[Route]:
        return [
            Route("GET", "/ingest/runs", self.on_list_ingest),
            Route("GET", "/ingest/runs/{runId}", self.on_get_ingest),
            Route("GET", "/approvals", self.on_list_seen_approvals),
        ]

    def decide(
        self,
        session: Session,
        run: Run,
        decision: Decision,
        answer: str = "",
        args: dict[str, Any] | None = None,
    ) -> None:
        """As the approvals API decides: the run's approval shows the decision (a later decide through
        AgentOS finds it already decided)."""
        run.check_resume(decision)
        pause = run.pause()
        approval = (
            session.records(AgentOSRecords).approvals.of(run)
            if pause is not None and pause.kind is PauseKind.APPROVAL
            else None
        )
        run.resume(decision, answer, args=args)
        if approval is not None:
            approval.decide(decision is Decision.APPROVE, ADMIN_NOTE)

    def render_error(self, error: ApiError) -> web.Response:
        return render_error(error)

    # ── invoke ───────────────────────────────────────────────────────────────────────────────────

    async def on_invoke_agent(self, request: web.Request, ctx: RequestContext) -> web.StreamResponse:
        key = authenticate(self, request)
        agent_id = request.match_info["agentId"]
        key.require_agent(agent_id)
        raw = await self.read_json(request)
        body = validate(InvokeBody, raw)
        return await self._invoke(request, ctx, agent_id, raw, body, stream=body.stream)

    async def _invoke(
        self,
        request: web.Request,
        ctx: RequestContext,
        agent_id: str,
        raw: dict[str, Any],
        body: InvokeBody,
        *,
        stream: bool,
    ) -> web.StreamResponse:
        body.check()
        message = message_of(body.input)
        agent = self.engine.agent(self.key, agent_id)
        if agent is None:
            raise ApiError(ErrorKind.NOT_FOUND, f"Agent {agent_id} not found.")
        session = self._session(ctx, agent, body)
        ctx.body, ctx.message = raw, message
        await self.admit(ctx, agent=agent, scope=body.session_id)
        async with ctx.session.lock:
            if session is not None:
                if ctx.session.conversation(self.key, session.id) is not session:  # deleted while admitted
                    raise ApiError(ErrorKind.NOT_FOUND, f"Session {session.id} not found.")
                _check_idle(session)
            # A new conversation only once the call is admitted: a 429 leaves nothing behind.
            conversation = session or ctx.session.open_conversation(self.key, agent.id, uuid4())
            run = self.start_turn(ctx, conversation)
            if body.start_session:
                conversation.record = HostedSession(body.external_user_id)
        run.record = HostedRun(
            session_id=conversation.id if body.session_id or body.start_session else None,
            prompt_variables=body.prompt_variables or {},
            external_user_id=body.external_user_id,
            parent_run_id=body.parent_run_id,
            history=tuple(turn.model_dump() for turn in body.history or ()),
            test=body.test,
        )
        if stream:
            frames = RunFrames(run, self._approvals(ctx))
            # The gateway limit for a stream: the run times out and the stream ends with an error frame.
            limit = Limit(run.created_at + self.gateway_timeout, "the gateway limit passed")
            return await stream_run(request, ctx, run, frames, limit=limit)
        return await self._settle(ctx, run)

    def _session(self, ctx: RequestContext, agent: Agent, body: InvokeBody) -> Conversation | None:
        """The conversation a session_id continues; None: this invoke stands alone."""
        if body.session_id is None:
            return None
        conversation = ctx.session.conversation(self.key, body.session_id)
        if conversation is None or hosted_session(conversation) is None or conversation.agent_id != agent.id:
            raise ApiError(ErrorKind.NOT_FOUND, f"Session {body.session_id} not found.")
        return conversation

    async def _settle(self, ctx: RequestContext, run: Run) -> web.Response:
        """The blocking answer: wait for the run to finish or pause, up to the gateway limit."""
        if not await run.settled(Limit(run.clock.now() + self.gateway_timeout, "the gateway limit passed")):
            raise ApiError(ErrorKind.TIMEOUT, f"The run did not finish within {self.gateway_timeout:g} s.")
        status = run.status()
        if status is RunStatus.COMPLETED:
            data: dict[str, Any] = {"run_id": run.id, "output": output(run)}
            if session_id := run.record_of(HostedRun).session_id:
                data["session_id"] = session_id
            data["duration_ms"] = duration_ms(run)
            return ok(data)
        if status is RunStatus.PAUSED:
            return ok({"run_id": run.id, **awaiting(run, self._approvals(ctx)), "output": None}, status=202)
        code, message = run_error(run)
        raise ApiError(ErrorKind.TIMEOUT if code == "TIMEOUT" else ErrorKind.INTERNAL, message, code=code)

    # ── runs and human input ─────────────────────────────────────────────────────────────────────

    async def on_get_run(self, request: web.Request, ctx: RequestContext) -> web.StreamResponse:
        key = authenticate(self, request)
        return ok(await self._poll(ctx, key, request.match_info["runId"]))

    async def on_reply_run(self, request: web.Request, ctx: RequestContext) -> web.StreamResponse:
        key = authenticate(self, request)
        key.require_workspace("Replying to a run")
        body = validate(ReplyBody, await self.read_json(request))
        return await self._answer(ctx, request.match_info["runId"], body.response, body.request_id)

    async def on_answer_run(self, request: web.Request, ctx: RequestContext) -> web.StreamResponse:
        key = authenticate(self, request)
        key.require_workspace("Replying to a run")
        body = validate(HumanInputBody, await self.read_json(request))
        return await self._answer(ctx, request.match_info["runId"], body.response, None)

    async def _answer(self, ctx: RequestContext, run_id: str, response: str, request_id: str | None) -> web.Response:
        run = self._hosted_run(ctx, run_id)
        await self.admit(ctx, agent=run.agent, scope=run.conversation.id)
        async with ctx.session.lock:
            pause = run.pause()
            if pause is None or pause.kind is not PauseKind.INPUT:
                status = wire_status(run)
                raise ApiError(ErrorKind.VALIDATION, f"Run {run_id} is not awaiting input (it is {status}).")
            if request_id is not None and request_id != pause.request_id:
                raise ApiError(
                    ErrorKind.CONFLICT,
                    f"request_id {request_id} is not the run's pending question ({pause.request_id}).",
                )
            run.resume(Decision.ANSWER, answer=response)
        return await self._settle(ctx, run)

    async def _poll(self, ctx: RequestContext, key: Key, run_id: str) -> dict[str, Any]:
        run = self._hosted_run(ctx, run_id)
        key.require_agent(run.agent.id)
        await self.admit(ctx, agent=run.agent, scope=run.conversation.id)
        run.poll()
        return run_view(run, self._approvals(ctx))

    def _hosted_run(self, ctx: RequestContext, run_id: str) -> Run:
        run = ctx.session.run(run_id)
        if run is None or run.conversation.platform is not self.key:
            raise ApiError(ErrorKind.NOT_FOUND, f"Run {run_id} not found.")
        ctx.run = run
        return run

    # ── approvals ────────────────────────────────────────────────────────────────────────────────

    async def on_list_approvals(self, request: web.Request, ctx: RequestContext) -> web.StreamResponse:
        key = authenticate(self, request)
        params: dict[str, Any] = dict(request.query)
        if _INTEGER.fullmatch(params.get("limit", "")):
            params["limit"] = int(params["limit"])  # a query string only has strings; the model wants an int
        return ok(await self._list(ctx, key, validate(RpcListBody, params)))

    async def on_decide_approval(self, request: web.Request, ctx: RequestContext) -> web.StreamResponse:
        key = authenticate(self, request)
        key.require_workspace("Deciding an approval")
        body = validate(DecideBody, await self.read_json(request))
        approved = body.decision == "approve"
        return ok(await self._decide(ctx, request.match_info["approvalId"], approved, body.decision_note))

    async def on_call_rpc(self, request: web.Request, ctx: RequestContext) -> web.StreamResponse:
        """The SDK's control plane (``aos.runs.*``, ``aos.conversations.*``, ``aos.approvals.*``): each
        served method is the ``_rpc_<method>`` below; the SDK's other methods are answered as not modelled."""
        key = authenticate(self, request)
        method = request.match_info["method"]
        if method in NOT_MODELLED:
            await self.admit(ctx)
            raise rpc_not_modelled(method)
        if method not in SERVED:
            raise ApiError(ErrorKind.NOT_FOUND, f"Unknown RPC method {method[:64]!r}.")
        raw = await self.read_json(request)
        serve: Rpc = getattr(self, f"_rpc_{method}")
        return await serve(request, ctx, key, raw)

    async def on_call_unmodelled(self, request: web.Request, ctx: RequestContext) -> web.StreamResponse:
        """A request the SDK makes that mockagent does not model (control.NOT_MODELLED_PATHS)."""
        authenticate(self, request)
        await self.admit(ctx)
        raise path_not_modelled(request.path.removeprefix(self.prefix))

    async def _rpc_approvals_list(self, request: web.Request, ctx: RequestContext, key: Key, raw: Body) -> web.Response:
        return ok(await self._list(ctx, key, validate(RpcListBody, raw)))

    async def _rpc_approvals_decide(
        self, request: web.Request, ctx: RequestContext, key: Key, raw: Body
    ) -> web.Response:
        key.require_workspace("Deciding an approval")
        body = validate(RpcDecideBody, raw)
        return ok(await self._decide(ctx, body.approval_id, body.decision == "approved", body.decision_note))

    async def _rpc_runs_get(self, request: web.Request, ctx: RequestContext, key: Key, raw: Body) -> web.Response:
        return ok(await self._poll(ctx, key, validate(RpcRunBody, raw).run_id))

    async def _rpc_runs_cancel(self, request: web.Request, ctx: RequestContext, key: Key, raw: Body) -> web.Response:
        run = await self._run_for(ctx, key, validate(RpcRunBody, raw).run_id)
        async with ctx.session.lock:
            status = run.status()
            # CHOSEN: cancelling a cancelled run again changes nothing; an end of another kind is a conflict.
            if status.is_terminal and status is not RunStatus.CANCELLED:
                raise ApiError(
                    ErrorKind.CONFLICT, f"Run {run.id} already ended ({wire_status(run)}); it can't be cancelled."
                )
            run.cancel(CANCELLED_BY_CLIENT)
        return ok(run_view(run, self._approvals(ctx)))

    async def _rpc_runs_get_events(
        self, request: web.Request, ctx: RequestContext, key: Key, raw: Body
    ) -> web.Response:
        body = validate(RpcEventsBody, raw)
        run = await self._run_for(ctx, key, body.run_id)
        return ok(event_log(run, self._approvals(ctx), body.limit))

    async def _rpc_runs_list(self, request: web.Request, ctx: RequestContext, key: Key, raw: Body) -> web.Response:
        key.require_workspace("Listing runs")
        query = validate(RpcRunsBody, raw)
        await self.admit(ctx)
        approvals = self._approvals(ctx)
        found: list[dict[str, Any]] = []
        for run in reversed(ctx.session.runs_of(self.key)):  # newest first
            if len(found) == query.limit:
                break
            if query.agent_id not in (None, run.agent.id) or query.status not in (None, wire_status(run)):
                continue
            found.append(run_view(run, approvals))
        return ok(found)

    async def _rpc_runs_invoke(
        self, request: web.Request, ctx: RequestContext, key: Key, raw: Body
    ) -> web.StreamResponse:
        body = validate(RpcInvokeBody, raw)
        key.require_agent(body.agent_id)
        # The control plane answers in JSON: `stream` is not one of its fields (CHOSEN: ignored).
        return await self._invoke(request, ctx, body.agent_id, raw, body, stream=False)

    async def _rpc_conversations_list(
        self, request: web.Request, ctx: RequestContext, key: Key, raw: Body
    ) -> web.Response:
        key.require_workspace("Listing conversations")
        query = validate(RpcConversationsBody, raw)
        await self.admit(ctx)
        clock = ctx.session.clock
        found: list[dict[str, Any]] = []
        for conversation in reversed(ctx.session.conversations.values()):  # newest first
            if len(found) == query.limit:
                break
            session = hosted_session(conversation)
            if (
                session is None
                or conversation.platform is not self.key
                or query.agent_id not in (None, conversation.agent_id)
                or query.external_user_id not in (None, session.external_user_id)
            ):
                continue
            found.append(summary(conversation, session, clock))
        return ok(found)

    async def _rpc_conversations_get(
        self, request: web.Request, ctx: RequestContext, key: Key, raw: Body
    ) -> web.Response:
        body = validate(RpcConversationGetBody, raw)
        conversation, session = await self._conversation(ctx, key, body.conversation_id)
        return ok(detail(conversation, session, ctx.session.clock, body.message_limit))

    async def _rpc_conversations_delete(
        self, request: web.Request, ctx: RequestContext, key: Key, raw: Body
    ) -> web.Response:
        conversation, _ = await self._conversation(ctx, key, validate(RpcConversationBody, raw).conversation_id)
        async with ctx.session.lock:
            if ctx.session.drop_conversation(self.key, conversation.id) is None:
                raise ApiError(ErrorKind.NOT_FOUND, f"Conversation {conversation.id} not found.")  # deleted meanwhile
            # CHOSEN: a turn still going on in it ends, as when a session is reset.
            for run in conversation.runs:
                run.cancel("the conversation was deleted")
            # Its runs stay readable by id; cutting the list frees them as soon as the run store forgets them.
            conversation.runs.clear()
        return ok({"id": conversation.id, "deleted": True})

    async def _run_for(self, ctx: RequestContext, key: Key, run_id: str) -> Run:
        """A hosted run a control-plane call acts on, admitted (an agent key reaches its own agent's runs)."""
        run = self._hosted_run(ctx, run_id)
        key.require_agent(run.agent.id)
        await self.admit(ctx, agent=run.agent, scope=run.conversation.id)
        return run

    async def _conversation(
        self, ctx: RequestContext, key: Key, conversation_id: str
    ) -> tuple[Conversation, HostedSession]:
        key.require_workspace("Reading conversations")
        conversation = ctx.session.conversation(self.key, conversation_id)
        session = hosted_session(conversation)
        if conversation is None or session is None:
            raise ApiError(ErrorKind.NOT_FOUND, f"Conversation {conversation_id} not found.")
        last = conversation.last
        await self.admit(ctx, agent=last.agent if last is not None else None, scope=conversation.id)
        return conversation, session

    async def _list(self, ctx: RequestContext, key: Key, query: RpcListBody) -> list[dict[str, Any]]:
        key.require_workspace("Listing approvals")
        await self.admit(ctx)
        approvals = self._approvals(ctx).pending()
        found = [a for a in approvals if query.agent_id is None or a.run.agent.id == query.agent_id]
        return [a.view() for a in found[: query.limit]]

    async def _decide(self, ctx: RequestContext, approval_id: str, approve: bool, note: str | None) -> dict[str, Any]:
        approval = self._approvals(ctx).find(approval_id)
        if approval is None:
            raise ApiError(ErrorKind.NOT_FOUND, f"Approval {approval_id} not found.")
        run = ctx.run = approval.run
        await self.admit(ctx, agent=run.agent, scope=run.conversation.id)
        async with ctx.session.lock:  # decided once, however many decisions race
            status = approval.status()
            if status == "expired":
                expired = iso(run.clock, approval.expires_at)
                raise ApiError(
                    ErrorKind.VALIDATION, f"Approval {approval_id} expired at {expired}; it can't be decided."
                )
            if status != "pending":
                raise ApiError(ErrorKind.VALIDATION, f"Approval {approval_id} was already {status}.")
            run.resume(Decision.APPROVE if approve else Decision.REJECT)
            approval.decide(approve, note)
        return approval.view()

    def _approvals(self, ctx: RequestContext) -> Approvals:
        return ctx.session.records(AgentOSRecords).approvals

    # ── ingest ───────────────────────────────────────────────────────────────────────────────────

    async def on_start_ingest(self, request: web.Request, ctx: RequestContext) -> web.StreamResponse:
        key = authenticate(self, request)
        body = validate(RunStartBody, await self.read_json(request))
        key.require_agent(body.agent_id)
        await self.admit(ctx)
        records = ctx.session.records(AgentOSRecords).ingest
        if body.external_run_id is not None:
            known = records.external.get((body.agent_id, body.external_run_id))
            if known is not None:
                return ok({"run_id": known})
        run = IngestRun(
            id=str(uuid.uuid4()),
            agent_id=body.agent_id,
            trigger_type=body.trigger_type,
            input=body.input,
            external_run_id=body.external_run_id,
            parent_run_id=body.parent_run_id,
            started_at=ctx.session.clock.now(),
        )
        records.runs[run.id] = run
        if body.external_run_id is not None:
            records.external[(body.agent_id, body.external_run_id)] = run.id
        return ok({"run_id": run.id})

    async def on_report_events(self, request: web.Request, ctx: RequestContext) -> web.StreamResponse:
        body, run = await self._reported(request, ctx, EventsBody)
        received = iso(ctx.session.clock, ctx.session.clock.now())
        run.add_events([{**event.model_dump(), "received_at": received} for event in body.events])
        return ok(_OK)

    async def on_complete_ingest(self, request: web.Request, ctx: RequestContext) -> web.StreamResponse:
        body, run = await self._reported(request, ctx, CompleteBody)
        if run.end("completed", ctx.session.clock.now()):
            run.output = body.output
            run.usage = {k: v for k in _USAGE_KEYS if (v := getattr(body, k)) is not None}
        return ok(_OK)

    async def on_fail_ingest(self, request: web.Request, ctx: RequestContext) -> web.StreamResponse:
        body, run = await self._reported(request, ctx, FailBody)
        if run.end("failed", ctx.session.clock.now()):
            run.error = {"message": body.error_message, "detail": body.error_detail}
        return ok(_OK)

    async def on_cancel_ingest(self, request: web.Request, ctx: RequestContext) -> web.StreamResponse:
        body, run = await self._reported(request, ctx, CancelBody)
        if run.end("cancelled", ctx.session.clock.now()):
            run.cancel_reason = body.reason
        return ok(_OK)

    async def on_report_task(self, request: web.Request, ctx: RequestContext) -> web.StreamResponse:
        body, run = await self._reported(request, ctx, TaskBody)
        clock = ctx.session.clock
        run.report_task(body.task.model_dump(exclude_none=True), body.task.status, iso(clock, clock.now()))
        return ok(_OK)

    async def _reported(self, request: web.Request, ctx: RequestContext, model: type[R]) -> tuple[R, IngestRun]:
        key = authenticate(self, request)
        body = validate(model, await self.read_json(request))
        run = ctx.session.records(AgentOSRecords).ingest.runs.get(body.run_id)
        if run is None:
            raise ApiError(ErrorKind.NOT_FOUND, f"Run {body.run_id} not found.")
        key.require_agent(run.agent_id)
        await self.admit(ctx)
        return body, run

    # ── inspection (/__mockagent/agentos/…) ──────────────────────────────────────────────────────

    async def on_list_ingest(self, request: web.Request, ctx: RequestContext) -> web.StreamResponse:
        runs = ctx.session.records(AgentOSRecords).ingest.runs.values()
        return json_response([ingest_view(run, ctx.session.clock) for run in runs])

    async def on_get_ingest(self, request: web.Request, ctx: RequestContext) -> web.StreamResponse:
        run = ctx.session.records(AgentOSRecords).ingest.runs.get(request.match_info["runId"])
        if run is None:
            raise ApiError(ErrorKind.NOT_FOUND, f"no ingest run {request.match_info['runId']!r}")
        return json_response(ingest_view(run, ctx.session.clock))

    async def on_list_seen_approvals(self, request: web.Request, ctx: RequestContext) -> web.StreamResponse:
        return json_response([a.view() for a in self._approvals(ctx).seen()])


def _check_idle(conversation: Conversation) -> None:
    last = conversation.last
    if last is not None and last.status() is RunStatus.PAUSED:
        raise ApiError(
            ErrorKind.CONFLICT,
            f"Session {conversation.id} has run {last.id} awaiting a human; resume it before invoking again.",
        )
