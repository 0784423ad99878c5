"""The drift check: a cassette's requests sent again to the live upstream, and each answer compared with the
recorded one by what a client's code relies on — the status, the JSON shape (key paths and the JSON type at
each; values ignored; a list's items merged into one shape), and for a stream the sequence of events (each
frame's `type` or SSE `event` name, in order, and each event's shape). This is how a team learns that the
platform changed under its recordings.

Requests go out in recorded order, so a conversation is replayed as one: ids the upstream chose (runs,
tasks, approvals, threads) differ live, and each is threaded into the later requests that used it.

Exit status (CHOSEN): 0 no drift, 1 drift in any interaction, 2 an upstream that cannot be reached or a
cassette that cannot be read.
"""

from __future__ import annotations

import difflib
import json
import re
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

import aiohttp

from mockagent.encoding import json_type
from mockagent.replay.cassette import Cassette, Interaction
from mockagent.replay.scenario_file import frames, platform_of

#: Request headers never re-sent as recorded: the client library writes them for the new request.
_NOT_SENT = frozenset({"content-length", "host", "transfer-encoding", "connection", "accept-encoding"})
_SECRET = re.compile(r"<<secret:[a-z0-9_]+:[0-9a-f]{8}>>")
#: CHOSEN: an answer's value is threaded into later requests when its key names an id (`run_id`, `taskId`,
#: `id`, `X-Thread-ID` …) and it differs live: ids are what the upstream chose, and what later calls name.
_ID_KEY = re.compile(r"(?:^|[_-])(?:id|ID|Id)$|[a-z]Id$|ID$")  # `paid` and `valid` name no id
_MIN_THREADED = 8  # shorter values would be replaced inside unrelated text

Shape = dict[str, frozenset[str]]


class Unreachable(Exception):
    """The upstream could not be reached (exit 2)."""


# ── shapes ───────────────────────────────────────────────────────────────────────────────────────────


def shape(value: Any, at: str = "$") -> Shape:
    """Every key path of a JSON value with the JSON type(s) found there; a list's items share `path[]`."""
    out: dict[str, set[str]] = {}
    _walk(value, at, out)
    return {path: frozenset(types) for path, types in out.items()}


def _walk(value: Any, at: str, out: dict[str, set[str]]) -> None:
    out.setdefault(at, set()).add(json_type(value))
    if isinstance(value, dict):
        for key, item in value.items():
            _walk(item, f"{at}.{key}", out)
    elif isinstance(value, list):
        for item in value:
            _walk(item, f"{at}[]", out)


def shape_differences(recorded: Shape, live: Shape) -> list[str]:
    """What changed between two shapes, one line per path: gone, new, or of another type (what lies below
    a reported path is not reported again; an object's keys are named on its line)."""
    found = []
    reported: list[str] = []
    for path in sorted(recorded.keys() | live.keys(), key=_path_order):
        if any(_below(path, done) for done in reported):
            continue
        before, after = recorded.get(path), live.get(path)
        if after is None:
            found.append(f"{path}: recorded {_described(path, recorded)}, missing now")
        elif before is None:
            found.append(f"{path}: new, {_described(path, live)}")
        elif before != after:
            found.append(f"{path}: recorded {_described(path, recorded)}, now {_described(path, live)}")
        else:
            continue
        reported.append(path)
    return found


def _path_order(path: str) -> tuple[str, ...]:
    return tuple(re.split(r"\.|\[\]", path))


def _below(path: str, parent: str) -> bool:
    return path.startswith(parent) and path[len(parent) : len(parent) + 1] in (".", "[")


def _described(path: str, shape: Shape) -> str:
    """`string`, `null|string`, or `object (code, message)`."""
    types = _types(shape.get(path))
    keys = [p[len(path) + 1 :] for p in shape if p.startswith(path + ".") and "." not in p[len(path) + 1 :]]
    keys = [k for k in keys if "[" not in k]
    return f"{types} ({', '.join(sorted(keys))})" if keys else types


def _types(types: frozenset[str] | None) -> str:
    return "|".join(sorted(types or ()))


# ── events ───────────────────────────────────────────────────────────────────────────────────────────


@dataclass(frozen=True)
class Event:
    """A stream frame as a client's parser dispatches on it: its name, and the shape of its data."""

    name: str
    shape: tuple[tuple[str, frozenset[str]], ...]
    data: Any = field(default=None, compare=False, hash=False)  # kept to thread the ids it holds


def events(body: bytes) -> list[Event]:
    """A stream's events: the data's `type` when it is a JSON object with one, else the SSE `event` name
    (else `message`); data that is not JSON (`[DONE]`) is its own name."""
    out = []
    for frame in frames(body):
        data = frame.json()
        if isinstance(data, dict) and isinstance(data.get("type"), str):
            name = data["type"]
        elif data is None and frame.data.strip():
            name = frame.data.strip()[:40]
        else:
            name = frame.event or "message"
        described = shape(data) if data is not None else {}
        out.append(Event(name, tuple(sorted(described.items())), data))
    return out


