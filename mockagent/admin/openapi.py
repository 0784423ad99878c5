"""The admin API's OpenAPI 3.1 document (openapi.json beside this module, shipped as package data): every
route under /__mockagent with its parameters, bodies and answers. tests/test_admin_contract.py holds the
routes served and their answers to it, so that it cannot drift."""

from __future__ import annotations

import functools
from importlib import resources

from aiohttp import web


@functools.cache
def document() -> bytes:
    return resources.files("mockagent.admin").joinpath("openapi.json").read_bytes()


async def on_get_openapi(request: web.Request) -> web.Response:
    return web.Response(body=document(), content_type="application/json")
