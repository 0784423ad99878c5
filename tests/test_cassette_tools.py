"""The tools around cassettes, over real servers on loopback: a recording turned into a scenario file that
gives a client the same replies (`mockagent cassette to-scenario`), the drift check against a live upstream
(`mockagent cassette check`), and the HAR export (`mockagent cassette export --har`).

Recordings are made as tests/test_recording.py makes them: a recorder in front of a second mockagent
acting as the real API, on a manual clock. A request that waits on that clock moves it once it waits, so
nothing here depends on how fast the machine is.
"""

from __future__ import annotations

import asyncio
import json
import re
from collections.abc import AsyncIterator, Awaitable, Callable
from dataclasses import dataclass, field, replace
from datetime import datetime
from pathlib import Path
from typing import Any

import aiohttp
import pytest
import yaml
from click.testing import CliRunner
from credentials import JWT
from sse import parse

from mockagent.cli import main
from mockagent.clock import ManualClock
from mockagent.model import PlatformKey
from mockagent.replay.cassette import Cassette
from mockagent.replay.modes import RecordMode
from mockagent.replay.scenario_file import convert, iter_steps
from mockagent.scenarios import load_paths
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
SAFETY = 30.0
STREAM = {"Accept": "text/event-stream"}


@dataclass
class Answer:
    status: int
    content_type: str
    body: bytes

    def json(self) -> Any:
        return json.loads(self.body)

    def frames(self) -> list[Any]:
        return [frame.json() if frame.data != "[DONE]" else "[DONE]" for frame in parse(self.body.decode())]


@dataclass
class Client:
    """Sends a conversation's requests to `server`; `clock` is the server whose manual clock the answers
    wait on (the upstream behind a recorder, or the server itself), moved whenever a request waits on it."""

    http: aiohttp.ClientSession
    server: MockServer
    clock: MockServer
    answers: list[Answer] = field(default_factory=list)

    async def call(
        self,
        method: str,
        platform: str,
        path: str,
        body: Any = None,
        headers: dict[str, str] | None = None,
    ) -> Answer:
        url = self.server.base_url(platform) + path
        sent = asyncio.ensure_future(self._send(method, url, body, {**AUTH[platform], **(headers or {})}))
        clock = self.clock.session().clock
        assert isinstance(clock, ManualClock)
        while not sent.done():
            waiting = asyncio.ensure_future(clock.until_waiting(1))
            await asyncio.wait({sent, waiting}, timeout=SAFETY, return_when=asyncio.FIRST_COMPLETED)
            if not waiting.done():
                waiting.cancel()
                assert sent.done(), f"{method} {path}: no answer, and nothing waits on the clock"
            elif not sent.done():
                await clock.advance(1)  # every scripted moment of these agents is within a second
        answer = sent.result()
        self.answers.append(answer)
        return answer

    async def tick(self) -> None:
        """A second passes (between polls, say)."""
        await self.clock.advance(1)

    async def _send(self, method: str, url: str, body: Any, headers: dict[str, str]) -> Answer:
        async with self.http.request(method, url, json=body, headers=headers) as response:
            return Answer(response.status, response.content_type, await response.read())


Steps = Callable[[Client], Awaitable[None]]


async def beeos_steps(c: Client) -> None:
    agents = "/api/v1/agents"
    await c.call("POST", "beeos", f"{agents}/echo/invoke", {"message": "hi"})
    await c.call("POST", "beeos", f"{agents}/tools/invoke", {"message": "w"}, STREAM)
    await c.call("POST", "beeos", f"{agents}/error/invoke", {"message": "a"}, STREAM)
    await c.call("POST", "beeos", f"{agents}/error/invoke", {"message": "b"})
    for agent, message, answer in (
        ("question", "deploy", {"input": "staging"}),
        ("approval", "mail", {"auth_grant": True}),
    ):
        task = (await c.call("POST", "beeos", f"{agents}/{agent}/tasks", {"message": message})).json()["data"]
        path = f"{agents}/{agent}/tasks/{task['task_id']}"
        await c.tick()
        assert (await c.call("GET", "beeos", path)).json()["data"]["status"] in ("input_required", "auth_required")
        await c.call("POST", "beeos", f"{path}/continue", answer)
        await c.tick()
        assert (await c.call("GET", "beeos", path)).json()["data"]["status"] == "completed"
        await c.call("GET", "beeos", f"{path}/events")
    # Chat style: the blocking invoke asks in text, and the next message on the conversation answers.
    asked = (await c.call("POST", "beeos", f"{agents}/question/invoke", {"message": "where?"})).json()["data"]
    await c.call("POST", "beeos", f"{agents}/question/invoke", {"message": "prod", "context_id": asked["context_id"]})
    assert (await c.call("POST", "beeos", f"{agents}/flaky/invoke", {"message": "x"})).status == 429
    assert (await c.call("POST", "beeos", f"{agents}/flaky/invoke", {"message": "x"})).status == 200
    late = {"message": "x", "timeout_ms": 1000}
    assert (await c.call("POST", "beeos", f"{agents}/slow/invoke", late)).status == 504


