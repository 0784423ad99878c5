"""Runs shared between processes through a real Redis (`serve --state redis://… --manual-clock`): on every
platform a run started through one `mockagent serve` process is polled, streamed, reconnected to, approved,
answered and cancelled through another, and completes there with the right content; the manual clock moved
through a third moves a stream followed through another; a process killed mid-run loses nothing of a
run the others go on serving, and one killed holding a session's lock blocks it only until the lock lapses.
Nothing depends on wall-clock timing but that lapse (Redis's own, a few seconds): each step waits on a
condition (the admin API's clock, a stream's frames), bounded by SAFETY."""

from __future__ import annotations

import asyncio
import base64
import json
import signal
import uuid
from collections.abc import Awaitable
from typing import Any, TypeVar

import aiohttp
import pytest
import redis.asyncio as redis
from credentials import AGENTOS, BEEOS, JWT
from redis_server import RedisServer
from serving import SAFETY, advance, call, replicas, waiting
from sse import Frame, parse

T = TypeVar("T")


async def through(http: aiohttp.ClientSession, base: str, clock: str, pending: Awaitable[T]) -> T:
    """What a request to `base` answers, moving the clock through `clock` by a second whenever the request
    waits on it there (a pace's frames; a request that needs no time answers at once)."""
    answer = asyncio.ensure_future(pending)
    loop = asyncio.get_running_loop()
    deadline = loop.time() + SAFETY
    while not answer.done():
        if loop.time() > deadline:
            answer.cancel()
            raise AssertionError(f"{base} never answered")
        async with http.get(f"{base}/__mockagent/clock") as found:
            if (await found.json())["waiting"]:
                await advance(http, clock, 1)
        await asyncio.wait([answer], timeout=0.02)
    return answer.result()


async def frame(response: aiohttp.ClientResponse) -> Frame:
    """The stream's next frame (comments skipped), within the bound."""
    while True:
        raw = await asyncio.wait_for(response.content.readuntil(b"\n\n"), SAFETY)
        frames = parse(raw.decode())
        if frames:
            (found,) = frames
            return found


async def rest(response: aiohttp.ClientResponse) -> list[Frame]:
    """The stream's remaining frames, once it ends."""
    return parse((await asyncio.wait_for(response.read(), SAFETY)).decode())


# ── BeeOS: tasks, their event streams, continue and cancel ───────────────────────────────────────

BEE = "/beeos/api/v1/agents"


async def task_followed(
    http: aiohttp.ClientSession, agent: str, started_on: str, followed_on: str
) -> tuple[str, aiohttp.ClientResponse]:
    """A BeeOS task of `agent` created through one process, and its events opened through another (or it)."""
    status, created = await call(http, "POST", f"{started_on}{BEE}/{agent}/tasks", BEEOS, {"message": "deploy"})
    assert status == 202, created
    task_id = created["data"]["task_id"]
    events = await http.get(f"{followed_on}{BEE}/{agent}/tasks/{task_id}/events", headers=BEEOS)
    assert events.status == 200
    return task_id, events


async def test_beeos_task_answered_streamed_and_reconnected_across_processes(
    redis_server: RedisServer, name: str, http: aiohttp.ClientSession
) -> None:
    async with replicas(redis_server, name) as (one, two, three):
        # The task's events, followed through the second process while the third moves the clock.
        task_id, events = await task_followed(http, "question", one.base, two.base)
        await advance(http, three.base, 1)
        head = [await frame(events), await frame(events)]
        assert [(f.id, f.json()["type"]) for f in head] == [("1", "chat_message"), ("2", "input_required")]
        status, polled = await call(http, "GET", f"{three.base}{BEE}/question/tasks/{task_id}", BEEOS)
        assert polled["data"]["status"] == "input_required"
        # Answered through the first process: the stream on the second goes on.
        status, answered = await call(
            http, "POST", f"{one.base}{BEE}/question/tasks/{task_id}/continue", BEEOS, {"input": {"text": "staging"}}
        )
        assert status == 200, answered
        await advance(http, three.base, 1)
        tail = await rest(events)
        assert [(f.event, f.id) for f in tail][-1] == ("end", "7")
        assert [int(f.id or 0) for f in tail[:-1]] == [3, 4, 5, 6, 7]
        assert tail[-2].json()["body"] == "Deploying to staging."
        # A reconnect with Last-Event-ID through the third gets only what came after it.
        again = {**BEEOS, "Last-Event-ID": "6"}
        status, text = await call(http, "GET", f"{three.base}{BEE}/question/tasks/{task_id}/events", again)
        assert [(f.event, f.json().get("offset")) for f in parse(text)] == [("message", 7), ("end", None)]
        status, done = await call(http, "GET", f"{one.base}{BEE}/question/tasks/{task_id}", BEEOS)
        assert done["data"]["status"] == "completed"


