"""The `mockagent` command (mockagent/cli.py), run for real as a subprocess: serve (banner, health, a clean
stop on Ctrl-C), validate, platforms, and scenario errors reported as path:line:col: before binding."""

from __future__ import annotations

import asyncio
import base64
import contextlib
import importlib.util
import json
import os
import signal
import socket
import subprocess
import sys
from collections.abc import AsyncIterator, Sequence
from importlib.metadata import entry_points
from pathlib import Path

import httpx
import pytest

ROOT = Path(__file__).resolve().parent.parent
DEMO = ROOT / "scenarios" / "demo.yaml"
# The console script `mockagent = "mockagent._entry:main"`, run with this interpreter.
COMMAND = [sys.executable, "-c", "from mockagent._entry import main; main()"]
SAFETY = 60.0  # real seconds: a bound on a command that should finish (or start) promptly
# What `serve` runs by default (--loop auto): uvloop wherever it is installed, as it is on CPython off Windows.
DEFAULT_LOOP = "uvloop" if importlib.util.find_spec("uvloop") is not None else "asyncio"

GOOD = """\
agents:
  - id: alpha
    script:
      - say: "alpha here"
  - id: beta
    script:
      - say: "beta here"
"""
BROKEN = """\
agents:
  - id: alpha
    scirpt:
      - say: "alpha here"
"""


def mockagent(*args: str | Path, cwd: Path = ROOT) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [*COMMAND, *map(str, args)], capture_output=True, text=True, timeout=SAFETY, cwd=cwd, check=False
    )


def test_the_console_script_is_the_entry_point_this_suite_runs() -> None:
    (script,) = entry_points(group="console_scripts", name="mockagent")
    assert script.value == "mockagent._entry:main"


def test_version() -> None:
    result = mockagent("--version")
    assert result.returncode == 0
    assert result.stdout.strip() == "mockagent, version 0.1.0"


def test_platforms_lists_the_five() -> None:
    result = mockagent("platforms")
    assert result.returncode == 0, result.stderr
    rows = [line.split() for line in result.stdout.splitlines()]
    assert [row[0] for row in rows] == ["beeos", "agentos", "xpander", "zeus", "aster"]
    assert [row[-1] for row in rows] == [
        "https://openapi.beeos.ai",
        "https://agentos-ai.dev",
        "https://api.xpander.ai",
        "https://zeus-api.agentspro.cn",
        "https://www.asteragents.com/api",
    ]


# ── validate ─────────────────────────────────────────────────────────────────────────────────────────


def test_validate_a_good_file(tmp_path: Path) -> None:
    path = tmp_path / "agents.yaml"
    path.write_text(GOOD)
    result = mockagent("validate", path)
    assert result.returncode == 0, result.stderr
    assert result.stdout.strip() == "ok: 2 agents in 1 file"


def test_validate_the_demo_agents_and_a_folder(tmp_path: Path) -> None:
    (tmp_path / "one.yaml").write_text(GOOD)
    (tmp_path / "two.yaml").write_text(GOOD.replace("alpha", "gamma").replace("beta", "delta"))
    assert mockagent("validate", DEMO).stdout.strip() == "ok: 11 agents and 2 stubs in 1 file"
    result = mockagent("validate", tmp_path)
    assert result.returncode == 0, result.stderr
    assert result.stdout.strip() == "ok: 4 agents in 2 files"


def test_validate_a_broken_file_names_the_position(tmp_path: Path) -> None:
    path = tmp_path / "agents.yaml"
    path.write_text(BROKEN)
    result = mockagent("validate", path)
    assert result.returncode != 0
    assert f"{path}:3:5: unknown key 'scirpt'" in result.stderr
    assert "ok:" not in result.stdout


def test_validate_names_the_position_of_a_yaml_syntax_error(tmp_path: Path) -> None:
    path = tmp_path / "agents.yaml"
    path.write_text(GOOD + "  - id: [unclosed\n")
    result = mockagent("validate", path)
    assert result.returncode != 0
    line = next(line for line in result.stderr.splitlines() if str(path) in line)
    line_no, col, _ = line.split(f"{path}:", 1)[1].split(":", 2)
    assert line_no.isdigit()
    assert col.isdigit()