async def agentos_steps(c: Client) -> None:
    agents = "/api/v1/agents"
    first = await c.call("POST", "agentos", f"{agents}/echo/invoke", {"input": {"query": "hi"}, "start_session": True})
    session = first.json()["data"]["session_id"]
    await c.call("POST", "agentos", f"{agents}/echo/invoke", {"input": {"query": "again"}, "session_id": session})
    await c.call("POST", "agentos", f"{agents}/tools/invoke", {"input": {"query": "w"}, "stream": True})
    await c.call("POST", "agentos", f"{agents}/error/invoke", {"input": {"query": "a"}, "stream": True})
    assert (await c.call("POST", "agentos", f"{agents}/error/invoke", {"input": {"query": "b"}})).status == 500
    paused = (await c.call("POST", "agentos", f"{agents}/approval/invoke", {"input": {"query": "mail"}})).json()["data"]
    approval = paused["awaiting_approval"]["approval_id"]
    await c.call("POST", "agentos", f"/api/v1/approvals/{approval}/decide", {"decision": "approve"})
    await c.tick()
    assert (await c.call("GET", "agentos", f"/api/v1/runs/{paused['run_id']}")).json()["data"]["status"] == "completed"
    streamed = await c.call("POST", "agentos", f"{agents}/approval/invoke", {"input": {"query": "no"}, "stream": True})
    run = streamed.frames()[-1]
    await c.call(
        "POST", "agentos", "/api/v1/rpc/approvals_decide", {"approval_id": run["approval_id"], "decision": "rejected"}
    )
    await c.tick()
    assert (await c.call("POST", "agentos", "/api/v1/rpc/runs_get", {"run_id": run["run_id"]})).json()["data"][
        "status"
    ] == "failed"
    asked = (await c.call("POST", "agentos", f"{agents}/question/invoke", {"input": {"query": "deploy"}})).json()[
        "data"
    ]
    reply = {"request_id": asked["awaiting_input"]["request_id"], "response": "prod"}
    await c.call("POST", "agentos", f"/api/v1/runs/{asked['run_id']}/reply", reply)


async def xpander_steps(c: Client) -> None:
    def ask(text: str) -> dict[str, Any]:
        return {"input": {"text": text, "user": USER}}

    await c.call("POST", "xpander", "/v1/agents/echo/invoke", ask("hi"))
    await c.call("POST", "xpander", "/v1/agents/tools/invoke/stream", ask("w"))
    await c.call("POST", "xpander", "/v1/agents/error/invoke/stream", ask("a"))
    # The same message in the blocking form: its failed task shows only the failure, the stream the text
    # before it (counted in `tokens`); the converter keeps the reply that shows more.
    await c.call("POST", "xpander", "/v1/agents/error/invoke", ask("a"))
    task = (await c.call("POST", "xpander", "/v1/agents/question/invoke/async", ask("deploy"))).json()
    await c.tick()
    assert (await c.call("GET", "xpander", f"/v1/tasks/{task['id']}")).json()["status"] == "paused"
    await c.call("POST", "xpander", f"/v1/tasks/{task['id']}/hitl", {"decision": "approve", "comment": "staging"})
    await c.tick()
    assert (await c.call("GET", "xpander", f"/v1/tasks/{task['id']}")).json()["status"] == "completed"
    paused = (await c.call("POST", "xpander", "/v1/agents/approval/invoke/stream", ask("mail"))).frames()[-1]
    await c.call("POST", "xpander", f"/v1/tasks/{paused['task_id']}/hitl", {"decision": "reject"})
    await c.tick()
    assert (await c.call("GET", "xpander", f"/v1/tasks/{paused['task_id']}")).json()["status"] == "failed"


