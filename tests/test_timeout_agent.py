"""The `timeout` demo agent as the README promises it, where no other test holds it: an hour of work, so a
call that waits for it (a blocking call, a stream) gets its platform's gateway timeout first, while an async
task with no limit of its own completes "Too late." after the hour (docs/platforms.md, CHOSEN per platform)."""

from __future__ import annotations

import asyncio
import json
from typing import Any

import aiohttp
import pytest

from mockagent.platforms.xpander import Xpander
from mockagent.server import MockServer

BEEOS_AUTH = {"Authorization": "Bearer oag_" + "0123456789abcdef" * 4}
XPANDER_AUTH = {"x-api-key": "key-1"}
XPANDER_BODY = {"input": {"text": "hi", "user": {"id": "u-1", "email": "ada@example.com"}}}
HOUR = 3600.0
SAFETY = 10.0  # real seconds: a bound on what should happen at once, never a measurement
pytestmark = pytest.mark.mockagent(manual_clock=True)


def data_frames(body: str) -> list[dict[str, Any]]:
    return [json.loads(line[5:]) for line in body.splitlines() if line.startswith("data:")]


async def test_an_xpander_stream_gives_up_at_the_gateway_limit(mockagent_aserver: MockServer) -> None:
    url = f"{mockagent_aserver.base_url('xpander')}/v1/agents/timeout/invoke/stream"
    async with aiohttp.ClientSession(headers=XPANDER_AUTH) as http:

        async def whole_stream() -> str:
            async with http.post(url, json=XPANDER_BODY) as response:
                return await response.text()

        pending = asyncio.ensure_future(whole_stream())
        await asyncio.wait_for(mockagent_aserver.until_waiting(1), SAFETY)
        await mockagent_aserver.advance(Xpander.gateway_timeout - 1)
        assert not pending.done()
        await mockagent_aserver.advance(1)
        frames = data_frames(await asyncio.wait_for(pending, SAFETY))
        task_id = frames[0]["task_id"]
        async with http.get(f"{mockagent_aserver.base_url('xpander')}/v1/tasks/{task_id}") as poll:
            task = await poll.json()
    assert [frame["type"] for frame in frames] == ["task_created", "task_updated", "task_finished"]
    finished = frames[-1]["data"]
    assert (finished["status"], finished["result"]) == ("error", "The task timed out.")
    assert (task["status"], task["result"]) == ("error", "The task timed out.")


async def test_an_xpander_async_task_completes_too_late(mockagent_aserver: MockServer) -> None:
    base = mockagent_aserver.base_url("xpander")
    async with aiohttp.ClientSession(headers=XPANDER_AUTH) as http:
        async with http.post(f"{base}/v1/agents/timeout/invoke/async", json=XPANDER_BODY) as created:
            task_id = (await created.json())["id"]
        await mockagent_aserver.advance(HOUR - 1)
        async with http.get(f"{base}/v1/tasks/{task_id}") as poll:
            assert (await poll.json())["status"] == "executing"
        await mockagent_aserver.advance(1)
        async with http.get(f"{base}/v1/tasks/{task_id}") as poll:
            task = await poll.json()
    assert (task["status"], task["result"]) == ("completed", "Too late.")


async def test_a_beeos_task_without_a_deadline_completes_too_late(mockagent_aserver: MockServer) -> None:
    tasks = f"{mockagent_aserver.base_url('beeos')}/api/v1/agents/timeout/tasks"
    async with aiohttp.ClientSession(headers=BEEOS_AUTH) as http:
        async with http.post(tasks, json={"message": "hi"}) as created:
            task_id = (await created.json())["data"]["task_id"]
        await mockagent_aserver.advance(0.5 + HOUR - 1)  # a task waits 0.5 s in the queue first
        async with http.get(f"{tasks}/{task_id}") as poll:
            assert (await poll.json())["data"]["status"] == "running"
        await mockagent_aserver.advance(1)
        async with http.get(f"{tasks}/{task_id}") as poll:
            task = (await poll.json())["data"]
    assert (task["status"], task["result"]) == ("completed", {"text": "Too late."})
