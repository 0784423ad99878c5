"""The run lifecycle: queued → running → paused → completed | failed | cancelled | expired | timed_out.

A `Run` holds a timeline of events, each at a clock time, computed from the script when the run starts
(and extended when it resumes). Every view of a run — a blocking reply, a stream, a poll, a resume —
reads that one timeline against the clock, so they cannot disagree: a poll at clock time *t* sees exactly
the events a stream has delivered by *t*.
"""

from __future__ import annotations

import asyncio
import json
import random
import re
from collections.abc import AsyncIterator, Mapping
from dataclasses import dataclass, field
from enum import StrEnum
from typing import Any

from mockagent.clock import Clock
from mockagent.errors import RunStateError
from mockagent.faults import current_stream
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
from mockagent.scenarios.model import Agent
from mockagent.templating import Template


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
_WORDS = re.compile(r"\s*\S+\s*")  # a word with the spaces around it: chunks join back to the text
_YES = re.compile(r"^\s*(y|yes|ok|okay|sure|approve|approved|go ahead|confirm(ed)?)\b", re.IGNORECASE)


@dataclass
class Pending:
    """A pause waiting for its answer, with what the script does next."""

    pause: Paused
    rest: tuple[Step, ...]
    on_reject: tuple[Step, ...]
    at: float
    expires_at: float | None


@dataclass(slots=True)
class Conversation:
    """One conversation (context, session, thread) of one platform, with its runs in order."""

    id: str
    platform: PlatformKey
    agent_id: str
    created_at: float
    runs: list[Run] = field(default_factory=list)
    # A chat-style pause: the agent asked in text, and the next message answers.
    pending: Pending | None = None
    variables: dict[str, Any] = field(default_factory=dict)


