"""The admin API under /__mockagent (mockagent/admin.py), over loopback HTTP: health, sessions, the clock,
runs, the journal and reload, and how a bad session name is refused."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any

import aiohttp
import httpx
import pytest

from mockagent.clock import MAX_CLOCK
from mockagent.runs import RunStatus
from mockagent.server import MockServer, ThreadedMockServer
from mockagent.settings import Settings

INSTANT = "tests/scenarios/instant.yaml"  # echo with no pacing: a turn ends at the moment it starts
BEEOS_AUTH = {"Authorization": "Bearer oag_" + "0123456789abcdef" * 4}
AGENTOS_AUTH = {"Authorization": "Bearer aos_ws_team"}
SESSION = "X-Mockagent-Session"
SAFETY = 10.0  # real seconds: a bound on what should happen at once, never a measurement

manual_instant = pytest.mark.mockagent(manual_clock=True, scenarios=[INSTANT])


def admin(server: ThreadedMockServer | MockServer, path: str) -> str:
    return f"{server.url}/__mockagent{path}"


def beeos_invoke(
    server: ThreadedMockServer, agent: str = "echo", message: str = "hi", session: str | None = None
) -> httpx.Response:
    headers = dict(BEEOS_AUTH)
    if session is not None:
        headers[SESSION] = session
    return httpx.post(
        f"{server.base_url('beeos')}/api/v1/agents/{agent}/invoke",
        json={"message": message},
        headers=headers,
        timeout=SAFETY,
    )


def is_json_error(response: httpx.Response, status: int) -> str:
    """The response is `status` with a JSON `{"error": "<message>"}` body; returns the message."""
    assert response.status_code == status, response.text
    assert response.headers["content-type"].startswith("application/json")
    body = response.json()
    assert isinstance(body, dict)
    assert isinstance(body["error"], str)
    assert body["error"]
    return body["error"]


# ── health ───────────────────────────────────────────────────────────────────────────────────────────


def test_health(mockagent_server: ThreadedMockServer) -> None:
    response = httpx.get(admin(mockagent_server, "/health"))
    assert response.status_code == 200
    health = response.json()
    started = datetime.fromisoformat(health.pop("started"))  # a restarted server tells another time
    assert started.tzinfo is not None
    assert health == {"status": "ok", "platforms": ["beeos", "agentos", "xpander", "zeus", "aster"]}
    with ThreadedMockServer(Settings()) as other:
        assert httpx.get(admin(other, "/health")).json()["started"] != started.isoformat()
    head = httpx.head(mockagent_server.url + "/__mockagent/ui")  # the page answers HEAD as it answers GET
    assert (head.status_code, head.headers["Content-Type"]) == (200, "text/html; charset=utf-8")


@pytest.mark.mockagent(platform="aster")
def test_health_with_one_platform_at_the_root(mockagent_server: ThreadedMockServer) -> None:
    response = httpx.get(admin(mockagent_server, "/health"))
    assert response.json()["platforms"] == ["aster"]


def test_admin_requests_answer_json_for_unknown_paths_and_methods(mockagent_server: ThreadedMockServer) -> None:
    is_json_error(httpx.get(admin(mockagent_server, "/nothing-here")), 404)
    is_json_error(httpx.post(admin(mockagent_server, "/health")), 405)


# ── stats ──────────────────────────────────────────────────────────────────────────────────────────


@pytest.mark.mockagent(manual_clock=True)
async def test_stats_count_a_waiting_stream_and_come_back_once_it_has_ended(mockagent_aserver: MockServer) -> None:
    # The server shares this test's event loop, so the test's own tasks are counted too, alike at rest and after.
    async with aiohttp.ClientSession() as watcher:  # one keep-alive connection reads the stats throughout

        async def stats() -> dict[str, Any]:
            async with watcher.get(admin(mockagent_aserver, "/stats")) as response:
                assert response.status == 200
                body: dict[str, Any] = await response.json()
                return body

        rest = await stats()
        url = f"{mockagent_aserver.base_url('beeos')}/api/v1/agents/slow/invoke"
        async with aiohttp.ClientSession() as client:
            headers = {**BEEOS_AUTH, "Accept": "text/event-stream"}
            pending = asyncio.ensure_future(client.post(url, json={"message": "x"}, headers=headers))
            await asyncio.wait_for(mockagent_aserver.until_waiting(1), SAFETY)
            during = await stats()
            await mockagent_aserver.advance(3)
            answer = await asyncio.wait_for(pending, SAFETY)
            assert b"Done after a while." in await answer.read()
        async with asyncio.timeout(SAFETY):  # not wait_for: its task would be counted
            while await stats() != rest:  # a closed connection is noticed by the server a moment later
                await asyncio.sleep(0.01)
    assert (rest["in_flight"], rest["connections"]) == (1, 1)  # the stats request itself
    assert (during["in_flight"], during["connections"]) == (2, 2)
    assert during["tasks"] > rest["tasks"]


# ── sessions ─────────────────────────────────────────────────────────────────────────────────────────


def sessions(server: ThreadedMockServer) -> dict[str, dict[str, Any]]:
    response = httpx.get(admin(server, "/sessions"))
    assert response.status_code == 200
    return {entry["name"]: entry for entry in response.json()}


@manual_instant
def test_sessions_are_listed_with_what_they_hold_and_reset_one_by_one(mockagent_server: ThreadedMockServer) -> None:
    assert sessions(mockagent_server) == {"default": {"name": "default", "runs": 0, "conversations": 0, "in_flight": 0}}
    assert beeos_invoke(mockagent_server, session="alice").status_code == 200
    assert beeos_invoke(mockagent_server, session="alice").status_code == 200
    assert beeos_invoke(mockagent_server).status_code == 200
    listed = sessions(mockagent_server)
    assert listed["alice"] == {"name": "alice", "runs": 2, "conversations": 2, "in_flight": 0}
    assert listed["default"] == {"name": "default", "runs": 1, "conversations": 1, "in_flight": 0}

    reset = httpx.delete(admin(mockagent_server, "/sessions/alice"))
    assert reset.status_code == 200
    assert reset.json() == {"session": "alice", "reset": True}
    assert set(sessions(mockagent_server)) == {"default"}
    assert httpx.get(admin(mockagent_server, "/runs"), headers={SESSION: "alice"}).json() == []
    assert sessions(mockagent_server)["default"]["runs"] == 1  # the others are left alone

    # Resetting a session that does not exist is no error; the default session comes back empty.
    assert httpx.delete(admin(mockagent_server, "/sessions/nobody")).json() == {"session": "nobody", "reset": False}
    assert httpx.delete(admin(mockagent_server, "/sessions/default")).json() == {"session": "default", "reset": True}
    assert sessions(mockagent_server)["default"]["runs"] == 0


@manual_instant
def test_a_reset_session_starts_from_a_fresh_clock(mockagent_server: ThreadedMockServer) -> None:
    advanced = httpx.post(admin(mockagent_server, "/clock/advance"), json={"seconds": 30}, headers={SESSION: "carol"})
    assert advanced.json()["now"] == 30
    httpx.delete(admin(mockagent_server, "/sessions/carol"))
    assert httpx.get(admin(mockagent_server, "/clock"), headers={SESSION: "carol"}).json()["now"] == 0


@pytest.mark.mockagent(manual_clock=True)
async def test_resetting_a_session_cancels_its_unfinished_runs(mockagent_aserver: MockServer) -> None:
    async with aiohttp.ClientSession() as http:
        url = f"{mockagent_aserver.base_url('beeos')}/api/v1/agents/slow/invoke"
        pending = asyncio.ensure_future(http.post(url, json={"message": "x"}, headers={**BEEOS_AUTH, SESSION: "dave"}))
        await asyncio.wait_for(mockagent_aserver.until_waiting(1, session="dave"), SAFETY)
        (run,) = mockagent_aserver.session("dave").runs_of()
        reset = await http.delete(admin(mockagent_aserver, "/sessions/dave"))
        assert await reset.json() == {"session": "dave", "reset": True}
        answer = await asyncio.wait_for(pending, SAFETY)
        # BeeOS's blocking invoke shows a cancelled turn as an error reply (docs/platforms/beeos.md).
        assert answer.status == 200
        data = (await answer.json())["data"]
    assert (data["text"], data["is_error"]) == ("agent invocation canceled", True)
    assert run.status() is RunStatus.CANCELLED
    assert run.end_reason == "the session was reset"


def test_a_session_name_with_a_slash_is_reset_when_percent_encoded(mockagent_server: ThreadedMockServer) -> None:
    httpx.get(admin(mockagent_server, "/clock"), headers={SESSION: "team/a"})
    assert "team/a" in sessions(mockagent_server)
    reset = httpx.delete(admin(mockagent_server, "/sessions/team%2Fa"))
    assert reset.json() == {"session": "team/a", "reset": True}
    assert "team/a" not in sessions(mockagent_server)


def test_a_session_name_with_a_slash_can_be_reset(mockagent_server: ThreadedMockServer) -> None:
    httpx.get(admin(mockagent_server, "/clock"), headers={SESSION: "team/b"})
    reset = httpx.delete(admin(mockagent_server, "/sessions/team/b"))
    assert reset.status_code == 200
    assert reset.json() == {"session": "team/b", "reset": True}


# ── the clock ────────────────────────────────────────────────────────────────────────────────────────


def clock_of(server: ThreadedMockServer, session: str | None = None) -> dict[str, Any]:
    headers = {SESSION: session} if session else {}
    response = httpx.get(admin(server, "/clock"), headers=headers)
    assert response.status_code == 200
    body: dict[str, Any] = response.json()
    return body


@manual_instant
def test_the_manual_clock_is_read_and_advanced(mockagent_server: ThreadedMockServer) -> None:
    start = clock_of(mockagent_server)
    assert (start["now"], start["manual"], start["waiting"]) == (0, True, 0)
    advanced = httpx.post(admin(mockagent_server, "/clock/advance"), json={"seconds": 2.5})
    assert advanced.status_code == 200
    assert advanced.json()["now"] == 2.5
    later = clock_of(mockagent_server)
    assert later["now"] == 2.5
    wall = datetime.fromisoformat(later["wall"])
    assert wall - datetime.fromisoformat(start["wall"]) == timedelta(seconds=2.5)
    assert datetime.fromisoformat(advanced.json()["wall"]) == wall
    httpx.post(admin(mockagent_server, "/clock/advance"), json={"seconds": 0})
    httpx.post(admin(mockagent_server, "/clock/advance"), json={"seconds": 1})
    assert clock_of(mockagent_server)["now"] == 3.5


@manual_instant
def test_each_session_has_its_own_manual_clock(mockagent_server: ThreadedMockServer) -> None:
    httpx.post(admin(mockagent_server, "/clock/advance"), json={"seconds": 7}, headers={SESSION: "s1"})
    httpx.post(admin(mockagent_server, "/clock/advance?session=s2"), json={"seconds": 4})
    assert clock_of(mockagent_server, "s1")["now"] == 7
    assert httpx.get(admin(mockagent_server, "/clock?session=s2")).json()["now"] == 4
    assert clock_of(mockagent_server)["now"] == 0


@pytest.mark.mockagent(manual_clock=True)
async def test_advancing_the_clock_answers_once_the_woken_runs_have_moved_on(mockagent_aserver: MockServer) -> None:
    async with aiohttp.ClientSession() as http:
        url = f"{mockagent_aserver.base_url('beeos')}/api/v1/agents/slow/invoke"
        pending = asyncio.ensure_future(http.post(url, json={"message": "x"}, headers=BEEOS_AUTH))
        await asyncio.wait_for(mockagent_aserver.until_waiting(1), SAFETY)
        clock = await (await http.get(admin(mockagent_aserver, "/clock"))).json()
        assert clock["waiting"] == 1  # the invoke is parked on the clock
        (run,) = mockagent_aserver.session().runs_of()
        advanced = await http.post(admin(mockagent_aserver, "/clock/advance"), json={"seconds": 5})
        assert advanced.status == 200
        assert run.status() is RunStatus.COMPLETED
        answer = await asyncio.wait_for(pending, SAFETY)
        assert (await answer.json())["data"]["text"] == "Done after a while."
        assert (await (await http.get(admin(mockagent_aserver, "/clock"))).json())["waiting"] == 0


BAD_BODIES = [
    pytest.param(b"not json", id="not-json"),
    pytest.param(b"", id="empty"),
    pytest.param(b"[1]", id="array"),
    pytest.param(b'"5"', id="string"),
    pytest.param(b"5", id="number"),
    pytest.param(b"{}", id="no-seconds"),
    pytest.param(b'{"second": 5}', id="misspelt"),
    pytest.param(b'{"seconds": null}', id="null"),
    pytest.param(b'{"seconds": "soon"}', id="word"),
    pytest.param(b'{"seconds": {}}', id="object"),
    pytest.param(b'{"seconds": [1]}', id="list"),
    pytest.param(b'{"seconds": NaN}', id="nan-literal"),
    pytest.param(b'{"seconds": Infinity}', id="infinity-literal"),
    pytest.param(b'{"seconds": 1e999}', id="overflow"),
    pytest.param(b'{"seconds": -1}', id="negative"),
    pytest.param(b'{"seconds": -0.001}', id="slightly-negative"),
    pytest.param(b'{"seconds": "nan"}', id="nan-string"),
    pytest.param(b'{"seconds": "inf"}', id="inf-string"),
    pytest.param(b'{"seconds": "-inf"}', id="minus-inf-string"),
    pytest.param(b'{"seconds": 1\xff}', id="not-utf8"),
]


@manual_instant
@pytest.mark.parametrize("body", BAD_BODIES)
def test_advancing_with_a_bad_body_is_400_and_leaves_the_clock(
    mockagent_server: ThreadedMockServer, body: bytes
) -> None:
    response = httpx.post(
        admin(mockagent_server, "/clock/advance"), content=body, headers={"Content-Type": "application/json"}
    )
    is_json_error(response, 400)
    assert clock_of(mockagent_server)["now"] == 0


@manual_instant
def test_advancing_with_an_oversized_body_is_refused(mockagent_server: ThreadedMockServer) -> None:
    body = b'{"seconds": 1, "padding": "' + b"x" * 5000 + b'"}'
    response = httpx.post(admin(mockagent_server, "/clock/advance"), content=body)
    is_json_error(response, 413)
    assert clock_of(mockagent_server)["now"] == 0


@manual_instant
@pytest.mark.parametrize(
    "body",
    [pytest.param(b'{"seconds": true}', id="boolean"), pytest.param(b'{"seconds": "5"}', id="numeric-string")],
)
def test_advancing_with_a_value_that_is_not_a_json_number_is_400(
    mockagent_server: ThreadedMockServer, body: bytes
) -> None:
    response = httpx.post(admin(mockagent_server, "/clock/advance"), content=body)
    is_json_error(response, 400)
    assert clock_of(mockagent_server)["now"] == 0


@manual_instant
@pytest.mark.parametrize("seconds", [1e308, 10**40, MAX_CLOCK + 1], ids=["huge-float", "huge-int", "past-the-range"])
def test_advancing_past_the_clocks_range_is_400_and_leaves_the_clock(
    mockagent_server: ThreadedMockServer, seconds: float
) -> None:
    response = httpx.post(admin(mockagent_server, "/clock/advance"), json={"seconds": seconds})
    assert "100 years" in is_json_error(response, 400)
    assert clock_of(mockagent_server)["now"] == 0  # and it still reads


@manual_instant
def test_a_clock_at_the_end_of_its_range_still_shows_every_moment(mockagent_server: ThreadedMockServer) -> None:
    advanced = httpx.post(admin(mockagent_server, "/clock/advance"), json={"seconds": MAX_CLOCK - 1})
    assert advanced.status_code == 200
    is_json_error(httpx.post(admin(mockagent_server, "/clock/advance"), json={"seconds": 2}), 400)
    # A task's deadline, a week past the clock, is still a date.
    tasks = f"{mockagent_server.base_url('beeos')}/api/v1/agents/echo/tasks"
    created = httpx.post(tasks, json={"message": "hi", "deadline_ms": 604_800_000}, headers=BEEOS_AUTH)
    assert created.status_code == 202, created.text
    task = httpx.get(f"{tasks}/{created.json()['data']['task_id']}", headers=BEEOS_AUTH)
    assert task.status_code == 200, task.text
    assert task.json()["data"]["deadline_at"].startswith("21")


def test_advancing_a_real_clock_is_a_conflict(mockagent_server: ThreadedMockServer) -> None:
    message = is_json_error(httpx.post(admin(mockagent_server, "/clock/advance"), json={"seconds": 1}), 409)
    assert "not manual" in message
    clock = clock_of(mockagent_server)
    assert clock["manual"] is False
    assert "waiting" not in clock


# ── runs ─────────────────────────────────────────────────────────────────────────────────────────────


def runs(server: ThreadedMockServer, *, session: str | None = None, query: str = "") -> list[dict[str, Any]]:
    headers = {SESSION: session} if session else {}
    response = httpx.get(admin(server, "/runs") + query, headers=headers)
    assert response.status_code == 200
    listed: list[dict[str, Any]] = response.json()
    return listed


@manual_instant
def test_runs_are_listed_per_session(mockagent_server: ThreadedMockServer) -> None:
    answer = beeos_invoke(mockagent_server, message="hello", session="alice")
    context_id = answer.json()["data"]["context_id"]
    assert runs(mockagent_server) == []
    (listed,) = runs(mockagent_server, session="alice")
    (run,) = mockagent_server.session("alice").runs_of()
    assert listed == {
        "id": run.id,
        "platform": "beeos",
        "agent": "echo",
        "conversation": context_id,
        "status": "completed",
        "message": "hello",
        "text": "Echo: hello",
        "reply": listed["reply"],
        "created_at": 0,
    }
    assert runs(mockagent_server, query="?session=alice") == [listed]
    # The header wins over the query.
    assert runs(mockagent_server, session="alice", query="?session=bob") == [listed]
    assert runs(mockagent_server, session="bob", query="?session=alice") == []


@pytest.mark.mockagent(manual_clock=True)
async def test_runs_show_each_run_as_of_the_sessions_clock(mockagent_aserver: MockServer) -> None:
    async with aiohttp.ClientSession() as http:
        base = f"{mockagent_aserver.base_url('beeos')}/api/v1/agents"
        created = await http.post(f"{base}/slow/tasks", json={"message": "later"}, headers=BEEOS_AUTH)
        task_id = (await created.json())["data"]["task_id"]

        async def listed() -> tuple[str, str]:
            (run,) = await (await http.get(admin(mockagent_aserver, "/runs"))).json()
            assert run["id"] == task_id
            return run["status"], run["text"]

        assert await listed() == ("queued", "")
        await mockagent_aserver.advance(1)
        assert await listed() == ("running", "")
        await mockagent_aserver.advance(3)
        assert await listed() == ("completed", "Done after a while.")


# ── the journal ──────────────────────────────────────────────────────────────────────────────────────


def journal(server: ThreadedMockServer, query: str = "", session: str | None = None) -> list[dict[str, Any]]:
    headers = {SESSION: session} if session else {}
    response = httpx.get(admin(server, "/journal") + query, headers=headers)
    assert response.status_code == 200
    entries: list[dict[str, Any]] = response.json()["entries"]
    return entries


@manual_instant
def test_the_journal_records_requests_and_filters_them(mockagent_server: ThreadedMockServer) -> None:
    httpx.post(admin(mockagent_server, "/clock/advance"), json={"seconds": 2})
    assert beeos_invoke(mockagent_server).status_code == 200
    assert beeos_invoke(mockagent_server, agent="nobody").status_code == 404
    agentos = httpx.post(
        f"{mockagent_server.base_url('agentos')}/api/v1/agents/echo/invoke",
        json={"input": {"query": "hi"}},
        headers=AGENTOS_AUTH,
    )
    assert agentos.status_code == 200
    beeos_invoke(mockagent_server, session="elsewhere")

    entries = journal(mockagent_server, "?session=default")
    wall = datetime.fromisoformat(clock_of(mockagent_server)["wall"])
    assert [(e["platform"], e["method"], e["path"], e["status"], e["agent"]) for e in entries] == [
        ("beeos", "POST", "/beeos/api/v1/agents/echo/invoke", 200, "echo"),
        ("beeos", "POST", "/beeos/api/v1/agents/nobody/invoke", 404, None),
        ("agentos", "POST", "/agentos/api/v1/agents/echo/invoke", 200, "echo"),
    ]  # admin requests are not journaled
    assert all(e["fault"] is None for e in entries)
    at_2s = wall.replace(microsecond=wall.microsecond // 1000 * 1000)  # shown to the millisecond
    assert {datetime.fromisoformat(e["at"]) for e in entries} == {at_2s}  # the session's clock time: 2 s

    everywhere = journal(mockagent_server)  # every session's, in the order received
    assert [e["session"] for e in everywhere] == ["default", "default", "default", "elsewhere"]
    assert [e["platform"] for e in journal(mockagent_server, "?platform=agentos")] == ["agentos"]
    assert [e["status"] for e in journal(mockagent_server, "?platform=beeos&session=default")] == [200, 404]
    assert [e["agent"] for e in journal(mockagent_server, "?path=*/nobody/*")] == [None]
    assert len(journal(mockagent_server, "?path=*/invoke")) == 4
    assert journal(mockagent_server, "?platform=zeus") == []
    (served,) = [e for e in entries if e["platform"] == "agentos"]  # the entries that served a run
    assert served["run"] is not None
    assert journal(mockagent_server, f"?run={served['run']}") == [served]
    assert journal(mockagent_server, "?run=no-such-run") == []
    assert journal(mockagent_server, "?platform=beeos&path=*/echo/*&session=default") == entries[:1]
    assert len(journal(mockagent_server, session="elsewhere")) == 1
    assert len(journal(mockagent_server, "?session=elsewhere")) == 1

    cleared = httpx.delete(admin(mockagent_server, "/journal"), params={"session": "default"})
    assert cleared.json() == {"cleared": 3}
    assert journal(mockagent_server, "?session=default") == []
    assert len(journal(mockagent_server, session="elsewhere")) == 1  # only the default session's was cleared
    assert httpx.delete(admin(mockagent_server, "/journal")).json() == {"cleared": 1}
    assert journal(mockagent_server) == []


@manual_instant
def test_the_journal_shows_an_injected_fault(mockagent_server: ThreadedMockServer) -> None:
    response = httpx.post(
        f"{mockagent_server.base_url('beeos')}/api/v1/agents/echo/invoke",
        json={"message": "hi"},
        headers={**BEEOS_AUTH, "X-Mockagent-Fault": "503"},
    )
    assert response.status_code == 503
    (entry,) = journal(mockagent_server)
    assert entry["status"] == 503
    assert entry["fault"]
    assert mockagent_server.session().runs_of() == []


# ── reload ───────────────────────────────────────────────────────────────────────────────────────────

GOOD = """\
agents:
  - id: alpha
    script:
      - say: "alpha here"
