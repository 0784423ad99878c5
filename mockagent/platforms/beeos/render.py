"""BeeOS on the wire: the `{success, data}` envelope, its errors, and the frames of its two streams."""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from typing import Any

from aiohttp import web

from mockagent.encoding import json_response
from mockagent.errors import ApiError, ErrorKind
from mockagent.ids import token_hex
from mockagent.model import ReasoningDelta, TextDelta, Timed
from mockagent.platforms.beeos.tasks import Json, Task, compact
from mockagent.platforms.sse import Out, frame
from mockagent.runs import Run, RunStatus

TIMEOUT_MESSAGE = "agent invocation timed out"

_ERRORS: Mapping[ErrorKind, tuple[int, str, str]] = {
    # CHOSEN: a request the gateway cannot read (malformed HTTP, a body that never came) is an invalid body.
    ErrorKind.BAD_REQUEST: (400, "invalid_request_error", "invalid_body"),
    ErrorKind.INVALID_JSON: (400, "invalid_request_error", "invalid_json"),
    ErrorKind.INVALID_BODY: (400, "invalid_request_error", "invalid_body"),
    # CHOSEN: the documented 400 vocabulary has no media-type code; a non-JSON body is an invalid body.
    ErrorKind.UNSUPPORTED_MEDIA_TYPE: (400, "invalid_request_error", "invalid_body"),
    ErrorKind.VALIDATION: (400, "invalid_request_error", "invalid_param"),
    ErrorKind.MISSING_CREDENTIAL: (401, "authentication_error", "missing_token"),
    ErrorKind.INVALID_CREDENTIAL: (401, "authentication_error", "invalid_token"),
    ErrorKind.FORBIDDEN: (403, "permission_error", "forbidden"),
    ErrorKind.NOT_FOUND: (404, "not_found_error", "not_found"),
    ErrorKind.METHOD_NOT_ALLOWED: (405, "invalid_request_error", "method_not_allowed"),
    ErrorKind.CONFLICT: (409, "conflict_error", "conflict"),
    ErrorKind.PAYLOAD_TOO_LARGE: (413, "invalid_request_error", "payload_too_large"),
    ErrorKind.RATE_LIMITED: (429, "rate_limit_error", "rate_limited"),
    ErrorKind.INTERNAL: (500, "api_error", "internal_error"),
    ErrorKind.BAD_GATEWAY: (502, "api_error", "bad_gateway"),
    ErrorKind.UNAVAILABLE: (503, "api_error", "agent_service_unavailable"),
    ErrorKind.TIMEOUT: (504, "api_error", "service_timeout"),
}


def render_error(error: ApiError) -> web.Response:
    """`{"success": false, "error": {type, code, message, param?, request_id}}` with an X-Request-Id."""
    status, kind, code = _ERRORS[error.kind]
    if error.kind is ErrorKind.VALIDATION and error.fields and error.fields[0].type == "missing":
        code = "missing_param"
    request_id = request_id_()
    body: Json = {"type": kind, "code": error.code or code, "message": error.message}
    if error.field:
        body["param"] = error.field
    body["request_id"] = request_id
    headers = {"X-Request-Id": request_id, **error.retry_after_header()}
    return json_response({"success": False, "error": body}, status=status, headers=headers)


def ok(data: Any, status: int = 200) -> web.Response:
    return json_response({"success": True, "data": data}, status=status, headers={"X-Request-Id": request_id_()})


def request_id_() -> str:
    return f"req_{token_hex(12)}"


def stream_headers() -> dict[str, str]:
    return {"X-Request-Id": request_id_(), "X-Accel-Buffering": "no"}


# ── invoke ──────────────────────────────────────────────────────────────────────────────────────────


@dataclass(frozen=True)
class Outcome:
    """How a settled invoke run reads on the wire."""

    text: str
    error: str | None = None
    code: str | None = None
    status_code: int | None = None


TIMED_OUT = Outcome("", TIMEOUT_MESSAGE, "service_timeout", 504)


def outcome(run: Run) -> Outcome:
    match run.status():
        case RunStatus.COMPLETED:
            return Outcome(run.text())
        case RunStatus.FAILED:
            failure = run.failure()
            message = failure.message if failure else "the agent failed"
            # CHOSEN: a script's own code is kept; the engine's default becomes BeeOS's agent_reply_error.
            code = failure.code if failure and failure.code != "agent_error" else "agent_reply_error"
            return Outcome(run.text(), message, code, 502)
        case RunStatus.TIMED_OUT:
            return TIMED_OUT
    return Outcome(run.text(), "agent invocation canceled", "canceled", 499)


class InvokeFrames:
    """Bare `data:` frames as the run produces them; at most one `error`, then the terminal `done`."""

    def __init__(self, run: Run) -> None:
        self.run = run

    def opening(self) -> Iterable[Out]:
        return ()

    def started(self) -> Iterable[Out]:
        return ()

    def render(self, timed: Timed) -> Iterable[Out]:
        match timed.event:
            case ReasoningDelta(text=text):
                return (frame({"type": "reasoning", "text": text}),)
            case TextDelta(text=text):
                return (frame({"type": "delta", "text": text}),)
        return ()

    def closing(self) -> Iterable[Out]:
        # A run still going when its view closes: this view's window passed (a replay's, which only watches).
        result = outcome(self.run) if self.run.status().is_terminal else TIMED_OUT
        context_id = self.run.conversation.id
        done: Json = {
            "type": "done",
            "text": result.text,
            "context_id": context_id,
            "is_error": result.error is not None,
        }
        if result.error is None:
            return (frame(done, terminal=True),)
        error = {"type": "error", "code": result.code, "status_code": result.status_code, "message": result.error}
        return (frame(error), frame({**done, "error": result.error, "code": result.code}, terminal=True))


# ── a task's event stream ──────────────────────────────────────────────────────────────────────────


class TaskEventFrames:
    """`event: message` frames with `id: <offset>` after `since`; the stream closes after `event: end`."""

    def __init__(self, task: Task, since: int) -> None:
        self.task = task
        self.since = since

    def _message(self, message: Json | None) -> Iterable[Out]:
        if message is None or message["offset"] <= self.since:
            return ()
        return (frame(compact(message), event="message", id=str(message["offset"])),)

    def opening(self) -> Iterable[Out]:
        return self._message(self.task.opening())

    def started(self) -> Iterable[Out]:
        return ()

    def render(self, timed: Timed) -> Iterable[Out]:
        return self._message(self.task.message(timed))

    def closing(self) -> Iterable[Out]:
        end = frame({"reason": "task_terminal"}, event="end", terminal=True)
        return (*self._message(self.task.closing()), end)
