"""Building the aiohttp application: platforms mounted under their keys (or one at the root), the frame
every platform route passes (its session and request context), the error middleware that gives every
failure its platform's shape, and the /__mockagent admin API."""

from __future__ import annotations

import asyncio
import functools
import logging
from collections.abc import Awaitable, Callable
from datetime import UTC, datetime
from typing import TYPE_CHECKING

from aiohttp import web

from mockagent.admin import ADMIN_PREFIX, admin_routes, default_session, guarded, session_named, session_of
from mockagent.appkeys import (
    CONTEXT,
    ENGINE,
    MIRROR,
    PLATFORMS,
    REDACTOR,
    REPLAYER,
    SERVING_SINCE,
    SETTINGS,
    STARTED,
    UNROUTED,
    make_redactor,
    redactor_of,
)
from mockagent.context import RequestContext
from mockagent.encoding import json_response
from mockagent.engine import Engine
from mockagent.errors import HTTP_STATUS, ApiError, ErrorKind, RunStateError
from mockagent.faultboard import Board
from mockagent.holding import TOUCHED, let_go
from mockagent.journal import ENTRY, Decided, Entry, Journal, Mirror, counter
from mockagent.model import PlatformKey
from mockagent.platforms import platform_classes
from mockagent.platforms.base import Platform, Route
from mockagent.platforms.bodies import BODY_KEY, BODY_TIMEOUT
from mockagent.platforms.unmodelled import NotModelled
from mockagent.reloading import watch
from mockagent.scenarios.model import ScenarioSet
from mockagent.scenarios.stubs import StubsUnmatched
from mockagent.sessions import SESSION_HEADER, SESSION_NAME, MemorySessions, Session, SessionStore
from mockagent.settings import Settings, load_scenarios
from mockagent.stubbing import answer as stub_answer

if TYPE_CHECKING:
    from mockagent.faults import Tally
    from mockagent.replay.redaction import Redactor
    from mockagent.replay.replayer import Recorded, Replayer
    from mockagent.shared import Shared

log = logging.getLogger("mockagent")
RequestHandler = Callable[[web.Request], Awaitable[web.StreamResponse]]


def build_engine(settings: Settings, scenarios: ScenarioSet | None = None, shared: Shared | None = None) -> Engine:
    """The engine of `settings`; with `shared` (`--state redis://…`), what its processes count together
    lives in Redis, and its real clock starts at the server's epoch."""
    server_clock = None if settings.manual_clock else settings.make_clock(shared.epoch if shared else None)
    # Entry ids increase across sessions: one `since` pages the whole journal.
    ids = counter(shared.number if shared is not None else 0)

    def make_session(name: str) -> Session:
        # With a manual clock each session has its own, so that parallel tests advance only their own time.
        clock = server_clock or settings.make_clock()
        journal = Journal(ids, settings.journal_size, settings.journal_budget)
        tally = _redis_tally(shared, name) if shared is not None else None
        return Session(name, clock, store_limit=settings.store_limit, seed=settings.seed, journal=journal, tally=tally)

    loaded = scenarios if scenarios is not None else load_scenarios(settings)
    if shared is None:
        sessions: SessionStore = MemorySessions(make_session, settings.max_sessions)
        return Engine(loaded, sessions, fault_rules=settings.fault_rules, board=Board(settings.chaos))
    from mockagent.shared.board import SharedBoard  # only servers sharing Redis import redis
    from mockagent.shared.sessions import SharedSessions

    sessions = SharedSessions(
        shared, make_session, lambda: engine.scenarios, settings.max_sessions, settings.journal_size
    )
    engine = Engine(loaded, sessions, fault_rules=settings.fault_rules, board=SharedBoard(shared, settings.chaos))
    sessions.feed, engine.feed.outlet = engine.feed, sessions.forward
    return engine


def _redis_tally(shared: Shared, session: str) -> Tally:
    from mockagent.shared.tally import RedisTally

    return RedisTally(shared, session)


