"""Raw stubs over real HTTP: JSON, text and SSE answers, with and without path parameters, at the server's
root and under each platform's mount; `when` on the body, headers, query and path; templates over the
request; a stub in place of a modelled endpoint (and the load error when it does not say so); SSE frames
paced by the session's clock; faults and the journal as for any request; the 404 naming near misses; load
errors at their line; and a reload that adds a stub."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import aiohttp
import httpx
import pytest
from click.testing import CliRunner
from credentials import AGENTOS, BEEOS
from sse import Frame, parse

from mockagent.cli import main
from mockagent.errors import ScenarioError
from mockagent.model import PlatformKey
from mockagent.scenarios import load_text
from mockagent.server import MockServer, ThreadedMockServer
from mockagent.settings import Settings, load_scenarios

SCENARIOS = "tests/scenarios/stubs.yaml"
FILE = str(Path(__file__).parent / "scenarios" / "stubs.yaml")
pytestmark = pytest.mark.mockagent(scenarios=[SCENARIOS])

SAFETY = 10.0  # real seconds: a bound on what should happen at once, never a measurement


def where(path: str, nth: int = 0) -> str:
    """Where the `nth` stub of stubs.yaml with this path is declared (path:line:col of its entry)."""
    lines = Path(FILE).read_text().splitlines()
    starts = [number for number, line in enumerate(lines, 1) if line.startswith("  - ")]
    found = [number for number, line in enumerate(lines, 1) if line.strip() == f"path: {path}"]
    line = max(start for start in starts if start <= found[nth])
    return f"{FILE}:{line}:5"


def journal(server: ThreadedMockServer) -> list[dict[str, object]]:
    entries: list[dict[str, object]] = httpx.get(f"{server.url}/__mockagent/journal", timeout=10).json()["entries"]
    for entry in entries:  # where the stub that answered is declared
        decision = entry["decision"]
        assert isinstance(decision, dict)
        entry["stub"] = decision["source"] if decision["kind"] == "stub" else None
    return entries


# ── JSON and text ────────────────────────────────────────────────────────────────────────────────────


def test_a_json_stub_at_the_root(mockagent_server: ThreadedMockServer) -> None:
    response = httpx.get(f"{mockagent_server.url}/healthz", timeout=10)
    assert response.status_code == 200
    assert response.headers["Content-Type"] == "application/json"
    assert response.json() == {"status": "ok"}


def test_a_text_stub_with_templated_headers_and_body(mockagent_server: ThreadedMockServer) -> None:
    plain = httpx.get(f"{mockagent_server.url}/version", timeout=10)
    assert (plain.status_code, plain.text) == (200, "mockagent stable")
    assert plain.headers["Content-Type"] == "text/plain"  # the stub's own, not the default
    assert plain.headers["X-Served-By"] == "mockagent GET"
    beta = httpx.get(f"{mockagent_server.url}/version?channel=beta", timeout=10)
    assert beta.text == "mockagent beta"


@pytest.mark.mockagent(scenarios=[SCENARIOS], allow_unmatched=True)
def test_a_stub_with_path_parameters_under_a_platform(mockagent_server: ThreadedMockServer) -> None:
    url = f"{mockagent_server.base_url('xpander')}/v1/devices/dev-7/status?verbose=1"
    response = httpx.get(url, headers={"X-User": "ana"}, timeout=10)
    assert response.status_code == 200
    assert response.headers["X-Device"] == "dev-7"
    assert response.json() == {
        "device": "dev-7",
        "online": True,
        "battery": 87,
        "checked_by": "ana",
        "tags": ["a", "/xpander/v1/devices/dev-7/status"],  # the path as sent
        "query": {"verbose": "1"},
    }
    # A parameter is one whole segment, never empty.
    assert httpx.get(f"{mockagent_server.base_url('xpander')}/v1/devices//status", timeout=10).status_code == 404


def test_when_on_the_body_headers_and_query(mockagent_server: ThreadedMockServer) -> None:
    url = f"{mockagent_server.base_url('zeus')}/api/tickets"
    bug = httpx.post(url, json={"kind": "bug", "title": "it breaks"}, headers={"X-Env": "prod"}, timeout=10)
    assert bug.status_code == 201
    assert bug.json() == {"id": "T-1", "title": "it breaks", "kind": "bug"}
    dry = httpx.post(f"{url}?dry_run=true", json={"kind": "idea"}, timeout=10)
    assert (dry.status_code, dry.json(), dry.headers["Retry-After"]) == (202, {"dry_run": True}, "3")


@pytest.mark.mockagent(scenarios=[SCENARIOS], allow_unmatched=True)
def test_a_body_that_is_no_json_object_has_no_fields(mockagent_server: ThreadedMockServer) -> None:
    url = f"{mockagent_server.base_url('zeus')}/api/tickets"
    too_deep = b'{"kind": "bug", "x": ' + b"[" * 200 + b"]" * 200 + b"}"  # deeper than any platform takes
    for body in (b"kind=bug", b'{"kind": "bug"', too_deep, b'"bug"'):
        response = httpx.post(url, content=body, headers={"X-Env": "prod"}, timeout=10)
        assert response.status_code == 404
        assert "body kind equals 'bug': it is missing" in response.json()["detail"]
    spaced = httpx.post(url, content=b'  {"kind": "bug", "title": "t"}', headers={"X-Env": "prod"}, timeout=10)
    assert spaced.status_code == 201


@pytest.mark.mockagent(scenarios=[SCENARIOS], allow_unmatched=True)
def test_when_on_a_path_parameter_and_its_regex_groups(mockagent_server: ThreadedMockServer) -> None:
    url = f"{mockagent_server.base_url('zeus')}/api/tickets"
    assert httpx.get(f"{url}/T-42", timeout=10).json() == {"ticket": "T-42", "number": "42"}
    missed = httpx.get(f"{url}/X-42", timeout=10)
    assert missed.status_code == 404
    assert "path parameter ticket regex '^T-(?P<number>[0-9]+)$': it is 'X-42'" in missed.json()["detail"]


def test_matched_counts_a_stubs_answers_in_the_session(mockagent_server: ThreadedMockServer) -> None:
    url = f"{mockagent_server.url}/counter"
    assert [httpx.get(url, timeout=10).text for _ in range(3)] == ["first", "again", "again"]
    other = httpx.get(url, headers={"X-Mockagent-Session": "other"}, timeout=10)
    assert other.text == "first"  # each session counts its own


def test_seeded_helpers_differ_by_answer_and_by_stub_and_repeat_by_run(tmp_path: Path) -> None:
    def ids(server: ThreadedMockServer) -> list[dict[str, Any]]:
        orders = [httpx.post(f"{server.url}/orders", timeout=10).json() for _ in range(2)]
        invoice = httpx.post(f"{server.url}/invoices", timeout=10).json()
        return [*orders, invoice]

    settings = Settings(scenario_paths=(Path(FILE),))
    with ThreadedMockServer(settings) as first:
        once = ids(first)
    with ThreadedMockServer(settings) as second:
        again = ids(second)
    assert once == again  # the same requests draw the same ids in every run
    first_order, second_order, invoice = once
    assert (first_order["answer"], second_order["answer"]) == (1, 2)  # one {{ expression }}: a number
    assert len({first_order["id"], second_order["id"], invoice["id"]}) == 3
    assert str(first_order["id"]).startswith("ord_")


def test_priority_before_file_order(mockagent_server: ThreadedMockServer) -> None:
    url = f"{mockagent_server.url}/priority"
    assert httpx.get(url, params={"special": "1"}, timeout=10).text == "special"
    assert httpx.get(url, params={"special": "2"}, timeout=10).text == "plain"


# ── what a platform does not model, and what it does ─────────────────────────────────────────────────


def test_a_stub_answers_an_sdk_call_the_platform_does_not_model(mockagent_server: ThreadedMockServer) -> None:
    url = f"{mockagent_server.base_url('beeos')}/api/v1/instances/i-9/computer"
    response = httpx.get(url, headers=BEEOS, timeout=10)
    assert response.status_code == 200
    assert response.json() == {"instance": "i-9", "screen": {"width": 1280, "height": 800}}
    # The platform checks the credential first, as it does for the real call.
    assert httpx.get(url, timeout=10).status_code == 401
    # A call it does not model and no stub answers is still its 404 `not_implemented`.
    other = httpx.get(f"{mockagent_server.base_url('beeos')}/api/v1/agents", headers=BEEOS, timeout=10)
    assert other.status_code == 404
    assert other.json()["error"]["code"] == "not_implemented"
    assert "docs/scenarios.md#raw-stubs" in other.json()["error"]["message"]


def test_a_stub_answers_an_rpc_method_agentos_does_not_model(mockagent_server: ThreadedMockServer) -> None:
    url = f"{mockagent_server.base_url('agentos')}/api/v1/rpc/agents_list"
    response = httpx.post(url, json={}, headers=AGENTOS, timeout=10)
    assert (response.status_code, response.json()) == (200, {"data": [{"id": "helper"}], "error": None})


def test_a_stub_shadows_a_modelled_endpoint_when_it_says_so(mockagent_server: ThreadedMockServer) -> None:
    base = f"{mockagent_server.base_url('agentos')}/api/v1/agents"
    canned = httpx.post(f"{base}/canned/invoke", json={"input": {"query": "hi"}}, headers=AGENTOS, timeout=10)
    assert canned.status_code == 200
    assert canned.json()["data"]["output"] == {"text": "canned"}
    # Its `when` does not hold for another agent: the modelled endpoint answers.
    modelled = httpx.post(f"{base}/helper/invoke", json={"input": {"query": "hi"}}, headers=AGENTOS, timeout=10)
    assert modelled.status_code == 200, modelled.text
    assert modelled.json()["data"]["output"] == {"text": "modelled answer"}
    entries = journal(mockagent_server)
    assert [(e["path"], e["stub"], e["agent"]) for e in entries] == [
        ("/agentos/api/v1/agents/canned/invoke", where("/api/v1/agents/{agentId}/invoke"), None),
        ("/agentos/api/v1/agents/helper/invoke", None, "helper"),
    ]


def test_a_replys_when_sees_the_routes_path_parameters(mockagent_server: ThreadedMockServer) -> None:
    url = f"{mockagent_server.base_url('agentos')}/api/v1/agents/pathwise/invoke"
    response = httpx.post(url, json={"input": {"query": "hi"}}, headers=AGENTOS, timeout=10)
    text = "by its path: pathwise, POST /agentos/api/v1/agents/pathwise/invoke"
    assert response.json()["data"]["output"] == {"text": text}


def test_a_stub_that_a_modelled_route_answers_is_a_load_error_without_shadow(tmp_path: Path) -> None:
    path = tmp_path / "s.yaml"
    path.write_text(
        "stubs:\n"
        "  - platform: beeos\n"
        "    method: POST\n"
        "    path: /api/v1/agents/{id}/invoke\n"
        "    body: {ok: true}\n"
        "  - platform: agentos\n"
        "    method: POST\n"
        "    path: /api/v1/rpc/runs_get\n"  # a method AgentOS models
        "    body: {ok: true}\n"
        "  - platform: agentos\n"
        "    method: POST\n"
        "    path: /api/v1/rpc/agents_list\n"  # one it does not: no shadow needed
        "    body: {ok: true}\n"
    )
    with pytest.raises(ScenarioError) as caught:
        load_scenarios(Settings(scenario_paths=(path,)))
    assert [str(problem) for problem in caught.value.problems] == [
        f"{path}:2:5: beeos's modelled route POST /api/v1/agents/{{agentId}}/invoke answers the requests of this "
        "stub (beeos POST /api/v1/agents/{id}/invoke): add 'shadow: true' for the stub to answer first",
        f"{path}:6:5: agentos's modelled route POST /api/v1/rpc/{{method}} answers the requests of this stub "
        "(agentos POST /api/v1/rpc/runs_get): add 'shadow: true' for the stub to answer first",
    ]
    # Serving other platforms only, these routes are no concern.
    load_scenarios(Settings(scenario_paths=(path,), platforms=(PlatformKey.XPANDER,)))


# ── SSE ──────────────────────────────────────────────────────────────────────────────────────────────


def test_sse_frames_with_names_ids_and_lines(mockagent_server: ThreadedMockServer) -> None:
    response = httpx.get(f"{mockagent_server.url}/feed", timeout=10)
    assert response.headers["Content-Type"] == "text/event-stream"
    assert parse(response.text) == [Frame("tick"), Frame("tock")]


@pytest.fixture
async def http() -> AsyncIterator[aiohttp.ClientSession]:
    async with aiohttp.ClientSession() as session:
        yield session


async def read_frames(response: aiohttp.ClientResponse, count: int) -> list[Frame]:
    frames: list[Frame] = []
    while len(frames) < count:
        chunk = await asyncio.wait_for(response.content.readuntil(b"\n\n"), SAFETY)
        frames.extend(parse(chunk.decode()))
    return frames


@pytest.mark.mockagent(scenarios=[SCENARIOS], manual_clock=True)
async def test_sse_frames_are_paced_by_the_sessions_clock(
    mockagent_aserver: MockServer, http: aiohttp.ClientSession
) -> None:
    server = mockagent_aserver
    response = await http.get(f"{server.base_url('xpander')}/v1/devices/d1/events")
    assert response.status == 200
    assert await read_frames(response, 1) == [Frame('{"device":"d1","state":"booting"}', "status")]
    await asyncio.wait_for(server.until_waiting(1), SAFETY)  # parked on the clock until 2
    await server.advance(1.5)
    await asyncio.wait_for(server.until_waiting(1), SAFETY)  # still parked: its moment has not come
    assert server.clock.now() == 1.5
    await server.advance(0.5)
    assert await read_frames(response, 1) == [Frame('{"state":"ready"}', "status", "2")]
    await asyncio.wait_for(server.until_waiting(1), SAFETY)
    await server.advance(3)
    assert await read_frames(response, 1) == [Frame("bye\nsee you")]  # text of two lines: two data lines
    assert await asyncio.wait_for(response.content.read(), SAFETY) == b""  # and the stream ends


# ── faults and the journal ───────────────────────────────────────────────────────────────────────────


def test_faults_apply_to_stubs_in_the_envelope_of_where_they_are(mockagent_server: ThreadedMockServer) -> None:
    root = httpx.get(f"{mockagent_server.url}/healthz", headers={"X-Mockagent-Fault": "503"}, timeout=10)
    assert (root.status_code, root.json()) == (503, {"error": "Service unavailable"})
    url = f"{mockagent_server.base_url('xpander')}/v1/devices/d2/status"
    limited = httpx.get(url, headers={"X-Mockagent-Fault": "429, retry-after=7"}, timeout=10)
    assert limited.status_code == 429
    assert limited.headers["Retry-After"] == "7"
    assert "detail" in limited.json()  # xpander's own (FastAPI) envelope
    events = f"{mockagent_server.base_url('xpander')}/v1/devices/d2/events"
    with httpx.stream("GET", events, headers={"X-Mockagent-Fault": "drop-after=1"}, timeout=10) as dropped:
        assert dropped.status_code == 200
        received, cut = until_cut(dropped)
    assert cut  # the stream is cut after its first frame
    assert [frame.event for frame in parse(received.decode())] == ["status"]
    entries = journal(mockagent_server)
    assert [(e["path"], e["status"], e["fault"], e["stub"]) for e in entries] == [
        ("/healthz", 503, "503", where("/healthz")),
        ("/xpander/v1/devices/d2/status", 429, "429, retry-after=7", where("/v1/devices/{device}/status")),
        ("/xpander/v1/devices/d2/events", 200, "drop-after=1", where("/v1/devices/{device}/events")),
    ]


def until_cut(response: httpx.Response) -> tuple[bytes, bool]:
    """What a stream sent, and whether it was cut before its end."""
    received = bytearray()
    try:
        for chunk in response.iter_bytes():
            received.extend(chunk)
    except httpx.RemoteProtocolError:
        return bytes(received), True
    return bytes(received), False


@pytest.mark.mockagent(scenarios=[SCENARIOS], rate_limit="2/min")
def test_a_servers_rate_limit_counts_stub_calls(mockagent_server: ThreadedMockServer) -> None:
    statuses = [httpx.get(f"{mockagent_server.url}/healthz", timeout=10).status_code for _ in range(3)]
    assert statuses == [200, 200, 429]


@pytest.mark.mockagent(scenarios=[SCENARIOS], allow_unmatched=True)
def test_the_journal_names_the_stub_that_answered(mockagent_server: ThreadedMockServer) -> None:
    httpx.get(f"{mockagent_server.url}/healthz", timeout=10)
    httpx.get(f"{mockagent_server.base_url('zeus')}/api/tickets/T-1", timeout=10)
    httpx.get(f"{mockagent_server.url}/nothing-here", timeout=10)
    entries = journal(mockagent_server)
    assert [(e["platform"], e["method"], e["path"], e["status"], e["stub"]) for e in entries] == [
        (None, "GET", "/healthz", 200, where("/healthz")),
        ("zeus", "GET", "/zeus/api/tickets/T-1", 200, where("/api/tickets/{ticket}")),
        (None, "GET", "/nothing-here", 404, None),
    ]


# ── no stub answers ──────────────────────────────────────────────────────────────────────────────────


@pytest.mark.mockagent(scenarios=[SCENARIOS], allow_unmatched=True)
def test_the_404_names_the_stubs_that_came_nearest(mockagent_server: ThreadedMockServer) -> None:
    url = f"{mockagent_server.base_url('zeus')}/api/tickets"
    response = httpx.post(url, json={"kind": "bug"}, headers={"X-Env": "dev"}, timeout=10)
    assert response.status_code == 404
    assert response.json()["detail"] == (  # Zeus's own envelope
        f"no stub answers POST /api/tickets: the stub at {where('/api/tickets')} did not match (header X-Env "
        f"equals 'prod': it is 'dev'); the stub at {where('/api/tickets', 1)} did not match (query dry_run "
        "equals 'true': it is missing)"
    )
    assert journal(mockagent_server)[-1]["explanation"] == response.json()["detail"]
    # A path nothing serves, with no stub for it: the platform's plain 404; at the root, mockagent's own.
    assert httpx.get(f"{url}/a/b", timeout=10).status_code == 404
    root = httpx.get(f"{mockagent_server.url}/elsewhere", timeout=10)
    assert root.status_code == 404
    assert root.json()["error"].startswith("nothing is served at /elsewhere")


@pytest.mark.mockagent(scenarios=[SCENARIOS], allow_unmatched=True)
def test_a_path_served_with_other_methods_is_still_a_405(mockagent_server: ThreadedMockServer) -> None:
    response = httpx.get(f"{mockagent_server.base_url('zeus')}/api/agent/invoke", timeout=10)
    assert response.status_code == 405
    assert response.headers["Allow"] == "POST"


@pytest.mark.mockagent(scenarios=[SCENARIOS], platform="xpander", allow_unmatched=True)
def test_one_platform_at_the_root_serves_its_stubs_and_the_roots(mockagent_server: ThreadedMockServer) -> None:
    device = httpx.get(f"{mockagent_server.url}/v1/devices/d3/status", headers={"X-User": "bo"}, timeout=10)
    assert (device.status_code, device.json()["device"]) == (200, "d3")
    assert httpx.get(f"{mockagent_server.url}/healthz", timeout=10).json() == {"status": "ok"}
    # Another platform's stubs are not served.
    assert httpx.get(f"{mockagent_server.url}/api/tickets/T-1", timeout=10).status_code == 404


def mockagent_states(server: ThreadedMockServer) -> dict[str, str]:
    states: dict[str, str] = httpx.get(f"{server.url}/__mockagent/states", timeout=10).json()
    return states


def test_a_stub_waits_for_a_state_and_sets_one(tmp_path: Path) -> None:
    path = tmp_path / "s.yaml"
    path.write_text(
        "agents:\n"
        "  - id: shop\n"
        "    replies: [{when: {contains: pay}, script: [{say: Paid.}], then: {state: {checkout: paid}}}]\n"
        "stubs:\n"
        "  - method: GET\n"
        "    path: /receipt\n"
        "    when: {state: {checkout: paid}}\n"
        "    body: {paid: true}\n"
        "  - method: POST\n"
        "    path: /refund\n"
        "    status: 204\n"
        "    then: {state: {checkout: refunded}}\n"
    )
    with ThreadedMockServer(Settings(scenario_paths=(path,))) as server:
        before = httpx.get(f"{server.url}/receipt", timeout=10)
        assert before.status_code == 404
        assert "state checkout equals 'paid': it is 'started'" in before.json()["error"]
        invoke = f"{server.base_url('beeos')}/api/v1/agents/shop/invoke"
        assert httpx.post(invoke, json={"message": "pay"}, headers=BEEOS, timeout=10).status_code == 200
        assert httpx.get(f"{server.url}/receipt", timeout=10).json() == {"paid": True}
        # A stub sets a state too, when it answers.
        assert httpx.post(f"{server.url}/refund", timeout=10).status_code == 204
        assert httpx.get(f"{server.url}/receipt", timeout=10).status_code == 404
        assert mockagent_states(server) == {"checkout": "refunded"}
    path.write_text(path.read_text().replace("when: {state: {checkout: paid}}", "when: {state: {checkout: payed}}"))
    with pytest.raises(ScenarioError) as caught:
        load_scenarios(Settings(scenario_paths=(path,)))
    assert str(caught.value).startswith(f"{path}:7:20: state 'checkout' is never set to 'payed'")


def test_a_template_that_fails_is_a_500_naming_where_it_is(tmp_path: Path) -> None:
    path = tmp_path / "s.yaml"
    path.write_text(
        "stubs:\n"
        "  - platform: zeus\n"
        "    method: POST\n"
        "    path: /api/things\n"
        "    body: {name: '{{ body.thing.name }}'}\n"
        "  - method: GET\n"
        "    path: /echo\n"
        '    headers: {X-Echo: \'{{ query.get("v", "") }}\'}\n'
    )
    with ThreadedMockServer(Settings(scenario_paths=(path,))) as server:
        named = httpx.post(f"{server.base_url('zeus')}/api/things", json={"thing": {"name": "box"}}, timeout=10)
        assert named.json() == {"name": "box"}
        failed = httpx.post(f"{server.base_url('zeus')}/api/things", json={}, timeout=10)
        assert failed.status_code == 500
        assert failed.json()["detail"].startswith(f"{path}:5:18: the template '{{{{ body.thing.name }}}}' failed")
        assert httpx.get(f"{server.url}/echo?v=a", timeout=10).headers["X-Echo"] == "a"
        broken = httpx.get(f"{server.url}/echo", params={"v": "a\nSet-Cookie: x=1"}, timeout=10)
        assert broken.status_code == 500
        assert "Set-Cookie" not in broken.headers
        assert broken.json() == {"error": "the stub's header X-Echo rendered a line break, which no header may hold"}


# ── loading and reloading ────────────────────────────────────────────────────────────────────────────


@pytest.mark.parametrize(
    ("text", "position", "message"),
    [
        (
            "stubs:\n  - method: GET\n    path: /a\n    stauts: 201\n",
            "4:5",
            "unknown key 'stauts' in a stub (did you mean 'status'?)",
        ),
        ("stubs:\n  - method: FETCH\n    path: /a\n", "2:13", "method 'FETCH' is not one of: GET, POST"),
        ("stubs:\n  - method: get\n    path: /a\n", "2:13", "(in capitals, as HTTP spells them)"),
        ("stubs:\n  - method: GET\n    path: a/b\n", "3:11", "path 'a/b' must start with /"),
        ("stubs:\n  - method: GET\n    path: /a/{x}{y}\n", "3:11", "a parameter is a whole segment"),
        ("stubs:\n  - method: GET\n    path: /a/{x}/{x}\n", "3:11", "names the parameter 'x' twice"),
        ("stubs:\n  - method: GET\n    path: /a?b=1\n", "3:11", "has a query or fragment"),
        ("stubs:\n  - method: GET\n    path: /beeos/a\n", "3:11", "write 'platform: beeos' and the path below"),
        ("stubs:\n  - method: GET\n    path: /a\n    status: 700\n", "4:13", "status must be from 200 to 599, got 700"),
        ("stubs:\n  - method: GET\n    path: /a\n    status: 204\n    body: x\n", "5:11", "a 204 answer has no body"),
        (
            "stubs:\n  - method: GET\n    path: /a\n    body: x\n    sse: [{data: y}]\n",
            "5:10",
            "a stub answers with 'body' or with 'sse' frames, not both",
        ),
        ("stubs:\n  - method: GET\n    path: /a\n    sse: [{dat: y}]\n", "4:12", "unknown key 'dat' in an sse frame"),
        ("stubs:\n  - method: GET\n    path: /a\n    platform: beos\n", "4:15", "platform 'beos' is not one of"),
        ("stubs:\n  - method: GET\n    path: /a\n    body: '{{ mesage }}'\n", "4:11", "unknown template variable"),
        ("stubs:\n  - method: GET\n    path: /a\n    body: {a: ['{{ x']}\n", "4:16", "template syntax error"),
        (
            "stubs:\n  - method: GET\n    path: /a\n    headers: {Content-Length: '3'}\n",
            "4:15",
            "the server writes Content-Length itself",
        ),
        ("stubs:\n  - method: GET\n    path: /a\n    when: {paramz: {}}\n", "4:12", "unknown key 'paramz' in when"),
        (
            "stubs:\n  - method: GET\n    path: /a/{b}\n  - method: GET\n    path: /a/{c}\n",
            "4:5",
            "this stub answers the same requests as the stub at",
        ),
    ],
)
def test_load_errors_name_the_line(tmp_path: Path, text: str, position: str, message: str) -> None:
    path = tmp_path / "s.yaml"
    with pytest.raises(ScenarioError) as caught:
        load_text(path, text)
    first = str(caught.value.problems[0])
    assert first.startswith(f"{path}:{position}: "), first
    assert message in first, first


def test_every_problem_of_every_stub_is_reported(tmp_path: Path) -> None:
    text = (
        "stubs:\n  - method: FETCH\n    path: /a\n  - method: GET\n    path: b\n    status: 99\n"
        "    headers: {Connection: close, X-A: '{{ nope }}', 'a b': c}\n"
    )
    with pytest.raises(ScenarioError) as caught:
        load_text(tmp_path / "s.yaml", text)
    assert [str(p).split(": ", 1)[0].rsplit(":", 2)[1:] for p in caught.value.problems] == [
        ["2", "13"],
        ["5", "11"],
        ["6", "13"],
        ["7", "15"],
        ["7", "39"],
        ["7", "53"],
    ]


def test_validate_counts_the_stubs_and_reports_a_collision(tmp_path: Path) -> None:
    good = CliRunner().invoke(main, ["validate", FILE])
    assert (good.exit_code, good.output) == (0, "ok: 2 agents and 17 stubs in 1 file\n")
    bad = tmp_path / "bad.yaml"
    bad.write_text("stubs:\n  - platform: aster\n    method: POST\n    path: /api/chat\n")
    result = CliRunner().invoke(main, ["validate", str(bad)])
    assert result.exit_code == 1
    assert f"{bad}:2:5: aster's modelled route POST /api/chat answers the requests of this stub" in result.output


def test_reload_adds_a_stub(tmp_path: Path) -> None:
    path = tmp_path / "mine.yaml"
    path.write_text("agents:\n  - id: first\n    script: [{say: one}]\n")
    with ThreadedMockServer(Settings(scenario_paths=(path,))) as server:
        assert httpx.get(f"{server.url}/healthz", timeout=10).status_code == 404
        path.write_text(
            "agents:\n  - id: first\n    script: [{say: one}]\n"
            "stubs:\n  - method: GET\n    path: /healthz\n    body: {status: ok}\n"
        )
        assert httpx.post(f"{server.url}/__mockagent/reload", timeout=10).status_code == 200
        assert httpx.get(f"{server.url}/healthz", timeout=10).json() == {"status": "ok"}
        path.write_text(  # a stub the modelled invoke answers: refused, and the old stubs stay
            "stubs:\n  - platform: zeus\n    method: POST\n    path: /api/agent/invoke\n    body: {}\n"
        )
        refused = httpx.post(f"{server.url}/__mockagent/reload", timeout=10)
        assert refused.status_code == 422
        assert refused.json()["errors"][0].startswith(f"{path}:2:5: zeus's modelled route POST /api/agent/invoke")
        assert httpx.get(f"{server.url}/healthz", timeout=10).status_code == 200
