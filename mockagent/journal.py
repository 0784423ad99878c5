"""What each session was asked and answered: every request, what decided its answer, and the answer itself —
headers, body, or a stream's frames with their times — for `GET /__mockagent/journal`, the event feed, the
`--journal FILE` mirror and the verification helpers of tests.

An entry is in its session's journal from the moment the request is received, and is filled in as the answer
goes out (its first byte, each frame, its end), so a test can read a stream that is still open.

Recording must cost next to nothing on the request path, so an entry holds references — the request's headers,
the body bytes already read, the response's body — and does all its work when it is read (`Entry.as_json`):
decoding, parsing, and redacting every secret with the cassettes' rules (`replay.redaction`). No view of the
journal (the admin API, the feed, the file, the fixtures) ever shows a secret; the process holds them only as
long as it holds the request.

Bounded (CHOSEN, docs/admin.md#journal): at most `size` entries and `budget` bytes of captured bodies and
frames per session, the oldest dropped first; a body is kept up to `MAX_BODY` bytes and a stream's frames up to
`MAX_FRAMES` bytes, the rest marked truncated.
"""

from __future__ import annotations

import heapq
import itertools
import logging
import time
from array import array
from collections import deque
from collections.abc import Callable, Iterable, Iterator, Mapping
from dataclasses import dataclass
from enum import StrEnum
from fnmatch import fnmatchcase
from operator import itemgetter
from pathlib import Path
from typing import TYPE_CHECKING, Any, Protocol

from aiohttp import web
from multidict import CIMultiDict

from mockagent.clock import Clock
from mockagent.digests import digest
from mockagent.encoding import dumps, loads

if TYPE_CHECKING:
    from mockagent.replay.redaction import Redactor

#: CHOSEN: entries each session keeps, and the bytes of bodies and frames they may hold between them.
JOURNAL_SIZE = 1_000
JOURNAL_BUDGET = 8 * 1024 * 1024
#: CHOSEN: the most bytes of one body, and of one stream's frames, an entry keeps.
MAX_BODY = 64 * 1024
MAX_FRAMES = 256 * 1024
_OVERHEAD = 512  # what an entry costs beside its bodies, counted against the budget
_NO_ENDS: array[int] = array("q")  # shared by the entries of answers that are no stream (never appended to)
_NO_ATS: array[float] = array("d")
log = logging.getLogger("mockagent")


class Decided(StrEnum):
    """What decided an answer."""

    REPLY = "reply"  # a scenario reply
    SEQUENCE = "sequence"  # an item of a reply's sequence
    CONTINUATION = "continuation"  # the rest of a script an earlier turn paused in text
    STUB = "stub"  # a raw stub
    CASSETTE = "cassette"  # a recorded interaction
    UNMATCHED = "unmatched"  # nothing: see the explanation
    PLATFORM = "platform"  # the platform's own logic (a poll, a resume, a validation error, a fault)


class State(StrEnum):
    RECEIVED = "received"
    STREAMING = "streaming"
    ANSWERED = "answered"
    CLOSED = "closed"  # the client hung up before the answer was over


Ids = Callable[[], int]


#: Ids each process of a server sharing Redis has of its own (CHOSEN: a trillion; process k's start at
#: k * this + 1), so that an entry one process forwards to another's feed is told from that one's own.
IDS_PER_PROCESS = 10**12


def counter(process: int = 0) -> Ids:
    """Entry ids for a server: increasing across all its sessions, so that one `since` pages them all."""
    return itertools.count(process * IDS_PER_PROCESS + 1).__next__


