"""The live event feed (GET /__mockagent/events): requests received and answered, each run's events at their
clock moments, pauses, ends and session resets; filtered by session; a reconnect given what it missed."""

from __future__ import annotations

import asyncio
import json
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import aiohttp
import pytest
from admin_contract import check_frames
from credentials import BEEOS

from mockagent.server import MockServer
from mockagent.settings import Settings

SCENARIOS = Path("tests/scenarios/journal.yaml")
SAFETY = 30.0  # real seconds: a bound on what must happen, never a measurement


@pytest.fixture
async def server() -> AsyncIterator[MockServer]:
    async with MockServer(Settings(scenario_paths=(SCENARIOS,), with_builtin=True, manual_clock=True)) as started:
        yield started


class Feed:
    """A client of the feed: its events, in order, as they arrive."""

    def __init__(self, response: aiohttp.ClientResponse) -> None:
        self.response = response
        self.text = ""  # as received, for the check against the admin API's document

    async def next(self) -> tuple[int, str, dict[str, Any]]:
        fields: dict[str, str] = {}
        async with asyncio.timeout(SAFETY):
            while True:
                raw = (await self.response.content.readline()).decode()
                self.text += raw
                line = raw.rstrip("\n")
                if line.startswith(":"):
                    continue
                if not line:
                    if fields:
                        data = json.loads(fields["data"])
                        assert data["type"] == fields["event"]
                        return int(fields["id"]), fields["event"], data
                    continue
                name, _, value = line.partition(": ")
                fields[name] = value

    async def until(self, kind: str) -> list[tuple[int, str, dict[str, Any]]]:
        """The events up to and including the first of `kind`."""
        seen = []
        while True:
            event = await self.next()
            seen.append(event)
            if event[1] == kind:
                return seen


async def subscribe(
    http: aiohttp.ClientSession, server: MockServer, headers: dict[str, str] | None = None, **params: str
) -> Feed:
    response = await http.get(f"{server.url}/__mockagent/events", params=params, headers=headers or {})
    assert response.status == 200
    assert response.headers["Content-Type"] == "text/event-stream"
    assert (await response.content.readline()).startswith(b":")  # open: the first comment has arrived
    return Feed(response)


async def invoke(http: aiohttp.ClientSession, server: MockServer, agent: str, session: str | None = None) -> Any:
    headers = {**BEEOS, **({"X-Mockagent-Session": session} if session else {})}
    url = f"{server.base_url('beeos')}/api/v1/agents/{agent}/invoke"
    async with http.post(url, json={"message": "go"}, headers=headers) as response:
        return await response.json()


async def test_a_run_is_followed_from_its_request_to_its_end(server: MockServer) -> None:
    async with aiohttp.ClientSession() as http:
        feed = await subscribe(http, server)
        call = asyncio.create_task(invoke(http, server, "paced"))
        events = await feed.until("run.started")
        assert [kind for _, kind, _ in events] == ["request.received", "run.started"]
        received = events[0][2]["entry"]
        assert (received["path"], received["state"], received["status"]) == (
            "/beeos/api/v1/agents/paced/invoke",
            "received",
            None,
        )
        assert events[1][2]["run"]["agent"] == "paced"

        await server.until_waiting()
        await server.advance(1)
        _, kind, first = await feed.next()
        assert (kind, first["event"]["type"], first["event"]["text"], first["event"]["at"]) == (
            "run.event",
            "text",
            "one ",
            1.0,
        )  # the word at its moment, not before
        await server.advance(5)
        rest = await feed.until("run.ended")
        if "request.answered" not in [kind for _, kind, _ in rest]:
            rest += await feed.until("request.answered")
        # The blocking answer and the feed are two views of the run, woken by the same clock step: which of
        # them is first to tell is not fixed, but each tells every event in order.
        run_events = [e for _, kind, e in rest if kind.startswith("run.")]
        assert [e["event"]["type"] for e in run_events[:-1]] == ["text", "text", "completed"]
        assert [e["event"]["at"] for e in run_events[:-1]] == [2.0, 3.0, 3.0]
        assert run_events[-1]["run"]["status"] == "completed"
        (answered,) = [e for _, kind, e in rest if kind == "request.answered"]
        assert answered["entry"]["status"] == 200
        ids = [event_id for event_id, _, _ in events + rest]
        assert ids == sorted(ids)
        assert (await call)["data"]["text"] == "one two three"
        assert len(check_frames(feed.text)) == len(events) + 1 + len(rest)  # each frame as the document says
        feed.response.close()


