"""A small HTTP/1.1 client on asyncio protocols (stdlib only), light enough to drive thousands of
streams from one process: it parses Content-Length and chunked responses and time-stamps every
Server-Sent Events frame as it arrives."""

from __future__ import annotations

import asyncio
import re
import time
from dataclasses import dataclass, field
from typing import Any

SESSION_HEADER = "X-Mockagent-Session"  # the mock's (mockagent.sessions)

TOKEN = re.compile(rb"tok(\d\d)")


@dataclass(frozen=True)
class RequestSpec:
    """One request, sent as-is on every exchange — or, with `sessions`, naming that many mock sessions in
    turn (`X-Mockagent-Session: s0`, `s1` …; the n-th exchange or connection the n-th modulo `sessions`)."""

    method: str
    path: str
    headers: dict[str, str]
    body: str
    sessions: int = 0

    def session(self, index: int) -> str | None:
        return f"s{index % self.sessions}" if self.sessions else None

    def encode(self, host: str, port: int, index: int = 0) -> bytes:
        body = self.body.encode()
        lines = [f"{self.method} {self.path} HTTP/1.1", f"Host: {host}:{port}", f"Content-Length: {len(body)}"]
        lines += [f"{name}: {value}" for name, value in self.headers.items()]
        if (session := self.session(index)) is not None:
            lines.append(f"{SESSION_HEADER}: {session}")
        return ("\r\n".join(lines) + "\r\n\r\n").encode() + body

    def as_json(self) -> dict[str, Any]:
        fields = {"method": self.method, "path": self.path, "headers": self.headers, "body": self.body}
        return {**fields, "sessions": self.sessions}

    @classmethod
    def from_json(cls, data: dict[str, Any]) -> RequestSpec:
        return cls(data["method"], data["path"], dict(data["headers"]), data["body"], int(data.get("sessions", 0)))


@dataclass
class Exchange:
    """One request and its response, with the client's perf_counter times."""

    sent: float = 0.0
    head: float | None = None  # the status line and headers are in
    end: float | None = None  # the body is complete
    status: int = 0
    headers: dict[str, str] = field(default_factory=dict)  # names in lower case
    frames: list[tuple[float, int]] = field(default_factory=list)  # (arrival, token number or -1)
    body: bytes = b""

    @property
    def ok(self) -> bool:
        return self.end is not None and 200 <= self.status < 300

    def as_json(self) -> dict[str, Any]:
        return {
            "sent": self.sent,
            "head": self.head,
            "end": self.end,
            "status": self.status,
            "frames": self.frames,
        }


class _ResponseParser:
    """Incremental HTTP/1.1 response parser: feed bytes, learn when the head and the body are done."""

    def __init__(self, exchange: Exchange, record_frames: bool, keep_body: bool) -> None:
        self.exchange = exchange
        self.record_frames = record_frames
        self.keep_body = keep_body
        self._buffer = b""
        self._state = "head"
        self._remaining = 0  # body bytes (Content-Length) or bytes of the current chunk
        self._sse = b""
        self._seen: set[int] = set()
        self.done = False
        self.keep_alive = True

    def feed(self, data: bytes, now: float) -> bytes:
        """Consume `data`; return what is left over once the response is complete (the next one's)."""
        self._buffer += data
        while not self.done:
            before = (self._state, len(self._buffer))
            getattr(self, f"_step_{self._state}")(now)
            if (self._state, len(self._buffer)) == before:
                break
        rest, self._buffer = (self._buffer, b"") if self.done else (b"", self._buffer)
        return rest

    def _step_head(self, now: float) -> None:
        end = self._buffer.find(b"\r\n\r\n")
        if end < 0:
            return
        head, self._buffer = self._buffer[:end].decode("latin-1"), self._buffer[end + 4 :]
        status_line, *header_lines = head.split("\r\n")
        self.exchange.status = int(status_line.split(" ", 2)[1])
        self.exchange.head = now
        headers = {k.strip().lower(): v.strip() for k, _, v in (h.partition(":") for h in header_lines)}
        self.exchange.headers = headers
        self.keep_alive = headers.get("connection", "").lower() != "close"
        if headers.get("transfer-encoding", "").lower() == "chunked":
            self._state = "chunk_size"
        else:
            self._remaining = int(headers.get("content-length", "0"))
            self._state = "length"

    def _step_length(self, now: float) -> None:
        take = self._buffer[: self._remaining]
        self._buffer = self._buffer[len(take) :]
        self._remaining -= len(take)
        self._body(take, now)
        if self._remaining == 0:
            self._finish(now)

    def _step_chunk_size(self, now: float) -> None:
        end = self._buffer.find(b"\r\n")
        if end < 0:
            return
        size = int(self._buffer[:end].split(b";", 1)[0], 16)
        self._buffer = self._buffer[end + 2 :]
        self._remaining = size
        self._state = "chunk_data" if size else "trailer"

    def _step_chunk_data(self, now: float) -> None:
        if len(self._buffer) < self._remaining + 2:
            if self._remaining and self._buffer:  # deliver what is here; frames are timed on arrival
                take = self._buffer[: self._remaining]
                self._buffer = self._buffer[len(take) :]
                self._remaining -= len(take)
                self._body(take, now)
            return
        self._body(self._buffer[: self._remaining], now)
        self._buffer = self._buffer[self._remaining + 2 :]
        self._remaining = 0
        self._state = "chunk_size"

    def _step_trailer(self, now: float) -> None:
        end = self._buffer.find(b"\r\n")
        if end < 0:
            return
        self._buffer = self._buffer[end + 2 :]
        if end == 0:
            self._finish(now)

    def _body(self, data: bytes, now: float) -> None:
        if self.keep_body:
            self.exchange.body += data
        if not self.record_frames or not data:
            return
        self._sse += data
        while (cut := self._sse.find(b"\n\n")) >= 0:
            frame, self._sse = self._sse[:cut], self._sse[cut + 2 :]
            self.exchange.frames.append((now, frame_token(frame, self._seen)))

    def _finish(self, now: float) -> None:
        self.exchange.end = now
        self.done = True


