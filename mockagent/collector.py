"""Keeping CPython's cyclic garbage collector out of the request path of a long-running server.

A server keeps thousands of finished runs for clients to poll, and a full collection scans every live
object: with a full run store each one stalls the event loop for 100 ms or more, which is the p99 of
every request and the error of every scripted delay under load. So `mockagent serve`:

- freezes what start-up loaded (modules, scenarios): `gc.freeze()` puts it out of the collector's
  reach for good (no collection first: start-up makes next to no garbage, and the 14 ms would delay
  the first request; the `mockagent` command keeps the collector off until then, see _entry.py);
- every `batch` runs, freezes whatever is alive, so the collector only ever scans what is newer than
  that. Frozen objects are still freed by reference counting when the stores let them go (the engine
  cuts the one conversation↔run cycle when it evicts). No collection runs first: it would cost ~12 ms a
  time, and the cyclic garbage it would find is tiny (192 objects after 56,000 runs, measured);
- when the server is idle (no request in flight, none started for a tick), or after `full_every`
  freezes under unbroken load, unfreezes and runs one full collection (~90 ms with a full run store),
  to reclaim the cyclic garbage that was frozen.

Only the CLI server does this: the collector is process-wide, and a test process is not ours to tune.
"""

from __future__ import annotations

import asyncio
import contextlib
import gc

from mockagent.engine import Engine

# Young collections every 20,000 net allocations instead of 700: a request's garbage is freed by
# reference counting long before that, so each collection finds only what is live, and runs a thirtieth
# as often.
YOUNG_THRESHOLDS = (20_000, 10, 10)


class Collector:
    def __init__(self, engine: Engine, *, batch: int = 1_000, tick: float = 0.5, full_every: int = 1_000) -> None:
        self.engine = engine
        self.batch = batch
        self.tick = tick
        self.full_every = full_every
        self.freezes = 0  # since the last full collection
        self._frozen_at = 0  # engine.runs_started at the last freeze
        self._seen = 0
        self._task: asyncio.Task[None] | None = None
        self._thresholds = gc.get_threshold()

    def start(self) -> None:
        gc.freeze()
        gc.set_threshold(*YOUNG_THRESHOLDS)
        gc.enable()
        self._task = asyncio.create_task(self._tend(), name="mockagent-collector")

    async def stop(self) -> None:
        if self._task is not None:
            self._task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._task
        gc.set_threshold(*self._thresholds)
        gc.unfreeze()

    async def _tend(self) -> None:
        while True:
            await asyncio.sleep(self.tick)
            self.step()

    def step(self) -> None:
        started = self.engine.runs_started
        if started - self._frozen_at >= self.batch:
            gc.freeze()
            self._frozen_at = started
            self.freezes += 1
        idle = started == self._seen and self.engine.in_flight == 0
        self._seen = started
        if self.freezes and (idle or self.freezes >= self.full_every):
            gc.unfreeze()
            gc.collect()
            gc.freeze()
            self.freezes = 0
