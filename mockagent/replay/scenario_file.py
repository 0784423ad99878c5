"""A cassette turned into a scenario file: each recorded answer read back, in its platform's dialect, into
the neutral steps that make mockagent give the same answer — text (`say`), reasoning, tool calls and their
results, pauses (`tool_call` with `requires_approval`, `ask`) with what the human decided, failures
(`fail`), gateway timeouts, and the timing (`pace`, `delay`).

A turn may span several interactions: an AgentOS invoke that paused, the approval decided, the run polled;
a BeeOS task created, polled, continued and its channel read. Each platform's reader follows the ids of
its dialect (runs, tasks, approvals, sessions, threads) to put those pieces back into one turn.

What the converter cannot know, it says: the file starts with notes (YAML comments). The choices, each
marked CHOSEN, are described in docs/recording-tools.md.
"""

from __future__ import annotations

import bisect
import itertools
import json
import re
import statistics
from collections.abc import Callable, Iterator, Mapping, Sequence
from dataclasses import dataclass, field, replace
from datetime import datetime
from enum import Enum, auto
from functools import cache
from pathlib import Path
from typing import Any
from urllib.parse import parse_qsl, unquote, urlsplit

import yaml

from mockagent.encoding import dumps
from mockagent.replay.cassette import Cassette, Chunk, Interaction

#: CHOSEN: a gap shorter than this (seconds) between where the engine would put a step and when it came
#: is jitter, not a pause worth a `delay` (real streams arrive a few milliseconds apart).
MIN_DELAY = 0.02
#: CHOSEN: a turn that ran into its gateway limit becomes a wait longer than every platform's limit
#: (the demo `timeout` agent's hour), so the same gateway answers the same way.
TIMEOUT_DELAY = 3600.0
#: Statuses a platform answers for itself before any run (rate limits, outages): agent fault rules.
FAULT_STATUSES = frozenset({429, 500, 502, 503, 504})
#: The placeholder for a failure whose message the platform did not show (an Aster thread read by polling).
UNSHOWN_FAILURE = "The agent failed."

_WORDS = re.compile(r"\s*\S+\s*")  # as the engine splits `say` text into chunks
_AGENT_ID = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._:-]{0,127}$")


# ── Server-Sent Events, with the moment each frame arrived ───────────────────────────────────────────


@dataclass(frozen=True, slots=True)
class Frame:
    """One SSE frame: its fields, and when its last byte arrived (seconds after the request; None when
    the recording kept no chunk times)."""

    data: str
    event: str | None = None
    id: str | None = None
    at: float | None = None

    def json(self) -> Any:
        """The data as JSON, or None when it is not JSON (`[DONE]`, a cut frame)."""
        try:
            return json.loads(self.data)
        except ValueError:
            return None


def frames(body: bytes, chunks: Sequence[Chunk] = ()) -> list[Frame]:
    """The frames of an SSE body (WHATWG rules: fields, comments, a blank line ends a frame). A frame
    left unfinished by a cut stream is dropped."""
    ends: list[int] = []
    total = 0
    for chunk in chunks:
        total += chunk.n
        ends.append(total)
    out: list[Frame] = []
    data: list[str] = []
    event: str | None = None
    frame_id: str | None = None
    position = 0
    for raw in body.splitlines(keepends=True):
        position += len(raw)
        line = raw.rstrip(b"\r\n").decode("utf-8", errors="replace")
        if not line:
            if data:
                index = bisect.bisect_left(ends, position)
                at = chunks[index].t if chunks and index < len(chunks) else (chunks[-1].t if chunks else None)
                out.append(Frame("\n".join(data), event, frame_id, at))
            data, event = [], None
            continue
        if line.startswith(":"):
            continue
        name, _, value = line.partition(":")
        value = value.removeprefix(" ")
        if name == "data":
            data.append(value)
        elif name == "event":
            event = value
        elif name == "id":
            frame_id = value
    return out


# ── what a recording shows: neutral events of turns ─────────────────────────────────────────────────


class Kind(Enum):
    TEXT = auto()
    REASONING = auto()
    CALL = auto()
    RESULT = auto()
    ASK = auto()
    RESUME = auto()  # a human's decision: what follows was played from that moment
    FAIL = auto()
    TIMEOUT = auto()
    CUT = auto()  # the run was cancelled or the client hung up: what would have followed is unknown


@dataclass
class Ev:
    kind: Kind
    at: float | None = None  # seconds since the run started (after a RESUME: since the resume)
    text: str = ""
    block: int = 0
    name: str = ""
    args: Any = None
    call_id: str | None = None
    approval: bool = False
    output: Any = None
    error: str | None = None
    options: tuple[str, ...] = ()
    code: str | None = None
    decision: str = ""  # RESUME: approve | reject | answer
    later: bool = False  # RESUME: a view saw the run still going after it (so what follows took time)


@dataclass
class Turn:
    """One run of an agent as the recording showed it, from one or more interactions."""

    platform: str
    agent: str
    message: str
    index: int  # the interaction that started it
    turn: int = 1
    conversation: str | None = None
    events: list[Ev] = field(default_factory=list)
    streamed: bool = False  # the events carry the moments they happened
    duration: float | None = None  # a blocking answer: how long it took
    ended: bool = False
    blocks: int = 0

    def add(self, event: Ev) -> None:
        if not self.ended:
            self.events.append(event)

    def text_delta(self, text: str, at: float | None, fresh: bool = False) -> None:
        """Consecutive text is one block (one `say`), unless the dialect marks a new one (`fresh`)."""
        last = self.events[-1] if self.events else None
        if fresh or last is None or last.kind is not Kind.TEXT:
            self.blocks += 1
        self.add(Ev(Kind.TEXT, at, text=text, block=self.blocks))

    def reasoning(self, text: str, at: float | None, fresh: bool = True) -> None:
        last = self.events[-1] if self.events else None
        if not fresh and last is not None and last.kind is Kind.REASONING:
            last.text += text
            return
        self.blocks += 1
        self.add(Ev(Kind.REASONING, at, text=text, block=self.blocks))

    def text(self) -> str:
        return "".join(e.text for e in self.events if e.kind is Kind.TEXT)

    def rest_of(self, whole: str, at: float | None = None) -> None:
        """The run's whole text is `whole`: add what the turn has not shown yet."""
        known = self.text()
        rest = whole[len(known) :] if whole.startswith(known) else whole
        if rest:
            self.text_delta(rest, at)

    @property
    def pause(self) -> Ev | None:
        """The pause the turn waits in, if it does."""
        for event in reversed(self.events):
            if event.kind is Kind.RESUME:
                return None
            if event.kind is Kind.ASK or (event.kind is Kind.CALL and event.approval):
                return event
        return None

    def pause_call(self, name: str, args: Any, call_id: str | None, at: float | None) -> None:
        """The turn pauses for approval of a call: the call just made (a dialect that shows calls shows
        it before the pause), or one the pause alone names."""
        if self.pause is not None or self.ended:
            return
        last = self.events[-1] if self.events else None
        if last is not None and last.kind is Kind.CALL and (not name or last.name in (name, "")):
            last.approval = True
            last.name = name or last.name
            if args is not None and not last.args:
                last.args = args
            return
        self.add(Ev(Kind.CALL, at, name=name, args=args, call_id=call_id, approval=True))

    def ask(self, question: str, options: Sequence[str], at: float | None) -> None:
        if self.pause is None:
            self.add(Ev(Kind.ASK, at, text=question, options=tuple(options)))

    def resume(self, decision: str, answer: str = "") -> None:
        if self.pause is not None:
            self.add(Ev(Kind.RESUME, 0.0, text=answer, decision=decision))

    def running(self) -> None:
        """A view saw the run going on, though nothing known follows: what follows came later."""
        if self.events and self.events[-1].kind is Kind.RESUME:
            self.events[-1].later = True

    def finish(self, event: Ev | None = None) -> None:
        if event is not None:
            self.add(event)
        self.ended = True


