"""Building the aiohttp application: platforms mounted under their keys (or one at the root), the
error middleware that gives every failure its platform's shape, and the /__mockagent admin API."""

from __future__ import annotations

import logging

from aiohttp import web

from mockagent.admin import ADMIN_PREFIX, admin_routes
from mockagent.appkeys import ENGINE, PLATFORMS, SETTINGS
from mockagent.engine import Engine
from mockagent.journal import Entry
from mockagent.model import PlatformKey
from mockagent.platforms import platform_classes
from mockagent.platforms.base import (
    AGENT_KEY,
    FAULT_KEY,
    HTTP_STATUS,
    ApiError,
    ErrorKind,
    Handler,
    Platform,
    json_response,
)
from mockagent.scenarios.model import ScenarioSet
from mockagent.settings import Settings, load_scenarios

log = logging.getLogger("mockagent")


def build_app(
    settings: Settings, engine: Engine | None = None, scenarios: ScenarioSet | None = None
) -> web.Application:
    """The whole server as one aiohttp application (`scenarios`: already loaded from `settings`)."""
    if engine is None:
        engine = Engine(
            scenarios if scenarios is not None else load_scenarios(settings),
            settings.make_clock(),
            fault_rules=settings.fault_rules,
            chaos=settings.chaos,
            chaos_seed=settings.seed,
        )
    classes = platform_classes()
    platforms = {key: classes[key](engine) for key in settings.served()}
    # Bodies are size-checked per platform (each has its own limit and 413 envelope), not by aiohttp.
    app = web.Application(middlewares=[_error_middleware], client_max_size=1024**3)
    app[ENGINE] = engine
    app[PLATFORMS] = platforms
    app[SETTINGS] = settings
    for key, platform in platforms.items():
        prefix = "" if settings.root_platform else f"/{key.value}"
        platform.mount.prefix = prefix
        for route in platform.routes():
            app.router.add_route(route.method, prefix + route.path, route.handler)
        for route in platform.admin_routes():
            app.router.add_route(route.method, f"{ADMIN_PREFIX}/{key.value}{route.path}", route.handler)
    for route in admin_routes():
        app.router.add_route(route.method, ADMIN_PREFIX + route.path, route.handler)
    return app


def platform_for(request: web.Request) -> Platform | None:
    """The platform a path belongs to, by its mount prefix."""
    app = request.app
    platforms = app[PLATFORMS]
    settings = app[SETTINGS]
    path = request.path
    if path.startswith(ADMIN_PREFIX + "/") or path == ADMIN_PREFIX:
        return None
    if settings.root_platform is not None:
        return platforms[settings.root_platform]
    key = _KEYS.get(path.split("/", 2)[1] if path.startswith("/") else "")
    return platforms.get(key) if key is not None else None


_KEYS = {key.value: key for key in PlatformKey}


@web.middleware
async def _error_middleware(request: web.Request, handler: Handler) -> web.StreamResponse:
    engine = request.app[ENGINE]
    engine.in_flight += 1
    try:
        response = await handler(request)
    except ApiError as error:
        response = _render(request, error)
    except web.HTTPException as exc:
        if exc.status < 400:
            raise
        kind = _HTTP_KINDS.get(exc.status, ErrorKind.INTERNAL)
        message = _HTTP_MESSAGES.get(exc.status, exc.reason)
        response = _render(request, ApiError(kind, message))
        if exc.status == 405 and "Allow" in exc.headers:
            response.headers["Allow"] = exc.headers["Allow"]
    except Exception:
        # A bug of ours must still answer in the platform's shape; the traceback goes to the log only.
        log.exception("unhandled error on %s %s", request.method, request.path)
        response = _render(request, ApiError(ErrorKind.INTERNAL, "internal error in mockagent"))
    finally:
        engine.in_flight -= 1
    _record(request, response)
    return response


def _record(request: web.Request, response: web.StreamResponse) -> None:
    if request.path.startswith(ADMIN_PREFIX):
        return
    engine = request.app[ENGINE]
    platform = platform_for(request)
    found = request.get(FAULT_KEY)
    engine.journal.add(
        Entry(
            at=engine.clock.now(),
            platform=platform.key.value if platform else None,
            method=request.method,
            path=request.path,
            status=response.status,
            agent=request.get(AGENT_KEY),
            fault=str(found[0]) if found else None,
        )
    )


def _render(request: web.Request, error: ApiError) -> web.Response:
    platform = platform_for(request)
    if platform is not None:
        return platform.render_error(error)
    status = HTTP_STATUS[error.kind]
    body: dict[str, object] = {"error": error.message}
    if platform is None and error.kind is ErrorKind.NOT_FOUND and not request.path.startswith(ADMIN_PREFIX):
        mounted = ", ".join(f"/{key.value}" for key in request.app[PLATFORMS])
        body["error"] = f"nothing is served at {request.path}; platforms are mounted at {mounted}"
    return json_response(body, status=status)


_HTTP_KINDS = {
    404: ErrorKind.NOT_FOUND,
    405: ErrorKind.METHOD_NOT_ALLOWED,
    413: ErrorKind.PAYLOAD_TOO_LARGE,
    415: ErrorKind.UNSUPPORTED_MEDIA_TYPE,
    400: ErrorKind.INVALID_BODY,
}
_HTTP_MESSAGES = {404: "Not found", 405: "Method not allowed", 413: "Request body too large"}


__all__ = ["build_app", "platform_for"]
