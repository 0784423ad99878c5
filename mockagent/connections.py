"""The connections themselves: how many a client may hold and for how long, and the requests aiohttp's HTTP
parser refuses before any route sees them.

aiohttp answers a request it cannot parse — a malformed request line, an over-long header line, a control
character in a header, a Content-Length that is not a number — itself, as text/plain quoting the offending
bytes, and logs it at ERROR with a traceback whose message holds the raw header line: a credential in it
reached the log. A `Connection` answers it in a JSON envelope instead — the platform's where the request
line names one, else mockagent's own ``{"error": …}`` — that quotes nothing the client sent, and logs one
line naming the kind of problem.
So is an ``Expect`` other than 100-continue, which aiohttp refuses the same way before any middleware runs
(`Runner` wraps the application's handler for it).

Limits (CHOSEN; `Settings`, ``mockagent serve --header-timeout …``; real seconds, whatever the clock):

- ``header_timeout``: a request head must arrive whole within it of its first byte (or of the connection
  opening); else a 408 and the connection is closed. A slowloris client holds a connection that long.
- ``idle_timeout``: a keep-alive connection with no request in it is closed after it (aiohttp's
  keep-alive timeout).
- ``body_timeout``: a request body must arrive whole within it of its handler reading it (see
  `mockagent.platforms.bodies.read_body`): else the platform's 400.
- ``write_timeout``: a client that takes nothing of what we send for this long, while our send buffer is
  full, is cut off; its run is cancelled as for a hang-up.
- ``max_connections``: past it, a new connection gets a 503 and is closed at once. It is lowered to what
  the file-descriptor limit allows (less `FD_RESERVE`), so that the server never runs out of descriptors
  to accept with (asyncio then logs every failed accept, hundreds of lines a second).

Conditions a client can cause over and over (malformed requests, refused connections, timeouts) are logged
at most once per `LOG_INTERVAL`, with how many there were since.
"""

from __future__ import annotations

import asyncio
import logging
import math
import os
import re
import time
from collections.abc import Awaitable, Callable
from typing import Any

from aiohttp import web
from aiohttp.http_exceptions import (
    BadHttpMethod,
    BadStatusLine,
    ContentLengthError,
    HttpProcessingError,
    InvalidHeader,
    InvalidURLError,
    LineTooLong,
    TransferEncodingError,
)
from aiohttp.http_parser import RawRequestMessage

from mockagent.app import render_at
from mockagent.appkeys import GUARD
from mockagent.encoding import dumps
from mockagent.errors import ApiError, ErrorKind
from mockagent.settings import Settings

try:
    import resource
except ImportError:  # Windows has no such module, and no descriptor limit to read
    resource = None  # type: ignore[assignment]

log = logging.getLogger("mockagent")

#: CHOSEN: a condition a client can repeat is logged at most once per this many (real) seconds.
LOG_INTERVAL = 10.0
#: CHOSEN: file descriptors kept free of connections, for uploads on disk and the process's own files.
FD_RESERVE = 32
_PEEK = 2048  # how much of a request's first bytes is kept to find its path if its head turns out malformed
_REQUEST_LINE = re.compile(rb"[A-Za-z]{1,16} (/[^ ?#\r\n]*)")


class Throttle:
    """Logs each kind of condition at most once per `interval` (real seconds), counting the others."""

    def __init__(self, logger: logging.Logger, interval: float = LOG_INTERVAL) -> None:
        self.logger = logger
        self.interval = interval
        self._last: dict[str, tuple[float, int]] = {}  # kind → (when last logged, how many since)

    def log(self, kind: str, level: int, message: str, *args: object) -> None:
        now = time.monotonic()
        last, since = self._last.get(kind, (-math.inf, 0))
        if now - last < self.interval:
            self._last[kind] = (last, since + 1)
            return
        self._last[kind] = (now, 0)
        if since:
            message += " (and %d more like it in the last %.0f s)"
            args = (*args, since, now - last)
        self.logger.log(level, message, *args)


