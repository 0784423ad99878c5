"""Conditions: what a reply (or a stub) asks of a request before it answers it.

A `when` is a tree: `Check`s at the leaves — one subject of the request (the message, a body field, a
header, a query parameter, the platform, the turn, how often the rule matched, a scenario state) put to one
`Test` (equals, contains, regex, one_of, exists, gt/gte/lt/lte) — combined by `All`, `Any` and `Not`.

Two questions are asked of a condition: `holds` on every request (fast, stops at the first failure, and
collects the named groups of the regexes that matched, for templates), and `explain` only when nothing
matched (every failure, each with the value it saw).
"""

from __future__ import annotations

import functools
import math
import re
from collections.abc import Callable, Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any, Protocol

import regex

from mockagent.errors import ApiError, ErrorKind, SourcePosition

if TYPE_CHECKING:
    from mockagent.context import RequestContext
    from mockagent.replay.redaction import Redactor

#: CHOSEN (docs/scenarios.md): wall-clock seconds one regex search may take; past it the request is the
#: platform's 500 naming the regex (a pattern that backtracks catastrophically must not hold the loop).
REGEX_SECONDS = 0.1
#: What a condition's explanation shows of a value.
SHOWN = 60


@functools.cache
def _redactor() -> Redactor:
    """The cassettes' rules (docs/recording.md#redaction), for what an explanation shows of a request."""
    from mockagent.replay.redaction import Redactor

    return Redactor()


def _names_secret(subject: Subject) -> bool:
    """Whether the subject is a place that holds a credential (`Authorization`, `x-api-key`, `apiKey` …)."""
    if isinstance(subject, Header | Query | Param):
        return _redactor().names_secret(subject.name)
    if isinstance(subject, BodyField):
        names = [step for step in subject.steps if isinstance(step, str)]
        return bool(names) and _redactor().names_secret(names[-1])
    return False


class _Missing:
    """A subject the request does not have (no such field, header or parameter)."""

    def __repr__(self) -> str:
        return "missing"


MISSING: Any = _Missing()


def shown(value: Any) -> str:
    if value is MISSING:
        return "missing"
    if isinstance(value, str) and len(value) > SHOWN:
        return repr(value[:SHOWN] + "…")
    text = repr(value)
    return text if len(text) <= SHOWN else text[:SHOWN] + "…"


# ── tests: one question put to one value ─────────────────────────────────────────────────────────


class Test(Protocol):
    def passes(self, value: Any, groups: dict[str, str]) -> bool: ...

    def __str__(self) -> str: ...


def _fold(value: Any, ignore_case: bool) -> Any:
    return value.casefold() if ignore_case and isinstance(value, str) else value


def _same(value: Any, expected: Any, ignore_case: bool) -> bool:
    """JSON equality (`true` is not `1`); a header or query value (text) equals a number or a boolean
    written in YAML when it reads as one."""
    if isinstance(value, str) and not isinstance(expected, str):
        return value == _as_text(expected)
    if isinstance(value, bool) != isinstance(expected, bool):
        return False
    return bool(_fold(value, ignore_case) == _fold(expected, ignore_case))


def _as_text(value: Any) -> str:
    if isinstance(value, bool):
        return "true" if value else "false"
    return str(value)


@dataclass(frozen=True, slots=True)
class Equals:
    expected: Any
    ignore_case: bool = False

    def passes(self, value: Any, groups: dict[str, str]) -> bool:
        return _same(value, self.expected, self.ignore_case)

    def __str__(self) -> str:
        return f"equals {shown(self.expected)}"


@dataclass(frozen=True, slots=True)
class OneOf:
    expected: tuple[Any, ...]
    ignore_case: bool = False

    def passes(self, value: Any, groups: dict[str, str]) -> bool:
        return any(_same(value, option, self.ignore_case) for option in self.expected)

    def __str__(self) -> str:
        return f"one_of {shown(list(self.expected))}"


@dataclass(frozen=True, slots=True)
class Contains:
    """Text containing a substring (ignoring case unless told otherwise), or a list holding an item."""

    expected: Any
    ignore_case: bool = True

    def passes(self, value: Any, groups: dict[str, str]) -> bool:
        if isinstance(value, str) and isinstance(self.expected, str):
            if self.ignore_case:
                return self.expected.casefold() in value.casefold()
            return self.expected in value
        if isinstance(value, list):
            return any(_same(item, self.expected, self.ignore_case) for item in value)
        return False

    def __str__(self) -> str:
        return f"contains {shown(self.expected)}"


