"""The platform interface, and the frame every platform's views share.

A platform knows its routes, request models, envelopes and frame format — and nothing about how a reply
was decided. Its handlers (`on_<verb>_<noun>`, each taking the request and its `RequestContext`) follow
one order: authenticate, parse and validate, find what the request names, then `admit` (faults and limits
answer here), then act — under the session's lock where they read state and change it — and finally show
the run through `stream_run` or `Run.settled`. Errors are `ApiError`s in neutral terms; `render_error`
gives them the platform's envelope and status.
"""

from __future__ import annotations

import ipaddress
import re
from abc import ABC, abstractmethod
from collections.abc import Awaitable, Callable, Collection, Iterable, Mapping
from dataclasses import dataclass
from datetime import datetime
from typing import Any, ClassVar, Protocol
from urllib.parse import urlsplit

from aiohttp import web

from mockagent import admission
from mockagent.clock import Clock
from mockagent.context import RequestContext, bearer
from mockagent.engine import Engine
from mockagent.errors import ApiError, ErrorKind, RunStateError
from mockagent.model import PlatformKey, Timed
from mockagent.platforms.bodies import read_json
from mockagent.platforms.credentials import is_jwt
from mockagent.platforms.sse import EventStream, Out, hang_up_cancels
from mockagent.runs import Conversation, Decision, Limit, PauseStyle, Run, chat_pending, check_fits
from mockagent.scenarios.model import Agent, Credential
from mockagent.sessions import Session

MiB = 1024 * 1024
Handler = Callable[[web.Request, RequestContext], Awaitable[web.StreamResponse]]
_HANDLER_NAME = re.compile(r"^on_[a-z]+(?:_[a-z]+)*$")


@dataclass(frozen=True)
class Route:
    """One endpoint with the platform's real path; the endpoint's name is its handler's, without `on_`."""

    method: str
    path: str  # e.g. /api/v1/agents/{agentId}/invoke
    handler: Handler
    # Whether the route models a request with these path parameters (None: every one). A raw stub for a
    # request it does not model needs no `shadow: true` (docs/scenarios.md#raw-stubs).
    serves: Callable[[Mapping[str, str]], bool] | None = None

    @property
    def endpoint(self) -> str:
        name = getattr(self.handler, "__name__", "")
        if not _HANDLER_NAME.match(name):
            raise ValueError(f"handler {name!r} of {self.method} {self.path} is not named on_<verb>_<noun>")
        return name.removeprefix("on_")


class Renderer(Protocol):
    """A run in one platform's frames: what opens the stream, each event's frames, and what closes it."""

    def opening(self) -> Iterable[Out]:
        """Frames before the first event."""
        ...

    def started(self) -> Iterable[Out]:
        """Frames for the moment the run leaves its queue (or ends without starting)."""
        ...

    def render(self, timed: Timed) -> Iterable[Out]:
        """The frames of one event."""
        ...

    def closing(self) -> Iterable[Out]:
        """Frames once the view is over (the run is paused or ended, by its script or from outside)."""
        ...


