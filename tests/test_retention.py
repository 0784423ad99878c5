"""Nothing keeps a run longer than the session's run store does: a conversation lets its oldest turns go
with the store, a BeeOS task and an AgentOS approval are forgotten (and freed) with their run, and an
idempotency key whose run is forgotten finds nothing — so a long mixed load holds at most `store_limit`
runs per session, not that many per conversation or per record kind."""

from __future__ import annotations

import gc
import weakref
from collections.abc import AsyncIterator, Iterator
from pathlib import Path
from typing import Any

import aiohttp
import pytest
from credentials import AGENTOS, BEEOS

from mockagent.server import MockServer
from mockagent.settings import Settings

INSTANT = Path("tests/scenarios/instant.yaml")
LIMIT = 3


@pytest.fixture
def no_cycle_collector() -> Iterator[None]:
    """What frees a forgotten run must be reference counting, not the cycle collector."""
    gc.collect()
    gc.disable()
    try:
        yield
    finally:
        gc.enable()


@pytest.fixture
async def server() -> AsyncIterator[MockServer]:
    settings = Settings(scenario_paths=(INSTANT,), with_builtin=False, store_limit=LIMIT, speed=1000)
    async with MockServer(settings) as running:
        yield running


async def _json(response: aiohttp.ClientResponse, status: int) -> Any:
    assert response.status == status, await response.text()
    return await response.json()


async def test_a_conversation_keeps_only_the_turns_the_store_keeps(
    server: MockServer, no_cycle_collector: None
) -> None:
    url = server.base_url("beeos") + "/api/v1/agents/echo/invoke"
    async with aiohttp.ClientSession(headers=BEEOS) as http:
        for n in range(4):  # two conversations, taking turns: eight runs
            for context in ("a", "b"):
                async with http.post(url, json={"message": f"{context}{n}", "context_id": context}) as response:
                    await _json(response, 200)
                if n == 0 and context == "a":
                    first = weakref.ref(server.session().runs_of()[0])
    session = server.session()
    kept = [run.message for context in ("a", "b") for run in session.conversations[("beeos", context)].runs]
    assert sorted(kept) == sorted(run.message for run in session.runs_of()) == ["a3", "b2", "b3"]
    assert session.conversations[("beeos", "a")].turns == 4  # turn numbers keep counting
    assert first() is None


async def test_a_beeos_task_goes_with_its_run(server: MockServer, no_cycle_collector: None) -> None:
    agent = server.base_url("beeos") + "/api/v1/agents/echo"
    async with aiohttp.ClientSession(headers=BEEOS) as http:
        body = {"message": "first", "idempotency_key": "once"}
        async with http.post(f"{agent}/tasks", json=body) as response:
            first = (await _json(response, 202))["data"]["task_id"]
        run = weakref.ref(server.session().runs[first])
        for n in range(LIMIT):  # newer runs of another kind push the task's run out of the store
            async with http.post(f"{agent}/invoke", json={"message": f"m{n}"}) as response:
                await _json(response, 200)
        async with http.get(f"{agent}/tasks/{first}") as response:
            assert (await _json(response, 404))["error"]["code"] == "task_not_found"
        assert run() is None
        async with http.get(f"{server.base_url('beeos')}/api/v1/tasks", params={"state": "all"}) as response:
            assert (await _json(response, 200))["data"]["tasks"] == []
        async with http.post(f"{agent}/tasks", json=body) as response:  # its key now starts a new task
            assert (await _json(response, 202))["data"]["task_id"] != first


async def test_a_beeos_idempotent_invoke_keeps_no_run_of_its_own(server: MockServer, no_cycle_collector: None) -> None:
    url = server.base_url("beeos") + "/api/v1/agents/echo/invoke"
    async with aiohttp.ClientSession(headers=BEEOS) as http:
        async with http.post(url, json={"message": "first", "idempotency_key": "once"}) as response:
            context = (await _json(response, 200))["data"]["context_id"]
        run = weakref.ref(server.session().runs_of()[0])
        for n in range(LIMIT):
            async with http.post(url, json={"message": f"m{n}"}) as response:
                await _json(response, 200)
        assert run() is None
        async with http.post(url, json={"message": "first", "idempotency_key": "once"}) as response:
            assert (await _json(response, 200))["data"]["context_id"] != context  # a new turn, not a replay


async def test_an_agentos_approval_goes_with_its_run(no_cycle_collector: None) -> None:
    settings = Settings(store_limit=LIMIT, speed=1000)  # the demo agents: `approval` pauses for one
    async with MockServer(settings) as server, aiohttp.ClientSession(headers=AGENTOS) as http:
        base = server.base_url("agentos")
        async with http.post(f"{base}/api/v1/agents/approval/invoke", json={}) as response:
            paused = (await _json(response, 202))["data"]
            approval = paused["awaiting_approval"]["approval_id"]
        async with http.get(f"{base}/api/v1/approvals") as response:  # seen: remembered for deciding
            assert [a["approval_id"] for a in (await _json(response, 200))["data"]] == [approval]
        run = weakref.ref(server.session().runs[paused["run_id"]])
        for n in range(LIMIT):
            async with http.post(f"{base}/api/v1/agents/echo/invoke", json={"input": {"message": f"m{n}"}}) as r:
                await _json(r, 200)
        async with http.get(f"{server.url}/__mockagent/agentos/approvals") as response:
            assert await _json(response, 200) == []
        decide = f"{base}/api/v1/approvals/{approval}/decide"
        async with http.post(decide, json={"decision": "approve"}) as response:
            assert (await _json(response, 404))["error"]["code"] == "NOT_FOUND"
        assert run() is None
