"""BeeOS — stub, replaced by the platform's own module."""

from __future__ import annotations

from collections.abc import Iterable
from typing import ClassVar

from aiohttp import web

from mockagent.model import PlatformKey
from mockagent.platforms.base import ApiError, Platform, Route, json_response


class BeeOS(Platform):
    key: ClassVar[PlatformKey] = PlatformKey.BEEOS
    title: ClassVar[str] = "BeeOS"
    real_base_url: ClassVar[str] = "https://openapi.beeos.ai"
    client_base_path: ClassVar[str] = ""

    def routes(self) -> Iterable[Route]:
        return []

    def render_error(self, error: ApiError) -> web.Response:
        return json_response({"error": error.message}, status=500)