async def zeus_steps(c: Client) -> None:
    def body(message: str, session: str) -> dict[str, Any]:
        return {"message": message, "session_id": session, "llm_config": LLM}

    await c.call("POST", "zeus", "/api/agent/invoke?agent=echo", body("hi", "s-zeus-echo-0001"))
    await c.call("POST", "zeus", "/api/agent/invoke", body("again", "s-zeus-echo-0001"))
    await c.call("POST", "zeus", "/api/agent/invoke?agent=tools", body("w", "s-zeus-tools-001"))
    await c.call("POST", "zeus", "/api/agent/invoke?agent=error", body("a", "s-zeus-error-001"))
    interrupted = await c.call("POST", "zeus", "/api/agent/invoke?agent=approval", body("mail", "s-zeus-mail-0001"))
    call = interrupted.frames()[-1]["tool_calls"][0]
    decision = {"tool_call_id": call["tool_call_id"], "tool_name": call["tool_name"], "decision": "approved"}
    resume = {"session_id": "s-zeus-mail-0001", "llm_config": LLM, "tool_call_results": [decision]}
    await c.call("POST", "zeus", "/api/agent/resume", resume)
    await c.call("POST", "zeus", "/api/agent/invoke?agent=question", body("deploy", "s-zeus-asks-0001"))
    answer = {"session_id": "s-zeus-asks-0001", "llm_config": LLM, "tool_call_results": [], "human_order": "prod"}
    await c.call("POST", "zeus", "/api/agent/resume", answer)


async def aster_steps(c: Client) -> None:
    def said(text: str) -> dict[str, Any]:
        return {"role": "user", "parts": [{"type": "text", "text": text}]}

    await c.call("POST", "aster", "/chat", {"agentId": 2, "message": said("weather?")})
    await c.call("POST", "aster", "/chat", {"agentId": 8, "message": said("try")})
    background = {"X-Stream-Response": "false"}
    started = await c.call("POST", "aster", "/chat", {"agentId": 1, "message": said("hi")}, background)
    await c.tick()
    await c.call("GET", "aster", f"/getConversation?threadId={started.json()['threadId']}")
    # Chat style: the agent asks in text; the next message on the thread answers.
    asked = await c.call("POST", "aster", "/chat", {"agentId": 3, "message": said("mail")}, background)
    await c.tick()
    thread = asked.json()["threadId"]
    await c.call("POST", "aster", "/chat", {"agentId": 3, "threadId": thread, "message": said("yes")})
    await c.call("GET", "aster", f"/getConversation?threadId={thread}")


STEPS: dict[str, Steps] = {
    "beeos": beeos_steps,
    "agentos": agentos_steps,
    "xpander": xpander_steps,
    "zeus": zeus_steps,
    "aster": aster_steps,
}


@pytest.fixture
async def upstream() -> AsyncIterator[MockServer]:
    """The "real API": a mockagent serving the demo agents, on a manual clock."""
    async with MockServer(Settings(manual_clock=True)) as server:
        yield server


async def record(folder: Path, upstream: MockServer, steps: Steps, name: str | None = None) -> list[Answer]:
    """Record `steps` through a recorder in front of `upstream`: a cassette per platform, or one `name`."""
    urls = tuple((key, upstream.base_url(key)) for key in PlatformKey)
    settings = Settings(cassettes=folder, record_mode=RecordMode.ALL, upstreams=urls, cassette=name)
    async with MockServer(settings) as recorder, aiohttp.ClientSession() as http:
        client = Client(http, recorder, upstream)
        await steps(client)
    return client.answers


async def serve(scenario: Path, steps: Steps) -> list[Answer]:
    settings = Settings(scenario_paths=(scenario,), manual_clock=True)
    async with MockServer(settings) as server, aiohttp.ClientSession() as http:
        client = Client(http, server, server)
        await steps(client)
    return client.answers


# Ids and moments differ from one run to the next; what a client sees of the agent does not.
_VOLATILE_KEY = re.compile(r"(?:^|_)(?:id|at)$|Id$|At$|^(?:time|duration_ms|in_reply_to|context_id)$")


def seen(answer: Answer) -> Any:
    """What a client sees: the status and the body (a stream as its frames), ids and times left out."""
    if answer.content_type == "text/event-stream":
        body: Any = [_masked(frame) for frame in answer.frames()]
    elif answer.content_type == "application/json":
        body = _masked(answer.json())
    else:
        body = answer.body
    return answer.status, body


