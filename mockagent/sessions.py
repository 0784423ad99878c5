"""Sessions: every piece of mutable state, one set per client (or test worker), behind a small store.

A request carrying ``X-Mockagent-Session: NAME`` lives in session NAME (made on first use); any other
lives in the default session. A session holds its runs and conversations, each platform's own records
(typed: `Session.records`), its fault counters and rate-limit buckets, its journal, and its clock when
the server's clock is manual. Two sessions never see each other's state, and resetting one leaves the
others alone. The store keeps at most `MAX_SESSIONS` (the oldest idle one is forgotten first; the
default session never is).
"""

from __future__ import annotations

import asyncio
import functools
import re
import tempfile
from collections import OrderedDict
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Protocol, TypeVar

from mockagent.clock import Clock, ManualClock
from mockagent.faults import FaultState, MemoryTally, Tally
from mockagent.holding import touch
from mockagent.journal import Journal, Kept, counter
from mockagent.model import PlatformKey
from mockagent.runs import Conversation, Run
from mockagent.store import STORE_LIMIT, Bounded

SESSION_HEADER = "X-Mockagent-Session"
DEFAULT_SESSION = "default"
#: CHOSEN: how many sessions are kept; past it, the one unused for longest (with nothing in flight) goes.
MAX_SESSIONS = 100
SESSION_NAME = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._:@/+-]{0,127}$")


@dataclass(frozen=True)
class Dropped:
    """A conversation a request dropped (what a store shared between processes deletes too)."""

    platform: PlatformKey
    id: str


class Records(Protocol):
    """A platform's own records in a session (BeeOS tasks and files, AgentOS approvals …), made from the
    session on first use."""

    def forget(self, run: Run) -> None:
        """The session's run store forgot `run` (past its limit): drop whatever of the records holds it, so
        that no record keeps a run alive longer than the store does."""

    def close(self) -> None:
        """The session is reset or forgotten: release what the records hold outside the session."""


R = TypeVar("R", bound=Records)
RecordKinds = dict[Callable[["Session"], Records], Records]


