"""What every platform module shares: the error model, body reading, validation, SSE writing.

A platform module knows its routes, request models, envelopes and frame format — and nothing about how
a reply was decided. It raises `ApiError`s in neutral terms (`ErrorKind`); its `render_error` turns them
into its own envelope and status.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
from abc import ABC, abstractmethod
from collections.abc import Awaitable, Callable, Iterable, Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from enum import StrEnum
from typing import Any, ClassVar, TypeVar

import pydantic
from aiohttp import web

from mockagent.clock import Clock
from mockagent.engine import Engine
from mockagent.errors import MockAgentError
from mockagent.faults import Fault, FaultSyntaxError, current_stream, parse_fault
from mockagent.model import PlatformKey
from mockagent.runs import PauseStyle, Run
from mockagent.scenarios.model import Agent, Credential

Handler = Callable[[web.Request], Awaitable[web.StreamResponse]]
MiB = 1024 * 1024


class ErrorKind(StrEnum):
    """Neutral error classes; each platform maps them to its own code and status."""

    INVALID_JSON = "invalid_json"
    INVALID_BODY = "invalid_body"  # JSON, but not an object
    UNSUPPORTED_MEDIA_TYPE = "unsupported_media_type"
    VALIDATION = "validation"  # see ApiError.fields
    MISSING_CREDENTIAL = "missing_credential"
    INVALID_CREDENTIAL = "invalid_credential"
    FORBIDDEN = "forbidden"
    NOT_FOUND = "not_found"
    METHOD_NOT_ALLOWED = "method_not_allowed"
    CONFLICT = "conflict"
    PAYLOAD_TOO_LARGE = "payload_too_large"
    RATE_LIMITED = "rate_limited"
    INTERNAL = "internal"
    BAD_GATEWAY = "bad_gateway"
    UNAVAILABLE = "unavailable"
    TIMEOUT = "timeout"


#: The HTTP status each kind means on most platforms; a platform changes only what differs.
HTTP_STATUS: Mapping[ErrorKind, int] = {
    ErrorKind.INVALID_JSON: 400,
    ErrorKind.INVALID_BODY: 400,
    ErrorKind.VALIDATION: 400,
    ErrorKind.MISSING_CREDENTIAL: 401,
    ErrorKind.INVALID_CREDENTIAL: 401,
    ErrorKind.FORBIDDEN: 403,
    ErrorKind.NOT_FOUND: 404,
    ErrorKind.METHOD_NOT_ALLOWED: 405,
    ErrorKind.CONFLICT: 409,
    ErrorKind.PAYLOAD_TOO_LARGE: 413,
    ErrorKind.UNSUPPORTED_MEDIA_TYPE: 415,
    ErrorKind.RATE_LIMITED: 429,
    ErrorKind.INTERNAL: 500,
    ErrorKind.BAD_GATEWAY: 502,
    ErrorKind.UNAVAILABLE: 503,
    ErrorKind.TIMEOUT: 504,
}
#: FastAPI's: every request-body problem is a 422 (xpander, Zeus).
FASTAPI_STATUS: Mapping[ErrorKind, int] = {
    **HTTP_STATUS,
    ErrorKind.INVALID_JSON: 422,
    ErrorKind.INVALID_BODY: 422,
    ErrorKind.VALIDATION: 422,
}


@dataclass(frozen=True)
class FieldError:
    """One invalid field: `loc` is its path inside the body, e.g. ("input", "user", "email")."""

    loc: tuple[str | int, ...]
    msg: str
    type: str = "value_error"  # pydantic's error types: missing, string_type, enum, …

    @property
    def field(self) -> str:
        return ".".join(str(part) for part in self.loc)


class ApiError(MockAgentError):
    """A request fails; the platform's `render_error` gives it the platform's shape."""

    def __init__(
        self,
        kind: ErrorKind,
        message: str,
        *,
        fields: Sequence[FieldError] = (),
        code: str | None = None,
        retry_after: int | None = None,
    ) -> None:
        super().__init__(message)
        self.kind = kind
        self.message = message
        self.fields = tuple(fields)
        self.code = code  # a platform-specific code to use instead of the kind's default
        self.retry_after = retry_after

    @classmethod
    def invalid(cls, loc: str | tuple[str | int, ...], msg: str, type_: str = "value_error") -> ApiError:
        loc_tuple = tuple(loc.split(".")) if isinstance(loc, str) else loc
        error = FieldError(loc_tuple, msg, type_)
        return cls(ErrorKind.VALIDATION, f"{error.field}: {msg}", fields=[error])

    @classmethod
    def missing(cls, loc: str | tuple[str | int, ...]) -> ApiError:
        return cls.invalid(loc, "Field required", "missing")

    @property
    def field(self) -> str | None:
        return self.fields[0].field if self.fields else None


@dataclass(frozen=True)
class Route:
    method: str
    path: str  # the platform's real path, e.g. /api/v1/agents/{agentId}/invoke
    handler: Handler
    name: str = ""


@dataclass
class MountInfo:
    """Where a platform is served; platforms need it to build absolute URLs (BeeOS upload_url)."""

    prefix: str = ""
    extra: dict[str, Any] = field(default_factory=dict)


class Platform(ABC):
    """One impersonated API. Subclasses set the class attributes and implement two methods."""

    key: ClassVar[PlatformKey]
    title: ClassVar[str]
    real_base_url: ClassVar[str]  # what the platform's clients talk to in production
    client_base_path: ClassVar[str] = ""  # the path part of that base URL (Aster: /api)
    body_limit: ClassVar[int] = 10 * MiB  # CHOSEN where the platform's docs are silent
    pause_style: ClassVar[PauseStyle] = PauseStyle.NATIVE

    def __init__(self, engine: Engine) -> None:
        self.engine = engine
        self.mount = MountInfo()

    @abstractmethod
    def routes(self) -> Iterable[Route]:
        """Every endpoint this platform serves, with its real path."""

    @abstractmethod
    def render_error(self, error: ApiError) -> web.Response:
        """The platform's own error envelope and status for `error` (with Retry-After where due)."""

    def admin_routes(self) -> Iterable[Route]:
        """Extra inspection endpoints, served under /__mockagent/<key>/."""
        return ()

    # ── helpers for subclasses ───────────────────────────────────────────────────────────────────

    async def admit(self, request: web.Request, *, agent: Agent | None, scope: str | None = None) -> None:
        """Call after auth and validation, before a run starts: this is where rate limits and
        injected faults answer instead of the agent, by raising an ApiError.

        `scope` is the conversation id the client sent (None for a new conversation): per-conversation
        fault rules count on it, falling back to the credential. Stream faults (drop, stall, …) are
        left on the request for `EventStream` to apply.
        """
        forced = None
        if (header := request.headers.get(FAULT_HEADER)) is not None:
            try:
                forced = parse_fault(header)
            except FaultSyntaxError as err:
                raise ApiError.invalid(("header", FAULT_HEADER), str(err)) from None
        if agent is not None:
            request[AGENT_KEY] = agent.id
        if forced is None and not self.engine.may_fault(agent):
            return
        fault = self.engine.choose_fault(
            self.key, agent, forced=forced, conversation_id=scope, credential=credential_of(request)
        )
        if fault is None or fault.is_empty:
            return
        request[FAULT_KEY] = (fault, self.engine.clock)
        if fault.latency is not None:
            clock = self.engine.clock
            await clock.sleep_until(clock.now() + fault.latency.sample(self.engine.fault_state.latency_rng))
        if fault.status is not None:
            kind = _STATUS_KINDS[fault.status]
            retry_after = fault.retry_after if fault.retry_after else (1 if fault.status == 429 else None)
            raise ApiError(kind, _STATUS_MESSAGES[fault.status], retry_after=retry_after)

    def timestamp(self, at: float | None) -> str | None:
        """ISO-8601 UTC with milliseconds and a Z, for clock time `at` (None stays None)."""
        if at is None:
            return None
        return self.engine.clock.wall(at).isoformat(timespec="milliseconds").replace("+00:00", "Z")

    def credentials(self) -> Mapping[str, Credential] | None:
        """The keys a scenario file declared for this platform, or None: any well-formed key passes."""
        return self.engine.scenarios.credentials.get(self.key)

    def bearer_jwt(self, request: web.Request, *, missing: str, invalid: str) -> str:
        """The `Authorization: Bearer` JWT of a platform whose clients sign in (Zeus, Aster): any
        well-formed one, or one of the keys a scenario file declared."""
        token = bearer(request)
        if token is None:
            raise ApiError(ErrorKind.MISSING_CREDENTIAL, missing)
        known = self.credentials()
        if not is_jwt(token) or (known is not None and token not in known):
            raise ApiError(ErrorKind.INVALID_CREDENTIAL, invalid)
        return token

    def url(self, request: web.Request, path: str) -> str:
        """An absolute URL on this server for a platform path (honouring the mount prefix)."""
        return f"{request.scheme}://{request.host}{self.mount.prefix}{path}"

    async def read_json(self, request: web.Request, *, require_json_type: bool = True) -> dict[str, Any]:
        """The request body as a JSON object, or an ApiError naming what is wrong with it."""
        if request.content_length is not None and request.content_length > self.body_limit:
            raise ApiError(ErrorKind.PAYLOAD_TOO_LARGE, f"request body exceeds {self.body_limit} bytes")
        # A missing Content-Type is let through (as most JSON APIs do); a wrong one is not.
        content_type = request.content_type
        declared = "Content-Type" in request.headers
        if require_json_type and declared and content_type != "application/json" and not content_type.endswith("+json"):
            raise ApiError(
                ErrorKind.UNSUPPORTED_MEDIA_TYPE, f"Content-Type must be application/json, got {content_type}"
            )
        raw = await read_body(request, self.body_limit, "request body")
        try:
            # JSON on the wire is UTF-8 (RFC 8259); decoding first skips json's encoding sniffing.
            body = _DECODER.decode(raw.decode("utf-8"))
        except (ValueError, UnicodeDecodeError) as err:
            raise ApiError(ErrorKind.INVALID_JSON, f"request body is not valid JSON: {err}") from None
        if not isinstance(body, dict):
            raise ApiError(ErrorKind.INVALID_BODY, f"request body must be a JSON object, got {type(body).__name__}")
        return body