async def test_beeos_task_cancelled_through_another_process(
    redis_server: RedisServer, name: str, http: aiohttp.ClientSession
) -> None:
    async with replicas(redis_server, name, 2) as (one, two):
        task_id, events = await task_followed(http, "slow", one.base, one.base)
        await advance(http, two.base, 1)
        status, cancelled = await call(
            http, "POST", f"{two.base}{BEE}/slow/tasks/{task_id}/cancel", BEEOS, {"reason": "changed my mind"}
        )
        assert status == 200, cancelled
        frames = await rest(events)  # the stream on the first process hears of it and ends
        closing = frames[-2].json()
        assert (closing["type"], closing["state"], closing["stop_reason"]) == ("agent_reply", "cancelled", "user_stop")
        assert frames[-1].event == "end"
        await advance(http, two.base, 5)
        _, polled = await call(http, "GET", f"{one.base}{BEE}/slow/tasks/{task_id}", BEEOS)
        assert polled["data"]["status"] == "canceled"  # BeeOS's spelling


async def test_tasks_started_at_once_through_every_process_are_all_kept(
    redis_server: RedisServer, name: str, http: aiohttp.ClientSession
) -> None:
    async with replicas(redis_server, name) as processes:
        # Two tasks through each process at once: each start is a change of the session's records,
        # made under its lock, so none overwrites another's.
        started = await asyncio.gather(
            *(
                call(http, "POST", f"{replica.base}{BEE}/slow/tasks", BEEOS, {"message": f"m{i}"})
                for i, replica in enumerate(processes * 2)
            )
        )
        ids = {created["data"]["task_id"] for status, created in started if status == 202}
        assert len(ids) == 6
        for replica in processes:
            _, listed = await call(http, "GET", f"{replica.base}/beeos/api/v1/tasks", BEEOS)
            assert {task["task_id"] for task in listed["data"]["tasks"]} == ids
            async with http.get(f"{replica.base}/__mockagent/runs") as runs:
                assert len(await runs.json()) == 6
        await advance(http, processes[0].base, 4)  # a task is queued for a moment, then takes 3 s
        statuses = []
        for replica, task_id in zip(processes * 2, sorted(ids), strict=True):
            _, polled = await call(http, "GET", f"{replica.base}{BEE}/slow/tasks/{task_id}", BEEOS)
            statuses.append(polled["data"]["status"])
        assert statuses == ["completed"] * 6


# ── AgentOS: a run's approval decided elsewhere, a stream polled elsewhere ───────────────────────

AOS = "/agentos/api/v1"


async def test_agentos_approval_decided_through_another_process(
    redis_server: RedisServer, name: str, http: aiohttp.ClientSession
) -> None:
    async with replicas(redis_server, name) as (one, two, three):
        url = f"{one.base}{AOS}/agents/approval/invoke"
        paused = asyncio.ensure_future(call(http, "POST", url, AGENTOS, {"input": {"query": "mail ops"}}))
        await waiting(http, one.base)
        await advance(http, two.base, 1)
        status, body = await asyncio.wait_for(paused, SAFETY)
        assert status == 202, body
        run_id, approval_id = body["data"]["run_id"], body["data"]["awaiting_approval"]["approval_id"]
        _, listed = await call(http, "GET", f"{two.base}{AOS}/approvals", AGENTOS)
        assert [a["approval_id"] for a in listed["data"]] == [approval_id]
        status, decided = await call(
            http, "POST", f"{two.base}{AOS}/approvals/{approval_id}/decide", AGENTOS, {"decision": "approve"}
        )
        assert (status, decided["data"]["status"]) == (200, "approved"), decided
        await advance(http, three.base, 1)
        _, done = await call(http, "GET", f"{three.base}{AOS}/runs/{run_id}", AGENTOS)
        assert (done["data"]["status"], done["data"]["output"]) == ("completed", {"text": "Email sent."})
        _, left = await call(http, "GET", f"{one.base}{AOS}/approvals", AGENTOS)
        assert left["data"] == []
        twice = {"decision": "reject"}
        status, _ = await call(http, "POST", f"{one.base}{AOS}/approvals/{approval_id}/decide", AGENTOS, twice)
        assert status == 400  # already decided, whichever process is asked