def build_app(
    settings: Settings,
    engine: Engine | None = None,
    scenarios: ScenarioSet | None = None,
    shared: Shared | None = None,
) -> web.Application:
    """The whole server as one aiohttp application (`scenarios`: already loaded from `settings`; `shared`:
    its connection to Redis, with `settings.state`)."""
    if engine is None:
        engine = build_engine(settings, scenarios, shared)
    classes = platform_classes()
    platforms = {
        key: classes[key](engine, "" if settings.root_platform else f"/{key.value}") for key in settings.served()
    }
    # Bodies are size-checked per platform (each has its own limit and 413 envelope), not by aiohttp.
    app = web.Application(middlewares=[_error_middleware], client_max_size=1024**3)
    app.on_response_prepare.append(_started)
    app[ENGINE] = engine
    app[PLATFORMS] = platforms
    app[SETTINGS] = settings
    app[SERVING_SINCE] = datetime.now(UTC).isoformat(timespec="microseconds")
    redactor: Callable[[], Redactor] = functools.cache(functools.partial(make_redactor, settings))
    app[REDACTOR] = redactor
    replayer = _replayer(settings)
    if replayer is not None:
        app[REPLAYER] = replayer
        app[REDACTOR] = lambda: replayer.redactor  # the journal shows what the cassettes would hold
        replayer.on_recorded = functools.partial(_recorded, engine)
        app.on_cleanup.append(_close_replayer)
    if settings.journal_file is not None:
        app[MIRROR] = Mirror(settings.journal_file)
        app.on_cleanup.append(_close_mirror)
    app.on_shutdown.append(_close_feed)
    app[BODY_TIMEOUT] = settings.body_timeout
    for platform in platforms.values():
        for route in platform.routes():
            handle = _admitted_route(platform, route, replayer, settings.prefer_scenarios)
            app.router.add_route(route.method, platform.prefix + route.path, handle)
        for route in platform.admin_routes() if settings.admin_api else ():
            path = f"{ADMIN_PREFIX}/{platform.key.value}{route.path}"
            app.router.add_route(route.method, path, guarded(_admin_route(platform, route)))
    for admin in admin_routes() if settings.admin_api else ():
        handler = guarded(admin.handler)
        app.router.add_route(admin.method, ADMIN_PREFIX + admin.path, handler)
        if admin.path.startswith("/ui"):
            app.router.add_route("HEAD", ADMIN_PREFIX + admin.path, handler)  # a link checker's look at the page
    app.on_cleanup.append(_close_sessions)
    if settings.watch and settings.scenario_paths:
        watch(app)
    return app


def _recorded(engine: Engine, recorded: Recorded) -> None:
    """An interaction written to a cassette, to the event feed (the web page's Recording view)."""
    if engine.feed.active:
        engine.feed.publish("cassette.recorded", recorded.session, recorded.platform or None, **recorded.as_json())


def _replayer(settings: Settings) -> Replayer | None:
    if settings.cassettes is None:
        return None
    from mockagent.replay.replayer import Replayer, ReplaySettings  # only servers with cassettes need it

    return Replayer(
        ReplaySettings(
            folder=settings.cassettes,
            mode=settings.record_mode,
            upstreams=settings.upstreams,
            repeat=settings.repeat,
            asap=settings.replay_asap,
            fallback=settings.scenarios_answer,
            prefer_scenarios=settings.prefer_scenarios,
            cassette=settings.cassette,
        ),
        make_redactor(settings),
    )


async def _close_mirror(app: web.Application) -> None:
    app[MIRROR].close()


async def _close_feed(app: web.Application) -> None:
    app[ENGINE].feed.close()  # its subscribers' streams end, so stopping does not wait on them


async def _close_replayer(app: web.Application) -> None:
    await app[REPLAYER].close()


async def _close_sessions(app: web.Application) -> None:
    await app[ENGINE].sessions.stop()


