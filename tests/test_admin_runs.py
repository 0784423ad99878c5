"""Runs through the admin API: listed and read in neutral form, and decided (approve, reject, answer,
cancel) so that each platform's client sees the run continue as if it had resumed it through the
platform's own API — its poll, its stream, its next call."""

from __future__ import annotations

import json
from typing import Any

import httpx
import pytest
from credentials import AGENTOS, BEEOS, JWT
from sse import json_frames

from mockagent.server import ThreadedMockServer

PAUSES = "tests/scenarios/admin_pauses.yaml"
pytestmark = pytest.mark.mockagent(manual_clock=True, scenarios=[PAUSES])
SAFETY = 10.0  # real seconds: a bound on what should happen at once, never a measurement
ZEUS_LLM = {"baseUrl": "https://api.openai.com/v1", "apiKey": "sk-x", "modelName": "gpt-4o"}
ASTER = {"Authorization": "Bearer " + JWT}


def admin(server: ThreadedMockServer, method: str, path: str, body: Any = None) -> httpx.Response:
    return httpx.request(method, f"{server.url}/__mockagent{path}", json=body, timeout=SAFETY)


def ok(response: httpx.Response, status: int = 200) -> Any:
    assert response.status_code == status, response.text
    return response.json()


def error(response: httpx.Response, status: int) -> str:
    assert response.status_code == status, response.text
    body = response.json()
    assert set(body) == {"error"}, body
    message: str = body["error"]
    return message


def only_run(server: ThreadedMockServer) -> dict[str, Any]:
    (run,) = ok(admin(server, "GET", "/runs"))
    return dict(run)


# ── the neutral view ─────────────────────────────────────────────────────────────────────────────────


def test_a_paused_run_in_neutral_form_then_approved_with_changed_arguments(
    mockagent_server: ThreadedMockServer,
) -> None:
    paused = ok(
        httpx.post(f"{mockagent_server.base_url('agentos')}/api/v1/agents/approval/invoke", json={}, headers=AGENTOS),
        202,
    )
    run_id = paused["data"]["run_id"]
    listed = only_run(mockagent_server)
    assert listed["status"] == "paused"
    assert listed["created_at"] == 0
    call = {
        "type": "tool_call",
        "call_id": "call_1",
        "name": "send_email",
        "args": {"to": "ops@example.com"},
        "requires_approval": True,
    }
    assert listed["pause"] == {
        "kind": "approval",
        "request_id": paused["data"]["awaiting_approval"]["approval_id"],
        "question": 'May I call send_email with {"to": "ops@example.com"}? (yes/no)',
        "options": [],
        "tool_call": call,
    }
    one = ok(admin(mockagent_server, "GET", f"/runs/{run_id}"))
    assert [e["type"] for e in one["events"]] == ["tool_call", "paused"]
    assert one["events"][0] == {"at": 0, **call}
    decided = ok(admin(mockagent_server, "POST", f"/runs/{run_id}/approve", {"args": {"to": "dev@example.com"}}))
    assert "pause" not in decided
    assert [e["type"] for e in decided["events"]] == [
        "tool_call",
        "paused",
        "resumed",
        "tool_result",
        "text",
        "text",
        "text",
        "text",
        "completed",
    ]
    assert decided["events"][2] == {
        "at": 0,
        "type": "resumed",
        "decision": "approved",
        "args": {"to": "dev@example.com"},
    }
    assert (decided["status"], decided["text"]) == ("completed", "Email sent to dev@example.com.")


def test_decisions_that_do_not_fit_are_409_and_unknown_runs_404(mockagent_server: ThreadedMockServer) -> None:
    ok(
        httpx.post(f"{mockagent_server.base_url('agentos')}/api/v1/agents/approval/invoke", json={}, headers=AGENTOS),
        202,
    )
    run_id = only_run(mockagent_server)["id"]
    assert "waiting for an approval, not an answer" in error(
        admin(mockagent_server, "POST", f"/runs/{run_id}/answer", {"answer": "x"}), 409
    )
    assert "answer" in error(admin(mockagent_server, "POST", f"/runs/{run_id}/answer", {}), 400)
    assert "args" in error(admin(mockagent_server, "POST", f"/runs/{run_id}/approve", {"args": [1]}), 400)
    assert "nope" in error(admin(mockagent_server, "POST", f"/runs/{run_id}/approve", {"nope": 1}), 400)
    assert "JSON" in error(
        httpx.post(f"{mockagent_server.url}/__mockagent/runs/{run_id}/reject", content=b"{", timeout=SAFETY), 400
    )
    deep = httpx.post(f"{mockagent_server.url}/__mockagent/runs/{run_id}/approve", content=b"[" * 60_000)
    assert "nested too deeply" in error(deep, 400)
    assert "no run" in error(admin(mockagent_server, "POST", "/runs/missing/approve"), 404)
    assert "no run" in error(admin(mockagent_server, "GET", "/runs/missing"), 404)
    rejected = ok(admin(mockagent_server, "POST", f"/runs/{run_id}/reject"))
    assert (rejected["status"], rejected["events"][-1]) == (
        "failed",
        {"at": 0, "type": "failed", "message": "Email not sent.", "code": "rejected"},
    )
    assert "not paused (it is failed)" in error(admin(mockagent_server, "POST", f"/runs/{run_id}/approve"), 409)
    assert "only a run not yet over" in error(admin(mockagent_server, "POST", f"/runs/{run_id}/cancel"), 409)