def test_validate_a_file_that_duplicates_an_agent_of_another(tmp_path: Path) -> None:
    (tmp_path / "a.yaml").write_text(GOOD)
    (tmp_path / "b.yaml").write_text(GOOD)
    result = mockagent("validate", tmp_path / "a.yaml", tmp_path / "b.yaml")
    assert result.returncode != 0
    assert f"{tmp_path / 'b.yaml'}:2:5: agent 'alpha' is already declared at {tmp_path / 'a.yaml'}:2:5" in result.stderr


def test_validate_checks_cassettes_and_names_every_broken_one(tmp_path: Path) -> None:
    cassettes = tmp_path / "cassettes"
    cassettes.mkdir()
    (cassettes / "good.yaml").write_text("interactions: []\nversion: 1\n")
    assert mockagent("validate", "--cassettes", cassettes).stdout.strip() == "ok: 1 cassette"
    (cassettes / "a.yaml").write_text("version: 1\ninteractions:\n- request: {method: POST, uri: 5}\n")
    (cassettes / "b.yaml").write_text("version: 2\ninteractions: []\n")
    result = mockagent("validate", DEMO, "--cassettes", cassettes)
    assert result.returncode == 1
    assert f"{cassettes / 'a.yaml'}:3:" in result.stderr
    assert f"{cassettes / 'b.yaml'}:1:10: only cassette format version 1 is understood" in result.stderr
    assert result.stderr.splitlines()[-1] == "Error: 2 problems in the scenario files and cassettes"


def test_validate_needs_an_existing_path(tmp_path: Path) -> None:
    result = mockagent("validate", tmp_path / "missing.yaml")
    assert result.returncode == 2  # click's usage error
    assert "does not exist" in result.stderr
    assert mockagent("validate").returncode == 2


# ── init ─────────────────────────────────────────────────────────────────────────────────────────────

STARTED = ["scenarios/agents.yaml", "scenarios/scenario.schema.json", "tests/test_agents.py"]


def test_init_starts_a_project_whose_scenarios_validate_and_whose_test_passes(tmp_path: Path) -> None:
    project = tmp_path / "project"
    result = mockagent("init", project)
    assert result.returncode == 0, result.stderr
    assert result.stdout.splitlines() == [
        *(f"wrote {project / name}" for name in STARTED),
        f"next (in {project}):",
        "  mockagent serve scenarios/ --watch   # serve the agents; each save reloads them",
        "  pytest                               # run tests/test_agents.py against them",
    ]
    scenario = project / "scenarios" / "agents.yaml"
    # Editors with a YAML language server find the schema by the first line, offline, beside the file.
    assert scenario.read_text().splitlines()[0] == "# yaml-language-server: $schema=scenario.schema.json"
    assert json.loads((scenario.parent / "scenario.schema.json").read_text())["title"] == "mockagent scenario file"

    checked = mockagent("validate", "scenarios/", cwd=project)
    assert checked.returncode == 0, checked.stderr
    assert checked.stdout.strip() == "ok: 2 agents in 1 file"

    # The test it wrote passes, run as its user would run it: `pytest` in the project, with this mockagent's
    # plugin, warnings as errors (the asyncio plugins of this suite's environment are not the user's).
    plugins = ["-p", "no:cacheprovider", "-p", "no:asyncio", "-p", "no:aiohttp"]
    tested = subprocess.run(
        [sys.executable, "-m", "pytest", "-q", "-W", "error", *plugins],
        capture_output=True,
        text=True,
        timeout=SAFETY,
        cwd=project,
        check=False,
    )
    assert tested.returncode == 0, tested.stdout + tested.stderr
    assert tested.stdout.splitlines()[-1].startswith("2 passed in ")


def test_init_writes_here_by_default_and_overwrites_nothing_without_force(tmp_path: Path) -> None:
    assert mockagent("init", cwd=tmp_path).returncode == 0
    assert "next:" in mockagent("init", "--force", cwd=tmp_path).stdout
    scenario = tmp_path / "scenarios" / "agents.yaml"
    scenario.write_text(GOOD)
    (tmp_path / "tests" / "test_agents.py").unlink()

    refused = mockagent("init", cwd=tmp_path)
    assert refused.returncode == 1
    assert refused.stderr.strip() == (
        "Error: not overwriting scenarios/agents.yaml, scenarios/scenario.schema.json (--force overwrites)"
    )
    assert scenario.read_text() == GOOD
    assert not (tmp_path / "tests" / "test_agents.py").exists()

    assert mockagent("init", ".", "--force", cwd=tmp_path).returncode == 0
    assert scenario.read_text().startswith("# yaml-language-server:")
    assert (tmp_path / "tests" / "test_agents.py").exists()