async def read_body(request: web.Request, limit: int, what: str) -> bytes:
    """The whole body, however many packets it came in; a 413 ApiError as soon as it passes `limit`.

    (`request.content.read(n)` returns what has arrived so far, which for a large body is only a part.)
    """
    length = request.content_length
    if length is not None:
        if length > limit:
            raise ApiError(ErrorKind.PAYLOAD_TOO_LARGE, f"{what} exceeds {limit} bytes")
        try:
            return await request.content.readexactly(length)
        except asyncio.IncompleteReadError:
            raise ApiError(ErrorKind.INVALID_BODY, f"{what} ended before its Content-Length") from None
    chunks: list[bytes] = []  # chunked: no length to trust
    size = 0
    while chunk := await request.content.readany():
        size += len(chunk)
        if size > limit:
            raise ApiError(ErrorKind.PAYLOAD_TOO_LARGE, f"{what} exceeds {limit} bytes")
        chunks.append(chunk)
    return b"".join(chunks)


FAULT_HEADER = "X-Mockagent-Fault"
# Where admit() leaves its findings for the stream writer and the journal.
FAULT_KEY = web.RequestKey("mockagent.fault", tuple[Fault, Clock])
AGENT_KEY = web.RequestKey("mockagent.agent", str)

_STATUS_KINDS = {
    429: ErrorKind.RATE_LIMITED,
    500: ErrorKind.INTERNAL,
    502: ErrorKind.BAD_GATEWAY,
    503: ErrorKind.UNAVAILABLE,
    504: ErrorKind.TIMEOUT,
}
_STATUS_MESSAGES = {
    429: "Rate limit exceeded",
    500: "Internal server error",
    502: "Bad gateway",
    503: "Service unavailable",
    504: "Gateway timeout",
}


