"""State shared between processes through a real Redis (`serve --state redis://…`), beside the runs of
test_shared_runs.py: separate `mockagent serve` processes pointed at one Redis count one client's calls in one
bucket, meet the faults added through any of them, share a manual clock and the admin API's decisions,
refuse to start beside processes with another clock, keep no secret and no more runs or sessions than one
process would, read no snapshot that names what it may not, and answer the platform's 503 while Redis is away
— then recover."""

from __future__ import annotations

import asyncio
import signal
from pathlib import Path

import aiohttp
import redis.asyncio as redis
from credentials import AGENTOS, BEEOS, JWT
from redis_server import RedisServer, free_port
from serving import SAFETY, listening, mockagent, start, waiting

from mockagent.server import MockServer
from mockagent.settings import Settings

INVOKE = "/beeos/api/v1/agents/echo/invoke"


async def invoke(http: aiohttp.ClientSession, base: str) -> tuple[int, dict[str, object]]:
    async with http.post(base + INVOKE, json={"message": "hi"}, headers=BEEOS) as response:
        return response.status, await response.json()


async def test_a_rate_limit_is_one_bucket_across_processes(
    redis_server: RedisServer, name: str, http: aiohttp.ClientSession
) -> None:
    shared = ("serve", "--state", redis_server.url, "--name", name, "--rate-limit", "3/hour")
    async with mockagent(*shared) as one, mockagent(*shared) as two:
        statuses = [(await invoke(http, base))[0] for base in (one, two, one, two, one)]
        assert statuses == [200, 200, 200, 429, 429]  # three tokens in all, not three each
        # A reset of the session through either process gives the client a full bucket again, everywhere.
        async with http.delete(f"{two}/__mockagent/sessions/default") as reset:
            assert reset.status == 200
        assert [(await invoke(http, base))[0] for base in (one, two, one, two)] == [200, 200, 200, 429]


async def test_a_fault_added_through_one_process_is_met_through_another(
    redis_server: RedisServer, name: str, http: aiohttp.ClientSession
) -> None:
    shared = ("serve", "--state", redis_server.url, "--name", name)
    async with mockagent(*shared) as one, mockagent(*shared) as two:
        async with http.post(f"{one}/__mockagent/faults", json={"fault": "429, retry-after=7", "times": 2}) as added:
            assert added.status == 201
        async with http.get(f"{two}/__mockagent/faults") as listed:
            assert [rule["times"] for rule in (await listed.json())["added"]] == [2]
        status, body = await invoke(http, two)
        assert status == 429
        assert body["success"] is False  # BeeOS's own envelope
        assert (await invoke(http, one))[0] == 429
        assert (await invoke(http, two))[0] == 200  # used up: counted once across both
        async with http.get(f"{one}/__mockagent/faults") as listed:
            assert (await listed.json())["added"] == []
        async with http.put(f"{two}/__mockagent/faults/chaos", json={"chaos": 0.5}) as chaos:
            assert chaos.status == 200
        async with http.get(f"{one}/__mockagent/faults") as listed:
            assert (await listed.json())["chaos"] == 0.5
        async with http.delete(f"{one}/__mockagent/faults") as cleared:
            assert (await cleared.json())["chaos"] == 0.0


async def test_a_process_with_another_clock_is_refused(redis_server: RedisServer, name: str) -> None:
    async with mockagent("serve", "--state", redis_server.url, "--name", name, "--speed", "2"):
        refused = await start("serve", "--state", redis_server.url, "--name", name, "--port", "0")
        _, stderr = await asyncio.wait_for(refused.communicate(), SAFETY)
        assert refused.returncode == 1
        lines = stderr.decode().strip().splitlines()
        assert len(lines) == 1
        assert "run with --speed 2.0; this one would run with --speed 1" in lines[0]
    # Another name is another server: nothing to agree with.
    async with mockagent("serve", "--state", redis_server.url, "--name", name + "-other"):
        pass


async def test_an_unreachable_redis_is_one_line_and_an_exit_code() -> None:
    process = await start("serve", "--state", "redis://127.0.0.1:9/0", "--port", "0")
    stdout, stderr = await asyncio.wait_for(process.communicate(), SAFETY)
    assert process.returncode == 1
    assert stdout == b""
    lines = stderr.decode().strip().splitlines()
    assert len(lines) == 1
    assert lines[0].startswith("Error: cannot use Redis at redis://127.0.0.1:9/0: ")


