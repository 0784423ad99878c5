"""Faults on every platform, as a client sees them: the 429 shape and Retry-After, the rate-limit model,
the flaky demo agent, 5xx statuses, broken streams, and chaos repeating itself for a seed."""

from __future__ import annotations

import json
import threading
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from typing import Any

import httpx
import pytest
from credentials import JWT
from sse import parse

from mockagent.server import ThreadedMockServer

BEEOS_KEY = "oag_" + "a" * 64
SAFETY = 10.0  # real seconds: a bound on what should happen at once, never a measurement


@dataclass(frozen=True)
class Client:
    """How to ask one platform's `agent` for a blocking (or, for Zeus, streamed) reply to `message`."""

    platform: str
    path: Callable[[str], str]
    body: Callable[[str, str | None], dict[str, Any]]
    headers: dict[str, str]
    # Where a continued conversation's id comes from in a reply.
    conversation: Callable[[httpx.Response], str | None]
    rate_limited: Callable[[Any], bool]

    def call(
        self,
        server: ThreadedMockServer,
        agent: str,
        message: str = "hi",
        *,
        conversation: str | None = None,
        headers: dict[str, str] | None = None,
    ) -> httpx.Response:
        return httpx.post(
            server.base_url(self.platform) + self.path(agent),
            json=self.body(message, conversation),
            headers={**self.headers, **(headers or {})},
            timeout=10,
        )


ASTER_IDS = {"echo": 1, "flaky": 6, "timeout": 7}

CLIENTS = [
    Client(
        "beeos",
        lambda agent: f"/api/v1/agents/{agent}/invoke",
        lambda message, conv: {"message": message, **({"context_id": conv} if conv else {})},
        {"Authorization": f"Bearer {BEEOS_KEY}"},
        lambda r: r.json()["data"]["context_id"],
        lambda body: (
            body["success"] is False
            and body["error"]["type"] == "rate_limit_error"
            and body["error"]["code"] == "rate_limited"
        ),
    ),
    Client(
        "agentos",
        lambda agent: f"/api/v1/agents/{agent}/invoke",
        lambda message, conv: {
            "input": {"query": message},
            **({"session_id": conv} if conv else {"start_session": True}),
        },
        {"Authorization": "Bearer aos_ws_test"},
        lambda r: r.json()["data"].get("session_id"),
        lambda body: body["data"] is None and body["error"]["code"] == "RATE_LIMITED",
    ),
    Client(
        "xpander",
        lambda agent: f"/v1/agents/{agent}/invoke",
        lambda message, conv: {
            "input": {"text": message, "user": {"id": "u1", "email": "u1@example.com"}},
            **({"id": conv} if conv else {}),
        },
        {"x-api-key": "xp-test-key"},
        lambda r: r.json()["id"],
        lambda body: body == {"detail": "Rate limit exceeded"},
    ),
    Client(
        "zeus",
        lambda agent: f"/api/agent/invoke?agent={agent}",
        lambda message, conv: {
            "message": message,
            "llm_config": {"baseUrl": "http://llm.invalid", "apiKey": "sk-secret", "modelName": "m"},
            **({"session_id": conv} if conv else {}),
        },
        {"Authorization": f"Bearer {JWT}"},
        lambda r: next((f.json()["session_id"] for f in parse(r.text) if f.json().get("type") == "done"), None),
        lambda body: isinstance(body.get("detail"), str),
    ),
    Client(
        "aster",
        lambda agent: "/chat",
        lambda message, conv: {
            "agentId": 1,
            "message": {"role": "user", "parts": [{"type": "text", "text": message}]},
            **({"threadId": conv} if conv else {}),
        },
        {"Authorization": f"Bearer {JWT}", "X-Stream-Response": "false"},
        lambda r: r.json()["threadId"],
        lambda body: body == {"error": "Too many requests"},
    ),
]


def aster_agent(client: Client, agent: str) -> Client:
    """Aster addresses agents by number in the body, not the path."""
    if client.platform != "aster":
        return client
    number = ASTER_IDS[agent]
    return Client(
        client.platform,
        client.path,
        lambda m, c: {**client.body(m, c), "agentId": number},
        client.headers,
        client.conversation,
        client.rate_limited,
    )


