"""Sessions: requests with `X-Mockagent-Session: NAME` live apart from every other session — runs,
conversations, platform records, fault counters, rate-limit buckets, the journal and a manual clock —
sessions reset on demand, and the store keeps a bounded number of them."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import aiohttp
import httpx
import pytest

from mockagent.server import MockServer, ThreadedMockServer
from mockagent.settings import Settings

SCENARIOS = "tests/scenarios/sessions.yaml"
pytestmark = pytest.mark.mockagent(scenarios=[SCENARIOS], with_builtin=True)

KEY = "oag_" + "0123456789abcdef" * 4
AUTH = {"Authorization": f"Bearer {KEY}"}


def beeos(server: ThreadedMockServer, path: str, session: str | None = None, **kwargs: Any) -> httpx.Response:
    headers = {**AUTH, **({"X-Mockagent-Session": session} if session else {}), **kwargs.pop("headers", {})}
    method = "POST" if "json" in kwargs else "GET"
    return httpx.request(method, server.base_url("beeos") + path, headers=headers, timeout=10, **kwargs)


def admin(server: ThreadedMockServer, path: str, session: str | None = None) -> Any:
    headers = {"X-Mockagent-Session": session} if session else {}
    return httpx.get(f"{server.url}/__mockagent{path}", headers=headers, timeout=10).json()


def say(server: ThreadedMockServer, agent: str, message: str, session: str, context: str | None = None) -> str:
    body = {"message": message, **({"context_id": context} if context else {})}
    response = beeos(server, f"/api/v1/agents/{agent}/invoke", session, json=body)
    assert response.status_code == 200, response.text
    text: str = response.json()["data"]["text"]
    return text


def test_conversations_and_runs_are_per_session(mockagent_server: ThreadedMockServer) -> None:
    assert say(mockagent_server, "counter", "a", "alpha", context="shared") == "one"
    assert say(mockagent_server, "counter", "b", "alpha", context="shared") == "two"
    # The same context id in another session is another conversation: its first turn.
    assert say(mockagent_server, "counter", "a", "beta", context="shared") == "one"
    assert [r["message"] for r in admin(mockagent_server, "/runs", "alpha")] == ["a", "b"]
    assert [r["message"] for r in admin(mockagent_server, "/runs", "beta")] == ["a"]
    assert admin(mockagent_server, "/runs") == []  # the default session saw none of it


def test_tasks_and_files_are_per_session(mockagent_server: ThreadedMockServer) -> None:
    task = beeos(mockagent_server, "/api/v1/agents/echo/tasks", "alpha", json={"message": "hi"}).json()["data"]
    assert beeos(mockagent_server, f"/api/v1/agents/echo/tasks/{task['task_id']}", "alpha").status_code == 200
    elsewhere = beeos(mockagent_server, f"/api/v1/agents/echo/tasks/{task['task_id']}", "beta")
    assert (elsewhere.status_code, elsewhere.json()["error"]["code"]) == (404, "task_not_found")
    listed = beeos(mockagent_server, "/api/v1/tasks?state=all", "beta").json()["data"]["tasks"]
    assert listed == []

    body = {"filename": "a.txt", "content_type": "text/plain"}
    presigned = beeos(mockagent_server, "/api/v1/files/presign-upload", "alpha", json=body).json()["data"]
    assert beeos(mockagent_server, f"/api/v1/files/{presigned['file_id']}", "alpha").status_code == 200
    assert beeos(mockagent_server, f"/api/v1/files/{presigned['file_id']}", "beta").status_code == 404


def test_fault_counters_are_per_session(mockagent_server: ThreadedMockServer) -> None:
    # `gated` fails the first call of each credential: once per session, not once per server.
    statuses = [
        beeos(mockagent_server, "/api/v1/agents/gated/invoke", session, json={"message": "x"}).status_code
        for session in ("alpha", "alpha", "beta", "beta")
    ]
    assert statuses == [429, 200, 429, 200]


@pytest.mark.mockagent(scenarios=[SCENARIOS], rate_limit="1/h")
def test_rate_limit_buckets_are_per_session(mockagent_server: ThreadedMockServer) -> None:
    statuses = [
        beeos(mockagent_server, "/api/v1/agents/counter/invoke", session, json={"message": "x"}).status_code
        for session in ("alpha", "alpha", "beta")
    ]
    assert statuses == [200, 429, 200]


def test_journals_are_per_session(mockagent_server: ThreadedMockServer) -> None:
    say(mockagent_server, "echo", "hi", "alpha")
    only_alpha = admin(mockagent_server, "/journal", "alpha")["entries"]
    assert [e["path"] for e in only_alpha] == ["/beeos/api/v1/agents/echo/invoke"]
    assert admin(mockagent_server, "/journal", "beta")["entries"] == []
    assert admin(mockagent_server, "/journal", "default")["entries"] == []
    assert admin(mockagent_server, "/journal")["entries"] == only_alpha  # no session named: all of them


@pytest.mark.mockagent(scenarios=[SCENARIOS], manual_clock=True)
async def test_each_session_has_its_own_manual_clock(mockagent_aserver: MockServer) -> None:
    await mockagent_aserver.advance(30, session="alpha")
    assert mockagent_aserver.session("alpha").clock.now() == 30
    assert mockagent_aserver.session("beta").clock.now() == 0
    async with (
        aiohttp.ClientSession() as http,
        http.post(
            f"{mockagent_aserver.url}/__mockagent/clock/advance",
            json={"seconds": 5},
            headers={"X-Mockagent-Session": "beta"},
        ) as response,
    ):
        assert (await response.json())["now"] == 5
    assert mockagent_aserver.session("alpha").clock.now() == 30


@pytest.mark.mockagent(scenarios=[SCENARIOS], speed=1000)
async def test_many_sessions_at_once_never_see_each_other(mockagent_aserver: MockServer) -> None:
    url = f"{mockagent_aserver.base_url('beeos')}/api/v1/agents/counter/invoke"

    async def converse(http: aiohttp.ClientSession, session: str) -> list[str]:
        texts = []
        for message in ("first", "second", "third"):
            headers = {**AUTH, "X-Mockagent-Session": session}
            async with http.post(url, json={"message": message, "context_id": "same"}, headers=headers) as response:
                texts.append((await response.json())["data"]["text"])
        return texts

    async with aiohttp.ClientSession() as http:
        results = await asyncio.gather(*(converse(http, f"worker-{n}") for n in range(20)))
    assert results == [["one", "two", "many"]] * 20
    for n in range(20):
        assert len(mockagent_aserver.session(f"worker-{n}").runs) == 3


def test_a_reset_forgets_the_session_and_only_it(mockagent_server: ThreadedMockServer) -> None:
    say(mockagent_server, "counter", "a", "alpha", context="c")
    say(mockagent_server, "counter", "a", "beta", context="c")
    reset = httpx.delete(f"{mockagent_server.url}/__mockagent/sessions/alpha", timeout=10)
    assert reset.json() == {"session": "alpha", "reset": True}
    assert admin(mockagent_server, "/runs", "alpha") == []
    assert say(mockagent_server, "counter", "again", "alpha", context="c") == "one"  # a clean start
    assert say(mockagent_server, "counter", "b", "beta", context="c") == "two"  # untouched
    assert httpx.delete(f"{mockagent_server.url}/__mockagent/sessions/nobody", timeout=10).json()["reset"] is False


def test_the_default_session_resets_too(mockagent_server: ThreadedMockServer) -> None:
    beeos(mockagent_server, "/api/v1/agents/echo/invoke", json={"message": "x"})
    assert len(admin(mockagent_server, "/runs")) == 1
    httpx.delete(f"{mockagent_server.url}/__mockagent/sessions/default", timeout=10)
    assert admin(mockagent_server, "/runs") == []
    assert admin(mockagent_server, "/journal")["entries"] == []


@pytest.mark.mockagent(scenarios=[SCENARIOS], manual_clock=True)
async def test_a_reset_ends_a_stream_still_open_in_the_session(mockagent_aserver: MockServer) -> None:
    url = f"{mockagent_aserver.base_url('beeos')}/api/v1/agents/waiter/invoke"
    headers = {**AUTH, "Accept": "text/event-stream", "X-Mockagent-Session": "alpha"}
    async with aiohttp.ClientSession() as http, http.post(url, json={"message": "x"}, headers=headers) as response:
        await mockagent_aserver.until_waiting(session="alpha")
        await mockagent_aserver.reset("alpha")
        text = await response.text()
    assert '"is_error":true' in text
    assert '"code":"canceled"' in text


def test_a_bad_session_name_is_the_platforms_validation_error(mockagent_server: ThreadedMockServer) -> None:
    response = beeos(mockagent_server, "/api/v1/agents/echo/invoke", "two words", json={"message": "x"})
    assert response.status_code == 400
    error = response.json()["error"]
    assert (error["code"], error["param"]) == ("invalid_param", "header.X-Mockagent-Session")


async def test_the_oldest_idle_session_is_forgotten_first() -> None:
    async with MockServer(Settings(max_sessions=3, speed=1000)) as server, aiohttp.ClientSession(headers=AUTH) as http:

        async def touch(session: str) -> None:
            url = f"{server.base_url('beeos')}/api/v1/agents/echo/invoke"
            async with http.post(url, json={"message": "x"}, headers={"X-Mockagent-Session": session}) as r:
                assert r.status == 200

        for name in ("one", "two"):
            await touch(name)
        await touch("one")  # "two" is now the least recently used
        await touch("three")  # a fourth session: the oldest idle one goes, never the default
        async with http.get(f"{server.url}/__mockagent/sessions") as response:
            names = [s["name"] for s in await response.json()]
    assert sorted(names) == ["default", "one", "three"]


@pytest.fixture
async def busy_server() -> AsyncIterator[MockServer]:
    async with MockServer(Settings(max_sessions=2, manual_clock=True, scenario_paths=(Path(SCENARIOS),))) as server:
        yield server


async def test_a_session_with_a_request_in_flight_is_not_forgotten(busy_server: MockServer) -> None:
    url = f"{busy_server.base_url('beeos')}/api/v1/agents/waiter/invoke"
    async with aiohttp.ClientSession(headers=AUTH) as http:
        waiting = asyncio.ensure_future(http.post(url, json={"message": "x"}, headers={"X-Mockagent-Session": "busy"}))
        await busy_server.until_waiting(session="busy")
        async with http.post(
            url.replace("waiter", "counter"), json={"message": "x"}, headers={"X-Mockagent-Session": "idle"}
        ):
            pass
        names = [session.name for session in busy_server.engine.sessions.sessions()]
        assert names == ["default", "busy", "idle"]  # one past the limit while "busy" is busy
        await busy_server.advance(10, session="busy")
        response = await waiting
        assert (await response.json())["data"]["text"] == "done waiting"