class Run:
    """One agent turn, its timeline and its lifecycle."""

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
        "metadata",
        "pause_style",
        "pending",
        "polls",
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
    ) -> None:
        self.id = run_id
        self.agent = agent
        self.conversation = conversation
        self.message = message
        self.clock = clock
        self.pause_style = pause_style
        self.approval_ttl = approval_ttl
        self.variables: dict[str, Any] = dict(variables)
        self.created_at = clock.now()
        self.started_at = self.created_at + agent.pace.queued
        self.timeline: list[Timed] = []
        self.pending: Pending | None = None
        self.polls = 0
        self.metadata: dict[str, Any] = {}  # per-platform extras (ids, request fields) that views echo
        self._gate: tuple[int, tuple[Step, ...]] | None = None
        self._ended: tuple[RunStatus, float, str] | None = None  # cancelled / timed out: (status, at, reason)
        self._seed = seed
        self._rng: random.Random | None = None  # seeded on first use: most scripts have no jitter
        self._require_approval = require_approval
        self._text_blocks = 0
        self._last_call: ToolCalled | None = None
        self._calls = 0
        # Futures of the tasks waiting for this run to change (a dict: ordered, O(1) removal).
        self._waiters: dict[asyncio.Future[None], None] = {}
        # A gateway limit: (clock time, reason, whether it also runs while the run is paused).
        self._deadline: tuple[float, str, bool] | None = None

    # ── reading the run at a moment ──────────────────────────────────────────────────────────────

    def visible(self, now: float | None = None) -> list[Timed]:
        """The events that have happened by clock time `now`."""
        now = self.clock.now() if now is None else now
        if self._deadline is not None:
            self._enforce(now)
        events = self.timeline
        if events and events[-1].at <= now:
            return events
        return [t for t in events if t.at <= now]

    def status(self, now: float | None = None) -> RunStatus:
        now = self.clock.now() if now is None else now
        if self._deadline is not None:
            self._enforce(now)
        return self._status_at(now)

    def _status_at(self, now: float) -> RunStatus:
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
        return "".join(t.event.text for t in self.visible(now) if isinstance(t.event, TextDelta))

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
        return self._ended[2] if self._ended else None

    def moment(self, status: RunStatus) -> float | None:
        """When the run entered `status` (clock time), if it has, for timestamps such as finished_at."""
        if self._deadline is not None:
            self._enforce(self.clock.now())
        if status is RunStatus.QUEUED:
            return self.created_at
        if status is RunStatus.RUNNING:
            return self.started_at
        if self._ended is not None and self._ended[0] is status:
            return self._ended[1]
        if status is RunStatus.EXPIRED:
            return self.pending.expires_at if self.pending else None
        kinds = {RunStatus.COMPLETED: Completed, RunStatus.FAILED: Failed, RunStatus.PAUSED: Paused}
        kind = kinds.get(status)
        for timed in reversed(self.timeline):
            if kind is not None and isinstance(timed.event, kind):
                return timed.at
        return None

    @property
    def settles_at(self) -> float | None:
        """When the run next stops on its own (paused or terminal); None while it waits for polls."""
        if self._deadline is not None:
            self._enforce(self.clock.now())
        if self._ended is not None:
            return self._ended[1]
        if self.timeline and isinstance(self.timeline[-1].event, Completed | Failed | Paused):
            return self.timeline[-1].at
        return None

    # ── waiting ──────────────────────────────────────────────────────────────────────────────────

    async def settled(self, timeout: float | None = None) -> bool:  # noqa: ASYNC109 (clock time, not wall time)
        """Wait (clock time) until the run is paused or over; False if `timeout` passed first."""
        deadline = None if timeout is None else self.clock.now() + timeout
        while True:
            now = self.clock.now()
            status = self.status(now)
            if status is not RunStatus.RUNNING and status is not RunStatus.QUEUED:
                return True
            if deadline is not None and now >= deadline:
                return False
            target = self.settles_at
            if deadline is not None and (target is None or target > deadline):
                target = deadline
            await self._sleep_until(target)

    async def follow(self, start: int = 0, *, through_pauses: bool = False) -> AsyncIterator[tuple[int, Timed]]:
        """Yield (index, event) as each event's moment comes; ends when the run is over, or paused.

        With `through_pauses`, a pause does not end the iteration: it waits for the resume (the BeeOS
        task event stream stays open until the task is terminal).
        """
        index = start
        now = self.clock.now()
        while True:
            if self._deadline is not None:
                self._enforce(now)  # first: a gateway limit that has passed cuts the timeline
            if index < len(self.timeline):
                timed = self.timeline[index]
                if timed.at > now:
                    now = self.clock.now()  # read again only when the last reading says "not yet"
                    if timed.at > now:
                        await _flush()
                        await self._sleep_until(timed.at)
                        now = self.clock.now()
                    continue  # the timeline may have been cut (cancelled) while we slept
                index += 1
                if isinstance(timed.event, Glitched):
                    stream = current_stream.get()
                    if stream is not None:
                        await stream.strike(timed.event.fault)
                    continue
                yield index - 1, timed
                continue
            now = self.clock.now()
            if self._deadline is not None:
                self._enforce(now)
            status = self._status_at(now)
            if status.is_terminal or (status is RunStatus.PAUSED and not through_pauses):
                return
            await _flush()
            settles = self.settles_at
            if settles is not None and settles > now:
                await self._sleep_until(settles)
            elif status is RunStatus.PAUSED and self.pending is not None and self.pending.expires_at is not None:
                # An undecided approval expires: a stream that waits through pauses must see that too.
                await self._sleep_until(self.pending.expires_at)
            else:
                await self._sleep_until(None)
            now = self.clock.now()

    async def _sleep_until(self, at: float | None) -> None:
        """Wait until clock time `at` (None: no set time), the run's gateway limit, or the run's next
        change (an event added, a cancel, a resume), whichever comes first.

        One future does it all — resolved by the clock's timer or by `_notify` — because this is paid
        once per frame of every stream.
        """
        if self._deadline is not None:
            at = self._deadline[0] if at is None else min(at, self._deadline[0])
        waiter: asyncio.Future[None] = asyncio.get_running_loop().create_future()
        self._waiters[waiter] = None
        timer = None if at is None else self.clock.wake(at, waiter)
        try:
            await waiter
        finally:
            self._waiters.pop(waiter, None)
            if timer is not None:
                timer.cancel()

    def _notify(self) -> None:
        if not self._waiters:
            return
        waiters, self._waiters = self._waiters, {}
        for future in waiters:
            if not future.done():
                future.set_result(None)

    # ── gateway limits ───────────────────────────────────────────────────────────────────────────

    def time_out_at(self, at: float, reason: str, *, through_pauses: bool = False) -> None:
        """A gateway limit: unless the run has settled by clock time `at` — or, `through_pauses`, is
        over by then — it times out at `at`. Replaces an earlier limit.

        The limit is a moment in the run's own state, not a watchdog task: every view (status, poll,
        stream) applies it when it reads the run, and waiting streams wake for it.
        """
        self._deadline = (at, reason, through_pauses)
        self._notify()  # waiting streams re-plan their sleep around the new limit

    def _enforce(self, now: float) -> None:
        deadline = self._deadline
        if deadline is None or now < deadline[0]:
            return
        at, reason, through_pauses = deadline
        self._deadline = None
        state = self._status_at(at)
        if state in (RunStatus.QUEUED, RunStatus.RUNNING) or (through_pauses and state is RunStatus.PAUSED):
            self._end(RunStatus.TIMED_OUT, reason, at)

    # ── acting on the run ────────────────────────────────────────────────────────────────────────

    def cancel(self, reason: str = "cancelled") -> bool:
        """Cancel now; False (and nothing changes) when the run is already over."""
        return self._end(RunStatus.CANCELLED, reason)

    def time_out(self, reason: str = "timed out") -> bool:
        return self._end(RunStatus.TIMED_OUT, reason)

    def _end(self, status: RunStatus, reason: str, at: float | None = None) -> bool:
        """End the run at clock time `at` (now by default; a passed gateway limit ends it in the past)."""
        at = self.clock.now() if at is None else at
        if self.status(at).is_terminal:
            return False
        self.timeline = [t for t in self.timeline if t.at <= at]
        self._ended = (status, at, reason)
        self._gate = None
        self._deadline = None
        self._notify()
        return True

    def poll(self) -> None:
        """Count a client's poll; a `wait_polls` step lets the run go on once enough have come."""
        self.polls += 1
        if self._gate is not None and self.polls >= self._gate[0] and self.status() is RunStatus.RUNNING:
            _, rest = self._gate
            self._gate = None
            self._play(rest, self.clock.now())

    def resume(self, decision: Decision, answer: str = "") -> None:
        """Answer the pause: approve or reject a tool call, or answer a question."""
        now = self.clock.now()
        status = self.status(now)
        if status is RunStatus.EXPIRED:
            raise RunStateError("the approval expired")
        if status is not RunStatus.PAUSED or self.pending is None:
            raise RunStateError(f"the run is {status.value}, not paused")
        pending, self.pending = self.pending, None
        if self._deadline is not None and not self._deadline[2]:
            self._deadline = None  # the request that set it ended at the pause
        kind = pending.pause.kind
        if kind is PauseKind.INPUT and decision is not Decision.ANSWER:
            raise RunStateError("the run is waiting for an answer, not an approval")
        if kind is PauseKind.APPROVAL and decision is Decision.ANSWER:
            raise RunStateError("the run is waiting for an approval, not an answer")
        self.variables["answer"] = answer if decision is Decision.ANSWER else decision.value
        outcome = {Decision.APPROVE: "approved", Decision.REJECT: "rejected", Decision.ANSWER: "answered"}
        self._append(now, Resumed(outcome[decision]))
        self._play(pending.on_reject if decision is Decision.REJECT else pending.rest, now)

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
        self._lay_out(steps, at)
        self._notify()  # once the script is laid out, not once per event

    def _lay_out(self, steps: tuple[Step, ...], at: float) -> None:
        pace = self.agent.pace
        for index, step in enumerate(steps):
            match step:
                case Delay(seconds):
                    at += seconds
                case Say():
                    self._text_blocks += 1
                    for n, chunk in enumerate(self._chunks(step)):
                        if n:
                            at += self._interval(step.interval if step.interval is not None else pace.interval)
                        self._append(at, TextDelta(chunk, self._text_blocks))
                case Reasoning(text):
                    self._text_blocks += 1
                    self._append(at, ReasoningDelta(text.render(self.variables), self._text_blocks))
                case ToolCall():
                    self._calls += 1
                    needs_approval = step.requires_approval or step.name in self._require_approval
                    call = ToolCalled(
                        call_id=step.call_id or f"call_{self._calls}",
                        name=step.name,
                        args=step.args,
                        requires_approval=needs_approval,
                    )
                    self._last_call = call
                    self._append(at, call)
                    if needs_approval:
                        args = json.dumps(step.args, ensure_ascii=False)
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
                    error = step.error.render(self.variables) if step.error is not None else None
                    self._append(
                        at,
                        ToolReturned(
                            call_id=last.call_id if last else f"call_{self._calls}",
                            name=last.name if last else "tool",
                            output=step.output,
                            error=error,
                        ),
                    )
                case Ask():
                    pause = Paused(
                        kind=PauseKind.INPUT,
                        request_id=uuid4(),
                        question=step.question.render(self.variables),
                        options=step.options,
                    )
                    self._pause(pause, steps[index + 1 :], (), at)
                    return
                case Fail():
                    self._append(at, Failed(step.message.render(self.variables), step.code))
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
        if self.timeline and at < self.timeline[-1].at:
            at = self.timeline[-1].at
        self.timeline.append(Timed(at, event, len(self.timeline)))

    def _chunks(self, step: Say) -> list[str]:
        if step.chunks is not None:
            return list(step.chunks)
        text = step.text.render(self.variables)
        pace = self.agent.pace
        chunking = step.chunking or pace.chunking
        size = step.chunk_chars or pace.chunk_chars
        if chunking is Chunking.WHOLE or not text:
            return [text]
        if chunking is Chunking.CHARS:
            return [text[i : i + size] for i in range(0, len(text), size)]
        words = _WORDS.findall(text)
        return words or [text]

    def _interval(self, base: float) -> float:
        jitter = self.agent.pace.jitter
        if not jitter:
            return base
        if self._rng is None:
            self._rng = random.Random(self._seed)
        return max(0.0, base + self._rng.uniform(-jitter, jitter))


async def _flush() -> None:
    # Frames due at the same moment leave in one write; before waiting, what was sent goes out.
    stream = current_stream.get()
    if stream is not None:
        await stream.flush()


_DEFAULT_REJECT: tuple[Step, ...] = (Fail(message=Template("The tool call was rejected."), code="rejected"),)


def chat_decision(pending: Pending, message: str) -> Decision:
    """How the next message answers a chat-style pause (CHOSEN: yes/ok/approve… approves)."""
    if pending.pause.kind is PauseKind.INPUT:
        return Decision.ANSWER
    return Decision.APPROVE if _YES.match(message) else Decision.REJECT
