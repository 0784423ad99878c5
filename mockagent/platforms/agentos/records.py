"""What AgentOS keeps in a session: its approvals and the runs reported through ingest."""

from __future__ import annotations

from mockagent.platforms.agentos.approvals import Approvals
from mockagent.platforms.agentos.ingest import IngestRecords
from mockagent.runs import Run
from mockagent.sessions import Session


class AgentOSRecords:
    def __init__(self, session: Session) -> None:
        self.approvals = Approvals(session)
        self.ingest = IngestRecords(session.store_limit)

    def forget(self, run: Run) -> None:
        self.approvals.forget(run)

    def close(self) -> None:
        pass  # nothing outside the session
