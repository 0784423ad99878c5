"""A run ended while it is still queued never started: a platform that shows a start time shows none for
it (never one after its end), and its end is the moment it was ended, however much later it is read."""

from __future__ import annotations

import asyncio
import json
from datetime import datetime
from typing import Any

import aiohttp
import httpx
import pytest

from mockagent.runs import RunStatus
from mockagent.server import MockServer, ThreadedMockServer

QUEUED = "tests/scenarios/queued.yaml"  # `queued`: 1 s in the queue, then 2 s of work
BEEOS_AUTH = {"Authorization": "Bearer oag_" + "0123456789abcdef" * 4}
SAFETY = 10.0  # real seconds: a bound on what should happen at once, never a measurement


def seconds(later: str, earlier: str) -> float:
    return (datetime.fromisoformat(later) - datetime.fromisoformat(earlier)).total_seconds()


@pytest.mark.mockagent(manual_clock=True)
def test_a_beeos_task_cancelled_while_queued_has_no_start_time(mockagent_server: ThreadedMockServer) -> None:
    tasks = f"{mockagent_server.base_url('beeos')}/api/v1/agents/slow/tasks"
    created = httpx.post(tasks, json={"message": "go"}, headers=BEEOS_AUTH, timeout=SAFETY).json()["data"]
    mockagent_server.advance(0.2)  # a new task waits 0.5 s in `queued`
    cancel = httpx.post(f"{tasks}/{created['task_id']}/cancel", headers=BEEOS_AUTH, timeout=SAFETY)
    assert cancel.json()["data"]["status"] == "canceled"
    for _ in range(2):
        task = httpx.get(f"{tasks}/{created['task_id']}", headers=BEEOS_AUTH, timeout=SAFETY).json()["data"]
        assert task["status"] == "canceled"
        assert "started_at" not in task
        assert seconds(task["completed_at"], task["created_at"]) == 0.2
        mockagent_server.advance(5)  # long past the moment it would have started


@pytest.mark.mockagent(manual_clock=True, scenarios=[QUEUED])
def test_an_xpander_task_stopped_while_pending_has_no_start_time(mockagent_server: ThreadedMockServer) -> None:
    base = mockagent_server.base_url("xpander")
    headers = {"x-api-key": "key-1"}
    body = {"input": {"text": "hi", "user": {"id": "u-1", "email": "ada@example.com"}}}
    created = httpx.post(f"{base}/v1/agents/queued/invoke/async", json=body, headers=headers, timeout=SAFETY).json()
    mockagent_server.advance(0.5)
    stopped = httpx.post(f"{base}/v1/tasks/{created['id']}/stop", headers=headers, timeout=SAFETY).json()
    assert stopped["status"] == "stopped"
    for _ in range(2):
        task = httpx.get(f"{base}/v1/tasks/{created['id']}", headers=headers, timeout=SAFETY).json()
        assert (task["status"], task["started_at"]) == ("stopped", None)
        assert seconds(task["finished_at"], task["created_at"]) == 0.5
        mockagent_server.advance(5)


@pytest.mark.mockagent(manual_clock=True, scenarios=[QUEUED])
async def test_an_agentos_run_cancelled_while_queued_finished_when_it_was_cancelled(
    mockagent_aserver: MockServer,
) -> None:
    base = mockagent_aserver.base_url("agentos")
    headers = {"Authorization": "Bearer aos_ws_team"}
    async with aiohttp.ClientSession(headers=headers) as http:
        await mockagent_aserver.advance(0.5)
        stream = await http.post(f"{base}/api/v1/agents/queued/invoke", json={"message": "hi", "stream": True})
        start: dict[str, Any] = await asyncio.wait_for(_first_frame(stream), SAFETY)
        stream.close()  # the client hangs up while the run is queued
        await asyncio.wait_for(mockagent_aserver.session().until_in_flight(0), SAFETY)
        (run,) = mockagent_aserver.session().runs_of()
        assert run.status() is RunStatus.CANCELLED
        assert run.moment(RunStatus.RUNNING) is None
        for _ in range(2):
            async with http.get(f"{base}/api/v1/runs/{start['run_id']}") as response:
                view = (await response.json())["data"]
            assert view["status"] == "cancelled"
            assert view["finished_at"] == view["created_at"]
            assert view["duration_ms"] == 0
            await mockagent_aserver.advance(5)


async def _first_frame(response: aiohttp.ClientResponse) -> dict[str, Any]:
    async for line in response.content:
        if line.startswith(b"data:"):
            frame: dict[str, Any] = json.loads(line[5:])
            return frame
    raise AssertionError("the stream ended before its first frame")
