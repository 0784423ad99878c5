"""The session store of a server whose processes share Redis.

Each process keeps the sessions it served, and brings one up to date (`sync`) before serving a request of
it: a manual clock advanced through another process is advanced here first, from the same wall-clock start.
What the processes count together (calls, tokens) lives in Redis, where a reset deletes it for all of them;
and each process hears of the others' advances and resets as they happen, so that a stream waiting on a
clock here moves when another process moves it."""

from __future__ import annotations

import asyncio
from collections.abc import Callable
from datetime import UTC, datetime

from mockagent.clock import MAX_CLOCK, ManualClock
from mockagent.sessions import MAX_SESSIONS, MemorySessions, Session
from mockagent.shared import KEY_TTL, Shared

# KEYS: the session's clock; ARGV: seconds, the most it may reach, the TTL, the news to publish (with
# "AT" where the clock's new time goes), the channel. Returns the new time, or -1 past the most.
_ADVANCE = """
local target = tonumber(redis.call('GET', KEYS[1]) or '0') + tonumber(ARGV[1])
if target > tonumber(ARGV[2]) then return '-1' end
redis.call('SET', KEYS[1], tostring(target), 'EX', ARGV[3])
redis.call('PUBLISH', ARGV[5], (string.gsub(ARGV[4], '"AT"', tostring(target))))
return tostring(target)
"""


class SharedSessions(MemorySessions):
    synced = True

    def __init__(self, shared: Shared, make: Callable[[str], Session], limit: int = MAX_SESSIONS) -> None:
        self._shared = shared
        self._advance = shared.client.register_script(_ADVANCE)
        self._moving: set[asyncio.Task[None]] = set()  # advances heard from other processes, under way
        super().__init__(make, limit)

    async def open(self, name: str) -> Session:
        session = self.get(name)
        await self.sync(session)
        return session

    async def sync(self, session: Session) -> None:
        self._shared.listen(self._hear)
        clock = session.clock
        if not isinstance(clock, ManualClock):
            return  # the real clock: every process counts from the server's epoch
        client = self._shared.client
        start, at = (
            self._shared.session_key(session.name, "clock", "start"),
            self._shared.session_key(session.name, "clock"),
        )
        async with self._shared.lost(), client.pipeline(transaction=True) as pipe:
            pipe.set(start, repr(datetime.now(UTC).timestamp()), nx=True, ex=KEY_TTL)
            pipe.get(start)
            pipe.get(at)
            _, started, now = await pipe.execute()
        clock.rebase(datetime.fromtimestamp(float(started), UTC))
        if now is not None:
            await clock.advance_to(float(now))

    async def advance(self, session: Session, seconds: float) -> None:
        clock = session.clock
        if not isinstance(clock, ManualClock):
            raise TypeError("the session's clock is not manual")
        if seconds < 0:
            raise ValueError(f"a clock cannot go back ({seconds} s)")
        news = self._shared.news("clock", session=session.name, at="AT")
        keys = [self._shared.session_key(session.name, "clock")]
        async with self._shared.lost():
            target = float(
                await self._advance(
                    keys=keys, args=[repr(seconds), repr(MAX_CLOCK), KEY_TTL, news, self._shared.channel]
                )
            )
        if target < 0:
            raise ValueError(f"a manual clock goes at most {MAX_CLOCK:.0f} s (100 years) past its start")
        await clock.advance_to(target)

    async def reset(self, name: str) -> bool:
        existed = await super().reset(name)
        existed = await self._shared.forget_session(name) or existed
        await self._shared.tell("reset", session=name)
        return existed

    def _hear(self, news: dict[str, object]) -> None:
        name = news.get("session")
        session = self._sessions.get(name) if isinstance(name, str) else None
        if session is None:
            return  # a session this process never served: its next request syncs it
        if news.get("kind") == "clock" and isinstance(session.clock, ManualClock):
            at = news.get("at")
            if isinstance(at, int | float):
                moving = asyncio.get_running_loop().create_task(session.clock.advance_to(float(at)))
                self._moving.add(moving)
                moving.add_done_callback(self._moving.discard)
        elif news.get("kind") == "reset":
            self._forget(session.name)
