"""Injectable time: every scripted delay in mockagent goes through a `Clock`.

Clock time is a float number of seconds. A `RealClock` follows the machine's monotonic clock, optionally
running `speed` times faster (``mockagent serve --speed``); a `ManualClock` stands still until a test
advances it, so a run that "completes after 30 minutes" is tested in milliseconds.
"""

from __future__ import annotations

import asyncio
import heapq
import itertools
import time
import weakref
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Protocol


class Clock(Protocol):
    """The one source of time for runs, delays, expiries and timestamps."""

    def now(self) -> float:
        """Clock time in seconds; only differences are meaningful."""
        ...

    def wall(self, at: float | None = None) -> datetime:
        """The UTC wall-clock moment of clock time `at` (default: now), for timestamps on the wire."""
        ...

    def wake(self, at: float | None, future: asyncio.Future[None]) -> Cancellable:
        """Resolve `future` once clock time reaches `at` (unless it is done by then); cancelling the
        returned handle drops the timer. `at=None` sets no timer: the caller waits for something else,
        and tells the clock so (a manual clock knows the caller is parked, not busy).

        The cheapest way to wait for a moment *or* something else."""
        ...

    async def sleep_until(self, at: float) -> None:
        """Return once clock time has reached `at`."""
        ...


class Cancellable(Protocol):
    def cancel(self) -> None: ...


class RealClock:
    """Real time, scaled: at ``speed=10`` a scripted 3 s delay takes 0.3 s of the machine's time."""

    def __init__(self, speed: float = 1.0, epoch: float | None = None) -> None:
        """`epoch`: the Unix time of clock time 0 (default: now). Processes that share runs share it, so
        that a moment one of them laid out means the same to all."""
        if speed <= 0:
            raise ValueError(f"speed must be positive, got {speed}")
        self.speed = speed
        wall = time.time()
        since = 0.0 if epoch is None else max(0.0, wall - epoch)
        self._mono0 = time.monotonic() - since
        self._wall0 = datetime.fromtimestamp(wall - since, UTC)

    def now(self) -> float:
        return (time.monotonic() - self._mono0) * self.speed

    def wall(self, at: float | None = None) -> datetime:
        return self._wall0 + timedelta(seconds=self.now() if at is None else at)

    def wake(self, at: float | None, future: asyncio.Future[None]) -> Cancellable:
        if at is None:
            return _NOTHING_TO_CANCEL
        return asyncio.get_running_loop().call_later(
            max(0.0, (at - self.now()) / self.speed), self._reached, at, future
        )

    def _reached(self, at: float, future: asyncio.Future[None]) -> None:
        """Resolve `future` once clock time has reached `at`, never before. uvloop keeps its timers in whole
        milliseconds (a wait under half of one runs at once): it wakes a sleeper up to a millisecond early,
        and a run that read its timeline then found its next event not yet due, read the clock again, and
        could find the run paused or over by then — a stream that ended without the frames of that moment.
        Whatever remains is waited again (if the caller cancelled meanwhile, this later timer resolves a
        future no one awaits: harmless, and at most a millisecond away)."""
        if future.done():
            return
        rest = at - self.now()
        if rest > 0:
            future.get_loop().call_later(rest / self.speed, self._reached, at, future)
            return
        future.set_result(None)

    async def sleep_until(self, at: float) -> None:
        await _sleep_until(self, at)


@dataclass(order=True, slots=True)
class _Timer:
    at: float
    order: int
    future: asyncio.Future[None] = field(compare=False)
    task: asyncio.Task[object] | None = field(compare=False)
    cancelled: bool = field(default=False, compare=False)
    popped: bool = field(default=False, compare=False)

    @property
    def live(self) -> bool:
        return not self.cancelled and not self.future.done()


class _TimerHandle:
    __slots__ = ("_clock", "_timer")

    def __init__(self, clock: ManualClock, timer: _Timer) -> None:
        self._clock = clock
        self._timer = timer

    def cancel(self) -> None:
        self._clock._cancel(self._timer)


#: CHOSEN: how far a manual clock may be advanced from its start (100 years, in seconds): far past any
#: scripted wait or platform limit, and near enough that every moment a view shows (the clock's time plus
#: the longest span mockagent adds to it, a seven-day task deadline) is still a date.
MAX_CLOCK = 100 * 365.25 * 86_400