@dataclass
class Run:
    """Consecutive events of one name: how many, and their shapes merged."""

    name: str
    count: int
    shape: dict[str, set[str]]

    @property
    def label(self) -> str:
        return self.name + ("+" if self.count > 1 else "")

    def frozen(self) -> Shape:
        return {path: frozenset(types) for path, types in self.shape.items()}


def collapsed(sequence: Sequence[Event]) -> list[Run]:
    """CHOSEN: consecutive events of one name are one (`chunk+`): a reply of another length streams
    another number of chunks, and that is not drift."""
    out: list[Run] = []
    for event in sequence:
        if not out or out[-1].name != event.name:
            out.append(Run(event.name, 0, {}))
        out[-1].count += 1
        for path, types in event.shape:
            out[-1].shape.setdefault(path, set()).update(types)
    return out


def event_differences(recorded: Sequence[Event], live: Sequence[Event]) -> list[str]:
    """The changes of a stream: its sequence of event names (what moved, went or came), then the shape of
    each event present in both."""
    before, after = collapsed(recorded), collapsed(live)
    found: list[str] = []
    matcher = difflib.SequenceMatcher(a=[r.name for r in before], b=[r.name for r in after], autojunk=False)
    opcodes = matcher.get_opcodes()
    if any(tag != "equal" for tag, *_ in opcodes):
        found.append(
            f"event order: recorded {', '.join(r.label for r in before)}; now {', '.join(r.label for r in after)}"
        )
        gone = [
            (i, before[i].name) for tag, i1, i2, _, _ in opcodes if tag in ("delete", "replace") for i in range(i1, i2)
        ]
        came = [
            (j, after[j].name) for tag, _, _, j1, j2 in opcodes if tag in ("insert", "replace") for j in range(j1, j2)
        ]
        for i, name in gone:
            moved = next((j for j, other in came if other == name), None)
            if moved is not None:
                came.remove((moved, name))
                found.append(f"event #{i + 1} `{name}`: moved to #{moved + 1}")
            else:
                found.append(f"event #{i + 1} `{name}`: missing now")
        found += [f"event #{j + 1} `{name}`: new" for j, name in came]
    for tag, i1, i2, j1, _ in opcodes:
        if tag != "equal":
            continue
        for offset in range(i2 - i1):
            old, new = before[i1 + offset], after[j1 + offset]
            for line in shape_differences(old.frozen(), new.frozen()):
                found.append(f"event #{j1 + offset + 1} `{new.name}` {line}")
    return found


# ── the check ────────────────────────────────────────────────────────────────────────────────────────


@dataclass
class Result:
    index: int
    interaction: Interaction
    platform: str
    differences: list[str] = field(default_factory=list)
    notes: list[str] = field(default_factory=list)
    checked: bool = True

    def lines(self) -> list[str]:
        head = f"#{self.index + 1} {self.interaction.method} {self.interaction.platform_path} ({self.platform or '?'})"
        verdict = "not checked" if not self.checked else "DRIFT" if self.differences else "ok"
        return [f"{head}: {verdict}"] + [f"    {d}" for d in self.differences] + [f"    note: {n}" for n in self.notes]


@dataclass
class Report:
    results: list[Result]

    @property
    def drifted(self) -> list[Result]:
        return [r for r in self.results if r.differences]

    @property
    def exit_code(self) -> int:
        return 1 if self.drifted else 0

    def text(self) -> str:
        lines = [line for result in self.results for line in result.lines()]
        checked = sum(1 for r in self.results if r.checked)
        counted = f"{checked} interaction{'' if checked == 1 else 's'}"
        lines.append(f"drift in {len(self.drifted)} of {counted}" if self.drifted else f"no drift in {counted}")
        return "\n".join(lines) + "\n"


def compare(recorded: Interaction, status: int, headers: Mapping[str, str], body: bytes) -> list[str]:
    """What differs between a recorded answer and a live one (`headers` with lower-case names), by status,
    JSON shape and event sequence."""
    found = []
    answer = recorded.response
    if answer.status != status:
        found.append(f"status: recorded {answer.status}, now {status}")
    live_type = _media(headers.get("content-type", ""))
    recorded_type = _media(answer.header("content-type") or "")
    if recorded_type != live_type:
        found.append(f"content type: recorded {recorded_type or '(none)'}, now {live_type or '(none)'}")
    elif live_type == "text/event-stream":
        before, after = events(answer.body), events(body)
        if not answer.complete:  # the recording's client hung up: what came after is not known
            after = after[: len(before)]
        found += event_differences(before, after)
    elif live_type.endswith("json"):
        before, after = _parsed(answer.body), _parsed(body)
        if before is not _NOT_JSON and after is not _NOT_JSON:
            found += shape_differences(shape(before), shape(after))
    return found


_NOT_JSON = object()


def _parsed(body: bytes) -> Any:
    try:
        return json.loads(body) if body else None
    except ValueError:
        return _NOT_JSON


def _media(content_type: str) -> str:
    return content_type.split(";")[0].strip().lower()


