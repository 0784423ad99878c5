"""The web page (docs/ui.md): a live view of requests and runs, and the controls a person presenting a demo
needs, built only on the admin API and its event feed. Its files ship in the package (mockagent/ui/) and
are served as they are: no build step, nothing fetched from elsewhere.

With an admin token set, a browser cannot send ``Authorization`` on a navigation or an EventSource, so
``/__mockagent/ui?token=TOKEN`` trades the token (checked in constant time) for an HttpOnly,
SameSite=Strict cookie on /__mockagent that the guard takes as it takes the header (`access.has_token`),
and sends the browser on to the page without the token in its address.
"""

from __future__ import annotations

import functools
import html
from importlib import resources

from aiohttp import hdrs, web

from mockagent.admin.access import PAGE_PATH, TOKEN_COOKIE, has_token, is_token
from mockagent.appkeys import SETTINGS
from mockagent.encoding import json_response

#: The page's files and their media types; nothing else under /ui is served.
ASSETS = {
    "index.html": "text/html",
    "app.js": "text/javascript",
    "style.css": "text/css",
}
# No inline script or style anywhere, nothing from another origin; `data:` only for the empty favicon
# (without one the browser asks for /favicon.ico, a 404 in the console).
POLICY = (
    "default-src 'self'; script-src 'self'; style-src 'self'; img-src 'self' data:; connect-src 'self'; "
    "base-uri 'none'; form-action 'none'; frame-ancestors 'none'; object-src 'none'"
)
_HEADERS = {
    "Content-Security-Policy": POLICY,
    # The page changes with the package; a demo machine must never run a stale copy.
    hdrs.CACHE_CONTROL: "no-store",
    "X-Content-Type-Options": "nosniff",
    "Referrer-Policy": "no-referrer",
}


@functools.cache
def asset(name: str) -> bytes:
    return resources.files("mockagent").joinpath("ui", name).read_bytes()


async def on_get_page(request: web.Request) -> web.Response:
    """The page; with a token set, the exchange of ``?token=`` for the cookie, or a page telling how."""
    token = request.app[SETTINGS].admin_token
    if token is not None:
        given = request.query.get("token")
        if given is not None:
            if not is_token(given, token):
                return _refused("That is not the admin token.")
            response = web.Response(status=303, headers={**_HEADERS, hdrs.LOCATION: PAGE_PATH})
            response.set_cookie(
                TOKEN_COOKIE, token, path="/__mockagent", httponly=True, samesite="Strict", secure=request.secure
            )
            return response
        if not has_token(request, token):
            return _refused("This server's admin API needs its token.")
    return _file("index.html")


async def on_get_asset(request: web.Request) -> web.Response:
    name = request.match_info["name"]
    if name not in ASSETS or name == "index.html":
        return json_response({"error": f"no file {name[:64]!r} in the web page"}, status=404)
    return _file(name)


def _file(name: str) -> web.Response:
    return web.Response(body=asset(name), content_type=ASSETS[name], charset="utf-8", headers=_HEADERS)


def _refused(why: str) -> web.Response:
    text = (
        "<!doctype html><html lang=en><meta charset=utf-8><title>mockagent: token needed</title>"
        f"<h1>mockagent: token needed</h1><p>{html.escape(why)}</p>"
        f"<p>Open <code>{PAGE_PATH}?token=YOUR_TOKEN</code> once (the token given with <code>--admin-token</code> "
        "or <code>MOCKAGENT_ADMIN_TOKEN</code>); the browser then keeps it as a cookie for this server.</p>"
    )
    return web.Response(
        text=text,
        status=401,
        content_type="text/html",
        headers={**_HEADERS, hdrs.WWW_AUTHENTICATE: 'Bearer realm="mockagent admin"'},
    )