class Entry:
    """One request and its answer (see the module's docstring for what it holds and when it is filled in)."""

    # Made on every request: slots, and only references until read.
    __slots__ = (
        "agent",
        "client",
        "conversation",
        "decided",
        "ended",
        "endpoint",
        "explanation",
        "fault",
        "first_byte",
        "frame_ats",
        "frame_data",
        "frame_ends",
        "id",
        "item",
        "journal",
        "kept",
        "method",
        "mirrored",
        "path",
        "platform",
        "query",
        "real_ended",
        "real_first_byte",
        "real_received",
        "received",
        "request_body",
        "request_headers",
        "request_truncated",
        "response_body",
        "response_headers",
        "response_truncated",
        "run",
        "run_status",
        "session",
        "size",
        "source",
        "state",
        "status",
    )

    def __init__(
        self,
        session: str,
        method: str,
        path: str,
        received: float,
        *,
        platform: str | None = None,
        endpoint: str | None = None,
        query: Mapping[str, str] | None = None,
        headers: Mapping[str, str] | None = None,
    ) -> None:
        self.id = 0  # given by the journal it is added to
        self.session = session
        self.platform = platform
        self.endpoint = endpoint
        self.method = method
        self.path = path
        self.query = query
        self.request_headers = headers
        self.received = received
        self.real_received = time.time()
        self.first_byte: float | None = None
        self.real_first_byte: float | None = None
        self.ended: float | None = None
        self.real_ended: float | None = None
        self.state = State.RECEIVED
        self.status: int | None = None  # set as the answer begins
        self.agent: str | None = None
        self.run: str | None = None
        self.run_status: str | None = None  # the run's status when the answer went out (what a poll showed)
        self.conversation: str | None = None
        self.decided = Decided.PLATFORM
        self.source: str | None = None  # where the reply, stub or interaction that answered is declared
        self.item: int | None = None  # the sequence item (0-based)
        self.explanation: str | None = None
        self.fault: str | None = None
        self.request_body: bytes | None = None
        self.response_headers: Mapping[str, str] | None = None
        self.response_body: bytes | None = None
        # A stream's frames, packed: their bytes end to end, where each ends, and its moment (a list of
        # (moment, bytes) costs ~150 bytes a frame; this, 16). None: the answer is no stream.
        self.frame_data: bytearray | None = None
        self.frame_ends: array[int] = _NO_ENDS
        self.frame_ats: array[float] = _NO_ATS
        self.request_truncated = False
        self.response_truncated = False
        self.size = _OVERHEAD
        self.journal: Journal | None = None  # the journal counting its bytes (None once dropped)
        self.mirrored = False  # the `--journal FILE` mirror will write it whole, dropped or not
        # Rebuilt from the JSON kept in Redis (`from_json`): its headers are redacted, so its client is told by
        # `client`, the digest of its credential kept in the credential's place.
        self.kept = False
        self.client: str | None = None

    @property
    def unmatched(self) -> bool:
        return self.decided is Decided.UNMATCHED

    @property
    def done(self) -> bool:
        return self.state is State.ANSWERED or self.state is State.CLOSED

    # ── filled in as the answer goes out ─────────────────────────────────────────────────────────

    def started(self, at: float, status: int, streaming: bool) -> None:
        if self.first_byte is not None:
            return
        self.status = status
        self.first_byte = at
        self.real_first_byte = time.time()
        if streaming:
            self.state = State.STREAMING
            self._pack()

    def frame(self, at: float, raw: bytes) -> None:
        """A stream's frame as it was sent (before any stream fault cut it, which the client sees). An entry
        no view will read (dropped past the journal's bounds, or the journal is off) keeps none."""
        if self.journal is None and not self.mirrored:
            return
        data = self.frame_data
        if data is None:
            data = self._pack()
        if len(data) + len(raw) > MAX_FRAMES:
            self.response_truncated = True
            return
        data += raw
        self.frame_ends.append(len(data))
        self.frame_ats.append(at)
        self._grow(len(raw))

    def _pack(self) -> bytearray:
        self.frame_ends, self.frame_ats = array("q"), array("d")
        data = self.frame_data = bytearray()
        return data

    @property
    def frames(self) -> list[tuple[float, bytes]] | None:
        """A stream's frames as sent, each with its moment (None: the answer is no stream)."""
        data = self.frame_data
        if data is None:
            return None
        ends = self.frame_ends
        starts = itertools.chain((0,), ends)  # one longer than `ends`: the last start is no frame's
        return [(at, bytes(data[start:end])) for at, start, end in zip(self.frame_ats, starts, ends, strict=False)]

    def keep_request_body(self, body: bytes | None) -> None:
        if body:
            self.request_body, self.request_truncated = self._kept(body)

    def keep_response(self, headers: Mapping[str, str], body: bytes | None) -> None:
        self.response_headers = headers
        if body:
            self.response_body, self.response_truncated = self._kept(body)

    def _kept(self, body: bytes) -> tuple[bytes, bool]:
        """What of a body the entry keeps (its first MAX_BODY bytes), counted, and whether it was cut."""
        kept = body[:MAX_BODY]
        self._grow(len(kept))
        return kept, len(kept) < len(body)

    def _grow(self, size: int) -> None:
        self.size += size
        if self.journal is not None:
            self.journal.grew(size)

    def end(self, at: float, status: int, *, closed: bool = False) -> None:
        self.status = status
        self.ended = at
        self.real_ended = time.time()
        self.state = State.CLOSED if closed else State.ANSWERED

    # ── read ─────────────────────────────────────────────────────────────────────────────────────

    def summary(self, clock: Clock) -> dict[str, Any]:
        """The entry without its headers, bodies and frames (what the event feed sends)."""
        return {
            "id": self.id,
            "session": self.session,
            "platform": self.platform,
            "endpoint": self.endpoint,
            "method": self.method,
            "path": self.path,
            "agent": self.agent,
            "run": self.run,
            "run_status": self.run_status,
            "conversation": self.conversation,
            "decision": {"kind": self.decided.value, "source": self.source, "item": self.item},
            "explanation": self.explanation,
            "fault": self.fault,
            "status": self.status,
            "state": self.state.value,
            "at": clock.wall(self.received).isoformat(timespec="milliseconds"),
            "timings": {
                "received": self.received,
                "first_byte": self.first_byte,
                "ended": self.ended,
                "real_received": self.real_received,
                "real_first_byte": self.real_first_byte,
                "real_ended": self.real_ended,
            },
        }

    def as_json(self, clock: Clock, redactor: Redactor) -> dict[str, Any]:
        """The whole entry, every secret in it redacted."""
        query = {name: _param(redactor, name, value) for name, value in (self.query or {}).items()}
        frames = None
        if (sent := self.frames) is not None:
            frames = [
                {"at": at, "data": redactor.redact_text(raw.decode("utf-8", "replace").rstrip("\n"))}
                for at, raw in sent
            ]
        return self.summary(clock) | {
            "query": query,
            "request": {
                "headers": _headers(redactor, self.request_headers),
                "body": _body(redactor, self.request_body),
                "truncated": self.request_truncated,
            },
            "response": {
                "headers": _headers(redactor, self.response_headers),
                "body": _body(redactor, self.response_body),
                "frames": frames,
                "truncated": self.response_truncated,
            },
        }

    def as_kept(self, clock: Clock, redactor: Redactor, key: str) -> dict[str, Any]:
        """The whole entry as every process of a server sharing Redis keeps it (mockagent.shared.journal):
        `as_json`, and `client`, the digest of its credential keyed by `key` (the server's name), or None —
        what tells one client from another there, where the credential itself never goes."""
        credential = credential_of(self.request_headers)
        return self.as_json(clock, redactor) | {"client": None if credential is None else digest(credential, key)}

    @classmethod
    def from_json(cls, data: Mapping[str, Any]) -> Entry:
        """An entry rebuilt from what `as_kept` made of it, for verification and the verdicts through any
        process of a server sharing Redis. It holds what that JSON shows, no more: headers, query, bodies and
        frames redacted (so a body pattern on a secret field cannot match; the client is told by `client`), a
        JSON body re-encoded from its parsed form, and each frame's text without the newlines that ended it.
        It belongs to no journal: nothing counts its bytes."""
        timings = data["timings"]
        request: Mapping[str, Any] = data.get("request") or {}
        response: Mapping[str, Any] = data.get("response") or {}
        entry = cls(
            data["session"],
            data["method"],
            data["path"],
            timings["received"],
            platform=data.get("platform"),
            endpoint=data.get("endpoint"),
            query=data.get("query") or {},
            # Case-insensitive, as the request's own headers are: a verdict reads Last-Event-ID however sent.
            headers=CIMultiDict(request.get("headers") or {}),
        )
        entry.id = data["id"]
        entry.real_received = timings["real_received"]
        entry.first_byte, entry.real_first_byte = timings.get("first_byte"), timings.get("real_first_byte")
        entry.ended, entry.real_ended = timings.get("ended"), timings.get("real_ended")
        entry.state = State(data["state"])
        entry.status = data.get("status")
        entry.agent, entry.run, entry.run_status = data.get("agent"), data.get("run"), data.get("run_status")
        entry.conversation = data.get("conversation")
        decision: Mapping[str, Any] = data.get("decision") or {}
        entry.decided = Decided(decision.get("kind", Decided.PLATFORM.value))
        entry.source, entry.item = decision.get("source"), decision.get("item")
        entry.explanation, entry.fault = data.get("explanation"), data.get("fault")
        entry.request_body = _encoded(request.get("body"))
        entry.request_truncated = bool(request.get("truncated"))
        entry.response_headers = CIMultiDict(response.get("headers") or {})
        entry.response_body = _encoded(response.get("body"))
        entry.response_truncated = bool(response.get("truncated"))
        frames = response.get("frames")
        if frames is not None:
            packed = entry._pack()
            for frame in frames:
                packed += str(frame["data"]).encode("utf-8", "surrogatepass")
                entry.frame_ends.append(len(packed))
                entry.frame_ats.append(frame["at"])
        entry.kept, entry.client = True, data.get("client")
        return entry

    def body_json(self) -> Any:
        """The request's body, parsed (None when it has none or it is not JSON): what body patterns match."""
        if not self.request_body:
            return None
        try:
            return loads(self.request_body.decode("utf-8"))
        except (ValueError, UnicodeDecodeError):
            return None