"""
BROKEN = """\
agents:
  - id: alpha
    scirpt:
      - say: "alpha here"
"""
GROWN = (
    GOOD
    + """\
  - id: beta
    script:
      - say: "beta here"
"""
)


@pytest.fixture
async def reloadable(tmp_path: Path) -> AsyncIterator[tuple[MockServer, Path, aiohttp.ClientSession]]:
    path = tmp_path / "agents.yaml"
    path.write_text(GOOD)
    async with MockServer(Settings(scenario_paths=(path,))) as server, aiohttp.ClientSession() as http:
        yield server, path, http


async def say(server: MockServer, http: aiohttp.ClientSession, agent: str) -> tuple[int, str | None]:
    url = f"{server.base_url('beeos')}/api/v1/agents/{agent}/invoke"
    response = await http.post(url, json={"message": "hi"}, headers=BEEOS_AUTH)
    body = await response.json()
    return response.status, body["data"]["text"] if response.status == 200 else None


async def reload(server: MockServer, http: aiohttp.ClientSession) -> tuple[int, dict[str, Any]]:
    response = await http.post(admin(server, "/reload"))
    body: dict[str, Any] = await response.json()
    return response.status, body


async def test_reload_with_a_broken_file_keeps_serving_the_old_scenarios(
    reloadable: tuple[MockServer, Path, aiohttp.ClientSession],
) -> None:
    server, path, http = reloadable
    assert await say(server, http, "alpha") == (200, "alpha here")

    path.write_text(BROKEN)
    status, body = await reload(server, http)
    assert status == 422
    assert body["reloaded"] is False
    assert body["error"].startswith(f"{path}:3:5: ")
    assert "scirpt" in body["error"]
    assert await say(server, http, "alpha") == (200, "alpha here")
    assert sorted(server.engine.scenarios.agents) == ["alpha"]

    path.write_text(GROWN)
    assert await reload(server, http) == (200, {"reloaded": True, "agents": ["alpha", "beta"]})
    assert await say(server, http, "beta") == (200, "beta here")
    assert await say(server, http, "alpha") == (200, "alpha here")


async def test_reload_with_a_yaml_syntax_error_names_its_position(
    reloadable: tuple[MockServer, Path, aiohttp.ClientSession],
) -> None:
    server, path, http = reloadable
    path.write_text(GOOD + "  - id: [unclosed\n")
    status, body = await reload(server, http)
    assert status == 422
    assert body["error"].startswith(f"{path}:")
    position = body["error"].removeprefix(f"{path}:").split(":", 2)
    assert position[0].isdigit()
    assert position[1].isdigit()
    assert await say(server, http, "alpha") == (200, "alpha here")


async def test_reload_after_the_file_is_gone_keeps_serving(
    reloadable: tuple[MockServer, Path, aiohttp.ClientSession],
) -> None:
    server, path, http = reloadable
    path.unlink()
    status, body = await reload(server, http)
    assert status == 422
    assert body["reloaded"] is False
    assert body["error"]
    assert await say(server, http, "alpha") == (200, "alpha here")


async def test_reload_drops_an_agent_removed_from_the_file(
    reloadable: tuple[MockServer, Path, aiohttp.ClientSession],
) -> None:
    server, path, http = reloadable
    path.write_text(GROWN)
    assert (await reload(server, http))[0] == 200
    path.write_text(GROWN.replace("alpha", "gamma"))
    assert await reload(server, http) == (200, {"reloaded": True, "agents": ["beta", "gamma"]})
    assert (await say(server, http, "alpha"))[0] == 404


# ── session names ────────────────────────────────────────────────────────────────────────────────────


@pytest.mark.parametrize("name", ["has space", "", "-leading-dash", "x" * 129, "semi;colon", "ünï"])
@pytest.mark.parametrize("path", ["/clock", "/runs", "/journal"])
def test_an_invalid_session_header_is_400_naming_the_header(
    mockagent_server: ThreadedMockServer, name: str, path: str
) -> None:
    response = httpx.get(admin(mockagent_server, path), headers={SESSION: name.encode()})
    message = is_json_error(response, 400)
    assert message.startswith(f"header.{SESSION}: session name")


def test_an_invalid_session_query_is_400_naming_the_query(mockagent_server: ThreadedMockServer) -> None:
    message = is_json_error(httpx.get(admin(mockagent_server, "/runs"), params={"session": "a b"}), 400)
    assert message.startswith("query.session: session name 'a b'")


def test_an_invalid_session_header_on_a_platform_route_is_that_platforms_400(
    mockagent_server: ThreadedMockServer,
) -> None:
    response = httpx.post(
        f"{mockagent_server.base_url('beeos')}/api/v1/agents/echo/invoke",
        json={"message": "hi"},
        headers={**BEEOS_AUTH, SESSION: "a b"},
    )
    assert response.status_code == 400
    error = response.json()["error"]
    assert (error["code"], error["param"]) == ("invalid_param", f"header.{SESSION}")
    assert "no spaces" in error["message"]
    assert mockagent_server.session().runs_of() == []


@manual_instant
def test_a_session_name_may_use_the_documented_punctuation(mockagent_server: ThreadedMockServer) -> None:
    name = "ci:worker-1.a_b@host/job+2"
    assert beeos_invoke(mockagent_server, session=name).status_code == 200
    assert len(runs(mockagent_server, session=name)) == 1
    assert name in sessions(mockagent_server)
    longest = "x" * 128
    assert clock_of(mockagent_server, longest)["now"] == 0


@manual_instant
def test_one_session_inspected_and_every_session_reset(mockagent_server: ThreadedMockServer) -> None:
    answer = beeos_invoke(mockagent_server, message="hello", session="alice")
    context_id = answer.json()["data"]["context_id"]
    httpx.put(admin(mockagent_server, "/states/checkout"), json={"state": "paid"}, headers={SESSION: "alice"})
    inspected = httpx.get(admin(mockagent_server, "/sessions/alice")).json()
    (run,) = mockagent_server.session("alice").runs_of()
    assert inspected == {
        "name": "alice",
        "runs": [{"id": run.id, "platform": "beeos", "agent": "echo", "status": "completed"}],
        "conversations": [{"platform": "beeos", "id": context_id, "agent": "echo", "turns": 1}],
        "states": {"checkout": "paid"},
        "sequences": inspected["sequences"],
        "journal": 1,
        "in_flight": 0,
        "clock": {"now": 0, "manual": True},
    }
    assert "no session 'bob'" in is_json_error(httpx.get(admin(mockagent_server, "/sessions/bob")), 404)
    assert "bob" not in [s["name"] for s in httpx.get(admin(mockagent_server, "/sessions")).json()]
    reset = httpx.delete(admin(mockagent_server, "/sessions")).json()
    assert sorted(reset["reset"]) == ["alice", "default"]
    assert runs(mockagent_server, session="alice") == []