async def test_workers_need_a_shared_state() -> None:
    process = await start("serve", "--workers", "2", "--port", "0")
    _, stderr = await asyncio.wait_for(process.communicate(), SAFETY)
    assert process.returncode == 2
    assert "--workers needs --state redis://" in stderr.decode()


async def test_redis_lost_while_serving_is_the_platforms_503_until_it_is_back(
    tmp_path: Path, name: str, http: aiohttp.ClientSession
) -> None:
    redis = RedisServer(tmp_path / "redis").start()
    again = RedisServer(redis.folder, redis.port)  # the same Redis, started again on its port
    try:
        async with mockagent("serve", "--state", redis.url, "--name", name) as base:
            assert (await invoke(http, base))[0] == 200
            redis.stop()
            status, body = await invoke(http, base)
            assert status == 503
            assert body["success"] is False
            assert "mockagent's state store (Redis at" in str(body["error"])
            async with http.get(f"{base}/__mockagent/health") as health:
                assert health.status == 200  # the process keeps serving
            again.start()
            assert (await invoke(http, base))[0] == 200
    finally:
        redis.stop()
        again.stop()


async def test_workers_share_one_port_and_stop_together(
    redis_server: RedisServer, name: str, http: aiohttp.ClientSession
) -> None:
    port = str(free_port())
    process = await start(
        "serve", "--state", redis_server.url, "--name", name, "--workers", "2", "--rate-limit", "4/hour",
        "--port", port,
    )  # fmt: skip
    assert process.stdout is not None
    try:
        banner = (await asyncio.wait_for(process.stdout.readline(), SAFETY)).decode()
        assert f"listening on http://127.0.0.1:{port}" in banner  # one banner, from the first worker
        base = f"http://127.0.0.1:{port}"
        # Fresh connections, which the kernel spreads over the workers listening: one bucket whichever.
        statuses = []
        for _ in range(6):
            async with aiohttp.ClientSession() as fresh:
                statuses.append((await invoke(fresh, base))[0])
        assert statuses == [200, 200, 200, 200, 429, 429]
    finally:
        process.send_signal(signal.SIGTERM)
        assert await asyncio.wait_for(process.wait(), SAFETY) == 0


async def test_a_process_stops_on_sigterm_while_it_writes_to_redis(
    redis_server: RedisServer, name: str, http: aiohttp.ClientSession
) -> None:
    """SIGTERM while requests are being answered, their entries and events on their way to Redis: each time,
    the process stops (a cancelled call that redis-py reports as a lost connection does not keep a loop of
    the process waiting), and what it answered is in the journal in Redis (sent before it let go of Redis)."""
    answered = 0
    for _ in range(8):
        process = await start("serve", "--state", redis_server.url, "--name", name, "--port", "0")
        base = await listening(process)
        load = [asyncio.ensure_future(invoke(http, base)) for _ in range(40)]
        await asyncio.wait(load, return_when=asyncio.FIRST_COMPLETED)
        process.send_signal(signal.SIGTERM)
        assert await asyncio.wait_for(process.wait(), SAFETY) == 0
        outcomes = await asyncio.gather(*load, return_exceptions=True)
        answered += sum(1 for outcome in outcomes if isinstance(outcome, tuple) and outcome[0] == 200)
    client = redis.Redis.from_url(redis_server.url)
    try:
        assert await client.zcard(f"mockagent:{name}:s:default:journal") >= answered > 0
    finally:
        await client.aclose()


async def test_a_manual_clock_advanced_through_one_process_moves_every_process(
    redis_server: RedisServer, name: str, http: aiohttp.ClientSession
) -> None:
    shared = ("serve", "--state", redis_server.url, "--name", name, "--manual-clock")
    async with mockagent(*shared) as one, mockagent(*shared) as two:
        # A blocking call to the `slow` agent (3 s of clock time) waits on the second process's clock …
        url = two + "/beeos/api/v1/agents/slow/invoke"
        blocked = asyncio.ensure_future(http.post(url, json={"message": "hi"}, headers=BEEOS))
        await waiting(http, two)
        # … and the first process moves it: the second hears of it from Redis and answers.
        async with http.post(f"{one}/__mockagent/clock/advance", json={"seconds": 5}) as advanced:
            assert advanced.status == 200
            assert (await advanced.json())["now"] == 5
        response = await asyncio.wait_for(blocked, SAFETY)
        assert response.status == 200
        assert (await response.json())["data"]["text"] == "Done after a while."
        async with http.get(f"{two}/__mockagent/clock") as clock, http.get(f"{one}/__mockagent/clock") as other:
            theirs, ours = await clock.json(), await other.json()
        assert theirs["now"] == ours["now"] == 5
        assert theirs["wall"] == ours["wall"]  # one start for the session, whichever process tells
        # A process that never served the session reads the same time on its first request.
        async with mockagent(*shared) as three, http.get(f"{three}/__mockagent/clock") as clock:
            assert (await clock.json())["now"] == 5
        # Resetting the session through one process resets its clock for all.
        async with http.delete(f"{one}/__mockagent/sessions/default") as reset:
            assert reset.status == 200
        async with http.get(f"{two}/__mockagent/clock") as clock:
            assert (await clock.json())["now"] == 0


