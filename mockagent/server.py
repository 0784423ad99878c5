"""Running the application: in the current event loop, or in a background thread for sync callers."""

from __future__ import annotations

import asyncio
import logging
import threading
from collections.abc import Callable, Coroutine
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from types import EllipsisType
from typing import TYPE_CHECKING, Any, TypeVar

from aiohttp import web
from aiohttp.abc import AbstractAccessLogger

from mockagent.admin import exposure
from mockagent.app import build_app
from mockagent.appkeys import CONTEXT, ENGINE, redactor_of
from mockagent.clock import Clock, ManualClock
from mockagent.connections import Runner
from mockagent.engine import Engine
from mockagent.errors import MockAgentError
from mockagent.journal import Entry, Journal, in_order
from mockagent.model import PlatformKey
from mockagent.platforms import platform_classes
from mockagent.scenarios.model import ScenarioSet
from mockagent.sessions import DEFAULT_SESSION, Session
from mockagent.settings import Settings
from mockagent.verdicts import Verdict, judge

if TYPE_CHECKING:
    from mockagent.shared import Shared
from mockagent.verification import Count, Pattern, Verification, verify

T = TypeVar("T")
#: CHOSEN: how long a stopping server lets open responses finish (real seconds) before it cuts them. Their
#: runs are ended at once (see `_end_open_runs`), so a stream or a waiting reply needs far less than this;
#: only a request waiting on something else (a latency fault, a stalled stream) uses it up.
SHUTDOWN_GRACE = 5.0
REQUEST_LOG = logging.getLogger("mockagent.requests")
#: What the verification helpers' `session` is by default: the server's `verify_session`.
Which = str | None | EllipsisType


