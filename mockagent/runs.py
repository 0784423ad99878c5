"""The run lifecycle: queued → running → paused → completed | failed | cancelled | expired | timed_out.

A `Run` holds a timeline of events, each at a clock time, computed from the script when the run starts
(and extended when it resumes). Every view of a run — a blocking reply, a stream, a poll, a resume —
reads that one timeline against the clock, so they cannot disagree: a poll at clock time *t* sees exactly
the events a stream has delivered by *t*.
"""

from __future__ import annotations

import asyncio
import json
import logging
import math
import random
import re
from collections.abc import AsyncIterator, Mapping, Sequence
from dataclasses import dataclass, field
from enum import StrEnum
from typing import Any, NamedTuple, Protocol, TypeVar

from mockagent.clock import Clock
from mockagent.errors import ApiError, ErrorKind, RunStateError
from mockagent.faults import Fault
from mockagent.holding import let_go, touch
from mockagent.ids import uuid4
from mockagent.model import (
    Ask,
    Chunking,
    Completed,
    Delay,
    Event,
    Fail,
    Failed,
    Glitch,
    Glitched,
    Paused,
    PauseKind,
    PlatformKey,
    Reasoning,
    ReasoningDelta,
    Resumed,
    Say,
    Step,
    TextDelta,
    Timed,
    ToolCall,
    ToolCalled,
    ToolResult,
    ToolReturned,
    WaitPolls,
)
from mockagent.scenarios.model import Agent, Reply
from mockagent.templating import Template, TemplateRenderError
from mockagent.timeline import Timeline
from mockagent.variables import Variables


class RunStatus(StrEnum):
    QUEUED = "queued"
    RUNNING = "running"
    PAUSED = "paused"
    COMPLETED = "completed"
    FAILED = "failed"
    CANCELLED = "cancelled"
    EXPIRED = "expired"
    TIMED_OUT = "timed_out"

    @property
    def is_terminal(self) -> bool:
        return self not in (RunStatus.QUEUED, RunStatus.RUNNING, RunStatus.PAUSED)


class PauseStyle(StrEnum):
    """How a platform pauses a run for a human."""

    NATIVE = "native"  # a paused state the client resumes through the API
    CHAT = "chat"  # the agent asks in text and completes; the next message on the conversation answers


class Decision(StrEnum):
    APPROVE = "approve"
    REJECT = "reject"
    ANSWER = "answer"


DEFAULT_APPROVAL_TTL = 24 * 3600.0
#: CHOSEN: how many turns a conversation keeps (older ones are forgotten, as old runs are).
TURNS_KEPT = 1_000
#: CHOSEN: the most chunks (events, stream frames) one `say` step is cut into; a longer text's chunks hold
#: several words (or characters) each. A script's own `chunks:` list is played as written.
MAX_CHUNKS = 1_000
R = TypeVar("R")
log = logging.getLogger("mockagent")


class Limit(NamedTuple):
    """A moment by which a run must have settled, and what it times out with if it has not.

    A view that only watches a run another request started (`ends_run=False`: a BeeOS idempotent replay)
    stops waiting at its limit and leaves the run alone. (A tuple: one is made per request.)"""

    at: float
    reason: str
    ends_run: bool = True


class Sink(Protocol):
    """Where a view of a run writes (a client's stream): `Run.follow` drives it explicitly."""

    async def strike(self, fault: Fault) -> None:
        """Apply a stream fault scripted at this point of the run, from the current frame on."""

    async def flush(self) -> None:
        """Write out what was sent so far: the run is about to wait for its next moment."""


_NEVER = math.inf
_WORDS = re.compile(r"\s*\S+\s*")  # a word with the spaces around it: chunks join back to the text
_WORD_START = re.compile(r"(?<=\s)\S")
_WORDS_SCANNED = 100_000  # characters; a longer text is cut by length (see _pieces), not word by word
_YES = re.compile(r"^\s*(y|yes|ok|okay|sure|approve|approved|go ahead|confirm(ed)?)\b", re.IGNORECASE)


@dataclass
class Pending:
    """A pause waiting for its answer, with what the script does next."""

    pause: Paused
    rest: tuple[Step, ...]
    on_reject: tuple[Step, ...]
    at: float
    expires_at: float | None
    # A chat-style pause decided from outside (the admin API) before the next message came: that message
    # continues with this decision, whatever it says — (decision, answer, approved args).
    decided: tuple[Decision, str, dict[str, Any] | None] | None = None