# ── serve ────────────────────────────────────────────────────────────────────────────────────────────


@contextlib.asynccontextmanager
async def serving(
    *args: str | Path, env: dict[str, str] | None = None
) -> AsyncIterator[tuple[asyncio.subprocess.Process, list[str]]]:
    """`mockagent serve ARGS`, once its banner is out (the banner lines are yielded); killed if left running."""
    process = await asyncio.create_subprocess_exec(
        *COMMAND,
        "serve",
        *map(str, args),
        cwd=ROOT,
        stdout=asyncio.subprocess.PIPE,
        stderr=asyncio.subprocess.PIPE,
        env={**os.environ, **(env or {})},
    )
    assert process.stdout is not None
    banner: list[str] = []
    try:
        while not banner or not banner[-1].endswith("Ctrl-C to stop"):
            line = await asyncio.wait_for(process.stdout.readline(), SAFETY)
            if not line:
                stderr = await process.stderr.read() if process.stderr else b""
                raise AssertionError(f"serve ended before its banner: {banner} {stderr.decode()}")
            banner.append(line.decode().rstrip("\n"))
        yield process, banner
    finally:
        if process.returncode is None:
            process.kill()
            await process.wait()


def url_of(banner: Sequence[str]) -> str:
    first = banner[0]
    assert first.startswith("mockagent 0.1.0 listening on http://127.0.0.1:")
    return first.split(" listening on ", 1)[1].split()[0]


async def test_serve_prints_its_banner_answers_and_stops_on_ctrl_c() -> None:
    async with serving("--port", "0") as (process, banner):
        url = url_of(banner)
        port = int(url.rsplit(":", 1)[1])
        assert port > 0
        assert banner[0].endswith(f"(speed 1x, {DEFAULT_LOOP} loop)")
        assert [line.split()[0] for line in banner[1:6]] == ["BeeOS", "AgentOS", "xpander.ai", "Zeus", "Aster"]
        assert banner[1].split()[-1] == f"{url}/beeos"
        assert banner[6].strip().startswith("agents: ")
        assert "echo" in banner[6]
        assert banner[-2].strip() == f"web page: {url}/__mockagent/ui"
        async with httpx.AsyncClient(timeout=SAFETY) as client:
            assert (await client.get(f"{url}/__mockagent/ui")).headers["Content-Type"].startswith("text/html")
            health = await client.get(f"{url}/__mockagent/health")
            assert health.status_code == 200
            assert health.json()["status"] == "ok"
            echo = await client.post(
                f"{url}/beeos/api/v1/agents/echo/invoke",
                json={"message": "hi"},
                headers={"Authorization": "Bearer oag_" + "a" * 64},
            )
            assert echo.json()["data"]["text"] == "Echo: hi"

        process.send_signal(signal.SIGINT)
        assert await asyncio.wait_for(process.wait(), SAFETY) == 0
        assert process.stdout is not None
        assert (await process.stdout.read()).decode().strip() == "mockagent stopped."
        assert process.stderr is not None
        assert "Traceback" not in (await process.stderr.read()).decode()

    # Stopped means no longer listening.
    with pytest.raises(httpx.ConnectError):
        httpx.get(f"{url}/__mockagent/health", timeout=SAFETY)


