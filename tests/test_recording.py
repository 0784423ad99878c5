"""Record once, replay anywhere: a recorder in front of a second mockagent acting as the real API, on all
five platforms — blocking replies, every stream dialect, human-in-the-loop pauses and their resumes, async
polls, a 429 and a 504 — then a server replaying the cassettes gives a client the same status, headers
that matter, body bytes and frame order.

The upstream runs on a manual clock, so the recording is deterministic: a step that waits on the upstream
moves its clock once the request waits. The replay answers streams at once (`replay_asap`); the timing of
a replayed stream is tested on its own, on the replay server's manual clock.
"""

from __future__ import annotations

import asyncio
import json
from collections.abc import AsyncIterator, Awaitable, Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import aiohttp
import httpx
import pytest
from credentials import JWT

from mockagent.model import PlatformKey
from mockagent.replay.cassette import Cassette, CassetteError
from mockagent.replay.modes import RecordMode, Repeat
from mockagent.server import MockServer
from mockagent.settings import Settings

AUTH = {
    "beeos": {"Authorization": "Bearer oag_" + "0123456789abcdef" * 4},
    "agentos": {"Authorization": "Bearer aos_ws_team"},
    "xpander": {"x-api-key": "xp-key"},
    "zeus": {"Authorization": f"Bearer {JWT}"},
    "aster": {"Authorization": f"Bearer {JWT}"},
}
LLM = {"baseUrl": "http://llm.invalid", "apiKey": "sk-test-1234567890", "modelName": "m"}
USER = {"id": "u1", "email": "u1@example.com"}
# What a client relies on beside the body; the rest (Date, Server …) is the server's own business.
HEADERS_THAT_MATTER = ("content-type", "retry-after", "x-thread-id", "x-vercel-ai-ui-message-stream", "etag")
SAFETY = 30.0


@dataclass
class Answer:
    status: int
    headers: dict[str, str]
    body: bytes

    def json(self) -> Any:
        return json.loads(self.body)


@dataclass
class Client:
    """Sends the steps of a conversation, to the recorder (moving the upstream's clock when a request
    waits on it) or to the replaying server (which waits on nothing)."""

    http: aiohttp.ClientSession
    server: MockServer
    upstream: MockServer | None  # None: replaying
    answers: list[Answer] = field(default_factory=list)

    async def call(
        self,
        method: str,
        platform: str,
        path: str,
        *,
        json_body: Any = None,
        headers: dict[str, str] | None = None,
        advance: float = 0.0,
    ) -> Answer:
        url = self.server.base_url(platform) + path
        sent = asyncio.ensure_future(self._send(method, url, json_body, {**AUTH[platform], **(headers or {})}))
        if advance and self.upstream is not None:
            await asyncio.wait_for(self.upstream.until_waiting(1), SAFETY)
            await self.upstream.advance(advance)
        answer = await asyncio.wait_for(sent, SAFETY)
        self.answers.append(answer)
        return answer

    async def tick(self, seconds: float) -> None:
        """Clock time passes on the upstream (between polls, say); nothing to do on a replay."""
        if self.upstream is not None:
            await self.upstream.advance(seconds)

    async def _send(self, method: str, url: str, body: Any, headers: dict[str, str]) -> Answer:
        async with self.http.request(method, url, json=body, headers=headers) as response:
            data = await response.read()
            kept = {name: response.headers[name] for name in HEADERS_THAT_MATTER if name in response.headers}
            return Answer(response.status, kept, data)


Steps = Callable[[Client], Awaitable[None]]