class ManualClock:
    """A clock that moves only when `advance` is called; sleepers wake in deadline order.

    Time never goes backwards: advances are serialized, each one starting from where the last ended.
    """

    #: How many loop turns `advance` gives a woken task to come back to the clock before it moves on
    #: without it (a task blocked on a slow socket must not stall the clock for good).
    max_turns = 1_000

    def __init__(self, start: datetime | None = None) -> None:
        self._now = 0.0
        self._wall0 = start or datetime.now(UTC)
        self._timers: list[_Timer] = []
        self._cancelled = 0
        self._order = itertools.count()
        # Bumped each time a task calls `wake`: a woken task that calls it again has come back to the clock.
        self._returns: weakref.WeakKeyDictionary[asyncio.Task[object], int] = weakref.WeakKeyDictionary()
        self._lock: asyncio.Lock | None = None  # serializes advances (see `_serialized`)
        self._watchers: list[asyncio.Future[None]] = []  # `until_waiting` callers

    def now(self) -> float:
        return self._now

    def wall(self, at: float | None = None) -> datetime:
        return self._wall0 + timedelta(seconds=self._now if at is None else at)

    def wake(self, at: float | None, future: asyncio.Future[None]) -> Cancellable:
        task = asyncio.current_task()
        if task is not None:
            self._returns[task] = self._returns.get(task, 0) + 1
        if at is None:
            return _NOTHING_TO_CANCEL
        if at <= self._now:
            _resolve(future)
            return _NOTHING_TO_CANCEL
        timer = _Timer(at, next(self._order), future, task)
        heapq.heappush(self._timers, timer)
        if self._watchers:
            watchers, self._watchers = self._watchers, []
            for watcher in watchers:
                _resolve(watcher)
        return _TimerHandle(self, timer)

    def _cancel(self, timer: _Timer) -> None:
        if timer.cancelled or timer.popped:
            return
        timer.cancelled = True
        self._cancelled += 1
        # Cancelled timers leave the heap lazily; once they are most of it, it is rebuilt, so a stream
        # that waits and is woken early a million times keeps a heap the size of what is really waiting.
        if self._cancelled > 64 and self._cancelled * 2 > len(self._timers):
            self._timers = [t for t in self._timers if not t.cancelled]
            heapq.heapify(self._timers)
            self._cancelled = 0

    async def sleep_until(self, at: float) -> None:
        await _sleep_until(self, at)

    @property
    def room(self) -> float:
        """How many seconds the clock may still be advanced (`MAX_CLOCK` in all)."""
        return MAX_CLOCK - self._now

    @property
    def waiting(self) -> int:
        """How many timers are set and not yet due: a test can wait until the server is blocked on the clock."""
        return sum(1 for timer in self._timers if timer.live)

    async def until_waiting(self, count: int = 1) -> None:
        """Return once at least `count` timers are set and not yet due: the server is blocked on the clock
        (a request has reached its wait), so a test can advance it knowing what will wake."""
        while self.waiting < count:
            watcher: asyncio.Future[None] = asyncio.get_running_loop().create_future()
            self._watchers.append(watcher)
            await watcher

    @property
    def timers(self) -> int:
        """How many timers the heap holds, live or not (bounded: see `_cancel`)."""
        return len(self._timers)

    async def advance(self, seconds: float) -> None:
        """Move time forward, waking each sleeper at its own deadline and letting it run before the next.

        Waking in order matters: a stream that sleeps frame by frame must see each frame's moment, not
        jump straight to the end.
        """
        if seconds < 0:
            raise ValueError(f"a clock cannot go back ({seconds} s)")
        async with self._serialized():
            if seconds > self.room:  # checked under the lock: two advances cannot both pass it
                raise ValueError(
                    f"a manual clock goes at most {MAX_CLOCK:.0f} s (100 years) past its start: "
                    f"{self.room:g} s more at most"
                )
            await self._move_to(self._now + seconds)

    async def advance_to(self, at: float) -> None:
        """Advance to clock time `at` if it is still ahead: a moment another process's clock reached."""
        async with self._serialized():
            if at > self._now:
                await self._move_to(min(at, MAX_CLOCK))

    def _serialized(self) -> asyncio.Lock:
        if self._lock is None:  # made on first use, inside the loop that uses it
            self._lock = asyncio.Lock()
        return self._lock

    async def _move_to(self, target: float) -> None:
        while self._timers and self._timers[0].at <= target:
            timer = heapq.heappop(self._timers)
            timer.popped = True
            if timer.cancelled:
                self._cancelled -= 1
                continue
            if timer.future.done():
                continue
            self._now = max(self._now, timer.at)
            task = timer.task
            returns = self._returns.get(task, 0) if task is not None else 0
            timer.future.set_result(None)
            if task is not None:
                await self._until_back(task, returns)
        self._now = max(self._now, target)
        await asyncio.sleep(0)

    def rebase(self, start: datetime) -> None:
        """Make `start` the wall-clock moment of clock time 0 (what each process of a server shares for a
        session, so that its timestamps read the same everywhere)."""
        self._wall0 = start

    async def _until_back(self, task: asyncio.Task[object], returns: int) -> None:
        """Let a woken task run until it waits on the clock again (or ends): its frame is written and
        its next timer set before time moves on."""
        for _ in range(self.max_turns):
            await asyncio.sleep(0)
            if task.done() or self._returns.get(task, 0) > returns:
                return


class _NothingToCancel:
    def cancel(self) -> None:
        pass


_NOTHING_TO_CANCEL = _NothingToCancel()


async def _sleep_until(clock: Clock, at: float) -> None:
    # Re-check after waking: the event loop may wake a real clock's sleeper a hair early.
    while at - clock.now() > 0:
        future: asyncio.Future[None] = asyncio.get_running_loop().create_future()
        timer = clock.wake(at, future)
        try:
            await future
        finally:
            timer.cancel()


def _resolve(future: asyncio.Future[None]) -> None:
    if not future.done():
        future.set_result(None)
