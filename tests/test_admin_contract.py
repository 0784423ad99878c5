"""The admin API as a documented contract: the routes the server registers under /__mockagent are the
operations of its OpenAPI document (mockagent/admin/openapi.json), every one is exercised here with its
answers — successes and errors — checked against the document, and the check can fail."""

from __future__ import annotations

import copy
import json
from importlib import resources
from typing import Any

import httpx
import pytest
from admin_contract import PREFIX, AdminClient, ContractError, check, check_frames, check_request, operations
from credentials import AGENTOS, BEEOS

from mockagent.app import build_app
from mockagent.server import ThreadedMockServer
from mockagent.settings import Settings

PAUSES = "tests/scenarios/admin_pauses.yaml"
INSTANT = "tests/scenarios/instant.yaml"
TOKEN = "t0ken-of-the-admin-api"
SAFETY = 10.0  # real seconds: a bound on what should happen at once, never a measurement

# The event feed never ends while the server runs: its frames are checked against the document by
# tests/test_events.py (`check_frames`), not by the client here.
STREAMED = {("GET", f"{PREFIX}/events")}


def served_routes(settings: Settings) -> set[tuple[str, str]]:
    app = build_app(settings)
    return {
        (route.method, route.resource.canonical)
        for route in app.router.routes()
        if route.resource is not None and route.resource.canonical.startswith(PREFIX + "/")
    }


def test_the_routes_served_are_the_documents_operations() -> None:
    served = served_routes(Settings())
    documented = operations()
    assert served == documented


def test_the_document_is_served_as_shipped() -> None:
    with ThreadedMockServer(Settings()) as server, AdminClient(server.url) as client:
        shipped = json.loads(resources.files("mockagent.admin").joinpath("openapi.json").read_text("utf-8"))
        assert client.get("/openapi.json").json() == shipped
        assert shipped["openapi"].startswith("3.1")


@pytest.mark.mockagent(manual_clock=True, scenarios=[INSTANT, PAUSES])
def test_every_route_answers_as_documented(mockagent_server: ThreadedMockServer) -> None:
    server = mockagent_server
    agentos = f"{server.base_url('agentos')}/api/v1/agents"

    def paused(agent: str) -> str:
        response = httpx.post(f"{agentos}/{agent}/invoke", json={}, headers=AGENTOS, timeout=SAFETY)
        assert response.status_code == 202, response.text
        run_id: str = response.json()["data"]["run_id"]
        return run_id

    with AdminClient(server.url) as client:
        # the process
        client.get("/health")
        client.get("/stats")
        client.get("/openapi.json")
        # the web page
        client.get("/ui")
        client.get("/ui/app.js")
        client.get("/ui/style.css")
        assert client.request("HEAD", "/ui").content == b""  # the page's head, as a link checker asks
        assert client.request("HEAD", "/ui/app.js").status_code == 200
        assert client.get("/ui/nothing.js").status_code == 404
        # sessions
        invoke = f"{server.base_url('beeos')}/api/v1/agents/echo/invoke"
        httpx.post(invoke, json={"message": "hi"}, headers={**BEEOS, "X-Mockagent-Session": "alice"})
        client.get("/sessions")
        assert client.get("/sessions/alice").json()["runs"][0]["agent"] == "echo"
        assert client.get("/sessions/nobody").status_code == 404
        assert client.delete("/sessions/nobody").json() == {"session": "nobody", "reset": False}
        # the clock
        client.get("/clock")
        client.post("/clock/advance", json={"seconds": 1})
        assert client.post("/clock/advance", json={"seconds": -1}).status_code == 400
        assert client.post("/clock/advance", content=b"{" * 5000).status_code == 413
        assert client.get("/clock", headers={"X-Mockagent-Session": "no spaces"}).status_code == 400
        # runs and decisions
        approval = paused("approval")
        client.get("/runs")
        assert client.get(f"/runs/{approval}").json()["pause"]["kind"] == "approval"
        assert client.get("/runs/missing").status_code == 404
        assert client.post(f"/runs/{approval}/answer", json={"answer": "x"}).status_code == 409
        assert client.post(f"/runs/{approval}/answer", json={}).status_code == 400
        assert client.post("/runs/missing/approve").status_code == 404
        assert client.post(f"/runs/{approval}/approve", json={"args": {"to": "a@b.c"}}).status_code == 200
        assert client.post(f"/runs/{approval}/reject").status_code == 409
        assert client.post(f"/runs/{approval}/cancel").status_code == 409
        assert client.post(f"/runs/{paused('approval')}/reject").status_code == 200
        assert client.post(f"/runs/{paused('question')}/answer", json={"answer": "staging"}).status_code == 200
        assert client.post(f"/runs/{paused('question')}/cancel").json()["events"][-1]["type"] == "cancelled"
        # states and sequences
        client.put("/states/checkout", json={"state": "paid"})
        assert client.put("/states/checkout", json={"state": 1}).status_code == 400
        assert client.put("/states/checkout", content=b" " * 20000).status_code == 413
        client.get("/states")
        client.delete("/states/checkout")
        client.delete("/states")
        client.get("/sequences")
        client.delete("/sequences")
        # faults
        assert client.post("/faults", json={"fault": "429", "times": 1}).status_code == 201
        assert client.post("/faults", json={"fault": "418"}).status_code == 400
        client.get("/faults")
        client.put("/faults/chaos", json={"chaos": 0})
        assert client.put("/faults/chaos", json={"chaos": 5}).status_code == 400
        client.delete("/faults")
        # AgentOS's inspection routes
        ingest = f"{server.base_url('agentos')}/api/ingest/v1/run/start"
        started = httpx.post(ingest, json={"agent_id": "external"}, headers=AGENTOS, timeout=SAFETY)
        assert started.status_code in (200, 201), started.text
        [reported] = client.get("/agentos/ingest/runs").json()
        client.get(f"/agentos/ingest/runs/{reported['run_id']}")
        assert client.get("/agentos/ingest/runs/none").status_code == 404
        assert client.get("/agentos/approvals").json()[0]["status"] == "approved"
        # scenarios
        client.get("/scenarios")
        client.post("/reload")
        yaml = {"Content-Type": "application/yaml"}
        assert client.put("/scenarios", content="agents: [{id: 1}]", headers=yaml).status_code == 422
        assert client.put("/scenarios", content="x", headers={"Content-Type": "image/png"}).status_code == 415
        document = "agents:\n  - id: echo\n    script: [{say: hi}]\n"
        assert client.put("/scenarios", content=document, headers=yaml).status_code == 200
        # the journal
        first = client.get("/journal", params={"limit": 2}).json()["entries"][0]
        client.get(f"/journal/{first['id']}")
        assert client.get("/journal/999999").status_code == 404
        assert client.get("/journal", params={"status": "4x"}).status_code == 400
        # verification
        assert client.post("/verify", json={"platform": "beeos", "path": "*/invoke", "at_least": 1}).json()["passed"]
        assert client.post("/verify", json={"n": "one"}).status_code == 400
        assert client.get("/verdicts/backed_off").json()["passed"]
        assert client.get("/verdicts/polled_no_faster", params={"min_interval": "x"}).status_code == 400
        assert client.get("/verdicts/nonsense").status_code == 404
        client.delete("/journal", params={"session": "alice"})
        client.delete("/journal")
        client.delete("/sessions")
        seen = client.seen

    with ThreadedMockServer(Settings(admin_token=TOKEN)) as guarded, AdminClient(guarded.url) as client:
        assert client.get("/stats").status_code == 401
        assert client.get("/health", headers={"Host": "evil.example"}).status_code == 403
        assert client.get("/ui").status_code == 401
        assert client.get("/ui", params={"token": TOKEN}).status_code == 303
        seen |= client.seen

    exercised = {(method, template) for method, template, status in seen if status < 300}
    expected = operations() - STREAMED
    assert expected - exercised == set(), "routes with no successful answer checked"
    errors = {status for _, _, status in seen if status >= 400}
    assert errors >= {400, 401, 403, 404, 409, 413, 415, 422}