# ── each platform's client sees the continuation ─────────────────────────────────────────────────────


def test_agentos_poll_sees_the_approval_decided(mockagent_server: ThreadedMockServer) -> None:
    base = mockagent_server.base_url("agentos") + "/api/v1"
    paused = ok(httpx.post(f"{base}/agents/approval/invoke", json={}, headers=AGENTOS), 202)["data"]
    run_id, approval_id = paused["run_id"], paused["awaiting_approval"]["approval_id"]
    ok(admin(mockagent_server, "POST", f"/runs/{run_id}/approve"))
    polled = ok(httpx.get(f"{base}/runs/{run_id}", headers=AGENTOS))["data"]
    assert (polled["status"], polled["output"]) == ("completed", {"text": "Email sent to ops@example.com."})
    assert ok(httpx.get(f"{base}/approvals", headers=AGENTOS))["data"] == []
    [seen] = ok(admin(mockagent_server, "GET", "/agentos/approvals"))
    assert (seen["approval_id"], seen["status"]) == (approval_id, "approved")
    twice = httpx.post(f"{base}/approvals/{approval_id}/decide", json={"decision": "reject"}, headers=AGENTOS)
    assert twice.status_code == 400
    assert "already approved" in twice.json()["error"]["message"]


def test_agentos_question_answered(mockagent_server: ThreadedMockServer) -> None:
    base = mockagent_server.base_url("agentos") + "/api/v1"
    run_id = ok(httpx.post(f"{base}/agents/question/invoke", json={}, headers=AGENTOS), 202)["data"]["run_id"]
    ok(admin(mockagent_server, "POST", f"/runs/{run_id}/answer", {"answer": "staging"}))
    polled = ok(httpx.get(f"{base}/runs/{run_id}", headers=AGENTOS))["data"]
    assert (polled["status"], polled["output"]) == ("completed", {"text": "Deploying to staging."})


def test_beeos_task_shows_the_continuation(mockagent_server: ThreadedMockServer) -> None:
    tasks = mockagent_server.base_url("beeos") + "/api/v1/agents/question/tasks"
    task_id = ok(httpx.post(tasks, json={"message": "go"}, headers=BEEOS), 202)["data"]["task_id"]
    mockagent_server.advance(1)  # dispatched
    assert ok(httpx.get(f"{tasks}/{task_id}", headers=BEEOS))["data"]["status"] == "input_required"
    ok(admin(mockagent_server, "POST", f"/runs/{task_id}/answer", {"answer": "production"}))
    done = ok(httpx.get(f"{tasks}/{task_id}", headers=BEEOS))["data"]
    assert (done["status"], done["result"]) == ("completed", {"text": "Deploying to production."})
    messages = ok(httpx.get(f"{tasks}/{task_id}/messages", headers=BEEOS))["data"]["messages"]
    assert {"text": "production"} in [m.get("payload") for m in messages]
    continued = httpx.post(f"{tasks}/{task_id}/continue", json={"input": {"text": "again"}}, headers=BEEOS)
    assert continued.status_code == 409


def test_beeos_task_event_stream_continues(mockagent_server: ThreadedMockServer) -> None:
    tasks = mockagent_server.base_url("beeos") + "/api/v1/agents/approval/tasks"
    task_id = ok(httpx.post(tasks, json={"message": "go"}, headers=BEEOS), 202)["data"]["task_id"]
    mockagent_server.advance(1)
    with httpx.stream("GET", f"{tasks}/{task_id}/events", headers=BEEOS, timeout=SAFETY) as stream:
        mockagent_server.until_waiting(1)  # the stream waits in the pause
        ok(admin(mockagent_server, "POST", f"/runs/{task_id}/approve"))
        text = stream.read().decode()
    assert "event: end" in text
    assert "Email sent to ops@example.com." in "".join(
        str(frame) for frame in json_frames(text.replace("event: end", ""))
    )


