"""Runs and their events in neutral form — the platform-free JSON the admin API, its event feed and the web
page show (docs/admin.md#runs)."""

from __future__ import annotations

from typing import Any

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
from mockagent.runs import Run, RunStatus, open_pause

Json = dict[str, Any]


def brief(run: Run, now: float | None = None) -> Json:
    """Who a run is and where it stands (what each event of the feed names: cheap, whatever the run's length)."""
    return {
        "id": run.id,
        "platform": run.conversation.platform.value,
        "agent": run.agent.id,
        "conversation": run.conversation.id,
        "status": run.status(now).value,
    }


def summary(run: Run, now: float | None = None) -> Json:
    """What `GET /runs` lists of a run."""
    now = run.clock.now() if now is None else now
    body: Json = brief(run, now) | {
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
