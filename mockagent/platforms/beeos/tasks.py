"""BeeOS async tasks as views of a run: the task object, its status, and its channel messages.

A task is one run (PauseStyle.NATIVE). Its channel holds the user's message at offset 1, then one
message per neutral event (offset = the event's timeline index + 2), then — for a run the engine ended
without a closing event (cancelled, timed out, expired) — one closing `agent_reply`. Every view (GET,
list, events, messages) derives from the run at the moment it is asked, so none can disagree.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from typing import Any

from mockagent.model import (
    Completed,
    Failed,
    Glitched,
    Paused,
    PauseKind,
    ReasoningDelta,
    Resumed,
    TextDelta,
    Timed,
    ToolCalled,
    ToolReturned,
)
from mockagent.platforms.base import iso
from mockagent.runs import Run, RunStatus

Json = dict[str, Any]

# The engine's lifecycle in BeeOS TaskStatus words (one "l" in canceled; an expired approval is rejected).
TASK_STATUS: dict[RunStatus, str] = {
    RunStatus.QUEUED: "queued",
    RunStatus.RUNNING: "running",
    RunStatus.COMPLETED: "completed",
    RunStatus.FAILED: "failed",
    RunStatus.CANCELLED: "canceled",
    RunStatus.TIMED_OUT: "timeout",
    RunStatus.EXPIRED: "rejected",
}
DELTA_TYPE = "agent_reply_delta"  # left out of the messages list unless include_deltas=true


@dataclass
class Task:
    id: str
    run: Run
    owner: str  # the caller id that created it: other callers see 404 (owner ACL)
    metadata: dict[str, str]
    deadline_at: float | None
    seq: int  # creation order, the list cursor
    # What each continue sent, by the timeline index of its Resumed event (the channel shows it).
    inputs: dict[int, Json] = field(default_factory=dict)

    @property
    def agent_id(self) -> str:
        return self.run.agent.id

    def stamp(self, at: float | None) -> str | None:
        return iso(self.run.clock, at)

    def status(self, now: float | None = None) -> str:
        pause = self.run.pause(now)
        if pause is not None:
            return "auth_required" if pause.kind is PauseKind.APPROVAL else "input_required"
        return TASK_STATUS[self.run.status(now)]

    def error(self, now: float | None = None) -> str | None:
        """TaskResponse.error is a plain string (the SDK rejects an object)."""
        run = self.run
        match run.status(now):
            case RunStatus.FAILED:
                failure = run.failure(now)
                return failure.message if failure else "the agent failed"
            case RunStatus.CANCELLED:
                return run.end_reason or "canceled"
            case RunStatus.TIMED_OUT:
                return "task deadline exceeded"
            case RunStatus.EXPIRED:
                return "the approval request expired"
        return None

    def view(self, now: float) -> Json:
        """TaskResponse.data."""
        run = self.run
        status = run.status(now)
        data: Json = {
            "task_id": self.id,
            "agent_id": self.agent_id,
            "status": self.status(now),
            "caller_id": self.owner,
            "metadata": self.metadata,
            "created_at": self.stamp(run.created_at),
            "started_at": None if status is RunStatus.QUEUED else self.stamp(run.moment(RunStatus.RUNNING)),
            "completed_at": self.stamp(run.moment(status)) if status.is_terminal else None,
            "deadline_at": self.stamp(self.deadline_at),
            "truncated": False,
        }
        pause = run.pause(now)
        if status is RunStatus.COMPLETED:
            data["result"] = {"text": run.text(now)}
        elif pause is not None:
            # CHOSEN: while paused, `result` says what the agent waits for (the channel shows it too).
            data["result"] = {"text": run.text(now), **_pause_payload(pause)}
        elif status.is_terminal:
            data["error"] = self.error(now)
        return {k: v for k, v in data.items() if v is not None}

    def summary(self, now: float) -> Json:
        """TaskSummary: active | closed, with the closing status as close_reason."""
        status = self.run.status(now)
        data: Json = {
            "task_id": self.id,
            "agent_id": self.agent_id,
            "caller_id": self.owner,
            "state": "closed" if status.is_terminal else "active",
            "close_reason": self.status(now) if status.is_terminal else None,
            "metadata": self.metadata,
            "deadline_at": self.stamp(self.deadline_at),
        }
        return {k: v for k, v in data.items() if v is not None}

    # ── the channel ──────────────────────────────────────────────────────────────────────────────

    def message_id(self, offset: int) -> str:
        return f"msg-{self.id.removeprefix('ch-')}-{offset}"

    def opening(self) -> Json:
        """The user's message, offset 1."""
        return {
            "type": "chat_message",
            "message_id": self.message_id(1),
            "offset": 1,
            "publisher_id": self.owner,
            "payload": {"text": self.run.message},
            "body": self.run.message,
            "created_at": self.stamp(self.run.created_at),
        }

    def message(self, timed: Timed) -> Json:
        """One channel message for one neutral event."""
        return self._compose(timed.seq + 2, timed.at, self._content(timed))

    def _compose(self, offset: int, at: float | None, content: Json) -> Json:
        """An agent-side message: `content` (its type, payload, …) in the channel's envelope."""
        return {
            "type": content.pop("type"),
            "message_id": self.message_id(offset),
            "offset": offset,
            "publisher_id": f"agent:{self.agent_id}",
            "in_reply_to": self.message_id(1),
            "created_at": self.stamp(at),
            **content,
        }

    def _content(self, timed: Timed) -> Json:
        event = timed.event
        match event:
            case TextDelta(text=text):
                return {"type": DELTA_TYPE, "payload": {"text": text}, "state": "streaming"}
            case ReasoningDelta(text=text):
                part = {"type": "thinking", "text": text, "state": "done"}
                return {"type": "agent_thinking", "payload": {"text": text}, "parts": [part]}
            case ToolCalled():
                call = {"id": event.call_id, "name": event.name, "arguments": event.args}
                return {"type": "tool_use", "payload": call, "parts": [{"type": "tool_use", **call}]}
            case ToolReturned():
                result = {"tool_use_id": event.call_id, "content": _tool_content(event), "is_error": event.is_error}
                return {"type": "tool_result", "payload": result, "parts": [{"type": "tool_result", **result}]}
            case Paused():
                kind = "auth_required" if event.kind is PauseKind.APPROVAL else "input_required"
                return {"type": kind, "payload": _pause_payload(event), "body": event.question}
            case Resumed():
                return {
                    "type": "chat_message",
                    "publisher_id": self.owner,
                    "in_reply_to": None,
                    "payload": self.inputs.get(timed.seq, {"decision": event.decision}),
                }
            case Completed():
                text = self.run.text(timed.at)
                return _reply(text, "completed", "end_turn", {"text": text})
            case Failed(message=message, code=code):
                return _reply(
                    message, "failed", "error", {"text": self.run.text(timed.at), "error": message, "code": code}
                )
        # A stream fault's marker is not a channel message (follow() and messages() skip it).
        raise ValueError(f"no channel message for {event!r}")

    def closing(self) -> Json | None:
        """The agent_reply for a run the engine ended early (cut timelines have no closing event)."""
        run = self.run
        status = run.status()
        endings = {
            RunStatus.CANCELLED: ("cancelled", "user_stop"),
            RunStatus.TIMED_OUT: ("failed", "timeout"),
            RunStatus.EXPIRED: ("refused", "refused"),
        }
        if status not in endings:
            return None
        state, stop_reason = endings[status]
        error = self.error() or ""
        content = _reply(error, state, stop_reason, {"text": run.text(), "error": error})
        return self._compose(len(run.timeline) + 2, run.moment(status), content)

    def messages(self, now: float) -> list[Json]:
        """The whole channel as of `now`."""
        out = [self.opening()]
        out += [self.message(t) for t in self.run.visible(now) if not isinstance(t.event, Glitched)]
        if self.run.status(now).is_terminal and (closing := self.closing()) is not None:
            out.append(closing)
        return [compact(m) for m in out]


def compact(message: Json) -> Json:
    return {k: v for k, v in message.items() if v is not None}


def _reply(body: str, state: str, stop_reason: str, payload: Json) -> Json:
    return {"type": "agent_reply", "payload": payload, "body": body, "state": state, "stop_reason": stop_reason}


def _pause_payload(pause: Paused) -> Json:
    payload: Json = {"question": pause.question}
    if pause.options:
        payload["options"] = list(pause.options)
    if pause.tool_call is not None:
        call = pause.tool_call
        payload["tool_call"] = {"id": call.call_id, "name": call.name, "arguments": call.args}
    return payload


def _tool_content(event: ToolReturned) -> str | dict[str, Any]:
    """A tool_result part's content is a string or an object; anything else is sent as JSON text."""
    if event.error is not None:
        return event.error
    output = event.output
    if isinstance(output, str | dict):
        return output
    return json.dumps(output, ensure_ascii=False)