async def test_a_pause_and_a_session_reset_are_in_the_feed(server: MockServer) -> None:
    async with aiohttp.ClientSession() as http:
        feed = await subscribe(http, server, session="watched")
        await invoke(http, server, "counted", session="elsewhere")  # another session's: filtered out
        url = f"{server.base_url('agentos')}/api/v1/agents/approval/invoke"
        headers = {"Authorization": "Bearer aos_ws_t", "X-Mockagent-Session": "watched"}
        started = asyncio.create_task(http.post(url, json={"input": {"query": "mail"}}, headers=headers))
        await server.until_waiting(session="watched")
        await server.advance(1, session="watched")
        assert (await started).status == 202  # AgentOS answers a paused run at once, as accepted
        paused = await feed.until("run.paused")
        assert {e[2]["session"] for e in paused} == {"watched"}
        pause = paused[-1][2]["event"]
        assert (pause["type"], pause["kind"], pause["tool_call"]["name"]) == ("paused", "approval", "send_email")

        async with http.delete(f"{server.url}/__mockagent/sessions/watched") as reset:
            assert reset.status == 200
        events = await feed.until("session.reset")
        assert events[-1][2] == {"type": "session.reset", "session": "watched", "existed": True}
        if "run.ended" not in [kind for _, kind, _ in events]:
            events += await feed.until("run.ended")
        ended = [e for _, kind, e in events if kind == "run.ended"]
        assert [e["run"]["status"] for e in ended] == ["cancelled"]  # the reset cancelled the paused run
        check_frames(feed.text)
        feed.response.close()


async def test_a_reconnect_is_given_what_it_missed(server: MockServer) -> None:
    async with aiohttp.ClientSession() as http:
        watcher = await subscribe(http, server)  # keeps the feed going while the other reconnects
        feed = await subscribe(http, server)
        await invoke(http, server, "counted")
        first = await feed.next()
        feed.response.close()
        await invoke(http, server, "counted")
        await watcher.until("request.answered")
        await watcher.until("request.answered")
        again = await subscribe(http, server, headers={"Last-Event-ID": str(first[0])})
        missed = await again.until("request.answered")
        assert missed[0][0] == first[0] + 1
        assert missed[0][1] == "run.started"
        watcher.response.close()
        again.response.close()


async def test_a_subscriber_that_falls_too_far_behind_is_cut_off(server: MockServer) -> None:
    async with aiohttp.ClientSession() as http:
        lagging = await subscribe(http, server)  # reads nothing until the end
        url = f"{server.base_url('beeos')}/api/v1/agents/chatty/invoke"
        for _ in range(20):  # 20,000 events of about 1 KB: past the 10,000 events and 16 MiB a subscriber may lag
            async with http.post(url, json={"message": "x" * 1_000_000}, headers=BEEOS) as response:
                assert response.status == 200
        async with asyncio.timeout(SAFETY):
            rest = await lagging.response.content.read()  # the stream ends: the server cut it off
        frames = rest.count(b"\nevent: ")
        assert 0 < frames < 20_000
        # The server goes on, and a new subscriber gets the events from now on.
        fresh = await subscribe(http, server)
        async with http.post(url, json={"message": "y"}, headers=BEEOS) as response:
            assert response.status == 200
        assert (await fresh.next())[1] == "request.received"
        fresh.response.close()


async def test_stopping_the_server_ends_the_feed() -> None:
    async with aiohttp.ClientSession() as http:
        server = await MockServer(Settings(manual_clock=True)).start()
        feed = await subscribe(http, server)
        await server.stop()
        async with asyncio.timeout(SAFETY):
            assert (await feed.response.content.read()).strip() == b""  # the stream ended
