"""AgentOS hosted runs as the API shows them: the run object, its wire status, and its error codes."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from mockagent.model import Paused, PauseKind
from mockagent.platforms.base import iso
from mockagent.runs import Run, RunStatus

if TYPE_CHECKING:
    from mockagent.platforms.agentos.approvals import Approvals

#: CHOSEN: clock seconds a hosted run may take (the SDK waits "just over the server's 300 s limit").
GATEWAY_TIMEOUT = 300.0


@dataclass(frozen=True)
class HostedRun:
    """What an invoke asked for beside its input (kept with its run, echoed by its views)."""

    session_id: str | None = None  # only when the invoke used or started a session
    prompt_variables: dict[str, str] = field(default_factory=dict)
    external_user_id: str | None = None
    parent_run_id: str | None = None
    history: tuple[dict[str, Any], ...] = ()
    test: bool = False


def wire_status(run: Run) -> str:
    match run.status():
        case RunStatus.QUEUED | RunStatus.RUNNING:
            return "running"
        case RunStatus.PAUSED:
            pause = run.pause()
            return "awaiting_approval" if pause and pause.kind is PauseKind.APPROVAL else "awaiting_input"
        case RunStatus.EXPIRED | RunStatus.TIMED_OUT:
            return "failed"  # CHOSEN: an expired approval counts as a rejection
        case status:
            return status.value


def run_error(run: Run) -> tuple[str, str]:
    """The code and message of a run that did not complete (CHOSEN codes, see docs/platforms/agentos.md)."""
    match run.status():
        case RunStatus.FAILED:
            failure = run.failure()
            return "AGENT_ERROR", failure.message if failure else "The agent failed."
        case RunStatus.EXPIRED:
            return "APPROVAL_EXPIRED", "The approval expired before anyone decided it."
        case RunStatus.TIMED_OUT:
            return "TIMEOUT", f"The run did not finish within {GATEWAY_TIMEOUT:g} s."
    return "CANCELLED", f"The run was cancelled: {run.end_reason or 'cancelled'}."


def question(pause: Paused) -> dict[str, Any]:
    found: dict[str, Any] = {"request_id": pause.request_id, "question": pause.question}
    if pause.options:
        found["options"] = list(pause.options)
    return found


def awaiting(run: Run, approvals: Approvals) -> dict[str, Any]:
    pause = run.pause()
    assert pause is not None
    if pause.kind is PauseKind.APPROVAL:
        return {"awaiting_approval": {"approval_id": approvals.of(run).id}}
    return {"awaiting_input": question(pause)}


def output(run: Run) -> dict[str, Any]:
    return {"text": run.text()}


def duration_ms(run: Run) -> int:
    end = run.moment(RunStatus.COMPLETED)
    return round(((end if end is not None else run.clock.now()) - run.created_at) * 1000)


def run_view(run: Run, approvals: Approvals) -> dict[str, Any]:
    record = run.record_of(HostedRun)
    status = run.status()
    finished = run.moment(status) if status.is_terminal else None
    code_message = run_error(run) if status.is_terminal and status is not RunStatus.COMPLETED else None
    view: dict[str, Any] = {
        "run_id": run.id,
        "agent_id": run.agent.id,
        "status": wire_status(run),
        "output": output(run) if status is RunStatus.COMPLETED else None,
        "error": {"code": code_message[0], "message": code_message[1]} if code_message else None,
        "session_id": record.session_id,
        "parent_run_id": record.parent_run_id,
        "test": record.test,
        "created_at": iso(run.clock, run.created_at),
        "finished_at": iso(run.clock, finished),
        "duration_ms": round((finished - run.created_at) * 1000) if finished is not None else None,
    }
    if status is RunStatus.PAUSED:
        view.update(awaiting(run, approvals))
    return view