@pytest.fixture(params=CLIENTS, ids=lambda c: c.platform)
def client(request: pytest.FixtureRequest) -> Client:
    return request.param  # type: ignore[no-any-return]


def test_forced_429_has_the_platform_shape_and_retry_after(
    mockagent_server: ThreadedMockServer, client: Client
) -> None:
    response = client.call(mockagent_server, "echo", headers={"X-Mockagent-Fault": "429, retry-after=7"})
    assert response.status_code == 429
    assert response.headers["Retry-After"] == "7"
    assert client.rate_limited(response.json()), response.text
    # A 429 is not a turn: nothing ran.
    assert mockagent_server.session().runs_of() == []
    entry = httpx.get(f"{mockagent_server.url}/__mockagent/journal").json()["entries"][-1]
    assert (entry["status"], entry["fault"], entry["platform"]) == (429, "429, retry-after=7", client.platform)


@pytest.mark.parametrize("status", [500, 502, 503, 504])
def test_forced_5xx_statuses(mockagent_server: ThreadedMockServer, client: Client, status: int) -> None:
    response = client.call(mockagent_server, "echo", headers={"X-Mockagent-Fault": str(status)})
    assert response.status_code == status
    assert response.headers["content-type"].startswith("application/json")
    assert response.json()  # the platform's envelope, not an empty or HTML body


def test_an_unparsable_fault_header_is_a_validation_error(mockagent_server: ThreadedMockServer, client: Client) -> None:
    response = client.call(mockagent_server, "echo", headers={"X-Mockagent-Fault": "teapot"})
    assert response.status_code in (400, 422)
    assert "X-Mockagent-Fault" in response.text


def test_flaky_fails_the_first_call_of_each_conversation(mockagent_server: ThreadedMockServer, client: Client) -> None:
    client = aster_agent(client, "flaky")
    first = client.call(mockagent_server, "flaky", "one")
    assert first.status_code == 429
    assert first.headers["Retry-After"] == "1"
    assert client.rate_limited(first.json())
    retry = client.call(mockagent_server, "flaky", "one")
    assert retry.status_code in (200, 202), retry.text
    conversation = client.conversation(retry)
    assert conversation
    # The conversation's next turn is not its first call: it passes.
    again = client.call(mockagent_server, "flaky", "two", conversation=conversation)
    assert again.status_code in (200, 202), again.text


@pytest.mark.mockagent(manual_clock=True, rate_limit="2/min", scenarios=["tests/scenarios/instant.yaml"])
def test_rate_limit_retry_after_is_when_a_request_next_passes(
    mockagent_server: ThreadedMockServer, client: Client
) -> None:
    assert client.call(mockagent_server, "echo").status_code in (200, 202)
    assert client.call(mockagent_server, "echo").status_code in (200, 202)
    limited = client.call(mockagent_server, "echo")
    assert limited.status_code == 429
    assert client.rate_limited(limited.json())
    assert limited.headers["Retry-After"] == "30"  # 2 per minute: a token comes back every 30 s
    mockagent_server.advance(29)
    still = client.call(mockagent_server, "echo")
    assert (still.status_code, still.headers["Retry-After"]) == (429, "1")
    mockagent_server.advance(1)
    assert client.call(mockagent_server, "echo").status_code in (200, 202)


@pytest.mark.mockagent(rate_limit="1/h")
def test_rate_limit_is_per_credential(mockagent_server: ThreadedMockServer) -> None:
    beeos = CLIENTS[0]
    assert beeos.call(mockagent_server, "echo").status_code == 200
    assert beeos.call(mockagent_server, "echo").status_code == 429
    other = {"Authorization": "Bearer oag_" + "b" * 64}
    assert beeos.call(mockagent_server, "echo", headers=other).status_code == 200


def chaos_statuses(seed: int) -> list[int]:
    from mockagent.settings import Settings

    with ThreadedMockServer(Settings(chaos=0.5, seed=seed, speed=1000)) as server:
        return [CLIENTS[0].call(server, "echo", f"m{i}").status_code for i in range(30)]