@dataclass
class AgentInfo:
    platforms: set[str] = field(default_factory=set)
    aster_id: int | None = None
    description: str | None = None
    llm: dict[str, str] | None = None
    calls: list[str | None] = field(default_factory=list)  # each call naming the agent: its fault, or None


class Recording:
    """What the readers gather: turns, the agents, and notes on what could not be reproduced."""

    def __init__(self) -> None:
        self.turns: list[Turn] = []
        self.agents: dict[str, AgentInfo] = {}
        self.notes: list[str] = []
        self._turn_counts: dict[tuple[str, str], int] = {}

    def agent(self, name: str, platform: str) -> AgentInfo:
        info = self.agents.setdefault(name, AgentInfo())
        info.platforms.add(platform)
        return info

    def start(self, platform: str, agent: str, message: str, index: int, conversation: Any) -> Turn:
        turn = Turn(platform, agent, message, index)
        if isinstance(conversation, str) and conversation:
            key = (platform, conversation)
            turn.turn = self._turn_counts.get(key, 0) + 1
            self._turn_counts[key] = turn.turn
            turn.conversation = conversation
        self.turns.append(turn)
        return turn

    def learn(self, turn: Turn, conversation: Any) -> None:
        """The conversation a turn belongs to, once the answer names it."""
        if isinstance(conversation, str) and conversation and turn.conversation is None:
            turn.conversation = conversation
            self._turn_counts.setdefault((turn.platform, conversation), turn.turn)

    def call(self, agent: str, platform: str, fault: str | None) -> None:
        self.agent(agent, platform).calls.append(fault)

    def note(self, index: int, text: str) -> None:
        self.notes.append(f"#{index + 1}: {text}")

    def note_once(self, text: str) -> None:
        if text not in self.notes:
            self.notes.append(text)


def _json(body: bytes | None) -> Any:
    if not body:
        return None
    try:
        return json.loads(body)
    except ValueError:
        return None


def _dict(value: Any) -> dict[str, Any]:
    return value if isinstance(value, dict) else {}


def _str(value: Any) -> str:
    return value if isinstance(value, str) else ""


def _options(value: Any) -> tuple[str, ...]:
    return tuple(str(v) for v in value) if isinstance(value, list) else ()


def _stamp(value: Any) -> float | None:
    """An RFC 3339 time as seconds since the epoch (None if it is not one)."""
    if not isinstance(value, str):
        return None
    try:
        return datetime.fromisoformat(value).timestamp()
    except ValueError:
        return None


def _since(value: Any, base: float | None) -> float | None:
    moment = _stamp(value)
    return None if moment is None or base is None else max(0.0, moment - base)


def _fault_spec(status: int, interaction: Interaction) -> str:
    retry_after = interaction.response.header("retry-after")
    if status == 429 and retry_after and retry_after.isdigit():
        return f"429, retry-after={retry_after}"
    return str(status)


class Reader:
    """A platform's dialect, read back: one instance per cassette, fed its interactions in order."""

    platform = ""

    def __init__(self, out: Recording) -> None:
        self.out = out

    def read(self, index: int, interaction: Interaction, path: str, query: dict[str, str], body: Any) -> None:
        raise NotImplementedError

    def fault(self, agent: str, index: int, interaction: Interaction) -> bool:
        """An error the platform answered for itself, not a run's outcome (True): a rate limit or an outage
        counts as the agent's fault; any other error is no reply at all (a note says so)."""
        status = interaction.response.status
        if status < 400 or self.from_run(interaction):
            return False
        if status in FAULT_STATUSES:
            self.out.call(agent, self.platform, _fault_spec(status, interaction))
        else:
            self.out.call(agent, self.platform, None)
            self.out.note(index, f"{interaction.method} {interaction.platform_path} answered {status}: no agent reply")
        return True

    def from_run(self, interaction: Interaction) -> bool:
        """Whether an error status comes from the run (a failure or a gateway timeout), not a fault."""
        return False

    def timed(self, turn: Turn, interaction: Interaction) -> Iterator[Frame]:
        """A stream's frames, each with its moment; a stream the client cut ends the turn there."""
        turn.streamed = True
        yield from frames(interaction.response.body, interaction.response.chunks)
        if not interaction.response.complete and not turn.ended:
            turn.finish(Ev(Kind.CUT))
            self.out.note(turn.index, "the client hung up mid-stream: the reply ends where the recording does")


# ── BeeOS ────────────────────────────────────────────────────────────────────────────────────────────

_BEEOS = re.compile(
    r"^/api/v1/agents/(?P<agent>[^/]+)/(?P<kind>invoke|tasks)(?:/(?P<task>[^/]+)(?:/(?P<act>[a-z]+))?)?$"
)


