"""The journal over the admin API: each request with what decided its answer, its headers and bodies or its
stream's frames with their times, secrets redacted; visible from the moment it is received; kept apart per
session under concurrent load; bounded; paged and filtered; mirrored to a JSON Lines file."""

from __future__ import annotations

import asyncio
import json
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any

import httpx
import pytest
from beeos_client import beeos
from credentials import BEEOS, JWT

from mockagent.server import MockServer, ThreadedMockServer
from mockagent.settings import Settings

SCENARIOS = "tests/scenarios/journal.yaml"
pytestmark = pytest.mark.mockagent(scenarios=[SCENARIOS], manual_clock=True)
SAFETY = 30.0  # real seconds: a bound on what must happen, never a measurement
ZEUS_SECRET = "sk-zeus-journal-secret-0123456789"


def journal(server: ThreadedMockServer | MockServer, **params: Any) -> list[dict[str, Any]]:
    response = httpx.get(f"{server.url}/__mockagent/journal", params=params, timeout=SAFETY)
    assert response.status_code == 200, response.text
    entries: list[dict[str, Any]] = response.json()["entries"]
    return entries


def test_an_entry_holds_the_request_and_the_answer_with_every_secret_redacted(
    mockagent_server: ThreadedMockServer,
) -> None:
    body = {
        "message": "hello",
        "llm_config": {"baseUrl": "https://api.openai.com/v1", "apiKey": ZEUS_SECRET, "modelName": "gpt-4o"},
    }
    streamed = httpx.post(
        f"{mockagent_server.base_url('zeus')}/api/agent/invoke",
        params={"agent": "picky"},
        json={**body, "message": "weather?"},
        headers={"Authorization": f"Bearer {JWT}", "Cookie": "sid=abcdef0123456789abcdef"},
        timeout=SAFETY,
    )
    assert streamed.status_code == 200
    blocking = beeos(mockagent_server, "counted", "hi", headers={"x-api-key": "oag_" + "b" * 64})
    assert blocking.status_code == 200

    zeus, bee = journal(mockagent_server)
    text = json.dumps([zeus, bee])
    for secret in (ZEUS_SECRET, JWT, BEEOS["Authorization"][7:], "b" * 64, "abcdef0123456789abcdef"):
        assert secret not in text  # neither in headers, bodies nor frames
    assert zeus["request"]["headers"]["Authorization"].startswith("Bearer <<secret:")
    assert zeus["request"]["body"]["llm_config"]["apiKey"].startswith("<<secret:")
    assert zeus["request"]["body"]["message"] == "weather?"  # the rest as sent
    assert zeus["query"] == {"agent": "picky"}
    assert (zeus["platform"], zeus["endpoint"], zeus["agent"], zeus["status"], zeus["state"]) == (
        "zeus",
        "invoke_agent",
        "picky",
        200,
        "answered",
    )
    assert zeus["decision"]["kind"] == "reply"
    assert zeus["decision"]["source"].endswith("journal.yaml:6:9")  # where the reply is declared
    assert zeus["response"]["headers"]["Content-Type"] == "text/event-stream"
    frames = zeus["response"]["frames"]
    assert [frame["data"] for frame in frames] == [
        block.strip() for block in streamed.text.split("\n\n") if block.strip()
    ]  # each frame as the client got it
    assert zeus["response"]["body"] is None

    assert bee["request"]["headers"]["x-api-key"].startswith("<<secret:")
    assert bee["response"]["body"] == blocking.json()
    assert bee["response"]["frames"] is None
    assert bee["decision"] == {"kind": "sequence", "source": bee["decision"]["source"], "item": 0}
    timings = bee["timings"]
    assert timings["received"] <= timings["first_byte"] <= timings["ended"]
    assert timings["real_received"] <= timings["real_first_byte"] <= timings["real_ended"]


def test_a_stream_is_in_the_journal_while_it_is_open_and_fills_in_as_it_goes(
    mockagent_server: ThreadedMockServer,
) -> None:
    url = f"{mockagent_server.base_url('beeos')}/api/v1/agents/paced/invoke"
    with ThreadPoolExecutor(1) as pool:
        stream = pool.submit(
            httpx.post, url, json={"message": "go"}, headers={**BEEOS, "Accept": "text/event-stream"}, timeout=SAFETY
        )
        mockagent_server.until_waiting(1)
        (entry,) = journal(mockagent_server)
        assert (entry["state"], entry["status"], entry["response"]["frames"]) == ("streaming", 200, [])
        mockagent_server.advance(1)  # the first word is due
        mockagent_server.until_waiting(1)
        (entry,) = journal(mockagent_server)
        assert entry["state"] == "streaming"
        assert [frame["at"] for frame in entry["response"]["frames"]] == [1.0]
        mockagent_server.advance(5)
        response = stream.result(timeout=SAFETY)
    mockagent_server.until_idle()
    (entry,) = journal(mockagent_server)
    assert entry["state"] == "answered"
    frames = entry["response"]["frames"]
    assert len(frames) == response.text.count("data:")
    assert [frame["at"] for frame in frames[:3]] == [1.0, 2.0, 3.0]  # each word at its clock second