def test_chaos_repeats_itself_for_the_same_seed() -> None:
    first = chaos_statuses(seed=3)
    assert first == chaos_statuses(seed=3)
    assert any(status >= 400 for status in first)
    assert any(status == 200 for status in first)
    assert first != chaos_statuses(seed=4)


# ── broken streams, on the platforms' streaming forms ───────────────────────────────────────────

STREAMS: dict[str, tuple[str, dict[str, Any], dict[str, str]]] = {
    "beeos": (
        "/api/v1/agents/tools/invoke",
        {"message": "weather?"},
        {"Authorization": f"Bearer {BEEOS_KEY}", "Accept": "text/event-stream"},
    ),
    "agentos": (
        "/api/v1/agents/tools/invoke",
        {"input": {"query": "weather?"}, "stream": True},
        {"Authorization": "Bearer aos_ws_t"},
    ),
    "xpander": (
        "/v1/agents/tools/invoke/stream",
        {"input": {"text": "weather?"}},
        {"x-api-key": "xp-test-key"},
    ),
    "zeus": (
        "/api/agent/invoke?agent=tools",
        {"message": "weather?", "llm_config": {"baseUrl": "http://llm.invalid", "apiKey": "sk-x", "modelName": "m"}},
        {"Authorization": f"Bearer {JWT}"},
    ),
    "aster": (
        "/chat",
        {"agentId": 2, "message": {"role": "user", "parts": [{"type": "text", "text": "weather?"}]}},
        {"Authorization": f"Bearer {JWT}"},
    ),
}
TERMINAL = {
    "beeos": lambda f: f.data.startswith("{") and json.loads(f.data).get("type") == "done",
    "agentos": lambda f: json.loads(f.data).get("type") in {"done", "error", "awaiting_approval", "awaiting_input"},
    "xpander": lambda f: json.loads(f.data).get("type") == "task_finished",
    "zeus": lambda f: json.loads(f.data).get("type") in {"done", "error", "interrupt"},
    "aster": lambda f: f.data == "[DONE]" or json.loads(f.data).get("type") == "finish",
}


def stream(server: ThreadedMockServer, platform: str, fault: str | None) -> tuple[str, bool]:
    """The raw body a client read, and whether it ended cleanly."""
    path, body, headers = STREAMS[platform]
    if fault:
        headers = {**headers, "X-Mockagent-Fault": fault}
    chunks: list[str] = []
    try:
        with httpx.stream("POST", server.base_url(platform) + path, json=body, headers=headers, timeout=10) as r:
            assert r.status_code == 200, r.read()
            for text in r.iter_text():
                chunks.append(text)
    except httpx.RemoteProtocolError:
        return "".join(chunks), False
    return "".join(chunks), True


@pytest.mark.mockagent(speed=1)  # real time: the drop must come well before the run ends
@pytest.mark.parametrize("platform", list(STREAMS))
def test_stream_faults(mockagent_server: ThreadedMockServer, platform: str) -> None:
    clean, ok = stream(mockagent_server, platform, None)
    frames = parse(clean)
    assert ok
    assert TERMINAL[platform](frames[-1]) or TERMINAL[platform](frames[-2])
    assert len(frames) > 3

    dropped, ok = stream(mockagent_server, platform, "drop-after=2")
    assert not ok, "a dropped stream must not end cleanly"
    assert len([b for b in dropped.split("\n\n") if b.strip()]) == 2
    runs = mockagent_server.session().runs_of()
    assert runs[-1].status().value == "cancelled"

    truncated, ok = stream(mockagent_server, platform, "no-terminal")
    assert ok
    assert not any(TERMINAL[platform](f) for f in parse(truncated))

    malformed, ok = stream(mockagent_server, platform, "malformed=2")
    bad = parse(malformed)[1]
    with pytest.raises(json.JSONDecodeError):
        json.loads(bad.data)