def credential_of(headers: Mapping[str, str] | None) -> str | None:
    """What tells one client from another (the verdicts' "same client"): its `Authorization`, else its
    `x-api-key`."""
    if headers is None:
        return None
    return headers.get("Authorization") or headers.get("x-api-key")


def _encoded(shown: Any) -> bytes | None:
    """A body's bytes again from how the journal shows it: its text, or its parsed JSON re-encoded."""
    if shown is None:
        return None
    text = shown if isinstance(shown, str) else dumps(shown)
    return text.encode("utf-8", "surrogatepass")


def _param(redactor: Redactor, name: str, value: str) -> str:
    found = redactor.param_value(name, value)
    return redactor.redact_uri(value) if found is None else found


def _headers(redactor: Redactor, headers: Mapping[str, str] | None) -> dict[str, str]:
    if headers is None:
        return {}
    shown: dict[str, str] = {}
    for name, value in headers.items():
        redacted = redactor.redact_header_value(name, value)
        # A repeated header is shown once, its values joined as HTTP would fold them.
        shown[name] = f"{shown[name]}, {redacted}" if name in shown else redacted
    return shown


def _body(redactor: Redactor, body: bytes | None) -> Any:
    if not body:
        return None
    try:
        text = body.decode("utf-8")
    except UnicodeDecodeError:
        return f"<{len(body)} bytes, not UTF-8>"
    try:
        return redactor.redact_json(loads(text))
    except ValueError:
        return redactor.redact_text(text)