@pytest.mark.mockagent(scenarios=[SCENARIOS], manual_clock=True, allow_unmatched=True)
def test_what_decided_each_answer(mockagent_server: ThreadedMockServer) -> None:
    assert beeos(mockagent_server, "picky", "weather?").status_code == 200
    assert beeos(mockagent_server, "picky", "news?").status_code == 404
    assert beeos(mockagent_server, "counted", "a").status_code == 200
    assert beeos(mockagent_server, "counted", "b").status_code == 200
    assert beeos(mockagent_server, "asking", "start", context_id="c1").status_code == 200
    assert beeos(mockagent_server, "asking", "blue", context_id="c1").json()["data"]["text"] == ("You chose blue.")
    assert httpx.get(f"{mockagent_server.url}/ping", timeout=SAFETY).status_code == 200
    assert httpx.get(f"{mockagent_server.url}/beeos/api/v1/nowhere", timeout=SAFETY).status_code == 404

    decisions = [(e["decision"]["kind"], e["decision"]["item"]) for e in journal(mockagent_server)]
    assert decisions == [
        ("reply", None),
        ("unmatched", None),
        ("sequence", 0),
        ("sequence", 1),
        ("reply", None),
        ("continuation", None),
        ("stub", None),
        ("unmatched", None),
    ]
    unmatched = journal(mockagent_server, unmatched="true")
    assert [e["path"] for e in unmatched] == ["/beeos/api/v1/agents/picky/invoke", "/beeos/api/v1/nowhere"]
    assert "weather" in unmatched[0]["explanation"]  # the condition that failed
    assert unmatched[1]["explanation"] == "nothing is served at GET /beeos/api/v1/nowhere"
    assert [e["conversation"] for e in journal(mockagent_server, agent="asking")] == ["c1", "c1"]


@pytest.mark.mockagent(scenarios=[SCENARIOS], manual_clock=True, allow_unmatched=True)
def test_an_explanation_shows_no_credential(mockagent_server: ThreadedMockServer) -> None:
    sent = "kq-sent-key-abcdef0123456789abcdef0123"
    body = {"message": "hi", "llm_config": {"apiKey": "sk-bad-0123456789abcdef0123456789"}}
    url = f"{mockagent_server.base_url('beeos')}/api/v1/agents/keyed/invoke"
    response = httpx.post(url, json=body, headers={**BEEOS, "X-Api-Key": sent}, timeout=SAFETY)
    assert response.status_code == 404
    (entry,) = journal(mockagent_server)
    for shown in (response.text, entry["explanation"]):
        assert "header X-Api-Key (a secret) does not pass its test: it is <<secret:" in shown
        assert "body llm_config.apiKey (a secret) does not pass its test" in shown
        for secret in (sent, "kq-expected", "sk-bad", "sk-good"):
            assert secret not in shown


@pytest.mark.mockagent(scenarios=[SCENARIOS], manual_clock=True, allow_unmatched=True)
def test_filters_and_pages(mockagent_server: ThreadedMockServer) -> None:
    for message in ("weather", "x", "weather", "y", "weather"):
        beeos(mockagent_server, "picky", message)
    beeos(mockagent_server, "picky", "weather", headers={"X-Mockagent-Session": "other"})
    everything = journal(mockagent_server)
    assert [e["id"] for e in everything] == sorted(e["id"] for e in everything)

    pages: list[dict[str, Any]] = []
    since = 0
    while True:
        page = httpx.get(
            f"{mockagent_server.url}/__mockagent/journal", params={"limit": 4, "since": since}, timeout=SAFETY
        ).json()
        pages.extend(page["entries"])
        if page["next"] is None:
            break
        since = page["next"]
    assert pages == everything

    assert [e["status"] for e in journal(mockagent_server, status="4xx")] == [404, 404]
    assert len(journal(mockagent_server, status="200")) == 4
    assert len(journal(mockagent_server, session="other")) == 1
    assert len(journal(mockagent_server, method="get")) == 0
    assert len(journal(mockagent_server, path="/beeos/*/picky/*", unmatched="false")) == 4
    assert journal(mockagent_server, since=everything[-2]["id"]) == everything[-1:]

    entry = everything[2]
    one = httpx.get(f"{mockagent_server.url}/__mockagent/journal/{entry['id']}", timeout=SAFETY)
    assert one.json() == entry
    assert httpx.get(f"{mockagent_server.url}/__mockagent/journal/99999", timeout=SAFETY).status_code == 404
    for name, value in [("limit", "0"), ("limit", "1001"), ("since", "x"), ("status", "4x"), ("unmatched", "yes")]:
        refused = httpx.get(f"{mockagent_server.url}/__mockagent/journal", params={name: value}, timeout=SAFETY)
        assert refused.status_code == 400
        assert name in refused.json()["error"]


