"""Faults on demand: error statuses, latency, and broken streams, each rendered in the platform's shape.

A fault is written the same way everywhere — in the ``X-Mockagent-Fault`` header, in a scenario's
``faults:`` rules, and on the command line — as comma-separated tokens::

    429                       a status fault: 429, 500, 502, 503 or 504
    429, retry-after=5        … with its Retry-After (whole real seconds; default 1)
    latency=0.25              wait before the first byte: fixed seconds,
    latency=0.1..0.5          uniform between two bounds,
    latency=lognormal:0.2:0.5 or log-normal with that median and sigma
    drop-after=3              a stream: the connection drops after 3 frames
    stall=5, stall-after=1    a stream: stalls 5 s after its first frame
    no-terminal               a stream: ends without its terminal frame
    malformed=2               a stream: frame 2 is not valid JSON
    ok                        no fault (in sequences: "429, then the reply")
"""

from __future__ import annotations

import math
import random
import re
from dataclasses import dataclass, field, replace
from enum import StrEnum
from fnmatch import fnmatchcase
from typing import Any, Protocol

from mockagent.errors import MockAgentError
from mockagent.store import STORE_LIMIT, Bounded

STATUS_FAULTS = (429, 500, 502, 503, 504)


class FaultSyntaxError(MockAgentError, ValueError):
    """A fault spec does not parse; the message quotes the token and lists what would."""


#: CHOSEN: the longest wait a fault may impose (latency, stall), in clock seconds — longer than any
#: platform's gateway limit, and finite, so that no fault holds a request forever.
MAX_WAIT = 900.0


@dataclass(frozen=True)
class Latency:
    low: float
    high: float | None = None  # uniform between low and high
    sigma: float | None = None  # log-normal: low is the median

    def sample(self, rng: random.Random) -> float:
        if self.sigma is not None:
            # exp(normal) is lognormvariate's own draw, cut at MAX_WAIT before exp can overflow.
            return min(MAX_WAIT, math.exp(min(rng.normalvariate(math.log(self.low), self.sigma), _LOG_MAX_WAIT)))
        if self.high is not None:
            return rng.uniform(self.low, self.high)
        return self.low


_LOG_MAX_WAIT = math.log(MAX_WAIT)


@dataclass(frozen=True)
class Fault:
    """What to do to one request; an empty Fault does nothing."""

    status: int | None = None
    retry_after: int | None = None
    latency: Latency | None = None
    drop_after: int | None = None
    stall: float | None = None
    stall_after: int = 1
    no_terminal: bool = False
    malformed: int | None = None
    source: str = ""

    @property
    def is_empty(self) -> bool:
        return self == Fault(source=self.source)

    def __str__(self) -> str:
        return self.source or "ok"


_NUMBER = r"\d+(?:\.\d+)?"


def parse_fault(spec: str) -> Fault:
    """Parse ``"429, retry-after=2"`` and friends (see the module docstring)."""
    fault = Fault(source=spec.strip())
    for raw in spec.split(","):
        part = raw.strip().lower()
        if not part or part == "ok":
            continue
        name, _, value = part.partition("=")
        name = name.strip()
        value = value.strip()
        try:
            fault = _apply(fault, name, value)
        except _OutOfRange as err:
            raise FaultSyntaxError(f"fault {raw.strip()!r}: {err}") from None
        except (ValueError, KeyError):
            raise FaultSyntaxError(
                f"fault {raw.strip()!r} is not understood; expected one of: "
                + ", ".join(
                    [
                        "429",
                        "500",
                        "502",
                        "503",
                        "504",
                        "retry-after=N",
                        "latency=S",
                        "latency=A..B",
                        "latency=lognormal:MEDIAN:SIGMA",
                        "drop-after=N",
                        "stall=S",
                        "stall-after=N",
                        "no-terminal",
                        "malformed[=N]",
                        "ok",
                    ]
                )
            ) from None
    return fault