class BeeOSReader(Reader):
    platform = "beeos"

    def __init__(self, out: Recording) -> None:
        super().__init__(out)
        self.tasks: dict[str, Turn] = {}
        self.started: dict[str, float] = {}  # a task's started_at, the origin of its channel's times

    def from_run(self, interaction: Interaction) -> bool:
        return interaction.response.status == 504 and "invoke" in interaction.platform_path

    def read(self, index: int, interaction: Interaction, path: str, query: dict[str, str], body: Any) -> None:
        match = _BEEOS.match(path)
        if match is None:
            return
        agent, kind, task, act = unquote(match["agent"]), match["kind"], match["task"], match["act"]
        request = _dict(body)
        answer = _json(interaction.response.body)
        if kind == "invoke" and interaction.method == "POST":
            if self.fault(agent, index, interaction):
                return
            self.out.call(agent, self.platform, None)
            turn = self.out.start(self.platform, agent, _str(request.get("message")), index, request.get("context_id"))
            if interaction.response.status == 504:
                turn.finish(Ev(Kind.TIMEOUT, interaction.response.ttfb))
            elif interaction.response.is_stream:
                self._invoke_stream(turn, interaction)
            else:
                data = _dict(_dict(answer).get("data"))
                self.out.learn(turn, data.get("context_id"))
                turn.duration = interaction.response.ttfb
                text = _str(data.get("text"))
                if data.get("is_error"):
                    turn.finish(Ev(Kind.FAIL, text=text))  # a failed turn's text is its failure message
                else:
                    turn.rest_of(text)
                    turn.finish()
            return
        if kind != "tasks" or (task is None and interaction.method != "POST"):
            return
        if task is None:  # create
            if self.fault(agent, index, interaction):
                return
            self.out.call(agent, self.platform, None)
            turn = self.out.start(self.platform, agent, _str(request.get("message")), index, request.get("context_id"))
            data = _dict(_dict(answer).get("data"))
            if isinstance(data.get("task_id"), str):
                self.tasks[data["task_id"]] = turn
            return
        found = self.tasks.get(unquote(task))
        if found is None or self.fault(agent, index, interaction):
            return
        turn = found
        self.out.call(agent, self.platform, None)
        if act is None:
            self._task(turn, _dict(_dict(answer).get("data")))
        elif act == "continue":
            if "auth_grant" in request:
                turn.resume("approve" if request["auth_grant"] is True else "reject")
            else:
                given = request.get("input")
                if isinstance(given, dict):
                    strings = [v for v in given.values() if isinstance(v, str)]
                    given = given.get("text") if isinstance(given.get("text"), str) else (strings[0] if strings else "")
                turn.resume("answer", _str(given))
            self._task(turn, _dict(_dict(answer).get("data")))
        elif act == "cancel":
            turn.finish(Ev(Kind.CUT))
        elif act == "events":
            self._channel(turn, [(f.json(), f.event) for f in frames(interaction.response.body)])
        elif act == "messages":
            listed = _dict(_dict(answer).get("data")).get("messages")
            if isinstance(listed, list) and query.get("since", "0") in ("", "0"):
                self._channel(turn, [(m, "message") for m in listed])

    def _invoke_stream(self, turn: Turn, interaction: Interaction) -> None:
        for frame in self.timed(turn, interaction):
            data = _dict(frame.json())
            kind = data.get("type")
            if kind == "reasoning":
                turn.reasoning(_str(data.get("text")), frame.at)
            elif kind == "delta":
                turn.text_delta(_str(data.get("text")), frame.at)
            elif kind == "error":
                code = _str(data.get("code"))
                if code == "service_timeout":
                    turn.finish(Ev(Kind.TIMEOUT, frame.at))
                elif code == "canceled":
                    turn.finish(Ev(Kind.CUT))
                else:
                    failure = None if code == "agent_reply_error" else code
                    turn.finish(Ev(Kind.FAIL, frame.at, text=_str(data.get("message")), code=failure))
            elif kind == "done":
                self.out.learn(turn, data.get("context_id"))
                turn.finish()

    def _task(self, turn: Turn, data: dict[str, Any]) -> None:
        """A task as a poll (or a continue) shows it."""
        task_id = data.get("task_id")
        if isinstance(task_id, str) and isinstance(moment := _stamp(data.get("started_at")), float):
            self.started.setdefault(task_id, moment)
        status = data.get("status")
        result = _dict(data.get("result"))
        if status in ("input_required", "auth_required"):
            turn.rest_of(_str(result.get("text")))
            if status == "input_required":
                turn.ask(_str(result.get("question")), _options(result.get("options")), None)
            else:
                call = _dict(result.get("tool_call"))
                turn.pause_call(_str(call.get("name")), call.get("arguments"), call.get("id"), None)
        elif status == "completed":
            turn.rest_of(_str(result.get("text")))
            turn.finish()
        elif status == "failed":
            turn.finish(Ev(Kind.FAIL, text=_str(data.get("error"))))
        elif status == "timeout":
            turn.finish(Ev(Kind.TIMEOUT))
        elif status in ("canceled", "rejected"):
            turn.finish(Ev(Kind.CUT))
        elif status in ("queued", "running"):
            turn.running()

    def _channel(self, turn: Turn, messages: list[tuple[Any, str | None]]) -> None:
        """A task's channel holds the whole run: it replaces what polls pieced together."""
        task_id = next((k for k, v in self.tasks.items() if v is turn), "")
        # Times count from the task's start when a poll showed it (the platform's queueing is not the
        # agent's), else from the user's message.
        origin = self.started.get(task_id)
        rebuilt = Turn(turn.platform, turn.agent, turn.message, turn.index, turn.turn, turn.conversation)
        first = True
        for message, event in messages:
            data = _dict(message)
            if event != "message" or not data:
                continue
            kind, payload = data.get("type"), _dict(data.get("payload"))
            at = _since(data.get("created_at"), origin)
            if kind == "chat_message":
                if first:
                    first = False
                    origin = origin if origin is not None else _stamp(data.get("created_at"))
                    rebuilt.streamed = origin is not None
                    continue
                if "auth_grant" in payload:
                    rebuilt.resume("approve" if payload["auth_grant"] is True else "reject")
                elif payload.get("decision") in ("approved", "rejected"):
                    rebuilt.resume("approve" if payload["decision"] == "approved" else "reject")
                else:
                    rebuilt.resume("answer", _str(payload.get("text")))
                origin = _stamp(data.get("created_at"))  # what follows was played from the answer
            elif kind == "agent_thinking":
                rebuilt.reasoning(_str(payload.get("text")), at)
            elif kind == "agent_reply_delta":
                rebuilt.text_delta(_str(payload.get("text")), at)
            elif kind == "tool_use":
                rebuilt.add(
                    Ev(Kind.CALL, at, name=_str(payload.get("name")), args=payload.get("arguments"),
                       call_id=payload.get("id") if isinstance(payload.get("id"), str) else None)
                )  # fmt: skip
            elif kind == "tool_result":
                content = payload.get("content")
                if payload.get("is_error"):
                    rebuilt.add(Ev(Kind.RESULT, at, error=content if isinstance(content, str) else dumps(content)))
                else:
                    rebuilt.add(Ev(Kind.RESULT, at, output=content))
            elif kind == "input_required":
                rebuilt.ask(_str(payload.get("question")), _options(payload.get("options")), at)
            elif kind == "auth_required":
                call = _dict(payload.get("tool_call"))
                rebuilt.pause_call(_str(call.get("name")), call.get("arguments"), call.get("id"), at)
            elif kind == "agent_reply":
                state, stop = data.get("state"), data.get("stop_reason")
                rebuilt.rest_of(_str(payload.get("text")), at)
                if state == "failed" and stop == "timeout":
                    rebuilt.finish(Ev(Kind.TIMEOUT, at))
                elif state == "failed":
                    code = _str(payload.get("code")) or None
                    rebuilt.finish(Ev(Kind.FAIL, at, text=_str(payload.get("error")), code=code))
                elif state == "completed":
                    rebuilt.finish()
                else:
                    rebuilt.finish(Ev(Kind.CUT))
        if rebuilt.ended or len(rebuilt.events) >= len(turn.events):
            turn.events, turn.streamed, turn.blocks = rebuilt.events, rebuilt.streamed, rebuilt.blocks
            turn.ended = turn.ended or rebuilt.ended


# ── AgentOS ──────────────────────────────────────────────────────────────────────────────────────────

_AGENTOS_INVOKE = re.compile(r"^/api/v1/agents/(?P<agent>[^/]+)/invoke$")
_AGENTOS_RUN = re.compile(r"^/api/v1/runs/(?P<run>[^/]+)(?:/(?P<act>reply|human-input))?$")
_AGENTOS_DECIDE = re.compile(r"^/api/v1/approvals/(?P<approval>[^/]+)/decide$")
_AGENTOS_MESSAGE_KEYS = ("query", "message", "text", "prompt")


def agentos_message(given: Any) -> str:
    """The user's message as AgentOS reads it: the first of input.query|message|text|prompt, else the
    whole input as compact JSON; an empty input says nothing."""
    data = given if isinstance(given, dict) else {}
    if not data:
        return ""
    for key in _AGENTOS_MESSAGE_KEYS:
        if key in data:
            value = data[key]
            return value if isinstance(value, str) else dumps(value)
    return dumps(data)