async def beeos_steps(c: Client) -> None:
    await c.call("POST", "beeos", "/api/v1/agents/echo/invoke", json_body={"message": "hi"}, advance=1)
    stream = {"Accept": "text/event-stream"}
    await c.call("POST", "beeos", "/api/v1/agents/tools/invoke", json_body={"message": "w"}, headers=stream, advance=1)
    task = (await c.call("POST", "beeos", "/api/v1/agents/question/tasks", json_body={"message": "deploy"})).json()
    path = f"/api/v1/agents/question/tasks/{task['data']['task_id']}"
    await c.tick(1)
    assert (await c.call("GET", "beeos", path)).json()["data"]["status"] == "input_required"
    await c.call("POST", "beeos", f"{path}/continue", json_body={"input": "staging"})
    await c.tick(1)
    assert (await c.call("GET", "beeos", path)).json()["data"]["status"] == "completed"
    await c.call("GET", "beeos", f"{path}/events")
    assert (await c.call("POST", "beeos", "/api/v1/agents/flaky/invoke", json_body={"message": "x"})).status == 429
    await c.call("POST", "beeos", "/api/v1/agents/flaky/invoke", json_body={"message": "x"})
    late = {"message": "x", "timeout_ms": 1000}
    assert (await c.call("POST", "beeos", "/api/v1/agents/slow/invoke", json_body=late, advance=1)).status == 504


async def agentos_steps(c: Client) -> None:
    await c.call("POST", "agentos", "/api/v1/agents/echo/invoke", json_body={"input": {"query": "hi"}}, advance=1)
    streamed = {"input": {"query": "w"}, "stream": True}
    await c.call("POST", "agentos", "/api/v1/agents/tools/invoke", json_body=streamed, advance=1)
    paused = await c.call("POST", "agentos", "/api/v1/agents/approval/invoke", json_body={}, advance=1)
    run_id, approval = paused.json()["data"]["run_id"], paused.json()["data"]["awaiting_approval"]["approval_id"]
    await c.call("POST", "agentos", f"/api/v1/approvals/{approval}/decide", json_body={"decision": "approve"})
    await c.tick(1)
    assert (await c.call("GET", "agentos", f"/api/v1/runs/{run_id}")).json()["data"]["status"] == "completed"
    asked = await c.call("POST", "agentos", "/api/v1/agents/question/invoke", json_body={}, advance=1)
    question = asked.json()["data"]
    answer = {"request_id": question["awaiting_input"]["request_id"], "response": "prod"}
    replied = await c.call("POST", "agentos", f"/api/v1/runs/{question['run_id']}/reply", json_body=answer, advance=1)
    assert replied.json()["data"]["output"] == {"text": "Deploying to prod."}


async def xpander_steps(c: Client) -> None:
    ask = {"input": {"text": "hi", "user": USER}}
    await c.call("POST", "xpander", "/v1/agents/echo/invoke", json_body=ask, advance=1)
    await c.call("POST", "xpander", "/v1/agents/tools/invoke/stream", json_body=ask, advance=1)
    task = (await c.call("POST", "xpander", "/v1/agents/question/invoke/async", json_body=ask)).json()
    await c.tick(1)
    assert (await c.call("GET", "xpander", f"/v1/tasks/{task['id']}")).json()["status"] == "paused"
    hitl = {"decision": "approve", "comment": "staging"}
    await c.call("POST", "xpander", f"/v1/tasks/{task['id']}/hitl", json_body=hitl)
    await c.tick(1)
    assert (await c.call("GET", "xpander", f"/v1/tasks/{task['id']}")).json()["status"] == "completed"


async def zeus_steps(c: Client, session_id: str) -> None:
    body = {"message": "mail", "session_id": session_id, "llm_config": LLM}
    interrupted = await c.call("POST", "zeus", "/api/agent/invoke?agent=approval", json_body=body, advance=1)
    frames = [json.loads(line[6:]) for line in interrupted.body.decode().split("\n") if line.startswith("data: ")]
    call = frames[-1]["tool_calls"][0]
    decision = {"tool_call_id": call["tool_call_id"], "tool_name": call["tool_name"], "decision": "approved"}
    resume = {"session_id": session_id, "llm_config": LLM, "tool_call_results": [decision]}
    await c.call("POST", "zeus", "/api/agent/resume", json_body=resume, advance=1)


