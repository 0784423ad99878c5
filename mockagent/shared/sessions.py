"""The session store of a server whose processes share Redis.

Each process keeps a copy of the sessions it serves (`Replica`), brought up to date (`sync`) before it
serves a request of one: the objects other processes changed since (runs, conversations, a platform's
records, the session's counters) are read back from Redis, and a manual clock another process advanced is
advanced here too, from the same wall-clock start. A request that may change the session holds its lock in
Redis from its admission (`hold`) until it first waits or ends; then what it changed is written (`Replica.commit`,
one script that also tells the other processes, which read it at once: a stream they follow moves on).
What the processes count together (calls, tokens) lives in Redis too; a reset deletes it all, for all."""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time
from collections.abc import Callable
from datetime import UTC, datetime
from typing import TYPE_CHECKING, Any, TypeAlias

from mockagent.clock import MAX_CLOCK, ManualClock
from mockagent.errors import ApiError
from mockagent.feed import Feed
from mockagent.holding import HELD, let_go
from mockagent.journal import JOURNAL_SIZE, Kept
from mockagent.scenarios.model import ScenarioSet
from mockagent.sessions import DEFAULT_SESSION, MAX_SESSIONS, MemorySessions, Session
from mockagent.shared import KEY_TTL, REDIS_TIMEOUT, Shared, stopping
from mockagent.shared.journal import SharedJournal
from mockagent.shared.replicas import Replica

if TYPE_CHECKING:
    from redis.asyncio.client import Pipeline

# KEYS: the session's clock; ARGV: seconds, the most it may reach, the TTL, the news to publish (with
# "AT" where the clock's new time goes), the channel. Returns the new time, or -1 past the most.
_ADVANCE = """
local target = tonumber(redis.call('GET', KEYS[1]) or '0') + tonumber(ARGV[1])
if target > tonumber(ARGV[2]) then return '-1' end
redis.call('SET', KEYS[1], tostring(target), 'EX', ARGV[3])
redis.call('PUBLISH', ARGV[5], (string.gsub(ARGV[4], '"AT"', tostring(target))))
return tostring(target)
"""


# KEYS: the server's sessions by last use, its sequence. ARGV: the most kept, the default session, the TTL,
# then the sessions just used. Returns the least recently used past the most (never the default): to forget.
_USED = """
for i = 4, #ARGV do redis.call('ZADD', KEYS[1], redis.call('INCR', KEYS[2]), ARGV[i]) end
redis.call('EXPIRE', KEYS[1], ARGV[3])
redis.call('EXPIRE', KEYS[2], ARGV[3])
local excess = redis.call('ZCARD', KEYS[1]) - tonumber(ARGV[1])
local forgotten = {}
if excess > 0 then
  for _, name in ipairs(redis.call('ZRANGE', KEYS[1], 0, excess)) do
    if #forgotten < excess and name ~= ARGV[2] then
      redis.call('ZREM', KEYS[1], name)
      forgotten[#forgotten + 1] = name
    end
  end
end
return forgotten
"""

#: CHOSEN: feed events waiting to go to the other processes; past it, the newest are dropped (and logged).
OUTBOX = 10_000
SEND_BATCH = 500  # the most sent in one pipeline
SEND_GATHER = 0.002  # seconds a send waits for more to send with it (fewer, fuller pipelines under load)
#: CHOSEN: how often a process notes that it used a session (which sessions were used last is told to the
#: second: a busy session is not noted on every request).
USE_NOTED = 1.0
#: CHOSEN: how often, and how long each time (real seconds), a run another process started is looked for
#: here before its feed events are given up on (it is told of as it starts, and written as it first waits).
FOLLOW_TRIES = 5
FOLLOW_WAIT = 1.0
log = logging.getLogger("mockagent.shared")
#: What goes to the other processes: a feed event, or a session's journal entry.
Outgoing: TypeAlias = dict[str, Any] | tuple[str, dict[str, Any]]