class AgentOSReader(Reader):
    platform = "agentos"

    def __init__(self, out: Recording) -> None:
        super().__init__(out)
        self.runs: dict[str, Turn] = {}
        self.approvals: dict[str, Turn] = {}

    def from_run(self, interaction: Interaction) -> bool:
        code = _dict(_dict(_json(interaction.response.body)).get("error")).get("code")
        return code in ("AGENT_ERROR", "TIMEOUT")

    def read(self, index: int, interaction: Interaction, path: str, query: dict[str, str], body: Any) -> None:
        request = _dict(body)
        answer = _dict(_json(interaction.response.body))
        if (match := _AGENTOS_INVOKE.match(path)) and interaction.method == "POST":
            agent = unquote(match["agent"])
            if self.fault(agent, index, interaction):
                return
            self.out.call(agent, self.platform, None)
            message = agentos_message(request.get("input", {}))
            turn = self.out.start(self.platform, agent, message, index, request.get("session_id"))
            if interaction.response.is_stream:
                self._stream(turn, interaction)
            else:
                turn.duration = interaction.response.ttfb
                self._outcome(turn, interaction, answer)
            return
        run_id: str | None = None
        act: str | None = None
        if match := _AGENTOS_RUN.match(path):
            run_id, act = unquote(match["run"]), match["act"]
        elif path == "/api/v1/rpc/runs_get":
            run_id = _str(request.get("run_id"))
        if run_id is not None:
            ran = self.runs.get(run_id)
            if ran is None or self.fault(ran.agent, index, interaction):
                return
            turn = ran
            self.out.call(turn.agent, self.platform, None)
            if act is None:
                self._run(turn, _dict(answer.get("data")))
            else:
                turn.resume("answer", _str(request.get("response")))
                self._outcome(turn, interaction, answer)
            return
        approval: str | None = None
        decision = ""
        if match := _AGENTOS_DECIDE.match(path):
            approval, decision = unquote(match["approval"]), _str(request.get("decision"))
        elif path == "/api/v1/rpc/approvals_decide":
            approval = _str(request.get("approval_id"))
            decision = {"approved": "approve", "rejected": "reject"}.get(_str(request.get("decision")), "")
        if approval is not None:
            paused = self.approvals.get(approval)
            if paused is None or self.fault(paused.agent, index, interaction):
                return
            turn = paused
            self.out.call(turn.agent, self.platform, None)
            self._approval_item(_dict(answer.get("data")))
            turn.resume("approve" if decision == "approve" else "reject")
            return
        if path in ("/api/v1/approvals", "/api/v1/rpc/approvals_list") and interaction.response.status == 200:
            items = answer.get("data")
            for item in items if isinstance(items, list) else _dict(items).get("items") or []:
                self._approval_item(_dict(item))

    def _approval_item(self, item: dict[str, Any]) -> None:
        """An approval names the paused call: its tool and input (a pause alone shows neither)."""
        turn = self.runs.get(_str(item.get("run_id")))
        if turn is None:
            return
        for event in reversed(turn.events):
            if event.kind is Kind.CALL and event.approval:
                event.name = _str(item.get("tool_name")) or event.name
                if isinstance(item.get("tool_input"), dict):
                    event.args = item["tool_input"]
                return

    def _remember(self, turn: Turn, data: Mapping[str, Any]) -> None:
        if isinstance(data.get("run_id"), str):
            self.runs[data["run_id"]] = turn
        self.out.learn(turn, data.get("session_id"))

    def _outcome(self, turn: Turn, interaction: Interaction, answer: dict[str, Any]) -> None:
        """An invoke-shaped answer: 200 with the output, 202 paused, 500 failed, 504 timed out."""
        status = interaction.response.status
        data = _dict(answer.get("data"))
        self._remember(turn, data)
        error = _dict(answer.get("error"))
        if status == 200:
            turn.rest_of(_str(_dict(data.get("output")).get("text")))
            turn.finish()
        elif status == 202:
            self._paused(turn, data, None)
        elif error.get("code") == "TIMEOUT":
            turn.finish(Ev(Kind.TIMEOUT))
        elif error.get("code") == "AGENT_ERROR":
            turn.finish(Ev(Kind.FAIL, text=_str(error.get("message"))))

    def _paused(self, turn: Turn, data: Mapping[str, Any], at: float | None) -> None:
        if isinstance(data.get("awaiting_approval"), dict):
            approval = data["awaiting_approval"]
            if isinstance(approval.get("approval_id"), str):
                self.approvals[approval["approval_id"]] = turn
            turn.pause_call(_str(approval.get("tool_name")), approval.get("tool_input"), None, at)
        elif isinstance(data.get("awaiting_input"), dict):
            asked = data["awaiting_input"]
            turn.ask(_str(asked.get("question")), _options(asked.get("options")), at)

    def _run(self, turn: Turn, data: dict[str, Any]) -> None:
        status = data.get("status")
        if status == "completed":
            turn.rest_of(_str(_dict(data.get("output")).get("text")))
            turn.finish()
        elif status in ("awaiting_approval", "awaiting_input"):
            self._paused(turn, data, None)
        elif status == "failed":
            error = _dict(data.get("error"))
            if error.get("code") == "TIMEOUT":
                turn.finish(Ev(Kind.TIMEOUT))
            elif error.get("code") == "APPROVAL_EXPIRED":
                turn.finish(Ev(Kind.CUT))
            else:
                turn.finish(Ev(Kind.FAIL, text=_str(error.get("message"))))
        elif status == "cancelled":
            turn.finish(Ev(Kind.CUT))

    def _stream(self, turn: Turn, interaction: Interaction) -> None:
        for frame in self.timed(turn, interaction):
            data = _dict(frame.json())
            kind = data.get("type")
            if kind == "start":
                self._remember(turn, data)
            elif kind == "chunk":
                turn.text_delta(_str(data.get("text")), frame.at)
            elif kind == "tool" and data.get("status") == "calling":
                turn.add(Ev(Kind.CALL, frame.at, name=_str(data.get("name")), args={}))
                self.out.note_once(
                    "AgentOS streams name a tool but show neither its arguments nor its output: the scripts "
                    "have `args: {}` and `output: null` where no approval named them"
                )
            elif kind == "tool" and data.get("status") == "returned":
                turn.add(Ev(Kind.RESULT, frame.at))
            elif kind == "tool" and data.get("status") == "failed":
                turn.add(Ev(Kind.RESULT, frame.at, error="The tool failed."))
                self.out.note(turn.index, "AgentOS shows no tool error text: `The tool failed.` stands for it")
            elif kind == "done":
                self._remember(turn, data)
                turn.finish()
            elif kind == "awaiting_approval":
                self._remember(turn, data)
                self._paused(turn, {"awaiting_approval": data}, frame.at)
            elif kind == "awaiting_input":
                self._remember(turn, data)
                self._paused(turn, {"awaiting_input": data}, frame.at)
            elif kind == "error":
                code = data.get("code")
                if code == "TIMEOUT":
                    turn.finish(Ev(Kind.TIMEOUT, frame.at))
                elif code == "CANCELLED":
                    turn.finish(Ev(Kind.CUT))
                else:
                    turn.finish(Ev(Kind.FAIL, frame.at, text=_str(data.get("message"))))


# ── xpander ──────────────────────────────────────────────────────────────────────────────────────────

_XPANDER_INVOKE = re.compile(r"^/v1/agents/(?P<agent>[^/]+)/invoke(?P<form>/async|/stream)?$")
_XPANDER_TASK = re.compile(r"^/v1/tasks/(?P<task>[^/]+)(?:/(?P<act>hitl|stop|thread))?$")