def connection_limit(wanted: int) -> int:
    """`wanted`, or fewer: what the process's file-descriptor limit leaves after the descriptors already open
    and `FD_RESERVE`."""
    if resource is None:
        return wanted
    soft, _ = resource.getrlimit(resource.RLIMIT_NOFILE)
    if soft == resource.RLIM_INFINITY:
        return wanted
    try:
        in_use = len(os.listdir("/dev/fd"))
    except OSError:
        in_use = 0
    return max(1, min(wanted, soft - in_use - FD_RESERVE))


class Guard:
    """What the connections of one server share: its limits, how many are open, and the log throttle."""

    def __init__(self, app: web.Application, settings: Settings) -> None:
        self.app = app
        self.header_timeout = settings.header_timeout
        self.write_timeout = settings.write_timeout
        self.max_connections = connection_limit(settings.max_connections)
        if self.max_connections < settings.max_connections:
            log.warning(
                "at most %d connections at once (asked for %d): that is what the file-descriptor limit allows"
                " (raise it with ulimit -n)",
                self.max_connections,
                settings.max_connections,
            )
        self.open = 0
        self.log = Throttle(log)


class Connection(web.RequestHandler):
    """aiohttp's connection, with a head timeout, a write timeout, the connection limit, and malformed requests
    answered in JSON (see the module docstring)."""

    __slots__ = (
        "_counted",
        "_guard",
        "_head",
        "_head_deadline",
        "_head_timer",
        "_malformed_head",
        "_write_buffered",
        "_write_timer",
    )

    def __init__(self, manager: _Server, **kwargs: Any) -> None:
        super().__init__(manager, **kwargs)
        self._guard = manager.guard
        self._counted = False
        self._head = b""  # the first bytes of the request being parsed
        self._malformed_head = b""  # … of the one the parser refused
        self._head_deadline: float | None = None  # when the head being awaited must be whole (loop time)
        self._head_timer: asyncio.TimerHandle | None = None
        self._write_timer: asyncio.TimerHandle | None = None
        self._write_buffered = 0  # bytes our send buffer held when the write timer was last set

    # ── the connection limit ─────────────────────────────────────────────────────────────────────

    def connection_made(self, transport: Any) -> None:
        guard = self._guard
        if guard.open >= guard.max_connections:
            guard.log.log("limit", logging.WARNING, "refused connections past %d open at once", guard.max_connections)
            transport.write(_raw(503, "Service Unavailable", f"too many connections: at most {guard.max_connections}"))
            transport.close()
            _uncycle(transport)
            return
        guard.open += 1
        self._counted = True
        super().connection_made(transport)
        self._expect_head()

    def connection_lost(self, exc: BaseException | None) -> None:
        if not self._counted:
            return  # refused: it never became one of the server's connections
        self._counted = False
        self._guard.open -= 1
        for timer in (self._head_timer, self._write_timer):
            if timer is not None:
                timer.cancel()
        self._head_timer = self._write_timer = None
        transport = self.transport
        super().connection_lost(exc)
        _uncycle(transport)

    # ── the head timeout ─────────────────────────────────────────────────────────────────────────

    def data_received(self, data: bytes) -> None:
        if not data:
            super().data_received(data)
            return
        count = self._request_count
        waiter = self._waiter
        if self._head_deadline is None and waiter is not None and not waiter.done():
            self._expect_head()  # the first bytes of a new request on an idle connection
        if self._head_deadline is not None and not self._head:
            self._head = data[:_PEEK]  # a head begins here (body bytes are never kept)
        super().data_received(data)
        if self._request_count != count:  # a head came out whole (or as a parse error)
            # The first head the parser refuses is the one answered (the connection closes after it; what
            # follows it is more of the same request, refused again).
            if not self._malformed_head and self._messages and not isinstance(self._messages[-1][0], RawRequestMessage):
                self._malformed_head = self._head
            self._head = b""
            self._head_deadline = None

    def _expect_head(self) -> None:
        # One timer serves many heads (as aiohttp's keep-alive timer does): a head that arrives in time only
        # clears the deadline, and a timer that finds a later deadline waits for that one. A timer made
        # and cancelled for every request would be paid on every request.
        self._head_deadline = deadline = self._loop.time() + self._guard.header_timeout
        if self._head_timer is None:
            self._head_timer = self._loop.call_at(deadline, self._head_overdue)

    def _head_overdue(self) -> None:
        self._head_timer = None
        deadline = self._head_deadline
        if deadline is None or self.transport is None:
            return
        if self._loop.time() < deadline:
            self._head_timer = self._loop.call_at(deadline, self._head_overdue)
            return
        waiter = self._waiter
        if waiter is None or waiter.done():  # a request in hand: its head did arrive
            self._head_deadline = None
            return
        timeout = self._guard.header_timeout
        self._guard.log.log(
            "head", logging.WARNING, "closed connections whose request head did not arrive within %g s", timeout
        )
        self.transport.write(_raw(408, "Request Timeout", f"the request head did not arrive within {timeout:g} s"))
        self.force_close()

    # ── the write timeout ────────────────────────────────────────────────────────────────────────

    def pause_writing(self) -> None:
        super().pause_writing()
        if self._write_timer is None:
            self._set_write_timer()

    def _set_write_timer(self) -> None:
        self._write_buffered = self.transport.get_write_buffer_size() if self.transport is not None else 0
        self._write_timer = self._loop.call_later(self._guard.write_timeout, self._write_overdue)

    def resume_writing(self) -> None:
        super().resume_writing()
        if self._write_timer is not None:
            self._write_timer.cancel()
            self._write_timer = None

    def _write_overdue(self) -> None:
        self._write_timer = None
        if self.transport is None or not self.writing_paused:
            return
        if self.transport.get_write_buffer_size() < self._write_buffered:
            # It took some of what we sent: a slow reader, not a gone one. A frame larger than a reader takes in
            # one timeout (a BeeOS `done` that repeats the text, a file download) keeps our writes paused from
            # its first byte to its last, so being paused that long is no sign of a client that is gone.
            self._set_write_timer()
            return
        self._guard.log.log(
            "write",
            logging.WARNING,
            "cut off clients that took nothing of their response for %g s",
            self._guard.write_timeout,
        )
        self.transport.abort()  # connection_lost follows: the handler is cancelled, as for a hang-up

    # ── what aiohttp answers itself ──────────────────────────────────────────────────────────────

    def handle_error(
        self,
        request: web.BaseRequest,
        status: int = 500,
        exc: BaseException | None = None,
        message: str | None = None,
    ) -> web.StreamResponse:
        if request.writer.output_size > 0:  # as aiohttp: a response already begun cannot be replaced
            raise ConnectionError("Response is sent already, cannot send another response with the error message")
        path: str | None = None
        if isinstance(exc, HttpProcessingError):
            reason = _malformed(exc)
            peer = request.remote or "?"
            self._guard.log.log("malformed", logging.WARNING, "refused a malformed request from %s: %s", peer, reason)
            error = ApiError(ErrorKind.BAD_REQUEST, f"malformed request: {reason}")
            found = _REQUEST_LINE.match(self._malformed_head)
            path = found[1].decode("latin-1") if found else None
        else:  # a bug of ours that escaped the error middleware
            log.error("unhandled error answering a request", exc_info=exc)
            error = ApiError(ErrorKind.INTERNAL, "internal error in mockagent")
        response = render_at(self._guard.app, path, error)
        response.force_close()
        return response

    def log_exception(self, *args: Any, **kwargs: Any) -> None:
        """aiohttp's own error log. A request body the client broke (its chunking, its encoding) ends here
        once the answer is sent: one line, without the exception's message, which quotes the raw bytes."""
        exc = kwargs.get("exc_info")
        if isinstance(exc, web.RequestPayloadError | HttpProcessingError):
            self._guard.log.log("payload", logging.WARNING, "closed connections whose request body was malformed")
            return
        super().log_exception(*args, **kwargs)


