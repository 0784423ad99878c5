"""Verification: how many journal entries a request pattern matches, checked against a count, and — when the
check fails — the entries that came closest and what differed in each (as WireMock's `verify` reports).

A pattern's fields are each optional; every one that is set must hold. The body condition is a JSON subset
the request's body must contain (docs/testing.md#verifying-what-the-client-did). Patterns are matched
against the raw request inside the process; what a failure shows of an entry is redacted as every view of
the journal is. Where the processes of a server share Redis, they are matched against every process's
entries as the journal kept there holds them (`Entry.from_json`): redacted, so a body pattern on a secret
field cannot match there (CHOSEN: no secret goes to Redis, not even to be matched).
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from fnmatch import fnmatchcase
from typing import TYPE_CHECKING, Any

from mockagent.encoding import dumps
from mockagent.journal import Entry, Query

if TYPE_CHECKING:
    from mockagent.replay.redaction import Redactor

#: CHOSEN: the entries a failure names as the closest to the pattern.
NEAR = 3


class PatternError(ValueError):
    """A pattern or count that cannot be checked; `field` names the culprit."""

    def __init__(self, field: str, message: str) -> None:
        super().__init__(f"{field}: {message}")
        self.field = field


@dataclass(frozen=True, slots=True)
class Pattern:
    method: str | None = None
    platform: str | None = None
    path: str | None = None  # a glob (fnmatch), as the journal's filter: /beeos/*/invoke
    agent: str | None = None
    body: Any = None  # a JSON subset the request's body must contain (CHOSEN: None, or null, is no condition)
    session: str | None = None

    def differences(self, entry: Entry, redactor: Redactor | None = None) -> list[str]:
        """What in `entry` does not fit the pattern, one phrase per field (empty: it matches)."""
        found: list[str] = []
        if self.session is not None and entry.session != self.session:
            found.append(f"session is {entry.session!r}, not {self.session!r}")
        if self.method is not None and entry.method != self.method.upper():
            found.append(f"method is {entry.method}, not {self.method.upper()}")
        if self.platform is not None and entry.platform != self.platform:
            found.append(f"platform is {entry.platform}, not {self.platform}")
        if self.path is not None and not fnmatchcase(entry.path, self.path):
            found.append(f"path is {entry.path}, not {self.path}")
        if self.agent is not None and entry.agent != self.agent:
            found.append(f"agent is {entry.agent}, not {self.agent}")
        if self.body is not None:
            actual = entry.body_json()
            if actual is None and entry.request_body:
                found.append("body is not JSON")
            else:
                shown = _redacted(redactor, actual)
                differs = _subset_difference(self.body, actual, shown, "body")
                if differs is not None:
                    found.append(differs)
        return found

    @property
    def query(self) -> Query:
        """The journal's own filter for the fields it shares with the pattern."""
        return Query(platform=self.platform, agent=self.agent, method=self.method, path=self.path)

    def matches(self, entry: Entry) -> bool:
        if not self.query.holds(entry) or (self.session is not None and entry.session != self.session):
            return False
        return self.body is None or _subset_difference(self.body, entry.body_json(), None, "body") is None

    def describe(self) -> str:
        parts = [self.method.upper() if self.method else "any method", self.path or "any path"]
        for name in ("platform", "agent", "session"):
            value = getattr(self, name)
            if value is not None:
                parts.append(f"{name}={value}")
        if self.body is not None:
            parts.append(f"body containing {dumps(self.body)}")
        return " ".join(parts)


def _redacted(redactor: Redactor | None, value: Any) -> Any:
    return redactor.redact_json(value) if redactor is not None and value is not None else value


def _subset_difference(expected: Any, actual: Any, shown: Any, where: str) -> str | None:
    """The first place where `actual` does not contain `expected`, told with the redacted `shown` values.
    CHOSEN: an object contains the pattern's keys (others may be there too); a list has the pattern's
    length, each item containing the pattern's item at its place; anything else is equal."""
    if isinstance(expected, dict):
        if not isinstance(actual, dict):
            return f"{where} is {_short(shown)}, not an object"
        for key, wanted in expected.items():
            if key not in actual:
                return f"{where}.{key} is missing"
            differs = _subset_difference(wanted, actual[key], _at(shown, key), f"{where}.{key}")
            if differs is not None:
                return differs
        return None
    if isinstance(expected, list):
        if not isinstance(actual, list) or len(actual) != len(expected):
            return f"{where} is {_short(shown)}, not a list of {len(expected)}"
        for index, (wanted, got) in enumerate(zip(expected, actual, strict=True)):
            differs = _subset_difference(wanted, got, _at(shown, index), f"{where}[{index}]")
            if differs is not None:
                return differs
        return None
    # True == 1 in Python; in JSON they differ.
    if actual == expected and isinstance(actual, bool) == isinstance(expected, bool):
        return None
    return f"{where} is {_short(shown)}, not {_short(expected)}"