def _admitted_route(
    platform: Platform, route: Route, replayer: Replayer | None = None, prefer_scenarios: bool = False
) -> RequestHandler:
    """A platform route in the shared frame: its session, its request context, the recordings (when
    cassettes are on), and a check that the handler passed admission (every route does; a test holds
    each one to it)."""
    endpoint = route.endpoint
    handler = route.handler

    key = platform.key
    platform_name = key.value
    prefix = platform.prefix

    async def handle(request: web.Request) -> web.StreamResponse:
        # One frame per request, kept flat: it is paid on every call.
        engine = request.app[ENGINE]
        name = request.headers.get(SESSION_HEADER)
        session = await default_session(request) if name is None else await session_named(request, name)
        ctx = RequestContext(key, endpoint, request.method, request.path, session, request.headers, request.query)
        ctx.params = request.match_info
        _enter(request, ctx, platform_name, endpoint)
        session.entered()
        synced = engine.sessions.synced
        if synced:
            TOUCHED.set({})
        try:
            answered = None
            if engine.scenarios.stub_table.shadows(key, request.method):
                answered = await stub_answer(request, ctx, (key,), request.path[len(prefix) :], shadowing=True)
            if isinstance(answered, web.StreamResponse):
                response = answered
            elif replayer is None:
                response = await handler(request, ctx)
            else:
                response = await _with_recordings(request, ctx, replayer, prefer_scenarios)
        except NotModelled as error:
            response = await _stubbed_instead(request, ctx, error)
        finally:
            session.left()
            if synced:
                await engine.sessions.finish(session)
        if not ctx.admitted:
            log.error("%s %s was answered without admission (a bug of mockagent)", request.method, request.path)
        return response

    async def _stubbed_instead(request: web.Request, ctx: RequestContext, error: NotModelled) -> web.StreamResponse:
        """What the platform does not model, a raw stub answers (the handler authenticated and admitted it)."""
        outcome = await stub_answer(request, ctx, (key,), request.path[len(prefix) :])
        if outcome is None:
            raise error
        if isinstance(outcome, StubsUnmatched):
            ctx.explanation = outcome.explain()
            raise NotModelled(error.kind, ctx.explanation, code=error.code)
        return outcome

    async def _with_recordings(
        request: web.Request, ctx: RequestContext, replayer: Replayer, prefer_scenarios: bool
    ) -> web.StreamResponse:
        if prefer_scenarios:
            try:
                return await handler(request, ctx)
            except ApiError as error:
                if error.kind is not ErrorKind.NOT_FOUND:
                    raise
                answered = await replayer.answer(request, ctx, platform)
                if answered is None:
                    raise
                return answered
        answered = await replayer.answer(request, ctx, platform)
        return answered if answered is not None else await handler(request, ctx)

    return handle


def _admin_route(platform: Platform, route: Route) -> RequestHandler:
    endpoint = route.endpoint
    handler = route.handler

    async def handle(request: web.Request) -> web.StreamResponse:
        session = await session_of(request)
        ctx = RequestContext(
            platform.key, endpoint, request.method, request.path, session, request.headers, request.query
        )
        ctx.admitted = True  # inspection: never faulted
        request[CONTEXT] = ctx
        return await handler(request, ctx)

    return handle


def platform_for(request: web.Request) -> Platform | None:
    """The platform a request's path belongs to, by its mount prefix."""
    return platform_at(request.app, request.path)


def platform_at(app: web.Application, path: str) -> Platform | None:
    """The platform `path` belongs to, by its mount prefix."""
    platforms = app[PLATFORMS]
    settings = app[SETTINGS]
    if path.startswith(ADMIN_PREFIX + "/") or path == ADMIN_PREFIX:
        return None
    if settings.root_platform is not None:
        return platforms[settings.root_platform]
    key = _KEYS.get(path.split("/", 2)[1] if path.startswith("/") else "")
    return platforms.get(key) if key is not None else None


_KEYS = {key.value: key for key in PlatformKey}


@web.middleware
async def _error_middleware(request: web.Request, handler: RequestHandler) -> web.StreamResponse:
    engine = request.app[ENGINE]
    engine.in_flight += 1
    try:
        response = await handler(request)
    except ApiError as error:
        response = _render(request, error)
    except RunStateError as error:
        # A state the request found no longer holds (two decisions raced): the platform's 409, never a 500.
        response = _render(request, ApiError(ErrorKind.CONFLICT, str(error)))
    except web.HTTPException as exc:
        if exc.status < 400:
            raise
        response = await _unrouted(request, exc)
    except ConnectionResetError:
        # The client went away while its answer was being written (aiohttp's ClientConnectionResetError, e.g.
        # a stream's head to a half-closed socket): a hang-up, journaled as one, not a bug of ours to log.
        # aiohttp drops the answer returned here silently, as it does any write to a closed connection.
        _record(request, request.get(STARTED, CLIENT_CLOSED), None)
        return web.Response(status=CLIENT_CLOSED)
    except Exception:
        # A bug of ours must still answer in the platform's shape; the traceback goes to the log only.
        log.exception("unhandled error on %s %s", request.method, request.path)
        response = _render(request, ApiError(ErrorKind.INTERNAL, "internal error in mockagent"))
    except asyncio.CancelledError:
        # The client hung up and aiohttp cancelled the handler: the call is journaled all the same, with
        # the status its answer had begun with (CHOSEN: 499, nginx's "client closed request", if none had).
        _record(request, request.get(STARTED, CLIENT_CLOSED), None)
        raise
    finally:
        engine.in_flight -= 1
    _record(request, response.status, response)
    return response


