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

    def wake(self, at: float, future: asyncio.Future[None]) -> Cancellable:
        """Resolve `future` once clock time reaches `at` (unless it is done by then); cancelling the
        returned handle drops the timer. The cheapest way to wait for a moment *or* something else."""
        ...

    async def sleep_until(self, at: float) -> None:
        """Return once clock time has reached `at`."""
        ...


class Cancellable(Protocol):
    def cancel(self) -> None: ...


class RealClock:
    """Real time, scaled: at ``speed=10`` a scripted 3 s delay takes 0.3 s of the machine's time."""

    def __init__(self, speed: float = 1.0) -> None:
        if speed <= 0:
            raise ValueError(f"speed must be positive, got {speed}")
        self.speed = speed
        self._mono0 = time.monotonic()
        self._wall0 = datetime.now(UTC)

    def now(self) -> float:
        return (time.monotonic() - self._mono0) * self.speed

    def wall(self, at: float | None = None) -> datetime:
        return self._wall0 + timedelta(seconds=self.now() if at is None else at)

    def wake(self, at: float, future: asyncio.Future[None]) -> Cancellable:
        return asyncio.get_running_loop().call_later(max(0.0, (at - self.now()) / self.speed), _resolve, future)

    async def sleep_until(self, at: float) -> None:
        await _sleep_until(self, at)


class ManualClock:
    """A clock that moves only when `advance` is called; sleepers wake in deadline order."""

    def __init__(self, start: datetime | None = None) -> None:
        self._now = 0.0
        self._wall0 = start or datetime.now(UTC)
        self._sleepers: list[tuple[float, int, asyncio.Future[None]]] = []
        self._order = itertools.count()

    def now(self) -> float:
        return self._now

    def wall(self, at: float | None = None) -> datetime:
        return self._wall0 + timedelta(seconds=self._now if at is None else at)

    def wake(self, at: float, future: asyncio.Future[None]) -> Cancellable:
        if at <= self._now:
            _resolve(future)
        else:
            # A future resolved some other way stays in the heap until its moment; `advance` skips it.
            heapq.heappush(self._sleepers, (at, next(self._order), future))
        return _NOTHING_TO_CANCEL

    async def sleep_until(self, at: float) -> None:
        await _sleep_until(self, at)

    @property
    def waiting(self) -> int:
        """How many timers are set and not yet due: a test can wait until the server is blocked on the clock."""
        return sum(1 for _, _, future in self._sleepers if not future.done())

    async def advance(self, seconds: float) -> None:
        """Move time forward, waking each sleeper at its own deadline and letting it run before the next.

        Waking in order matters: a stream that sleeps frame by frame must see each frame's moment, not
        jump straight to the end.
        """
        if seconds < 0:
            raise ValueError(f"a clock cannot go back ({seconds} s)")
        target = self._now + seconds
        while self._sleepers and self._sleepers[0][0] <= target:
            at, _, future = heapq.heappop(self._sleepers)
            self._now = max(self._now, at)
            if not future.done():
                future.set_result(None)
            await _let_run()
        self._now = target
        await _let_run()


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


async def _let_run() -> None:
    # Turns of the loop let a woken task write its frame and set its next timer before time moves on.
    for _ in range(20):
        await asyncio.sleep(0)