def _differences(recorded: Any, again: Any, at: str = "$") -> list[str]:
    if isinstance(recorded, dict) and isinstance(again, dict):
        return [
            d for k in recorded.keys() | again.keys() for d in _differences(recorded.get(k), again.get(k), f"{at}.{k}")
        ]
    if isinstance(recorded, list | tuple) and isinstance(again, list | tuple) and len(recorded) == len(again):
        return [
            d for i, (a, b) in enumerate(zip(recorded, again, strict=True)) for d in _differences(a, b, f"{at}[{i}]")
        ]
    return [] if recorded == again else [f"{at}: recorded {recorded!r}, now {again!r}"]


def _masked(value: Any) -> Any:
    if isinstance(value, dict):
        return {k: "…" if _VOLATILE_KEY.search(k) else _masked(v) for k, v in value.items()}
    if isinstance(value, list):
        return [_masked(item) for item in value]
    return value


# ── to-scenario ──────────────────────────────────────────────────────────────────────────────────────


@pytest.mark.parametrize("platform", list(STEPS))
async def test_a_recording_turned_into_a_scenario_gives_the_same_replies(
    tmp_path: Path, upstream: MockServer, platform: str
) -> None:
    live = await record(tmp_path / "cassettes", upstream, STEPS[platform])
    scenario = tmp_path / "from-recording.yaml"
    result = CliRunner().invoke(
        main, ["cassette", "to-scenario", str(tmp_path / "cassettes" / f"{platform}.yaml"), "-o", str(scenario)]
    )
    assert result.exit_code == 0, result.output
    assert load_paths([scenario]).agents  # the project's own loader reads it
    served = await serve(scenario, STEPS[platform])
    assert len(served) == len(live)
    for index, (recorded, again) in enumerate(zip(live, served, strict=True)):
        assert seen(again) == seen(recorded), f"answer {index + 1} differs: {_differences(seen(recorded), seen(again))}"


async def test_a_converted_script_shows_what_each_dialect_carries(tmp_path: Path, upstream: MockServer) -> None:
    """Aster streams show everything; AgentOS names a paused call only in its approval, BeeOS pauses only in
    tasks; the converted scripts keep each piece where it was shown."""

    async def steps(c: Client) -> None:
        await aster_steps(c)
        await agentos_steps(c)
        await beeos_steps(c)

    await record(tmp_path, upstream, steps, name="all")
    cassette = tmp_path / "all.yaml"
    agents = {agent["id"]: agent for agent in convert(Cassette.load(cassette)).data["agents"]}
    assert agents["aster-2"]["aster_id"] == 2
    assert [list(step) for step in agents["aster-2"]["script"]] == [
        ["reasoning"],
        ["tool_call"],
        ["tool_result"],
        ["say"],
    ]
    assert agents["aster-2"]["script"][1]["tool_call"] == {"name": "get_weather", "args": {"city": "Paris"}}
    # One agent id across two platforms: one agent, with a reply per message.
    approval = agents["approval"]
    assert approval["platforms"] == ["agentos", "beeos"]
    by_message = {reply["when"]["equals"]: reply["script"] for reply in approval["replies"]}
    rejected = by_message["no"][0]["tool_call"]
    assert rejected["requires_approval"] is True
    assert rejected["args"] == {"to": "ops@example.com"}  # learnt from the approval item, not the stream
    assert rejected["on_reject"] == [{"fail": "Email not sent."}]
    assert [list(step) for step in iter_steps(by_message["mail"])] == [["tool_call"], ["tool_result"], ["say"]]
    assert agents["flaky"]["faults"] == [{"sequence": ["429, retry-after=1"], "per": "agent"}]
    assert agents["slow"]["script"] == [{"delay": 3600.0}]
    asked = agents["question"]["replies"][0]["script"]
    assert asked[0]["ask"] == {"question": "Which environment?", "options": ["staging", "production"]}
    assert asked[1]["say"] == "Deploying to {{ answer }}."


def test_text_that_looks_like_a_template_stays_text(tmp_path: Path) -> None:
    from mockagent.replay.scenario_file import literal
    from mockagent.templating import Template

    for text in ("plain", "{{ message }} is literal", "{% if x %}", "a {% endraw %} b {{ c }}"):
        assert Template(literal(text)).render({}) == text


def test_json_that_looks_like_a_template_stays_as_it_was(tmp_path: Path) -> None:
    from mockagent.replay.scenario_file import literal_json
    from mockagent.templating import compile_json

    value = {"q": "{{ message }}", "all": ["{{ x }}", 1, None, {"e": "a {% endraw %} {{ b }}"}], "n": "{{ 3 }}"}
    assert compile_json(literal_json(value)).render({}) == value


