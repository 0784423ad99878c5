"""The server as a whole: mounting, health, and what unknown paths answer."""

from __future__ import annotations

import httpx
import pytest

from mockagent.server import ThreadedMockServer


def test_health_lists_every_platform(mockagent_server: ThreadedMockServer) -> None:
    response = httpx.get(f"{mockagent_server.url}/__mockagent/health")
    assert response.status_code == 200
    assert response.json()["platforms"] == ["beeos", "agentos", "xpander", "zeus", "aster"]


@pytest.mark.mockagent(allow_unmatched=True)
def test_unknown_path_is_json_not_html(mockagent_server: ThreadedMockServer) -> None:
    response = httpx.get(f"{mockagent_server.url}/nowhere")
    assert response.status_code == 404
    assert response.headers["content-type"].startswith("application/json")
    assert "/beeos" in response.json()["error"]


@pytest.mark.mockagent(platform="zeus")
def test_one_platform_at_the_root(mockagent_server: ThreadedMockServer) -> None:
    response = httpx.get(f"{mockagent_server.url}/__mockagent/health")
    assert response.json()["platforms"] == ["zeus"]
    assert mockagent_server.base_url("zeus") == mockagent_server.url


def test_the_platform_registry_refuses_a_duplicate_key() -> None:
    from mockagent.platforms import platform_classes, registry
    from mockagent.platforms.beeos import BeeOS

    class Impostor(BeeOS):
        pass

    assert list(registry(platform_classes().values())) == ["beeos", "agentos", "xpander", "zeus", "aster"]
    with pytest.raises(ValueError, match="'beeos' is claimed by both BeeOS and Impostor"):
        registry([BeeOS, Impostor])


def test_every_handler_is_named_on_verb_noun() -> None:
    import re

    from mockagent.admin import admin_routes
    from mockagent.platforms import platform_classes
    from mockagent.platforms.base import Route

    endpoints = []
    for cls in platform_classes().values():
        platform = cls.__new__(cls)  # routes() only names bound methods
        endpoints += [route.endpoint for route in [*platform.routes(), *platform.admin_routes()]]
    assert "invoke_agent" in endpoints
    assert all(re.fullmatch(r"on_[a-z]+(_[a-z]+)*", route.handler.__name__) for route in admin_routes())

    async def invoke(request: object, ctx: object) -> None: ...

    with pytest.raises(ValueError, match="is not named on_<verb>_<noun>"):
        _ = Route("POST", "/x", invoke).endpoint  # type: ignore[arg-type]