def _at(shown: Any, key: str | int) -> Any:
    try:
        return shown[key]
    except (KeyError, IndexError, TypeError):
        return None


def _short(value: Any, limit: int = 80) -> str:
    text = dumps(value)
    return text if len(text) <= limit else text[: limit - 1] + "…"


@dataclass(frozen=True, slots=True)
class Count:
    """How many entries must match: exactly `n`, or between `at_least` and `at_most` (CHOSEN: nothing given
    is "at least once", as WireMock's `verify` and `unittest.mock`'s `assert_called`)."""

    n: int | None = None
    at_least: int | None = None
    at_most: int | None = None

    def __post_init__(self) -> None:
        for name in ("n", "at_least", "at_most"):
            value = getattr(self, name)
            if value is not None and (type(value) is not int or value < 0):
                raise PatternError(name, f"{name} is a whole number, 0 or more")
        if self.n is not None and (self.at_least is not None or self.at_most is not None):
            raise PatternError("n", "n is an exact count: give it alone, or at_least / at_most instead")
        if self.at_least is not None and self.at_most is not None and self.at_least > self.at_most:
            raise PatternError("at_least", f"at_least ({self.at_least}) is more than at_most ({self.at_most})")

    def holds(self, count: int) -> bool:
        if self.n is not None:
            return count == self.n
        low = self.at_least if self.at_least is not None else (1 if self.at_most is None else 0)
        return low <= count and (self.at_most is None or count <= self.at_most)

    def describe(self) -> str:
        if self.n is not None:
            return f"exactly {self.n}"
        if self.at_least is not None and self.at_most is not None:
            return f"between {self.at_least} and {self.at_most}"
        if self.at_most is not None:
            return f"at most {self.at_most}"
        return f"at least {self.at_least if self.at_least is not None else 1}"


@dataclass(frozen=True, slots=True)
class Verification:
    passed: bool
    count: int
    message: str
    matched: list[Entry] = field(default_factory=list)
    near: list[Entry] = field(default_factory=list)

    def __bool__(self) -> bool:
        return self.passed

    def check(self) -> None:
        """Raise AssertionError with the message unless the count held (what the fixtures' assert_called do)."""
        __tracebackhide__ = True
        if not self.passed:
            raise AssertionError(self.message)


def verify(entries: Iterable[Entry], pattern: Pattern, count: Count, redactor: Redactor | None = None) -> Verification:
    """Check how many of `entries` match `pattern` against `count`; a failure names the closest others."""
    matched: list[Entry] = []
    misses: list[Entry] = []
    for entry in entries:
        (matched if pattern.matches(entry) else misses).append(entry)
    wanted = f"{count.describe()} request(s) matching {pattern.describe()}"
    if count.holds(len(matched)):
        return Verification(True, len(matched), f"{len(matched)} matched: {wanted}", matched)
    lines = [f"expected {wanted}, but {len(matched)} matched"]
    lines += [f"  matched: {describe(entry)}" for entry in matched[:NEAR]]
    # Closest first: fewest differences, then most recent (latest in the journal's order: ids tell that within
    # one process only). Only the nearest are told, so only they are redacted (how many differences an entry
    # has does not depend on how they are shown).
    ranked = sorted(enumerate(misses), key=lambda pair: (len(pattern.differences(pair[1])), -pair[0]))
    near = [entry for _, entry in ranked[:NEAR]]
    if near:
        lines.append("closest other requests:")
        lines += [f"  {describe(entry)} — {'; '.join(pattern.differences(entry, redactor))}" for entry in near]
    elif not matched:
        lines.append("the journal holds no requests")
    return Verification(False, len(matched), "\n".join(lines), matched, near)


def describe(entry: Entry) -> str:
    """One entry in a line: its id, request and answer."""
    status = "no answer yet" if entry.status is None else str(entry.status)
    text = f"#{entry.id} {entry.method} {entry.path} → {status}"
    if entry.unmatched and entry.explanation:
        text += f" (unmatched: {entry.explanation})"
    return text


def pattern_of(raw: Mapping[str, Any]) -> tuple[Pattern, Count]:
    """A pattern and count from their JSON form (the admin API's body, the fixtures' keywords)."""
    unknown = set(raw) - {"method", "platform", "path", "agent", "body", "session", "n", "at_least", "at_most"}
    if unknown:
        name = sorted(unknown)[0]
        raise PatternError(
            name, "not a field of a verification (method, platform, path, agent, body, session, n, at_least, at_most)"
        )
    for name in ("method", "platform", "path", "agent", "session"):
        value = raw.get(name)
        if value is not None and (not isinstance(value, str) or not value):
            raise PatternError(name, f"{name} is a non-empty string")
    pattern = Pattern(
        raw.get("method"), raw.get("platform"), raw.get("path"), raw.get("agent"), raw.get("body"), raw.get("session")
    )
    return pattern, Count(raw.get("n"), raw.get("at_least"), raw.get("at_most"))