@dataclass(frozen=True, slots=True)
class Regex:
    pattern: regex.Pattern[str]
    source: SourcePosition

    def passes(self, value: Any, groups: dict[str, str]) -> bool:
        if not isinstance(value, str):
            return False
        try:
            found = self.pattern.search(value, timeout=REGEX_SECONDS)
        except TimeoutError:
            raise ApiError(
                ErrorKind.INTERNAL,
                f"{self.source}: the regex {self.pattern.pattern!r} took longer than {REGEX_SECONDS} s",
            ) from None
        if found is None:
            return False
        groups.update((name, text) for name, text in found.groupdict().items() if text is not None)
        return True

    def __str__(self) -> str:
        return f"regex {self.pattern.pattern!r}"


@dataclass(frozen=True, slots=True)
class Exists:
    expected: bool

    def passes(self, value: Any, groups: dict[str, str]) -> bool:
        return (value is not MISSING) == self.expected

    def __str__(self) -> str:
        return "exists" if self.expected else "is absent"


_COMPARE: Mapping[str, Callable[[float, float], bool]] = {
    "gt": float.__gt__,
    "gte": float.__ge__,
    "lt": float.__lt__,
    "lte": float.__le__,
}


@dataclass(frozen=True, slots=True)
class Compare:
    """A number (or text that reads as one: headers and query parameters are text) against a bound."""

    op: str
    bound: float

    def passes(self, value: Any, groups: dict[str, str]) -> bool:
        number = _number(value)
        return number is not None and _COMPARE[self.op](number, self.bound)

    def __str__(self) -> str:
        return f"{self.op} {self.bound:g}"


def _number(value: Any) -> float | None:
    if isinstance(value, bool):
        return None
    if isinstance(value, int | float):
        return float(value)
    if isinstance(value, str) and len(value) <= 40:
        try:
            number = float(value)
        except ValueError:
            return None
        return number if math.isfinite(number) else None
    return None


# ── subjects: what of the request a test is put to ───────────────────────────────────────────────


class Subject(Protocol):
    def value(self, ctx: RequestContext, reply: str) -> Any: ...

    def __str__(self) -> str: ...


class Message:
    __slots__ = ()

    def value(self, ctx: RequestContext, reply: str) -> Any:
        return ctx.message if ctx.message is not None else MISSING

    def __str__(self) -> str:
        return "the message"


_STEP = re.compile(r"\.?([^.\[\]]+)|\[(\d+)\]")


def parse_path(text: str) -> tuple[str | int, ...] | None:
    """`input.query`, `messages[0].content`, `$.a.b` as keys and indexes; None when it is no path."""
    rest = text.removeprefix("$").removeprefix(".") if text.startswith("$") else text
    steps: list[str | int] = []
    at = 0
    while at < len(rest):
        found = _STEP.match(rest, at)
        if found is None or (at == 0 and rest.startswith(".")):
            return None
        steps.append(found[1] if found[1] is not None else int(found[2]))
        at = found.end()
    return tuple(steps) or None


@dataclass(frozen=True, slots=True)
class BodyField:
    path: str
    steps: tuple[str | int, ...]

    def value(self, ctx: RequestContext, reply: str) -> Any:
        value: Any = ctx.body if ctx.body is not None else MISSING
        for step in self.steps:
            if isinstance(step, int):
                if not isinstance(value, list) or step >= len(value):
                    return MISSING
            elif not isinstance(value, Mapping) or step not in value:
                return MISSING
            value = value[step]
        return value

    def __str__(self) -> str:
        return f"body {self.path}"


@dataclass(frozen=True, slots=True)
class Header:
    name: str

    def value(self, ctx: RequestContext, reply: str) -> Any:
        return ctx.headers.get(self.name, MISSING)  # aiohttp's headers ignore case

    def __str__(self) -> str:
        return f"header {self.name}"


@dataclass(frozen=True, slots=True)
class Query:
    name: str

    def value(self, ctx: RequestContext, reply: str) -> Any:
        return ctx.query.get(self.name, MISSING)

    def __str__(self) -> str:
        return f"query {self.name}"


@dataclass(frozen=True, slots=True)
class Param:
    """A parameter of the path: a raw stub's `{name}`, or one of the platform route's (`agentId`)."""

    name: str

    def value(self, ctx: RequestContext, reply: str) -> Any:
        return ctx.params.get(self.name, MISSING)

    def __str__(self) -> str:
        return f"path parameter {self.name}"


class Platform:
    __slots__ = ()

    def value(self, ctx: RequestContext, reply: str) -> Any:
        return ctx.platform.value if ctx.platform is not None else MISSING  # a stub at the server's root

    def __str__(self) -> str:
        return "the platform"