def frame_token(frame: bytes, seen: set[int]) -> int:
    """The scripted chunk (tokNN) a frame carries, NN, noted in `seen`; -1 for a frame with none, and -2
    for a summary frame (one that repeats chunks already sent, such as a closing frame with the full text)."""
    found = [int(n) for n in TOKEN.findall(frame)]
    if not found:
        return -1
    if len(found) > 1 or found[0] in seen:
        return -2
    seen.add(found[0])
    return found[0]


class Connection(asyncio.Protocol):
    """A keep-alive connection that runs one exchange at a time."""

    def __init__(self, record_frames: bool = False, keep_body: bool = False) -> None:
        self.record_frames = record_frames
        self.keep_body = keep_body
        self.transport: asyncio.Transport | None = None
        self.closed = asyncio.get_running_loop().create_future()
        self._parser: _ResponseParser | None = None
        self._waiter: asyncio.Future[Exchange] | None = None

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        assert isinstance(transport, asyncio.Transport)
        self.transport = transport

    def data_received(self, data: bytes) -> None:
        parser = self._parser
        if parser is None:
            return
        parser.feed(data, time.perf_counter())
        if parser.done and self._waiter is not None and not self._waiter.done():
            self._parser = None
            self._waiter.set_result(parser.exchange)

    def connection_lost(self, exc: Exception | None) -> None:
        if self._waiter is not None and not self._waiter.done():
            self._waiter.set_result(self._parser.exchange if self._parser else Exchange())
        if not self.closed.done():
            self.closed.set_result(None)

    def send(self, request: bytes) -> asyncio.Future[Exchange]:
        """Write a request; the future resolves with its exchange (incomplete if the peer hung up)."""
        assert self.transport is not None
        exchange = Exchange()
        self._parser = _ResponseParser(exchange, self.record_frames, self.keep_body)
        self._waiter = asyncio.get_running_loop().create_future()
        exchange.sent = time.perf_counter()
        self.transport.write(request)
        return self._waiter

    def partial(self) -> Exchange:
        """The exchange in progress, with what has arrived so far (for one that did not finish in time)."""
        return self._parser.exchange if self._parser is not None else Exchange()

    @property
    def usable(self) -> bool:
        return self.transport is not None and not self.transport.is_closing()

    def close(self) -> None:
        if self.transport is not None:
            self.transport.close()


async def connect(host: str, port: int, *, record_frames: bool = False, keep_body: bool = False) -> Connection:
    loop = asyncio.get_running_loop()
    _, protocol = await loop.create_connection(lambda: Connection(record_frames, keep_body), host, port)
    return protocol