async def test_concurrent_sessions_each_see_only_their_own_requests() -> None:
    settings = Settings(scenario_paths=(Path(SCENARIOS),), manual_clock=True)
    async with MockServer(settings) as server, httpx.AsyncClient(timeout=SAFETY) as client:
        url = f"{server.base_url('beeos')}/api/v1/agents/counted/invoke"

        async def call(session: str, n: int) -> None:
            headers = {**BEEOS, "X-Mockagent-Session": session}
            response = await client.post(url, json={"message": f"{session}-{n}"}, headers=headers)
            assert response.status_code == 200

        sessions = [f"s{i}" for i in range(5)]
        await asyncio.gather(*(call(session, n) for n in range(10) for session in sessions))
        for session in sessions:
            entries = await asyncio.to_thread(journal, server, session=session)
            assert sorted(e["request"]["body"]["message"] for e in entries) == sorted(
                f"{session}-{n}" for n in range(10)
            )
            assert {e["session"] for e in entries} == {session}
            assert sorted(e["decision"]["item"] for e in entries) == [0, 1] + [1] * 8  # each its own sequence


def test_the_journal_is_bounded_oldest_first_and_bodies_are_cut() -> None:
    settings = Settings(scenario_paths=(Path(SCENARIOS),), manual_clock=True, journal_size=3)
    with ThreadedMockServer(settings) as server:
        for n in range(5):
            beeos(server, "picky", f"weather {n}")
        kept = journal(server)
        assert [e["request"]["body"]["message"] for e in kept] == ["weather 2", "weather 3", "weather 4"]

        beeos(server, "echoing", "weather " + "x" * 100_000)
        (entry,) = journal(server, since=kept[-1]["id"])
        assert entry["request"]["truncated"] is True
        assert isinstance(entry["request"]["body"], str)  # a cut JSON body is shown as its text
        assert len(entry["request"]["body"]) == 64 * 1024
        assert entry["response"]["truncated"] is True  # the echo of it is cut too

    budget = Settings(scenario_paths=(Path(SCENARIOS),), manual_clock=True, journal_budget=64 * 1024)
    with ThreadedMockServer(budget) as server:
        for n in range(3):
            beeos(server, "echoing", "weather " + str(n) * 30_000)
        assert len(journal(server)) == 1  # each pair of bodies is 60 KB: only the newest fits


def test_a_size_of_zero_turns_the_journal_off() -> None:
    settings = Settings(scenario_paths=(Path(SCENARIOS),), manual_clock=True, journal_size=0)
    with ThreadedMockServer(settings) as server:
        assert beeos(server, "picky", "weather").status_code == 200
        assert journal(server) == []


def test_a_hang_up_is_journaled_as_closed(mockagent_server: ThreadedMockServer) -> None:
    url = f"{mockagent_server.base_url('beeos')}/api/v1/agents/paced/invoke"
    with httpx.stream("POST", url, json={"message": "go"}, headers={**BEEOS, "Accept": "text/event-stream"}):
        mockagent_server.until_waiting(1)
    mockagent_server.until_idle()
    (entry,) = journal(mockagent_server)
    assert (entry["state"], entry["status"]) == ("closed", 200)


def test_the_journal_file_gets_one_redacted_line_per_answered_request(tmp_path: Path) -> None:
    path = tmp_path / "journal.jsonl"
    path.write_text('{"kept": "what was there"}\n')  # appended to, never overwritten
    settings = Settings(scenario_paths=(Path(SCENARIOS),), manual_clock=True, journal_file=path)
    with ThreadedMockServer(settings) as server:
        beeos(server, "picky", "weather")
        beeos(server, "picky", "news")
        entries = journal(server)
    lines = [json.loads(line) for line in path.read_text().splitlines()]
    assert lines[0] == {"kept": "what was there"}
    assert lines[1:] == entries
    assert BEEOS["Authorization"][7:] not in path.read_text()


def test_clearing_one_session_or_all(mockagent_server: ThreadedMockServer) -> None:
    beeos(mockagent_server, "picky", "weather")
    beeos(mockagent_server, "picky", "weather", headers={"X-Mockagent-Session": "other"})
    admin = f"{mockagent_server.url}/__mockagent/journal"
    assert httpx.delete(admin, params={"session": "other"}, timeout=SAFETY).json() == {"cleared": 1}
    assert [e["session"] for e in journal(mockagent_server)] == ["default"]
    assert httpx.delete(admin, timeout=SAFETY).json() == {"cleared": 1}
    assert journal(mockagent_server) == []
