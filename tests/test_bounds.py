"""What a client sends cannot grow the server without bound: a conversation keeps its latest turns, fault
counters their latest scopes, an ingested run its latest events and task history, BeeOS uploads a byte
budget on disk; numbers the platforms cannot take are each platform's validation error, never a 500."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import aiohttp
import httpx
import pytest
from credentials import AGENTOS, BEEOS, JWT

from mockagent.faults import MemoryTally
from mockagent.model import PlatformKey
from mockagent.platforms.agentos.ingest import EVENTS_KEPT, HISTORY_KEPT
from mockagent.platforms.beeos.records import BeeOSRecords
from mockagent.runs import TURNS_KEPT
from mockagent.server import MockServer, ThreadedMockServer
from mockagent.settings import Settings

INSTANT = "tests/scenarios/instant.yaml"
SESSIONS = "tests/scenarios/sessions.yaml"


@pytest.mark.mockagent(scenarios=[INSTANT])
async def test_a_conversation_keeps_its_latest_turns(mockagent_aserver: MockServer) -> None:
    url = f"{mockagent_aserver.base_url('beeos')}/api/v1/agents/echo/invoke"
    async with aiohttp.ClientSession(headers=BEEOS) as http:
        for n in range(TURNS_KEPT + 5):
            async with http.post(url, json={"message": f"m{n}", "context_id": "long"}) as response:
                assert response.status == 200
    conversation = mockagent_aserver.session().conversation(PlatformKey.BEEOS, "long")
    assert conversation is not None
    assert conversation.turns == TURNS_KEPT + 5
    assert len(conversation.runs) == TURNS_KEPT
    assert conversation.runs[0].message == "m5"  # the oldest five are forgotten
    assert conversation.runs[-1].message == f"m{TURNS_KEPT + 4}"


async def test_fault_counters_keep_their_latest_scopes() -> None:
    settings = Settings(scenario_paths=(Path(SESSIONS),), store_limit=3)
    async with MockServer(settings) as server, aiohttp.ClientSession() as http:
        url = f"{server.base_url('beeos')}/api/v1/agents/gated/invoke"
        for n in range(10):  # ten credentials: each one's first call is counted
            async with http.post(url, json={"message": "x"}, headers={"Authorization": "Bearer oag_" + f"{n:x}" * 64}):
                pass
        tally = server.session().faults.tally
        assert isinstance(tally, MemoryTally)
        assert len(tally.calls) == 3


@pytest.mark.mockagent(scenarios=[INSTANT])
def test_an_ingested_run_keeps_its_latest_events_and_task_history(mockagent_server: ThreadedMockServer) -> None:
    base = mockagent_server.base_url("agentos") + "/api/ingest/v1"

    def post(path: str, body: dict[str, Any]) -> httpx.Response:
        response = httpx.post(f"{base}/{path}", json=body, headers=AGENTOS, timeout=10)
        assert response.status_code == 200, response.text
        return response

    run_id = post("run/start", {"agent_id": "echo"}).json()["data"]["run_id"]
    for batch in range(3):
        events = [{"type": "step", "payload": {"n": batch * 600 + i}} for i in range(600)]
        post("events", {"run_id": run_id, "events": events})
    for n in range(HISTORY_KEPT + 20):
        status = "running" if n < HISTORY_KEPT + 19 else "completed"
        post("tasks", {"run_id": run_id, "task": {"id": "t1", "name": "fetch", "status": status}})
    seen = httpx.get(f"{mockagent_server.url}/__mockagent/agentos/ingest/runs/{run_id}", timeout=10).json()
    assert len(seen["events"]) == EVENTS_KEPT
    assert seen["events_dropped"] == 1800 - EVENTS_KEPT
    assert seen["events"][0]["payload"] == {"n": 1800 - EVENTS_KEPT}
    (task,) = seen["tasks"]
    assert len(task["history"]) == HISTORY_KEPT
    assert (task["status"], task["history"][-1]["status"]) == ("completed", "completed")


@pytest.mark.mockagent(scenarios=[INSTANT])
async def test_uploads_live_on_disk_within_a_byte_budget(mockagent_aserver: MockServer) -> None:
    records = mockagent_aserver.session().records(BeeOSRecords)
    records.uploads.budget = 25_000  # a small budget, to drive past it in a test
    base = mockagent_aserver.base_url("beeos")
    async with aiohttp.ClientSession(headers=BEEOS) as http:
        files = []
        for n in range(4):
            body = {"filename": f"f{n}.bin", "content_type": "application/octet-stream"}
            async with http.post(f"{base}/api/v1/files/presign-upload", json=body) as r:
                files.append((await r.json())["data"])
            headers = {"Content-Type": "application/octet-stream"}
            async with http.put(files[-1]["upload_url"], data=bytes([n]) * 10_000, headers=headers) as r:
                assert r.status == 200
        statuses = []
        for presigned in files:
            async with http.get(presigned["download_url"]) as r:
                statuses.append(r.status)
                if r.status == 200:
                    assert await r.read() == bytes([files.index(presigned)]) * 10_000
    assert statuses == [404, 404, 200, 200]  # 40 kB sent, 25 kB kept: the oldest two are forgotten
    assert records.uploads.total == 20_000
    kept = sorted(path.name for path in mockagent_aserver.session().scratch().iterdir())
    assert kept == sorted(f["file_id"] for f in files[2:])


def _bodies() -> list[str]:
    return ['{"message": 1e400}', '{"message": NaN}', '{"message": -Infinity}', "[" * 100_000 + "]" * 100_000]


PLATFORM_CALLS = {
    "beeos": ("/api/v1/agents/echo/invoke", BEEOS, 400),
    "agentos": ("/api/v1/agents/echo/invoke", AGENTOS, 400),
    "xpander": ("/v1/agents/echo/invoke", {"x-api-key": "k"}, 422),
    "zeus": ("/api/agent/invoke", {"Authorization": f"Bearer {JWT}"}, 422),
    "aster": ("/chat", {"Authorization": f"Bearer {JWT}"}, 400),
}


@pytest.mark.parametrize("platform", list(PLATFORM_CALLS))
@pytest.mark.parametrize("raw", _bodies(), ids=["1e400", "NaN", "-Infinity", "deep"])
def test_json_the_platforms_cannot_take_is_their_validation_error(
    mockagent_server: ThreadedMockServer, platform: str, raw: str
) -> None:
    path, headers, status = PLATFORM_CALLS[platform]
    body = raw.replace('"message"', '"agentId"') if platform == "aster" else raw
    response = httpx.post(
        mockagent_server.base_url(platform) + path,
        content=body,
        headers={**headers, "Content-Type": "application/json"},
        timeout=10,
    )
    assert response.status_code == status, response.text
    assert response.headers["content-type"].startswith("application/json")
