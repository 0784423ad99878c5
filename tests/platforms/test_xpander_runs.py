"""xpander.ai runs over time: async invoke and polling, the gateway timeout, and the SSE stream."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from datetime import datetime
from typing import Any

import aiohttp
import pytest
from sse import check_vocabulary, json_frames

from mockagent.model import PlatformKey
from mockagent.runs import Run, RunStatus
from mockagent.server import MockServer

EXTRA = "tests/platforms/scenarios/xpander_agents.yaml"
USER = {"id": "u-1", "email": "ada@example.com"}
FRAME_KEYS = {"task_id", "organization_id", "time", "data"}
FRAME_TYPES = ("task_created", "task_updated", "chunk", "think", "tool_call_request", "tool_call_result")
VOCABULARY = dict.fromkeys((*FRAME_TYPES, "task_finished"), FRAME_KEYS)
manual_clock = pytest.mark.mockagent(manual_clock=True)
SAFETY = 10.0  # real seconds: a bound on what should happen at once, never a measurement


@pytest.fixture
async def session(mockagent_aserver: MockServer) -> AsyncIterator[aiohttp.ClientSession]:
    base = mockagent_aserver.base_url("xpander") + "/"
    async with aiohttp.ClientSession(base_url=base, headers={"x-api-key": "key-1"}) as s:
        yield s


async def call(session: aiohttp.ClientSession, method: str, path: str, body: Any = None) -> tuple[int, Any]:
    async with session.request(method, path.lstrip("/"), json=body) as response:
        if response.content_type == "text/event-stream":
            return response.status, await response.text()
        return response.status, await response.json()


def invoke_body(text: str = "hi", **extra: Any) -> dict[str, Any]:
    return {"input": {"text": text, "user": USER}, **extra}


async def poll(session: aiohttp.ClientSession, task_id: str) -> dict[str, Any]:
    status, body = await call(session, "GET", f"/v1/tasks/{task_id}")
    assert status == 200, body
    result: dict[str, Any] = body
    return result


async def started_run(server: MockServer) -> Run:
    """The one xpander run, once the request in flight (on the same loop) has started it and waits on the
    manual clock."""
    await asyncio.wait_for(server.until_waiting(1), SAFETY)
    return only_run(server)


def only_run(server: MockServer) -> Run:
    (run,) = server.session().runs_of(PlatformKey.XPANDER)
    return run


def seconds(later: str, earlier: str) -> float:
    return (datetime.fromisoformat(later) - datetime.fromisoformat(earlier)).total_seconds()


# ── async invoke and polling ─────────────────────────────────────────────────────────────────────


@manual_clock
async def test_async_slow_task_is_polled_to_completion(
    session: aiohttp.ClientSession, mockagent_aserver: MockServer
) -> None:
    status, created = await call(session, "POST", "/v1/agents/slow/invoke/async", invoke_body())
    assert status == 200
    assert (created["status"], created["started_at"], created["finished_at"], created["result"]) == (
        "pending",
        None,
        None,
        None,
    )
    executing = await poll(session, created["id"])
    assert (executing["status"], executing["finished_at"], executing["result"]) == ("executing", None, None)
    assert executing["started_at"] == created["created_at"]
    await mockagent_aserver.advance(2.9)
    assert (await poll(session, created["id"]))["status"] == "executing"
    await mockagent_aserver.advance(0.1)
    done = await poll(session, created["id"])
    assert (done["status"], done["result"]) == ("completed", "Done after a while.")
    assert done["started_at"] == executing["started_at"]
    assert seconds(done["finished_at"], done["started_at"]) == 3.0


@pytest.mark.mockagent(manual_clock=True, scenarios=[EXTRA])
async def test_a_queued_task_is_pending_until_it_starts(
    session: aiohttp.ClientSession, mockagent_aserver: MockServer
) -> None:
    _, created = await call(session, "POST", "/v1/agents/queued/invoke/async", invoke_body())
    pending = await poll(session, created["id"])
    assert (pending["status"], pending["started_at"]) == ("pending", None)
    await mockagent_aserver.advance(1)
    executing = await poll(session, created["id"])
    assert executing["status"] == "executing"
    assert seconds(executing["started_at"], executing["created_at"]) == 1.0
    await mockagent_aserver.advance(2)
    done = await poll(session, created["id"])
    assert (done["status"], done["result"]) == ("completed", "Dequeued.")
    assert seconds(done["finished_at"], done["created_at"]) == 3.0


@manual_clock
async def test_sync_invoke_waits_on_the_clock(session: aiohttp.ClientSession, mockagent_aserver: MockServer) -> None:
    pending = asyncio.create_task(call(session, "POST", "/v1/agents/slow/invoke", invoke_body()))
    await started_run(mockagent_aserver)
    await mockagent_aserver.advance(3)
    status, body = await pending
    assert (status, body["status"], body["result"]) == (200, "completed", "Done after a while.")


@manual_clock
async def test_sync_invoke_gives_up_at_the_gateway_limit(
    session: aiohttp.ClientSession, mockagent_aserver: MockServer
) -> None:
    pending = asyncio.create_task(call(session, "POST", "/v1/agents/timeout/invoke", invoke_body()))
    run = await started_run(mockagent_aserver)
    await mockagent_aserver.advance(599)
    assert not pending.done()
    await mockagent_aserver.advance(1)
    status, body = await pending
    assert (status, body) == (504, {"detail": "Gateway Timeout"})
    task = await poll(session, run.conversation.id)
    assert (task["status"], task["result"]) == ("error", "The task timed out.")
    assert task["finished_at"] is not None


# ── the stream ───────────────────────────────────────────────────────────────────────────────────


async def stream(session: aiohttp.ClientSession, agent: str, body: dict[str, Any]) -> list[dict[str, Any]]:
    status, text = await call(session, "POST", f"/v1/agents/{agent}/invoke/stream", body)
    assert status == 200, text
    frames: list[dict[str, Any]] = json_frames(text)
    return frames


async def test_echo_stream_frames(session: aiohttp.ClientSession) -> None:
    frames = await stream(session, "echo", {"input": {"text": "hi there"}})  # no user: optional on stream
    check_vocabulary(frames, VOCABULARY, {"task_finished"})
    assert [f["type"] for f in frames] == ["task_created", "task_updated", "chunk", "chunk", "chunk", "task_finished"]
    task_id = frames[0]["task_id"]
    assert all(f["task_id"] == task_id and f["organization_id"] == frames[0]["organization_id"] for f in frames)
    assert (frames[0]["data"]["status"], frames[0]["data"]["input"]["user"]) == ("pending", None)
    assert frames[1]["data"]["status"] == "executing"
    assert "".join(f["data"] for f in frames if f["type"] == "chunk") == "Echo: hi there"
    finished = frames[-1]["data"]
    assert (finished["status"], finished["result"]) == ("completed", "Echo: hi there")
    assert finished == await poll(session, task_id)
    assert [f["time"] for f in frames] == sorted(f["time"] for f in frames)


async def test_stream_shows_reasoning_and_tool_steps(session: aiohttp.ClientSession) -> None:
    frames = await stream(session, "tools", invoke_body("weather?"))
    check_vocabulary(frames, VOCABULARY, {"task_finished"})
    steps = [(f["type"], f["data"]) for f in frames if f["type"] in ("think", "tool_call_request", "tool_call_result")]
    assert steps == [
        ("think", "The user wants the weather; I will call get_weather."),
        ("tool_call_request", {"tool_name": "get_weather", "payload": {"city": "Paris"}}),
        ("tool_call_result", {"tool_name": "get_weather", "result": {"temp_c": 21}, "is_error": False}),
    ]
    assert frames[-1]["data"]["result"] == "It is 21°C in Paris."


async def test_a_failing_agent_ends_with_a_failed_task(session: aiohttp.ClientSession) -> None:
    frames = await stream(session, "error", invoke_body())
    check_vocabulary(frames, VOCABULARY, {"task_finished"})
    assert [f["data"] for f in frames if f["type"] == "chunk"] == ["Let ", "me ", "try… "]
    assert (frames[-1]["data"]["status"], frames[-1]["data"]["result"]) == ("failed", "The agent failed.")


async def test_a_pause_ends_the_stream_with_task_updated(session: aiohttp.ClientSession) -> None:
    frames = await stream(session, "approval", invoke_body())
    assert (frames[1]["type"], frames[1]["data"]["status"]) == ("task_updated", "executing")
    check_vocabulary(frames[:1] + frames[2:], VOCABULARY, {"task_updated"})
    paused = frames[-1]["data"]
    assert (paused["status"], paused["hitl_request"]["title"]) == ("paused", "Approve send_email")
    assert frames[-2]["type"] == "tool_call_request"
    status, _ = await call(session, "POST", f"/v1/tasks/{paused['id']}/hitl", {"decision": "approve"})
    assert status == 200


async def test_a_stream_continues_a_thread(session: aiohttp.ClientSession) -> None:
    first = await stream(session, "echo", invoke_body("one"))
    task_id = first[0]["task_id"]
    second = await stream(session, "echo", invoke_body("two", id=task_id))
    assert {f["task_id"] for f in second} == {task_id}
    assert second[-1]["data"]["result"] == "Echo: two"
    _, thread = await call(session, "GET", f"/v1/tasks/{task_id}/thread")
    assert [m["content"] for m in thread] == ["one", "Echo: one", "two", "Echo: two"]


async def test_stream_validation_errors_are_json(session: aiohttp.ClientSession) -> None:
    status, body = await call(session, "POST", "/v1/agents/echo/invoke/stream", {"input": {"files": []}})
    assert (status, body) == (
        422,
        {"detail": [{"type": "missing", "loc": ["body", "input", "text"], "msg": "Field required"}]},
    )


@manual_clock
async def test_stream_frames_come_at_their_moments(
    session: aiohttp.ClientSession, mockagent_aserver: MockServer
) -> None:
    pending = asyncio.create_task(stream(session, "slow", invoke_body()))
    await started_run(mockagent_aserver)
    await mockagent_aserver.advance(3)
    frames = await pending
    check_vocabulary(frames, VOCABULARY, {"task_finished"})
    created = frames[0]["time"]
    assert [(f["type"], seconds(f["time"], created)) for f in frames] == [
        ("task_created", 0.0),
        ("task_updated", 0.0),
        ("chunk", 3.0),
        ("chunk", 3.0),
        ("chunk", 3.0),
        ("chunk", 3.0),
        ("task_finished", 3.0),
    ]


@manual_clock
async def test_stop_ends_an_open_stream(session: aiohttp.ClientSession, mockagent_aserver: MockServer) -> None:
    async with session.post("v1/agents/slow/invoke/stream", json=invoke_body()) as response:
        head = [await response.content.readuntil(b"\n\n") for _ in range(2)]
        task_id = json_frames(b"".join(head).decode())[0]["task_id"]
        status, stopped = await call(session, "POST", f"/v1/tasks/{task_id}/stop")
        assert (status, stopped["status"]) == (200, "stopped")
        frames = json_frames(b"".join(head).decode() + await response.text())
    check_vocabulary(frames, VOCABULARY, {"task_finished"})
    assert [f["type"] for f in frames] == ["task_created", "task_updated", "task_finished"]
    assert frames[-1]["data"]["status"] == "stopped"


@manual_clock
async def test_a_client_disconnect_stops_the_task(
    session: aiohttp.ClientSession, mockagent_aserver: MockServer
) -> None:
    response = await session.post("v1/agents/slow/invoke/stream", json=invoke_body())
    head = await response.content.readuntil(b"\n\n")
    task_id = json_frames(head.decode())[0]["task_id"]
    run = only_run(mockagent_aserver)
    response.close()
    # The server notices the hang-up on its own loop: the run changes then, and `settled` returns (the
    # manual clock stands still, so nothing else can settle it).
    await asyncio.wait_for(run.settled(), SAFETY)
    assert (run.status(), run.end_reason) == (RunStatus.CANCELLED, "client disconnected")
    task = await poll(session, task_id)
    assert (task["status"], task["result"]) == ("stopped", None)


async def test_a_dropped_stream_stops_the_task(session: aiohttp.ClientSession, mockagent_aserver: MockServer) -> None:
    headers = {"X-Mockagent-Fault": "drop-after=2"}
    with pytest.raises(aiohttp.ClientPayloadError):
        async with session.post("v1/agents/slow/invoke/stream", json=invoke_body(), headers=headers) as response:
            await response.text()
    run = only_run(mockagent_aserver)  # cancelled by the drop itself, before the connection closed
    assert (run.status(), run.end_reason) == (RunStatus.CANCELLED, "client disconnected")
    assert (await poll(session, run.conversation.id))["status"] == "stopped"