def _apply(fault: Fault, name: str, value: str) -> Fault:
    if name.isdigit() and not value:
        status = int(name)
        if status not in STATUS_FAULTS:
            raise ValueError(name)
        return replace(fault, status=status)
    if name == "retry-after":
        return replace(fault, retry_after=max(1, int(value)))
    if name == "latency":
        return replace(fault, latency=_latency(value))
    if name == "drop-after":
        return replace(fault, drop_after=_count(value, minimum=0))
    if name == "stall":
        return replace(fault, stall=_seconds(value))
    if name == "stall-after":
        return replace(fault, stall_after=_count(value, minimum=0))
    if name == "no-terminal" and not value:
        return replace(fault, no_terminal=True)
    if name == "malformed":
        return replace(fault, malformed=_count(value, minimum=1) if value else 1)
    raise KeyError(name)


def _count(value: str, minimum: int) -> int:
    number = int(value)
    if number < minimum:
        raise ValueError(value)
    return number


class _OutOfRange(ValueError):
    """A number that parses but is not allowed (the message says what is)."""


def _seconds(value: str, *, positive: bool = False) -> float:
    """A wait in seconds: a plain decimal number (no inf or nan) of at most MAX_WAIT."""
    if not re.fullmatch(_NUMBER, value, re.ASCII):
        raise ValueError(value)
    seconds = float(value)
    if seconds > MAX_WAIT:
        raise _OutOfRange(f"a wait is at most {MAX_WAIT:g} seconds")
    if positive and seconds == 0:
        raise _OutOfRange("a log-normal median must be above 0")
    return seconds


def _latency(value: str) -> Latency:
    if m := re.fullmatch(rf"lognormal:({_NUMBER}):({_NUMBER})", value, re.ASCII):
        return Latency(_seconds(m[1], positive=True), sigma=float(m[2]))  # the median of a log: above 0
    if m := re.fullmatch(rf"({_NUMBER})\.\.({_NUMBER})", value, re.ASCII):
        low, high = _seconds(m[1]), _seconds(m[2])
        if high < low:
            raise ValueError(value)
        return Latency(low, high=high)
    return Latency(_seconds(value))


# ── rules: when a fault applies ──────────────────────────────────────────────────────────────────


class Per(StrEnum):
    """What a counted rule counts per."""

    CONVERSATION = "conversation"  # falls back to the credential for a first call with no conversation id
    CREDENTIAL = "credential"
    AGENT = "agent"


@dataclass(frozen=True)
class RateLimit:
    """A token bucket: `requests` per `window` seconds, per credential."""

    requests: int
    window: float

    @classmethod
    def parse(cls, text: str) -> RateLimit:
        m = re.fullmatch(r"\s*(\d+)\s*/\s*(\d*)\s*(s|sec|second|m|min|minute|h|hour)\s*", text)
        if not m or int(m[1]) < 1:
            raise FaultSyntaxError(f"rate limit {text!r} should look like 60/min, 10/s or 1000/h")
        unit = {"s": 1, "sec": 1, "second": 1, "m": 60, "min": 60, "minute": 60, "h": 3600, "hour": 3600}[m[3]]
        return cls(int(m[1]), (int(m[2]) if m[2] else 1) * unit)


@dataclass(frozen=True)
class FaultRule:
    """One ``faults:`` entry of a scenario (or a CLI flag)."""

    fault: Fault = field(default_factory=Fault)
    first: int | None = None  # the first N calls per scope
    sequence: tuple[Fault, ...] = ()  # call k of a scope gets sequence[k] (then no fault)
    probability: float | None = None
    seed: int = 0
    rate_limit: RateLimit | None = None
    per: Per = Per.CONVERSATION


def describe(rule: FaultRule) -> dict[str, Any]:
    """A rule as the admin API lists it (what it is, not its counters)."""
    limit = rule.rate_limit
    return {
        "fault": None if limit is not None or rule.sequence else str(rule.fault),
        "first": rule.first,
        "sequence": [str(fault) for fault in rule.sequence] or None,
        "probability": rule.probability,
        "rate_limit": f"{limit.requests}/{limit.window:g}s" if limit is not None else None,
        "per": rule.per.value,
    }