async def aster_steps(c: Client) -> None:
    message = {"role": "user", "parts": [{"type": "text", "text": "weather?"}]}
    await c.call("POST", "aster", "/chat", json_body={"agentId": 2, "message": message}, advance=1)
    background = {"X-Stream-Response": "false"}
    started = await c.call("POST", "aster", "/chat", json_body={"agentId": 1, "message": message}, headers=background)
    await c.tick(1)
    await c.call("GET", "aster", f"/getConversation?threadId={started.json()['threadId']}")


STEPS: dict[str, Steps] = {
    "beeos": beeos_steps,
    "agentos": agentos_steps,
    "xpander": xpander_steps,
    "zeus": lambda c: zeus_steps(c, "s-recorded-0001"),
    "aster": aster_steps,
}


@pytest.fixture
async def upstream() -> AsyncIterator[MockServer]:
    """The "real API": a second mockagent with the demo agents, on a manual clock."""
    async with MockServer(Settings(manual_clock=True)) as server:
        yield server


def recorder_settings(folder: Path, upstream: MockServer, mode: RecordMode = RecordMode.ALL) -> Settings:
    urls = tuple((key, upstream.base_url(key)) for key in PlatformKey)
    return Settings(cassettes=folder, record_mode=mode, upstreams=urls)


async def record(folder: Path, upstream: MockServer, steps: Steps) -> list[Answer]:
    async with MockServer(recorder_settings(folder, upstream)) as recorder, aiohttp.ClientSession() as http:
        client = Client(http, recorder, upstream)
        await steps(client)
    return client.answers


async def replay(folder: Path, steps: Steps, **settings: Any) -> list[Answer]:
    settings = Settings(cassettes=folder, replay_asap=True, **settings)
    async with MockServer(settings) as server, aiohttp.ClientSession() as http:
        client = Client(http, server, None)
        await steps(client)
    return client.answers


@pytest.mark.parametrize("platform", list(STEPS))
async def test_a_replay_answers_as_the_recording_did(tmp_path: Path, upstream: MockServer, platform: str) -> None:
    live = await record(tmp_path, upstream, STEPS[platform])
    assert len(live) >= 2
    replayed = await replay(tmp_path, STEPS[platform])
    assert [a.status for a in replayed] == [a.status for a in live]
    for recorded, again in zip(live, replayed, strict=True):
        assert again.headers == recorded.headers
        assert again.body == recorded.body  # byte for byte: every frame, in order
    assert (tmp_path / f"{platform}.yaml").exists()


async def test_a_client_chosen_session_id_is_threaded_through(tmp_path: Path, upstream: MockServer) -> None:
    await record(tmp_path, upstream, lambda c: zeus_steps(c, "s-recorded-0001"))
    replayed = await replay(tmp_path, lambda c: zeus_steps(c, "s-mine-000000002"))
    bodies = b"".join(answer.body for answer in replayed)
    assert b"s-mine-000000002" in bodies  # the replayed frames carry the client's own session id
    assert b"s-recorded-0001" not in bodies
    assert [a.status for a in replayed] == [200, 200]


async def test_a_miss_is_the_platforms_404_naming_the_nearest_recordings(tmp_path: Path, upstream: MockServer) -> None:
    await record(tmp_path, upstream, beeos_steps)
    async with MockServer(Settings(cassettes=tmp_path)) as server, aiohttp.ClientSession() as http:
        url = server.base_url("beeos") + "/api/v1/agents/echo/invoke"
        async with http.post(url, json={"message": "bye"}, headers=AUTH["beeos"]) as response:
            error = (await response.json())["error"]
            status = response.status
        async with http.get(server.url + "/__mockagent/journal") as response:
            journal = (await response.json())["entries"][-1]
    assert (status, error["type"]) == (404, "not_found_error")
    assert (
        "no recorded interaction in cassette 'beeos.yaml' matches POST /api/v1/agents/echo/invoke" in error["message"]
    )
    assert '$.message: recorded "hi", got "bye"' in error["message"]
    assert journal["explanation"] == error["message"]  # the same explanation goes to the journal