def test_agentos_sdk_retries_flaky_after_retry_after(
    mockagent_server: ThreadedMockServer, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The real SDK reads Retry-After and waits that long before its retry (its sleep is recorded, not slept)."""
    from agentos import AgentOS, _transport

    waits: list[float] = []
    monkeypatch.setattr(_transport, "_sleep", waits.append)
    with AgentOS(api_key="aos_ws_test", base_url=mockagent_server.base_url("agentos")) as aos:
        result = aos.invoke({"query": "hello"}, agent_id="flaky")
    assert result.status == "completed"
    assert result.output == {"text": "Echo: hello"}
    assert waits == [1.0]
    statuses = [e["status"] for e in httpx.get(f"{mockagent_server.url}/__mockagent/journal").json()["entries"]]
    assert statuses == [429, 200]


@pytest.mark.mockagent(scenarios=["tests/scenarios/glitches.yaml"], speed=100)
@pytest.mark.parametrize("platform", list(STREAMS))
def test_a_fault_scripted_at_a_step_breaks_the_stream_there(
    mockagent_server: ThreadedMockServer, platform: str
) -> None:
    path, body, headers = STREAMS[platform]
    path = path.replace("tools", "dropper")
    body = {**body, "agentId": 40} if platform == "aster" else body
    chunks: list[str] = []
    with (
        pytest.raises(httpx.RemoteProtocolError),
        httpx.stream("POST", mockagent_server.base_url(platform) + path, json=body, headers=headers, timeout=10) as r,
    ):
        chunks.extend(r.iter_text())
    text = "".join(chunks)
    assert "before" in text
    assert "after" not in text
    assert mockagent_server.session().runs_of()[-1].status().value == "cancelled"
    # The blocking view of the same script is untouched by a stream fault.
    blocking = CLIENTS[1].call(mockagent_server, "dropper")
    assert blocking.json()["data"]["output"] == {"text": "before after"}


@pytest.mark.mockagent(manual_clock=True, scenarios=["tests/scenarios/instant.yaml"])
def test_latency_is_clock_time_before_the_first_byte(mockagent_server: ThreadedMockServer) -> None:
    with ThreadPoolExecutor(1) as pool:
        reply = pool.submit(CLIENTS[0].call, mockagent_server, "echo", headers={"X-Mockagent-Fault": "latency=5"})
        mockagent_server.until_waiting(1)  # the request waits out its latency on the clock
        mockagent_server.advance(4.9)
        assert not reply.done()
        (entry,) = httpx.get(f"{mockagent_server.url}/__mockagent/journal").json()["entries"]
        assert (entry["state"], entry["status"], entry["timings"]["first_byte"]) == ("received", None, None)
        mockagent_server.advance(0.1)
        response = reply.result(timeout=10)
    assert response.json()["data"]["text"] == "Echo: hi"


@pytest.mark.mockagent(manual_clock=True, scenarios=["tests/scenarios/instant.yaml"])
def test_a_stalled_stream_resumes_when_the_stall_is_over(mockagent_server: ThreadedMockServer) -> None:
    path, body, headers = STREAMS["agentos"]
    received: list[str] = []
    first = threading.Event()

    def read() -> None:
        with httpx.stream(
            "POST",
            mockagent_server.base_url("agentos") + path.replace("tools", "echo"),
            json=body,
            headers={**headers, "X-Mockagent-Fault": "stall=30, stall-after=1"},
            timeout=10,
        ) as r:
            for line in r.iter_lines():
                if line.startswith("data:"):
                    received.append(json.loads(line[5:])["type"])
                    first.set()

    with ThreadPoolExecutor(1) as pool:
        done = pool.submit(read)
        # The first frame needs no clock time; then the stall holds the rest, waiting on the clock.
        assert first.wait(SAFETY), "the first frame never came"
        mockagent_server.until_waiting(1)
        assert received == ["start"]
        mockagent_server.advance(29)
        assert httpx.get(f"{mockagent_server.url}/__mockagent/clock").json()["waiting"] == 1  # still stalled
        assert received == ["start"]
        mockagent_server.advance(1)
        done.result(timeout=10)
    assert received == ["start", "chunk", "chunk", "done"]  # "Echo: " and "hi", split by words