class XpanderReader(Reader):
    platform = "xpander"

    def __init__(self, out: Recording) -> None:
        super().__init__(out)
        self.tasks: dict[str, Turn] = {}

    def from_run(self, interaction: Interaction) -> bool:
        return interaction.response.status == 504 and "/invoke" in interaction.platform_path

    def read(self, index: int, interaction: Interaction, path: str, query: dict[str, str], body: Any) -> None:
        request = _dict(body)
        answer = _json(interaction.response.body)
        if (match := _XPANDER_INVOKE.match(path)) and interaction.method == "POST":
            agent = unquote(match["agent"])
            if self.fault(agent, index, interaction):
                return
            self.out.call(agent, self.platform, None)
            message = _str(_dict(request.get("input")).get("text"))
            turn = self.out.start(self.platform, agent, message, index, request.get("id"))
            if interaction.response.status == 504:
                turn.finish(Ev(Kind.TIMEOUT, interaction.response.ttfb))
            elif interaction.response.is_stream:
                self._stream(turn, interaction, request)
            else:
                if match["form"] is None:
                    turn.duration = interaction.response.ttfb
                self._task(turn, _dict(answer), request, None)
            return
        match = _XPANDER_TASK.match(path)
        if match is None:
            return
        found = self.tasks.get(unquote(match["task"]))
        if found is None or self.fault(found.agent, index, interaction):
            return
        turn = found
        self.out.call(turn.agent, self.platform, None)
        act = match["act"]
        if act == "hitl":
            pause = turn.pause
            approve = request.get("decision") == "approve"
            if pause is not None and pause.kind is Kind.ASK and approve:
                turn.resume("answer", _str(request.get("comment")))
            else:
                turn.resume("approve" if approve else "reject")
            self._task(turn, _dict(answer), {}, None)
        elif act == "stop":
            turn.finish(Ev(Kind.CUT))
        elif act is None:
            self._task(turn, _dict(answer), {}, None)

    def _task(self, turn: Turn, task: dict[str, Any], request: Mapping[str, Any], at: float | None) -> None:
        """A task object, as every xpander view renders it."""
        if isinstance(task.get("id"), str):
            self.tasks[task["id"]] = turn
            self.out.learn(turn, task["id"])
        overridden = any(request.get(k) for k in ("llm_model_provider", "llm_model_name", "llm_reasoning_effort"))
        if not overridden and isinstance(task.get("llm_model_provider"), str):
            self.out.agent(turn.agent, self.platform).llm = {
                "provider": _str(task.get("llm_model_provider")),
                "model": _str(task.get("llm_model_name")),
                "reasoning_effort": _str(task.get("llm_reasoning_effort")),
            }
        status = task.get("status")
        result = task.get("result")
        if status == "completed":
            turn.rest_of(result if isinstance(result, str) else dumps(result), at)
            turn.finish()
        elif status == "failed":
            turn.finish(Ev(Kind.FAIL, at, text=_str(result)))
        elif status == "error":
            turn.finish(Ev(Kind.TIMEOUT, at))
        elif status == "stopped":
            turn.finish(Ev(Kind.CUT))
        elif status in ("pending", "executing"):
            turn.running()
        elif status == "paused":
            hitl = _dict(task.get("hitl_request"))
            if hitl.get("wait_node_id") == "question":
                content = _str(hitl.get("content"))
                options = next(
                    (
                        line[len("Options: ") :].split(", ")
                        for line in content.split("\n")
                        if line.startswith("Options: ")
                    ),
                    [],
                )
                turn.ask(_str(hitl.get("description")), options, at)
            else:
                call = _dict(_json(_str(hitl.get("content")).encode()))
                wait = hitl.get("wait_node_id")
                turn.pause_call(_str(call.get("tool_name")), call.get("payload"), _str(wait) or None, at)

    def _stream(self, turn: Turn, interaction: Interaction, request: Mapping[str, Any]) -> None:
        origin: float | None = None
        for frame in self.timed(turn, interaction):
            data = _dict(frame.json())
            kind, payload = data.get("type"), data.get("data")
            if isinstance(data.get("task_id"), str):
                self.tasks[data["task_id"]] = turn
            if origin is None and isinstance(payload, dict) and payload.get("started_at"):
                origin = _stamp(payload.get("started_at"))
            # Each frame carries the moment it happened: better than when it arrived.
            at = _since(data.get("time"), origin) if origin is not None else frame.at
            if kind == "think":
                turn.reasoning(_str(payload), at)
            elif kind == "chunk":
                turn.text_delta(_str(payload), at)
            elif kind == "tool_call_request":
                call = _dict(payload)
                turn.add(Ev(Kind.CALL, at, name=_str(call.get("tool_name")), args=call.get("payload")))
            elif kind == "tool_call_result":
                result = _dict(payload)
                if result.get("is_error"):
                    turn.add(Ev(Kind.RESULT, at, error=_str(result.get("result"))))
                else:
                    turn.add(Ev(Kind.RESULT, at, output=result.get("result")))
            elif kind in ("task_created", "task_updated", "task_finished") and isinstance(payload, dict):
                self._task(turn, payload, request, at)


# ── Zeus ─────────────────────────────────────────────────────────────────────────────────────────────


class ZeusReader(Reader):
    platform = "zeus"

    def __init__(self, out: Recording) -> None:
        super().__init__(out)
        self.sessions: dict[str, Turn] = {}

    def read(self, index: int, interaction: Interaction, path: str, query: dict[str, str], body: Any) -> None:
        request = _dict(body)
        session = _str(request.get("session_id"))
        if path == "/api/agent/invoke" and interaction.method == "POST":
            agent = self._agent(interaction, query, request)
            if self.fault(agent, index, interaction):
                return
            self.out.call(agent, self.platform, None)
            turn = self.out.start(self.platform, agent, _str(request.get("message")), index, session or None)
            self._stream(turn, interaction, skip_call=None)
        elif path == "/api/agent/resume" and interaction.method == "POST":
            found = self.sessions.get(session)
            if found is None or self.fault(found.agent, index, interaction):
                return
            turn = found
            self.out.call(turn.agent, self.platform, None)
            pause = turn.pause
            results = request.get("tool_call_results")
            first = _dict(results[0]) if isinstance(results, list) and results else {}
            if pause is not None and pause.kind is Kind.ASK:
                turn.resume("answer", _str(request.get("human_order")))
            else:
                turn.resume("approve" if first.get("decision") in ("approved", "modified") else "reject")
            if first.get("decision") == "modified":
                self.out.note(index, "a `modified` decision replays as an approval of the recorded arguments")
            # A `modified` resume first shows the pending call again with its new arguments: not a new call.
            self._stream(turn, interaction, skip_call=pause.call_id if pause is not None else None)

    def _agent(self, interaction: Interaction, query: Mapping[str, str], request: Mapping[str, Any]) -> str:
        """As mockagent picks it: `?agent=`, X-Mockagent-Agent, the session's agent, llm_config.modelName."""
        named = query.get("agent") or next(
            (v[0] for k, v in interaction.headers.items() if k.lower() == "x-mockagent-agent" and v), ""
        )
        if named:
            return named
        session = self.sessions.get(_str(request.get("session_id")))
        if session is not None:
            return session.agent
        model = _str(_dict(request.get("llm_config")).get("modelName"))
        return model if _AGENT_ID.match(model) else "echo"

    def _stream(self, turn: Turn, interaction: Interaction, skip_call: str | None) -> None:
        if not interaction.response.is_stream:
            return
        for frame in self.timed(turn, interaction):
            data = _dict(frame.json())
            kind = data.get("type")
            if kind == "message_chunk":
                turn.text_delta(_str(data.get("content")), frame.at)
            elif kind == "tool_call":
                call_id = data.get("tool_call_id") if isinstance(data.get("tool_call_id"), str) else None
                if skip_call is not None and call_id == skip_call:
                    continue
                turn.add(
                    Ev(Kind.CALL, frame.at, name=_str(data.get("tool_name")), args=data.get("tool_args"),
                       call_id=call_id, approval=data.get("requires_approval") is True)
                )  # fmt: skip
            elif kind == "tool_result":
                turn.add(Ev(Kind.RESULT, frame.at, output=data.get("result")))
            elif kind in ("done", "interrupt"):
                session = _str(data.get("session_id"))
                self.out.learn(turn, session)
                self.sessions[session] = turn
                if kind == "done":
                    turn.finish()
                elif data.get("question") is not None:
                    turn.ask(_str(data.get("question")), _options(data.get("options")), frame.at)
                elif isinstance(data.get("tool_calls"), list) and data["tool_calls"]:
                    call = _dict(data["tool_calls"][0])
                    call_id = call.get("tool_call_id") if isinstance(call.get("tool_call_id"), str) else None
                    turn.pause_call(_str(call.get("tool_name")), call.get("tool_args"), call_id, frame.at)
            elif kind == "error":
                code = _str(data.get("error_code"))
                if code == "timeout":
                    turn.finish(Ev(Kind.TIMEOUT, frame.at))
                elif code == "cancelled":
                    turn.finish(Ev(Kind.CUT))
                else:
                    failure = None if code == "agent_error" else code
                    turn.finish(Ev(Kind.FAIL, frame.at, text=_str(data.get("error")), code=failure))


