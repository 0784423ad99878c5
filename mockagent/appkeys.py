"""Typed keys for what the aiohttp application and its requests hold."""

from __future__ import annotations

from collections.abc import Callable
from typing import TYPE_CHECKING

from aiohttp import web

from mockagent.context import RequestContext
from mockagent.engine import Engine
from mockagent.journal import Mirror
from mockagent.model import PlatformKey
from mockagent.platforms.base import Platform
from mockagent.settings import Settings

if TYPE_CHECKING:
    from mockagent.connections import Guard
    from mockagent.replay.redaction import Redactor
    from mockagent.replay.replayer import Replayer

ENGINE = web.AppKey("engine", Engine)
PLATFORMS = web.AppKey("platforms", dict[PlatformKey, Platform])
SETTINGS = web.AppKey("settings", Settings)
# When this server started (ISO 8601, UTC, to the microsecond): told by /health, so that a page that lost the
# server can tell, once it answers again, whether it is the same server or a new one.
SERVING_SINCE = web.AppKey("serving_since", str)
CONTEXT = web.RequestKey("mockagent.context", RequestContext)
# The status a response began with, once its head is on its way (for a call whose client hangs up later).
STARTED = web.RequestKey("mockagent.started", int)
# The replay machinery is imported only by servers with cassettes.
REPLAYER: web.AppKey[Replayer] = web.AppKey("replayer")
# What the server's connections share (their count), set by the runner that serves the app: an app served by
# another runner (aiohttp's own, in some tests) has none.
GUARD: web.AppKey[Guard] = web.AppKey("guard")
# The `--journal FILE` mirror, when there is one, and what redacts what the journal shows (`redactor_of`).
MIRROR = web.AppKey("mirror", Mirror)
REDACTOR: web.AppKey[Callable[[], Redactor]] = web.AppKey("redactor")
# Why nothing answered a request no route took (an unmatched request, for its journal entry).
UNROUTED = web.RequestKey("mockagent.unrouted", str)


def redactor_of(app: web.Application) -> Redactor:
    """What redacts the journal's views: the cassettes' rules, with the server's own additions (made when an
    entry is first read: most servers never compile the rules)."""
    return app[REDACTOR]()


def make_redactor(settings: Settings) -> Redactor:
    from mockagent.replay.redaction import Redactor, load_config

    config = load_config(settings.redaction) if settings.redaction is not None else None
    return Redactor(
        (*(config.headers if config else ()), *settings.redact_headers),
        (*(config.fields if config else ()), *settings.redact_fields),
        (*(config.patterns if config else ()), *settings.redact_patterns),
    )