class Session:
    """All the mutable state one client sees; platforms and the engine keep none of their own."""

    # Read on every request: slots make each attribute a fixed offset, not a dict lookup.
    __slots__ = (
        "_quieter",
        "_records",
        "_scratch",
        "clock",
        "conversations",
        "counter",
        "created_at",
        "faults",
        "in_flight",
        "journal",
        "lock",
        "name",
        "runs",
        "runs_started",
        "sequences",
        "states",
        "store_limit",
    )

    def __init__(
        self,
        name: str,
        clock: Clock,
        *,
        store_limit: int = STORE_LIMIT,
        seed: int = 0,
        journal: Journal | None = None,
        tally: Tally | None = None,
    ) -> None:
        self.name = name
        self.clock = clock
        self.store_limit = store_limit
        self.created_at = clock.now()
        self._records: RecordKinds = {}
        # The run store's hook holds the records, not the session: a session in no cycle of its own is
        # freed by reference counting once the session store forgets it. (`mockagent serve` freezes what
        # survives each batch of runs out of the cycle collector's reach, so a forgotten session kept
        # alive by a cycle would stay, with its runs, until the server next went idle.)
        self.runs: Bounded[str, Run] = Bounded(store_limit, functools.partial(_forget_run, self._records))
        self.conversations: Bounded[tuple[PlatformKey, str], Conversation] = Bounded(store_limit, _cut_cycle)
        self.faults = FaultState(tally if tally is not None else MemoryTally(store_limit), seed)
        self.journal = journal if journal is not None else Journal(counter())
        # How many calls each reply answered (where its sequence is; what `matched` reads), and the
        # scenario states set (one not here is `started`).
        self.sequences: Bounded[str, int] = Bounded(store_limit)
        self.states: Bounded[str, str] = Bounded(store_limit)
        # Decisions that read and then change state take this lock after admission, so that two
        # requests of one session cannot both pass a check that only one of them may pass.
        self.lock = asyncio.Lock()
        self.in_flight = 0  # requests of this session being answered now (see `entered`, `left`)
        self._quieter: list[asyncio.Future[None]] = []  # `until_in_flight` callers
        self.runs_started = 0  # seeds each run's jitter: a session paces the same way every time
        self.counter = 0  # the turns played in the session (a turn whose template failed gives its number back)
        self._scratch: tempfile.TemporaryDirectory[str] | None = None

    def records(self, kind: Callable[[Session], R]) -> R:
        """The records of type `kind` (made from this session on first use)."""
        found = self._records.get(kind)
        if found is None:
            found = self._records[kind] = kind(self)
        touch(found)
        return found  # type: ignore[return-value]  # keyed by `kind`: it is what `kind` made

    def record_kinds(self) -> list[tuple[Callable[[Session], Records], Records]]:
        return list(self._records.items())

    def replace_records(self, kind: Callable[[Session], Records], records: Records) -> None:
        """Put `records` in place of the session's of that kind (as another process left them)."""
        self._records[kind] = records

    def entered(self) -> None:
        self.in_flight += 1

    def left(self) -> None:
        self.in_flight -= 1
        if self._quieter:
            waiters, self._quieter = self._quieter, []
            for waiter in waiters:
                if not waiter.done():
                    waiter.set_result(None)

    async def until_in_flight(self, count: int) -> None:
        """Return once at most `count` requests of the session are being answered (a test can wait for a
        handler to end, with no clock to watch)."""
        while self.in_flight > count:
            waiter: asyncio.Future[None] = asyncio.get_running_loop().create_future()
            self._quieter.append(waiter)
            await waiter

    def scratch(self) -> Path:
        """A folder of the session's own on disk (uploads), removed with the session."""
        if self._scratch is None:
            self._scratch = tempfile.TemporaryDirectory(prefix=f"mockagent-{self.name[:32]}-".replace("/", "_"))
        return Path(self._scratch.name)

    # ── runs and conversations ───────────────────────────────────────────────────────────────────

    def run(self, run_id: str) -> Run | None:
        found = self.runs.get(run_id)
        touch(found)
        return found

    def runs_of(self, platform: PlatformKey | None = None) -> list[Run]:
        found = [r for r in self.runs.values() if platform is None or r.conversation.platform is platform]
        for run in found:
            touch(run)
        return found

    def conversation(self, platform: PlatformKey, conversation_id: str) -> Conversation | None:
        found = self.conversations.get((platform, conversation_id))
        touch(found)
        return found

    def open_conversation(self, platform: PlatformKey, agent_id: str, conversation_id: str) -> Conversation:
        """The conversation with this id, made if new."""
        key = (platform, conversation_id)
        found = self.conversations.get(key)
        if found is None:
            found = Conversation(id=conversation_id, platform=platform, agent_id=agent_id, created_at=self.clock.now())
            self.conversations[key] = found
        touch(found)
        return found

    def drop_conversation(self, platform: PlatformKey, conversation_id: str) -> Conversation | None:
        """Forget a conversation (its runs stay, by id); the one dropped, or None if there was none."""
        found = self.conversations.pop((platform, conversation_id), None)
        if found is not None:
            touch(Dropped(platform, conversation_id))
        return found

    def close(self) -> None:
        """End the session: unfinished runs are cancelled (a stream still open on one ends), and the
        platforms' records release what they hold. Records may point back at the session (its scratch
        folder, its approvals), and conversations at their runs: clearing them cuts those cycles, so that
        reference counting frees the session's runs with it."""
        for run in list(self.runs.values()):
            run.cancel("the session was reset")
        for records in self._records.values():
            records.close()
        self._records.clear()
        for conversation in self.conversations.values():
            _cut_cycle(conversation)
        # A closed session may outlive its server: aiohttp caches each application's middleware chain
        # (up to 1,024 of them, process-wide), so a test process that started many servers keeps them.
        self.runs.clear()
        self.conversations.clear()
        if self._scratch is not None:
            self._scratch.cleanup()
            self._scratch = None


def _forget_run(kinds: RecordKinds, run: Run) -> None:
    """The run store let `run` go: so do its conversation and the platforms' records (`kinds`), so that
    nothing keeps more runs alive than the store does. (Runs leave the store oldest first, so a forgotten
    run is the oldest its conversation still has.)"""
    turns = run.conversation.runs
    if turns and turns[0] is run:
        del turns[0]
    for records in kinds.values():
        records.forget(run)


def _cut_cycle(conversation: Conversation) -> None:
    # A conversation and its runs point at each other; cutting the link lets reference counting free
    # them as soon as the run store forgets the runs too, without waiting for a full garbage collection.
    conversation.runs.clear()


