"""A session's runs in neutral form, and decisions on a paused one that every platform's client sees as
if it had resumed the run through its own API (each platform's `Platform.decide`)."""

from __future__ import annotations

from typing import Any

from aiohttp import web

from mockagent.admin.bodies import json_object, unknown_fields
from mockagent.admin.sessions import session_of
from mockagent.appkeys import PLATFORMS
from mockagent.encoding import json_response
from mockagent.errors import ApiError, ErrorKind, RunStateError
from mockagent.model import (
    Completed,
    Event,
    Failed,
    Glitched,
    Paused,
    ReasoningDelta,
    Resumed,
    TextDelta,
    Timed,
    ToolCalled,
    ToolReturned,
)
from mockagent.platforms.base import Platform
from mockagent.runs import Decision, Run, RunStatus, open_pause
from mockagent.sessions import Session

Json = dict[str, Any]
#: CHOSEN: the reason a run cancelled through the admin API ends with (the platforms show it as theirs).
ADMIN_CANCEL_REASON = "cancelled through the mockagent admin API"
#: CHOSEN: the longest answer the admin API passes on (the platforms' own message limits are larger).
MAX_ANSWER = 100_000


def summary(run: Run, now: float | None = None) -> Json:
    """What `GET /runs` lists of a run."""
    now = run.clock.now() if now is None else now
    body: Json = {
        "id": run.id,
        "platform": run.conversation.platform.value,
        "agent": run.agent.id,
        "conversation": run.conversation.id,
        "status": run.status(now).value,
        "created_at": run.created_at,
        "message": run.message,
        "text": run.text(now),
        "reply": str(run.reply.source) if run.reply is not None and run.reply.source is not None else None,
    }
    pause = open_pause(run, now)
    if pause is not None:
        body["pause"] = pause_json(pause)
    return body


def pause_json(pause: Paused) -> Json:
    call = pause.tool_call
    return {
        "kind": pause.kind.value,
        "request_id": pause.request_id,
        "question": pause.question,
        "options": list(pause.options),
        "tool_call": event_json(call) if call is not None else None,
    }


def event_json(event: Event) -> Json:
    """One neutral event as the admin API (and its event feed) shows it: `type` and its fields."""
    match event:
        case TextDelta(text, block):
            return {"type": "text", "text": text, "block": block}
        case ReasoningDelta(text, block):
            return {"type": "reasoning", "text": text, "block": block}
        case ToolCalled(call_id, name, args, requires_approval):
            return {
                "type": "tool_call",
                "call_id": call_id,
                "name": name,
                "args": args,
                "requires_approval": requires_approval,
            }
        case ToolReturned(call_id, name, output, error):
            return {"type": "tool_result", "call_id": call_id, "name": name, "output": output, "error": error}
        case Paused():
            return {"type": "paused", **pause_json(event)}
        case Resumed(decision, args):
            return {"type": "resumed", "decision": decision, "args": args}
        case Failed(message, code):
            return {"type": "failed", "message": message, "code": code}
        case Completed():
            return {"type": "completed"}
        case Glitched(fault):
            return {"type": "glitch", "fault": str(fault)}


def timed_json(timed: Timed) -> Json:
    return {"at": timed.at, **event_json(timed.event)}


def detail(run: Run) -> Json:
    """One run: its summary and the events visible now. A run ended by an act (cancelled, timed out, an
    approval that expired) ends with one event naming how, as no script step says it."""
    now = run.clock.now()
    events = [timed_json(timed) for timed in run.visible(now)]
    status = run.status(now)
    if status in (RunStatus.CANCELLED, RunStatus.TIMED_OUT, RunStatus.EXPIRED):
        ended = run.moment(status)
        events.append({"at": ended, "type": status.value, "reason": run.end_reason or status.value})
    return {**summary(run, now), "events": events}


async def on_list_runs(request: web.Request) -> web.Response:
    session = await session_of(request)
    now = session.clock.now()
    return json_response([summary(run, now) for run in session.runs.values()])


async def on_get_run(request: web.Request) -> web.Response:
    session = await session_of(request)
    return json_response(detail(_run(request, session)))


async def on_approve_run(request: web.Request) -> web.Response:
    body = await json_object(request, optional=True)
    unknown_fields(body, {"args"})
    args = body.get("args")
    if args is not None and not isinstance(args, dict):
        raise ApiError(ErrorKind.INVALID_BODY, "args: must be an object (the tool's arguments as approved)")
    return await _decide(request, Decision.APPROVE, args=args)


async def on_reject_run(request: web.Request) -> web.Response:
    unknown_fields(await json_object(request, optional=True), set())
    return await _decide(request, Decision.REJECT)


async def on_answer_run(request: web.Request) -> web.Response:
    body = await json_object(request)
    unknown_fields(body, {"answer"})
    answer = body.get("answer")
    if not isinstance(answer, str):
        raise ApiError(ErrorKind.INVALID_BODY, 'answer: required, a string (expected {"answer": "text"})')
    if len(answer) > MAX_ANSWER:
        raise ApiError(ErrorKind.INVALID_BODY, f"answer: at most {MAX_ANSWER} characters")
    return await _decide(request, Decision.ANSWER, answer=answer)


async def on_cancel_run(request: web.Request) -> web.Response:
    unknown_fields(await json_object(request, optional=True), set())
    session = await session_of(request)
    run = _run(request, session)
    async with session.lock:
        try:
            _platform(request, run).cancel(session, run, ADMIN_CANCEL_REASON)
        except RunStateError as err:
            raise ApiError(ErrorKind.CONFLICT, f"run {run.id}: {err}") from None
    return json_response(detail(run))


async def _decide(
    request: web.Request, decision: Decision, *, answer: str = "", args: dict[str, Any] | None = None
) -> web.Response:
    session = await session_of(request)
    run = _run(request, session)
    async with session.lock:  # decided once, however many decisions (the admin's, the client's) race
        if open_pause(run) is None:
            status = run.status()
            why = "its approval expired" if status is RunStatus.EXPIRED else f"it is {status.value}"
            raise ApiError(ErrorKind.CONFLICT, f"run {run.id} is not paused ({why})")
        try:
            _platform(request, run).decide(session, run, decision, answer, args)
        except RunStateError as err:
            raise ApiError(ErrorKind.CONFLICT, f"run {run.id}: {err}") from None
    return json_response(detail(run))


def _run(request: web.Request, session: Session) -> Run:
    run_id = request.match_info["id"]
    run = session.run(run_id)
    if run is None:
        raise ApiError(ErrorKind.NOT_FOUND, f"no run {run_id[:64]!r} in session {session.name!r}")
    return run


def _platform(request: web.Request, run: Run) -> Platform:
    platform = request.app[PLATFORMS].get(run.conversation.platform)
    if platform is None:  # a run is only ever made by a platform served
        raise ApiError(ErrorKind.NOT_FOUND, f"platform {run.conversation.platform.value} is not served")
    return platform