async def test_agentos_question_replied_through_another_process(
    redis_server: RedisServer, name: str, http: aiohttp.ClientSession
) -> None:
    async with replicas(redis_server, name) as (one, two, three):
        asking = call(http, "POST", f"{one.base}{AOS}/agents/question/invoke", AGENTOS, {"input": {"query": "go"}})
        status, paused = await through(http, one.base, three.base, asking)
        assert status == 202, paused
        run_id, request_id = paused["data"]["run_id"], paused["data"]["awaiting_input"]["request_id"]
        reply = {"request_id": request_id, "response": "production"}
        replying = call(http, "POST", f"{two.base}{AOS}/runs/{run_id}/reply", AGENTOS, reply)
        status, replied = await through(http, two.base, three.base, replying)
        assert status == 200, replied
        assert replied["data"]["output"] == {"text": "Deploying to production."}
        _, done = await call(http, "GET", f"{three.base}{AOS}/runs/{run_id}", AGENTOS)
        assert done["data"]["status"] == "completed"
        status, again = await call(http, "POST", f"{one.base}{AOS}/runs/{run_id}/reply", AGENTOS, reply)
        assert status == 400, again  # answered already, whichever process is asked


async def test_agentos_stream_followed_while_polled_and_clocked_elsewhere(
    redis_server: RedisServer, name: str, http: aiohttp.ClientSession
) -> None:
    async with replicas(redis_server, name) as (one, two, three):
        stream = await http.post(f"{one.base}{AOS}/agents/slow/invoke", json={"stream": True}, headers=AGENTOS)
        run_id = (await frame(stream)).json()["run_id"]
        _, running = await call(http, "GET", f"{two.base}{AOS}/runs/{run_id}", AGENTOS)
        assert running["data"]["status"] == "running"
        await advance(http, three.base, 1.5)
        _, still = await call(http, "GET", f"{two.base}{AOS}/runs/{run_id}", AGENTOS)
        assert still["data"]["status"] == "running"
        await advance(http, three.base, 1.5)
        frames = [f.json() for f in await rest(stream)]
        assert frames[-1] == {"type": "done", "run_id": run_id, "duration_ms": 3000}
        _, done = await call(http, "GET", f"{two.base}{AOS}/runs/{run_id}", AGENTOS)
        assert (done["data"]["status"], done["data"]["output"]) == ("completed", {"text": "Done after a while."})


@pytest.mark.parametrize(
    ("agent", "action", "body", "result"),
    [
        ("approval", "approve", {}, ("completed", {"text": "Email sent."})),
        ("question", "answer", {"answer": "staging"}, ("completed", {"text": "Deploying to staging."})),
        ("approval", "cancel", {}, ("cancelled", None)),
    ],
    ids=["approve", "answer", "cancel"],
)
async def test_a_run_decided_over_the_admin_api_of_another_process(
    redis_server: RedisServer,
    name: str,
    http: aiohttp.ClientSession,
    agent: str,
    action: str,
    body: dict[str, str],
    result: tuple[str, Any],
) -> None:
    async with replicas(redis_server, name) as (one, two, three):
        asking = call(http, "POST", f"{one.base}{AOS}/agents/{agent}/invoke", AGENTOS, {"input": {"query": "go"}})
        status, paused = await through(http, one.base, three.base, asking)
        assert status == 202, paused
        run_id = paused["data"]["run_id"]
        async with http.post(f"{two.base}/__mockagent/runs/{run_id}/{action}", json=body) as decided:
            assert decided.status == 200, await decided.text()
        await advance(http, three.base, 1)
        _, done = await call(http, "GET", f"{one.base}{AOS}/runs/{run_id}", AGENTOS)
        assert (done["data"]["status"], done["data"]["output"]) == result


async def test_agentos_ingest_run_reported_through_every_process(
    redis_server: RedisServer, name: str, http: aiohttp.ClientSession
) -> None:
    async with replicas(redis_server, name) as (one, two, three):
        ingest = "/agentos/api/ingest/v1"
        start = {"agent_id": "billing", "trigger_type": "webhook", "external_run_id": "ext-1"}
        _, started = await call(http, "POST", f"{one.base}{ingest}/run/start", AGENTOS, start)
        run_id = started["data"]["run_id"]
        _, again = await call(http, "POST", f"{two.base}{ingest}/run/start", AGENTOS, start)
        assert again["data"]["run_id"] == run_id  # the same external run, whichever process hears of it
        event = {"type": "step.completed", "level": "warn", "payload": {"rows": 42}}
        body: dict[str, Any] = {"run_id": run_id, "events": [event]}
        assert (await call(http, "POST", f"{two.base}{ingest}/events", AGENTOS, body))[0] == 200
        task = {"id": "t1", "name": "parse-pdf", "status": "running"}
        body = {"run_id": run_id, "task": task}
        assert (await call(http, "POST", f"{three.base}{ingest}/tasks", AGENTOS, body))[0] == 200
        body = {"run_id": run_id, "task": {**task, "status": "completed"}}
        assert (await call(http, "POST", f"{one.base}{ingest}/tasks", AGENTOS, body))[0] == 200
        body = {"run_id": run_id, "output": {"result": "Done"}}
        assert (await call(http, "POST", f"{three.base}{ingest}/run/complete", AGENTOS, body))[0] == 200
        status, late = await call(
            http, "POST", f"{one.base}{ingest}/run/fail", AGENTOS, {"run_id": run_id, "error_message": "late"}
        )
        assert status == 409, late
        async with http.get(f"{two.base}/__mockagent/agentos/ingest/runs/{run_id}") as got:
            seen = await got.json()
        assert (seen["status"], seen["output"]) == ("completed", {"result": "Done"})
        assert [e["type"] for e in seen["events"]] == ["step.completed"]
        assert [h["status"] for h in seen["tasks"][0]["history"]] == ["running", "completed"]


