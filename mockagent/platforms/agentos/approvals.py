"""AgentOS approvals: a hosted run's pause for a tool call, with what the human decided.

An approval is the run's pause, looked up by its request id; it is remembered once somebody has seen it
(a stream frame, a poll, a listing), so that it can be decided once — and shows how it was decided after.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from mockagent.model import Paused, PauseKind, PlatformKey
from mockagent.platforms.agentos.runs import HostedRun
from mockagent.platforms.base import iso
from mockagent.runs import Run, RunStatus
from mockagent.sessions import Session
from mockagent.store import Bounded


@dataclass
class Approval:
    """A tool call waiting for a human, and what the human said."""

    run: Run
    pause: Paused
    created_at: float
    expires_at: float | None
    decision: str | None = None  # approved | rejected
    note: str | None = None
    decided_at: float | None = None

    @property
    def id(self) -> str:
        return self.pause.request_id

    def decide(self, approve: bool, note: str | None) -> None:
        """Record the human's decision (the run is resumed by the caller)."""
        self.decision = "approved" if approve else "rejected"
        self.note, self.decided_at = note, self.run.clock.now()

    def status(self) -> str:
        if self.decision is not None:
            return self.decision
        status = self.run.status()
        if status is RunStatus.EXPIRED:
            return "expired"
        return "pending" if status is RunStatus.PAUSED else "cancelled"

    def view(self) -> dict[str, Any]:
        call = self.pause.tool_call
        clock = self.run.clock
        return {
            "id": self.id,
            "approval_id": self.id,
            "run_id": self.run.id,
            "agent_id": self.run.agent.id,
            "session_id": self.run.record_of(HostedRun).session_id,
            "tool_name": call.name if call else None,
            "tool_input": call.args if call else None,
            "status": self.status(),
            "created_at": iso(clock, self.created_at),
            "expires_at": iso(clock, self.expires_at),
            "decided_at": iso(clock, self.decided_at),
            "decision_note": self.note,
        }


class Approvals:
    """Every approval seen in a session, by id (the latest `limit`)."""

    def __init__(self, session: Session) -> None:
        self.session = session
        self._seen: Bounded[str, Approval] = Bounded(session.store_limit)

    def of(self, run: Run) -> Approval:
        """The approval `run` is paused on, remembered so that it can be decided (once) later."""
        pending = run.pending
        assert pending is not None, "only a run paused for approval has an approval"
        found = self._seen.get(pending.pause.request_id)
        if found is None:
            found = Approval(run, pending.pause, pending.at, pending.expires_at)
            self._seen[found.id] = found
        return found

    def forget(self, run: Run) -> None:
        """The session's run store forgot `run`: so are its approvals (each is one of its pauses)."""
        for timed in run.timeline:
            if isinstance(timed.event, Paused):
                self._seen.pop(timed.event.request_id, None)

    def pending(self) -> list[Approval]:
        """The approvals waiting for a decision now."""
        runs = self.session.runs_of(PlatformKey.AGENTOS)
        return [self.of(run) for run in runs if (p := run.pause()) and p.kind is PauseKind.APPROVAL]

    def find(self, approval_id: str) -> Approval | None:
        return self._seen.get(approval_id) or next((a for a in self.pending() if a.id == approval_id), None)

    def seen(self) -> list[Approval]:
        self.pending()  # registers approvals nobody has looked at yet
        return list(self._seen.values())
