"""Aster on the wire: its error bodies, and the AI SDK v5 UI-message stream of a run."""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any

from aiohttp import web

from mockagent.encoding import json_response
from mockagent.errors import HTTP_STATUS, ApiError, ErrorKind
from mockagent.model import Completed, Event, Failed, ReasoningDelta, TextDelta, Timed, ToolCalled, ToolReturned
from mockagent.platforms.sse import Out, frame
from mockagent.runs import Run, RunStatus

Chunk = dict[str, Any]

# Aster's documented (or CHOSEN) fixed texts; a kind not listed here shows the ApiError's own message.
TEXT = {
    ErrorKind.MISSING_CREDENTIAL: "Unauthorized",
    ErrorKind.INVALID_CREDENTIAL: "Unauthorized",
    ErrorKind.FORBIDDEN: "Unauthorized: User is not an admin in this organization",
    ErrorKind.METHOD_NOT_ALLOWED: "Method not allowed",
    ErrorKind.PAYLOAD_TOO_LARGE: "Request body too large",
    ErrorKind.UNSUPPORTED_MEDIA_TYPE: "Content-Type must be application/json",
    ErrorKind.RATE_LIMITED: "Too many requests",
    ErrorKind.INTERNAL: "Internal server error",
    ErrorKind.BAD_GATEWAY: "Bad Gateway",
    ErrorKind.UNAVAILABLE: "Service Unavailable",
    ErrorKind.TIMEOUT: "Gateway Timeout",
}
_INVALID_BODY = "Invalid request body"
_TERMINAL_CHUNKS = frozenset({"finish", "abort"})


def render_error(error: ApiError) -> web.Response:
    status = HTTP_STATUS[error.kind]
    body: dict[str, Any] = {"error": TEXT.get(error.kind, error.message)}
    if error.kind in (ErrorKind.INVALID_JSON, ErrorKind.INVALID_BODY):
        body = {"error": _INVALID_BODY, "details": [{"message": error.message, "path": []}]}
    elif error.kind is ErrorKind.VALIDATION and error.fields:
        details = [{"message": f.msg, "path": list(f.loc)} for f in error.fields]
        body = {"error": _INVALID_BODY, "details": details}
    headers = error.retry_after_header() if error.kind is ErrorKind.RATE_LIMITED else {}  # 429s only (CHOSEN)
    return json_response(body, status=status, headers=headers)


# ── the AI SDK v5 UI-message stream ──────────────────────────────────────────────────────────────


class UiMessageChunks:
    """Neutral events → UI-message chunks, the way AI SDK's streamText frames a multi-step agent: a step
    ends after tool results, and the text that follows opens the next step."""

    def __init__(self, message_id: str, carried_call: ToolCalled | None) -> None:
        self.message_id = message_id
        self.carried_call = carried_call
        self.open: tuple[str, str] | None = None  # ("text" | "reasoning", id) of the open block
        self.calls: set[str] = set()
        self.after_tools = False
        self.finished = False

    def begin(self) -> list[Chunk]:
        return [{"type": "start", "messageId": self.message_id}, {"type": "start-step"}]

    def feed(self, event: Event) -> list[Chunk]:
        match event:
            case TextDelta(text=text, block=block):
                return self._delta("text", f"text-{block}", text)
            case ReasoningDelta(text=text, block=block):
                return self._delta("reasoning", f"reasoning-{block}", text)
            case ToolCalled(requires_approval=True):
                return []  # chat style: the question that follows in text is the approval request
            case ToolCalled():
                return self._next_step() + self._close() + self._tool_input(event)
            case ToolReturned():
                return self._close() + self._tool_output(event)
            case Failed(message=message):
                return self.end(message)
            case Completed():
                return self.end()
        return []

    def end(self, error: str | None = None) -> list[Chunk]:
        self.finished = True
        failure = [{"type": "error", "errorText": error}] if error is not None else []
        return [*self._close(), {"type": "finish-step"}, *failure, {"type": "finish"}]

    def abort(self) -> list[Chunk]:
        self.finished = True
        return [*self._close(), {"type": "abort"}]

    def _delta(self, kind: str, block_id: str, delta: str) -> list[Chunk]:
        out = self._next_step()
        if self.open != (kind, block_id):
            out += self._close()
            out.append({"type": f"{kind}-start", "id": block_id})
            self.open = (kind, block_id)
        out.append({"type": f"{kind}-delta", "id": block_id, "delta": delta})
        return out

    def _close(self) -> list[Chunk]:
        if self.open is None:
            return []
        kind, block_id = self.open
        self.open = None
        return [{"type": f"{kind}-end", "id": block_id}]

    def _next_step(self) -> list[Chunk]:
        if not self.after_tools:
            return []
        self.after_tools = False
        return [{"type": "finish-step"}, {"type": "start-step"}]

    def _tool_input(self, call: ToolCalled) -> list[Chunk]:
        self.calls.add(call.call_id)
        return [
            {"type": "tool-input-start", "toolCallId": call.call_id, "toolName": call.name},
            {"type": "tool-input-available", "toolCallId": call.call_id, "toolName": call.name, "input": call.args},
        ]

    def _tool_output(self, result: ToolReturned) -> list[Chunk]:
        out: list[Chunk] = []
        call_id = result.call_id
        if call_id not in self.calls:
            # A result whose call was made in the previous turn (an approval answered in chat): the
            # client has no part for it in this message, so the call is shown again first.
            call = self.carried_call or ToolCalled(call_id=call_id, name=result.name, args={})
            self.carried_call = None
            call_id = call.call_id
            out += self._tool_input(call)
        self.after_tools = True
        if result.error is not None:
            return [*out, {"type": "tool-output-error", "toolCallId": call_id, "errorText": result.error}]
        return [*out, {"type": "tool-output-available", "toolCallId": call_id, "output": result.output}]


class UiMessageFrames:
    """A run as UI-message chunks, then `[DONE]`. `finish` (or `abort`) is what ends the message for the AI
    SDK; `[DONE]` only closes the transport, so a stream cut before its terminal frame loses both."""

    def __init__(self, run: Run, message_id: str, carried_call: ToolCalled | None) -> None:
        self.run = run
        self.chunks = UiMessageChunks(message_id, carried_call)

    @staticmethod
    def _frames(chunks: list[Chunk]) -> tuple[Out, ...]:
        return tuple(frame(chunk, terminal=chunk["type"] in _TERMINAL_CHUNKS) for chunk in chunks)

    def opening(self) -> Iterable[Out]:
        return self._frames(self.chunks.begin())

    def started(self) -> Iterable[Out]:
        return ()

    def render(self, timed: Timed) -> Iterable[Out]:
        return self._frames(self.chunks.feed(timed.event))

    def closing(self) -> Iterable[Out]:
        ending: list[Chunk] = []
        if not self.chunks.finished:  # the run was ended from outside: timed out or cancelled
            timed_out = self.run.status() is RunStatus.TIMED_OUT
            ending = self.chunks.end(TEXT[ErrorKind.TIMEOUT]) if timed_out else self.chunks.abort()
        return (*self._frames(ending), "[DONE]")
