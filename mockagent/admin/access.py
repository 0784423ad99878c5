"""Who may use the admin API: it is no way in (docs/admin.md#who-may-use-it).

A request whose ``Host`` is not this server's is refused (DNS rebinding), so is a state-changing one sent
by a page of another origin (cross-site requests), and with a token set every route but health needs it —
which a server bound beyond loopback must have (`exposure`). A browser cannot put the token in a header
for a navigation or an EventSource, so the web page (`mockagent.admin.ui`) trades it once for a cookie that
the guard takes as well (`TOKEN_COOKIE`).
"""

from __future__ import annotations

import hmac
import ipaddress
from collections.abc import Awaitable, Callable

from aiohttp import hdrs, web
from yarl import URL

from mockagent.appkeys import SETTINGS
from mockagent.encoding import json_response
from mockagent.settings import Settings

ADMIN_PREFIX = "/__mockagent"
Handler = Callable[[web.Request], Awaitable[web.StreamResponse]]
#: CHOSEN: the shortest admin token accepted (a short one could be guessed by trying).
MIN_TOKEN_LENGTH = 16
_SAFE_METHODS = frozenset({"GET", "HEAD", "OPTIONS"})
_OPEN_PATHS = frozenset({ADMIN_PREFIX + "/health"})  # a container's health check needs no token
#: The web page's own path: it answers a missing token itself, with a page telling how to give it.
PAGE_PATH = ADMIN_PREFIX + "/ui"
#: CHOSEN: the cookie the web page sets once given the right token (HttpOnly, SameSite=Strict, Path=/__mockagent).
TOKEN_COOKIE = "mockagent_admin"  # noqa: S105 (a cookie's name, not a secret)


def is_loopback(host: str) -> bool:
    """Whether binding `host` keeps the server on this machine."""
    if host.lower().rstrip(".") == "localhost":
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False


def exposure(host: str, settings: Settings) -> str | None:
    """Why the server may not bind `host` as set up (None: it may): off loopback, the admin API needs a
    token, or must be turned off."""
    token = settings.admin_token
    if token is not None and len(token) < MIN_TOKEN_LENGTH:
        return f"the admin token must be at least {MIN_TOKEN_LENGTH} characters long"
    if is_loopback(host) or not settings.admin_api or token is not None:
        return None
    return (
        f"binding {host or 'every address'} would let anyone who can reach this port use the admin API "
        "(/__mockagent: reload, reset sessions, move clocks): give it a token (--admin-token or "
        "MOCKAGENT_ADMIN_TOKEN) or turn it off (--no-admin)"
    )


def guarded(handler: Handler) -> Handler:
    """An admin route behind the checks of the module's docstring (rules and CHOSEN values: docs/admin.md)."""

    async def guard(request: web.Request) -> web.StreamResponse:
        settings = request.app[SETTINGS]
        refusal = _foreign_host(request, settings) or _foreign_origin(request)
        if refusal is not None:
            return json_response({"error": refusal}, status=403)
        token = settings.admin_token
        if (
            token is not None
            and request.path not in _OPEN_PATHS
            and request.path != PAGE_PATH
            and not has_token(request, token)
        ):
            return json_response(
                {"error": "the admin API needs its token: Authorization: Bearer <token>"},
                status=401,
                headers={hdrs.WWW_AUTHENTICATE: 'Bearer realm="mockagent admin"'},
            )
        return await handler(request)

    return guard


def _foreign_host(request: web.Request, settings: Settings) -> str | None:
    """A Host that is not one of this server's names: how DNS rebinding reaches a local server. A loopback
    name, an IP address (a rebinding page's Host is its own domain name) or a name allowed by the settings
    (the one bound, --allowed-host) is fine."""
    host = request.headers.get(hdrs.HOST)
    if host is None:
        return "the admin API needs a Host header"
    try:
        name = URL.build(scheme="http", authority=host).host
    except ValueError:
        name = None
    if name is None:
        return "the admin API does not answer for this Host"
    name = name.lower().rstrip(".")
    if name == "localhost" or name.endswith(".localhost"):
        return None
    if any(name == allowed.lower().rstrip(".") for allowed in settings.allowed_hosts):
        return None
    try:
        ipaddress.ip_address(name)
    except ValueError:
        return f"the admin API does not answer for Host {name[:64]!r} (allow it with --allowed-host)"
    return None


def _foreign_origin(request: web.Request) -> str | None:
    """A state-changing request sent by a page of another origin (a browser says which in Origin; clients
    that are no browser send none)."""
    origin = request.headers.get(hdrs.ORIGIN)
    if origin is None or request.method in _SAFE_METHODS:
        return None
    scheme, _, authority = origin.partition("://")
    if scheme in ("http", "https") and authority.lower() == request.headers.get(hdrs.HOST, "").lower():
        return None
    return "the admin API does not take state-changing requests from another origin"


def has_token(request: web.Request, token: str) -> bool:
    """Whether the request carries the token: as ``Authorization: Bearer``, or as the web page's cookie."""
    scheme, _, given = request.headers.get(hdrs.AUTHORIZATION, "").partition(" ")
    if scheme.lower() == "bearer" and is_token(given.strip(), token):
        return True
    cookie = request.cookies.get(TOKEN_COOKIE)
    return cookie is not None and is_token(cookie, token)


def is_token(given: str, token: str) -> bool:
    # Compared in constant time: the time taken tells nothing of how much of the token was right.
    return hmac.compare_digest(given.encode("utf-8", "replace"), token.encode())