class Turn:
    __slots__ = ()

    def value(self, ctx: RequestContext, reply: str) -> Any:
        return ctx.turn

    def __str__(self) -> str:
        return "the turn"


class Matched:
    """How many times this rule matched earlier in the session (0 the first time)."""

    __slots__ = ()

    def value(self, ctx: RequestContext, reply: str) -> Any:
        return ctx.session.sequences.get(reply, 0)

    def __str__(self) -> str:
        return "matched"


#: A scenario state no reply has set yet reads as this (CHOSEN, as WireMock's "Started").
INITIAL_STATE = "started"


@dataclass(frozen=True, slots=True)
class State:
    name: str
    source: SourcePosition | None = field(default=None, compare=False)  # where the `when` names it

    def value(self, ctx: RequestContext, reply: str) -> Any:
        return ctx.session.states.get(self.name, INITIAL_STATE)

    def __str__(self) -> str:
        return f"state {self.name}"


#: Subjects whose values are always text: what a test compares them with is read as text.
TEXT_SUBJECTS = (Message, Header, Query, Param, State)


# ── conditions ───────────────────────────────────────────────────────────────────────────────────


class Condition(Protocol):
    def __str__(self) -> str: ...

    def holds(self, ctx: RequestContext, reply: str, groups: dict[str, str]) -> bool:
        """Whether the request meets the condition; the named groups of matching regexes go to `groups`."""
        ...

    def explain(self, ctx: RequestContext, reply: str) -> list[str]:
        """Why the request does not meet the condition (empty when it does)."""
        ...


@dataclass(frozen=True, slots=True)
class Check:
    subject: Subject
    test: Test

    def holds(self, ctx: RequestContext, reply: str, groups: dict[str, str]) -> bool:
        return self.test.passes(self.subject.value(ctx, reply), groups)

    def explain(self, ctx: RequestContext, reply: str) -> list[str]:
        value = self.subject.value(ctx, reply)
        if self.test.passes(value, {}):
            return []
        if value is not MISSING and _names_secret(self.subject):
            # The explanation goes to the client, the journal and the log: neither a credential nor what a
            # test compares it with is shown, only the credential's placeholder (the same for the same
            # secret, so that two can still be told apart).
            placeholder = _redactor().redact_value(str(value))
            return [f"{self.subject} (a secret) does not pass its test: it is {placeholder}"]
        return [_redactor().redact_text(f"{self}: it is {shown(value)}")]

    def __str__(self) -> str:
        return f"{self.subject} {self.test}"


@dataclass(frozen=True, slots=True)
class AllOf:
    parts: tuple[Condition, ...]

    def holds(self, ctx: RequestContext, reply: str, groups: dict[str, str]) -> bool:
        return all(part.holds(ctx, reply, groups) for part in self.parts)

    def explain(self, ctx: RequestContext, reply: str) -> list[str]:
        return [reason for part in self.parts for reason in part.explain(ctx, reply)]

    def __str__(self) -> str:
        return " and ".join(map(str, self.parts))


@dataclass(frozen=True, slots=True)
class AnyOf:
    parts: tuple[Condition, ...]

    def holds(self, ctx: RequestContext, reply: str, groups: dict[str, str]) -> bool:
        return any(part.holds(ctx, reply, groups) for part in self.parts)

    def explain(self, ctx: RequestContext, reply: str) -> list[str]:
        reasons = [part.explain(ctx, reply) for part in self.parts]
        if any(not reason for reason in reasons):
            return []
        return ["none of any held (" + "; ".join(", ".join(reason) for reason in reasons) + ")"]

    def __str__(self) -> str:
        return "any of (" + "; ".join(map(str, self.parts)) + ")"


@dataclass(frozen=True, slots=True)
class Not:
    part: Condition

    def holds(self, ctx: RequestContext, reply: str, groups: dict[str, str]) -> bool:
        return not self.part.holds(ctx, reply, {})  # what matched inside a `not` is nothing to show

    def explain(self, ctx: RequestContext, reply: str) -> list[str]:
        return [] if self.part.explain(ctx, reply) else [f"not ({self.part}): it held"]

    def __str__(self) -> str:
        return f"not ({self.part})"


def all_of(parts: Sequence[Condition]) -> Condition:
    return parts[0] if len(parts) == 1 else AllOf(tuple(parts))


def checks(condition: Condition) -> Iterator[Check]:
    """Every `Check` in a condition's tree, under `not` and `any` too."""
    if isinstance(condition, Check):
        yield condition
    elif isinstance(condition, AllOf | AnyOf):
        for part in condition.parts:
            yield from checks(part)
    elif isinstance(condition, Not):
        yield from checks(condition.part)
