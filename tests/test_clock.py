"""The clocks (mockagent/clock.py): the manual clock wakes each sleeper at its own moment, in order, and
lets it run to its next wait before time moves on; time never goes backwards; cancelled waits leave the
timer heap; `until_waiting` tells a test the server is parked on the clock. The real clock validates its
speed and maps clock time to wall time monotonically.

Nothing here depends on the machine's timing: the manual clock moves only when told, and the few real-clock
waits are bounded by a safety timeout only.
"""

from __future__ import annotations

import asyncio
import importlib.util
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest

from mockagent.clock import ManualClock, RealClock

SAFETY = 10.0  # seconds of real time a test may wait for something that should happen at once


async def spins(turns: int = 20) -> None:
    """Give the event loop a few turns (no real time passes)."""
    for _ in range(turns):
        await asyncio.sleep(0)


# ── the manual clock: order and moments ──────────────────────────────────────────────────────────────


async def test_advance_wakes_sleepers_in_deadline_order_each_at_its_moment() -> None:
    clock = ManualClock()
    woke: list[tuple[float, float]] = []  # (deadline, clock time seen on waking)

    async def sleeper(at: float) -> None:
        await clock.sleep_until(at)
        woke.append((at, clock.now()))

    tasks = [asyncio.create_task(sleeper(at)) for at in (3, 1, 2)]
    await asyncio.wait_for(clock.until_waiting(3), SAFETY)
    await clock.advance(5)
    await asyncio.wait_for(asyncio.gather(*tasks), SAFETY)
    assert woke == [(1, 1), (2, 2), (3, 3)]
    assert clock.now() == 5


async def test_advance_stops_short_of_later_deadlines() -> None:
    clock = ManualClock()
    woke: list[float] = []

    async def sleeper(at: float) -> None:
        await clock.sleep_until(at)
        woke.append(clock.now())

    tasks = [asyncio.create_task(sleeper(at)) for at in (1.5, 4)]
    await asyncio.wait_for(clock.until_waiting(2), SAFETY)
    await clock.advance(2)
    await spins()
    assert woke == [1.5]
    assert clock.now() == 2
    assert clock.waiting == 1  # the sleeper at 4 still waits
    await clock.advance(2)
    await asyncio.wait_for(asyncio.gather(*tasks), SAFETY)
    assert woke == [1.5, 4]


async def test_sleepers_with_equal_deadlines_wake_in_the_order_they_slept() -> None:
    clock = ManualClock()
    woke: list[str] = []

    async def sleeper(name: str) -> None:
        await clock.sleep_until(1)
        woke.append(name)

    tasks = []
    for name in ("a", "b", "c"):
        tasks.append(asyncio.create_task(sleeper(name)))
        await asyncio.wait_for(clock.until_waiting(len(tasks)), SAFETY)
    await clock.advance(1)
    await asyncio.wait_for(asyncio.gather(*tasks), SAFETY)
    assert woke == ["a", "b", "c"]


async def test_a_woken_task_runs_to_its_next_wait_before_time_moves_on() -> None:
    clock = ManualClock()
    seen: list[float] = []

    async def ticker() -> None:
        while True:
            await clock.sleep_until(clock.now() + 1)
            seen.append(clock.now())

    task = asyncio.create_task(ticker())
    try:
        await asyncio.wait_for(clock.until_waiting(1), SAFETY)
        await clock.advance(3)
        assert seen == [1, 2, 3]
        await clock.advance(0.5)
        assert seen == [1, 2, 3]
        await clock.advance(0.5)
        assert seen == [1, 2, 3, 4]
    finally:
        task.cancel()


async def test_a_woken_task_may_take_a_few_loop_turns_before_its_next_wait() -> None:
    clock = ManualClock()
    seen: list[float] = []

    async def worker() -> None:
        while True:
            await clock.sleep_until(clock.now() + 1)
            await spins(10)  # some other awaiting (a write, a lock) between two clock waits
            seen.append(clock.now())

    task = asyncio.create_task(worker())
    try:
        await asyncio.wait_for(clock.until_waiting(1), SAFETY)
        await clock.advance(3)
        assert seen == [1, 2, 3]
    finally:
        task.cancel()


async def test_a_sleeper_that_sleeps_again_within_the_advance_is_woken_again() -> None:
    clock = ManualClock()
    seen: list[float] = []

    async def two_naps() -> None:
        await clock.sleep_until(1)
        seen.append(clock.now())
        await clock.sleep_until(1.25)
        seen.append(clock.now())

    task = asyncio.create_task(two_naps())
    await asyncio.wait_for(clock.until_waiting(1), SAFETY)
    await clock.advance(2)
    await asyncio.wait_for(task, SAFETY)
    assert seen == [1, 1.25]


async def test_sleeping_until_a_past_or_present_moment_returns_at_once() -> None:
    clock = ManualClock()
    await clock.advance(2)
    await asyncio.wait_for(clock.sleep_until(2), SAFETY)
    await asyncio.wait_for(clock.sleep_until(1), SAFETY)
    assert clock.now() == 2
    assert clock.timers == 0


# ── the manual clock: time never goes backwards ──────────────────────────────────────────────────────