async def test_no_secret_reaches_redis(redis_server: RedisServer, name: str, http: aiohttp.ClientSession) -> None:
    """Neither a key nor a value in Redis holds a Zeus body's apiKey, the caller's token or a BeeOS key (the
    rate limit's buckets are named by digest), while the runs they started are there."""
    secret = "sk-live-0123456789abcdefSECRET"
    llm = {"baseUrl": "https://api.openai.com/v1", "apiKey": secret, "modelName": "gpt-4o"}
    async with mockagent("serve", "--state", redis_server.url, "--name", name, "--rate-limit", "100/hour") as base:
        url = f"{base}/zeus/api/agent/invoke?agent=approval"
        body = {"message": "mail ops", "session_id": "s-secret-0001", "llm_config": llm}
        async with http.post(url, json=body, headers={"Authorization": f"Bearer {JWT}"}) as response:
            assert response.status == 200
            assert b"requires_approval" in await response.read()  # paused, its rest kept with the run
        assert (await invoke(http, base))[0] == 200
    client = redis.Redis.from_url(redis_server.url)
    try:
        keys = [key async for key in client.scan_iter(match=f"mockagent:{name}:*")]
        assert any(b":o:run:" in key for key in keys)
        stored = b"".join(keys)
        for key in keys:
            if await client.type(key) == b"string":
                stored += await client.get(key) or b""
            elif await client.type(key) == b"hash":
                stored += b"".join(b"".join(pair) for pair in (await client.hgetall(key)).items())
        for text in (secret, JWT, BEEOS["Authorization"].split()[1]):
            assert text.encode() not in stored
        assert b"mail ops" in stored  # the run is there, with its message
    finally:
        await client.aclose()


async def test_an_admin_decision_is_shared_and_made_once(
    redis_server: RedisServer, name: str, http: aiohttp.ClientSession
) -> None:
    """Approving a paused AgentOS run through one process's admin API decides it for every process; the same
    decision through another is refused, as in one process."""
    shared = ("serve", "--state", redis_server.url, "--name", name, "--manual-clock")
    async with mockagent(*shared) as one, mockagent(*shared) as two:
        url = f"{one}/agentos/api/v1/agents/approval/invoke"
        invoked = asyncio.ensure_future(http.post(url, json={"input": {"query": "mail ops"}}, headers=AGENTOS))
        await waiting(http, one)
        async with http.post(f"{one}/__mockagent/clock/advance", json={"seconds": 1}) as advanced:
            assert advanced.status == 200
        response = await asyncio.wait_for(invoked, SAFETY)
        assert response.status == 202
        run_id = (await response.json())["data"]["run_id"]
        async with http.get(f"{two}/__mockagent/runs/{run_id}") as seen:
            assert (await seen.json())["status"] == "paused"
        async with http.post(f"{one}/__mockagent/runs/{run_id}/approve") as approved:
            assert approved.status == 200
        async with http.get(f"{two}/__mockagent/runs/{run_id}") as seen:
            assert (await seen.json())["status"] != "paused"
        async with http.post(f"{two}/__mockagent/runs/{run_id}/approve") as again:
            assert again.status == 409
            assert "not paused" in (await again.json())["error"]


async def test_a_session_name_is_no_prefix_of_another(
    redis_server: RedisServer, name: str, http: aiohttp.ClientSession
) -> None:
    """Resetting session `ci` leaves session `ci:job1` (its name starts with it) as it was."""
    async with mockagent("serve", "--state", redis_server.url, "--name", name, "--rate-limit", "1/hour") as base:
        for session in ("ci", "ci:job1"):
            headers = {**BEEOS, "X-Mockagent-Session": session}
            for expected in (200, 429):
                async with http.post(base + INVOKE, json={"message": "hi"}, headers=headers) as response:
                    assert response.status == expected
        async with http.delete(f"{base}/__mockagent/sessions/ci") as reset:
            assert reset.status == 200
        statuses = []
        for session in ("ci", "ci:job1"):
            headers = {**BEEOS, "X-Mockagent-Session": session}
            async with http.post(base + INVOKE, json={"message": "hi"}, headers=headers) as response:
                statuses.append(response.status)
        assert statuses == [200, 429]  # ci starts afresh; ci:job1's bucket is still empty


