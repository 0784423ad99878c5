"""What xpander keeps in a session: its organization (the task views carry its id)."""

from __future__ import annotations

import uuid

from mockagent.platforms.xpander.tasks import TaskView
from mockagent.runs import Run
from mockagent.sessions import Session


class XpanderRecords:
    def __init__(self, session: Session) -> None:
        # CHOSEN: one organization per session; its id is fresh each time the session is made.
        self.view = TaskView(str(uuid.uuid4()), session.clock)

    def forget(self, run: Run) -> None:
        pass  # it keeps no run

    def close(self) -> None:
        pass