# ── Aster ────────────────────────────────────────────────────────────────────────────────────────────


def aster_agent(agent_id: int) -> str:
    """CHOSEN: Aster names agents by number only; the scenario agent is `aster-<n>` with `aster_id: n`."""
    return f"aster-{agent_id}"


class AsterReader(Reader):
    platform = "aster"

    def __init__(self, out: Recording) -> None:
        super().__init__(out)
        self.threads: dict[str, list[Turn]] = {}  # the turns of each thread, in order
        self.background: set[int] = set()  # the turns (by index) answered 202: what they said comes from polls

    def read(self, index: int, interaction: Interaction, path: str, query: dict[str, str], body: Any) -> None:
        request = _dict(body)
        if path == "/chat" and interaction.method == "POST":
            number = request.get("agentId")
            if not isinstance(number, int | float) or int(number) != number or number < 1:
                return
            agent = aster_agent(int(number))
            self.out.agent(agent, self.platform).aster_id = int(number)
            if self.fault(agent, index, interaction):
                return
            self.out.call(agent, self.platform, None)
            parts = _dict(request.get("message")).get("parts")
            message = "".join(
                _str(p.get("text")) for p in parts if isinstance(p, dict) and p.get("type") == "text"
            ) if isinstance(parts, list) else ""  # fmt: skip
            thread = _str(request.get("threadId")) or interaction.response.header("x-thread-id") or ""
            turn = self.out.start(self.platform, agent, message, index, _str(request.get("threadId")) or None)
            self.out.learn(turn, thread)
            self.threads.setdefault(thread, []).append(turn)
            if interaction.response.is_stream:
                self._stream(turn, interaction)
            else:
                self.background.add(turn.index)
            return
        if path.startswith("/getConversation") and interaction.response.status == 200:
            conversation = _dict(_json(interaction.response.body))
            turns = self.threads.get(_str(conversation.get("id")))
            if not turns:
                return
            self.out.call(turns[-1].agent, self.platform, None)
            prompt = _str(conversation.get("renderedSystemPrompt"))
            described = prompt.rsplit("\nCurrent timezone:", 1)[0] if "\nCurrent timezone:" in prompt else ""
            if described and not described.startswith("You are "):
                self.out.agent(turns[-1].agent, self.platform).description = described
            self._polled(turns, conversation)

    def _polled(self, turns: list[Turn], conversation: dict[str, Any]) -> None:
        """The thread's messages give each background turn its text (an assistant message follows the user
        message of its turn; a continuation without a message adds none); `streamStatus` is the latest
        turn's, and every earlier turn had ended (a thread runs one turn at a time)."""
        said: dict[int, list[str]] = {}
        position = -1
        for message in conversation.get("messages") or []:
            if not isinstance(message, dict):
                continue
            if message.get("role") == "user":
                position += 1
                while position < len(turns) and not turns[position].message:
                    position += 1
            elif message.get("role") == "assistant":
                if position in said:
                    position += 1
                parts = message.get("parts") or []
                said[position] = [_str(p.get("text")) for p in parts if isinstance(p, dict) and p.get("type") == "text"]
        status = conversation.get("streamStatus")
        for number, turn in enumerate(turns):
            if turn.index not in self.background or turn.ended:
                continue
            latest = number == len(turns) - 1
            if latest and status == "in_progress":
                return
            for text in said.get(number, []):
                turn.text_delta(text, None, fresh=True)
            if not latest or status == "completed":
                turn.finish()
            elif status == "error":
                turn.finish(Ev(Kind.FAIL, text=UNSHOWN_FAILURE))
                self.out.note(turn.index, "Aster's poll shows no failure message: `The agent failed.` stands for it")
            elif status == "timeout":
                turn.finish(Ev(Kind.TIMEOUT))
            else:
                turn.finish(Ev(Kind.CUT))

    def _stream(self, turn: Turn, interaction: Interaction) -> None:
        fresh = False
        for frame in self.timed(turn, interaction):
            data = _dict(frame.json())
            kind = data.get("type")
            if kind in ("text-start", "reasoning-start"):
                fresh = True
            elif kind == "text-delta":
                turn.text_delta(_str(data.get("delta")), frame.at, fresh=fresh)
                fresh = False
            elif kind == "reasoning-delta":
                turn.reasoning(_str(data.get("delta")), frame.at, fresh=fresh)
                fresh = False
            elif kind == "tool-input-available":
                call_id = data.get("toolCallId") if isinstance(data.get("toolCallId"), str) else None
                if not isinstance(data.get("input"), dict):
                    self.out.note(turn.index, "a tool input that is not an object cannot be a scenario's `args`: {}")
                turn.add(
                    Ev(Kind.CALL, frame.at, name=_str(data.get("toolName")), args=data.get("input"), call_id=call_id)
                )
            elif kind == "tool-output-available":
                turn.add(Ev(Kind.RESULT, frame.at, output=data.get("output")))
            elif kind == "tool-output-error":
                turn.add(Ev(Kind.RESULT, frame.at, error=_str(data.get("errorText"))))
            elif kind == "error":
                text = _str(data.get("errorText"))
                turn.finish(
                    Ev(Kind.TIMEOUT, frame.at) if text == "Gateway Timeout" else Ev(Kind.FAIL, frame.at, text=text)
                )
            elif kind == "finish":
                turn.finish()
            elif kind == "abort":
                turn.finish(Ev(Kind.CUT))


READERS: dict[str, Callable[[Recording], Reader]] = {
    "beeos": BeeOSReader,
    "agentos": AgentOSReader,
    "xpander": XpanderReader,
    "zeus": ZeusReader,
    "aster": AsterReader,
}


def platform_of(interaction: Interaction) -> tuple[str, str]:
    """The platform and the path below its base: as recorded by mockagent, or from a real API's host
    (a cassette recorded by other tools)."""
    if interaction.platform:
        return interaction.platform, interaction.platform_path
    match = re.match(r"^[a-zA-Z][a-zA-Z0-9+.-]*://([^/?#:]+)(?::\d+)?([^#]*)", interaction.uri)
    hosts = _real_hosts()
    if match and match[1].lower() in hosts:
        platform, base = hosts[match[1].lower()]
        return platform, match[2].removeprefix(base) or "/"
    return "", interaction.platform_path


@cache
def _real_hosts() -> dict[str, tuple[str, str]]:
    """Each platform's real host → (its key, the path of its base URL)."""
    from mockagent.platforms import platform_classes

    out = {}
    for key, cls in platform_classes().items():
        parts = urlsplit(cls.real_base_url)
        out[parts.hostname or ""] = (key.value, parts.path.rstrip("/"))
    return out


def read(cassette: Cassette) -> Recording:
    """Every interaction, read by its platform's reader, in recorded order."""
    out = Recording()
    readers: dict[str, Reader] = {}
    for index, interaction in enumerate(cassette.interactions):
        platform, full = platform_of(interaction)
        if platform not in READERS:
            out.note(index, f"{interaction.uri}: no platform known for it; left out")
            continue
        reader = readers.get(platform)
        if reader is None:
            reader = readers[platform] = READERS[platform](out)
        path, _, raw_query = full.partition("?")
        query = dict(parse_qsl(raw_query, keep_blank_values=True))
        reader.read(index, interaction, path, query, _json(interaction.body))
    return out