async def test_the_recorded_moments_become_pace_and_delays(tmp_path: Path, upstream: MockServer) -> None:
    """xpander stamps each frame with the moment it happened on the upstream's clock: the converted agent
    streams its frames at the same offsets (pace 0.03 s, the tool's result 0.1 s after its call)."""

    async def steps(c: Client) -> None:
        await c.call("POST", "xpander", "/v1/agents/tools/invoke/stream", {"input": {"text": "w", "user": USER}})

    (live,) = await record(tmp_path / "cassettes", upstream, steps)
    scenario = tmp_path / "tools.yaml"
    scenario.write_text(convert(Cassette.load(tmp_path / "cassettes" / "xpander.yaml")).text())
    (agent,) = yaml.safe_load(scenario.read_text())["agents"]
    assert agent["pace"] == {"first_frame": 0.03, "interval": 0.03}
    assert agent["script"][2] == {"delay": 0.1, "tool_result": {"output": {"temp_c": 21}}}
    (again,) = await serve(scenario, steps)

    def offsets(answer: Answer) -> list[float]:
        moments = [datetime.fromisoformat(frame["time"]) for frame in answer.frames()]
        return [round((moment - moments[0]).total_seconds(), 3) for moment in moments]

    assert offsets(again) == offsets(live)
    assert offsets(live)[-1] > 0.2  # it is paced, not all at once


async def test_a_cassette_from_other_tools_is_read_by_its_hosts(tmp_path: Path, upstream: MockServer) -> None:
    """vcrpy and friends record the real API's URLs and nothing of ours (no platform, no chunk times): the
    host names the platform, and the replies are the same, untimed."""
    await record(tmp_path, upstream, zeus_steps, name="ours")
    data = yaml.safe_load((tmp_path / "ours.yaml").read_text())
    for item in data["interactions"]:
        path = item["response"].pop("x_mockagent")["path"]
        item["request"]["uri"] = "https://zeus-api.agentspro.cn" + path
    (tmp_path / "theirs.yaml").write_text(yaml.safe_dump(data))

    def untimed(value: Any) -> Any:
        if isinstance(value, dict):
            return {k: untimed(v) for k, v in value.items() if k not in ("pace", "delay", "interval")}
        return [untimed(item) for item in value] if isinstance(value, list) else value

    theirs = convert(Cassette.load(tmp_path / "theirs.yaml")).data
    assert untimed(theirs) == untimed(convert(Cassette.load(tmp_path / "ours.yaml")).data)
    assert [agent["id"] for agent in theirs["agents"]] == ["echo", "tools", "error", "approval", "question"]


async def test_a_stream_the_client_cut_ends_the_reply_where_the_recording_does(
    tmp_path: Path, upstream: MockServer
) -> None:
    async def steps(c: Client) -> None:
        await c.call("POST", "zeus", "/api/agent/invoke?agent=tools", {"message": "w", "llm_config": LLM})

    await record(tmp_path, upstream, steps, name="cut")
    cassette = Cassette.load(tmp_path / "cut.yaml")
    (answer,) = [i.response for i in cassette.interactions]
    # Cut as a recorder keeps a stream whose client hung up: after the tool call's frame.
    kept = answer.body.index(b"\n\n") + 2
    answer.body, answer.complete = answer.body[:kept], False
    answer.chunks = (replace(answer.chunks[0], n=kept),)
    cassette.save()
    conversion = convert(Cassette.load(tmp_path / "cut.yaml"))
    (agent,) = conversion.data["agents"]
    assert agent["script"] == [{"tool_call": {"name": "get_weather", "args": {"city": "Paris"}}}]
    assert conversion.notes == ["#1: the client hung up mid-stream: the reply ends where the recording does"]
    assert "#   #1: the client hung up mid-stream" in conversion.text()


def test_to_scenario_writes_to_stdout_and_refuses_what_is_no_cassette(tmp_path: Path) -> None:
    empty = tmp_path / "empty.yaml"
    empty.write_text("interactions: []\nversion: 1\n")
    result = CliRunner().invoke(main, ["cassette", "to-scenario", str(empty)])
    assert result.exit_code == 0
    assert result.output.startswith("# Made by `mockagent cassette to-scenario`")
    assert yaml.safe_load(result.output) == {"agents": []}
    broken = tmp_path / "broken.yaml"
    broken.write_text("interactions:\n  - request: {method: GET}\nversion: 1\n")
    result = CliRunner().invoke(main, ["cassette", "to-scenario", str(broken)])
    assert result.exit_code == 2
    assert f"{broken}:2:" in result.output