# ── xpander.ai: async tasks polled, hitl answered, a stream stopped, elsewhere ───────────────────

XP = "/xpander/v1"
XPANDER = {"x-api-key": "key-1"}
USER = {"id": "u-1", "email": "ada@example.com"}


def xp_body(text: str = "hi") -> dict[str, Any]:
    return {"input": {"text": text, "user": USER}}


@pytest.mark.parametrize(
    ("agent", "answer", "after", "result"),
    [
        ("approval", {"decision": "approve"}, "executing", ("completed", "Email sent.")),
        ("approval", {"decision": "reject", "comment": "no"}, "failed", ("failed", "Email not sent.")),
        (
            "question",
            {"decision": "approve", "comment": "production"},
            "executing",
            ("completed", "Deploying to production."),
        ),
    ],
    ids=["approved", "rejected", "answered"],
)
async def test_xpander_hitl_answered_through_another_process(
    redis_server: RedisServer,
    name: str,
    http: aiohttp.ClientSession,
    agent: str,
    answer: dict[str, str],
    after: str,
    result: tuple[str, str],
) -> None:
    async with replicas(redis_server, name) as (one, two, three):
        status, created = await call(http, "POST", f"{one.base}{XP}/agents/{agent}/invoke/async", XPANDER, xp_body())
        assert status == 200, created
        task_id = created["id"]
        await advance(http, three.base, 1)
        _, paused = await call(http, "GET", f"{two.base}{XP}/tasks/{task_id}", XPANDER)
        assert paused["status"] == "paused"
        assert paused["hitl_request"] is not None
        status, decided = await call(http, "POST", f"{two.base}{XP}/tasks/{task_id}/hitl", XPANDER, answer)
        assert (status, decided["status"], decided["hitl_request"]) == (200, after, None), decided
        await advance(http, three.base, 1)
        _, done = await call(http, "GET", f"{one.base}{XP}/tasks/{task_id}", XPANDER)
        assert (done["status"], done["result"]) == result
        assert done["paused_at"] == paused["paused_at"]


async def test_xpander_async_task_polled_and_stream_stopped_elsewhere(
    redis_server: RedisServer, name: str, http: aiohttp.ClientSession
) -> None:
    async with replicas(redis_server, name) as (one, two, three):
        _, created = await call(http, "POST", f"{one.base}{XP}/agents/slow/invoke/async", XPANDER, xp_body())
        _, executing = await call(http, "GET", f"{two.base}{XP}/tasks/{created['id']}", XPANDER)
        assert executing["status"] == "executing"
        await advance(http, three.base, 3)
        _, done = await call(http, "GET", f"{two.base}{XP}/tasks/{created['id']}", XPANDER)
        assert (done["status"], done["result"]) == ("completed", "Done after a while.")
        # A stream of a slow task on the first process, stopped through the second.
        stream = await http.post(f"{one.base}{XP}/agents/slow/invoke/stream", json=xp_body(), headers=XPANDER)
        task_id = json.loads((await frame(stream)).data)["task_id"]
        status, stopped = await call(http, "POST", f"{two.base}{XP}/tasks/{task_id}/stop", XPANDER)
        assert (status, stopped["status"]) == (200, "stopped"), stopped
        frames = [json.loads(f.data) for f in await rest(stream)]
        assert (frames[-1]["type"], frames[-1]["data"]["status"]) == ("task_finished", "stopped")
        _, polled = await call(http, "GET", f"{three.base}{XP}/tasks/{task_id}", XPANDER)
        assert polled["status"] == "stopped"


async def test_xpander_thread_continued_through_another_process(
    redis_server: RedisServer, name: str, http: aiohttp.ClientSession
) -> None:
    async with replicas(redis_server, name) as (one, two, three):
        url = f"{one.base}{XP}/agents/echo/invoke/stream"
        status, text = await through(http, one.base, three.base, call(http, "POST", url, XPANDER, xp_body("one")))
        assert status == 200, text
        task_id = json.loads(parse(text)[0].data)["task_id"]
        url = f"{two.base}{XP}/agents/echo/invoke/stream"
        second = {**xp_body("two"), "id": task_id}
        status, text = await through(http, two.base, three.base, call(http, "POST", url, XPANDER, second))
        frames = [json.loads(f.data) for f in parse(text)]
        assert {f["task_id"] for f in frames} == {task_id}
        assert frames[-1]["data"]["result"] == "Echo: two"
        _, thread = await call(http, "GET", f"{three.base}{XP}/tasks/{task_id}/thread", XPANDER)
        assert [m["content"] for m in thread] == ["one", "Echo: one", "two", "Echo: two"]


