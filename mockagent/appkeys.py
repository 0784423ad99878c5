"""Typed keys for what the aiohttp application and its requests hold."""

from __future__ import annotations

from typing import TYPE_CHECKING

from aiohttp import web

from mockagent.context import RequestContext
from mockagent.engine import Engine
from mockagent.model import PlatformKey
from mockagent.platforms.base import Platform
from mockagent.settings import Settings

if TYPE_CHECKING:
    from mockagent.connections import Guard
    from mockagent.replay.replayer import Replayer

ENGINE = web.AppKey("engine", Engine)
PLATFORMS = web.AppKey("platforms", dict[PlatformKey, Platform])
SETTINGS = web.AppKey("settings", Settings)
CONTEXT = web.RequestKey("mockagent.context", RequestContext)
# The status a response began with, once its head is on its way (for a call whose client hangs up later).
STARTED = web.RequestKey("mockagent.started", int)
# The replay machinery is imported only by servers with cassettes.
REPLAYER: web.AppKey[Replayer] = web.AppKey("replayer")
# What the server's connections share (their count), set by the runner that serves the app: an app served by
# another runner (aiohttp's own, in some tests) has none.
GUARD: web.AppKey[Guard] = web.AppKey("guard")