# ── turns → scripts ──────────────────────────────────────────────────────────────────────────────────


@dataclass(frozen=True)
class Pace:
    first_frame: float = 0.0
    interval: float = 0.0


def _ms(seconds: float) -> float:
    return round(seconds, 3)


def _words(text: str) -> list[str]:
    return _WORDS.findall(text) or [text]


def literal(text: str) -> str:
    """Text as a template that renders to exactly itself."""
    if "{{" not in text and "{%" not in text and "{#" not in text:
        return text
    if "endraw" not in text:
        return "{% raw %}" + text + "{% endraw %}"
    return "{{ " + json.dumps(text) + " }}"


def literal_json(value: Any) -> Any:
    """JSON data whose every string is a template that renders to exactly itself (tool arguments and
    outputs are templates too)."""
    if isinstance(value, str):
        return literal(value)
    if isinstance(value, dict):
        return {key: literal_json(item) for key, item in value.items()}
    if isinstance(value, list):
        return [literal_json(item) for item in value]
    return value


def _with_answer(text: str, answer: str | None) -> str:
    """A template of `text`: the human's answer, where the text repeats it, is `{{ answer }}` (CHOSEN), so
    a reply that echoes the answer keeps doing so for another answer."""
    if not answer or len(answer) < 2:
        return literal(text)
    pieces = re.split(rf"(?<!\w){re.escape(answer)}(?!\w)", text)
    return "{{ answer }}".join(literal(piece) for piece in pieces)


class ScriptBuilder:
    """A turn's events → script steps, laid out so the engine plays each step when the recording had it.

    The engine puts the first step at `first_frame`, each later step where the one before left off (a
    say's chunks `interval` apart), and a `delay` moves it on: the inverse keeps a cursor at the engine's
    moment and writes a delay wherever the recorded moment is later by `MIN_DELAY` or more.
    """

    def __init__(self, pace: Pace) -> None:
        self.pace = pace
        self.calls = 0
        self.streamed = False
        self.wait = 0.0  # a wait owed before the next step whose moment is unknown

    def build(self, turn: Turn) -> list[dict[str, Any]]:
        events = [replace(event) for event in turn.events]
        self.streamed = turn.streamed
        if not turn.streamed:
            for event in events:
                event.at = None
            first = next((e for e in events if e.kind is not Kind.RESUME), None)
            if first is not None and turn.duration is not None:
                first.at = turn.duration  # a blocking answer: all of it came at the end
        return self._steps(events, self.pace.first_frame, None)

    def _steps(self, events: list[Ev], cursor: float, answer: str | None) -> list[dict[str, Any]]:
        steps: list[dict[str, Any]] = []
        i = 0
        while i < len(events):
            event = events[i]
            if event.kind in (Kind.TEXT, Kind.REASONING):
                j = i
                while j < len(events) and events[j].kind is event.kind and events[j].block == event.block:
                    j += 1
                group = events[i:j]
                i = j
                step, cursor = self._text(group, cursor, answer)
                steps.append(step)
                continue
            i += 1
            if event.kind is Kind.CALL:
                self.calls += 1
                call: dict[str, Any] = {"name": event.name or "tool"}
                call["args"] = literal_json(event.args) if isinstance(event.args, dict) else {}
                if event.call_id and event.call_id != f"call_{self.calls}":
                    call["id"] = literal(event.call_id)
                if event.approval:
                    call["requires_approval"] = True
                step, cursor = self._timed({"tool_call": call}, event.at, cursor)
                steps.append(step)
                if event.approval:
                    if i >= len(events) or events[i].kind is not Kind.RESUME:
                        return steps  # the recording ends while it waits
                    if events[i].decision == "reject":
                        call["on_reject"] = self._steps(events[i + 1 :], 0.0, answer)
                        return steps
                    self.wait = MIN_DELAY if events[i].later else 0.0
                    i, cursor = i + 1, 0.0  # the rest plays from the approval on
            elif event.kind is Kind.RESULT:
                result = (
                    {"error": literal(event.error)}
                    if event.error is not None
                    else {"output": literal_json(event.output)}
                )
                step, cursor = self._timed({"tool_result": result}, event.at, cursor)
                steps.append(step)
            elif event.kind is Kind.ASK:
                asked: Any = literal(event.text)
                if event.options:
                    asked = {"question": asked, "options": [literal(option) for option in event.options]}
                step, cursor = self._timed({"ask": asked}, event.at, cursor)
                steps.append(step)
                if i >= len(events) or events[i].kind is not Kind.RESUME or events[i].decision != "answer":
                    return steps  # waiting still, or refused (the platform then fails the run itself)
                self.wait = MIN_DELAY if events[i].later else 0.0
                answer, i, cursor = events[i].text, i + 1, 0.0
            elif event.kind is Kind.FAIL:
                failure: Any = literal(event.text)
                if event.code and event.code != "agent_error":
                    failure = {"message": failure, "code": event.code}
                step, cursor = self._timed({"fail": failure}, event.at, cursor)
                steps.append(step)
                return steps
            elif event.kind is Kind.TIMEOUT:
                steps.append({"delay": TIMEOUT_DELAY})
                return steps
            elif event.kind is Kind.CUT:
                return steps
        return steps

    def _timed(self, step: dict[str, Any], at: float | None, cursor: float) -> tuple[dict[str, Any], float]:
        wait, self.wait = self.wait, 0.0
        if at is None and wait:
            # CHOSEN: a run a view saw still going after a resume, with no moments recorded for what came
            # next (a poll shows no times), resumes after the shortest wait the conversion writes.
            return {"delay": wait, **step}, cursor + wait
        if at is not None and at - cursor >= MIN_DELAY:
            return {"delay": _ms(at - cursor), **step}, at
        return step, cursor

    def _text(self, group: list[Ev], cursor: float, answer: str | None) -> tuple[dict[str, Any], float]:
        if group[0].kind is Kind.REASONING:
            return self._timed({"reasoning": literal("".join(e.text for e in group))}, group[0].at, cursor)
        chunks = [e.text for e in group]
        text = "".join(chunks)
        times = [e.at for e in group]
        say: dict[str, Any] = {}
        known = all(t is not None for t in times) and len(group) > 1
        if not self.streamed or chunks == _words(text):
            say["text"] = _with_answer(text, answer)
        elif len(chunks) == 1:
            say.update(text=_with_answer(text, answer), chunk="whole")
        else:
            say["chunks"] = [literal(chunk) for chunk in chunks]  # each chunk is a template too
        interval = self.pace.interval
        if known:
            gaps = [b - a for a, b in itertools.pairwise(times) if a is not None and b is not None]
            mean = max(0.0, sum(gaps) / len(gaps))
            if abs(mean - interval) >= MIN_DELAY:
                interval = say["interval"] = _ms(mean)
        step, cursor = self._timed({"say": say["text"] if list(say) == ["text"] else say}, times[0], cursor)
        return step, cursor + interval * (len(chunks) - 1)


def pace_of(turns: Sequence[Turn]) -> Pace:
    """An agent's pace from its streamed turns: the usual wait for the first event, and the usual gap
    between text chunks (medians, so one slow turn does not set the pace)."""
    firsts: list[float] = []
    gaps: list[float] = []
    for turn in turns:
        if not turn.streamed:
            continue
        timed = [e for e in turn.events if e.at is not None and e.kind is not Kind.RESUME]
        if timed and timed[0] is turn.events[0] and timed[0].at is not None:
            firsts.append(timed[0].at)
        for before, after in zip(turn.events[:-1], turn.events[1:], strict=True):
            same = before.kind is Kind.TEXT and after.kind is Kind.TEXT and before.block == after.block
            if same and before.at is not None and after.at is not None:
                gaps.append(max(0.0, after.at - before.at))
    return Pace(
        first_frame=_ms(statistics.median(firsts)) if firsts else 0.0,
        interval=_ms(statistics.median(gaps)) if gaps else 0.0,
    )