class MockServer:
    """One mockagent server on a loopback port (port 0: a free one)."""

    def __init__(
        self,
        settings: Settings | None = None,
        host: str = "127.0.0.1",
        port: int = 0,
        *,
        scenarios: ScenarioSet | None = None,
        shutdown_grace: float = SHUTDOWN_GRACE,
        log_requests: bool = False,
        reuse_port: bool = False,
    ) -> None:
        self.settings = settings or Settings()
        self.host = host
        self.port = port
        if not shutdown_grace > 0:  # aiohttp reads 0 as "wait for ever"
            raise ValueError(f"shutdown_grace must be positive, got {shutdown_grace}")
        self.shutdown_grace = shutdown_grace
        self.log_requests = log_requests  # one line per request on REQUEST_LOG (`serve -v`)
        self.reuse_port = reuse_port
        self.app: web.Application | None = None
        self._scenarios = scenarios  # already loaded from `settings` (the CLI validates before binding)
        self._runner: Runner | None = None
        # The session the verification helpers read unless told (None: every session); the pytest fixtures
        # set it from their marker.
        self.verify_session: str | None = None
        self._stopped: list[Kept] | None = None  # the sessions' journals as they were when the server stopped

    async def start(self) -> MockServer:
        problem = exposure(self.host, self.settings)
        if problem is not None:
            raise MockAgentError(problem)
        shared = await _shared_state(self.settings)
        self.app = build_app(self.settings, scenarios=self._scenarios, shared=shared)
        if shared is not None:
            self.app.on_cleanup.append(lambda _: shared.close())
        self._scenarios = None  # a restart reads the files again
        self.app.on_shutdown.append(_end_open_runs)
        # On stop, aiohttp waits up to the grace for the responses in progress, then cancels what is left.
        self._runner = Runner(
            self.app,
            self.settings,
            access_log=REQUEST_LOG if self.log_requests else None,
            access_log_class=RequestLine,
            shutdown_timeout=self.shutdown_grace,
        )
        await self._runner.setup()
        # Several processes of one server (serve --workers) listen on one port; the kernel shares it out.
        site = web.TCPSite(self._runner, self.host, self.port, reuse_port=self.reuse_port or None)
        await site.start()
        # asyncio's Server or uvloop's (which is no asyncio.Server): both list the sockets they listen on.
        sockets = getattr(site._server, "sockets", None)
        if not sockets:
            raise RuntimeError("aiohttp's site did not start a server")
        self.port = sockets[0].getsockname()[1]
        return self

    async def stop(self) -> None:
        """Stop listening, end every unfinished run (each open stream gets its platform's closing frames,
        each waiting reply answers), let the responses finish within the grace, then close."""
        if self._runner is not None:
            # Stopping forgets every session but the default: what they journaled stays readable.
            self._stopped = [Kept(s.name, s.journal, s.clock) for s in self.engine.sessions.sessions()]
            await self._runner.cleanup()
            self._runner = None

    async def __aenter__(self) -> MockServer:
        return await self.start()

    async def __aexit__(self, *_: object) -> None:
        await self.stop()

    @property
    def engine(self) -> Engine:
        assert self.app is not None, "the server is not started"
        return self.app[ENGINE]

    @property
    def connections(self) -> int:
        """How many client connections are open now."""
        assert self._runner is not None, "the server is not started"
        return self._runner.guard.open

    def session(self, name: str = DEFAULT_SESSION) -> Session:
        """A session of this server (made on first use): its runs, conversations, journal and clock."""
        return self.engine.default_sessions.get(name)

    @property
    def clock(self) -> Clock:
        """The default session's clock."""
        return self.session().clock

    async def until_waiting(self, timers: int = 1, session: str = DEFAULT_SESSION) -> None:
        """Return once `timers` timers are set on a session's manual clock: the requests in flight have
        reached their waits, and advancing the clock will wake them."""
        clock = self.session(session).clock
        if not isinstance(clock, ManualClock):
            raise TypeError("until_waiting() needs a server started with manual_clock=True")
        await clock.until_waiting(timers)

    async def until_idle(self, session: str = DEFAULT_SESSION) -> None:
        """Return once no request of `session` is being answered, and each answered one is journaled (a
        client that hung up does not know when its handler ends)."""
        await self.session(session).until_in_flight(0)

    async def reset(self, session: str = DEFAULT_SESSION) -> None:
        """Forget everything `session` holds, as ``DELETE /__mockagent/sessions/NAME`` does."""
        await self.engine.reset_session(session)

    def states(self, session: str = DEFAULT_SESSION) -> dict[str, str]:
        """The scenario states set in `session` (one not listed is ``started``), as ``GET
        /__mockagent/states`` shows them."""
        return dict(self.session(session).states)

    def set_state(self, name: str, value: str, session: str = DEFAULT_SESSION) -> None:
        """Set a scenario state of `session`, as ``PUT /__mockagent/states/NAME`` does."""
        self.session(session).states[name] = value

    def reset_states(self, session: str = DEFAULT_SESSION) -> None:
        """Put every scenario state of `session` back to ``started``, as ``DELETE /__mockagent/states`` does."""
        self.session(session).states.clear()

    @property
    def url(self) -> str:
        return f"http://{self.host}:{self.port}"

    def base_url(self, platform: PlatformKey | str) -> str:
        """What a client of `platform` uses in place of the real base URL."""
        key = PlatformKey(platform)
        prefix = "" if self.settings.root_platform else f"/{key.value}"
        return f"{self.url}{prefix}{platform_classes()[key].client_base_path}"

    @property
    def base_urls(self) -> dict[str, str]:
        return {key.value: self.base_url(key) for key in self.settings.served()}

    async def advance(self, seconds: float, session: str = DEFAULT_SESSION) -> None:
        """Advance a session's manual clock (the server must have been started with one)."""
        found = self.session(session)
        if not isinstance(found.clock, ManualClock):
            raise TypeError("advance() needs a server started with manual_clock=True")
        await self.engine.sessions.advance(found, seconds)

    # ── verifying what clients did (docs/testing.md#verifying-what-the-client-did) ──────────────────

    def _verified(self, session: Which) -> list[Kept]:
        name = self.verify_session if session is ... else session
        if self._stopped is not None:
            kept = self._stopped
        else:
            kept = [Kept(s.name, s.journal, s.clock, s) for s in self.engine.sessions.sessions()]
        return [k for k in kept if name is None or k.name == name]

    def entries(self, session: Which = ...) -> list[Entry]:
        """The journal entries of `session` (by default the fixture's; None: every session), oldest first."""
        return list(in_order(kept.journal for kept in self._verified(session)))

    def journal(
        self,
        method: str | None = None,
        platform: str | None = None,
        path: str | None = None,
        agent: str | None = None,
        body: Any = None,
        session: Which = ...,
    ) -> list[dict[str, Any]]:
        """The entries a pattern matches, as ``GET /__mockagent/journal`` shows them (redacted)."""
        sessions = {s.name: s for s in self._verified(session)}
        pattern = Pattern(method, platform, path, agent, body)
        redactor = redactor_of(self._started_app)
        return [
            entry.as_json(sessions[entry.session].clock, redactor)
            for entry in self.entries(session)
            if pattern.matches(entry)
        ]

    def assert_called(
        self,
        method: str | None = None,
        platform: str | None = None,
        path: str | None = None,
        agent: str | None = None,
        body: Any = None,
        *,
        n: int | None = None,
        at_least: int | None = None,
        at_most: int | None = None,
        session: Which = ...,
    ) -> None:
        """Fail (AssertionError) unless the count of requests matching the pattern holds (nothing given: at
        least one); the message names the closest other requests and what differed."""
        __tracebackhide__ = True
        self.verification(Pattern(method, platform, path, agent, body), Count(n, at_least, at_most), session).check()

    def verification(self, pattern: Pattern, count: Count, session: Which = ...) -> Verification:
        """What `assert_called` checks, without raising."""
        return verify(self.entries(session), pattern, count, redactor_of(self._started_app))

    def verdict(self, name: str, session: Which = ..., **options: object) -> Verdict:
        """A verdict on the client's behaviour (`mockagent.verdicts`), truthy when it passed."""
        runs = [run for k in self._verified(session) if k.live is not None for run in k.live.runs.values()]
        return judge(name, self.entries(session), runs, options)

    def unmatched(self, session: Which = ...) -> list[Entry]:
        """The requests nothing answered (no reply, stub, recording or route)."""
        return [entry for entry in self.entries(session) if entry.unmatched]

    @property
    def _started_app(self) -> web.Application:
        assert self.app is not None, "the server was never started"
        return self.app


