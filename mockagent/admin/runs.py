"""A session's runs in neutral form, and decisions on a paused one that every platform's client sees as
if it had resumed the run through its own API (each platform's `Platform.decide`)."""

from __future__ import annotations

from typing import Any

from aiohttp import web

from mockagent.admin.bodies import json_object, unknown_fields
from mockagent.admin.sessions import acting, session_of
from mockagent.appkeys import PLATFORMS
from mockagent.encoding import json_response
from mockagent.errors import ApiError, ErrorKind, RunStateError
from mockagent.neutral import detail, summary
from mockagent.platforms.base import Platform
from mockagent.runs import Decision, Run, RunStatus, open_pause
from mockagent.sessions import Session

Json = dict[str, Any]
#: CHOSEN: the reason a run cancelled through the admin API ends with (the platforms show it as theirs).
ADMIN_CANCEL_REASON = "cancelled through the mockagent admin API"
#: CHOSEN: the longest answer the admin API passes on (the platforms' own message limits are larger).
MAX_ANSWER = 100_000


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
    async with acting(request, session):
        run = _run(request, session)  # found under the lock: as the session is now, in every process
        try:
            _platform(request, run).cancel(session, run, ADMIN_CANCEL_REASON)
        except RunStateError as err:
            raise ApiError(ErrorKind.CONFLICT, f"run {run.id}: {err}") from None
    return json_response(detail(run))


async def _decide(
    request: web.Request, decision: Decision, *, answer: str = "", args: dict[str, Any] | None = None
) -> web.Response:
    session = await session_of(request)
    # Decided once, however many decisions (the admin's, the client's; in any process) race.
    async with acting(request, session):
        run = _run(request, session)
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
