"""The session store of a server whose processes share Redis: each process keeps the sessions it served,
and what they count together (calls, tokens) lives in Redis, where a reset deletes it for all of them."""

from __future__ import annotations

from collections.abc import Callable

from mockagent.sessions import MAX_SESSIONS, MemorySessions, Session
from mockagent.shared import Shared


class SharedSessions(MemorySessions):
    def __init__(self, shared: Shared, make: Callable[[str], Session], limit: int = MAX_SESSIONS) -> None:
        self._shared = shared
        super().__init__(make, limit)

    async def reset(self, name: str) -> bool:
        existed = await super().reset(name)
        return await self._shared.forget_session(name) or existed
