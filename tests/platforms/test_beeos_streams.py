"""BeeOS against the manual clock: the 504 gateway timeout, streams that follow the run, hang-ups,
and task event streams that stay open across a pause and resume with Last-Event-ID."""

from __future__ import annotations

import asyncio
from typing import Any

import aiohttp
import pytest
from sse import check_vocabulary, json_frames, parse

from mockagent.runs import Run, RunStatus
from mockagent.server import MockServer

AGENTS = "tests/platforms/scenarios/beeos_agents.yaml"
pytestmark = pytest.mark.mockagent(manual_clock=True, scenarios=[AGENTS], with_builtin=True)

KEY = "oag_" + "0123456789abcdef" * 4
AUTH = {"Authorization": f"Bearer {KEY}"}
STREAM = {**AUTH, "Accept": "text/event-stream"}
VOCABULARY = {
    "reasoning": {"text"},
    "delta": {"text"},
    "error": {"code", "status_code", "message"},
    "done": {"text", "context_id", "is_error", "error", "code"},
}


SAFETY = 10.0  # real seconds: a bound on what should happen at once, never a measurement


async def started(server: MockServer) -> Run:
    """The one run, once the request in flight (on the same loop) has started it and waits on the clock."""
    await asyncio.wait_for(server.until_waiting(1), SAFETY)
    (run,) = server.session().runs_of()
    return run


def invoke_url(server: MockServer, agent: str) -> str:
    return f"{server.base_url('beeos')}/api/v1/agents/{agent}/invoke"


async def test_blocking_invoke_times_out_with_504(mockagent_aserver: MockServer) -> None:
    async with aiohttp.ClientSession() as session:
        body = {"message": "wake up", "timeout_ms": 1000}
        pending = asyncio.ensure_future(session.post(invoke_url(mockagent_aserver, "sleepy"), json=body, headers=AUTH))
        run = await started(mockagent_aserver)
        await mockagent_aserver.advance(0.9)
        assert not pending.done()
        assert run.status() is RunStatus.RUNNING
        await mockagent_aserver.advance(0.1)
        response = await pending
        assert response.status == 504
        payload: dict[str, Any] = await response.json()
    error = payload["error"]
    assert payload["success"] is False
    assert (error["type"], error["code"], error["message"]) == (
        "api_error",
        "service_timeout",
        "agent invocation timed out",
    )
    assert error["request_id"] == response.headers["X-Request-Id"]
    assert run.status() is RunStatus.TIMED_OUT
    assert run.moment(RunStatus.TIMED_OUT) == 1.0


async def test_default_timeout_is_capped_at_115_seconds(mockagent_aserver: MockServer) -> None:
    async with aiohttp.ClientSession() as session:
        body = {"message": "x", "timeout_ms": 10_000_000}
        pending = asyncio.ensure_future(session.post(invoke_url(mockagent_aserver, "timeout"), json=body, headers=AUTH))
        run = await started(mockagent_aserver)
        await mockagent_aserver.advance(114.9)
        assert not pending.done()
        await mockagent_aserver.advance(0.1)
        assert (await pending).status == 504
    assert run.moment(RunStatus.TIMED_OUT) == 115.0


async def test_stream_times_out_with_error_then_done(mockagent_aserver: MockServer) -> None:
    async with aiohttp.ClientSession() as session:
        body = {"message": "wake up", "timeout_ms": 1000}
        response = await session.post(invoke_url(mockagent_aserver, "sleepy"), json=body, headers=STREAM)
        assert response.status == 200
        run = await started(mockagent_aserver)
        await mockagent_aserver.advance(1)
        frames = json_frames(await response.text())
    check_vocabulary(frames, VOCABULARY, {"done"})
    context_id = run.conversation.id
    assert frames == [
        {"type": "error", "code": "service_timeout", "status_code": 504, "message": "agent invocation timed out"},
        {
            "type": "done",
            "text": "",
            "context_id": context_id,
            "is_error": True,
            "error": "agent invocation timed out",
            "code": "service_timeout",
        },
    ]
    assert run.status() is RunStatus.TIMED_OUT


async def test_stream_frames_come_at_their_moment(mockagent_aserver: MockServer) -> None:
    async with aiohttp.ClientSession() as session:
        response = await session.post(invoke_url(mockagent_aserver, "echo"), json={"message": "a b"}, headers=STREAM)
        run = await started(mockagent_aserver)
        await mockagent_aserver.advance(0.03)
        first = await response.content.readuntil(b"\n\n")
        assert json_frames(first.decode()) == [{"type": "delta", "text": "Echo: "}]
        assert run.status() is RunStatus.RUNNING
        await mockagent_aserver.advance(1)
        rest = json_frames((await response.content.read()).decode())
    assert [f["type"] for f in rest] == ["delta", "delta", "done"]
    assert rest[-1]["text"] == "Echo: a b"


