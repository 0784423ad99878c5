"""The ingest API's records: runs that a customer's own code executes and reports, kept for inspection.

Nothing here plays a script: the client says what happened and the mock remembers it, so a test can
read back (through /__mockagent/agentos/ingest/…) exactly what its instrumented agent reported. What one
run keeps is bounded (CHOSEN): its latest `EVENTS_KEPT` events (`events_dropped` counts the rest), and
`TASKS_KEPT` tasks with the latest `HISTORY_KEPT` status changes each.
"""

from __future__ import annotations

from collections import deque
from dataclasses import dataclass, field
from typing import Any

from mockagent.clock import Clock
from mockagent.errors import ApiError, ErrorKind
from mockagent.platforms.base import iso
from mockagent.store import Bounded

EVENTS_KEPT = 1_000
TASKS_KEPT = 1_000
HISTORY_KEPT = 100


@dataclass
class IngestRun:
    id: str
    agent_id: str
    trigger_type: str
    input: dict[str, Any]
    external_run_id: str | None
    parent_run_id: str | None
    started_at: float
    status: str = "running"  # running | completed | failed | cancelled
    ended_at: float | None = None
    output: dict[str, Any] | None = None
    error: dict[str, Any] | None = None
    cancel_reason: str | None = None
    usage: dict[str, int] = field(default_factory=dict)
    events: deque[dict[str, Any]] = field(default_factory=lambda: deque(maxlen=EVENTS_KEPT))
    events_dropped: int = 0
    tasks: Bounded[str, dict[str, Any]] = field(default_factory=lambda: Bounded(TASKS_KEPT))

    def add_events(self, events: list[dict[str, Any]]) -> None:
        self.events_dropped += max(0, len(self.events) + len(events) - EVENTS_KEPT)
        self.events.extend(events)

    def report_task(self, report: dict[str, Any], status: str, at: str | None) -> None:
        """A later report updates the task (the docs: "call again with a terminal status")."""
        task = self.tasks.get(report["id"])
        if task is None:
            task = self.tasks[report["id"]] = {"created_at": at, "history": deque(maxlen=HISTORY_KEPT)}
        task.update(report, updated_at=at)
        task["history"].append({"status": status, "at": at})

    def end(self, status: str, at: float) -> bool:
        """Move to a terminal status; False when it is already there (a retried call, CHOSEN: fine)."""
        if self.status == status:
            return False
        if self.status != "running":
            raise ApiError(ErrorKind.CONFLICT, f"Run {self.id} is already {self.status}; it cannot become {status}.")
        self.status, self.ended_at = status, at
        return True


class IngestRecords:
    """The runs reported through ingest (the latest `limit`), and the external ids they were started with."""

    def __init__(self, limit: int) -> None:
        self.runs: Bounded[str, IngestRun] = Bounded(limit)
        self.external: Bounded[tuple[str, str], str] = Bounded(limit)


def ingest_view(run: IngestRun, clock: Clock) -> dict[str, Any]:
    return {
        "run_id": run.id,
        "agent_id": run.agent_id,
        "trigger_type": run.trigger_type,
        "input": run.input,
        "external_run_id": run.external_run_id,
        "parent_run_id": run.parent_run_id,
        "status": run.status,
        "started_at": iso(clock, run.started_at),
        "ended_at": iso(clock, run.ended_at),
        "output": run.output,
        "error": run.error,
        "cancel_reason": run.cancel_reason,
        "usage": run.usage,
        "events": list(run.events),
        "events_dropped": run.events_dropped,
        "tasks": [{**task, "history": list(task["history"])} for task in run.tasks.values()],
    }