@pytest.mark.parametrize(("args", "loop"), [((), DEFAULT_LOOP), (("--loop", "asyncio"), "asyncio")])
async def test_serve_says_which_event_loop_runs_it_and_answers_on_either(args: tuple[str, ...], loop: str) -> None:
    async with serving("--port", "0", *args) as (process, banner):
        url = url_of(banner)
        assert banner[0].endswith(f"(speed 1x, {loop} loop)")
        beeos = {"Authorization": "Bearer oag_" + "a" * 64}
        async with httpx.AsyncClient(base_url=url, timeout=SAFETY) as client:
            stats = (await client.get("/__mockagent/stats")).json()
            assert stats["loop"] == loop
            assert stats["connections"] == 1
            echo = await client.post("/beeos/api/v1/agents/echo/invoke", json={"message": "hi"}, headers=beeos)
            assert echo.json()["data"]["text"] == "Echo: hi"
            streamed = await client.post(
                "/beeos/api/v1/agents/echo/invoke",
                json={"message": "hi"},
                headers={**beeos, "Accept": "text/event-stream"},
            )
            assert streamed.status_code == 200
            assert streamed.headers["content-type"].startswith("text/event-stream")
            assert "Echo" in streamed.text
        process.send_signal(signal.SIGTERM)
        assert await asyncio.wait_for(process.wait(), SAFETY) == 0
        assert process.stderr is not None
        assert (await process.stderr.read()).decode() == ""


# The command where uvloop does not import (Windows, PyPy): a None in sys.modules makes its import fail.
WITHOUT_UVLOOP = [
    sys.executable,
    "-c",
    "import sys; sys.modules['uvloop'] = None; from mockagent._entry import main; main()",
]


def test_serve_without_uvloop_runs_on_asyncio_and_refuses_loop_uvloop() -> None:
    refused = subprocess.run(
        [*WITHOUT_UVLOOP, "serve", "--port", "0", "--loop", "uvloop"], capture_output=True, text=True, timeout=SAFETY
    )
    assert refused.returncode == 2
    assert "--loop" in refused.stderr
    assert "uvloop does not import here" in refused.stderr
    with subprocess.Popen(
        [*WITHOUT_UVLOOP, "serve", "--port", "0"], stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True
    ) as process:
        try:
            assert process.stdout is not None
            banner = [process.stdout.readline().rstrip()]
            while not banner[-1].endswith("Ctrl-C to stop"):  # then it stops on SIGTERM
                banner.append(process.stdout.readline().rstrip())
            assert banner[0].endswith("(speed 1x, asyncio loop)")
        finally:
            process.send_signal(signal.SIGTERM)
            assert process.wait(timeout=SAFETY) == 0


def test_serve_refuses_a_loop_it_does_not_know() -> None:
    result = mockagent("serve", "--port", "0", "--loop", "trio")
    assert result.returncode == 2
    assert "--loop" in result.stderr


def _jwt(claims: dict[str, str]) -> str:
    def part(value: dict[str, str]) -> str:
        return base64.urlsafe_b64encode(json.dumps(value).encode()).rstrip(b"=").decode()

    return f"{part({'alg': 'RS256', 'typ': 'JWT'})}.{part(claims)}.c2ln"


# A stream of the `timeout` demo agent (an hour of work) on each platform: (path, headers, body).
HOUR_LONG_STREAMS = {
    "beeos": (
        "/beeos/api/v1/agents/timeout/invoke",
        {"Authorization": "Bearer oag_" + "a" * 64, "Accept": "text/event-stream"},
        {"message": "hi"},
    ),
    "agentos": (
        "/agentos/api/v1/agents/timeout/invoke",
        {"Authorization": "Bearer aos_ws_test"},
        {"message": "hi", "stream": True},
    ),
    "xpander": (
        "/xpander/v1/agents/timeout/invoke/stream",
        {"x-api-key": "key-1"},
        {"input": {"text": "hi", "user": {"id": "u-1", "email": "ada@example.com"}}},
    ),
    "zeus": (
        "/zeus/api/agent/invoke?agent=timeout",
        {"Authorization": f"Bearer {_jwt({'sub': 'user_1'})}"},
        {"message": "hi", "llm_config": {"baseUrl": "https://api.openai.com/v1", "apiKey": "k", "modelName": "m"}},
    ),
    "aster": (
        "/aster/api/chat",
        {"Authorization": f"Bearer {_jwt({'sub': 'user_1', 'org_id': 'org_1'})}"},
        {"agentId": 7, "message": {"role": "user", "parts": [{"type": "text", "text": "hi"}]}},
    ),
}


def _data_lines(stream: str) -> list[str]:
    return [line.removeprefix("data: ") for line in stream.splitlines() if line.startswith("data: ")]