def test_xpander_poll_sees_the_approval(mockagent_server: ThreadedMockServer) -> None:
    base = mockagent_server.base_url("xpander") + "/v1"
    headers = {"x-api-key": "key-1"}
    body = {"input": {"text": "hi", "user": {"id": "u-1", "email": "ada@example.com"}}}
    task = ok(httpx.post(f"{base}/agents/approval/invoke/async", json=body, headers=headers, timeout=SAFETY))
    assert ok(httpx.get(f"{base}/tasks/{task['id']}", headers=headers))["status"] == "paused"
    ok(admin(mockagent_server, "POST", f"/runs/{only_run(mockagent_server)['id']}/approve"))
    done = ok(httpx.get(f"{base}/tasks/{task['id']}", headers=headers))
    assert (done["status"], done["result"]) == ("completed", "Email sent to ops@example.com.")


def test_zeus_resume_streams_what_the_admin_decided(mockagent_server: ThreadedMockServer) -> None:
    url = mockagent_server.base_url("zeus") + "/api/agent"
    headers = {"Authorization": "Bearer " + JWT}
    invoke = {"message": "mail", "llm_config": ZEUS_LLM, "session_id": "s-1"}
    frames = json_frames(httpx.post(f"{url}/invoke", json=invoke, headers=headers, params={"agent": "approval"}).text)
    assert frames[-1]["type"] == "interrupt"
    run_id = only_run(mockagent_server)["id"]
    ok(admin(mockagent_server, "POST", f"/runs/{run_id}/approve", {"args": {"to": "dev@example.com"}}))
    resume = {
        "session_id": "s-1",
        "llm_config": ZEUS_LLM,
        "tool_call_results": [{"tool_call_id": "call_1", "tool_name": "send_email", "decision": "approved"}],
    }
    response = httpx.post(f"{url}/resume", json=resume, headers=headers, timeout=SAFETY)
    assert response.status_code == 200, response.text
    continued = json_frames(response.text)
    assert continued[0]["type"] == "tool_call"
    assert continued[0]["tool_args"] == {"to": "dev@example.com"}
    assert "".join(f["content"] for f in continued if f["type"] == "message_chunk") == "Email sent to dev@example.com."
    assert continued[-1]["type"] == "done"
    again = httpx.post(f"{url}/resume", json=resume, headers=headers, timeout=SAFETY)
    assert again.status_code == 409


def test_aster_next_message_continues_as_decided(mockagent_server: ThreadedMockServer) -> None:
    url = mockagent_server.base_url("aster") + "/chat"
    asked = httpx.post(url, json={"agentId": 4, "message": _user("deploy")}, headers=ASTER, timeout=SAFETY)
    assert "Which environment?" in asked.text
    thread = asked.headers["X-Thread-ID"]
    run = only_run(mockagent_server)
    assert (run["status"], run["pause"]["kind"]) == ("completed", "input")
    assert "not an approval" in error(admin(mockagent_server, "POST", f"/runs/{run['id']}/approve"), 409)
    decided = ok(admin(mockagent_server, "POST", f"/runs/{run['id']}/answer", {"answer": "staging"}))
    assert "pause" not in decided
    carried = httpx.post(
        url, json={"agentId": 4, "threadId": thread, "message": _user("ok")}, headers=ASTER, timeout=SAFETY
    )
    chunks = [json.loads(line[6:]) for line in carried.text.splitlines() if line.startswith("data: {")]
    deltas = [chunk for chunk in chunks if chunk["type"] == "text-delta"]
    assert "".join(frame["delta"] for frame in deltas) == "Deploying to staging."
    conversation = httpx.get(
        mockagent_server.base_url("aster") + "/getConversation", params={"threadId": thread}, headers=ASTER
    )
    assert conversation.json()["streamStatus"] == "completed"


def test_cancel_ends_a_paused_task(mockagent_server: ThreadedMockServer) -> None:
    tasks = mockagent_server.base_url("beeos") + "/api/v1/agents/approval/tasks"
    task_id = ok(httpx.post(tasks, json={"message": "go"}, headers=BEEOS), 202)["data"]["task_id"]
    mockagent_server.advance(1)
    cancelled = ok(admin(mockagent_server, "POST", f"/runs/{task_id}/cancel"))
    assert cancelled["status"] == "cancelled"
    assert cancelled["events"][-1]["type"] == "cancelled"
    assert ok(httpx.get(f"{tasks}/{task_id}", headers=BEEOS))["data"]["status"] == "canceled"


def _user(text: str) -> dict[str, Any]:
    return {"role": "user", "parts": [{"type": "text", "text": text}]}
