"""What BeeOS keeps in a session: tasks, files, and what each idempotency key started."""

from __future__ import annotations

import itertools

from mockagent.platforms.beeos.files import StoredFile, Uploads
from mockagent.platforms.beeos.tasks import Task
from mockagent.runs import Run
from mockagent.sessions import Session
from mockagent.store import Bounded

IdempotencyKey = tuple[str, str, str]  # (caller, agent, the client's key)


class BeeOSRecords:
    __slots__ = ("files", "invokes", "seq", "task_keys", "tasks", "uploads")

    def __init__(self, session: Session) -> None:
        limit = session.store_limit
        self.tasks: Bounded[str, Task] = Bounded(limit)
        self.uploads = Uploads(session.scratch)
        self.files: Bounded[str, StoredFile] = Bounded(limit, self.uploads.forget)
        # Ids, not the runs and tasks themselves: the session's run store alone decides how long a run is
        # kept, and a key whose run it forgot finds nothing.
        self.invokes: Bounded[IdempotencyKey, str] = Bounded(limit)  # the run each key started
        self.task_keys: Bounded[IdempotencyKey, str] = Bounded(limit)  # the task each key created
        self.seq = itertools.count(1)  # task creation order, the list cursor

    def forget(self, run: Run) -> None:
        """A task is its run (same id): it goes when the session's run store forgets the run."""
        self.tasks.pop(run.id, None)

    def close(self) -> None:
        pass  # the uploads' folder is the session's, removed with it
