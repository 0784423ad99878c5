"""AgentOS — stub, replaced by the platform's own module."""

from __future__ import annotations

from collections.abc import Iterable
from typing import ClassVar

from aiohttp import web

from mockagent.model import PlatformKey
from mockagent.platforms.base import ApiError, Platform, Route, json_response


class AgentOS(Platform):
    key: ClassVar[PlatformKey] = PlatformKey.AGENTOS
    title: ClassVar[str] = "AgentOS"
    real_base_url: ClassVar[str] = "https://agentos-ai.dev"
    client_base_path: ClassVar[str] = ""

    def routes(self) -> Iterable[Route]:
        return []

    def render_error(self, error: ApiError) -> web.Response:
        return json_response({"error": error.message}, status=500)