# ── the check can fail ───────────────────────────────────────────────────────────────────────────────

RUN: dict[str, Any] = {
    "id": "r-1",
    "platform": "agentos",
    "agent": "approval",
    "conversation": "c-1",
    "status": "completed",
    "created_at": 0,
    "message": "",
    "text": "Done.",
    "reply": "a.yaml:3:5",
    "events": [
        {"at": 0, "type": "text", "text": "Done.", "block": 1},
        {"at": 0, "type": "resumed", "decision": "approved", "args": None},
        {"at": 0.5, "type": "completed"},
    ],
}


def mutated(change: str) -> dict[str, Any]:
    run = copy.deepcopy(RUN)
    match change:
        case "extra field":
            run["extra"] = 1
        case "mistyped field":
            run["created_at"] = "0"
        case "unknown status":
            run["status"] = "sleeping"
        case "missing field":
            del run["text"]
        case "event with an extra field":
            run["events"][0]["colour"] = "blue"
        case "event of no known type":
            run["events"][2]["type"] = "finished"
        case "pause of another shape":
            run["pause"] = {"kind": "approval"}
    return run


def test_a_conforming_body_passes() -> None:
    check("GET", f"{PREFIX}/runs/r-1", 200, RUN)
    check_request("POST", f"{PREFIX}/runs/r-1/approve", {"args": {"to": "x"}})


@pytest.mark.parametrize(
    "change",
    [
        "extra field",
        "mistyped field",
        "unknown status",
        "missing field",
        "event with an extra field",
        "event of no known type",
        "pause of another shape",
    ],
)
def test_a_body_off_the_document_fails(change: str) -> None:
    with pytest.raises(ContractError):
        check("GET", f"{PREFIX}/runs/r-1", 200, mutated(change))


def test_undocumented_statuses_routes_and_media_types_fail() -> None:
    with pytest.raises(ContractError, match="status not documented"):
        check("GET", f"{PREFIX}/health", 404, {"error": "x"})
    with pytest.raises(ContractError, match="no operation"):
        check("GET", f"{PREFIX}/nothing", 200, {})
    with pytest.raises(ContractError, match="Content-Type"):
        check("GET", f"{PREFIX}/health", 200, {"status": "ok", "platforms": []}, "text/plain")
    with pytest.raises(ContractError):
        check("GET", f"{PREFIX}/runs/r-1", 404, {"error": "x", "code": "not_found"})
    with pytest.raises(ContractError):
        check_request("POST", f"{PREFIX}/runs/r-1/answer", {"answer": 1})


def test_event_stream_frames_are_checked() -> None:
    entry_less = 'id: 1\nevent: session.reset\ndata: {"type": "session.reset", "session": "a"}\n\n'
    assert check_frames(entry_less) == [{"type": "session.reset", "session": "a"}]
    with pytest.raises(ContractError):
        check_frames('id: 1\nevent: request.received\ndata: {"type": "request.received", "session": "a"}\n\n')
    with pytest.raises(ContractError, match="not its data's type"):
        check_frames('id: 1\nevent: run.ended\ndata: {"type": "session.reset", "session": "a"}\n\n')
    with pytest.raises(ContractError, match="not an integer above"):
        check_frames(entry_less + entry_less)