class SessionStore(Protocol):
    """Where sessions live. In memory by default; a later store shares them between processes."""

    async def open(self, name: str) -> Session:
        """The session called `name`, made on first use."""
        ...

    async def reset(self, name: str) -> bool:
        """Forget the session (its next request starts afresh); False if there was none."""
        ...

    def sessions(self) -> Iterator[Session]:
        """The live sessions, least recently used first."""
        ...

    @property
    def default(self) -> Session:
        """The session of requests that name none (never forgotten)."""
        ...

    @property
    def synced(self) -> bool:
        """Whether a session must be brought up to date (`sync`) before each request of it is served."""
        ...

    async def sync(self, session: Session) -> None:
        """Bring `session` up to what the other processes of the server did (its clock)."""
        ...

    async def advance(self, session: Session, seconds: float) -> None:
        """Advance the session's manual clock (ValueError past its range), in every process of the server."""
        ...

    async def hold(self, session: Session) -> None:
        """Hold the session for a request about to change it (other processes' requests wait)."""
        ...

    async def finish(self, session: Session) -> None:
        """The request is over: what it changed is kept where every process sees it."""
        ...

    def keep(self, session: Session, entry: dict[str, Any]) -> None:
        """An answered journal entry (as the admin API shows it), where every process reads it."""
        ...

    async def kept(self, sessions: list[str] | None) -> list[Kept] | None:
        """The entries every process keeps of `sessions` (None: all), oldest first; None where the sessions'
        own journals are the journal (one process)."""
        ...

    async def forget_kept(self, sessions: list[str] | None) -> int:
        """Forget what `kept` would give; how many entries."""
        ...

    async def stop(self) -> None:
        """The server stops: every session ends, and what the store still has to write is written."""
        ...


class MemorySessions:
    """Sessions in this process: at most `limit`, the least recently used idle one forgotten first."""

    def __init__(self, make: Callable[[str], Session], limit: int = MAX_SESSIONS) -> None:
        self._make = make
        self.limit = limit
        self._sessions: OrderedDict[str, Session] = OrderedDict()
        self.default = self.get(DEFAULT_SESSION)

    async def open(self, name: str) -> Session:
        return self.get(name)

    def get(self, name: str) -> Session:
        """The session called `name`, made on first use (this store answers without waiting)."""
        found = self._sessions.get(name)
        if found is not None:
            self._sessions.move_to_end(name)
            return found
        session = self._sessions[name] = self._make(name)
        if len(self._sessions) > self.limit:
            self._forget_idle(keep=name)
        return session

    def _forget_idle(self, keep: str) -> None:
        """Forget the least recently used session with nothing in flight (while every one is busy, the
        store holds one more than its limit for a while)."""
        for name, session in self._sessions.items():
            if name not in (DEFAULT_SESSION, keep) and session.in_flight == 0:
                del self._sessions[name]
                session.close()
                return

    async def reset(self, name: str) -> bool:
        return self._forget(name)

    def _forget(self, name: str) -> bool:
        session = self._sessions.pop(name, None)
        if session is None:
            return False
        session.close()
        if name == DEFAULT_SESSION:
            self.default = self.get(DEFAULT_SESSION)
        return True

    def sessions(self) -> Iterator[Session]:
        return iter(list(self._sessions.values()))

    synced = False  # one process: nothing to catch up with

    async def sync(self, session: Session) -> None:
        pass

    async def hold(self, session: Session) -> None:
        pass

    async def finish(self, session: Session) -> None:
        pass

    def keep(self, session: Session, entry: dict[str, Any]) -> None:
        pass  # one process: its sessions' journals are the journal

    async def kept(self, sessions: list[str] | None) -> list[Kept] | None:
        return None

    async def forget_kept(self, sessions: list[str] | None) -> int:
        return 0

    async def advance(self, session: Session, seconds: float) -> None:
        clock = session.clock
        if not isinstance(clock, ManualClock):
            raise TypeError("the session's clock is not manual")
        await clock.advance(seconds)

    def close(self) -> None:
        """The server stops: every session ends, and the store lets go of all but the default one."""
        for session in self._sessions.values():
            session.close()
        self._sessions = OrderedDict({DEFAULT_SESSION: self.default})

    async def stop(self) -> None:
        self.close()
