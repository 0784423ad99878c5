"""Reloading on change (`serve --watch`, mockagent/reloading.py), over loopback HTTP: a good edit is served
from the next request, a broken one is logged with its path:line:col and the previous scenarios serve on,
and a run keeps the script it started with — a stream in flight and a paused task finish the old script.

Nothing waits on the wall clock: each test waits for the server's own reload log line (bounded by SAFETY),
which is written once the new scenarios are swapped in (or refused)."""

from __future__ import annotations

import asyncio
import logging
import os
import time
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import aiohttp
import pytest
from sse import json_frames

from mockagent.reloading import log as reload_log
from mockagent.server import MockServer
from mockagent.settings import Settings

SAFETY = 30.0  # real seconds: a bound on what should happen promptly, never a measurement
AUTH = {"Authorization": "Bearer oag_" + "0123456789abcdef" * 4}
STREAM = {**AUTH, "Accept": "text/event-stream"}

ALPHA = "agents:\n  - id: alpha\n    script: [{say: alpha here}]\n"
GROWN = ALPHA + "  - id: beta\n    script: [{say: beta here}]\n"
BROKEN = "agents:\n  - id: alpha\n    scirpt: [{say: alpha here}]\n"


def replace(path: Path, text: str) -> None:
    """Write `path` as most editors save: a new file renamed over the old one, so no reload reads half of it."""
    draft = path.with_name(path.name + ".draft")
    draft.write_text(text)
    os.replace(draft, path)


class ReloadLog(logging.Handler):
    """The server's reload log (same event loop as the test), line by line as it is written."""

    def __init__(self) -> None:
        super().__init__(logging.INFO)
        self.lines: asyncio.Queue[str] = asyncio.Queue()

    def emit(self, record: logging.LogRecord) -> None:
        self.lines.put_nowait(record.getMessage())

    async def outcome(self) -> list[str]:
        """The lines of the next reload: its problems (if any), then the line that says how it ended."""
        lines: list[str] = []
        async with asyncio.timeout(SAFETY):
            while not lines or not lines[-1].startswith(("reloaded: ", "reload failed ")):
                lines.append(await self.lines.get())
        return lines


@pytest.fixture
async def reloads() -> AsyncIterator[ReloadLog]:
    handler = ReloadLog()
    level = reload_log.level
    reload_log.addHandler(handler)
    reload_log.setLevel(logging.INFO)
    try:
        yield handler
    finally:
        reload_log.removeHandler(handler)
        reload_log.setLevel(level)


@pytest.fixture
async def http() -> AsyncIterator[aiohttp.ClientSession]:
    async with aiohttp.ClientSession(timeout=aiohttp.ClientTimeout(total=SAFETY)) as session:
        yield session


def watching(*paths: Path, manual_clock: bool = False) -> MockServer:
    return MockServer(Settings(scenario_paths=paths, watch=True, manual_clock=manual_clock))


async def say(server: MockServer, http: aiohttp.ClientSession, agent: str) -> tuple[int, str | None]:
    url = f"{server.base_url('beeos')}/api/v1/agents/{agent}/invoke"
    async with http.post(url, json={"message": "hi"}, headers=AUTH) as response:
        body = await response.json()
        return response.status, body["data"]["text"] if response.status == 200 else None


async def test_a_good_edit_is_served_from_the_next_request(
    tmp_path: Path, reloads: ReloadLog, http: aiohttp.ClientSession
) -> None:
    path = tmp_path / "agents.yaml"
    path.write_text(ALPHA)
    async with watching(path) as server:
        assert await say(server, http, "beta") == (404, None)
        replace(path, GROWN)
        assert await reloads.outcome() == ["reloaded: 2 agents from 1 file"]
        assert await say(server, http, "beta") == (200, "beta here")
        assert await say(server, http, "alpha") == (200, "alpha here")

        # Written in place (truncated, then written), as some editors do, it is seen too.
        path.write_text(GROWN.replace("beta here", "beta again"))
        while (await reloads.outcome())[-1] != "reloaded: 2 agents from 1 file":
            pass  # a reload may have caught the file between its truncation and its writing; the next one not
        assert await say(server, http, "beta") == (200, "beta again")


async def test_a_broken_edit_is_logged_and_the_previous_scenarios_serve_on(
    tmp_path: Path, reloads: ReloadLog, http: aiohttp.ClientSession
) -> None:
    path = tmp_path / "agents.yaml"
    path.write_text(ALPHA)
    async with watching(path) as server:
        replace(path, BROKEN)
        problems = await reloads.outcome()
        assert problems[0].startswith(f"{path}:3:5: unknown key 'scirpt'")
        assert problems[-1] == "reload failed (1 problem): keeping the previous scenarios"
        assert await say(server, http, "alpha") == (200, "alpha here")

        # The file fixed, it is served again.
        replace(path, GROWN)
        assert await reloads.outcome() == ["reloaded: 2 agents from 1 file"]
        assert await say(server, http, "beta") == (200, "beta here")


async def test_a_deleted_file_keeps_the_previous_scenarios_until_it_is_back(
    tmp_path: Path, reloads: ReloadLog, http: aiohttp.ClientSession
) -> None:
    path = tmp_path / "agents.yaml"
    path.write_text(ALPHA)
    async with watching(path) as server:
        path.unlink()
        lines = await reloads.outcome()
        assert str(path) in lines[0]
        assert lines[-1].endswith("keeping the previous scenarios")
        assert await say(server, http, "alpha") == (200, "alpha here")
        replace(path, GROWN)
        assert await reloads.outcome() == ["reloaded: 2 agents from 1 file"]