# ── Zeus: an interrupt resumed through another process ───────────────────────────────────────────

ZEUS = {"Authorization": f"Bearer {JWT}"}
LLM = {"baseUrl": "https://api.openai.com/v1", "apiKey": "sk-zeus", "modelName": "gpt-4o"}


def zeus_decision(value: str) -> dict[str, Any]:
    return {"tool_call_id": "call_1", "tool_name": "send_email", "decision": value}


@pytest.mark.parametrize(
    ("decision", "last"), [("approved", "done"), ("rejected", "error")], ids=["approved", "rejected"]
)
async def test_zeus_interrupt_resumed_through_another_process(
    redis_server: RedisServer, name: str, http: aiohttp.ClientSession, decision: str, last: str
) -> None:
    async with replicas(redis_server, name) as (one, two, three):
        session_id = f"s-{uuid.uuid4().hex[:8]}"
        body = {"message": "mail ops", "llm_config": LLM, "session_id": session_id}
        url = f"{one.base}/zeus/api/agent/invoke?agent=approval"
        asked = asyncio.ensure_future(call(http, "POST", url, ZEUS, body))
        await waiting(http, one.base)
        await advance(http, three.base, 1)
        status, text = await asyncio.wait_for(asked, SAFETY)
        assert status == 200, text
        frames = [f.json() for f in parse(text)]
        assert frames[-1]["type"] == "interrupt"
        busy = {"message": "again", "llm_config": LLM, "session_id": session_id}
        status, refused = await call(http, "POST", f"{three.base}/zeus/api/agent/invoke", ZEUS, busy)
        assert (status, refused["detail"]) == (409, "Session has a pending interrupt; resume it first")
        resume = {"session_id": session_id, "llm_config": LLM, "tool_call_results": [zeus_decision(decision)]}
        resume_url = f"{two.base}/zeus/api/agent/resume"
        status, text = await through(http, two.base, three.base, call(http, "POST", resume_url, ZEUS, resume))
        assert status == 200, text
        after = [f.json() for f in parse(text)]
        assert after[-1]["type"] == last
        chunks = "".join(f["content"] for f in after if f["type"] == "message_chunk")
        assert chunks == ("Email sent." if decision == "approved" else "")
        # The session is no longer interrupted for any process: a second resume is refused everywhere.
        status, refused = await call(http, "POST", f"{three.base}/zeus/api/agent/resume", ZEUS, resume)
        assert status == 409, refused


# ── Aster: a background run polled, a question answered, through other processes ─────────────────


def _jwt(**claims: Any) -> str:
    def part(value: dict[str, Any]) -> str:
        return base64.urlsafe_b64encode(json.dumps(value).encode()).rstrip(b"=").decode()

    return f"{part({'alg': 'RS256', 'typ': 'JWT'})}.{part(claims)}.c2ln"


ASTER = {"Authorization": f"Bearer {_jwt(sub='user_2abc', org_id='org_2xyz', org_role='org:admin')}"}
APPROVAL, QUESTION, SLOW = 3, 4, 5


def aster_message(text: str) -> dict[str, Any]:
    return {"role": "user", "parts": [{"type": "text", "text": text}]}


async def conversation(http: aiohttp.ClientSession, base: str, thread: str) -> dict[str, Any]:
    async with http.get(f"{base}/aster/api/getConversation", params={"threadId": thread}, headers=ASTER) as got:
        assert got.status == 200, await got.text()
        found: dict[str, Any] = await got.json()
        return found


async def chat(http: aiohttp.ClientSession, base: str, body: dict[str, Any]) -> tuple[str, str]:
    """A streamed chat turn: its thread and its whole stream."""
    async with http.post(f"{base}/aster/api/chat", json=body, headers=ASTER) as response:
        assert response.status == 200, await response.text()
        return response.headers["x-thread-id"], await response.text()


def aster_text(text: str) -> str:
    return "".join(f.json()["delta"] for f in parse(text) if f.data != "[DONE]" and f.json()["type"] == "text-delta")


async def test_aster_background_run_polled_through_another_process(
    redis_server: RedisServer, name: str, http: aiohttp.ClientSession
) -> None:
    async with replicas(redis_server, name) as (one, two, three):
        body = {"agentId": SLOW, "message": aster_message("go")}
        headers = {**ASTER, "X-Stream-Response": "false"}
        status, started = await call(http, "POST", f"{one.base}/aster/api/chat", headers, body)
        assert status == 202, started
        thread = started["threadId"]
        assert (await conversation(http, two.base, thread))["streamStatus"] == "in_progress"
        await advance(http, three.base, 3)
        done = await conversation(http, two.base, thread)
        assert done["streamStatus"] == "completed"
        texts = [(m["role"], m["parts"][0]["text"]) for m in done["messages"]]
        assert texts == [("user", "go"), ("assistant", "Done after a while.")]