async def test_concurrent_advances_add_up() -> None:
    clock = ManualClock()
    await asyncio.wait_for(asyncio.gather(clock.advance(5), clock.advance(1)), SAFETY)
    assert clock.now() == 6


async def test_concurrent_advances_wake_sleepers_in_order_across_both() -> None:
    clock = ManualClock()
    seen: list[float] = []

    async def sleeper(at: float) -> None:
        await clock.sleep_until(at)
        seen.append(clock.now())

    tasks = [asyncio.create_task(sleeper(at)) for at in (5.5, 2, 6)]
    await asyncio.wait_for(clock.until_waiting(3), SAFETY)
    await asyncio.wait_for(asyncio.gather(clock.advance(5), clock.advance(1)), SAFETY)
    await asyncio.wait_for(asyncio.gather(*tasks), SAFETY)
    assert seen == [2, 5.5, 6]
    assert clock.now() == 6


async def test_a_clock_cannot_go_back() -> None:
    clock = ManualClock()
    await clock.advance(2)
    with pytest.raises(ValueError, match="cannot go back"):
        await clock.advance(-1)
    assert clock.now() == 2
    await clock.advance(0)
    assert clock.now() == 2


async def test_wall_time_follows_clock_time_from_the_start() -> None:
    start = datetime(2030, 1, 2, 3, 4, 5, tzinfo=UTC)
    clock = ManualClock(start)
    assert clock.wall() == start
    assert clock.wall(2.5) == start + timedelta(seconds=2.5)
    await clock.advance(90)
    assert clock.wall() == start + timedelta(seconds=90)
    assert clock.wall(0) == start


# ── the manual clock: timers ─────────────────────────────────────────────────────────────────────────


async def test_cancelled_waits_do_not_pile_up() -> None:
    clock = ManualClock()
    loop = asyncio.get_running_loop()
    biggest = 0
    for i in range(20_000):
        future: asyncio.Future[None] = loop.create_future()
        handle = clock.wake(1 + i, future)
        handle.cancel()
        handle.cancel()  # cancelling twice is harmless
        biggest = max(biggest, clock.timers)
    assert biggest < 200
    assert clock.timers < 200
    assert clock.waiting == 0


async def test_waits_woken_early_then_cancelled_do_not_pile_up() -> None:
    """The pattern of a stream: its wait is resolved by the run (not the clock), then its timer dropped."""
    clock = ManualClock()
    loop = asyncio.get_running_loop()
    keep: list[asyncio.Future[None]] = []
    for at in range(1, 51):  # fifty waits that stay
        future: asyncio.Future[None] = loop.create_future()
        clock.wake(at, future)
        keep.append(future)
    biggest = 0
    for i in range(20_000):
        future = loop.create_future()
        handle = clock.wake(100 + i, future)
        future.set_result(None)
        handle.cancel()
        biggest = max(biggest, clock.timers)
    assert clock.waiting == 50
    assert biggest < 300
    # The timers that stayed still fire, in order.
    await clock.advance(50)
    assert all(f.done() for f in keep)
    assert clock.waiting == 0


async def test_a_cancelled_timer_does_not_fire_and_the_others_do() -> None:
    clock = ManualClock()
    loop = asyncio.get_running_loop()
    kept: asyncio.Future[None] = loop.create_future()
    dropped: asyncio.Future[None] = loop.create_future()
    clock.wake(1, kept)
    clock.wake(1, dropped).cancel()
    assert clock.waiting == 1
    await clock.advance(2)
    assert kept.done()
    assert not dropped.done()


async def test_wake_without_a_moment_sets_no_timer_and_a_past_moment_resolves_at_once() -> None:
    clock = ManualClock()
    loop = asyncio.get_running_loop()
    parked: asyncio.Future[None] = loop.create_future()
    clock.wake(None, parked).cancel()
    assert clock.timers == 0
    await clock.advance(10)
    assert not parked.done()
    due: asyncio.Future[None] = loop.create_future()
    clock.wake(3, due)
    assert due.done()
    assert clock.timers == 0


async def test_until_waiting_returns_once_enough_timers_are_set() -> None:
    clock = ManualClock()
    waiter = asyncio.create_task(clock.until_waiting(2))
    await spins()
    assert not waiter.done()

    first = asyncio.create_task(clock.sleep_until(5))
    await spins()
    assert not waiter.done()  # one timer is not two
    second = asyncio.create_task(clock.sleep_until(7))
    await asyncio.wait_for(waiter, SAFETY)
    assert clock.waiting == 2

    await clock.advance(7)
    await asyncio.wait_for(asyncio.gather(first, second), SAFETY)
    assert clock.waiting == 0


async def test_until_waiting_does_not_count_cancelled_timers() -> None:
    clock = ManualClock()
    loop = asyncio.get_running_loop()
    waiter = asyncio.create_task(clock.until_waiting(1))
    await spins()
    clock.wake(1, loop.create_future()).cancel()
    await spins()
    assert not waiter.done()
    sleeper = asyncio.create_task(clock.sleep_until(1))
    await asyncio.wait_for(waiter, SAFETY)
    await clock.advance(1)
    await asyncio.wait_for(sleeper, SAFETY)