# ── the drift check ──────────────────────────────────────────────────────────────────────────────────

BEFORE = """
agents:
  - id: weather
    script:
      - reasoning: Looking up the weather.
      - say: Let me check.
      - tool_call: {name: get_weather, args: {city: Paris}}
      - tool_result: {output: {temp_c: 21}}
  - id: deploy
    script:
      - ask: {question: "Which environment?", options: [staging, production]}
      - say: "Deploying to {{ answer }}."
"""
# The platform changed: the tool is called before the text, and a deploy fails where it completed.
AFTER = """
agents:
  - id: weather
    script:
      - reasoning: Looking up the weather.
      - tool_call: {name: get_weather, args: {city: Paris}}
      - tool_result: {output: {temp_c: 21}}
      - say: It is 21°C in Paris.
  - id: deploy
    script:
      - ask: {question: "Which environment?", options: [staging, production]}
      - fail: {message: No environment is free., code: busy}
"""


async def drift_steps(c: Client) -> None:
    agents = "/api/v1/agents"
    await c.call("POST", "agentos", f"{agents}/weather/invoke", {"input": {"query": "paris?"}, "stream": True})
    asked = (await c.call("POST", "agentos", f"{agents}/deploy/invoke", {"input": {"query": "go"}})).json()["data"]
    reply = {"request_id": asked["awaiting_input"]["request_id"], "response": "staging"}
    await c.call("POST", "agentos", f"/api/v1/runs/{asked['run_id']}/reply", reply)
    await c.call("POST", "beeos", f"{agents}/weather/invoke", {"message": "paris?"})


@pytest.fixture
async def recorded(tmp_path: Path) -> Path:
    """A cassette of `drift_steps`, recorded from an upstream serving BEFORE."""
    (tmp_path / "before.yaml").write_text(BEFORE)
    async with MockServer(Settings(scenario_paths=(tmp_path / "before.yaml",), manual_clock=True)) as first:
        await record(tmp_path / "cassettes", first, drift_steps, name="drift")
    return tmp_path / "cassettes" / "drift.yaml"


#: The credentials a user gives `check`: the cassette holds them redacted, so they are never sent as recorded.
CREDENTIALS = [f"--header={key}:Authorization={AUTH[key]['Authorization']}" for key in ("agentos", "beeos")]


async def check(cassette: Path, scenario: str, folder: Path, *extra: str, credentials: bool = True) -> tuple[int, str]:
    """`mockagent cassette check` (in a thread: it runs its own event loop) against a fresh upstream that
    serves `scenario` on a clock that never moves (these scripts have no waits)."""
    (folder / "upstream.yaml").write_text(scenario)
    async with MockServer(Settings(scenario_paths=(folder / "upstream.yaml",), manual_clock=True)) as live:
        upstreams = [f"--upstream={key}={live.base_url(key)}" for key in ("agentos", "beeos")]
        given = CREDENTIALS if credentials else []
        command = ["cassette", "check", str(cassette), *upstreams, *given, *extra]
        result = await asyncio.to_thread(CliRunner().invoke, main, command)
    return result.exit_code, result.output


async def test_a_check_against_the_same_upstream_finds_no_drift(tmp_path: Path, recorded: Path) -> None:
    code, output = await check(recorded, BEFORE, tmp_path)
    assert code == 0, output
    # The reply names the run and the question the live upstream chose, not the recorded ones: threaded.
    assert output.splitlines()[2].endswith("/reply (agentos): ok")
    assert output.endswith("no drift in 4 interactions\n")


async def test_a_check_reports_a_changed_field_and_a_changed_event_order(tmp_path: Path, recorded: Path) -> None:
    code, output = await check(recorded, AFTER, tmp_path)
    assert code == 1, output
    lines = output.splitlines()
    assert lines[0] == "#1 POST /api/v1/agents/weather/invoke (agentos): DRIFT"
    assert lines[1] == "    event order: recorded start, chunk+, tool+, done; now start, tool+, chunk+, done"
    assert lines[2] == "    event #3 `tool`: moved to #2"
    assert lines[3] == "#2 POST /api/v1/agents/deploy/invoke (agentos): ok"
    assert lines[4].endswith("/reply (agentos): DRIFT")
    assert lines[5:8] == [
        "    status: recorded 200, now 500",
        "    $.data: recorded object (duration_ms, output, run_id), now null",
        "    $.error: recorded null, now object (code, message)",
    ]
    assert lines[8] == "#4 POST /api/v1/agents/weather/invoke (beeos): ok"  # other text, same shape
    assert lines[9] == "drift in 2 of 4 interactions"