async def test_aster_thread_busy_in_one_process_is_busy_in_another(
    redis_server: RedisServer, name: str, http: aiohttp.ClientSession
) -> None:
    async with replicas(redis_server, name) as (one, two, three):
        headers = {**ASTER, "X-Stream-Response": "false"}
        _, started = await call(
            http, "POST", f"{one.base}/aster/api/chat", headers, {"agentId": SLOW, "message": aster_message("go")}
        )
        again = {"agentId": SLOW, "message": aster_message("again"), "threadId": started["threadId"]}
        status, refused = await call(http, "POST", f"{two.base}/aster/api/chat", headers, again)
        assert (status, refused) == (409, {"error": "A response is already in progress for this conversation"})
        await advance(http, three.base, 3)
        status, accepted = await call(http, "POST", f"{two.base}/aster/api/chat", headers, again)
        assert status == 202, accepted
        await advance(http, three.base, 3)
        done = await conversation(http, one.base, started["threadId"])
        assert [m["parts"][0]["text"] for m in done["messages"]] == [
            "go",
            "Done after a while.",
            "again",
            "Done after a while.",
        ]


async def test_aster_question_answered_through_another_process(
    redis_server: RedisServer, name: str, http: aiohttp.ClientSession
) -> None:
    async with replicas(redis_server, name) as (one, two, three):
        body = {"agentId": QUESTION, "message": aster_message("deploy")}
        asked = asyncio.ensure_future(http.post(f"{one.base}/aster/api/chat", json=body, headers=ASTER))
        await waiting(http, one.base)
        await advance(http, three.base, 1)
        response = await asyncio.wait_for(asked, SAFETY)
        thread = response.headers["x-thread-id"]
        assert aster_text(await response.text()) == "Which environment? (staging / production)"
        answer = {"agentId": QUESTION, "message": aster_message("staging"), "threadId": thread}
        answered = asyncio.ensure_future(call(http, "POST", f"{two.base}/aster/api/chat", ASTER, answer))
        await waiting(http, two.base)
        await advance(http, three.base, 1)
        status, text = await asyncio.wait_for(answered, SAFETY)
        assert status == 200, text
        assert aster_text(text) == "Deploying to staging."
        done = await conversation(http, one.base, thread)
        assert done["streamStatus"] == "completed"
        assert [m["parts"][0]["text"] for m in done["messages"]][2:] == ["staging", "Deploying to staging."]


async def test_aster_approval_given_through_another_process(
    redis_server: RedisServer, name: str, http: aiohttp.ClientSession
) -> None:
    async with replicas(redis_server, name) as (one, two, three):
        body = {"agentId": APPROVAL, "message": aster_message("mail ops")}
        thread, text = await through(http, one.base, three.base, chat(http, one.base, body))
        assert aster_text(text) == 'May I call send_email with {"to": "ops@example.com"}? (yes/no)'
        answer = {"agentId": APPROVAL, "message": aster_message("yes"), "threadId": thread}
        approving = call(http, "POST", f"{two.base}/aster/api/chat", ASTER, answer)
        status, text = await through(http, two.base, three.base, approving)
        assert status == 200, text
        assert aster_text(text) == "Email sent."
        assert (await conversation(http, three.base, thread))["streamStatus"] == "completed"


async def until_status(http: aiohttp.ClientSession, base: str, status: str) -> None:
    """Until the one run `base`'s admin API lists has `status` (a hang-up is noticed in its own time)."""
    loop = asyncio.get_running_loop()
    deadline = loop.time() + SAFETY
    seen: list[str] = []
    while loop.time() < deadline:
        async with http.get(f"{base}/__mockagent/runs") as listed:
            seen = [run["status"] for run in await listed.json()]
        if seen == [status]:
            return
        await asyncio.sleep(0.02)
    raise AssertionError(f"{base}'s runs are {seen}, not [{status!r}]")


@pytest.mark.parametrize(
    ("path", "headers", "body"),
    [
        (f"{BEE}/slow/invoke", {**BEEOS, "Accept": "text/event-stream"}, {"message": "x"}),
        (f"{AOS}/agents/slow/invoke", AGENTOS, {"stream": True}),
        (f"{XP}/agents/slow/invoke/stream", XPANDER, xp_body()),
        ("/zeus/api/agent/invoke?agent=slow", ZEUS, {"message": "x", "llm_config": LLM}),
        ("/aster/api/chat", ASTER, {"agentId": SLOW, "message": aster_message("x")}),
    ],
    ids=["beeos", "agentos", "xpander", "zeus", "aster"],
)
async def test_a_stream_hung_up_on_one_process_reads_cancelled_on_another(
    redis_server: RedisServer, name: str, http: aiohttp.ClientSession, path: str, headers: dict[str, str], body: Any
) -> None:
    async with replicas(redis_server, name, 2) as (one, two):
        stream = await http.post(f"{one.base}{path}", json=body, headers=headers)
        assert stream.status == 200, await stream.text()
        await until_status(http, two.base, "running")
        stream.close()  # the client hangs up: the run is cancelled where it was served, and for all
        await until_status(http, two.base, "cancelled")