class Platform(ABC):
    """One impersonated API. Subclasses set the class attributes and implement `routes` and `render_error`.

    A platform object holds no state of its own: everything a client can change lives in the request's
    session (`ctx.session`, with the platform's typed records in `ctx.session.records(...)`).
    """

    key: ClassVar[PlatformKey]
    title: ClassVar[str]
    real_base_url: ClassVar[str]  # what the platform's clients talk to in production
    client_base_path: ClassVar[str] = ""  # the path part of that base URL (Aster: /api)
    body_limit: ClassVar[int] = 10 * MiB  # CHOSEN where the platform's docs are silent
    pause_style: ClassVar[PauseStyle] = PauseStyle.NATIVE

    def __init__(self, engine: Engine, prefix: str = "") -> None:
        self.engine = engine
        self.prefix = prefix  # where the platform is mounted (to build absolute URLs)

    @abstractmethod
    def routes(self) -> Iterable[Route]:
        """Every endpoint this platform serves, with its real path."""

    @abstractmethod
    def render_error(self, error: ApiError) -> web.Response:
        """The platform's own error envelope and status for `error` (with Retry-After where due)."""

    def admin_routes(self) -> Iterable[Route]:
        """Extra inspection endpoints, served under /__mockagent/<key>/ (never admitted: no faults)."""
        return ()

    # ── decisions from outside (the admin API) ────────────────────────────────────────────────────

    def decide(
        self,
        session: Session,
        run: Run,
        decision: Decision,
        answer: str = "",
        args: dict[str, Any] | None = None,
    ) -> None:
        """Answer `run`'s pause as the platform's own resume would, leaving the platform's records as that
        resume leaves them (called under the session's lock). A platform that keeps records beside the run
        (approvals, a task's channel) extends this; RunStateError when the decision does not fit.

        A run that paused in chat (its turn ended on the question) is decided on its conversation: the
        client's next message continues the script with this decision, whatever the message says."""
        pending = chat_pending(run)
        if pending is not None:
            check_fits(pending.pause.kind, decision)
            pending.decided = (decision, answer, args)
            return
        run.resume(decision, answer, args=args)

    def cancel(self, session: Session, run: Run, reason: str) -> None:
        """End `run` now as the platform's own cancel would; RunStateError when it is already over. A
        question asked in chat is withdrawn: the next message starts afresh."""
        if chat_pending(run) is not None:
            run.conversation.pending = None
            return
        if not run.cancel(reason):
            raise RunStateError(f"the run is {run.status().value}; only a run not yet over can be cancelled")

    # ── the steps every handler takes ────────────────────────────────────────────────────────────

    async def admit(self, ctx: RequestContext, *, agent: Agent | None = None, scope: str | None = None) -> None:
        """Faults and rate limits answer here, by raising; call once the request is authenticated,
        validated and what it names is found, before it changes anything. `scope` is the conversation id
        the client sent (None for a new conversation)."""
        fault = await admission.decide(self.engine, ctx, agent, scope)
        if fault is not None:
            await admission.apply(ctx, fault)
        sessions = self.engine.sessions
        if sessions.synced:  # shared with other processes: held from here until it waits or ends
            await sessions.hold(ctx.session)

    def start_turn(
        self,
        ctx: RequestContext,
        conversation: Conversation,
        *,
        pause_style: PauseStyle | None = None,
        run_id: str | None = None,
        require_approval: Collection[str] = (),
        agent: Agent | None = None,
    ) -> Run:
        """A new turn of `ctx.agent` on `ctx.message` in `conversation` (see `Engine.start_turn`)."""
        return self.engine.start_turn(
            ctx,
            conversation,
            pause_style=pause_style or self.pause_style,
            run_id=run_id,
            require_approval=require_approval,
            agent=agent,
        )

    async def read_json(self, request: web.Request, *, require_json_type: bool = True) -> dict[str, Any]:
        return await read_json(request, self.body_limit, require_json_type=require_json_type)

    def credentials(self) -> Mapping[str, Credential] | None:
        """The keys a scenario file declared for this platform, or None: any well-formed key passes."""
        return self.engine.scenarios.credentials.get(self.key)

    def credential_scope(self, token: str | None) -> str | None:
        """The agent a declared credential is limited to, if any."""
        known = self.credentials()
        credential = known.get(token or "") if known is not None else None
        return credential.agent if credential is not None else None

    def check_scope(self, headers: Mapping[str, str], agent_id: str, message: str) -> None:
        """A bearer credential a scenario file limited to another agent is refused (403, in the platform's
        words)."""
        if self.credentials() is None:
            return  # no keys declared: none is limited
        scope = self.credential_scope(bearer(headers))
        if scope is not None and scope != agent_id:
            raise ApiError(ErrorKind.FORBIDDEN, message)

    def bearer_jwt(self, request: web.Request, *, missing: str, invalid: str) -> str:
        """The `Authorization: Bearer` JWT of a platform whose clients sign in (Zeus, Aster): any
        well-formed one, or one of the keys a scenario file declared."""
        token = bearer(request.headers)
        if token is None:
            raise ApiError(ErrorKind.MISSING_CREDENTIAL, missing)
        known = self.credentials()
        if not is_jwt(token) or (known is not None and token not in known):
            raise ApiError(ErrorKind.INVALID_CREDENTIAL, invalid)
        return token

    def url(self, request: web.Request, path: str) -> str:
        """An absolute URL on this server for a platform path (honouring the mount prefix)."""
        return f"{request.scheme}://{_own_host(request)}{self.prefix}{path}"


def _own_host(request: web.Request) -> str:
    """This server's host and port as the client reached it: the socket's own address, not what the Host
    header claims (a client sets that, and a presigned URL built from it would point wherever it says).
    CHOSEN: a loopback name in Host is kept, so that a client that reached us as localhost:PORT through
    a port mapping (a container) gets URLs it can use."""
    try:
        claimed = urlsplit(f"//{request.headers.get('Host', '')}")
        name, port = claimed.hostname, claimed.port
    except ValueError:
        name, port = None, None
    if name is not None and port is not None and _is_loopback(name):
        return f"[{name}]:{port}" if ":" in name else f"{name}:{port}"
    sockname = request.transport.get_extra_info("sockname") if request.transport is not None else None
    if not sockname:
        return "127.0.0.1"  # the connection is gone: nobody will use the URL
    address, own_port = sockname[0], sockname[1]
    return f"[{address}]:{own_port}" if ":" in address else f"{address}:{own_port}"


def _is_loopback(name: str) -> bool:
    if name == "localhost":
        return True
    try:
        return ipaddress.ip_address(name).is_loopback
    except ValueError:
        return False


# ── the frame every view shares ─────────────────────────────────────────────────────────────────────


async def stream_run(
    request: web.Request,
    ctx: RequestContext,
    run: Run,
    renderer: Renderer,
    *,
    headers: Mapping[str, str] | None = None,
    start: int = 0,
    limit: Limit | None = None,
    through_pauses: bool = False,
    watch_only: bool = False,
) -> web.StreamResponse:
    """Stream `run` from timeline index `start` through `renderer`, each frame at its moment.

    `limit` is this stream's gateway limit (the run times out at it unless it settles first). A client
    that hangs up cancels the run, unless the stream only watches it (`watch_only`: a task's event stream).
    """
    stream = EventStream(request, clock=run.clock, fault=ctx.fault, headers=headers)
    send, render = stream.send, renderer.render  # bound once: they are called for every frame
    with hang_up_cancels(None if watch_only else run):
        await stream.open()
        for frame in renderer.opening():
            await send(frame)
        if start == 0:
            if run.started_at > run.clock.now():
                await run.until_started(stream)
            for frame in renderer.started():
                await send(frame)
        async for _, timed in run.follow(stream, start, through_pauses=through_pauses, limit=limit):
            for frame in render(timed):
                await send(frame)
        for frame in renderer.closing():
            await send(frame)
    return await stream.close()


def iso(clock: Clock, at: float | None) -> str | None:
    """ISO-8601 UTC with milliseconds and a Z, for clock time `at` (None stays None)."""
    if at is None:
        return None
    return _iso(clock.wall(at))


def _iso(moment: datetime) -> str:
    return moment.isoformat(timespec="milliseconds").replace("+00:00", "Z")