async def _unrouted(request: web.Request, error: web.HTTPException) -> web.StreamResponse:
    """A request no route takes (aiohttp's 404, or its 405 for a path served with other methods): a raw
    stub's answer if one takes it, else the error in the platform's envelope (a stub's near misses named)."""
    try:
        if getattr(request.match_info, "http_exception", None) is error:  # the router's, not a handler's
            answered = await _stubbed(request)
            if answered is not None:
                return answered
    except ApiError as failure:
        return _render(request, failure)
    except RunStateError as failure:
        return _render(request, ApiError(ErrorKind.CONFLICT, str(failure)))
    except Exception:
        log.exception("unhandled error on %s %s", request.method, request.path)
        return _render(request, ApiError(ErrorKind.INTERNAL, "internal error in mockagent"))
    kind = _HTTP_KINDS.get(error.status, ErrorKind.INTERNAL)
    message = _HTTP_MESSAGES.get(error.status, error.reason)
    response = _render(request, ApiError(kind, message))
    if request.get(CONTEXT) is None and error.status in (404, 405):  # nothing is served here: unmatched
        served = "nothing is served at" if error.status == 404 else "no route takes this method at"
        request[UNROUTED] = f"{served} {request.method} {request.path}"
    if error.status == 405 and "Allow" in error.headers:
        response.headers["Allow"] = error.headers["Allow"]
    return response


async def _stubbed(request: web.Request) -> web.StreamResponse | None:
    """The answer of a raw stub to a path no route serves: the stubs of the platform the path is under, or
    those at the server's root (with one platform served at the root, both). None: no stub takes it."""
    app = request.app
    engine = app[ENGINE]
    table = engine.scenarios.stub_table
    if not table or request.path.startswith(ADMIN_PREFIX):
        return None
    platform = platform_for(request)
    places: tuple[PlatformKey | None, ...] = (None,)
    path = request.path
    if platform is not None:
        places = (platform.key, None) if app[SETTINGS].root_platform is not None else (platform.key,)
        path = path[len(platform.prefix) :]
    candidates = table.candidates(places, request.method, path)
    if not candidates:
        return None
    name = request.headers.get(SESSION_HEADER)
    session = await default_session(request) if name is None else await session_named(request, name)
    key = platform.key if platform is not None else None
    ctx = RequestContext(key, "stub", request.method, request.path, session, request.headers, request.query)
    _enter(request, ctx, key.value if key is not None else None, "stub")
    session.entered()
    synced = engine.sessions.synced
    if synced:
        TOUCHED.set({})
    try:
        outcome = await stub_answer(request, ctx, places, path, candidates=candidates)
    finally:
        session.left()
        if synced:
            await engine.sessions.finish(session)
    if isinstance(outcome, StubsUnmatched):
        ctx.explanation = outcome.explain()
        raise ApiError(ErrorKind.NOT_FOUND, ctx.explanation)
    return outcome


CLIENT_CLOSED = 499
WHOLE = 32 * 1024  # an answer this size is taken whole by the connection's buffer, headers and all


async def _started(request: web.Request, response: web.StreamResponse) -> None:
    # A request holding its session in Redis does not wait on its client holding it. A whole answer that the
    # connection takes at once (aiohttp waits for the client past 64 KiB) is written as the request ends.
    if not (isinstance(response, web.Response) and isinstance(response.body, bytes) and len(response.body) < WHOLE):
        await let_go()
    request[STARTED] = response.status
    ctx = request.get(CONTEXT)
    if ctx is not None and ctx.entry is not None:
        entry = ctx.entry
        entry.started(ctx.session.clock.now(), response.status, not isinstance(response, web.Response))
        if entry.done:  # a whole answer, journaled before aiohttp gave it its last headers (Date …)
            _announce(request.app, entry, ctx.session)


def _enter(request: web.Request, ctx: RequestContext, platform: str | None, endpoint: str) -> None:
    """The request's context, and its journal entry (in the journal from now on, and in the feed)."""
    request[CONTEXT] = ctx
    session = ctx.session
    entry = ctx.entry = _journaled(request, session, platform, endpoint)
    request[ENTRY] = entry
    entry.mirrored = MIRROR in request.app
    feed = request.app[ENGINE].feed
    if feed.active:
        feed.publish("request.received", session.name, platform, entry=entry.summary(session.clock))