class SharedSessions(MemorySessions):
    synced = True

    def __init__(
        self,
        shared: Shared,
        make: Callable[[str], Session],
        scenarios: Callable[[], ScenarioSet],
        limit: int = MAX_SESSIONS,
        journal_size: int = JOURNAL_SIZE,
    ) -> None:
        self._shared = shared
        self._scenarios = scenarios
        self._advance = shared.client.register_script(_ADVANCE)
        self._replicas: dict[str, Replica] = {}
        self.feed: Feed | None = None  # the engine's, whose events go to the other processes and back
        self._outbox: asyncio.Queue[Outgoing] | None = None  # made on the first send
        self._queued = 0  # how many sends were queued, and how many of them went (or were given up on)
        self._gone = 0
        self._went = asyncio.Condition()
        self._noted: dict[str, float] = {}  # when (monotonic) each session's use was last noted in Redis
        self.journal = SharedJournal(shared, journal_size)
        super().__init__(make, limit)

    def forward(self, kind: str, session: str, platform: str | None, data: dict[str, Any]) -> None:
        """The feed's outlet: an event of this process's, to the other processes' listeners — sent in the
        background, in order, by one sender (the request that made it does not wait for Redis to take it)."""
        self._send_soon({"event": kind, "session": session, "platform": platform, "data": data})

    def keep(self, session: Session, entry: dict[str, Any]) -> None:
        """An answered entry (as the admin API shows it), into the journal every process reads — written
        in the background, before the feed's events sent with it."""
        self._send_soon((session.name, entry))

    async def kept(self, sessions: list[str] | None) -> list[Kept] | None:
        await self._sent()  # what this process answered before is read back: a test verifies right after
        return await self.journal.entries(sessions)

    async def forget_kept(self, sessions: list[str] | None) -> int:
        await self._sent()
        return await self.journal.clear(sessions)

    def _send_soon(self, outgoing: Outgoing) -> None:
        if self._outbox is None:
            self._outbox = asyncio.Queue(OUTBOX)
            self._shared.soon(self._send())
        try:
            self._outbox.put_nowait(outgoing)
            self._queued += 1
        except asyncio.QueueFull:
            log.warning("what this process sends the others falls behind: an event or an entry is dropped")

    async def _send(self) -> None:
        """Send what is queued, all that waits in one pipeline (one round trip): the journal's entries, then
        the feed's events in one message (a listener told of an answer finds its entry written)."""
        outbox = self._outbox
        assert outbox is not None
        while not stopping():
            batch = [await outbox.get()]
            await asyncio.sleep(SEND_GATHER)  # what the requests in flight make meanwhile goes with it
            while len(batch) < SEND_BATCH and not outbox.empty():
                batch.append(outbox.get_nowait())
            events = [outgoing for outgoing in batch if isinstance(outgoing, dict)]
            try:
                async with self._shared.lost(), self._shared.client.pipeline(transaction=False) as pipe:
                    for outgoing in batch:
                        if isinstance(outgoing, tuple):
                            self.journal.add(pipe, *outgoing)
                    if events:
                        pipe.publish(self._shared.channel, self._shared.news("feed", events=events))
                    used = self._fresh({outgoing[0] for outgoing in batch if isinstance(outgoing, tuple)})
                    if used:
                        self._used(pipe, used)
                    answers = await pipe.execute()
                for name in answers[-1] if used else ():
                    # Past the server's most, used least recently: forgotten by every process, as one
                    # process forgets its own.
                    self._shared.soon(self.reset(name))
            except ApiError:
                pass  # Redis away: the others miss it, as a listener that reconnects would
            except Exception:
                log.exception("what this process sends the others could not be sent")
            self._gone += len(batch)
            async with self._went:
                self._went.notify_all()

    async def stop(self) -> None:
        """The server stops: what is queued for the other processes is sent (for up to `REDIS_TIMEOUT`; its
        tasks end as `Shared.close` closes the connections, after this)."""
        with contextlib.suppress(TimeoutError):
            async with asyncio.timeout(REDIS_TIMEOUT):
                await self._sent()
        await super().stop()

    def _fresh(self, names: set[str]) -> set[str]:
        """Of the sessions `names` just used, those not noted as used in the last `USE_NOTED` seconds."""
        now = time.monotonic()
        if len(self._noted) > 2 * self.limit:
            self._noted.clear()
        fresh = {name for name in names if now - self._noted.get(name, -USE_NOTED) >= USE_NOTED}
        self._noted.update(dict.fromkeys(fresh, now))
        return fresh

    def _used(self, pipe: Pipeline, names: set[str]) -> None:
        """Note that `names` were used: the server keeps its `limit` sessions used last, as one process does."""
        keys = (self._shared.key("sessions"), self._shared.key("sessions", "seq"))
        pipe.eval(_USED, 2, *keys, self.limit, DEFAULT_SESSION, KEY_TTL, *sorted(names))

    async def _sent(self) -> None:
        """Until what this process queued so far has been sent."""
        target = self._queued
        async with self._went:
            await self._went.wait_for(lambda: self._gone >= target)

    def _replica(self, session: Session) -> Replica:
        replica = self._replicas.get(session.name)
        if replica is None or replica.session is not session:
            replica = self._replicas[session.name] = Replica(self._shared, session, self._scenarios)
            if len(self._replicas) > 2 * self.limit:  # the sessions this store forgot
                for name in [name for name in self._replicas if name not in self._sessions]:
                    del self._replicas[name]
        return replica

    async def hold(self, session: Session) -> None:
        """Take the session's lock in Redis for this request (until `holding.let_go`), up to date."""
        if HELD.get() is not None:
            return
        replica = self._replica(session)
        token = await replica.acquire()
        # Written whatever happens to the request meanwhile: a client hanging up cancels the request, not
        # its commit, which also lets go of the lock.
        HELD.set(lambda: asyncio.shield(replica.commit(token)))

    async def finish(self, session: Session) -> None:
        """The request is over: write what it changed (taking the lock again if it had let go)."""
        if HELD.get() is not None:
            await let_go()  # held to the end: all it changed is written now
        elif self._sessions.get(session.name) is session:  # else reset meanwhile: what it held is forgotten
            await self._replica(session).settle()

    async def open(self, name: str) -> Session:
        session = self.get(name)
        await self.sync(session)
        return session

    async def sync(self, session: Session) -> None:
        self._shared.listen(self._hear)
        await self._replica(session).catch_up()
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

    def _hear(self, news: dict[str, Any]) -> None:
        if news.get("kind") == "feed":
            self._heard_feed(news)
            return
        name = news.get("session")
        session = self._sessions.get(name) if isinstance(name, str) else None
        if session is None:
            return  # a session this process never served: its next request syncs it
        kind = news.get("kind")
        if kind == "clock" and isinstance(session.clock, ManualClock):
            at = news.get("at")
            if isinstance(at, int | float):
                self._shared.soon(session.clock.advance_to(float(at)))
        elif kind == "changed":
            replica = self._replica(session)
            replica.heard()
            self._shared.soon(replica.catch_up(quietly=True))
        elif kind == "free":
            self._replica(session).heard()
        elif kind == "reset":
            self._forget(session.name)

    def _heard_feed(self, news: dict[str, Any]) -> None:
        feed = self.feed
        events = news.get("events")
        if feed is None or not feed.listened or not isinstance(events, list):
            return
        for event in events:
            if isinstance(event, dict):
                self._heard_event(feed, event)

    def _heard_event(self, feed: Feed, event: dict[str, Any]) -> None:
        kind, session, data = event.get("event"), event.get("session"), event.get("data")
        if not (isinstance(kind, str) and isinstance(session, str) and isinstance(data, dict)):
            return
        feed.deliver(kind, session, event.get("platform"), data)
        run = data.get("run")
        if kind == "run.started" and isinstance(run, dict) and isinstance(run.get("id"), str):
            self._shared.soon(self._follow(feed, session, run["id"]))

    async def _follow(self, feed: Feed, name: str, run_id: str) -> None:
        """Follow a run another process started, from this process's copy (its events come at the moments
        this clock tells, as any stream of it here would send them)."""
        session = await self.open(name)
        replica = self._replica(session)
        for _ in range(FOLLOW_TRIES):
            run = session.runs.get(run_id)
            if run is not None:
                feed.follow(name, run)
                return
            # Told of before it is written: the commit that writes it is read soon after.
            with contextlib.suppress(TimeoutError):
                async with asyncio.timeout(FOLLOW_WAIT):
                    await replica.until_changed()