# ── a process killed mid-run ──────────────────────────────────────────────────────────────────────


async def test_a_run_outlives_the_process_that_started_it(
    redis_server: RedisServer, name: str, http: aiohttp.ClientSession
) -> None:
    async with replicas(redis_server, name, 2) as (doomed, survivor):
        task_id, events = await task_followed(http, "question", doomed.base, doomed.base)
        await advance(http, doomed.base, 1)
        seen = [await frame(events), await frame(events)]
        assert [f.id for f in seen] == ["1", "2"]
        doomed.process.send_signal(signal.SIGKILL)
        await doomed.process.wait()
        events.close()
        # The survivor answers, moves the clock, and serves the run to its end.
        status, answered = await call(
            http, "POST", f"{survivor.base}{BEE}/question/tasks/{task_id}/continue", BEEOS, {"input": {"text": "prod"}}
        )
        assert status == 200, answered
        reconnected = await http.get(
            f"{survivor.base}{BEE}/question/tasks/{task_id}/events", headers={**BEEOS, "Last-Event-ID": "2"}
        )
        await advance(http, survivor.base, 1)
        tail = await rest(reconnected)
        assert [int(f.id or 0) for f in tail[:-1]] == [3, 4, 5, 6, 7]
        assert tail[-2].json()["body"] == "Deploying to prod."
        _, polled = await call(http, "GET", f"{survivor.base}{BEE}/question/tasks/{task_id}", BEEOS)
        assert polled["data"]["status"] == "completed"


async def test_one_session_loaded_through_two_processes_at_once_loses_nothing(
    redis_server: RedisServer, name: str, http: aiohttp.ClientSession
) -> None:
    """Many tasks started at once through each of two processes: each process passes the session's lock from
    one of its requests to the next, and lets it go to the other process when that one wants it; every start
    is kept, and both processes list them all."""
    async with replicas(redis_server, name, 2) as processes:
        started = await asyncio.gather(
            *(
                call(http, "POST", f"{replica.base}{BEE}/slow/tasks", BEEOS, {"message": f"m{i}"})
                for i, replica in enumerate(processes * 25)
            )
        )
        assert {status for status, _ in started} == {202}
        ids = {created["data"]["task_id"] for _, created in started}
        assert len(ids) == 50
        for replica in processes:
            async with http.get(f"{replica.base}/__mockagent/runs") as runs:
                assert {run["id"] for run in await runs.json()} >= ids


async def test_a_session_held_by_a_killed_process_is_served_once_its_lock_lapses(
    redis_server: RedisServer, name: str, http: aiohttp.ClientSession
) -> None:
    """A process killed while it holds a session's lock in Redis (stopped as it is caught holding it, then
    killed) blocks the session only until the lock lapses: a request through another process waits for it,
    then is served, and the session is whole."""
    client = redis.Redis.from_url(redis_server.url)
    lock = f"mockagent:{name}:s:default:lock"
    async with replicas(redis_server, name, 2) as (doomed, survivor):
        load: list[asyncio.Future[Any]] = []
        for _ in range(20):  # each round: the doomed process busy with the session, stopped while it holds it
            load.append(
                asyncio.gather(
                    *(call(http, "POST", f"{doomed.base}{BEE}/slow/tasks", BEEOS, {"message": "m"}) for _ in range(20)),
                    return_exceptions=True,
                )
            )
            while not load[-1].done() and not await client.exists(lock):
                await asyncio.sleep(0)
            doomed.process.send_signal(signal.SIGSTOP)
            if await client.exists(lock):
                break
            doomed.process.send_signal(signal.SIGCONT)
        else:
            raise AssertionError("the doomed process was never caught holding the session's lock")
        doomed.process.send_signal(signal.SIGKILL)
        await doomed.process.wait()
        await asyncio.gather(*load)
        status, created = await call(http, "POST", f"{survivor.base}{BEE}/slow/tasks", BEEOS, {"message": "after"})
        assert status == 202, created
        _, listed = await call(http, "GET", f"{survivor.base}/beeos/api/v1/tasks", BEEOS)
        assert created["data"]["task_id"] in {task["task_id"] for task in listed["data"]["tasks"]}
    await client.aclose()


