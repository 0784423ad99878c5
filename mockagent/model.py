"""The neutral model of an agent turn.

Scenarios (and cassettes) produce `Step`s; the run engine turns them into timed `Event`s; each platform
module renders events into its own wire dialect. Nothing here knows about HTTP.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from enum import StrEnum
from typing import Any

from mockagent.faults import Fault
from mockagent.templating import JsonTemplate, Template

# ── script steps: what a scenario says the agent does ────────────────────────────────────────────────


class Chunking(StrEnum):
    WHOLE = "whole"
    WORDS = "words"
    CHARS = "chars"


@dataclass(frozen=True)
class Pace:
    """How a turn is paced: all in clock seconds."""

    queued: float = 0.0  # time spent queued before the run starts
    first_frame: float = 0.0  # time from start to the first event
    interval: float = 0.0  # between text chunks
    jitter: float = 0.0  # ± uniform jitter on each interval, seeded
    chunking: Chunking = Chunking.WORDS
    chunk_chars: int = 0  # with Chunking.CHARS
    seed: int = 0


@dataclass(frozen=True)
class Say:
    text: Template
    chunks: tuple[Template, ...] | None = None  # explicit chunks win over pacing rules
    chunking: Chunking | None = None
    chunk_chars: int = 0
    interval: float | None = None


@dataclass(frozen=True)
class Reasoning:
    text: Template


@dataclass(frozen=True)
class ToolCall:
    name: str
    args: JsonTemplate  # renders to a mapping
    call_id: Template | None = None
    requires_approval: bool = False
    on_reject: tuple[Step, ...] | None = None  # None: the default rejection (the run fails)


@dataclass(frozen=True)
class ToolResult:
    output: JsonTemplate | None = None
    error: Template | None = None


@dataclass(frozen=True)
class Ask:
    """Pause for an answer from a human; later steps see it as ``{{ answer }}``."""

    question: Template
    options: tuple[Template, ...] = ()


@dataclass(frozen=True)
class Fail:
    message: Template
    code: str = "agent_error"


@dataclass(frozen=True)
class Delay:
    seconds: float


@dataclass(frozen=True)
class WaitPolls:
    """Hold the run until a client has polled it this many times."""

    polls: int


@dataclass(frozen=True)
class Glitch:
    """A stream fault at this point of the script (``- fault: drop-after=0``); blocking views ignore it."""

    fault: Fault


Step = Say | Reasoning | ToolCall | ToolResult | Ask | Fail | Delay | WaitPolls | Glitch


# ── events: what a run did, in order, each at a clock time ──────────────────────────────────────────
# (Slots: a run keeps one per chunk it said, and a server keeps thousands of runs for polling.)


@dataclass(frozen=True, slots=True)
class TextDelta:
    text: str
    block: int  # a new block begins with each `say` step (AI SDK text-start/-end pairs follow it)


@dataclass(frozen=True, slots=True)
class ReasoningDelta:
    text: str
    block: int


@dataclass(frozen=True, slots=True)
class ToolCalled:
    call_id: str
    name: str
    args: dict[str, Any]
    requires_approval: bool = False


@dataclass(frozen=True, slots=True)
class ToolReturned:
    call_id: str
    name: str
    output: Any = None
    error: str | None = None

    @property
    def is_error(self) -> bool:
        return self.error is not None


class PauseKind(StrEnum):
    APPROVAL = "approval"
    INPUT = "input"


@dataclass(frozen=True, slots=True)
class Paused:
    kind: PauseKind
    request_id: str
    question: str
    options: tuple[str, ...] = ()
    tool_call: ToolCalled | None = None


@dataclass(frozen=True, slots=True)
class Resumed:
    decision: str  # approved | rejected | answered
    # The tool arguments a human changed on approving (the admin API's approve {"args": …}); None: as called.
    args: dict[str, Any] | None = None


@dataclass(frozen=True, slots=True)
class Failed:
    message: str
    code: str = "agent_error"


@dataclass(frozen=True, slots=True)
class Completed:
    pass


@dataclass(frozen=True, slots=True)
class Glitched:
    """Where a scripted stream fault strikes; `Run.follow` applies it to the stream being written."""

    fault: Fault


Event = TextDelta | ReasoningDelta | ToolCalled | ToolReturned | Paused | Resumed | Failed | Completed | Glitched


@dataclass(frozen=True, slots=True)
class Timed:
    """An event and the clock time at which it happens."""

    at: float
    event: Event
    seq: int = field(default=0, compare=False)


class PlatformKey(StrEnum):
    """The impersonated platforms, by the key used in URLs, scenario files and CLI flags."""

    BEEOS = "beeos"
    AGENTOS = "agentos"
    XPANDER = "xpander"
    ZEUS = "zeus"
    ASTER = "aster"
