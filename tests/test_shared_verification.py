"""Verification shared between processes through a real Redis (`serve --state redis://… --manual-clock`):
`POST /__mockagent/verify` and `GET /__mockagent/verdicts/NAME` through any process read what every process
served — from the journal kept in Redis, rebuilt into entries whose verdict-relevant fields survive the
trip — and tell one client from another by a digest of its credential, the credential itself never written.
Nothing depends on wall-clock timing: each step waits on a condition (the journal, the admin API's clock),
bounded by SAFETY."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from typing import Any

import aiohttp
import redis.asyncio as redis
from admin_contract import check_aiohttp
from credentials import AGENTOS, BEEOS, JWT
from multidict import CIMultiDict
from redis_server import RedisServer
from serving import SAFETY, advance, call, replicas, waiting

from mockagent.appkeys import make_redactor
from mockagent.clock import ManualClock
from mockagent.digests import digest
from mockagent.encoding import dumps, loads
from mockagent.journal import Decided, Entry, Journal, counter
from mockagent.settings import Settings
from mockagent.verdicts import credential, frame_ids, resume_point, retry_after

BEE = "/beeos/api/v1/agents"
OTHER = {"Authorization": "Bearer oag_" + "b" * 64}  # a second BeeOS client


@asynccontextmanager
async def pair(redis_server: RedisServer, name: str, *, manual: bool = True) -> AsyncIterator[list[str]]:
    """The base URLs of two processes of one server (on a manual clock, unless not `manual`)."""
    async with replicas(redis_server, name, 2, manual=manual) as started:
        yield [replica.base for replica in started]


async def task(http: aiohttp.ClientSession, base: str, headers: dict[str, str], fault: str | None = None) -> int:
    """A BeeOS task of `echo` created (answered at once: no clock need move); its status."""
    sent = {**headers, **({"X-Mockagent-Fault": fault} if fault else {})}
    status, _ = await call(http, "POST", f"{base}{BEE}/echo/tasks", sent, {"message": "deploy"})
    return status


async def kept(http: aiohttp.ClientSession, base: str, count: int) -> list[dict[str, Any]]:
    """The journal through `base` once it holds `count` entries: each process writes its own to Redis in the
    background, a moment after the answer, and verification reads what is there."""
    loop = asyncio.get_running_loop()
    deadline = loop.time() + SAFETY
    while True:
        async with http.get(f"{base}/__mockagent/journal") as response:
            entries: list[dict[str, Any]] = (await check_aiohttp(response))["entries"]  # `client` is documented
        if len(entries) >= count:
            return entries
        if loop.time() > deadline:
            raise AssertionError(f"{base}'s journal holds {len(entries)} entries, not {count}")
        await asyncio.sleep(0.02)


async def verify(http: aiohttp.ClientSession, base: str, pattern: dict[str, Any]) -> dict[str, Any]:
    async with http.post(f"{base}/__mockagent/verify", json=pattern) as response:
        assert response.status == 200, await response.text()
        answer: dict[str, Any] = await check_aiohttp(response)
        return answer


async def verdict(http: aiohttp.ClientSession, base: str, name: str, **options: str) -> dict[str, Any]:
    async with http.get(f"{base}/__mockagent/verdicts/{name}", params=options) as response:
        assert response.status == 200, await response.text()
        answer: dict[str, Any] = await check_aiohttp(response)
        return answer


def processes(ids: list[int]) -> set[int]:
    """Which processes made the entries of `ids` (process k's ids start at k * 10**12 + 1)."""
    return {entry_id // 10**12 for entry_id in ids}


# ── the round trip: what an entry keeps of itself in Redis ─────────────────────────────────────────


def test_an_entrys_verdict_fields_survive_the_trip_through_redis() -> None:
    clock, redactor = ManualClock(), make_redactor(Settings())
    journal = Journal(counter(2))
    token = BEEOS["Authorization"]
    headers = CIMultiDict({"Authorization": token, "last-event-id": "4", "Idempotency-Key": "k1"})
    stream = journal.add(
        Entry("ci", "GET", f"{BEE}/echo/tasks/t1/events", 1.5, platform="beeos", endpoint="stream_task_events",
              query={"since": "3"}, headers=headers)
    )  # fmt: skip
    stream.agent, stream.run, stream.run_status, stream.conversation = "echo", "t1", "running", "c1"
    stream.keep_request_body(b'{"message": "hi", "idempotency_key": "k1", "apiKey": "sk-live-0123456789abcdef"}')
    stream.started(2.0, 200, True)
    stream.frame(2.0, b"id: 5\nevent: message\ndata: {}\n\n")
    stream.frame(3.25, b"id: 6\nevent: end\ndata: {}\n\n")
    stream.keep_response(CIMultiDict({"Retry-After": "7", "Content-Type": "text/event-stream"}), None)
    stream.end(4.0, 200, closed=True)
    refused = journal.add(Entry("ci", "POST", "/beeos/api/v1/nobody", 5.0, platform="beeos", headers={}))
    refused.decided, refused.explanation = Decided.UNMATCHED, "no agent nobody"
    refused.keep_request_body(b"not json")
    refused.end(5.0, 404)

    for entry in (stream, refused):
        shown = loads(dumps(entry.as_kept(clock, redactor, "server")))  # as Redis holds it
        back = Entry.from_json(shown)
        for field in ("id", "session", "method", "path", "platform", "endpoint", "agent", "status", "state",
                      "run", "run_status", "conversation", "decided", "explanation", "unmatched", "done",
                      "received", "real_received", "first_byte", "real_first_byte", "ended", "real_ended",
                      "request_truncated", "response_truncated"):  # fmt: skip
            assert getattr(back, field) == getattr(entry, field), field
        assert back.as_json(clock, redactor) | {"client": shown["client"]} == shown  # nothing lost, nothing added
    assert shown["client"] is None  # `refused` carried no credential

    back = Entry.from_json(loads(dumps(stream.as_kept(clock, redactor, "server"))))
    sent = back.body_json()
    assert sent["message"] == "hi"
    assert sent["idempotency_key"] == "k1"
    assert sent["apiKey"].startswith("<<secret:")  # what Redis holds: the redacted body
    assert resume_point(back) == resume_point(stream) == "4"  # the header, read whatever its case
    assert back.request_headers is not None
    assert back.request_headers.get("Idempotency-Key") == "k1"
    assert retry_after(back) == retry_after(stream) == 7
    assert back.query == {"since": "3"}
    assert frame_ids(back) == frame_ids(stream) == ["5", "6"]
    assert [at for at, _ in back.frames or ()] == [2.0, 3.25]
    # The client: the credential itself inside the process, its digest keyed by the server's name through Redis.
    assert credential(stream) == token
    assert credential(back) == digest(token, "server") != digest(token, "another server")
    assert token not in dumps(stream.as_kept(clock, redactor, "server"))


# ── counting by pattern ──────────────────────────────────────────────────────────────────────────


async def test_verify_counts_what_every_process_served(
    redis_server: RedisServer, name: str, http: aiohttp.ClientSession
) -> None:
    async with pair(redis_server, name) as (one, two):
        for n, base in enumerate((one, two, one, two)):
            status, _ = await call(http, "POST", f"{base}{BEE}/echo/tasks", BEEOS, {"message": f"m{n}"})
            assert status == 202
        entries = await kept(http, one, 4)
        assert len(processes([entry["id"] for entry in entries])) == 2
        for base in (one, two):
            checked = await verify(http, base, {"method": "POST", "path": "/beeos/*/tasks", "n": 4})
            assert checked["passed"], checked["message"]
            assert checked["count"] == 4
            # A body pattern, matched on what the journal keeps.
            checked = await verify(http, base, {"path": "/beeos/*/tasks", "body": {"message": "m1"}, "n": 1})
            assert checked["passed"], checked["message"]
            assert (await verify(http, base, {"session": "default", "at_least": 4}))["passed"]
            assert (await verify(http, base, {"session": "other", "n": 0}))["passed"]
        failed = await verify(http, two, {"method": "POST", "path": "/beeos/*/tasks", "body": {"message": "m9"}})
        assert not failed["passed"]
        assert failed["count"] == 0
        lines = failed["message"].splitlines()
        assert lines[:2] == [
            'expected at least 1 request(s) matching POST /beeos/*/tasks body containing {"message":"m9"}, '
            "but 0 matched",
            "closest other requests:",
        ]
        # The three closest, latest first, whichever process served them, each with what differed.
        near = [entry["id"] for entry in failed["near"]]
        assert near == [entry["id"] for entry in reversed(entries[1:])]
        assert len(processes(near)) == 2
        for line, entry in zip(lines[2:], reversed(entries[1:]), strict=True):
            sent = entry["request"]["body"]["message"]
            assert line == f'  #{entry["id"]} POST {BEE}/echo/tasks → 202 — body.message is "{sent}", not "m9"'
        assert all("<<secret:" in entry["request"]["headers"]["Authorization"] for entry in failed["near"])


# ── verdicts whose evidence spans processes ──────────────────────────────────────────────────────


async def test_backed_off_follows_one_client_across_processes_by_its_digest(
    redis_server: RedisServer, name: str, http: aiohttp.ClientSession
) -> None:
    """A 429 answered through one process, another client's request at once through the other (not the
    same client: it has another credential), then the client's own retry through the other once the clock
    moved past Retry-After: it backed off. Then a 429 and a retry at once, each through another process: it
    did not."""
    async with pair(redis_server, name) as (one, two):
        assert await task(http, one, BEEOS, "429, retry-after=5") == 429
        await kept(http, two, 1)  # each request once the one before is kept: the journal's order is theirs
        assert await task(http, two, OTHER) == 202
        await kept(http, one, 2)
        await advance(http, two, 5)
        assert await task(http, two, BEEOS) == 202
        entries = await kept(http, one, 3)
        assert {entry["client"] for entry in entries[:2]} == {
            digest(BEEOS["Authorization"], name),
            digest(OTHER["Authorization"], name),
        }
        for base in (one, two):
            judged = await verdict(http, base, "backed_off", clock="session")
            assert judged["passed"], judged["message"]
            assert judged["evidence"] == [entries[0]["id"]]

        assert await task(http, two, BEEOS, "429, retry-after=5") == 429
        await kept(http, one, 4)
        assert await task(http, one, BEEOS) == 202
        entries = await kept(http, one, 5)
        judged = await verdict(http, one, "backed_off", clock="session")
        assert not judged["passed"]
        refused, retried = entries[3]["id"], entries[4]["id"]
        assert judged["evidence"] == [refused, retried]
        assert len(processes(judged["evidence"])) == 2
        assert judged["message"] == (
            f"the client did not back off: #{refused} POST {BEE}/echo/tasks → 429 said Retry-After: 5, but "
            f"#{retried} POST {BEE}/echo/tasks → 202 came 0.000 s later (session-clock seconds)"
        )


async def test_stopped_polling_sees_a_poll_through_another_process(
    redis_server: RedisServer, name: str, http: aiohttp.ClientSession
) -> None:
    """A task polled through one process until it shows completed, then once more through the process whose
    ids are the lower (each process has its own): that poll is still the one after."""
    async with pair(redis_server, name) as (one, two):
        status, created = await call(http, "POST", f"{one}{BEE}/echo/tasks", BEEOS, {"message": "deploy"})
        assert status == 202
        url = f"{BEE}/echo/tasks/{created['data']['task_id']}"
        await kept(http, one, 1)
        _, polled = await call(http, "GET", two + url, BEEOS)
        assert polled["data"]["status"] != "completed"
        first, second = await kept(http, one, 2)
        low, high = (one, two) if first["id"] < second["id"] else (two, one)
        polls = 1
        while polled["data"]["status"] != "completed":
            assert polls < 100, polled
            await advance(http, low, 1)
            _, polled = await call(http, "GET", high + url, BEEOS)
            polls += 1
        entries = await kept(http, one, 1 + polls)
        judged = await verdict(http, two, "stopped_polling")
        assert judged["passed"], judged["message"]

        assert (await call(http, "GET", low + url, BEEOS))[0] == 200
        entries = await kept(http, two, 2 + polls)
        final, again = entries[-2]["id"], entries[-1]["id"]
        assert again < final
        for base in (one, two):
            judged = await verdict(http, base, "stopped_polling")
            assert not judged["passed"]
            assert judged["evidence"] == [final, again]
            assert f"after #{final} GET {url} → 200 showed it completed: first #{again} GET" in judged["message"]


async def test_resumed_pauses_reads_the_runs_another_process_changed(
    redis_server: RedisServer, name: str, http: aiohttp.ClientSession
) -> None:
    """An AgentOS run that paused for approval through the first process is judged, through the second
    (which served none of it), from the runs as every process left them: unresumed, then approved."""
    async with pair(redis_server, name) as (one, two):
        invoked = asyncio.ensure_future(
            call(http, "POST", f"{one}/agentos/api/v1/agents/approval/invoke", AGENTOS, {"input": {"query": "mail"}})
        )
        await waiting(http, one)
        await advance(http, one, 1)  # the second process is told of the run, never asked to catch up with it
        status, answered = await asyncio.wait_for(invoked, SAFETY)
        assert status == 202, answered
        run_id = answered["data"]["run_id"]
        await kept(http, two, 1)
        judged = await verdict(http, two, "resumed_pauses")
        assert not judged["passed"]
        assert f"run {run_id} of agent approval paused for a human and was never resumed" in judged["message"]
        async with http.post(f"{one}/__mockagent/runs/{run_id}/approve") as approved:
            assert approved.status == 200
        judged = await verdict(http, two, "resumed_pauses", session="default")
        assert judged["passed"], judged["message"]


# ── secrets ──────────────────────────────────────────────────────────────────────────────────────


async def test_no_secret_reaches_redis_with_the_client_digest(
    redis_server: RedisServer, name: str, http: aiohttp.ClientSession
) -> None:
    """The journal kept in Redis carries each client's digest, never its credential nor a body's apiKey
    (Redis's every key and value read, the journal's sorted sets included); a body pattern on that secret
    field cannot match through Redis, one on a field beside it does."""
    secret = "sk-live-0123456789abcdefSECRET"
    llm = {"baseUrl": "https://api.openai.com/v1", "apiKey": secret, "modelName": "gpt-4o"}
    token = f"Bearer {JWT}"
    async with pair(redis_server, name, manual=False) as (one, two):
        body = {"message": "mail ops", "session_id": "s-secret-0001", "llm_config": llm}
        url = f"{one}/zeus/api/agent/invoke?agent=approval"
        async with http.post(url, json=body, headers={"Authorization": token}) as response:
            assert response.status == 200
            assert b"requires_approval" in await response.read()
        await kept(http, two, 1)
        assert await task(http, two, BEEOS) == 202
        entries = await kept(http, two, 2)
        assert [entry["client"] for entry in entries] == [digest(token, name), digest(BEEOS["Authorization"], name)]
        path = "/zeus/api/agent/invoke"
        assert (await verify(http, two, {"path": path, "body": {"llm_config": {"modelName": "gpt-4o"}}, "n": 1}))[
            "passed"
        ]
        assert (await verify(http, two, {"path": path, "body": {"llm_config": {"apiKey": secret}}, "n": 0}))["passed"]
    client = redis.Redis.from_url(redis_server.url)
    try:
        keys = [key async for key in client.scan_iter(match=f"mockagent:{name}:*")]
        assert any(key.endswith(b":journal") for key in keys)
        stored = b"".join(keys)
        for key in keys:
            kind = await client.type(key)
            if kind == b"string":
                stored += await client.get(key) or b""
            elif kind == b"hash":
                stored += b"".join(b"".join(pair) for pair in (await client.hgetall(key)).items())
            elif kind == b"zset":
                stored += b"".join(await client.zrange(key, 0, -1))
            elif kind == b"stream":
                stored += b"".join(str(item).encode() for item in await client.xrange(key))
        for text in (secret, JWT, BEEOS["Authorization"].split()[1]):
            assert text.encode() not in stored
        assert digest(BEEOS["Authorization"], name).encode() in stored
    finally:
        await client.aclose()