async def test_repeated_requests_replay_in_order_then_repeat_the_last(tmp_path: Path, upstream: MockServer) -> None:
    async def twice(c: Client) -> None:
        for _ in range(2):
            await c.call("POST", "beeos", "/api/v1/agents/flaky/invoke", json_body={"message": "x"})

    await record(tmp_path, upstream, twice)
    assert [a.status for a in await replay(tmp_path, twice)] == [429, 200]

    async def thrice(c: Client) -> None:
        await twice(c)
        await c.call("POST", "beeos", "/api/v1/agents/flaky/invoke", json_body={"message": "x"})

    assert [a.status for a in await replay(tmp_path, thrice)] == [429, 200, 200]
    assert [a.status for a in await replay(tmp_path, thrice, repeat=Repeat.ERROR)] == [429, 200, 404]


async def test_stock_vcrpy_loads_a_mockagent_cassette(tmp_path: Path, upstream: MockServer) -> None:
    import vcr

    live = await record(tmp_path, upstream, beeos_steps)
    cassette = vcr.cassette.Cassette.load(path=str(tmp_path / "beeos.yaml"))
    assert len(cassette) == len(live)
    request, response = cassette.data[0]
    assert (request.method, response["status"]["code"]) == ("POST", 200)
    assert response["body"]["string"] == live[0].body
    assert response["x_mockagent"]["platform"] == "beeos"  # our extension key survives stock loading
    # …and vcrpy's own stubs play it: a plain httpx client, patched by vcrpy, gets the recorded bytes.
    uri = request.uri
    await upstream.stop()  # nothing answers there any more: what comes back is the cassette's
    with vcr.use_cassette(str(tmp_path / "beeos.yaml"), record_mode="none"):
        async with httpx.AsyncClient() as client:
            again = await client.post(uri, content=request.body, headers={"Content-Type": "application/json"})
    assert (again.status_code, again.content) == (200, live[0].body)


async def test_a_recorded_stream_keeps_its_chunks_and_replays_them_at_their_moments(
    tmp_path: Path, upstream: MockServer
) -> None:
    streamed = {"Accept": "text/event-stream"}

    async def one_stream(c: Client) -> None:
        await c.call(
            "POST", "beeos", "/api/v1/agents/echo/invoke", json_body={"message": "a b c"}, headers=streamed, advance=1
        )

    (live,) = await record(tmp_path, upstream, one_stream)
    (interaction,) = Cassette.load(tmp_path / "beeos.yaml").interactions
    assert interaction.response.body == live.body
    assert sum(chunk.n for chunk in interaction.response.chunks) == len(live.body)
    assert interaction.response.chunks == tuple(sorted(interaction.response.chunks, key=lambda c: c.t))
    # Replayed on a manual clock: nothing arrives before the recorded moment of the first chunk.
    async with MockServer(Settings(cassettes=tmp_path, manual_clock=True)) as server, aiohttp.ClientSession() as http:
        url = server.base_url("beeos") + "/api/v1/agents/echo/invoke"
        pending = asyncio.ensure_future(
            http.post(url, json={"message": "a b c"}, headers={**AUTH["beeos"], **streamed})
        )
        await asyncio.wait_for(server.until_waiting(1), SAFETY)
        assert not pending.done()
        await server.advance(interaction.response.chunks[-1].t + 1)
        response = await asyncio.wait_for(pending, SAFETY)
        assert await response.read() == live.body