async def test_a_snapshot_naming_what_it_may_not_is_refused(
    redis_server: RedisServer, name: str, http: aiohttp.ClientSession, tmp_path: Path
) -> None:
    """Redis is a store other programs may write to: a snapshot that would call a function (here, through a
    module mockagent imports) is not read — nothing runs, the session's other state serves on."""
    proof = tmp_path / "ran"
    # REDUCE of mockagent.workers.subprocess.getoutput("touch …"), written as pickle opcodes.
    command = f"touch {proof}".encode()
    evil = b"cmockagent.workers\nsubprocess\n" + b"p0\n0cbuiltins\ngetattr\n(g0\nVgetoutput\ntR(V" + command + b"\ntR."
    dotted = b"\x80\x04\x95" + b"\x00" * 8 + b"\x8c\x11mockagent.workers\x8c\x14subprocess.getoutput\x93."
    async with mockagent("serve", "--state", redis_server.url, "--name", name) as base:
        assert (await invoke(http, base))[0] == 200
        client = redis.Redis.from_url(redis_server.url)
        try:
            prefix = f"mockagent:{name}:s:default:o:"
            await client.set(prefix + "records:mockagent.platforms.beeos.records.BeeOSRecords", evil)
            await client.set(prefix + "run:evil", dotted)
            await client.xadd(f"mockagent:{name}:s:default:log", {"n": 2, "keys": f'["{prefix}run:evil"]', "p": "x"})
        finally:
            await client.aclose()
        async with mockagent("serve", "--state", redis_server.url, "--name", name) as fresh:  # reads every key
            assert (await invoke(http, fresh))[0] == 200
        assert (await invoke(http, base))[0] == 200
    assert not proof.exists()


async def test_redis_keeps_as_many_runs_as_one_process_does(redis_server: RedisServer, name: str) -> None:
    """A session keeps its latest `store_limit` runs and conversations in Redis too: the oldest are deleted as
    new ones are written (and each key expires a day after its last write)."""
    settings = Settings(state=redis_server.url, name=name, store_limit=3)
    async with MockServer(settings) as server, aiohttp.ClientSession() as http:
        for n in range(7):
            assert (await invoke(http, server.url))[0] == 200, n
    client = redis.Redis.from_url(redis_server.url)
    try:
        runs = [key async for key in client.scan_iter(match=f"mockagent:{name}:s:default:o:run:*")]
        conversations = [key async for key in client.scan_iter(match=f"mockagent:{name}:s:default:o:conversation:*")]
        assert (len(runs), len(conversations)) == (3, 3)
        assert 0 < await client.ttl(runs[0]) <= 24 * 3600
    finally:
        await client.aclose()


async def test_redis_keeps_as_many_sessions_as_one_process_does(redis_server: RedisServer, name: str) -> None:
    """The server keeps its `max_sessions` sessions used last, whichever process used them: past it, the one
    used least recently (never the default) is forgotten by every process — its keys deleted, its copies
    dropped — as one process forgets its own."""
    settings = Settings(state=redis_server.url, name=name, max_sessions=3)
    client = redis.Redis.from_url(redis_server.url)
    async with MockServer(settings) as one, MockServer(settings) as two, aiohttp.ClientSession() as http:
        for n, server in enumerate((one, two, one, two), start=1):
            headers = {**BEEOS, "X-Mockagent-Session": f"s{n}"}
            async with http.post(server.url + INVOKE, json={"message": "hi"}, headers=headers) as response:
                assert response.status == 200
        deadline = asyncio.get_running_loop().time() + SAFETY
        while [key async for key in client.scan_iter(match=f"mockagent:{name}:s:s1:*")]:
            assert asyncio.get_running_loop().time() < deadline, "the least recently used session was kept"
            await asyncio.sleep(0.01)
        for n in (2, 3, 4):
            assert [key async for key in client.scan_iter(match=f"mockagent:{name}:s:s{n}:o:run:*")], n
        for server in (one, two):
            async with http.get(server.url + "/__mockagent/sessions") as listed:
                names = {session["name"] for session in await listed.json()}
            assert "s1" not in names
    await client.aclose()
