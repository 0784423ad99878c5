"""Aster Agents — stub, replaced by the platform's own module."""

from __future__ import annotations

from collections.abc import Iterable
from typing import ClassVar

from aiohttp import web

from mockagent.model import PlatformKey
from mockagent.platforms.base import ApiError, Platform, Route, json_response


class Aster(Platform):
    key: ClassVar[PlatformKey] = PlatformKey.ASTER
    title: ClassVar[str] = "Aster Agents"
    real_base_url: ClassVar[str] = "https://www.asteragents.com/api"
    client_base_path: ClassVar[str] = "/api"

    def routes(self) -> Iterable[Route]:
        return []

    def render_error(self, error: ApiError) -> web.Response:
        return json_response({"error": error.message}, status=500)