async def test_a_folder_is_watched_with_everything_below_it(
    tmp_path: Path, reloads: ReloadLog, http: aiohttp.ClientSession
) -> None:
    folder = tmp_path / "scenarios"
    (folder / "team").mkdir(parents=True)
    replace(folder / "one.yaml", ALPHA)
    async with watching(folder) as server:
        # A file that is no scenario file (a note, an editor's backup) is no reason to reload.
        (folder / "notes.txt").write_text("to do")
        (folder / "one.yaml~").write_text(ALPHA)
        replace(folder / "team" / "two.yml", "agents:\n  - id: gamma\n    script: [{say: gamma here}]\n")
        assert await reloads.outcome() == ["reloaded: 2 agents from 2 files"]
        assert await say(server, http, "gamma") == (200, "gamma here")

        # Emptied, the folder is an error like any other.
        (folder / "one.yaml").unlink()
        (folder / "team" / "two.yml").unlink()
        while not (lines := await reloads.outcome())[-1].startswith("reload failed"):
            pass  # the first deletion alone may have been reloaded
        assert lines[0] == f"{folder}: no scenario files (*.yaml, *.yml) in it"
        assert await say(server, http, "gamma") == (200, "gamma here")
        assert await say(server, http, "alpha") == (200, "alpha here")


async def test_polling_works_where_file_events_do_not(
    tmp_path: Path, reloads: ReloadLog, http: aiohttp.ClientSession, monkeypatch: pytest.MonkeyPatch
) -> None:
    # watchfiles' own switch, for file systems without change events (network mounts, some Docker volumes).
    monkeypatch.setenv("WATCHFILES_FORCE_POLLING", "1")
    path = tmp_path / "agents.yaml"
    path.write_text(ALPHA)
    # Polling tells a change by the modification time in whole seconds: an edit within the second the file
    # was written would look like no change, so the file is dated an hour back.
    an_hour_ago = time.time() - 3600
    os.utime(path, (an_hour_ago, an_hour_ago))
    async with watching(path) as server:
        replace(path, GROWN)
        assert await reloads.outcome() == ["reloaded: 2 agents from 1 file"]
        assert await say(server, http, "beta") == (200, "beta here")


# ── runs keep their script ───────────────────────────────────────────────────────────────────────────

PACED = """\
agents:
  - id: alpha
    pace: {first_frame: 1, interval: 1, chunk: words}
    script: [{say: "old words here"}]
"""
QUESTION = """\
agents:
  - id: deploy
    script:
      - ask: {question: "Which environment?", options: [staging, production]}
      - say: "Deploying to {{ answer }}."
"""


async def test_a_stream_in_flight_finishes_with_the_script_it_started(
    tmp_path: Path, reloads: ReloadLog, http: aiohttp.ClientSession
) -> None:
    path = tmp_path / "agents.yaml"
    path.write_text(PACED)
    async with watching(path, manual_clock=True) as server:
        url = f"{server.base_url('beeos')}/api/v1/agents/alpha/invoke"
        pending = asyncio.ensure_future(http.post(url, json={"message": "hi"}, headers=STREAM))
        await asyncio.wait_for(server.until_waiting(), SAFETY)
        await server.advance(1)
        async with await pending as stream:
            first = await stream.content.readuntil(b"\n\n")
            assert json_frames(first.decode()) == [{"type": "delta", "text": "old "}]

            replace(path, PACED.replace("old words here", "new words"))
            assert await reloads.outcome() == ["reloaded: 1 agent from 1 file"]
            await server.advance(10)
            frames = json_frames((await stream.content.read()).decode())
        assert frames[-1]["type"] == "done"
        assert frames[-1]["text"] == "old words here"

        # A new request is served the new script.
        again = asyncio.ensure_future(say(server, http, "alpha"))
        await asyncio.wait_for(server.until_waiting(), SAFETY)
        await server.advance(10)
        assert await again == (200, "new words")


async def test_a_paused_task_continues_the_script_it_started(
    tmp_path: Path, reloads: ReloadLog, http: aiohttp.ClientSession
) -> None:
    path = tmp_path / "agents.yaml"
    path.write_text(QUESTION)
    async with watching(path, manual_clock=True) as server:
        tasks = f"{server.base_url('beeos')}/api/v1/agents/deploy/tasks"

        async def paused() -> str:
            async with http.post(tasks, json={"message": "deploy"}, headers=AUTH) as created:
                task_id: str = (await created.json())["data"]["task_id"]
            await server.advance(1)  # out of the queue, and asking
            assert (await task(task_id))["status"] == "input_required"
            return task_id

        async def task(task_id: str) -> dict[str, Any]:
            async with http.get(f"{tasks}/{task_id}", headers=AUTH) as response:
                data: dict[str, Any] = (await response.json())["data"]
                return data

        async def answered(task_id: str) -> dict[str, Any]:
            body = {"input": {"text": "staging"}}
            async with http.post(f"{tasks}/{task_id}/continue", json=body, headers=AUTH) as response:
                assert response.status == 200, await response.text()
            await server.advance(1)
            return await task(task_id)

        started = await paused()
        replace(path, QUESTION.replace("Deploying to", "Shipping to"))
        assert await reloads.outcome() == ["reloaded: 1 agent from 1 file"]

        done = await answered(started)
        assert (done["status"], done["result"]) == ("completed", {"text": "Deploying to staging."})
        done = await answered(await paused())
        assert (done["status"], done["result"]) == ("completed", {"text": "Shipping to staging."})


async def test_the_watcher_stops_with_the_server(tmp_path: Path) -> None:
    path = tmp_path / "agents.yaml"
    path.write_text(ALPHA)
    async with watching(path):
        assert [task for task in asyncio.all_tasks() if task.get_name() == "mockagent watch"]
    assert not [task for task in asyncio.all_tasks() if task.get_name() == "mockagent watch"]
