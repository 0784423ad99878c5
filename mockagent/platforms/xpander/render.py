"""xpander.ai on the wire: FastAPI's error shapes, and the frames of a streamed invocation."""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any

from aiohttp import web

from mockagent.encoding import json_response
from mockagent.errors import ApiError, ErrorKind
from mockagent.model import Completed, Failed, Paused, ReasoningDelta, TextDelta, Timed, ToolCalled, ToolReturned
from mockagent.platforms.fastapi import FASTAPI_STATUS, detail, field_errors
from mockagent.platforms.sse import Out, frame
from mockagent.platforms.xpander.tasks import TaskView
from mockagent.runs import Run

# Starlette's own wording where the detail is a fixed phrase; other kinds carry their message.
_FIXED_DETAIL = {
    ErrorKind.METHOD_NOT_ALLOWED: "Method Not Allowed",
    ErrorKind.RATE_LIMITED: "Rate limit exceeded",
    ErrorKind.INTERNAL: "Internal Server Error",
    ErrorKind.BAD_GATEWAY: "Bad Gateway",
    ErrorKind.UNAVAILABLE: "Service Unavailable",
    ErrorKind.TIMEOUT: "Gateway Timeout",
}


def render_error(error: ApiError) -> web.Response:
    body: Any
    match error.kind:
        case ErrorKind.VALIDATION | ErrorKind.INVALID_JSON | ErrorKind.INVALID_BODY:
            body = [detail(f) for f in field_errors(error)]
        case ErrorKind.NOT_FOUND if error.message == "Not found":
            body = "Not Found"  # an unknown route, worded as Starlette does
        case kind:
            body = _FIXED_DETAIL.get(kind, error.message)
    return json_response({"detail": body}, status=FASTAPI_STATUS[error.kind], headers=_retry_after(error))


def _retry_after(error: ApiError) -> dict[str, str]:
    # CHOSEN: Starlette's middleware sets Retry-After on its 429s only.
    return error.retry_after_header() if error.kind is ErrorKind.RATE_LIMITED else {}


class TaskFrames:
    """`task_created`, `task_updated` (executing), then a frame per event; a pause ends the stream with a
    `task_updated` (the client answers through /hitl and polls), the end with `task_finished`."""

    def __init__(self, run: Run, view: TaskView) -> None:
        self.run = run
        self.view = view
        self.finished = False

    def _frame(self, kind: str, at: float, data: Any, *, terminal: bool = False) -> Out:
        return frame(self.view.frame(self.run, kind, at, data), terminal=terminal)

    def opening(self) -> Iterable[Out]:
        run = self.run
        return (self._frame("task_created", run.created_at, self.view.task(run, run.created_at, created=True)),)

    def started(self) -> Iterable[Out]:
        run = self.run
        if run.status().is_terminal:
            return ()
        return (self._frame("task_updated", run.started_at, self.view.task(run, run.started_at)),)

    def render(self, timed: Timed) -> Iterable[Out]:
        event, at = timed.event, timed.at
        match event:
            case TextDelta(text=text):
                return (self._frame("chunk", at, text),)
            case ReasoningDelta(text=text):
                return (self._frame("think", at, text),)
            case ToolCalled(name=name, args=args):
                return (self._frame("tool_call_request", at, {"tool_name": name, "payload": args}),)
            case ToolReturned():
                result = event.error if event.is_error else event.output
                outcome = {"tool_name": event.name, "result": result, "is_error": event.is_error}
                return (self._frame("tool_call_result", at, outcome),)
            case Paused():
                self.finished = True
                return (self._frame("task_updated", at, self.view.task(self.run, at), terminal=True),)
            case Completed() | Failed():
                self.finished = True
                return (self._frame("task_finished", at, self.view.task(self.run, at), terminal=True),)
        return ()

    def closing(self) -> Iterable[Out]:
        if self.finished:
            return ()
        # Stopped or timed out while streaming: the run ended without an event of its own.
        now = self.run.clock.now()
        return (self._frame("task_finished", now, self.view.task(self.run, now), terminal=True),)
