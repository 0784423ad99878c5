"""Typed keys for what the aiohttp application and its requests hold."""

from __future__ import annotations

from aiohttp import web

from mockagent.context import RequestContext
from mockagent.engine import Engine
from mockagent.model import PlatformKey
from mockagent.platforms.base import Platform
from mockagent.settings import Settings

ENGINE = web.AppKey("engine", Engine)
PLATFORMS = web.AppKey("platforms", dict[PlatformKey, Platform])
SETTINGS = web.AppKey("settings", Settings)
CONTEXT = web.RequestKey("mockagent.context", RequestContext)