class Filtered(Protocol):
    """What a query reads of an entry: this process's (`Entry`), or one kept in Redis for every process."""

    @property
    def id(self) -> int: ...
    @property
    def platform(self) -> str | None: ...
    @property
    def agent(self) -> str | None: ...
    @property
    def method(self) -> str: ...
    @property
    def path(self) -> str: ...
    @property
    def status(self) -> int | None: ...
    @property
    def run(self) -> str | None: ...
    @property
    def unmatched(self) -> bool: ...


@dataclass(frozen=True, slots=True)
class Kept:
    """An entry as every process of a server sharing Redis keeps it (mockagent.shared.journal): what a
    `Query` reads of it, and the whole of it, as the admin API shows it."""

    seq: float
    id: int
    session: str
    platform: str | None
    agent: str | None
    method: str
    path: str
    status: int | None
    run: str | None
    unmatched: bool
    size: int
    json: dict[str, Any]


def rebuilt(kept: Iterable[Kept]) -> list[Entry]:
    """The entries every process keeps, as `Entry` objects (`Entry.from_json`) in the order they were received,
    as one process's journal is: by the wall clock of the process that received each (CHOSEN: the processes
    of a server read one wall clock, as the verdicts on the real clock already need), ties in the server's
    order. An entry that is not one (Redis is a store other programs may write to) is left out, logged."""
    found: list[tuple[float, float, Entry]] = []
    for entry in kept:
        try:
            made = Entry.from_json(entry.json)
        except (KeyError, TypeError, ValueError) as err:
            log.warning("journal entry %s in Redis is left out of verification: %r", entry.id, err)
            continue
        found.append((made.real_received, entry.seq, made))
    found.sort(key=itemgetter(0, 1))
    return [made for _, _, made in found]


