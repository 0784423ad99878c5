"""Raw stubs: answers written as they go on the wire, for what mockagent does not model (BeeOS instances, an
AgentOS call the docs do not cover, a health check a client calls first) — or, said explicitly
(`shadow: true`), in place of a modelled endpoint.

A stub is a method and a path pattern (`{name}` segments), under a platform's mount or at the server's root,
with a `when` over the same request context replies see, then a status, templated headers, and a templated
body (a JSON tree or text) or SSE frames, each after its delay on the session's clock (docs/scenarios.md#raw-stubs).

This module holds what a stub is, how the `stubs:` of a file are read, how a request finds its stub, and
which stubs would answer for a modelled route. How an answer is written is `mockagent.stubbing`.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass
from typing import Any, NamedTuple

from mockagent.errors import ScenarioError, SourcePosition
from mockagent.model import PlatformKey
from mockagent.scenarios.conditions import Condition
from mockagent.scenarios.yamlnodes import Node, Reported, shown
from mockagent.templating import JsonTemplate, Template

#: States a stub sets when it answers: (name, value) pairs, in the order written (`model.StateChanges`,
#: which cannot be imported here: the model imports this module).
StateChanges = tuple[tuple[str, str], ...]
#: CHOSEN (as WireMock): a stub without `priority` has 5; lower numbers are tried first.
DEFAULT_PRIORITY = 5
METHODS = ("GET", "POST", "PUT", "PATCH", "DELETE", "HEAD", "OPTIONS")
#: Headers the server writes itself: a stub that sets them is refused at load.
_OWN_HEADERS = {"content-length", "transfer-encoding", "connection"}
_TOKEN = re.compile(r"^[!#$%&'*+.^_`|~0-9A-Za-z-]+$")
_PARAM = re.compile(r"^\{([A-Za-z_][A-Za-z0-9_]*)\}$")
_ROUTE_PARAM = re.compile(r"^\{[^{}]*\}$")  # aiohttp's `{name}` or `{name:regex}`: one segment


# ── what a stub is ───────────────────────────────────────────────────────────────────────────────


@dataclass(frozen=True, slots=True)
class PathPattern:
    """`/api/v1/instances/{id}`: literal segments, and `{name}` segments that capture one segment each."""

    text: str
    segments: tuple[str | None, ...]  # a literal, or None where a parameter stands
    names: tuple[str, ...]  # the parameters' names, in order

    def match(self, parts: list[str]) -> dict[str, str] | None:
        """The parameters, when the path (split at `/`) matches; None when it does not."""
        if len(parts) != len(self.segments):
            return None
        params: dict[str, str] = {}
        names = iter(self.names)
        for part, segment in zip(parts, self.segments, strict=True):
            if segment is None:
                if not part:
                    return None  # a parameter is never empty
                params[next(names)] = part
            elif part != segment:
                return None
        return params

    @property
    def shape(self) -> str:
        """The pattern with its parameters unnamed: two stubs of one shape answer the same paths."""
        return "/".join("{}" if segment is None else segment for segment in self.segments)


@dataclass(frozen=True, slots=True)
class SseFrame:
    data: JsonTemplate | Template  # JSON data, or text
    event: Template | None = None
    id: Template | None = None
    delay: float = 0.0  # clock seconds after the frame before it (after the headers, for the first)


@dataclass(frozen=True)
class Stub:
    platform: PlatformKey | None  # None: at the server's root
    method: str
    path: PathPattern
    source: SourcePosition
    when: Condition | None = None
    sets: StateChanges = ()  # `then: {state: …}`, set when it answers
    priority: int = DEFAULT_PRIORITY
    status: int = 200
    headers: tuple[tuple[str, Template], ...] = ()
    body: JsonTemplate | Template | None = None  # JSON data, text, or no body
    sse: tuple[SseFrame, ...] | None = None
    shadow: bool = False
    key: str = ""  # what its matches are counted under in a session (where it is declared)

    def describe(self) -> str:
        return f"the stub at {self.source}"

    @property
    def route(self) -> str:
        where = f"{self.platform.value} " if self.platform is not None else ""
        return f"{where}{self.method} {self.path.text}"


class StubMatch(NamedTuple):
    stub: Stub
    params: Mapping[str, str]
    groups: Mapping[str, str]


@dataclass(frozen=True)
class StubMiss:
    stub: Stub
    failed: tuple[str, ...]


@dataclass(frozen=True)
class StubsUnmatched:
    """Stubs answer this method and path, and the `when` of each failed: the nearest, with what failed."""

    method: str
    path: str
    nearest: tuple[StubMiss, ...]

    def explain(self) -> str:
        reasons = "; ".join(f"{miss.stub.describe()} did not match ({', '.join(miss.failed)})" for miss in self.nearest)
        return f"no stub answers {self.method} {self.path[:200]}: {reasons}"


#: The stubs whose method and path match a request, each with the path parameters it captured, in the
#: order they are tried.
Candidates = list[tuple["Stub", dict[str, str]]]


class StubTable:
    """The stubs of a scenario set by where they are mounted and their method, each list in the order they
    are tried: by priority, then as written."""

    def __init__(self, stubs: Iterable[Stub]) -> None:
        self._by_place: dict[tuple[PlatformKey | None, str], list[Stub]] = {}
        for stub in sorted(stubs, key=lambda stub: stub.priority):  # stable: file order within a priority
            self._by_place.setdefault((stub.platform, stub.method), []).append(stub)
        self._shadowing = {place for place, stubs in self._by_place.items() if any(s.shadow for s in stubs)}

    def __bool__(self) -> bool:
        return bool(self._by_place)

    def shadows(self, platform: PlatformKey, method: str) -> bool:
        """Whether a stub of this platform and method may answer in place of a modelled route."""
        return (platform, method) in self._shadowing

    def candidates(
        self, places: Iterable[PlatformKey | None], method: str, path: str, *, shadowing: bool = False
    ) -> Candidates:
        """The stubs whose method and path match, with the parameters each captured, in the order tried
        (`shadowing`: only those that say `shadow: true`)."""
        parts = path.split("/")
        found = []
        for place in places:
            for stub in self._by_place.get((place, method), ()):
                if shadowing and not stub.shadow:
                    continue
                params = stub.path.match(parts)
                if params is not None:
                    found.append((stub, params))
        return found


# ── modelled routes a stub would answer for ──────────────────────────────────────────────────────


class ServedRoute(NamedTuple):
    """A platform's route, as the stubs' check sees it (it knows nothing more of platforms)."""

    platform: PlatformKey
    method: str
    path: str  # aiohttp's pattern, e.g. /api/v1/agents/{agentId}/invoke
    serves: Callable[[Mapping[str, str]], bool] | None  # whether it models these parameters; None: always


def collisions(stubs: Iterable[Stub], routes: Iterable[ServedRoute]) -> list[ScenarioError]:
    """A stub that a modelled route would answer (a path both can take) and that does not say `shadow: true`:
    one error each, naming the route."""
    by_place: dict[tuple[PlatformKey, str], list[ServedRoute]] = {}
    for route in routes:
        by_place.setdefault((route.platform, route.method), []).append(route)
    problems = []
    for stub in stubs:
        if stub.shadow or stub.platform is None:
            continue
        for route in by_place.get((stub.platform, stub.method), ()):
            if _overlaps(stub.path, route):
                problems.append(
                    ScenarioError(
                        stub.source,
                        f"{route.platform.value}'s modelled route {route.method} {route.path} answers the "
                        f"requests of this stub ({stub.route}): add 'shadow: true' for the stub to answer first",
                    )
                )
                break
    return problems


def _overlaps(pattern: PathPattern, route: ServedRoute) -> bool:
    """Whether a path exists that both the stub and the route take, and the route models it."""
    segments = route.path.split("/")
    if len(segments) != len(pattern.segments):
        return False
    bound: dict[str, str] = {}
    for mine, theirs in zip(pattern.segments, segments, strict=True):
        if _ROUTE_PARAM.match(theirs):
            name = theirs[1:-1].split(":", 1)[0]
            bound[name] = "{}" if mine is None else mine  # a parameter of ours could be anything
        elif mine is not None and mine != theirs:
            return False
    return route.serves is None or route.serves(bound)


# ── reading `stubs:` ─────────────────────────────────────────────────────────────────────────────

STUB_KEYS = {"platform", "method", "path", "when", "then", "priority", "status", "headers", "body", "sse", "shadow"}
FRAME_KEYS = {"event", "data", "id", "delay"}


class Readers(NamedTuple):
    """How the loader reads what a stub writes as a reply does: a `when`, a `then`, a template (text), and
    JSON data whose strings are templates (each problem reported at its place)."""

    when: Callable[[Node], Condition]
    then: Callable[[Node], StateChanges]
    text: Callable[[Node, str], Template]
    json: Callable[[Node, str], JsonTemplate]


def parse_stubs(node: Node, read: Readers) -> list[Stub]:
    """The `stubs:` list of a file."""
    return node.problems.each(node.sequence("stubs"), lambda entry: _stub(entry, read))


def _stub(node: Node, read: Readers) -> Stub:
    fields = node.mapping("a stub", STUB_KEYS, required=frozenset({"method", "path"}))
    problems = node.problems
    reported = len(problems.found)

    def part(key: str, parse: Callable[[Node], Any], default: Any) -> Any:
        if key not in fields:
            return default
        try:
            return parse(fields[key])
        except ScenarioError as err:
            problems.report(err)
            return default

    platform = part("platform", _platform, None)
    method = part("method", _method, "GET")
    path = part("path", lambda n: _path(n, platform), None)
    when = part("when", read.when, None)
    status = part("status", _status, 200)
    headers = part("headers", lambda n: _headers(n, read), ())
    sse = part("sse", lambda n: _frames(n, read), None)
    body = part("body", lambda n: _body(n, read), None)
    if "body" in fields and "sse" in fields:
        problems.report(fields["sse"].error("a stub answers with 'body' or with 'sse' frames, not both"))
    if sse is not None and not 200 <= status <= 299:
        problems.report(fields["status"].error(f"a stub with 'sse' frames answers 2xx, not {status}"))
    if body is not None and status in (204, 304):
        problems.report(fields["body"].error(f"a {status} answer has no body"))
    stub = Stub(
        platform=platform,
        method=method,
        path=path,
        source=node.position,
        when=when,
        sets=part("then", read.then, ()),
        priority=part("priority", lambda n: n.integer("priority"), DEFAULT_PRIORITY),
        status=status,
        headers=headers,
        body=body,
        sse=sse,
        shadow=part("shadow", lambda n: n.boolean("shadow"), False),
        key=str(node.position),
    )
    if len(problems.found) > reported or fields.misspelt:
        raise Reported(node.position, "a stub with problems is left out")
    return stub


def _platform(node: Node) -> PlatformKey | None:
    if node.is_null:
        return None
    value = node.text("platform")
    try:
        return PlatformKey(value)
    except ValueError:
        valid = ", ".join(key.value for key in PlatformKey)
        raise node.error(f"platform {shown(value)} is not one of: {valid} (none: the server's root)") from None


def _method(node: Node) -> str:
    value = node.text("method")
    if value not in METHODS:
        capitals = " (in capitals, as HTTP spells them)" if value.upper() in METHODS else ""
        raise node.error(f"method {shown(value)} is not one of: {', '.join(METHODS)}{capitals}")
    return value


def _path(node: Node, platform: PlatformKey | None) -> PathPattern:
    text = node.string("path")
    if not text.startswith("/"):
        raise node.error(f"path {shown(text)} must start with /")
    if "?" in text or "#" in text:
        raise node.error(f"path {shown(text)} has a query or fragment: test query parameters in 'when' instead")
    segments: list[str | None] = []
    names: list[str] = []
    for segment in text.split("/")[1:]:
        if (param := _PARAM.match(segment)) is not None:
            if param[1] in names:
                raise node.error(f"path {shown(text)} names the parameter {param[1]!r} twice")
            names.append(param[1])
            segments.append(None)
        elif "{" in segment or "}" in segment:
            raise node.error(
                f"path {shown(text)}: a parameter is a whole segment, {{name}} (letters, digits, _), "
                f"not {shown(segment)}"
            )
        else:
            segments.append(segment)
    head = segments[0] if segments else None
    if platform is None and head is not None and (head in {key.value for key in PlatformKey} or head == "__mockagent"):
        where = "mockagent's admin API" if head == "__mockagent" else f"the {head} platform"
        hint = "" if head == "__mockagent" else f" (write 'platform: {head}' and the path below /{head})"
        raise node.error(f"path {shown(text)} at the server's root is under {where}{hint}")
    return PathPattern(text, ("", *segments), tuple(names))


def _status(node: Node) -> int:
    status = node.integer("status")
    if not 200 <= status <= 599:
        raise node.error(f"status must be from 200 to 599, got {status}")
    return status


def _headers(node: Node, read: Readers) -> tuple[tuple[str, Template], ...]:
    headers = []
    wrong = False
    for name, key_node, value in node.items("headers"):
        try:
            if not _TOKEN.match(name):
                raise key_node.error(f"{shown(name)} is not a header name")
            if name.lower() in _OWN_HEADERS:
                raise key_node.error(f"the server writes {name} itself: leave it out")
            headers.append((name, read.text(value, f"header {name}")))
        except ScenarioError as err:
            node.problems.report(err)
            wrong = True
    if wrong:
        raise Reported(node.position, "'headers' with problems are left out")
    return tuple(headers)


def _body(node: Node, read: Readers) -> JsonTemplate | Template:
    """A mapping or a list is a JSON body; text is a text body."""
    if node.is_mapping or node.is_sequence:
        return read.json(node, "body")
    return read.text(node, "body")


def _frames(node: Node, read: Readers) -> tuple[SseFrame, ...]:
    frames = tuple(node.problems.each(node.sequence("sse"), lambda entry: _frame(entry, read)))
    if len(frames) < len(node.sequence("sse")):
        raise Reported(node.position, "'sse' with problems is left out")
    if not frames:
        raise node.error("sse needs at least one frame")
    return frames


def _frame(node: Node, read: Readers) -> SseFrame:
    fields = node.mapping("an sse frame", FRAME_KEYS, required=frozenset({"data"}))
    data = fields["data"]
    return SseFrame(
        data=read.json(data, "data") if data.is_mapping or data.is_sequence else read.text(data, "data"),
        event=_line(fields["event"], "event", read) if "event" in fields else None,
        id=_line(fields["id"], "id", read) if "id" in fields else None,
        delay=fields["delay"].number("delay") if "delay" in fields else 0.0,
    )


def _line(node: Node, what: str, read: Readers) -> Template:
    template = read.text(node, what)
    if "\n" in template.source or "\r" in template.source:
        raise node.error(f"an SSE {what} is one line")
    return template


__all__ = [
    "DEFAULT_PRIORITY",
    "PathPattern",
    "Readers",
    "ServedRoute",
    "SseFrame",
    "Stub",
    "StubMatch",
    "StubMiss",
    "StubTable",
    "StubsUnmatched",
    "collisions",
    "parse_stubs",
]