# ── scripts → a scenario file ────────────────────────────────────────────────────────────────────────


@dataclass
class Conversion:
    """The scenario file made from a cassette, and what could not be carried over."""

    data: dict[str, Any]
    notes: list[str]
    source: str = ""

    def text(self) -> str:
        head = [f"# Made by `mockagent cassette to-scenario` from {self.source or 'a cassette'}."]
        head.append("# Edit freely: docs/scenarios.md describes the format, docs/recording-tools.md the conversion.")
        if self.notes:
            head.append("# Notes:")
            head += [f"#   {line}" for note in self.notes for line in note.splitlines()]
        body = yaml.dump(
            _styled(self.data), Dumper=_Dumper, sort_keys=False, allow_unicode=True, width=110, default_flow_style=None
        )
        return "\n".join(head) + "\n" + body


class _Block(dict[str, Any]):
    """A mapping always written in block style (agents, steps), whatever it holds."""


class _Dumper(yaml.SafeDumper):
    pass


_Dumper.add_representer(
    _Block, lambda dumper, data: dumper.represent_mapping("tag:yaml.org,2002:map", data, flow_style=False)
)


def _styled(value: Any, key: str = "") -> Any:
    """Agents, steps and tool calls in block style; small leaves (`when`, `args`, `pace`) stay on one line."""
    if isinstance(value, dict):
        inner = {k: _styled(v, k) for k, v in value.items()}
        return _Block(inner) if key in ("", "step", "tool_call") else inner
    if isinstance(value, list):
        role = "step" if key in ("script", "on_reject", "agents") else ""
        return [_styled(item, role) for item in value]
    return value


def _size(script: Any) -> int:
    return len(json.dumps(script, ensure_ascii=False))


def convert(cassette: Cassette) -> Conversion:
    """The scenario file that answers the cassette's requests as the recording did."""
    recording = read(cassette)
    notes = list(recording.notes)
    for turn in recording.turns:
        if any(e.kind is Kind.CALL and not e.name for e in turn.events):
            notes.append(
                f"#{turn.index + 1}: the recording never named the tool paused for approval (an AgentOS approval "
                "not decided or listed): it is called `tool` here"
            )
    by_agent: dict[str, list[Turn]] = {}
    for turn in recording.turns:
        by_agent.setdefault(turn.agent, []).append(turn)
    agents: list[dict[str, Any]] = []
    for name in sorted(recording.agents, key=lambda n: _first_index(n, by_agent, recording)):
        info = recording.agents[name]
        turns = by_agent.get(name, [])
        if not _AGENT_ID.match(name):
            notes.append(f"agent {name!r}: not a valid scenario agent id (1-128 letters, digits, . _ : -); left out")
            continue
        if not turns and not any(info.calls):
            continue
        pace = pace_of(turns)
        agent: dict[str, Any] = {"id": name}
        if info.aster_id is not None:
            agent["aster_id"] = info.aster_id
        if info.description:
            agent["description"] = info.description
        agent["platforms"] = sorted(info.platforms)
        paced = {k: v for k, v in (("first_frame", pace.first_frame), ("interval", pace.interval)) if v}
        if paced:
            agent["pace"] = paced
        if info.llm and all(info.llm.values()):
            agent["llm"] = info.llm
        faults = _faults(info.calls)
        if faults:
            agent["faults"] = faults
        agent.update(_replies(name, turns, pace, notes))
        agents.append(agent)
    return Conversion({"agents": agents}, notes, str(cassette.path))


def _first_index(name: str, by_agent: Mapping[str, list[Turn]], recording: Recording) -> int:
    turns = by_agent.get(name)
    return turns[0].index if turns else len(recording.turns) + 10**9


def _faults(calls: Sequence[str | None]) -> list[dict[str, Any]]:
    """CHOSEN: the agent's recorded calls in order, each its fault or `ok`, up to the last fault."""
    last = max((i for i, fault in enumerate(calls) if fault is not None), default=-1)
    if last < 0:
        return []
    return [{"sequence": [fault or "ok" for fault in calls[: last + 1]], "per": "agent"}]


def _replies(name: str, turns: Sequence[Turn], pace: Pace, notes: list[str]) -> dict[str, Any]:
    """One default script when the agent answered one message; else a reply per message (and per turn
    where one message got different answers in different turns of a conversation)."""
    if not turns:
        return {"script": []}  # every call was a fault: nothing the agent said is known
    scripts: dict[str, list[tuple[int, list[dict[str, Any]], Turn]]] = {}
    for turn in turns:
        script = ScriptBuilder(pace).build(turn)
        scripts.setdefault(turn.message, []).append((turn.turn, script, turn))
    if len(scripts) == 1:
        ((message, seen),) = scripts.items()
        distinct = _distinct(seen)
        if len(distinct) == 1:
            return {"script": distinct[0][1]}
    replies: list[dict[str, Any]] = []
    for message, seen in scripts.items():
        by_turn: dict[int, list[tuple[int, list[dict[str, Any]], Turn]]] = {}
        for entry in seen:
            by_turn.setdefault(entry[0], []).append(entry)
        chosen: dict[int, list[dict[str, Any]]] = {}
        for number, entries in by_turn.items():
            options = _distinct(entries)
            chosen[number] = options[0][1]
            if len(options) > 1:
                notes.append(
                    f"agent {name!r}: message {message!r} got {len(options)} different answers (forms of a reply "
                    f"that show different parts of it, or an agent that varies); the most detailed, recorded at "
                    f"#{options[0][2].index + 1}, is kept"
                )
        kinds = _distinct([(0, script, seen[0][2]) for script in chosen.values()])
        if len(kinds) == 1:
            replies.append({"when": {"equals": message}, "script": kinds[0][1]})
        else:  # different turns of a conversation got different answers: the turn tells them apart
            replies += [{"when": {"equals": message, "turn": n}, "script": script} for n, script in chosen.items()]
    return {"replies": replies}


def _distinct(
    seen: Sequence[tuple[int, list[dict[str, Any]], Turn]],
) -> list[tuple[int, list[dict[str, Any]], Turn]]:
    """One of each different script, the most detailed first (a platform that shows more of a reply —
    reasoning, tool arguments — says more of what the agent does)."""
    out: list[tuple[int, list[dict[str, Any]], Turn]] = []
    for entry in sorted(seen, key=lambda e: -_size(e[1])):
        if not any(_same(entry[1], kept[1]) for kept in out):
            out.append(entry)
    return out


def _same(a: Any, b: Any) -> bool:
    """Scripts alike but for their timing (a delay of a few ms either way is the same reply)."""
    return bool(_untimed(a) == _untimed(b))


def _untimed(value: Any) -> Any:
    if isinstance(value, dict):
        return {k: _untimed(v) for k, v in value.items() if k not in ("delay", "interval")}
    if isinstance(value, list):
        return [_untimed(v) for v in value]
    return value


def to_scenario(path: Path) -> str:
    """The scenario file (YAML text) for the cassette at `path`."""
    return convert(Cassette.load(path)).text()


def iter_steps(script: Sequence[Mapping[str, Any]]) -> Iterator[Mapping[str, Any]]:
    """Every step of a script, those of `on_reject` branches too (for tests and tools that inspect one)."""
    for step in script:
        yield step
        call = step.get("tool_call")
        if isinstance(call, Mapping) and isinstance(call.get("on_reject"), list):
            yield from iter_steps(call["on_reject"])
