"""AgentOS on the wire: the `{data, error}` envelope, its error codes, and the frames of a streamed run."""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from typing import Any

from aiohttp import web

from mockagent.encoding import json_response
from mockagent.errors import ApiError, ErrorKind
from mockagent.model import Completed, Failed, Paused, PauseKind, TextDelta, Timed, ToolCalled, ToolReturned
from mockagent.platforms.agentos.approvals import Approvals
from mockagent.platforms.agentos.runs import HostedRun, duration_ms, question, run_error
from mockagent.platforms.base import iso
from mockagent.platforms.sse import Out, frame
from mockagent.runs import Run, RunStatus

TERMINAL_FRAMES = frozenset({"done", "awaiting_approval", "awaiting_input", "error"})

# The documented codes are UNAUTHENTICATED, FORBIDDEN, NOT_FOUND, VALIDATION_ERROR and RATE_LIMITED;
# the rest are CHOSEN (the SDK names its own fallbacks INTERNAL_ERROR and UNAVAILABLE, so we use those).
ERROR_CODES: Mapping[ErrorKind, tuple[int, str]] = {
    ErrorKind.BAD_REQUEST: (400, "BAD_REQUEST"),
    ErrorKind.INVALID_JSON: (400, "VALIDATION_ERROR"),
    ErrorKind.INVALID_BODY: (400, "VALIDATION_ERROR"),
    ErrorKind.VALIDATION: (400, "VALIDATION_ERROR"),
    ErrorKind.MISSING_CREDENTIAL: (401, "UNAUTHENTICATED"),
    ErrorKind.INVALID_CREDENTIAL: (401, "UNAUTHENTICATED"),
    ErrorKind.FORBIDDEN: (403, "FORBIDDEN"),
    ErrorKind.NOT_FOUND: (404, "NOT_FOUND"),
    ErrorKind.METHOD_NOT_ALLOWED: (405, "METHOD_NOT_ALLOWED"),
    ErrorKind.CONFLICT: (409, "CONFLICT"),
    ErrorKind.PAYLOAD_TOO_LARGE: (413, "PAYLOAD_TOO_LARGE"),
    ErrorKind.UNSUPPORTED_MEDIA_TYPE: (415, "UNSUPPORTED_MEDIA_TYPE"),
    ErrorKind.RATE_LIMITED: (429, "RATE_LIMITED"),
    ErrorKind.INTERNAL: (500, "INTERNAL_ERROR"),
    ErrorKind.BAD_GATEWAY: (502, "BAD_GATEWAY"),
    ErrorKind.UNAVAILABLE: (503, "UNAVAILABLE"),
    ErrorKind.TIMEOUT: (504, "TIMEOUT"),
}


def ok(data: Any, status: int = 200) -> web.Response:
    return json_response({"data": data, "error": None}, status=status)


def render_error(error: ApiError) -> web.Response:
    status, code = ERROR_CODES[error.kind]
    body = {"data": None, "error": {"code": error.code or code, "message": error.message}}
    headers = error.retry_after_header() if error.kind is ErrorKind.RATE_LIMITED else {}  # 429s only (CHOSEN)
    return json_response(body, status=status, headers=headers)


class RunFrames:
    """`start`, then a frame per event (`chunk`, `tool`, …), ending with `done`, an `awaiting_*` or `error`."""

    def __init__(self, run: Run, approvals: Approvals) -> None:
        self.run = run
        self.approvals = approvals
        session_id = run.record_of(HostedRun).session_id
        self.session = {"session_id": session_id} if session_id else {}

    def opening(self) -> Iterable[Out]:
        return (frame({"type": "start", "run_id": self.run.id}),)

    def started(self) -> Iterable[Out]:
        return ()

    def render(self, timed: Timed) -> Iterable[Out]:
        shown = self._frame(timed)
        return () if shown is None else (frame(shown, terminal=shown["type"] in TERMINAL_FRAMES),)

    def _frame(self, timed: Timed) -> dict[str, Any] | None:
        run, event = self.run, timed.event
        match event:
            case TextDelta(text=text) if text:
                return {"type": "chunk", "text": text}
            case ToolCalled(name=name):
                return {"type": "tool", "status": "calling", "name": name}
            case ToolReturned(name=name):
                return {"type": "tool", "status": "failed" if event.is_error else "returned", "name": name}
            case Paused(kind=PauseKind.APPROVAL):
                pending = run.pending
                if pending is not None and pending.pause is event:
                    self.approvals.of(run)  # remembered, so that it can be decided once later
                return {"type": "awaiting_approval", "run_id": run.id, "approval_id": event.request_id, **self.session}
            case Paused():
                return {"type": "awaiting_input", "run_id": run.id, **question(event), **self.session}
            case Failed(message=message):
                return {"type": "error", "code": "AGENT_ERROR", "message": message}
            case Completed():
                return {"type": "done", "run_id": run.id, "duration_ms": duration_ms(run), **self.session}
        return None

    def closing(self) -> Iterable[Out]:
        if self.run.status() not in (RunStatus.TIMED_OUT, RunStatus.CANCELLED):
            return ()
        code, message = run_error(self.run)
        return (frame({"type": "error", "code": code, "message": message}, terminal=True),)


#: How a run ends without an event of its own (by an act or a limit): its log closes with an `error` frame
#: at that moment, as a stream open then ended for a cancel or a timeout.
_ENDED_BY_ACT = (RunStatus.CANCELLED, RunStatus.TIMED_OUT, RunStatus.EXPIRED)


def event_log(run: Run, approvals: Approvals, limit: int) -> list[dict[str, Any]]:
    """The run so far as `runs.events` shows it: the stream's frames, each with the moment (`at`) it
    happened, the latest `limit` of them in order. A pause is one frame among the others here: a resumed
    run goes on after its `awaiting_*` frame."""
    frames = RunFrames(run, approvals)
    clock = run.clock
    log = [{"type": "start", "run_id": run.id, "at": iso(clock, run.created_at)}]
    for timed in run.visible():
        shown = frames._frame(timed)
        if shown is not None:
            log.append({**shown, "at": iso(clock, timed.at)})
    status = run.status()
    if status in _ENDED_BY_ACT:
        code, message = run_error(run)
        log.append({"type": "error", "code": code, "message": message, "at": iso(clock, run.moment(status))})
    return log[-limit:]
