"""Decisions that read state and change it are taken after admission, under the session's lock: two
requests racing for one state change get one success and the platform's own conflict — never a 500 —
and the manual clock never goes backwards."""

from __future__ import annotations

import asyncio
from typing import Any

import aiohttp
import pytest
from credentials import JWT

from mockagent.server import MockServer

pytestmark = pytest.mark.mockagent(manual_clock=True)

LATE = {"X-Mockagent-Fault": "latency=1"}  # both requests wait in admission, then decide one after the other


async def racing(server: MockServer, *requests: tuple[str, str, dict[str, Any]]) -> list[tuple[int, Any]]:
    """Send the requests at once; once all of them wait in admission, let the clock release them."""
    async with aiohttp.ClientSession() as http:

        async def send(method: str, url: str, options: dict[str, Any]) -> tuple[int, Any]:
            async with http.request(method, url, **options) as response:
                body = await response.read()
                return response.status, body

        sent = [asyncio.ensure_future(send(method, url, options)) for method, url, options in requests]
        await server.until_waiting(len(requests))
        await server.advance(1)
        return list(await asyncio.gather(*sent))


async def test_two_zeus_invokes_on_one_session_start_one_turn(mockagent_aserver: MockServer) -> None:
    url = f"{mockagent_aserver.base_url('zeus')}/api/agent/invoke?agent=slow"
    body = {"message": "hi", "session_id": "s-1", "llm_config": {"baseUrl": "x", "apiKey": "k", "modelName": "m"}}
    options = {"json": body, "headers": {"Authorization": f"Bearer {JWT}", **LATE}}
    sent = asyncio.ensure_future(racing(mockagent_aserver, ("POST", url, options), ("POST", url, options)))
    while not mockagent_aserver.session().runs:
        await asyncio.sleep(0)
    await mockagent_aserver.until_waiting(1)  # the winner's stream waits for its first frame
    await mockagent_aserver.advance(5)
    results = await sent
    statuses = sorted(status for status, _ in results)
    assert statuses == [200, 409]
    conflict = next(body for status, body in results if status == 409)
    assert b"Session is busy" in conflict
    assert len(mockagent_aserver.session().runs) == 1


async def test_two_agentos_decisions_on_one_approval_decide_it_once(mockagent_aserver: MockServer) -> None:
    base = mockagent_aserver.base_url("agentos")
    auth = {"Authorization": "Bearer aos_ws_team"}
    async with aiohttp.ClientSession(headers=auth) as http:
        invoked = asyncio.ensure_future(
            http.post(f"{base}/api/v1/agents/approval/invoke", json={"input": {"query": "x"}})
        )
        await mockagent_aserver.until_waiting()
        await mockagent_aserver.advance(1)
        paused = await (await invoked).json()
    approval_id = paused["data"]["awaiting_approval"]["approval_id"]
    url = f"{base}/api/v1/approvals/{approval_id}/decide"
    approve = {"json": {"decision": "approve"}, "headers": {**auth, **LATE}}
    reject = {"json": {"decision": "reject"}, "headers": {**auth, **LATE}}
    results = await racing(mockagent_aserver, ("POST", url, approve), ("POST", url, reject))
    assert sorted(status for status, _ in results) == [200, 400]  # AgentOS's own "was already decided"
    loser = next(body for status, body in results if status == 400)
    assert b"VALIDATION_ERROR" in loser
    assert b"was already" in loser


async def test_a_presigned_upload_url_is_used_once_however_many_race_for_it(mockagent_aserver: MockServer) -> None:
    base = mockagent_aserver.base_url("beeos")
    auth = {"Authorization": "Bearer oag_" + "a" * 64}
    async with aiohttp.ClientSession(headers=auth) as http:
        body = {"filename": "a.txt", "content_type": "text/plain"}
        async with http.post(f"{base}/api/v1/files/presign-upload", json=body) as r:
            upload_url = (await r.json())["data"]["upload_url"]
    put = {"data": b"payload", "headers": {"Content-Type": "text/plain", **LATE}}
    results = await racing(
        mockagent_aserver, ("PUT", upload_url, put), ("PUT", upload_url, put), ("PUT", upload_url, put)
    )
    assert sorted(status for status, _ in results) == [200, 409, 409]
    assert all(b"single-use" in body for status, body in results if status == 409)


async def test_concurrent_clock_advances_add_up(mockagent_aserver: MockServer) -> None:
    url = f"{mockagent_aserver.url}/__mockagent/clock/advance"
    async with aiohttp.ClientSession() as http:

        async def advance(seconds: float) -> None:
            async with http.post(url, json={"seconds": seconds}) as response:
                assert response.status == 200

        await asyncio.gather(advance(5), advance(1), advance(2))
    assert mockagent_aserver.clock.now() == 8