@pytest.mark.parametrize("signum", [signal.SIGINT, signal.SIGTERM], ids=["SIGINT", "SIGTERM"])
async def test_serve_stops_on_a_signal_ending_every_open_stream_as_cancelled(signum: signal.Signals) -> None:
    async with serving("--port", "0") as (process, banner):
        url = url_of(banner)
        async with httpx.AsyncClient(base_url=url, timeout=SAFETY) as client, contextlib.AsyncExitStack() as stack:
            streams = {
                key: await stack.enter_async_context(client.stream("POST", path, headers=headers, json=body))
                for key, (path, headers, body) in HOUR_LONG_STREAMS.items()
            }
            assert {key: response.status_code for key, response in streams.items()} == dict.fromkeys(streams, 200)
            process.send_signal(signum)
            # Each stream ends the way its platform ends a cancelled run, and the response ends cleanly
            # (a cut chunked body would raise here).
            ends = {key: _data_lines((await response.aread()).decode()) for key, response in streams.items()}
        assert await asyncio.wait_for(process.wait(), SAFETY) == 0
        assert process.stdout is not None
        assert process.stderr is not None
        assert (await process.stdout.read()).decode().strip() == "mockagent stopped."
        assert "Traceback" not in (await process.stderr.read()).decode()

    beeos_done = json.loads(ends["beeos"][-1])
    assert (beeos_done["type"], beeos_done["is_error"], beeos_done["code"]) == ("done", True, "canceled")
    assert json.loads(ends["agentos"][-1]) == {
        "type": "error",
        "code": "CANCELLED",
        "message": "The run was cancelled: the server is stopping.",
    }
    xpander_finished = json.loads(ends["xpander"][-1])
    assert (xpander_finished["type"], xpander_finished["data"]["status"]) == ("task_finished", "stopped")
    assert json.loads(ends["zeus"][-1]) == {
        "type": "error",
        "error": "The run was cancelled",
        "error_code": "cancelled",
    }
    assert ends["aster"][-2:] == ['{"type":"abort"}', "[DONE]"]


async def test_serve_one_platform_at_the_root_with_my_scenarios(tmp_path: Path) -> None:
    path = tmp_path / "agents.yaml"
    path.write_text(GOOD)
    async with serving(path, "--port", "0", "--platform", "beeos", "--speed", "10") as (process, banner):
        url = url_of(banner)
        assert banner[0].endswith(f"(speed 10x, {DEFAULT_LOOP} loop)")
        assert banner[1].split() == ["BeeOS", url]
        assert banner[2].strip() == "agents: alpha, beta"
        async with httpx.AsyncClient(timeout=SAFETY) as client:
            assert (await client.get(f"{url}/__mockagent/health")).json()["platforms"] == ["beeos"]
            answer = await client.post(
                f"{url}/api/v1/agents/beta/invoke",
                json={"message": "hi"},
                headers={"Authorization": "Bearer oag_" + "a" * 64},
            )
            assert answer.json()["data"]["text"] == "beta here"
        process.send_signal(signal.SIGINT)
        assert await asyncio.wait_for(process.wait(), SAFETY) == 0


def free_port_held() -> socket.socket:
    """A loopback port that is bound and listening (so nobody else can bind it)."""
    sock = socket.socket()
    sock.bind(("127.0.0.1", 0))
    sock.listen()
    return sock


def test_serve_a_broken_file_fails_before_binding(tmp_path: Path) -> None:
    path = tmp_path / "agents.yaml"
    path.write_text(BROKEN)
    # The port is taken: a server that bound first would fail on the port, not on the file.
    with free_port_held() as held:
        port = held.getsockname()[1]
        result = mockagent("serve", path, "--port", str(port))
    assert result.returncode != 0
    assert f"{path}:3:5: unknown key 'scirpt'" in result.stderr
    assert "cannot listen" not in result.stderr
    assert "Traceback" not in result.stderr
    assert "listening on" not in result.stdout


def test_serve_on_a_port_in_use_says_so(tmp_path: Path) -> None:
    path = tmp_path / "agents.yaml"
    path.write_text(GOOD)
    with free_port_held() as held:
        port = held.getsockname()[1]
        result = mockagent("serve", path, "--port", str(port))
    assert result.returncode != 0
    assert f"cannot listen on 127.0.0.1:{port}" in result.stderr
    assert "Traceback" not in result.stderr