def credential_of(request: web.Request) -> str:
    """The caller's credential, whatever the platform's scheme (for per-credential limits)."""
    token = bearer(request) or request.headers.get("x-api-key") or ""
    return token or "anonymous"


def bearer(request: web.Request) -> str | None:
    """The token of an ``Authorization: Bearer …`` header; "" when the header is malformed."""
    header = request.headers.get("Authorization")
    if header is None:
        return None
    scheme, _, token = header.partition(" ")
    return token.strip() if scheme.lower() == "bearer" else ""


def is_jwt(token: str) -> bool:
    parts = token.split(".")
    return len(parts) == 3 and all(parts[:2]) and all(_B64URL.issuperset(p) for p in parts)


_B64URL = frozenset("ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_=")


M = TypeVar("M", bound=pydantic.BaseModel)


def validate(model: type[M], data: Mapping[str, Any]) -> M:
    """Validate a body with a pydantic model; errors become one ApiError listing every field."""
    try:
        return model.model_validate(data, strict=True)
    except pydantic.ValidationError as err:
        fields = [
            FieldError(tuple(e["loc"]), e["msg"], e["type"])
            for e in err.errors(include_url=False, include_context=False)
        ]
        first = fields[0]
        raise ApiError(ErrorKind.VALIDATION, f"{first.field}: {first.msg}", fields=fields) from None