class Threads:
    """Ids the upstream chose: the recorded value → the live one, put into each later request."""

    def __init__(self) -> None:
        self.swaps: dict[str, str] = {}

    def apply(self, text: str) -> str:
        for recorded, live in self.swaps.items():
            if recorded in text:
                text = text.replace(recorded, live)
        return text

    def learn(self, recorded: Interaction, headers: Mapping[str, str], body: bytes) -> None:
        for name, values in recorded.response.headers.items():
            if _ID_KEY.search(name) and values and name.lower() in headers:
                self._pair(values[0], headers[name.lower()])
        if recorded.response.is_stream:
            before, after = events(recorded.response.body), events(body)
            matcher = difflib.SequenceMatcher(a=[e.name for e in before], b=[e.name for e in after], autojunk=False)
            for tag, i1, i2, j1, _ in matcher.get_opcodes():
                if tag == "equal":
                    for offset in range(i2 - i1):
                        self._walk(before[i1 + offset].data, after[j1 + offset].data)
        else:
            self._walk(_parsed(recorded.response.body), _parsed(body))

    def _walk(self, recorded: Any, live: Any, key: str = "") -> None:
        if isinstance(recorded, dict) and isinstance(live, dict):
            for name in recorded.keys() & live.keys():
                self._walk(recorded[name], live[name], name)
        elif isinstance(recorded, list) and isinstance(live, list):
            for old, new in zip(recorded, live, strict=False):
                self._walk(old, new, key)
        elif isinstance(recorded, str) and isinstance(live, str) and _ID_KEY.search(key):
            self._pair(recorded, live)

    def _pair(self, recorded: str, live: str) -> None:
        if recorded != live and len(recorded) >= _MIN_THREADED and recorded not in self.swaps:
            self.swaps[recorded] = live


def request_headers(
    interaction: Interaction, given: Mapping[str, str], threads: Threads
) -> tuple[list[tuple[str, str]], list[str]]:
    """The recorded request headers to send, with the user's in place of theirs; a header whose value was
    redacted cannot be sent as it is: it is left out unless given, and a note says so."""
    out: list[tuple[str, str]] = []
    notes: list[str] = []
    lowered = {name.lower() for name in given}
    for name, values in interaction.headers.items():
        if name.lower() in _NOT_SENT or name.lower() in lowered:
            continue
        for value in values:
            if _SECRET.search(value):
                notes.append(
                    f"the recorded {name} is redacted and was not sent; give it with "
                    f"--header {interaction.platform or 'PLATFORM'}:{name}=VALUE"
                )
                continue
            out.append((name, threads.apply(value)))
    out += list(given.items())
    return out, notes


async def check(
    cassette: Cassette,
    upstreams: Mapping[str, str],
    headers: Mapping[str, Mapping[str, str]] | None = None,
    limit: float = 300.0,
) -> Report:
    """Send each recorded request to its platform's upstream and compare the answers. `headers` are the
    user's, per platform (credentials the cassette holds redacted)."""
    headers = headers or {}
    threads = Threads()
    results: list[Result] = []
    async with aiohttp.ClientSession(timeout=aiohttp.ClientTimeout(total=limit)) as http:
        for index, interaction in enumerate(cassette.interactions):
            platform, path = platform_of(interaction)
            result = Result(index, interaction, platform)
            results.append(result)
            base = upstreams.get(platform)
            if base is None:
                result.checked = False
                result.notes.append(f"no --upstream for {platform or 'this platform'}")
                continue
            sent, notes = request_headers(interaction, headers.get(platform, {}), threads)
            result.notes += notes
            body = interaction.body
            if body is not None and _SECRET.search(body.decode("utf-8", errors="replace")):
                result.notes.append("the recorded body holds redacted secrets, sent as recorded")
            data = threads.apply(body.decode("utf-8", errors="surrogateescape")).encode(
                "utf-8", errors="surrogateescape"
            ) if body else None  # fmt: skip
            url = base.rstrip("/") + threads.apply(path)
            try:
                async with http.request(interaction.method, url, headers=sent, data=data) as response:
                    live = await response.read()
                    live_headers = {name.lower(): response.headers[name] for name in response.headers}
                    status = response.status
            except (TimeoutError, aiohttp.ClientConnectionError, OSError) as err:
                raise Unreachable(f"{url}: {err or type(err).__name__}") from err
            if not interaction.response.complete:
                result.notes.append("the recording was cut short by its client: compared as far as it goes")
            result.differences = compare(interaction, status, live_headers, live)
            threads.learn(interaction, live_headers, live)
    return Report(results)


def parse_headers(values: Iterable[str]) -> dict[str, dict[str, str]]:
    """`beeos:Authorization=Bearer …` (repeatable) → {platform: {name: value}}."""
    out: dict[str, dict[str, str]] = {}
    for value in values:
        platform, _, rest = value.partition(":")
        name, equals, header = rest.partition("=")
        if not platform.strip() or not name.strip() or not equals:
            raise ValueError(f"{value!r}: expected PLATFORM:Name=Value")
        out.setdefault(platform.strip(), {})[name.strip()] = header
    return out