def _malformed(exc: HttpProcessingError) -> str:
    """What is wrong with a request aiohttp's parser refused, without quoting any of it (its message does)."""
    if isinstance(exc, LineTooLong):
        return "a line of its head is too long"
    if isinstance(exc, BadHttpMethod):
        return "its method is not an HTTP method"
    if isinstance(exc, BadStatusLine):
        return "its request line is malformed"
    if isinstance(exc, InvalidURLError):
        return "its request target is malformed"
    if isinstance(exc, ContentLengthError | TransferEncodingError):
        return "its body does not match its framing"
    # The C parser raises a plain BadHttpMessage for most header problems; its message says which.
    if "Content-Length" in exc.message:
        return "its Content-Length is not a length"
    if isinstance(exc, InvalidHeader) or "header" in exc.message.lower():
        return "a header is malformed"
    return "its head is malformed"


def _uncycle(transport: object) -> None:
    """Let reference counting free a closed transport. CPython's selector transport holds a bound method of
    itself (`_read_ready_cb`) for as long as it lives, so every connection ends as a reference cycle, left to
    the cycle collector — which `mockagent serve` keeps off whatever survived its last freeze
    (`mockagent.collector`): under unbroken load each closed connection stayed, ~1 KB, until the server next
    went idle. A closed transport reads no more (its reader is removed as it closes), so the method can go."""
    if getattr(transport, "_read_ready_cb", None) is not None:
        setattr(transport, "_read_ready_cb", None)  # noqa: B010  # private to asyncio: mypy knows no such field


