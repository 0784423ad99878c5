"""One decision per request: the agent's first reply whose `when` holds answers; when none does, the
platform's own 404 names the agent and says, for the nearest replies, which condition failed and on what."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import httpx
import pytest
from credentials import JWT

from mockagent.server import ThreadedMockServer

SCENARIOS = "tests/scenarios/sessions.yaml"
pytestmark = pytest.mark.mockagent(scenarios=[SCENARIOS])

LLM = {"baseUrl": "http://llm.invalid", "apiKey": "sk-x", "modelName": "m"}
Call = Callable[[ThreadedMockServer, str], httpx.Response]


def _post(
    server: ThreadedMockServer, platform: str, path: str, body: dict[str, Any], headers: dict[str, str]
) -> httpx.Response:
    return httpx.post(server.base_url(platform) + path, json=body, headers=headers, timeout=10)


PLATFORMS: dict[str, tuple[Call, Callable[[httpx.Response], str]]] = {
    "beeos": (
        lambda s, m: _post(
            s, "beeos", "/api/v1/agents/strict/invoke", {"message": m}, {"Authorization": "Bearer oag_" + "a" * 64}
        ),
        lambda r: r.json()["error"]["message"],
    ),
    "agentos": (
        lambda s, m: _post(
            s, "agentos", "/api/v1/agents/strict/invoke", {"input": {"query": m}}, {"Authorization": "Bearer aos_ws_t"}
        ),
        lambda r: r.json()["error"]["message"],
    ),
    "xpander": (
        lambda s, m: _post(
            s,
            "xpander",
            "/v1/agents/strict/invoke",
            {"input": {"text": m, "user": {"id": "u", "email": "u@x.io"}}},
            {"x-api-key": "k"},
        ),
        lambda r: r.json()["detail"],
    ),
    "zeus": (
        lambda s, m: _post(
            s,
            "zeus",
            "/api/agent/invoke?agent=strict",
            {"message": m, "llm_config": LLM},
            {"Authorization": f"Bearer {JWT}"},
        ),
        lambda r: r.json()["detail"],
    ),
    "aster": (
        lambda s, m: _post(
            s,
            "aster",
            "/chat",
            {"agentId": 51, "message": {"role": "user", "parts": [{"type": "text", "text": m}]}},
            {"Authorization": f"Bearer {JWT}", "X-Stream-Response": "false"},
        ),
        lambda r: r.json()["error"],
    ),
}


@pytest.mark.parametrize("platform", list(PLATFORMS))
@pytest.mark.mockagent(scenarios=[SCENARIOS], allow_unmatched=True)
def test_an_unmatched_message_is_the_platforms_404_with_the_near_misses(
    mockagent_server: ThreadedMockServer, platform: str
) -> None:
    call, message_of = PLATFORMS[platform]
    response = call(mockagent_server, "where is order abc")
    assert response.status_code == 404, response.text
    message = message_of(response)
    assert message.startswith("agent 'strict' has no reply for this request: ")
    assert "the message regex '^order [0-9]+$': it is 'where is order abc'" in message
    assert "the message contains 'refund': it is 'where is order abc'" in message
    assert "sessions.yaml:" in message  # each near miss names where its reply is declared
    # Nothing ran, and nothing was left behind.
    assert httpx.get(f"{mockagent_server.url}/__mockagent/runs", timeout=10).json() == []


@pytest.mark.parametrize("platform", list(PLATFORMS))
def test_a_matching_message_is_answered(mockagent_server: ThreadedMockServer, platform: str) -> None:
    call, _ = PLATFORMS[platform]
    response = call(mockagent_server, "I want a refund")
    assert response.status_code in (200, 202), response.text
    (run,) = httpx.get(f"{mockagent_server.url}/__mockagent/runs", timeout=10).json()
    assert run["reply"].startswith(f"{mockagent_server.server.settings.scenario_paths[0]}:")


@pytest.mark.mockagent(scenarios=[SCENARIOS], allow_unmatched=True)
def test_the_nearest_replies_come_first_and_list_every_failed_condition(mockagent_server: ThreadedMockServer) -> None:
    url = mockagent_server.base_url("beeos") + "/api/v1/agents/strict/invoke"
    headers = {"Authorization": "Bearer oag_" + "a" * 64}
    first = httpx.post(url, json={"message": "refund?", "context_id": "c"}, headers=headers, timeout=10)
    assert first.status_code == 200
    second = httpx.post(url, json={"message": "hello there", "context_id": "c"}, headers=headers, timeout=10)
    assert second.status_code == 404
    misses = second.json()["error"]["message"].split(": ", 1)[1].split("; ")
    # Two replies fail one condition each; `equals hello, turn 1` fails both of its own, so it comes last.
    assert len(misses) == 3
    assert "contains 'refund'" in misses[0]
    assert "regex" in misses[1]
    assert "the message equals 'hello': it is 'hello there', the turn equals 1: it is 2" in misses[2]


@pytest.mark.mockagent(scenarios=[SCENARIOS], allow_unmatched=True)
def test_a_long_message_is_quoted_short(mockagent_server: ThreadedMockServer) -> None:
    call, message_of = PLATFORMS["beeos"]
    message = message_of(call(mockagent_server, "x" * 10_000))
    assert len(message) < 1_000
    assert "'" + "x" * 60 + "…'" in message