@dataclass(slots=True)
class Conversation:
    """One conversation (context, session, thread) of one platform, with its latest runs in order."""

    id: str
    platform: PlatformKey
    agent_id: str
    created_at: float
    # A list, not a deque: most conversations have one turn, and an empty deque costs 600 bytes to a list's
    # 56 (trimmed to TURNS_KEPT by the engine as it appends).
    runs: list[Run] = field(default_factory=list)
    turns: int = 0  # every turn it has had, forgotten ones included
    # A chat-style pause: the agent asked in text, and the next message answers.
    pending: Pending | None = None
    variables: dict[str, Any] = field(default_factory=dict)
    record: object = None  # the platform's own typed record of the conversation

    @property
    def last(self) -> Run | None:
        return self.runs[-1] if self.runs else None


class Run:
    """One agent turn, its timeline and its lifecycle.

    Reading a run (`status`, `visible`, `moment`, `text` …) never changes it: a limit that has passed is
    derived when the run is read. Only the acts below (`cancel`, `time_out`, `resume`, `poll`) change it.
    """

    # Thousands are kept for polling: slots keep each one small.
    __slots__ = (
        "__weakref__",
        "_calls",
        "_deadline",
        "_ended",
        "_gate",
        "_last_call",
        "_require_approval",
        "_rng",
        "_seed",
        "_text_blocks",
        "_waiters",
        "agent",
        "approval_ttl",
        "clock",
        "conversation",
        "created_at",
        "id",
        "message",
        "pause_style",
        "pending",
        "polls",
        "record",
        "reply",
        "started_at",
        "timeline",
        "variables",
    )

    def __init__(
        self,
        *,
        run_id: str,
        agent: Agent,
        conversation: Conversation,
        message: str,
        clock: Clock,
        pause_style: PauseStyle,
        approval_ttl: float,
        variables: Mapping[str, Any],
        seed: str,
        require_approval: frozenset[str] = frozenset(),
        reply: Reply | None = None,
    ) -> None:
        self.id = run_id
        self.agent = agent
        self.conversation = conversation
        self.message = message
        self.clock = clock
        self.pause_style = pause_style
        self.approval_ttl = approval_ttl
        # The turn's own (made for it by the engine), or a copy of a plain mapping.
        self.variables = variables if isinstance(variables, Variables) else Variables(variables)
        self.reply = reply  # what decided this run's script (None: the rest of an earlier turn's)
        self.created_at = clock.now()
        self.started_at = self.created_at + agent.pace.queued
        self.timeline = Timeline()
        self.pending: Pending | None = None
        self.polls = 0
        self.record: object = None  # the platform's own typed record of this run (see `record_of`)
        self._gate: tuple[int, tuple[Step, ...]] | None = None
        self._ended: tuple[RunStatus, float, str] | None = None  # cancelled / timed out: (status, at, reason)
        self._seed = seed
        self._rng: random.Random | None = None  # seeded on first use: most scripts have no jitter
        self._require_approval = require_approval
        self._text_blocks = 0
        self._last_call: ToolCalled | None = None
        self._calls = 0
        # Futures of the tasks waiting for this run to change (a dict: ordered, O(1) removal).
        self._waiters: dict[asyncio.Future[None], None] | None = None  # made on the first wait
        self._deadline: Limit | None = None  # the run's own limit (a task deadline), through pauses

    # ── shared between processes (mockagent.shared): a run as data ───────────────────────────────

    def __getstate__(self) -> dict[str, Any]:
        # The waiters are this process's tasks: another process has its own.
        return {name: getattr(self, name) for name in _STATE}

    def __setstate__(self, state: dict[str, Any]) -> None:
        self._waiters = None
        for name in _STATE:
            setattr(self, name, state[name])

    def refresh(self, other: Run) -> None:
        """Take `other`'s state (the run as another process left it): whoever follows this run here sees
        the change."""
        for name in _STATE:
            setattr(self, name, getattr(other, name))
        self._notify()

    def record_of(self, kind: type[R]) -> R:
        """The platform's record of this run, as the type the platform stored."""
        record = self.record
        if not isinstance(record, kind):
            raise TypeError(f"run {self.id} has no {kind.__name__} record")
        return record

    # ── reading the run at a moment ──────────────────────────────────────────────────────────────

    def _end_state(self) -> tuple[RunStatus, float, str] | None:
        """How and when the run ends unless something changes: ended by an act, or by its own deadline
        (derived, never stored, so that reading the run does not change it)."""
        if self._ended is not None:
            return self._ended
        deadline = self._deadline
        if deadline is not None and not self._raw_status(deadline.at).is_terminal:
            return (RunStatus.TIMED_OUT, deadline.at, deadline.reason)
        return None

    def visible(self, now: float | None = None) -> Sequence[Timed]:
        """The events that have happened by clock time `now`."""
        now = self._seen_by(now)
        events = self.timeline
        last = events.last_at
        if last is not None and last <= now:
            return events
        return events.until(now)

    def _seen_by(self, now: float | None) -> float:
        """The moment up to which the run is seen at `now`: nothing after its end is ever seen."""
        now = self.clock.now() if now is None else now
        if self._ended is not None or self._deadline is not None:
            end = self._end_state()
            if end is not None and end[1] < now:
                now = end[1]
        return now

    def status(self, now: float | None = None) -> RunStatus:
        now = self.clock.now() if now is None else now
        if self._ended is None and self._deadline is None:
            return self._raw_status(now)  # most runs: nothing but the timeline to read
        end = self._end_state()
        if end is not None and end[1] <= now:
            return end[0]
        return self._raw_status(now)

    def _raw_status(self, now: float) -> RunStatus:
        """The status from the timeline alone (acts and deadlines aside)."""
        if self._ended is not None and self._ended[1] <= now:
            return self._ended[0]
        if now < self.started_at:
            return RunStatus.QUEUED
        last = self.timeline[-1] if self.timeline else None
        if last is None or last.at > now:
            return RunStatus.RUNNING
        match last.event:
            case Completed():
                return RunStatus.COMPLETED
            case Failed():
                return RunStatus.FAILED
            case Paused():
                pending = self.pending
                if pending is not None and pending.expires_at is not None and pending.expires_at <= now:
                    return RunStatus.EXPIRED
                return RunStatus.PAUSED
        return RunStatus.RUNNING

    def text(self, now: float | None = None) -> str:
        return self.timeline.text(self._seen_by(now))

    def failure(self, now: float | None = None) -> Failed | None:
        for timed in reversed(self.visible(now)):
            if isinstance(timed.event, Failed):
                return timed.event
        return None

    def pause(self, now: float | None = None) -> Paused | None:
        """The pause the run is waiting in at `now`, if it is paused."""
        if self.status(now) is RunStatus.PAUSED and self.pending is not None:
            return self.pending.pause
        return None

    @property
    def end_reason(self) -> str | None:
        end = self._end_state()
        return end[2] if end is not None and end[1] <= self.clock.now() else None

    def moment(self, status: RunStatus) -> float | None:
        """When the run entered `status` (clock time), if it has, for timestamps such as finished_at."""
        if status is RunStatus.QUEUED:
            return self.created_at
        now = self.clock.now()
        end = self._end_state()
        if status is RunStatus.RUNNING:
            # A run ended while still queued never started: it has no start time (none after its end).
            started = self.started_at
            return started if started <= now and (end is None or end[1] >= started) else None
        if end is not None and end[0] is status:
            return end[1] if end[1] <= now else None
        # Only what has happened: by now, and before the run ended.
        horizon = now if end is None else min(now, end[1])
        if status is RunStatus.EXPIRED:
            expires = self.pending.expires_at if self.pending else None
            return expires if expires is not None and expires <= horizon else None
        kinds = {RunStatus.COMPLETED: Completed, RunStatus.FAILED: Failed, RunStatus.PAUSED: Paused}
        kind = kinds.get(status)
        for timed in reversed(self.timeline):
            if kind is not None and isinstance(timed.event, kind) and timed.at <= horizon:
                return timed.at
        return None

    @property
    def settles_at(self) -> float | None:
        """When the run next stops on its own (paused or terminal); None while it waits for polls."""
        end = self._end_state()
        last = self.timeline[-1] if self.timeline else None
        settles = last.at if last is not None and isinstance(last.event, Completed | Failed | Paused) else None
        if end is not None and (settles is None or end[1] < settles):
            return end[1]
        return settles

    # ── waiting ──────────────────────────────────────────────────────────────────────────────────

    async def settled(self, limit: Limit | None = None) -> bool:
        """Wait (clock time) until the run is paused or over. A `limit` is the caller's own: if it passes
        first, the run times out at that moment and this returns False."""
        while True:
            now = self.clock.now()
            status = self.status(now)
            if status is not RunStatus.RUNNING and status is not RunStatus.QUEUED:
                return True
            if limit is not None and now >= limit.at:
                if limit.ends_run:
                    self.time_out(limit.reason, at=limit.at)
                return False
            target = self.settles_at
            if limit is not None and (target is None or target > limit.at):
                target = limit.at
            await self._sleep_until(target)

    async def until_started(self, sink: Sink | None = None) -> None:
        """Wait until the run leaves its queue (or ends before it does)."""
        while self.clock.now() < self.started_at and not self.status().is_terminal:
            if sink is not None:
                await sink.flush()
            await self._sleep_until(self.started_at)

    async def follow(
        self,
        sink: Sink | None = None,
        start: int = 0,
        *,
        through_pauses: bool = False,
        limit: Limit | None = None,
    ) -> AsyncIterator[tuple[int, Timed]]:
        """Yield (index, event) as each event's moment comes; ends when the run is over, or paused.

        `sink` is the writer of this view: the run flushes it before each wait (frames due together leave
        in one write), and a fault scripted at a step strikes it — that view alone; several views may
        follow one run at once. `limit` is this view's gateway limit: if it passes before the run settles,
        the run times out at that moment. With `through_pauses`, a pause does not end the iteration: it
        waits for the resume (the BeeOS task event stream stays open until the task is terminal).
        """
        index = start
        now = self.clock.now()
        limit_at = limit.at if limit is not None else _NEVER
        while True:
            timeline = self.timeline
            if index < len(timeline):
                timed = timeline[index]
                at = timed.at
                # The clock is read again only when the last reading says "not yet".
                if (
                    at <= limit_at
                    and (at <= now or at <= (now := self.clock.now()))
                    and ((self._ended is None and self._deadline is None) or at <= self._horizon())
                ):
                    index += 1
                    if isinstance(timed.event, Glitched):
                        if sink is not None:
                            await sink.strike(timed.event.fault)
                        continue
                    yield index - 1, timed
                    continue
            # No second reading of the clock here: the status is judged at the moment that found the next
            # event not yet due, or an event falling due in between would be skipped by an end after it.
            if limit is not None and limit_at <= now:
                if self.status(limit_at) not in (RunStatus.QUEUED, RunStatus.RUNNING):
                    limit, limit_at = None, _NEVER  # settled in time: the limit no longer matters
                    continue
                if not limit.ends_run:
                    return  # this view gives up; the run goes on
                self.time_out(limit.reason, at=limit_at)
                limit, limit_at = None, _NEVER
                continue
            status = self.status(now)
            if status.is_terminal or (status is RunStatus.PAUSED and not through_pauses):
                return
            due = min(self._horizon(), limit_at)  # nothing after the run's end is ever seen
            if index < len(self.timeline):
                due = min(due, self.timeline[index].at)
            elif status is RunStatus.PAUSED and self.pending is not None and self.pending.expires_at is not None:
                due = min(due, self.pending.expires_at)  # an undecided approval expires
            if sink is not None:
                await sink.flush()
            await self._sleep_until(None if due == _NEVER else due)
            now = self.clock.now()

    def _horizon(self) -> float:
        """The moment after which nothing of the run is ever seen: its end, if it has one coming."""
        end = self._end_state()
        return end[1] if end is not None else _NEVER

    async def _sleep_until(self, at: float | None) -> None:
        """Wait until clock time `at` (None: no set time) or the run's next change (an event added, a
        cancel, a resume), whichever comes first.

        One future does it all — resolved by the clock's timer or by `_notify` — because this is paid
        once per frame of every stream.
        """
        await let_go()  # a request sharing its session with other processes does not wait holding it
        waiter: asyncio.Future[None] = asyncio.get_running_loop().create_future()
        waiters = self._waiters
        if waiters is None:
            waiters = self._waiters = {}
        waiters[waiter] = None
        timer = self.clock.wake(at, waiter)
        try:
            await waiter
        finally:
            if self._waiters is not None:
                self._waiters.pop(waiter, None)
            timer.cancel()

    def _notify(self) -> None:
        waiters = self._waiters
        if not waiters:
            return
        self._waiters = None
        for future in waiters:
            if not future.done():
                future.set_result(None)

    # ── limits ───────────────────────────────────────────────────────────────────────────────────

    def set_deadline(self, limit: Limit) -> None:
        """The run's own limit (a BeeOS task's deadline, an Aster background run's): unless the run is
        over by `limit.at`, it times out then, paused or not. Set once, as the run is made; a view's
        gateway limit is the view's own (`follow(limit=…)`, `settled(limit)`)."""
        touch(self)
        self._deadline = limit
        self._notify()

    # ── acting on the run ────────────────────────────────────────────────────────────────────────

    def cancel(self, reason: str = "cancelled") -> bool:
        """Cancel now; False (and nothing changes) when the run is already over."""
        return self._end(RunStatus.CANCELLED, reason)

    def time_out(self, reason: str = "timed out", *, at: float | None = None) -> bool:
        """Time the run out at clock time `at` (now by default: a gateway limit that passed ends the run
        at the limit, not at the moment somebody noticed)."""
        return self._end(RunStatus.TIMED_OUT, reason, at)

    def _end(self, status: RunStatus, reason: str, at: float | None = None) -> bool:
        touch(self)
        at = self.clock.now() if at is None else at
        if self.status(at).is_terminal:
            return False
        self.timeline.cut_after(at)
        self._ended = (status, at, reason)
        self._gate = None
        self._notify()
        return True

    def poll(self) -> None:
        """Count a client's poll; a `wait_polls` step lets the run go on once enough have come."""
        touch(self)
        self.polls += 1
        if self._gate is not None and self.polls >= self._gate[0] and self.status() is RunStatus.RUNNING:
            gate, self._gate = self._gate, None
            try:
                self._play(gate[1], self.clock.now())
            except ApiError:
                self._gate = gate  # a template failed: the run still waits, as before this poll
                raise

    def check_resume(self, decision: Decision) -> Pending:
        """The pause `decision` answers, or RunStateError if it does not fit the run's state."""
        status = self.status()
        if status is RunStatus.EXPIRED:
            raise RunStateError("the approval expired")
        pending = self.pending
        if status is not RunStatus.PAUSED or pending is None:
            raise RunStateError(f"the run is {status.value}, not paused")
        check_fits(pending.pause.kind, decision)
        return pending

    def resume(self, decision: Decision, answer: str = "", *, args: dict[str, Any] | None = None) -> None:
        """Answer the pause: approve or reject a tool call, or answer a question. Checked before anything
        changes: a resume that does not fit leaves the run as it was. `args`: the tool arguments the human
        approved in place of the call's own (the rest of the script reads them as `approved_args`)."""
        pending = self.check_resume(decision)
        now = self.clock.now()
        variables, mark = self.variables.copy(), len(self.timeline)
        self.pending = None
        self.variables["answer"] = answer if decision is Decision.ANSWER else decision.value
        if args is not None and decision is Decision.APPROVE:
            self.variables["approved_args"] = args
        outcome = {Decision.APPROVE: "approved", Decision.REJECT: "rejected", Decision.ANSWER: "answered"}
        self._append(now, Resumed(outcome[decision], args if decision is Decision.APPROVE else None))
        try:
            self._play(pending.on_reject if decision is Decision.REJECT else pending.rest, now)
        except ApiError:
            # A template failed: the resume did not happen (the run still waits for its decision).
            self.pending, self.variables = pending, variables
            self.timeline.truncate(mark)
            raise

    # ── playing a script into the timeline ───────────────────────────────────────────────────────

    def start(self, steps: tuple[Step, ...]) -> None:
        self._play(steps, self.started_at + self.agent.pace.first_frame)

    def continue_from(self, pending: Pending, decision: Decision) -> None:
        """Start this run where a chat-style pause of an earlier turn left off."""
        steps = pending.on_reject if decision is Decision.REJECT else pending.rest
        # A tool_result right after the approval belongs to the call that was approved.
        self._last_call = pending.pause.tool_call
        self._play(steps, self.started_at + self.agent.pace.first_frame)

    def _play(self, steps: tuple[Step, ...], at: float) -> None:
        """Lay `steps` out from `at`. A template that fails to render (or passes its bounds) is the
        platform's 500 naming the template's file and position, and leaves the run as it was: nothing is
        laid out, and the caller undoes its own part."""
        touch(self)
        mark = (len(self.timeline), self._text_blocks, self._calls, self._last_call)
        try:
            self._lay_out(steps, at)
        except TemplateRenderError as err:
            self.timeline.truncate(mark[0])
            self._text_blocks, self._calls, self._last_call = mark[1:]
            log.warning("run %s of agent %s: %s", self.id, self.agent.id, err)
            raise ApiError(ErrorKind.INTERNAL, str(err)) from None
        self._notify()  # once the script is laid out, not once per event
        if self.pending is None and self._gate is None:
            # Laid out to its end: nothing renders a template of this run again, and what the variables
            # hold (the request's body, headers and query) need not live as long as the run is kept.
            self.variables.release()

    def _lay_out(self, steps: tuple[Step, ...], at: float) -> None:
        pace = self.agent.pace
        variables = self.variables
        for index, step in enumerate(steps):
            variables.at = at  # the moment `now` tells
            match step:
                case Delay(seconds):
                    at += seconds
                case Say():
                    self._text_blocks += 1
                    chunks = self._chunks(step)
                    ats = [at]
                    for _ in range(len(chunks) - 1):
                        at += self._interval(step.interval if step.interval is not None else pace.interval)
                        ats.append(at)
                    floor = self.timeline.last_at
                    if floor is not None and ats[0] < floor:  # never back in time (see _append)
                        ats = [max(moment, floor) for moment in ats]
                    if chunks:
                        self.timeline.say(chunks, ats, self._text_blocks)
                case Reasoning(text):
                    self._text_blocks += 1
                    self._append(at, ReasoningDelta(text.render(variables), self._text_blocks))
                case ToolCall():
                    self._calls += 1
                    needs_approval = step.requires_approval or step.name in self._require_approval
                    call = ToolCalled(
                        call_id=step.call_id.render(variables) if step.call_id is not None else f"call_{self._calls}",
                        name=step.name,
                        args=step.args.render(variables),
                        requires_approval=needs_approval,
                    )
                    self._last_call = call
                    self._append(at, call)
                    if needs_approval:
                        args = json.dumps(call.args, ensure_ascii=False)
                        pause = Paused(
                            kind=PauseKind.APPROVAL,
                            request_id=uuid4(),
                            question=f"May I call {step.name} with {args}? (yes/no)",
                            tool_call=call,
                        )
                        reject = step.on_reject if step.on_reject is not None else _DEFAULT_REJECT
                        self._pause(pause, steps[index + 1 :], reject, at)
                        return
                case ToolResult():
                    last = self._last_call
                    error = step.error.render(variables) if step.error is not None else None
                    self._append(
                        at,
                        ToolReturned(
                            call_id=last.call_id if last else f"call_{self._calls}",
                            name=last.name if last else "tool",
                            output=step.output.render(variables) if step.output is not None else None,
                            error=error,
                        ),
                    )
                case Ask():
                    pause = Paused(
                        kind=PauseKind.INPUT,
                        request_id=uuid4(),
                        question=step.question.render(variables),
                        options=tuple(option.render(variables) for option in step.options),
                    )
                    self._pause(pause, steps[index + 1 :], (), at)
                    return
                case Fail():
                    self._append(at, Failed(step.message.render(variables), step.code))
                    return
                case Glitch(fault):
                    self._append(at, Glitched(fault))
                case WaitPolls(polls):
                    if self.polls < polls:
                        self._gate = (polls, steps[index + 1 :])
                        self._notify()
                        return
        self._append(at, Completed())

    def _pause(self, pause: Paused, rest: tuple[Step, ...], on_reject: tuple[Step, ...], at: float) -> None:
        pending = Pending(
            pause=pause,
            rest=rest,
            on_reject=on_reject,
            at=at,
            expires_at=at + self.approval_ttl if pause.kind is PauseKind.APPROVAL else None,
        )
        if self.pause_style is PauseStyle.NATIVE:
            self.pending = pending
            self._append(at, pause)
            return
        # Chat style: the question is the reply, and the conversation remembers what comes next.
        self._text_blocks += 1
        question = pause.question
        if pause.options:
            question += " (" + " / ".join(pause.options) + ")"
        self._append(at, TextDelta(question, self._text_blocks))
        self._append(at, Completed())
        self.conversation.pending = pending

    def _append(self, at: float, event: Event) -> None:
        # Events never go back in time, even when a resume lands between two scheduled moments.
        last = self.timeline.last_at
        if last is not None and at < last:
            at = last
        self.timeline.append(Timed(at, event, len(self.timeline)))

    def _chunks(self, step: Say) -> list[str]:
        if step.chunks is not None:
            return [chunk.render(self.variables) for chunk in step.chunks]
        text = step.text.render(self.variables)
        pace = self.agent.pace
        chunking = step.chunking or pace.chunking
        size = step.chunk_chars or pace.chunk_chars
        if chunking is Chunking.WHOLE or not text:
            return [text]
        if chunking is Chunking.CHARS:
            size = max(size, -(-len(text) // MAX_CHUNKS))
            return [text[i : i + size] for i in range(0, len(text), size)]
        if len(text) > _WORDS_SCANNED:
            return _pieces(text)  # not one string per word first: a long message's are half a million
        words = _WORDS.findall(text)
        if len(words) > MAX_CHUNKS:
            # Past the cap, the words in MAX_CHUNKS even groups: the run keeps a bounded number of events,
            # and streams them in as many frames, each at its pace.
            per = -(-len(words) // MAX_CHUNKS)
            return ["".join(words[i : i + per]) for i in range(0, len(words), per)]
        return words or [text]

    def _interval(self, base: float) -> float:
        jitter = self.agent.pace.jitter
        if not jitter:
            return base
        if self._rng is None:
            self._rng = random.Random(self._seed)
        return max(0.0, base + self._rng.uniform(-jitter, jitter))


#: A run's state as data: every slot but the waiters (this process's tasks) and the weak references.
_STATE = tuple(name for name in Run.__slots__ if name not in ("__weakref__", "_waiters"))


def _pieces(text: str) -> list[str]:
    """`text` in at most MAX_CHUNKS pieces of about even length, each cut where a word begins."""
    size = -(-len(text) // MAX_CHUNKS)
    pieces = []
    start = 0
    while start < len(text):
        found = _WORD_START.search(text, start + size)
        end = found.start() if found is not None else len(text)
        pieces.append(text[start:end])
        start = end
    return pieces


_DEFAULT_REJECT: tuple[Step, ...] = (Fail(message=Template("The tool call was rejected."), code="rejected"),)


def open_pause(run: Run, now: float | None = None) -> Paused | None:
    """What `run` waits for a human on at `now`: its own pause, or — on a platform that pauses in chat —
    the question its turn ended on, while the conversation's next message has not answered it."""
    pause = run.pause(now)
    if pause is not None:
        return pause
    pending = chat_pending(run, now)
    return pending.pause if pending is not None else None


def chat_pending(run: Run, now: float | None = None) -> Pending | None:
    """The question `run`'s turn ended on, asked in chat, while the conversation's next message has not
    answered it (nor a decision from outside)."""
    pending = run.conversation.pending
    if (
        pending is not None
        and pending.decided is None
        and run.conversation.last is run
        and run.status(now) is RunStatus.COMPLETED
    ):
        return pending
    return None


def check_fits(kind: PauseKind, decision: Decision) -> None:
    """RunStateError unless `decision` answers a pause of `kind` (an approval is no answer, nor the reverse)."""
    if kind is PauseKind.INPUT and decision is not Decision.ANSWER:
        raise RunStateError("the run is waiting for an answer, not an approval")
    if kind is PauseKind.APPROVAL and decision is Decision.ANSWER:
        raise RunStateError("the run is waiting for an approval, not an answer")


def chat_decision(pending: Pending, message: str) -> Decision:
    """How the next message answers a chat-style pause (CHOSEN: yes/ok/approve… approves)."""
    if pending.pause.kind is PauseKind.INPUT:
        return Decision.ANSWER
    return Decision.APPROVE if _YES.match(message) else Decision.REJECT