# ── the event feed ────────────────────────────────────────────────────────────────────────────────


async def test_a_feed_tells_what_every_process_does(
    redis_server: RedisServer, name: str, http: aiohttp.ClientSession
) -> None:
    """A listener of one process's feed (the web page) is told of the requests another process serves and
    follows the runs it starts, event by event as this process's clock moves them; ids tell them apart."""
    async with replicas(redis_server, name, 2) as (one, two):
        feed = await http.get(f"{one.base}/__mockagent/events")
        assert feed.status == 200
        await waiting(http, one.base, 0)  # the feed is open: a request now is heard
        pending = asyncio.ensure_future(call(http, "POST", f"{two.base}{BEE}/slow/invoke", BEEOS, {"message": "x"}))
        kinds: list[str] = []
        entries: list[dict[str, Any]] = []
        while "run.started" not in kinds:
            seen = await frame(feed)
            kinds.append(seen.event)
            if seen.event.startswith("request."):
                entries.append(seen.json()["entry"])
        assert kinds[0] == "request.received"
        assert entries[0]["path"] == "/beeos/api/v1/agents/slow/invoke"
        await advance(http, one.base, 5)
        status, answered = await asyncio.wait_for(pending, SAFETY)
        assert status == 200
        assert answered["data"]["text"] == "Done after a while."
        happened: list[str] = []
        while "request.answered" not in kinds or "run.ended" not in kinds:
            seen = await frame(feed)
            kinds.append(seen.event)
            if seen.event == "run.event":
                happened.append(seen.json()["event"]["type"])
        # The run, followed here from this process's copy of it: its words, then its end.
        assert happened == ["text"] * (len(happened) - 1) + ["completed"]
        assert len(happened) > 1
        # The entry's id is process 2's own (ids are per process), and the journal every process reads has it.
        assert entries[0]["id"] > 10**12
        kept = await journal_of(http, one.base, 1)
        assert [entry["id"] for entry in kept] == [entries[0]["id"]]
        feed.close()


async def journal_of(http: aiohttp.ClientSession, base: str, count: int, query: str = "") -> list[dict[str, Any]]:
    """`base`'s journal once it holds `count` entries (each process writes its own in the background)."""
    loop = asyncio.get_running_loop()
    deadline = loop.time() + SAFETY
    while True:
        async with http.get(f"{base}/__mockagent/journal{query}") as response:
            entries: list[dict[str, Any]] = (await response.json())["entries"]
        if len(entries) >= count or loop.time() > deadline:
            return entries
        await asyncio.sleep(0.02)


async def test_the_journal_is_one_for_every_process(
    redis_server: RedisServer, name: str, http: aiohttp.ClientSession
) -> None:
    """Each process's answered requests are in one journal that any process lists, oldest first, filters,
    gives one entry of, and clears — redacted as one process's journal is."""
    async with replicas(redis_server, name, 2) as (one, two):
        for n, base in enumerate((one.base, two.base, one.base)):
            sent = call(http, "POST", f"{base}{BEE}/echo/invoke", BEEOS, {"message": f"m{n}"})
            status, _ = await through(http, base, base, sent)
            assert status == 200
        # An agent nobody serves, in another session: answered at once (a 404 is journaled too).
        headers = {**BEEOS, "X-Mockagent-Session": "other"}
        assert (await call(http, "POST", f"{two.base}{BEE}/nobody/invoke", headers, {"message": "m3"}))[0] == 404
        entries = await journal_of(http, one.base, 4)
        assert [entry["request"]["body"]["message"] for entry in entries] == ["m0", "m1", "m2", "m3"]
        assert {entry["session"] for entry in entries} == {"default", "other"}
        assert all("<<secret:" in entry["request"]["headers"]["Authorization"] for entry in entries)
        # Filtered, one session, paged, one entry: through the other process.
        mine = await journal_of(http, two.base, 3, "?session=default")
        assert [entry["request"]["body"]["message"] for entry in mine] == ["m0", "m1", "m2"]
        async with http.get(f"{two.base}/__mockagent/journal", params={"limit": "2"}) as page:
            first = await page.json()
        assert [entry["request"]["body"]["message"] for entry in first["entries"]] == ["m0", "m1"]
        async with http.get(f"{two.base}/__mockagent/journal", params={"since": str(first["next"])}) as page:
            assert [entry["request"]["body"]["message"] for entry in (await page.json())["entries"]] == ["m2", "m3"]
        async with http.get(f"{two.base}/__mockagent/journal/{entries[0]['id']}") as one_entry:
            assert (await one_entry.json())["request"]["body"]["message"] == "m0"
        async with http.delete(f"{two.base}/__mockagent/journal") as cleared:
            assert (await cleared.json())["cleared"] == 4
        async with http.get(f"{one.base}/__mockagent/journal") as after:
            assert (await after.json())["entries"] == []