async def test_client_disconnect_cancels_the_run(mockagent_aserver: MockServer) -> None:
    async with aiohttp.ClientSession() as session:
        response = await session.post(invoke_url(mockagent_aserver, "slow"), json={"message": "x"}, headers=STREAM)
        run = await started(mockagent_aserver)
        response.close()
        # The server notices the hang-up on its own loop: the run changes then, and `settled` returns (the
        # manual clock stands still, so nothing else can settle it).
        await asyncio.wait_for(run.settled(), SAFETY)
        listed = await (await session.get(f"{mockagent_aserver.url}/__mockagent/runs")).json()
    assert [(r["id"], r["status"]) for r in listed] == [(run.id, "cancelled")]
    assert run.end_reason == "client disconnected"


async def test_blocking_client_disconnect_cancels_the_run(mockagent_aserver: MockServer) -> None:
    async with aiohttp.ClientSession() as session:
        pending = asyncio.ensure_future(
            session.post(invoke_url(mockagent_aserver, "slow"), json={"message": "x"}, headers=AUTH)
        )
        run = await started(mockagent_aserver)
    pending.cancel()
    await asyncio.wait_for(run.settled(), SAFETY)  # the hang-up changes the run; the clock stands still
    assert run.status() is RunStatus.CANCELLED
    assert run.end_reason == "client disconnected"


async def test_task_events_follow_a_pause_and_resume(mockagent_aserver: MockServer) -> None:
    base = f"{mockagent_aserver.base_url('beeos')}/api/v1/agents/question/tasks"
    async with aiohttp.ClientSession(headers=AUTH) as session:
        created = await (await session.post(base, json={"message": "deploy"})).json()
        task_id = created["data"]["task_id"]
        events = await session.get(f"{base}/{task_id}/events")
        assert events.headers["Content-Type"].startswith("text/event-stream")
        await mockagent_aserver.advance(1)
        head = await events.content.readuntil(b"\n\n") + await events.content.readuntil(b"\n\n")
        frames = parse(head.decode())
        assert [(f.event, f.id, f.json()["type"]) for f in frames] == [
            ("message", "1", "chat_message"),
            ("message", "2", "input_required"),
        ]
        # The stream stays open while the task waits; the answer arrives through continue.
        answer = await session.post(f"{base}/{task_id}/continue", json={"input": {"text": "staging"}})
        assert answer.status == 200
        await mockagent_aserver.advance(1)
        tail = parse((await events.content.read()).decode())
        assert [(f.event, f.id) for f in tail][-1] == ("end", "7")
        assert [int(f.id or 0) for f in tail[:-1]] == [3, 4, 5, 6, 7]
        assert tail[-2].json()["body"] == "Deploying to staging."
        # A reconnect with Last-Event-ID gets only what came after it.
        again = await session.get(f"{base}/{task_id}/events", headers={"Last-Event-ID": "6"})
        resumed = parse(await again.text())
    assert [(f.event, f.json().get("offset")) for f in resumed] == [("message", 7), ("end", None)]


async def test_task_event_watcher_hanging_up_leaves_the_task_running(mockagent_aserver: MockServer) -> None:
    base = f"{mockagent_aserver.base_url('beeos')}/api/v1/agents/slow/tasks"
    async with aiohttp.ClientSession(headers=AUTH) as session:
        created = await (await session.post(base, json={"message": "x"})).json()
        task_id = created["data"]["task_id"]
        events = await session.get(f"{base}/{task_id}/events")
        await events.content.readuntil(b"\n\n")
        assert mockagent_aserver.session().in_flight == 1  # the watcher's stream
        events.close()
        # The watcher's handler has ended (the server noticed the hang-up) before the task goes on.
        await asyncio.wait_for(mockagent_aserver.session().until_in_flight(0), SAFETY)
        assert not mockagent_aserver.session().runs_of()[0].status().is_terminal
        await mockagent_aserver.advance(4)
        task = await (await session.get(f"{base}/{task_id}")).json()
    assert task["data"]["status"] == "completed"


async def test_cancel_ends_the_task_event_stream(mockagent_aserver: MockServer) -> None:
    base = f"{mockagent_aserver.base_url('beeos')}/api/v1/agents/slow/tasks"
    async with aiohttp.ClientSession(headers=AUTH) as session:
        created = await (await session.post(base, json={"message": "x"})).json()
        task_id = created["data"]["task_id"]
        events = await session.get(f"{base}/{task_id}/events")
        await mockagent_aserver.advance(1)
        await session.post(f"{base}/{task_id}/cancel", json={"reason": "changed my mind"})
        frames = parse(await events.text())
    closing = frames[-2].json()
    assert (closing["type"], closing["state"], closing["stop_reason"]) == ("agent_reply", "cancelled", "user_stop")
    assert closing["payload"] == {"text": "", "error": "changed my mind"}
    assert frames[-1].event == "end"
