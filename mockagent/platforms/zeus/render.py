"""Zeus on the wire: FastAPI's error shapes, and the SSE frames of a run (`message_chunk` … `done`)."""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from typing import Any

from aiohttp import web

from mockagent.encoding import json_response
from mockagent.errors import ApiError, ErrorKind
from mockagent.model import Completed, Event, Failed, Paused, PauseKind, TextDelta, Timed, ToolCalled, ToolReturned
from mockagent.platforms.fastapi import FASTAPI_STATUS, detail, field_errors
from mockagent.platforms.sse import Out, frame
from mockagent.runs import Run, RunStatus

Json = dict[str, Any]
TERMINAL = frozenset({"done", "error", "interrupt"})


def render_error(error: ApiError) -> web.Response:
    status = FASTAPI_STATUS[error.kind]
    headers = error.retry_after_header()
    body: Any = error.message
    if error.kind in (ErrorKind.VALIDATION, ErrorKind.INVALID_JSON, ErrorKind.INVALID_BODY):
        body = [detail(f) for f in field_errors(error)]
    elif error.kind in (ErrorKind.MISSING_CREDENTIAL, ErrorKind.INVALID_CREDENTIAL):
        headers["WWW-Authenticate"] = "Bearer"
    return json_response({"detail": body}, status=status, headers=headers)


def tool_call_frame(call_id: str, name: str, args: Mapping[str, Any]) -> Json:
    return {"type": "tool_call", "tool_name": name, "tool_args": dict(args), "tool_call_id": call_id}


def frames_of(event: Event, session_id: str) -> list[Json]:
    """Zeus's frames for one neutral event (reasoning and resume markers show nothing)."""
    match event:
        case TextDelta(text=text):
            return [{"type": "message_chunk", "content": text}]
        case ToolCalled():
            frame = tool_call_frame(event.call_id, event.name, event.args)
            if event.requires_approval:
                frame["requires_approval"] = True
            return [frame]
        case ToolReturned():
            result = event.output if event.error is None else event.error
            return [{"type": "tool_result", "tool_name": event.name, "result": result}]
        case Paused(kind=PauseKind.APPROVAL, tool_call=ToolCalled() as call):
            tool_calls = [{"tool_call_id": call.call_id, "tool_name": call.name, "tool_args": call.args}]
            return [{"type": "interrupt", "session_id": session_id, "tool_calls": tool_calls}]
        case Paused():
            return [
                {
                    "type": "interrupt",
                    "session_id": session_id,
                    "tool_calls": [],
                    "question": event.question,
                    "options": list(event.options),
                }
            ]
        case Failed(message=message, code=code):
            return [{"type": "error", "error": message, "error_code": code}]
        case Completed():
            return [{"type": "done", "session_id": session_id}]
    return []


class RunFrames:
    """The run's frames, after any `prelude` (the modified tool call a resume shows first)."""

    def __init__(self, run: Run, prelude: Iterable[Json] = ()) -> None:
        self.run = run
        self.prelude = tuple(prelude)

    def opening(self) -> Iterable[Out]:
        return tuple(frame(shown) for shown in self.prelude)

    def started(self) -> Iterable[Out]:
        return ()

    def render(self, timed: Timed) -> Iterable[Out]:
        frames = frames_of(timed.event, self.run.conversation.id)
        return tuple(frame(shown, terminal=shown["type"] in TERMINAL) for shown in frames)

    def closing(self) -> Iterable[Out]:
        """The terminal frame for a run the engine ended early (its timeline has none)."""
        match self.run.status():
            case RunStatus.TIMED_OUT:
                error = {"type": "error", "error": "Gateway timeout: the stream took too long", "error_code": "timeout"}
            case RunStatus.CANCELLED:
                error = {"type": "error", "error": "The run was cancelled", "error_code": "cancelled"}
            case _:
                return ()
        return (frame(error, terminal=True),)
