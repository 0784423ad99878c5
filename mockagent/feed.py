"""The live event feed (`GET /__mockagent/events`): each request received and answered, each run's events as
they happen, each pause and end, each session reset — what the web page and a watching test read.

The feed costs nothing while nobody listens: `publish` returns at once, and runs are followed only while a
subscriber is connected. A run is followed as any view of it is (`Run.follow`), so the feed shows a run's
events at the moments a stream of it sends them, never a copy that could disagree.

Where processes share their sessions in Redis (docs/deploy.md), what a process publishes of requests, runs
started, resets and recordings also goes to the others (`outlet`), which deliver it to their own listeners
(`deliver`) and follow the runs others started from their copy of them; so each process's feed tells what
they all do.

Each event is encoded once, as its SSE frame, whoever listens. Bounded (CHOSEN): a subscriber that falls
`QUEUE` events or `QUEUE_BYTES` behind is cut off (it reconnects with ``Last-Event-ID`` and is given what it
missed from the last `BACKLOG` events, `BACKLOG_BYTES` at most); at most `MAX_FOLLOWED` runs are followed at
once.
"""

from __future__ import annotations

import asyncio
import contextlib
import itertools
import logging
from collections import deque
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from typing import Any

from mockagent.encoding import dumps
from mockagent.model import Paused
from mockagent.neutral import brief, timed_json
from mockagent.runs import Run

#: CHOSEN: events a subscriber may fall behind before it is cut off, events kept for a reconnect, runs
#: followed at once.
QUEUE = 10_000
QUEUE_BYTES = 16 * 1024 * 1024
BACKLOG = 1_000
BACKLOG_BYTES = 8 * 1024 * 1024
MAX_FOLLOWED = 1_000
#: What goes to the other processes sharing the sessions: a run's own events do not (each process follows
#: the run from its copy, at the moments its clock tells).
FORWARDED = frozenset({"request.received", "request.answered", "run.started", "session.reset", "cassette.recorded"})
log = logging.getLogger("mockagent")
Outlet = Callable[[str, str, "str | None", dict[str, Any]], None]


@dataclass(frozen=True, slots=True)
class FeedEvent:
    id: int
    type: str
    session: str
    platform: str | None
    frame: bytes  # as sent: ``id:``, ``event:`` and the JSON ``data:``


class Subscriber:
    def __init__(self) -> None:
        self.queue: asyncio.Queue[FeedEvent | None] = asyncio.Queue()
        self.queued = 0  # bytes of the frames waiting
        self.cut = False  # fell too far behind, or the feed closed

    def put(self, event: FeedEvent | None) -> None:
        if self.cut:
            return
        if event is not None:
            if self.queue.qsize() >= QUEUE or self.queued + len(event.frame) > QUEUE_BYTES:
                self.cut = True
                event = None
            else:
                self.queued += len(event.frame)
        self.queue.put_nowait(event)

    async def get(self) -> FeedEvent | None:
        """The next event; None once the subscriber is cut off."""
        event = await self.queue.get()
        if event is not None:
            self.queued -= len(event.frame)
        return event


class Feed:
    def __init__(self) -> None:
        self._subscribers: set[Subscriber] = set()
        self._backlog: deque[FeedEvent] = deque()
        self._backlog_bytes = 0
        self._ids = itertools.count(1)
        self._followers: dict[Run, asyncio.Task[None]] = {}
        self.outlet: Outlet | None = None  # to the other processes of a server sharing Redis

    @property
    def active(self) -> bool:
        return bool(self._subscribers) or self.outlet is not None

    @property
    def listened(self) -> bool:
        return bool(self._subscribers)

    def publish(self, kind: str, session: str, platform: str | None, **data: Any) -> None:
        if self.outlet is not None and kind in FORWARDED:
            self.outlet(kind, session, platform, data)
        self.deliver(kind, session, platform, data)

    def deliver(self, kind: str, session: str, platform: str | None, data: dict[str, Any]) -> None:
        """To this process's listeners (an event of its own, or one another process forwarded)."""
        if not self._subscribers:
            return
        event_id = next(self._ids)
        body = dumps({"type": kind, "session": session} | data)
        frame = f"id: {event_id}\nevent: {kind}\ndata: {body}\n\n".encode("utf-8", "backslashreplace")
        event = FeedEvent(event_id, kind, session, platform, frame)
        backlog = self._backlog
        backlog.append(event)
        self._backlog_bytes += len(frame)
        while len(backlog) > BACKLOG or self._backlog_bytes > BACKLOG_BYTES:
            self._backlog_bytes -= len(backlog.popleft().frame)
        for subscriber in list(self._subscribers):
            subscriber.put(event)

    @contextlib.contextmanager
    def subscribe(self, after: int | None = None) -> Iterator[Subscriber]:
        """A subscriber for the span of the block; `after`: the id of the last event it had (a reconnect),
        whose successors still in the backlog come first."""
        subscriber = Subscriber()
        if after is not None:
            for event in self._backlog:
                if event.id > after:
                    subscriber.put(event)
        self._subscribers.add(subscriber)
        try:
            yield subscriber
        finally:
            self._subscribers.discard(subscriber)
            if not self._subscribers:
                for task in self._followers.values():
                    task.cancel()
                self._followers.clear()

    # ── runs ─────────────────────────────────────────────────────────────────────────────────────

    def run_started(self, session: str, run: Run) -> None:
        if not self.active:
            return
        self.publish("run.started", session, run.conversation.platform.value, run=brief(run))
        if self._subscribers:
            self.follow(session, run)

    def follow(self, session: str, run: Run) -> None:
        """Publish the run's events as they happen (from its first), while anyone listens."""
        if run in self._followers or len(self._followers) >= MAX_FOLLOWED:
            return
        task = asyncio.get_running_loop().create_task(self._follow(session, run), name=f"mockagent-feed-{run.id}")
        self._followers[run] = task
        task.add_done_callback(lambda _: self._followers.pop(run, None))

    async def _follow(self, session: str, run: Run) -> None:
        platform = run.conversation.platform.value
        async for _, timed in run.follow(through_pauses=True):
            kind = "run.paused" if isinstance(timed.event, Paused) else "run.event"
            self.publish(kind, session, platform, run=brief(run), event=timed_json(timed))
        self.publish("run.ended", session, platform, run=brief(run), reason=run.end_reason)

    def close(self) -> None:
        """The server stops: every subscriber's stream ends."""
        for subscriber in list(self._subscribers):
            subscriber.put(None)
            subscriber.cut = True
        for task in self._followers.values():
            task.cancel()