def _raw(status: int, reason: str, message: str) -> bytes:
    """A whole response written straight to a connection no request handler has (mockagent's envelope)."""
    body = dumps({"error": message}).encode("utf-8", "backslashreplace")
    head = (
        f"HTTP/1.1 {status} {reason}\r\nContent-Type: application/json; charset=utf-8\r\n"
        f"Content-Length: {len(body)}\r\nConnection: close\r\n\r\n"
    )
    return head.encode("ascii") + body


class _Server(web.Server):
    """aiohttp's server, making `Connection`s."""

    def __init__(self, guard: Guard, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.guard = guard

    def __call__(self) -> Connection:
        return Connection(self, loop=self._loop, **self._kwargs)


def _expectations_refused(
    app: web.Application, handle: Callable[[web.BaseRequest], Awaitable[web.StreamResponse]]
) -> Callable[[web.BaseRequest], Awaitable[web.StreamResponse]]:
    """aiohttp refuses an `Expect` other than 100-continue itself, before any middleware, with a text/plain
    417 that quotes the header: here it is the platform's 400 (as for any request aiohttp refuses), quoting
    nothing."""

    async def handler(request: web.BaseRequest) -> web.StreamResponse:
        try:
            return await handle(request)
        except web.HTTPExpectationFailed:
            message = "malformed request: its Expect is not 100-continue"
            return render_at(app, request.path, ApiError(ErrorKind.BAD_REQUEST, message))

    return handler


class Runner(web.AppRunner):
    """An AppRunner whose connections are `Connection`s. aiohttp takes no handler class, so the server it
    makes is made again as a `_Server`, with the same handler, request factory and settings."""

    def __init__(self, app: web.Application, settings: Settings, **options: Any) -> None:
        # Handler cancellation: a client that hangs up ends its stream's work at once.
        options.setdefault("access_log", None)
        super().__init__(app, handler_cancellation=True, keepalive_timeout=settings.idle_timeout, **options)
        self.guard = app[GUARD] = Guard(app, settings)

    async def _make_server(self) -> web.Server:
        made = await super()._make_server()
        return _Server(
            self.guard,
            _expectations_refused(self.app, made.request_handler),
            request_factory=made.request_factory,
            handler_cancellation=made.handler_cancellation,
            loop=made._loop,
            **made._kwargs,
        )


def throttle_accept_errors(throttle: Throttle) -> None:
    """asyncio logs a failed accept (out of file descriptors) with a traceback each time, and retries
    hundreds of times a second: once per interval instead. Installed on the running loop by the CLI."""
    loop = asyncio.get_running_loop()
    previous = loop.get_exception_handler()

    def handler(loop: asyncio.AbstractEventLoop, context: dict[str, Any]) -> None:
        if str(context.get("message", "")).startswith("socket.accept() out of system resource"):
            error = context.get("exception")
            throttle.log("accept", logging.ERROR, "cannot accept connections: %s", error or "out of resources")
        elif previous is not None:
            previous(loop, context)
        else:
            loop.default_exception_handler(context)

    loop.set_exception_handler(handler)
