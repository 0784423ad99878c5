"""What was asked and answered, for inspection (`GET /__mockagent/journal`) and verification in tests.

Entries hold no headers and no bodies, so no secret can reach the journal.
"""

from __future__ import annotations

from collections import deque
from dataclasses import asdict, dataclass
from typing import Any

from mockagent.clock import Clock

MAX_ENTRIES = 10_000


@dataclass(frozen=True, slots=True)
class Entry:
    at: float  # clock time; shown as ISO-8601 only when read (formatting costs more than the rest)
    platform: str | None
    method: str
    path: str
    status: int
    agent: str | None = None
    fault: str | None = None
    explanation: str | None = None  # why nothing answered: an unmatched reply, a cassette miss
    stub: str | None = None  # where the raw stub that answered is declared (path:line:col)

    def as_json(self, clock: Clock) -> dict[str, Any]:
        return asdict(self) | {"at": clock.wall(self.at).isoformat(timespec="milliseconds")}


class Journal:
    """A bounded record of requests, newest last."""

    def __init__(self, size: int = MAX_ENTRIES) -> None:
        self._entries: deque[Entry] = deque(maxlen=size)

    def add(self, entry: Entry) -> None:
        self._entries.append(entry)

    def entries(self, *, platform: str | None = None, path: str | None = None) -> list[Entry]:
        return [
            e
            for e in self._entries
            if (platform is None or e.platform == platform) and (path is None or path in e.path)
        ]

    def clear(self) -> None:
        self._entries.clear()
