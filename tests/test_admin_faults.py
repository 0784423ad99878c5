"""Faults over the admin API: rules added (counted, scoped, rate limits) reach the client's next calls
in its platform's own envelope, chaos is set and cleared, and the command line's rules stay."""

from __future__ import annotations

import asyncio
from typing import Any

import httpx
import pytest
from credentials import BEEOS

from mockagent.server import ThreadedMockServer

INSTANT = "tests/scenarios/instant.yaml"
pytestmark = pytest.mark.mockagent(manual_clock=True, scenarios=[INSTANT])
SAFETY = 10.0  # real seconds: a bound on what should happen at once, never a measurement


def faults(server: ThreadedMockServer, method: str, path: str = "", body: Any = None) -> httpx.Response:
    return httpx.request(method, f"{server.url}/__mockagent/faults{path}", json=body, timeout=SAFETY)


def invoke(server: ThreadedMockServer, session: str | None = None) -> httpx.Response:
    headers = {**BEEOS, **({"X-Mockagent-Session": session} if session else {})}
    url = f"{server.base_url('beeos')}/api/v1/agents/echo/invoke"
    return httpx.post(url, json={"message": "hi"}, headers=headers, timeout=SAFETY)


def test_a_counted_fault_hits_the_next_call_only(mockagent_server: ThreadedMockServer) -> None:
    added = faults(mockagent_server, "POST", body={"fault": "429, retry-after=5", "times": 1, "platform": "beeos"})
    assert added.status_code == 201, added.text
    assert added.json() | {"id": 0} == {
        "id": 0,
        "fault": "429, retry-after=5",
        "first": None,
        "sequence": None,
        "probability": None,
        "rate_limit": None,
        "per": "conversation",
        "times": 1,
        "platform": "beeos",
        "session": None,
        "path": None,
    }
    limited = invoke(mockagent_server)
    assert (limited.status_code, limited.headers["Retry-After"]) == (429, "5")
    assert limited.json()["error"]["code"] == "rate_limited"  # BeeOS's own envelope
    assert invoke(mockagent_server).status_code == 200
    assert faults(mockagent_server, "GET").json() == {"server": [], "added": [], "chaos": 0.0}


def test_counted_faults_are_exact_under_concurrency(mockagent_server: ThreadedMockServer) -> None:
    assert faults(mockagent_server, "POST", body={"fault": "503", "times": 3}).status_code == 201

    async def burst() -> list[int]:
        url = f"{mockagent_server.base_url('beeos')}/api/v1/agents/echo/invoke"
        async with httpx.AsyncClient(timeout=SAFETY) as client:
            calls = [client.post(url, json={"message": "hi"}, headers=BEEOS) for _ in range(20)]
            return [response.status_code for response in await asyncio.gather(*calls)]

    statuses = asyncio.run(burst())
    assert sorted(statuses) == [200] * 17 + [503] * 3


def test_scopes_session_and_path(mockagent_server: ThreadedMockServer) -> None:
    faults(mockagent_server, "POST", body={"fault": "500", "session": "alice", "path": "/beeos/*/invoke"})
    assert invoke(mockagent_server).status_code == 200
    assert invoke(mockagent_server, session="alice").status_code == 500
    assert invoke(mockagent_server, session="alice").status_code == 500  # no times: every matching call
    faults(mockagent_server, "POST", body={"fault": "502", "path": "/agentos/*"})
    assert invoke(mockagent_server).status_code == 200
    cleared = faults(mockagent_server, "DELETE").json()
    assert (cleared["cleared"], cleared["added"]) == (2, [])
    assert invoke(mockagent_server, session="alice").status_code == 200


def test_a_rate_limit(mockagent_server: ThreadedMockServer) -> None:
    added = faults(mockagent_server, "POST", body={"rate_limit": "1/min"}).json()
    assert (added["rate_limit"], added["per"], added["fault"]) == ("1/60s", "credential", None)
    assert invoke(mockagent_server).status_code == 200
    limited = invoke(mockagent_server)
    assert (limited.status_code, limited.headers["Retry-After"]) == (429, "60")
    mockagent_server.advance(60)
    assert invoke(mockagent_server).status_code == 200


@pytest.mark.mockagent(manual_clock=True, scenarios=[INSTANT], faults=["504"], chaos=0.25)
def test_the_command_lines_rules_and_chaos_stay(mockagent_server: ThreadedMockServer) -> None:
    listed = faults(mockagent_server, "GET").json()
    assert listed["chaos"] == 0.25
    assert [rule["fault"] for rule in listed["server"]] == ["504"]
    assert faults(mockagent_server, "PUT", "/chaos", {"chaos": 0}).json() == {"chaos": 0.0}
    faults(mockagent_server, "POST", body={"fault": "429"})
    assert faults(mockagent_server, "GET").json()["chaos"] == 0.0
    cleared = faults(mockagent_server, "DELETE").json()
    assert (cleared["cleared"], cleared["chaos"], len(cleared["server"])) == (1, 0.25, 1)


@pytest.mark.parametrize(
    ("body", "named"),
    [
        ({"fault": "418"}, "fault '418' is not understood"),
        ({"fault": 429}, "fault:"),
        ({"fault": "429", "times": 0}, "times:"),
        ({"fault": "429", "rate_limit": "1/s"}, "either"),
        ({}, "either"),
        ({"rate_limit": "often"}, "rate_limit: rate limit 'often' should look like"),
        ({"rate_limit": "1/s", "per": "planet"}, "per:"),
        ({"fault": "429", "platform": "nowhere"}, "platform:"),
        ({"fault": "429", "session": "no spaces"}, "session:"),
        ({"fault": "429", "path": "beeos"}, "path:"),
        ({"fault": "429", "tiems": 1}, "tiems: unknown field"),
    ],
)
def test_bad_rules_are_400_naming_the_field(
    mockagent_server: ThreadedMockServer, body: dict[str, Any], named: str
) -> None:
    response = faults(mockagent_server, "POST", body=body)
    assert response.status_code == 400, response.text
    assert named in response.json()["error"]


def test_bad_chaos_is_400(mockagent_server: ThreadedMockServer) -> None:
    for body in ({"chaos": 2}, {"chaos": "lots"}, {"chaos": True}, {}):
        response = faults(mockagent_server, "PUT", "/chaos", body)
        assert response.status_code == 400, response.text
        assert "chaos:" in response.json()["error"]