def test_an_event_whose_keys_changed_is_reported_with_the_key() -> None:
    from mockagent.replay.drift import event_differences, events

    recorded = b'data: {"type":"delta","text":"a"}\n\ndata: {"type":"delta","text":"b"}\n\n'
    recorded += b'data: {"type":"done","text":"ab"}\n\n'
    live = b'data: {"type":"delta","text":"a"}\n\ndata: {"type":"done","text":"a","error":"late","code":504}\n\n'
    assert event_differences(events(recorded), events(live)) == [
        "event #2 `done` $.code: new, number",
        "event #2 `done` $.error: new, string",
    ]


def test_a_cut_recording_is_compared_as_far_as_it_goes() -> None:
    from mockagent.replay.cassette import Interaction, Response
    from mockagent.replay.drift import compare

    stream = {"Content-Type": ["text/event-stream"]}
    cut = Response(200, "OK", stream, b'data: {"type":"delta","text":"a"}\n\n', complete=False)
    recorded = Interaction("POST", "http://upstream/invoke", {}, b"{}", cut)
    live = b'data: {"type":"delta","text":"a"}\n\ndata: {"type":"done","text":"a"}\n\n'
    assert compare(recorded, 200, {"content-type": "text/event-stream"}, live) == []
    recorded.response.complete = True
    assert compare(recorded, 200, {"content-type": "text/event-stream"}, live) == [
        "event order: recorded delta; now delta, done",
        "event #2 `done`: new",
    ]


async def test_a_redacted_credential_is_not_sent_and_can_be_given(tmp_path: Path, recorded: Path) -> None:
    assert all("<<secret:" in i.headers["Authorization"][0] for i in Cassette.load(recorded).interactions)
    code, output = await check(recorded, BEFORE, tmp_path, credentials=False)
    assert code == 1
    assert "    status: recorded 200, now 401" in output
    assert (
        "    note: the recorded Authorization is redacted and was not sent; "
        "give it with --header agentos:Authorization=VALUE" in output
    )
    code, output = await check(recorded, BEFORE, tmp_path, "--header", "agentos:Authorization=Bearer aos_ws_mine")
    assert code == 0, output  # (the BeeOS one comes from CREDENTIALS)


async def test_an_unreachable_upstream_or_an_unreadable_cassette_exits_2(tmp_path: Path, recorded: Path) -> None:
    import socket

    with socket.socket() as probe:  # a port nothing listens on once the probe is closed
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    command = ["cassette", "check", str(recorded), f"--upstream=agentos=http://127.0.0.1:{port}"]
    result = await asyncio.to_thread(CliRunner().invoke, main, command)
    assert result.exit_code == 2
    assert "the upstream could not be reached" in result.output
    broken = tmp_path / "broken.yaml"
    broken.write_text("interactions:\n  - request: {method: GET}\nversion: 1\n")
    result = CliRunner().invoke(main, ["cassette", "check", str(broken), "--upstream=agentos=http://127.0.0.1:9"])
    assert result.exit_code == 2
    assert f"{broken}:2:" in result.output


# ── HAR export ───────────────────────────────────────────────────────────────────────────────────────

# HAR 1.2: each object's required keys, and every key it may have (others must start with `_`).
HAR_FIELDS: dict[str, tuple[set[str], set[str]]] = {
    "log": ({"version", "creator", "entries"}, {"browser", "pages", "comment"}),
    "creator": ({"name", "version"}, {"comment"}),
    "entry": (
        {"startedDateTime", "time", "request", "response", "cache", "timings"},
        {"pageref", "serverIPAddress", "connection", "comment"},
    ),
    "request": (
        {"method", "url", "httpVersion", "cookies", "headers", "queryString", "headersSize", "bodySize"},
        {"postData", "comment"},
    ),
    "response": (
        {
            "status",
            "statusText",
            "httpVersion",
            "cookies",
            "headers",
            "content",
            "redirectURL",
            "headersSize",
            "bodySize",
        },
        {"comment"},
    ),
    "content": ({"size", "mimeType"}, {"compression", "text", "encoding", "comment"}),
    "postData": ({"mimeType"}, {"params", "text", "comment"}),
    "timings": ({"send", "wait", "receive"}, {"blocked", "dns", "connect", "ssl", "comment"}),
    "pair": ({"name", "value"}, {"comment"}),
}