@pytest.mark.parametrize(
    ("args", "complaint"),
    [
        (["--speed", "0"], "--speed"),
        (["--chaos", "2"], "--chaos"),
        (["--platform", "nowhere"], "--platform"),
        (["--fault", "not-a-fault"], "not-a-fault"),
        (["--rate-limit", "lots"], "lots"),
        (["--port", "99999"], "--port"),
        (["--port", "-1"], "--port"),
        (["--manual-clock", "--speed", "2"], "--speed"),
        (["--watch"], "--watch watches SCENARIO_PATHS"),
    ],
)
def test_serve_refuses_bad_options_before_binding(args: list[str], complaint: str) -> None:
    result = mockagent("serve", "--port", "0", *args)
    assert result.returncode == 2
    assert complaint in result.stderr
    assert "Traceback" not in result.stderr
    assert "listening on" not in result.stdout


async def test_serve_watch_reloads_a_good_edit_and_keeps_serving_through_a_broken_one(tmp_path: Path) -> None:
    path = tmp_path / "agents.yaml"
    path.write_text(GOOD)
    async with serving(path, "--port", "0", "--watch") as (process, banner):
        assert process.stderr is not None
        stderr = process.stderr

        async def log_until(last: str) -> list[str]:
            """The lines the server logs up to the one starting with `last` (each edit is one reload)."""
            lines: list[str] = []
            while not lines or not lines[-1].startswith(last):
                line = (await asyncio.wait_for(stderr.readline(), SAFETY)).decode()
                assert line, f"serve ended: {lines}"
                lines.append(line.rstrip("\n"))
            return lines

        url = url_of(banner)
        assert banner[7] == f"  watching: {path} (a change reloads them)"
        async with httpx.AsyncClient(base_url=f"{url}/beeos/api/v1/agents", timeout=SAFETY) as client:
            auth = {"Authorization": "Bearer oag_" + "a" * 64}
            (tmp_path / "draft").write_text(GOOD.replace("beta here", "beta again"))
            (tmp_path / "draft").replace(path)  # an editor's save: a new file renamed over the old one
            assert await log_until("INFO reloaded") == ["INFO reloaded: 2 agents from 1 file"]
            reply = await client.post("/beta/invoke", json={"message": "hi"}, headers=auth)
            assert reply.json()["data"]["text"] == "beta again"

            (tmp_path / "draft").write_text(BROKEN)
            (tmp_path / "draft").replace(path)
            problem, outcome = await log_until("WARNING reload failed")
            assert problem.startswith(f"WARNING {path}:3:5: unknown key 'scirpt'")
            assert outcome == "WARNING reload failed (1 problem): keeping the previous scenarios"
            reply = await client.post("/beta/invoke", json={"message": "hi"}, headers=auth)
            assert reply.json()["data"]["text"] == "beta again"

        process.send_signal(signal.SIGTERM)
        assert await asyncio.wait_for(process.wait(), SAFETY) == 0
        assert process.stdout is not None
        assert (await process.stdout.read()).decode().strip() == "mockagent stopped."
        assert "Traceback" not in (await stderr.read()).decode()


async def test_serve_with_a_manual_clock_moves_only_when_advanced() -> None:
    async with serving("--port", "0", "--manual-clock") as (process, banner):
        url = url_of(banner)
        assert banner[0].endswith(f"(manual clock, {DEFAULT_LOOP} loop)")
        beeos = {"Authorization": "Bearer oag_" + "a" * 64}
        async with httpx.AsyncClient(base_url=url, timeout=SAFETY) as client:
            assert (await client.get("/__mockagent/clock")).json()["manual"] is True
            tasks = "/beeos/api/v1/agents/slow/tasks"
            task_id = (await client.post(tasks, json={"message": "go"}, headers=beeos)).json()["data"]["task_id"]
            assert (await client.get(f"{tasks}/{task_id}", headers=beeos)).json()["data"]["status"] == "queued"
            advanced = await client.post("/__mockagent/clock/advance", json={"seconds": 3.5})
            assert advanced.json()["now"] == 3.5
            done = (await client.get(f"{tasks}/{task_id}", headers=beeos)).json()["data"]
            assert (done["status"], done["result"]) == ("completed", {"text": "Done after a while."})
        process.send_signal(signal.SIGTERM)
        assert await asyncio.wait_for(process.wait(), SAFETY) == 0