async def _shared_state(settings: Settings) -> Shared | None:
    """The connection to Redis of a server whose state lives there (SharedStateError when it cannot be)."""
    if settings.state is None:
        return None
    from mockagent.shared import Agreement, connect

    return await connect(settings.state, settings.name, Agreement(settings.speed, settings.manual_clock))


@dataclass(frozen=True, slots=True)
class Kept:
    """What the verification helpers read of a session. A stopped server keeps only its journal and clock:
    its sessions (their runs, records and scratch files) are let go, but a test's teardown still reads what
    was journaled."""

    name: str
    journal: Journal
    clock: Clock
    live: Session | None = None  # the session itself while the server runs (its runs, for resumed_pauses)


class RequestLine(AbstractAccessLogger):
    """One line per request, once it is answered (a stream once it ends): method, path, status, duration,
    session and agent. Never a header value, the query or a body: they carry credentials."""

    def log(self, request: web.BaseRequest, response: web.StreamResponse, time: float) -> None:
        ctx = request.get(CONTEXT)
        session = ctx.session.name if ctx is not None else "-"
        agent = ctx.agent.id if ctx is not None and ctx.agent is not None else "-"
        # The raw path: a decoded one could break the line (%0A).
        path = request.rel_url.raw_path
        status = response.status
        self.logger.info(
            "%s %s %d %.1f ms session=%s agent=%s", request.method, path, status, time * 1000, session, agent
        )


async def _end_open_runs(app: web.Application) -> None:
    """The server is stopping (it no longer listens): every run still going ends as cancelled, so the
    views following one end the way a cancelled run ends on their platform instead of being cut."""
    for session in app[ENGINE].sessions.sessions():
        for run in list(session.runs.values()):
            run.cancel("the server is stopping")


async def _on_loop(call: Callable[[], T]) -> T:
    return call()