_DECODER = json.JSONDecoder()


def _not_json(value: object) -> Any:
    raise TypeError(f"Object of type {type(value).__name__} is not JSON serializable")


# One encoder for every body and frame. json.dumps (and JSONEncoder.encode) builds a fresh C encoder
# per call, which costs as much as encoding a frame; this one is built once. No circular-reference
# markers: bodies are built from fresh dicts, never cycles.
_c_make_encoder = getattr(json.encoder, "c_make_encoder", None)
if _c_make_encoder is not None:
    _encode = _c_make_encoder(None, _not_json, json.encoder.encode_basestring, None, ":", ",", False, False, True)

    def dumps(value: Any) -> str:
        return "".join(_encode(value, 0))

else:  # Pythons without the C accelerator
    _encoder = json.JSONEncoder(ensure_ascii=False, separators=(",", ":"))

    def dumps(value: Any) -> str:
        return _encoder.encode(value)


def json_response(body: Any, status: int = 200, headers: Mapping[str, str] | None = None) -> web.Response:
    return web.Response(text=dumps(body), status=status, content_type="application/json", headers=headers)


@contextlib.contextmanager
def hang_up_cancels(run: Run) -> Iterator[None]:
    """Around a stream's writing: a client that hangs up ends its run at once.

    A hang-up shows either as the handler being cancelled (aiohttp's handler cancellation) or as a write
    that finds the connection gone (a client reset, or an injected drop); both leave the run cancelled.
    After a reset the block is left quietly, and `EventStream.close()` knows not to write to the dead
    socket. The frames still buffered when the block ends go out with the end of the response.
    """
    try:
        yield
    except asyncio.CancelledError:
        run.cancel("client disconnected")
        raise
    except ConnectionResetError:
        run.cancel("client disconnected")