async def test_serve_verbose_logs_one_line_per_request_and_no_secret() -> None:
    key = "oag_" + "5ec7e7" * 10 + "abcd"
    secret = "my-secret-message"
    async with serving("--port", "0", "-v") as (process, banner):
        url = url_of(banner)
        async with httpx.AsyncClient(base_url=url, timeout=SAFETY) as client:
            headers = {"Authorization": f"Bearer {key}", "X-Mockagent-Session": "alice", "X-Api-Key": key}
            invoke = "/beeos/api/v1/agents/echo/invoke"
            assert (await client.post(invoke, json={"message": secret}, headers=headers)).status_code == 200
            streamed = await client.post(
                invoke, json={"message": secret}, headers={**headers, "Accept": "text/event-stream"}
            )
            assert secret in streamed.text
            refused = await client.post(f"{invoke}?token={key}", json={"message": secret}, headers={"X-Api-Key": key})
            assert refused.status_code == 401
            assert (await client.get("/__mockagent/health", headers=headers)).status_code == 200
        process.send_signal(signal.SIGTERM)
        assert await asyncio.wait_for(process.wait(), SAFETY) == 0
        assert process.stderr is not None
        log = (await process.stderr.read()).decode()

    lines = log.splitlines()
    assert len(lines) == 4, log
    fields = [line.split() for line in lines]
    assert [line[:4] for line in fields] == [
        ["INFO", "POST", invoke, "200"],
        ["INFO", "POST", invoke, "200"],
        ["INFO", "POST", invoke, "401"],
        ["INFO", "GET", "/__mockagent/health", "200"],
    ]
    for line in fields:
        float(line[4])  # the duration
        assert line[5] == "ms"
    assert [line[6:] for line in fields] == [
        ["session=alice", "agent=echo"],
        ["session=alice", "agent=echo"],
        ["session=default", "agent=-"],
        ["session=-", "agent=-"],
    ]
    assert key not in log
    assert key[4:20] not in log
    assert secret not in log


# ── the admin API's access (docs/admin.md) ───────────────────────────────────────────────────────────


def test_serve_beyond_loopback_without_an_admin_token_refuses_to_start() -> None:
    result = mockagent("serve", "--host", "0.0.0.0", "--port", "0")
    assert result.returncode == 2
    assert "--admin-token or MOCKAGENT_ADMIN_TOKEN" in result.stderr
    assert "--no-admin" in result.stderr
    assert "listening on" not in result.stdout
    assert "Traceback" not in result.stderr


async def test_serve_takes_its_admin_token_from_the_environment() -> None:
    token = "from-the-environment-0123"
    async with serving("--port", "0", env={"MOCKAGENT_ADMIN_TOKEN": token}) as (process, banner):
        url = url_of(banner)
        assert banner[-2].strip().startswith("admin API: token required")
        assert token not in "\n".join(banner)
        async with httpx.AsyncClient(base_url=url, timeout=SAFETY) as client:
            assert (await client.get("/__mockagent/journal")).status_code == 401
            authorized = {"Authorization": f"Bearer {token}"}
            assert (await client.get("/__mockagent/journal", headers=authorized)).status_code == 200
            assert (await client.get("/__mockagent/health")).status_code == 200
        process.send_signal(signal.SIGTERM)
        assert await asyncio.wait_for(process.wait(), SAFETY) == 0


async def test_serve_beyond_loopback_without_the_admin_api_warns() -> None:
    async with serving("--host", "0.0.0.0", "--port", "0", "--no-admin") as (process, banner):
        assert banner[-1].strip().startswith("admin API: off")
        port = banner[0].split(" listening on ", 1)[1].split()[0].rsplit(":", 1)[1]
        async with httpx.AsyncClient(base_url=f"http://127.0.0.1:{port}", timeout=SAFETY) as client:
            assert (await client.get("/__mockagent/health")).status_code == 404
        process.send_signal(signal.SIGTERM)
        assert await asyncio.wait_for(process.wait(), SAFETY) == 0
        assert process.stderr is not None
        warning = (await process.stderr.read()).decode()
    assert warning.startswith("warning: serving on 0.0.0.0 to anyone who can reach it")