async def test_record_modes(tmp_path: Path, upstream: MockServer) -> None:
    async def hello(c: Client) -> None:
        await c.call("POST", "beeos", "/api/v1/agents/echo/invoke", json_body={"message": "hi"}, advance=1)

    async def other(c: Client) -> None:
        await c.call("POST", "beeos", "/api/v1/agents/echo/invoke", json_body={"message": "other"}, advance=1)

    async def run(mode: RecordMode, steps: Steps) -> list[Answer]:
        async with MockServer(recorder_settings(tmp_path, upstream, mode)) as server, aiohttp.ClientSession() as http:
            client = Client(http, server, None if mode is RecordMode.NONE else upstream)
            await steps(client)
        return client.answers

    def count() -> int:
        return len(Cassette.load(tmp_path / "beeos.yaml").interactions)

    async def other_unrecorded(c: Client) -> None:
        await c.call("POST", "beeos", "/api/v1/agents/echo/invoke", json_body={"message": "other"})

    await run(RecordMode.ONCE, hello)  # no cassette yet: recorded
    assert count() == 1
    assert [a.status for a in await run(RecordMode.ONCE, other_unrecorded)] == [404]  # it exists: replay only
    await run(RecordMode.NEW_EPISODES, other)  # the new request is recorded, the old one kept
    assert count() == 2
    assert [a.status for a in await run(RecordMode.NONE, hello)] == [200]
    await run(RecordMode.ALL, hello)  # started afresh
    assert count() == 1


async def test_the_cassette_is_the_session_when_one_is_named(tmp_path: Path, upstream: MockServer) -> None:
    async def named(c: Client) -> None:
        await c.call(
            "POST",
            "beeos",
            "/api/v1/agents/echo/invoke",
            json_body={"message": "hi"},
            headers={"X-Mockagent-Session": "tests/test_x.py::test_one"},
            advance=1,
        )

    await record(tmp_path, upstream, named)
    (written,) = [p.name for p in tmp_path.iterdir() if p.suffix == ".yaml"]
    assert written.startswith("tests_test_x.py_test_one-")  # file-system safe, and told apart by a hash
    assert [a.status for a in await replay(tmp_path, named)] == [200]