class ThreadedMockServer:
    """A `MockServer` on its own event loop in a daemon thread, for synchronous tests and clients."""

    def __init__(
        self,
        settings: Settings | None = None,
        host: str = "127.0.0.1",
        port: int = 0,
        *,
        shutdown_grace: float = SHUTDOWN_GRACE,
    ) -> None:
        self.server = MockServer(settings, host, port, shutdown_grace=shutdown_grace)
        self._loop = asyncio.new_event_loop()
        self._thread = threading.Thread(target=self._loop.run_forever, name="mockagent", daemon=True)

    def start(self) -> ThreadedMockServer:
        self._thread.start()
        self._call(self.server.start())
        return self

    def stop(self) -> None:
        if self._thread.is_alive():
            self._call(self.server.stop())
            self._loop.call_soon_threadsafe(self._loop.stop)
            self._thread.join(timeout=10)
        self._loop.close()

    def __enter__(self) -> ThreadedMockServer:
        return self.start()

    def __exit__(self, *_: object) -> None:
        self.stop()

    def _call(self, coro: Coroutine[Any, Any, T]) -> T:
        return asyncio.run_coroutine_threadsafe(coro, self._loop).result(timeout=30)

    def advance(self, seconds: float, session: str = DEFAULT_SESSION) -> None:
        self._call(self.server.advance(seconds, session))

    def reset(self, session: str = DEFAULT_SESSION) -> None:
        self._call(self.server.reset(session))

    def until_waiting(self, timers: int = 1, session: str = DEFAULT_SESSION) -> None:
        self._call(self.server.until_waiting(timers, session))

    # The states live on the server's loop: they are read and changed there, between two of its steps.
    def states(self, session: str = DEFAULT_SESSION) -> dict[str, str]:
        return self._call(_on_loop(lambda: self.server.states(session)))

    def set_state(self, name: str, value: str, session: str = DEFAULT_SESSION) -> None:
        self._call(_on_loop(lambda: self.server.set_state(name, value, session)))

    def reset_states(self, session: str = DEFAULT_SESSION) -> None:
        self._call(_on_loop(lambda: self.server.reset_states(session)))

    def until_idle(self, session: str = DEFAULT_SESSION) -> None:
        self._call(self.server.until_idle(session))

    def advance_during(self, call: Callable[[], T], seconds: float, session: str = DEFAULT_SESSION) -> T:
        """Make a blocking `call` (a request to this server, by any client) while the clock moves: once the
        request waits on the session's manual clock, advance it `seconds`; return what the call got."""
        with ThreadPoolExecutor(1) as pool:
            pending = pool.submit(call)
            self.until_waiting(1, session)
            self.advance(seconds, session)
            return pending.result(timeout=30)

    def session(self, name: str = DEFAULT_SESSION) -> Session:
        return self.server.session(name)

    # The journal is written on the server's loop: it is read there, between two of its steps.
    def entries(self, session: Which = ...) -> list[Entry]:
        return self._read(lambda: self.server.entries(session))

    def journal(
        self,
        method: str | None = None,
        platform: str | None = None,
        path: str | None = None,
        agent: str | None = None,
        body: Any = None,
        session: Which = ...,
    ) -> list[dict[str, Any]]:
        return self._read(lambda: self.server.journal(method, platform, path, agent, body, session))

    def assert_called(
        self,
        method: str | None = None,
        platform: str | None = None,
        path: str | None = None,
        agent: str | None = None,
        body: Any = None,
        *,
        n: int | None = None,
        at_least: int | None = None,
        at_most: int | None = None,
        session: Which = ...,
    ) -> None:
        __tracebackhide__ = True
        self.verification(Pattern(method, platform, path, agent, body), Count(n, at_least, at_most), session).check()

    def verification(self, pattern: Pattern, count: Count, session: Which = ...) -> Verification:
        return self._read(lambda: self.server.verification(pattern, count, session))

    def verdict(self, name: str, session: Which = ..., **options: object) -> Verdict:
        return self._read(lambda: self.server.verdict(name, session, **options))

    def unmatched(self, session: Which = ...) -> list[Entry]:
        return self._read(lambda: self.server.unmatched(session))

    def _read(self, call: Callable[[], T]) -> T:
        """`call` on the server's loop while it runs; once it has stopped, here."""
        if self._thread.is_alive() and not self._loop.is_closed():
            return self._call(_on_loop(call))
        return call()

    @property
    def verify_session(self) -> str | None:
        return self.server.verify_session

    @verify_session.setter
    def verify_session(self, name: str | None) -> None:
        self.server.verify_session = name

    @property
    def clock(self) -> Clock:
        return self.server.clock

    @property
    def engine(self) -> Engine:
        return self.server.engine

    @property
    def connections(self) -> int:
        return self.server.connections

    @property
    def url(self) -> str:
        return self.server.url

    def base_url(self, platform: PlatformKey | str) -> str:
        return self.server.base_url(platform)

    @property
    def base_urls(self) -> dict[str, str]:
        return self.server.base_urls