def _journaled(request: web.Request, session: Session, platform: str | None, endpoint: str | None = None) -> Entry:
    """A new entry for `request`, in the session's journal from now on."""
    entry = Entry(
        session.name,
        request.method,
        request.path,
        session.clock.now(),
        platform=platform,
        endpoint=endpoint,
        query=request.query,
        headers=request.headers,
    )
    return session.journal.add(entry)


def _record(request: web.Request, status: int, response: web.StreamResponse | None) -> None:
    """The request's journal entry, filled in now that its answer is over (`response`: None when the client
    hung up first)."""
    if request.path.startswith(ADMIN_PREFIX):
        return
    app = request.app
    engine = app[ENGINE]
    ctx = request.get(CONTEXT)
    if ctx is None or ctx.entry is None:  # refused before its session was known (a bad name, an unknown path)
        platform = platform_for(request)
        session = engine.sessions.default
        name = request.headers.get(SESSION_HEADER)
        if name is not None and SESSION_NAME.match(name):
            session = engine.default_sessions.get(name)
        entry = _journaled(request, session, platform.key.value if platform is not None else None)
        unrouted = request.get(UNROUTED)
        if unrouted is not None:
            entry.decided, entry.explanation = Decided.UNMATCHED, unrouted
    else:
        entry, session = ctx.entry, ctx.session
        if ctx.agent is not None:
            entry.agent = ctx.agent.id
        run = ctx.run
        if run is not None:
            entry.run, entry.run_status = run.id, run.status().value
            entry.conversation = run.conversation.id
        elif ctx.conversation is not None:
            entry.conversation = ctx.conversation.id
        if ctx.fault is not None:
            entry.fault = str(ctx.fault)
        if ctx.explanation is not None:
            entry.decided, entry.explanation = Decided.UNMATCHED, ctx.explanation
        elif ctx.stub is not None:
            entry.decided, entry.source = Decided.STUB, str(ctx.stub.source)
        else:
            entry.decided, entry.source, entry.item = ctx.decided, ctx.source, ctx.item
    entry.keep_request_body(request.get(BODY_KEY))
    if response is not None:
        # A whole answer is written as soon as this returns: its first byte is now.
        entry.started(session.clock.now(), status, False)
        body = response.body if isinstance(response, web.Response) else None
        entry.keep_response(response.headers, body if isinstance(body, bytes) else None)
    entry.end(session.clock.now(), status, closed=response is None)
    if response is None or response.prepared or ctx is None:
        _announce(app, entry, session)  # else once its head is ready (`_started`)


def _announce(app: web.Application, entry: Entry, session: Session) -> None:
    """An answered request, to the event feed and the journal file."""
    feed = app[ENGINE].feed
    if feed.active:
        feed.publish("request.answered", session.name, entry.platform, entry=entry.summary(session.clock))
    mirror = app.get(MIRROR)
    if mirror is not None:
        mirror.write(entry, session.clock, redactor_of(app))
    sessions = app[ENGINE].sessions
    if sessions.synced:  # the journal every process of the server reads (and verifies from)
        sessions.keep(session, entry.as_kept(session.clock, redactor_of(app), app[SETTINGS].name))


def _render(request: web.Request, error: ApiError) -> web.Response:
    return render_at(request.app, request.path, error)


def render_at(app: web.Application, path: str | None, error: ApiError) -> web.Response:
    """`error` in the envelope of the platform `path` belongs to, else mockagent's own `{"error": …}` (for
    the admin API, an unknown path, or a request too malformed to have one)."""
    platform = platform_at(app, path) if path is not None else None
    if platform is not None:
        return platform.render_error(error)
    status = HTTP_STATUS[error.kind]
    body: dict[str, object] = {"error": error.message}
    if error.message == _HTTP_MESSAGES[404] and path is not None and not path.startswith(ADMIN_PREFIX):
        mounted = ", ".join(f"/{key.value}" for key in app[PLATFORMS])
        body["error"] = f"nothing is served at {path}; platforms are mounted at {mounted}"
    return json_response(body, status=status)


_HTTP_KINDS = {
    404: ErrorKind.NOT_FOUND,
    405: ErrorKind.METHOD_NOT_ALLOWED,
    413: ErrorKind.PAYLOAD_TOO_LARGE,
    415: ErrorKind.UNSUPPORTED_MEDIA_TYPE,
    400: ErrorKind.INVALID_BODY,
}
_HTTP_MESSAGES = {404: "Not found", 405: "Method not allowed", 413: "Request body too large"}


__all__ = ["build_app", "build_engine", "platform_at", "platform_for", "render_at"]