async def test_until_waiting_returns_at_once_when_timers_are_already_set() -> None:
    clock = ManualClock()
    sleeper = asyncio.create_task(clock.sleep_until(1))
    await spins()
    await asyncio.wait_for(clock.until_waiting(1), SAFETY)
    await clock.advance(1)
    await asyncio.wait_for(sleeper, SAFETY)


# ── the real clock ───────────────────────────────────────────────────────────────────────────────────


@pytest.mark.parametrize("speed", [0, -1, -0.5])
def test_real_clock_speed_must_be_positive(speed: float) -> None:
    with pytest.raises(ValueError, match="speed must be positive"):
        RealClock(speed=speed)


def test_real_clock_accepts_a_positive_speed() -> None:
    assert RealClock(speed=0.001).speed == 0.001
    assert RealClock(speed=10).speed == 10


def test_real_clock_wall_is_monotonic_in_clock_time() -> None:
    clock = RealClock(speed=10)
    moments = [0, 0.001, 0.5, 1, 2.5, 60, 3600, 86_400 * 3]
    walls = [clock.wall(at) for at in moments]
    assert walls == sorted(walls)
    assert len(set(walls)) == len(walls)
    assert walls[-1] - walls[0] == timedelta(days=3)
    assert clock.wall(5) - clock.wall(2) == timedelta(seconds=3)


def test_real_clock_never_reads_backwards() -> None:
    clock = RealClock(speed=1000)
    readings = [clock.now() for _ in range(1000)]
    assert readings == sorted(readings)
    assert readings[0] >= 0


async def test_real_clock_sleep_returns_only_once_its_moment_has_come() -> None:
    clock = RealClock(speed=1000)  # one clock second is a millisecond of real time
    target = clock.now() + 2
    await asyncio.wait_for(clock.sleep_until(target), SAFETY)
    assert clock.now() >= target


async def test_real_clock_wake_without_a_moment_sets_nothing() -> None:
    clock = RealClock(speed=1000)
    future: asyncio.Future[None] = asyncio.get_running_loop().create_future()
    clock.wake(None, future).cancel()
    await asyncio.sleep(0)
    assert not future.done()


async def test_real_clock_cancelled_wake_does_not_fire() -> None:
    clock = RealClock(speed=1000)
    loop = asyncio.get_running_loop()
    dropped: asyncio.Future[None] = loop.create_future()
    kept: asyncio.Future[None] = loop.create_future()
    clock.wake(clock.now() + 1, dropped).cancel()
    clock.wake(clock.now() + 2, kept)  # due after the dropped one would have been
    await asyncio.wait_for(kept, SAFETY)
    assert not dropped.done()


def _loops() -> list[Any]:
    """asyncio's loop, and uvloop's where it is installed (`mockagent serve` runs on it by default)."""
    factories: list[Any] = [pytest.param(asyncio.new_event_loop, id="asyncio")]
    if importlib.util.find_spec("uvloop") is not None:
        import uvloop

        factories.append(pytest.param(uvloop.new_event_loop, id="uvloop"))
    return factories


@pytest.mark.parametrize("new_loop", _loops())
def test_real_clock_wakes_a_waiter_no_earlier_than_its_moment(
    new_loop: Callable[[], asyncio.AbstractEventLoop],
) -> None:
    """uvloop keeps timers in whole milliseconds (a wait under half of one runs at once): a run woken before
    its next event's moment found the event not yet due and could end its stream without it."""
    clock = RealClock()

    async def waits() -> list[tuple[float, float]]:
        woken = []
        for wait in (0.0001, 0.0004, 0.0007, 0.0013, 0.003):
            future: asyncio.Future[None] = asyncio.get_running_loop().create_future()
            at = clock.now() + wait
            clock.wake(at, future)
            await asyncio.wait_for(future, SAFETY)
            woken.append((at, clock.now()))
        return woken

    with asyncio.Runner(loop_factory=new_loop) as runner:
        for at, now in runner.run(waits()):
            assert now >= at


def test_real_clock_waits_again_when_the_loop_wakes_it_early(monkeypatch: pytest.MonkeyPatch) -> None:
    """The worst a loop can do: every timer fires at once, whatever its delay."""
    clock = RealClock(speed=2)

    async def woken() -> tuple[float, float, int]:
        loop = asyncio.get_running_loop()
        early: list[float] = []
        call_later = loop.call_later

        def at_once(delay: float, callback: Callable[..., object], *args: object) -> asyncio.Handle:
            if getattr(callback, "__self__", None) is not clock:
                return call_later(delay, callback, *args)  # the safety timeout keeps its time
            early.append(delay)
            return loop.call_soon(callback, *args)

        monkeypatch.setattr(loop, "call_later", at_once)
        future: asyncio.Future[None] = loop.create_future()
        at = clock.now() + 0.004
        clock.wake(at, future)
        await asyncio.wait_for(future, SAFETY)
        return at, clock.now(), len(early)

    at, now, timers = asyncio.run(woken())
    assert now >= at
    assert timers > 1  # it was woken early, and waited again
