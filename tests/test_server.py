"""The server as a whole: mounting, health, and what unknown paths answer."""

from __future__ import annotations

import httpx
import pytest

from mockagent.server import ThreadedMockServer


def test_health_lists_every_platform(mockagent_server: ThreadedMockServer) -> None:
    response = httpx.get(f"{mockagent_server.url}/__mockagent/health")
    assert response.status_code == 200
    assert response.json() == {"status": "ok", "platforms": ["beeos", "agentos", "xpander", "zeus", "aster"]}


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