@dataclass(frozen=True, slots=True)
class Query:
    """What `Journal.select` returns entries for: every field that is set must hold."""

    platform: str | None = None
    agent: str | None = None
    method: str | None = None
    path: str | None = None  # a glob (fnmatch): /beeos/*
    status: str | None = None  # "429", or a class: "4xx"
    unmatched: bool | None = None
    run: str | None = None  # the entries that served this run
    since: int = 0  # entries after this id

    def holds(self, entry: Filtered) -> bool:
        if entry.id <= self.since:
            return False
        if self.platform is not None and entry.platform != self.platform:
            return False
        if self.agent is not None and entry.agent != self.agent:
            return False
        if self.method is not None and entry.method != self.method.upper():
            return False
        if self.unmatched is not None and entry.unmatched != self.unmatched:
            return False
        if self.run is not None and entry.run != self.run:
            return False
        if self.status is not None and not _status_holds(self.status, entry.status):
            return False
        return self.path is None or fnmatchcase(entry.path, self.path)


def _status_holds(wanted: str, status: int | None) -> bool:
    if status is None:
        return False
    if len(wanted) == 3 and wanted[1:].lower() == "xx":
        return str(status)[0] == wanted[0]
    return str(status) == wanted


class Journal:
    """A session's entries, oldest first: at most `size` of them and `budget` bytes (oldest dropped first).
    A size of 0 keeps none (`--journal-size 0`: the journal is off)."""

    def __init__(self, ids: Ids, size: int = JOURNAL_SIZE, budget: int = JOURNAL_BUDGET) -> None:
        self._ids = ids
        self.size = size
        self.budget = budget
        self.bytes = 0
        self._entries: deque[Entry] = deque()

    def add(self, entry: Entry) -> Entry:
        """`entry`, given its id, in the journal from now on."""
        entry.id = self._ids()
        if self.size:
            entry.journal = self
            entries = self._entries
            entries.append(entry)
            self.bytes += entry.size
            if len(entries) > self.size or self.bytes > self.budget:
                self._trim()
        return entry

    def grew(self, size: int) -> None:
        self.bytes += size
        if self.bytes > self.budget:
            self._trim()

    def _trim(self) -> None:
        entries = self._entries
        while entries and (len(entries) > self.size or self.bytes > self.budget):
            dropped = entries.popleft()
            dropped.journal = None
            self.bytes -= dropped.size

    def __iter__(self) -> Iterator[Entry]:
        return iter(list(self._entries))

    def __len__(self) -> int:
        return len(self._entries)

    def get(self, entry_id: int) -> Entry | None:
        for entry in self._entries:
            if entry.id == entry_id:
                return entry
        return None

    def select(self, query: Query) -> list[Entry]:
        return [entry for entry in self._entries if query.holds(entry)]

    def clear(self) -> int:
        """Forget every entry; how many there were."""
        count = len(self._entries)
        for entry in self._entries:
            entry.journal = None
        self._entries.clear()
        self.bytes = 0
        return count


#: Where a request's entry is kept on the request, for what writes its answer (a stream's frames).
ENTRY = web.RequestKey("mockagent.entry", Entry)


def in_order(journals: Iterable[Iterable[Entry]]) -> Iterator[Entry]:
    """The entries of several journals (sessions) as one, oldest first: ids increase across sessions."""
    return heapq.merge(*journals, key=_entry_id)


def _entry_id(entry: Entry) -> int:
    return entry.id


class Mirror:
    """The `--journal FILE` mirror: each answered request appended as one JSON line, redacted as every view
    of the journal is, and flushed at once, so that a demo or a CI run that is killed leaves a readable
    record of everything answered before. A write that fails is logged once and the server goes on."""

    def __init__(self, path: Path) -> None:
        self.path = path
        self._file = path.open("a", encoding="utf-8")
        self._failed = False

    def write(self, entry: Entry, clock: Clock, redactor: Redactor) -> None:
        if self._failed:
            return
        try:
            self._file.write(dumps(entry.as_json(clock, redactor)) + "\n")
            self._file.flush()
        except (OSError, ValueError) as err:
            self._failed = True
            log.error("the journal file %s can no longer be written: %s", self.path, err)

    def close(self) -> None:
        self._file.close()