async def test_a_killed_recorder_leaves_a_valid_cassette_with_what_completed(
    tmp_path: Path, upstream: MockServer
) -> None:
    """`mockagent record` as a user runs it, killed (SIGKILL) with a stream still open: every interaction that
    had completed is in the file, which loads."""
    import signal
    import socket
    import subprocess
    import sys

    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    command = [
        sys.executable, "-c", "from mockagent._entry import main; main()", "record", "--port", str(port),
        "--cassettes", str(tmp_path), "--upstream", f"beeos={upstream.base_url('beeos')}",
    ]  # fmt: skip
    recorder = subprocess.Popen(command, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    try:
        assert recorder.stdout is not None
        banner = await asyncio.wait_for(asyncio.to_thread(recorder.stdout.readline), SAFETY)
        assert "listening on" in banner
        base = f"http://127.0.0.1:{port}/beeos/api/v1/agents"
        async with aiohttp.ClientSession(headers=AUTH["beeos"]) as http:
            for n in range(3):
                sent = asyncio.ensure_future(http.post(f"{base}/echo/invoke", json={"message": f"m{n}"}))
                await asyncio.wait_for(upstream.until_waiting(1), SAFETY)
                await upstream.advance(1)
                assert (await sent).status == 200
            # Each interaction is written as it completes, by the recorder's own process: watched for here,
            # within a bound that is no measurement.
            loop = asyncio.get_running_loop()
            deadline = loop.time() + SAFETY
            while not _holds(tmp_path / "beeos.yaml", 3) and loop.time() < deadline:
                await asyncio.sleep(0.02)
            streaming = await http.post(
                f"{base}/slow/invoke", json={"message": "x"}, headers={"Accept": "text/event-stream"}
            )
            await asyncio.wait_for(upstream.until_waiting(1), SAFETY)
            recorder.send_signal(signal.SIGKILL)
            recorder.wait(timeout=SAFETY)
            streaming.close()
    finally:
        if recorder.poll() is None:
            recorder.kill()
            recorder.wait()
        for pipe in (recorder.stdout, recorder.stderr):
            if pipe is not None:
                pipe.close()
    cassette = Cassette.load(tmp_path / "beeos.yaml")
    assert [json.loads(i.body or b"{}")["message"] for i in cassette.interactions] == ["m0", "m1", "m2"]
    assert [p.name for p in tmp_path.iterdir()] == ["beeos.yaml"]  # no temporary file left behind


def _holds(path: Path, count: int) -> bool:
    return path.exists() and len(Cassette.load(path).interactions) == count


async def test_a_broken_cassette_is_named_at_its_place_and_the_rest_is_served(
    tmp_path: Path, upstream: MockServer
) -> None:
    await record(tmp_path, upstream, beeos_steps)
    broken = tmp_path / "agentos.yaml"
    broken.write_text("interactions:\n- request: {method: POST}\n  response: {status: {code: 200}}\nversion: 1\n")
    async with MockServer(Settings(cassettes=tmp_path, replay_asap=True)) as server, aiohttp.ClientSession() as http:
        url = server.base_url("agentos") + "/api/v1/agents/echo/invoke"
        async with http.post(url, json={"input": {"query": "hi"}}, headers=AUTH["agentos"]) as response:
            error = await response.json()
            assert response.status == 500
        url = server.base_url("beeos") + "/api/v1/agents/echo/invoke"
        async with http.post(url, json={"message": "hi"}, headers=AUTH["beeos"]) as response:
            assert response.status == 200  # the other cassette is served as before
    assert error["error"]["message"].startswith(f"{broken}:2:12: a request needs 'uri'")


def test_serve_refuses_a_broken_cassette_before_listening(tmp_path: Path) -> None:
    from click.testing import CliRunner

    from mockagent.cli import main

    (tmp_path / "beeos.yaml").write_text("interactions: [1]\nversion: 1\n")
    result = CliRunner().invoke(main, ["serve", "--cassettes", str(tmp_path), "--port", "0"])
    assert result.exit_code == 1
    assert f"{tmp_path / 'beeos.yaml'}:1:16: an interaction must be a mapping" in result.output


async def test_no_secret_reaches_the_cassette_and_the_replay_still_matches(
    tmp_path: Path, upstream: MockServer
) -> None:
    """Secrets in both directions — headers, JSON bodies (Zeus llm_config.apiKey, tools[].api_key), and the
    frames of a stream that echoes one — are placeholders on disk; the audit finds nothing; and a client
    sending the same secrets again is matched and replayed."""
    from mockagent.replay.audit import audit

    secret_key = "sk-ant-api03-" + "Zx9" * 12
    tool_key = "tvly-" + "A1b2C3d4" * 4

    async def steps(c: Client) -> None:
        body = {
            "message": f"my key is {secret_key}",
            "llm_config": {**LLM, "apiKey": "sk-proj-" + "q" * 40},
            "tools": [{"type": "mcp", "name": "search", "api_key": tool_key}],
        }
        await c.call("POST", "zeus", "/api/agent/invoke?agent=echo", json_body=body, advance=1)

    (live,) = await record(tmp_path, upstream, steps)
    assert secret_key.encode() in live.body  # the live client got the echo, secret and all
    written = (tmp_path / "zeus.yaml").read_text()
    for secret in (secret_key, tool_key, "sk-proj-", JWT):
        assert secret not in written
    assert "<<secret:" in written
    assert audit([tmp_path]) == []
    (interaction,) = Cassette.load(tmp_path / "zeus.yaml").interactions
    assert sum(chunk.n for chunk in interaction.response.chunks) == len(interaction.response.body)
    (again,) = await replay(tmp_path, steps)  # the same secrets, sent again: matched, and answered
    assert again.status == 200
    assert again.body == interaction.response.body  # as recorded: placeholders where the secret was


def test_the_audit_command_names_file_line_and_rule(tmp_path: Path) -> None:
    from click.testing import CliRunner

    from mockagent.cli import main

    (tmp_path / "leaky.yaml").write_text(
        "interactions:\n- request:\n    headers:\n      x-api-key: [xp-live-key-1234567890abcdef]\n"
        '    body: \'{"token": "sk-ant-api03-abcdefghijklmnopqrstuvwxyz012345"}\'\n'
        "    method: POST\n    uri: https://api.example/x\n"
        "  response: {status: {code: 200}, headers: {}, body: {string: ''}}\nversion: 1\n"
    )
    result = CliRunner().invoke(main, ["cassette", "audit", str(tmp_path)])
    assert result.exit_code == 1
    lines = result.output.splitlines()
    assert any(line.startswith(f"{tmp_path / 'leaky.yaml'}:4:") and "x-api-key" in line for line in lines)
    assert any(line.startswith(f"{tmp_path / 'leaky.yaml'}:5:") for line in lines)
    assert "sk-ant-api03-abcdefghijklmnopqrstuvwxyz012345" not in result.output  # never the secret itself
    assert CliRunner().invoke(main, ["cassette", "audit", str(tmp_path / "none")]).exit_code == 2


async def test_a_cassette_says_what_decides_its_matches(tmp_path: Path, upstream: MockServer) -> None:
    """`metadata.x_mockagent.match` in the cassette: fields that match any value, and the parts compared."""

    async def greet(c: Client, message: str, trace: str) -> None:
        body = {"message": message, "metadata": {"trace_id": trace}}
        await c.call("POST", "beeos", "/api/v1/agents/echo/invoke", json_body=body, advance=1)

    await record(tmp_path, upstream, lambda c: greet(c, "hi", "t-1"))
    assert [a.status for a in await replay(tmp_path, lambda c: greet(c, "hi", "t-2"))] == [404]
    cassette = Cassette.load(tmp_path / "beeos.yaml")
    cassette.metadata = {"x_mockagent": {"match": {"ignore": ["trace_id"]}}}
    cassette.save()
    assert [a.status for a in await replay(tmp_path, lambda c: greet(c, "hi", "t-2"))] == [200]
    assert [a.status for a in await replay(tmp_path, lambda c: greet(c, "bye", "t-2"))] == [404]
    cassette.metadata = {"x_mockagent": {"match": {"match_on": ["platform", "method", "path"]}}}
    cassette.save()
    assert [a.status for a in await replay(tmp_path, lambda c: greet(c, "bye", "t-3"))] == [200]
    cassette.metadata = {"x_mockagent": {"match": {"match_on": ["path", "colour"]}}}
    cassette.save()
    with pytest.raises(CassetteError, match=r"beeos\.yaml:\d+:\d+: match_on takes platform, method, path"):
        Cassette.load(tmp_path / "beeos.yaml")


async def test_an_answer_cut_while_recording_is_replayed_cut(tmp_path: Path, upstream: MockServer) -> None:
    streamed = {**AUTH["beeos"], "Accept": "text/event-stream"}
    async with MockServer(recorder_settings(tmp_path, upstream)) as recorder, aiohttp.ClientSession() as http:
        url = recorder.base_url("beeos") + "/api/v1/agents/echo/invoke"
        async with http.post(url, json={"message": "one two three"}, headers=streamed) as response:
            await asyncio.wait_for(upstream.until_waiting(1), SAFETY)
            await upstream.advance(0.03)  # the first word's moment: one frame, then the client hangs up
            first = await response.content.readuntil(b"\n\n")
        await asyncio.wait_for(recorder.session().until_in_flight(0), SAFETY)
    (interaction,) = Cassette.load(tmp_path / "beeos.yaml").interactions
    assert interaction.response.complete is False
    assert interaction.response.body.startswith(first)
    async with MockServer(Settings(cassettes=tmp_path, replay_asap=True)) as server, aiohttp.ClientSession() as http:
        url = server.base_url("beeos") + "/api/v1/agents/echo/invoke"
        async with http.post(url, json={"message": "one two three"}, headers=streamed) as response:
            with pytest.raises(aiohttp.ClientPayloadError):
                await response.read()  # cut where the recording was cut