class EventStream:
    """A Server-Sent Events response, written frame by frame as the run produces them.

    Stream faults — from the request (`X-Mockagent-Fault`, rules, chaos) or struck at a script step —
    are applied here, so every platform's stream breaks the same way.
    """

    def __init__(self, request: web.Request, headers: Mapping[str, str] | None = None) -> None:
        self.request = request
        self.response = web.StreamResponse(
            status=200,
            headers={"Content-Type": "text/event-stream", "Cache-Control": "no-cache", **(headers or {})},
        )
        self.frames = 0
        self._buffer: list[bytes] = []  # frames sent but not yet written (see flush)
        self._buffered = 0
        self._ended = False
        self._drop_at: int | None = None
        self._malformed_at: int | None = None
        self._no_terminal = False
        self._stall: tuple[int, float] | None = None  # (after this many frames, clock seconds)
        found = request.get(FAULT_KEY)
        self._clock: Clock | None = found[1] if found else None
        if found is not None:
            fault = found[0]
            self._arm(fault)
            if fault.stall is not None:
                self._stall = (fault.stall_after, fault.stall)

    def _arm(self, fault: Fault) -> None:
        if fault.drop_after is not None:
            self._drop_at = self.frames + fault.drop_after
        if fault.malformed is not None:
            self._malformed_at = self.frames + fault.malformed
        self._no_terminal = self._no_terminal or fault.no_terminal

    async def open(self) -> EventStream:
        await self.response.prepare(self.request)
        current_stream.set(self)
        if self._drop_at == 0:
            await self._drop()
        return self

    async def strike(self, fault: Fault) -> None:
        """A fault scripted at a step: it counts from the frames written so far."""
        self._arm(fault)
        if self._drop_at == self.frames:
            await self._drop()

    async def send(
        self, data: str, *, event: str | None = None, event_id: str | None = None, terminal: bool = False
    ) -> None:
        """Send one frame. Mark the frame that ends the stream by the platform's rules `terminal`
        (under the no-terminal fault, that frame and everything after it is never sent).

        Frames are buffered until `flush` — which the run calls before it waits for its next moment,
        and `close` calls at the end — so frames due at the same moment cost one write, not one each.
        """
        if self._ended:
            return
        if self._no_terminal and terminal:
            self._ended = True
            return
        if self._stall is not None and self.frames == self._stall[0] and self._clock is not None:
            await self.flush()
            await self._clock.sleep_until(self._clock.now() + self._stall[1])
        if self._malformed_at == self.frames + 1:
            data = data[: max(1, len(data) // 2)]  # cut mid-JSON: a parser must reject it
        if event_id is None and event is None:
            frame = f"data: {data}\n\n".encode()
        else:
            frame_id = f"id: {event_id}\n" if event_id is not None else ""
            name = f"event: {event}\n" if event is not None else ""
            frame = f"{frame_id}{name}data: {data}\n\n".encode()
        self._buffer.append(frame)
        self._buffered += len(frame)
        self.frames += 1
        if self._drop_at is not None and self.frames >= self._drop_at:
            await self._drop()
        elif self._buffered >= FLUSH_BYTES:
            await self.flush()

    async def flush(self) -> None:
        if self._buffer:
            await self.response.write(self._take())

    def _take(self) -> bytes:
        """The buffered frames, as one piece; the buffer is empty after."""
        data = b"".join(self._buffer)
        self._buffer.clear()
        self._buffered = 0
        return data

    async def _drop(self) -> None:
        """Cut the connection mid-stream, as a failing proxy would; the caller treats it as a hang-up."""
        await self.flush()  # the frames before the cut reach the client
        transport = self.request.transport
        if transport is not None:
            transport.close()
        self._ended = True
        raise ConnectionResetError("stream dropped by an injected fault")

    async def send_json(
        self, value: Any, *, event: str | None = None, event_id: str | None = None, terminal: bool = False
    ) -> None:
        await self.send(dumps(value), event=event, event_id=event_id, terminal=terminal)

    async def close(self) -> web.StreamResponse:
        transport = self.request.transport
        if transport is not None and not transport.is_closing():
            # The last frames and the end of the response leave in one write. A client that leaves as
            # the stream ends is no error of ours (and the run is already over or paused).
            with contextlib.suppress(ConnectionResetError):
                await self.response.write_eof(self._take())
        return self.response


FLUSH_BYTES = 64 * 1024  # a long burst of due frames still goes out in pieces