@dataclass
class AddedRule:
    """A rule added over the admin API (`POST /__mockagent/faults`), server-wide unless scoped: to the
    requests of one platform, one session, or whose path matches a glob."""

    id: int
    rule: FaultRule
    times: int | None = None  # the next N matching requests get it (counted down); None: every one
    platform: str | None = None
    session: str | None = None
    path: str | None = None

    def applies(self, platform: str | None, session: str, path: str) -> bool:
        return (
            (self.platform is None or self.platform == platform)
            and (self.session is None or self.session == session)
            and (self.path is None or fnmatchcase(path, self.path))
        )

    def as_json(self) -> dict[str, Any]:
        return {
            "id": self.id,
            **describe(self.rule),
            "times": self.times,
            "platform": self.platform,
            "session": self.session,
            "path": self.path,
        }


@dataclass
class _Bucket:
    tokens: float
    at: float


class Tally(Protocol):
    """Where a session's fault counters and rate-limit buckets live: in this process (`MemoryTally`), or in
    Redis where several processes count one client's calls together (`mockagent.shared.tally`)."""

    async def count(self, key: str, earlier: int) -> int:
        """The number of calls `key` had before this one (`earlier` if it had none counted), and count
        this one."""
        ...

    async def take_token(self, limit: RateLimit, key: str, now: float) -> float:
        """Take a token of `key`'s bucket at clock time `now`: 0.0 when one was there, else the clock
        seconds until one will be."""
        ...


class MemoryTally:
    """Counters and buckets of the latest `limit` scopes (conversations, credentials), so a client that
    opens a million conversations cannot grow them without bound."""

    def __init__(self, limit: int = STORE_LIMIT) -> None:
        self.calls: Bounded[str, int] = Bounded(limit)
        self.buckets: Bounded[str, _Bucket] = Bounded(limit)

    async def count(self, key: str, earlier: int) -> int:
        index = self.calls.get(key, earlier)
        self.calls[key] = index + 1
        return index

    async def take_token(self, limit: RateLimit, key: str, now: float) -> float:
        rate = limit.requests / limit.window
        bucket = self.buckets.get(key)
        if bucket is None:
            bucket = self.buckets[key] = _Bucket(float(limit.requests), now)
        bucket.tokens = min(float(limit.requests), bucket.tokens + (now - bucket.at) * rate)
        bucket.at = now
        if bucket.tokens >= 1.0:
            bucket.tokens -= 1.0
            return 0.0
        return (1.0 - bucket.tokens) / rate


class FaultState:
    """The mutable side of fault rules, owned by a session: its tally of calls and tokens, and the random
    streams of probability rules, chaos and latency samples (each process draws its own)."""

    def __init__(self, tally: Tally, seed: int = 0) -> None:
        self.tally = tally
        self.rngs: dict[str, random.Random] = {}  # one per probability rule: as many as the scenarios have
        self.latency_rng = random.Random(seed)
        self.chaos_rng = random.Random(seed)

    async def decide(
        self, rule: FaultRule, rule_id: str, scope: str, now: float, speed: float, earlier: int = 0
    ) -> Fault | None:
        """The fault `rule` imposes on this call (counting the call), or None. `earlier` is how many
        calls the scope had before this server counted any (a conversation's turns so far)."""
        limit = rule.rate_limit
        if limit is not None:
            wait = await self.tally.take_token(limit, f"{rule_id}|{scope}", now)
            if not wait:
                return None
            # The true wait until a token is back, in real seconds (clock seconds run `speed` times faster).
            retry_after = max(1, math.ceil(wait / speed - 1e-9))
            return Fault(status=429, retry_after=retry_after, source=f"rate limit {limit.requests}/{limit.window:g}s")
        if rule.probability is not None:
            rng = self.rngs.setdefault(rule_id, random.Random(rule.seed))
            return rule.fault if rng.random() < rule.probability else None
        index = await self.tally.count(f"{rule_id}|{scope}", earlier)
        if rule.sequence:
            return rule.sequence[index] if index < len(rule.sequence) else None
        if rule.first is not None:
            return rule.fault if index < rule.first else None
        return rule.fault


#: What chaos mode draws from.
CHAOS_CATALOGUE: tuple[Fault, ...] = tuple(
    parse_fault(spec)
    for spec in (
        "429",
        "500",
        "502",
        "503",
        "504",
        "latency=lognormal:0.2:0.6",
        "drop-after=2",
        "stall=2",
        "no-terminal",
        "malformed=2",
    )
)