def har_problems(kind: str, value: Any, at: str) -> list[str]:
    required, optional = HAR_FIELDS[kind]
    if not isinstance(value, dict):
        return [f"{at}: not an object"]
    problems = [f"{at}: missing {key}" for key in sorted(required - value.keys())]
    problems += [f"{at}: unknown {k}" for k in value if k not in required | optional and not k.startswith("_")]
    return problems


def validate_har(document: Any) -> list[str]:
    """What in `document` breaks the HAR 1.2 spec: required fields, their types, unknown fields."""
    log = document.get("log")
    problems = har_problems("log", log, "log")
    problems += har_problems("creator", log["creator"], "log.creator")
    for n, entry in enumerate(log["entries"]):
        at = f"log.entries[{n}]"
        problems += har_problems("entry", entry, at)
        started = entry["startedDateTime"]
        if not started.endswith("Z") or datetime.fromisoformat(started).tzinfo is None:
            problems.append(f"{at}.startedDateTime: not ISO 8601 with a zone: {started}")
        for side in ("request", "response"):
            problems += har_problems(side, entry[side], f"{at}.{side}")
            for pair in entry[side]["headers"] + entry[side].get("queryString", []):
                problems += har_problems("pair", pair, f"{at}.{side}.headers")
            if entry[side]["cookies"] != [] or not isinstance(entry[side]["bodySize"], int):
                problems.append(f"{at}.{side}: cookies or bodySize")
        if "postData" in entry["request"]:
            problems += har_problems("postData", entry["request"]["postData"], f"{at}.request.postData")
        problems += har_problems("content", entry["response"]["content"], f"{at}.response.content")
        problems += har_problems("timings", entry["timings"], f"{at}.timings")
        timings = entry["timings"]
        if not all(isinstance(v, int | float) and v >= -1 for v in timings.values()):
            problems.append(f"{at}.timings: not all numbers ≥ -1: {timings}")
        if entry["time"] != pytest.approx(sum(v for v in timings.values() if v > 0)):
            problems.append(f"{at}.time: not the sum of its timings")
    return problems


async def test_a_cassette_exports_as_har_with_its_stream_chunks(tmp_path: Path, upstream: MockServer) -> None:
    async def steps(c: Client) -> None:
        await c.call("POST", "beeos", "/api/v1/agents/echo/invoke", {"message": "hi"})
        await c.call("POST", "beeos", "/api/v1/agents/echo/invoke", {"message": "one two three"}, STREAM)
        await c.call("GET", "aster", "/getConversation?threadId=6f1c1a6e-8d0e-4a3b-9a55-1d2b3c4d5e6f")

    live = await record(tmp_path, upstream, steps, name="har")
    output = tmp_path / "out.har"
    result = CliRunner().invoke(main, ["cassette", "export", str(tmp_path / "har.yaml"), "--har", "-o", str(output)])
    assert result.exit_code == 0, result.output
    document = json.loads(output.read_text())
    assert validate_har(document) == []
    log = document["log"]
    assert (log["version"], log["creator"]["name"]) == ("1.2", "mockagent")
    blocking, streamed, missing = log["entries"]
    assert blocking["request"]["method"] == "POST"
    assert blocking["request"]["postData"] == {"mimeType": "application/json", "text": '{"message": "hi"}'}
    assert blocking["response"]["content"]["text"] == live[0].body.decode()
    assert "_chunks" not in blocking  # a body of use only whole is one piece
    assert missing["response"]["status"] == 404
    assert missing["request"]["queryString"] == [{"name": "threadId", "value": "6f1c1a6e-8d0e-4a3b-9a55-1d2b3c4d5e6f"}]
    chunks = streamed["_chunks"]
    assert (
        "".join(chunk["text"] for chunk in chunks) == live[1].body.decode() == streamed["response"]["content"]["text"]
    )
    assert sum(chunk["size"] for chunk in chunks) == streamed["response"]["content"]["size"]
    assert [c["time"] for c in chunks] == sorted(c["time"] for c in chunks)
    assert streamed["timings"]["receive"] == pytest.approx(chunks[-1]["time"] - streamed["timings"]["wait"], abs=0.01)
    assert streamed["response"]["content"]["mimeType"] == "text/event-stream"
    started = [datetime.fromisoformat(e["startedDateTime"]) for e in log["entries"]]
    assert started == sorted(started)
    assert CliRunner().invoke(main, ["cassette", "export", str(tmp_path / "har.yaml")]).exit_code == 2  # no format
