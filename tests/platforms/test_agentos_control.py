"""The AgentOS control plane over HTTP (`POST /api/v1/rpc/<method>`): runs, conversations, and the methods
mockagent does not model. The SDK's walk through every method is tests/platforms/test_sdk_surface.py; here
are the edges a client meets: states that refuse an act, keys, limits, and what other views see."""

from __future__ import annotations

from concurrent.futures import ThreadPoolExecutor
from typing import Any

import httpx
import pytest
from sse import json_frames

from mockagent.server import ThreadedMockServer

pytestmark = pytest.mark.mockagent(manual_clock=True)

WS = "aos_ws_test"
AUTH = "tests/platforms/scenarios/agentos_auth.yaml"
STUBS = "script its answer with a raw stub (see docs/scenarios.md#raw-stubs)."


def post(server: ThreadedMockServer, path: str, body: Any, key: str = WS) -> httpx.Response:
    headers = {"Authorization": f"Bearer {key}"}
    return httpx.post(f"{server.base_url('agentos')}{path}", json=body, headers=headers, timeout=10)


def rpc(server: ThreadedMockServer, method: str, body: Any, key: str = WS) -> httpx.Response:
    return post(server, f"/api/v1/rpc/{method}", body, key)


def data(response: httpx.Response, status: int = 200) -> Any:
    assert response.status_code == status, response.text
    return response.json()["data"]


def error(response: httpx.Response, status: int, code: str) -> str:
    assert response.status_code == status, response.text
    body = response.json()
    assert (body["data"], body["error"]["code"]) == (None, code), body
    message: str = body["error"]["message"]
    return message


def invoke(server: ThreadedMockServer, agent: str, body: dict[str, Any] | None = None, key: str = WS) -> Any:
    """A blocking invoke's data, with the manual clock moved on while it waits."""
    sent = {"input": {"query": "deploy"}, **(body or {})}
    response = server.advance_during(lambda: post(server, f"/api/v1/agents/{agent}/invoke", sent, key), 5)
    assert response.status_code in (200, 202), response.text
    return response.json()["data"]


def run_view(server: ThreadedMockServer, run_id: str) -> dict[str, Any]:
    view: dict[str, Any] = data(rpc(server, "runs_get", {"run_id": run_id}))
    return view


# ── runs.cancel ───────────────────────────────────────────────────────────────────────────────────


def test_cancel_a_paused_approval(mockagent_server: ThreadedMockServer) -> None:
    paused = invoke(mockagent_server, "approval")
    approval_id = paused["awaiting_approval"]["approval_id"]
    cancelled = data(rpc(mockagent_server, "runs_cancel", {"run_id": paused["run_id"]}))
    assert (cancelled["status"], cancelled["error"]) == (
        "cancelled",
        {"code": "CANCELLED", "message": "The run was cancelled: the client cancelled it."},
    )
    assert data(rpc(mockagent_server, "approvals_list", {})) == []
    decided = rpc(mockagent_server, "approvals_decide", {"approval_id": approval_id, "decision": "approved"})
    assert error(decided, 400, "VALIDATION_ERROR") == f"Approval {approval_id} was already cancelled."
    # Cancelling again changes nothing; the run keeps the moment it was cancelled.
    again = data(rpc(mockagent_server, "runs_cancel", {"run_id": paused["run_id"]}))
    assert again == cancelled


def test_cancel_ends_an_open_stream(mockagent_server: ThreadedMockServer) -> None:
    url = f"{mockagent_server.base_url('agentos')}/api/v1/agents/slow/invoke"
    headers = {"Authorization": f"Bearer {WS}"}
    with httpx.stream("POST", url, json={"stream": True}, headers=headers, timeout=10) as response:
        lines = response.iter_lines()
        start = json_frames(next(lines) + "\n\n")[0]
        assert start["type"] == "start"
        mockagent_server.until_waiting()  # the stream waits for the agent's first words
        data(rpc(mockagent_server, "runs_cancel", {"run_id": start["run_id"]}))
        rest = json_frames("\n".join(lines) + "\n")
    assert rest == [
        {"type": "error", "code": "CANCELLED", "message": "The run was cancelled: the client cancelled it."}
    ]


def test_cancel_a_run_that_ended_otherwise_is_a_conflict(mockagent_server: ThreadedMockServer) -> None:
    done = invoke(mockagent_server, "echo")
    refused = rpc(mockagent_server, "runs_cancel", {"run_id": done["run_id"]})
    assert error(refused, 409, "CONFLICT") == f"Run {done['run_id']} already ended (completed); it can't be cancelled."
    assert run_view(mockagent_server, done["run_id"])["status"] == "completed"


def test_cancel_a_blocking_invoke_that_waits(mockagent_server: ThreadedMockServer) -> None:
    """The client blocked on the run gets the run's end (500 CANCELLED), not a hang."""
    with ThreadPoolExecutor(1) as pool:
        waiting = pool.submit(post, mockagent_server, "/api/v1/agents/slow/invoke", {})
        mockagent_server.until_waiting()
        run_id = data(rpc(mockagent_server, "runs_list", {}))[0]["run_id"]
        data(rpc(mockagent_server, "runs_cancel", {"run_id": run_id}))
        blocked = waiting.result(timeout=10)
    assert error(blocked, 500, "CANCELLED") == "The run was cancelled: the client cancelled it."


@pytest.mark.parametrize(
    ("body", "status", "code", "message"),
    [
        ({}, 400, "VALIDATION_ERROR", "run_id: Field required"),
        ({"run_id": 5}, 400, "VALIDATION_ERROR", "run_id: Input should be a valid string"),
        ({"run_id": "nope"}, 404, "NOT_FOUND", "Run nope not found."),
    ],
)
def test_cancel_refuses(mockagent_server: ThreadedMockServer, body: Any, status: int, code: str, message: str) -> None:
    assert error(rpc(mockagent_server, "runs_cancel", body), status, code) == message


@pytest.mark.mockagent(manual_clock=True, scenarios=[AUTH], with_builtin=True)
def test_an_agent_key_reaches_its_own_runs_only(mockagent_server: ThreadedMockServer) -> None:
    own = invoke(mockagent_server, "echo", key="aos_agent_echo")["run_id"]
    other = invoke(mockagent_server, "question", key="aos_ws_team")["run_id"]
    for method in ("runs_get", "runs_get_events", "runs_cancel"):
        assert rpc(mockagent_server, method, {"run_id": own}, "aos_agent_echo").status_code in (200, 409)
        error(rpc(mockagent_server, method, {"run_id": other}, "aos_agent_echo"), 403, "FORBIDDEN")
    for method in ("runs_list", "conversations_list", "approvals_list"):
        error(rpc(mockagent_server, method, {}, "aos_agent_echo"), 403, "FORBIDDEN")
    refused_cancel_left = data(rpc(mockagent_server, "runs_get", {"run_id": other}, "aos_ws_team"))
    assert refused_cancel_left["status"] == "awaiting_input"


# ── runs.events ───────────────────────────────────────────────────────────────────────────────────


def test_events_of_an_approval_go_on_after_the_decision(mockagent_server: ThreadedMockServer) -> None:
    paused = invoke(mockagent_server, "approval")
    approval_id = paused["awaiting_approval"]["approval_id"]
    before = data(rpc(mockagent_server, "runs_get_events", {"run_id": paused["run_id"]}))
    assert [e["type"] for e in before] == ["start", "tool", "awaiting_approval"]
    assert before[-1]["approval_id"] == approval_id
    data(rpc(mockagent_server, "approvals_decide", {"approval_id": approval_id, "decision": "approved"}))
    mockagent_server.advance(5)
    after = data(rpc(mockagent_server, "runs_get_events", {"run_id": paused["run_id"]}))
    assert after[:3] == before
    assert [e["type"] for e in after[3:]] == ["tool", "chunk", "chunk", "done"]
    assert [e.get("status") for e in after if e["type"] == "tool"] == ["calling", "returned"]


def test_events_show_what_a_stream_has_shown_by_now(mockagent_server: ThreadedMockServer) -> None:
    with ThreadPoolExecutor(1) as pool:
        waiting = pool.submit(post, mockagent_server, "/api/v1/agents/slow/invoke", {})
        mockagent_server.until_waiting()
        run_id = data(rpc(mockagent_server, "runs_list", {}))[0]["run_id"]
        assert [e["type"] for e in data(rpc(mockagent_server, "runs_get_events", {"run_id": run_id}))] == ["start"]
        mockagent_server.advance(5)
        assert waiting.result(timeout=10).status_code == 200
    assert data(rpc(mockagent_server, "runs_get_events", {"run_id": run_id}))[-1]["type"] == "done"


def test_events_of_a_run_ended_by_its_limit(mockagent_server: ThreadedMockServer) -> None:
    paused = invoke(mockagent_server, "approval")
    mockagent_server.advance(24 * 3600)  # undecided: the approval expires
    last = data(rpc(mockagent_server, "runs_get_events", {"run_id": paused["run_id"]}))[-1]
    assert (last["type"], last["code"]) == ("error", "APPROVAL_EXPIRED")


@pytest.mark.parametrize("limit", [0, 1001, "5"])
def test_events_limit_is_bounded(mockagent_server: ThreadedMockServer, limit: Any) -> None:
    run_id = invoke(mockagent_server, "echo")["run_id"]
    message = error(
        rpc(mockagent_server, "runs_get_events", {"run_id": run_id, "limit": limit}), 400, "VALIDATION_ERROR"
    )
    assert message.startswith("limit: ")


# ── runs.list, runs.invoke ────────────────────────────────────────────────────────────────────────


def test_runs_list_filters(mockagent_server: ThreadedMockServer) -> None:
    asked = invoke(mockagent_server, "question")["run_id"]
    done = invoke(mockagent_server, "echo")["run_id"]
    assert [r["run_id"] for r in data(rpc(mockagent_server, "runs_list", {"status": "awaiting_input"}))] == [asked]
    assert [r["run_id"] for r in data(rpc(mockagent_server, "runs_list", {"status": "completed"}))] == [done]
    for body in ({"limit": 0}, {"limit": 101}, {"status": "paused"}):
        field = next(iter(body))
        error_message = error(rpc(mockagent_server, "runs_list", body), 400, "VALIDATION_ERROR")
        assert error_message.startswith(f"{field}: ")


def test_runs_invoke_answers_as_a_blocking_invoke(mockagent_server: ThreadedMockServer) -> None:
    body = {"agent_id": "question", "input": {"query": "deploy"}, "stream": True, "start_session": True}
    paused = mockagent_server.advance_during(lambda: rpc(mockagent_server, "runs_invoke", body), 5)
    assert paused.status_code == 202, paused.text
    assert paused.headers["content-type"].startswith("application/json")
    assert paused.json()["data"]["awaiting_input"]["question"] == "Which environment?"
    assert error(rpc(mockagent_server, "runs_invoke", {"input": {}}), 400, "VALIDATION_ERROR") == (
        "agent_id: Field required"
    )
    unknown = rpc(mockagent_server, "runs_invoke", {"agent_id": "nobody"})
    assert error(unknown, 404, "NOT_FOUND") == "Agent nobody not found."


# ── conversations ─────────────────────────────────────────────────────────────────────────────────


def test_deleting_a_conversation_ends_its_paused_turn(mockagent_server: ThreadedMockServer) -> None:
    paused = invoke(mockagent_server, "question", {"start_session": True})
    session = run_view(mockagent_server, paused["run_id"])["session_id"]
    deleted = data(rpc(mockagent_server, "conversations_delete", {"conversation_id": session}))
    assert deleted == {"id": session, "deleted": True}
    ended = run_view(mockagent_server, paused["run_id"])
    assert (ended["status"], ended["error"]["message"]) == (
        "cancelled",
        "The run was cancelled: the conversation was deleted.",
    )
    again = rpc(mockagent_server, "conversations_delete", {"conversation_id": session})
    assert error(again, 404, "NOT_FOUND") == f"Conversation {session} not found."
    assert data(rpc(mockagent_server, "conversations_list", {})) == []


def test_a_turn_held_in_admission_does_not_revive_a_deleted_conversation(
    mockagent_server: ThreadedMockServer,
) -> None:
    session = invoke(mockagent_server, "echo", {"start_session": True})["session_id"]
    url = f"{mockagent_server.base_url('agentos')}/api/v1/agents/echo/invoke"
    headers = {"Authorization": f"Bearer {WS}", "X-Mockagent-Fault": "latency=1"}
    body = {"input": {"query": "again"}, "session_id": session}
    with ThreadPoolExecutor(1) as pool:
        held = pool.submit(httpx.post, url, json=body, headers=headers, timeout=10)
        mockagent_server.until_waiting()  # admitted, waiting out its latency
        data(rpc(mockagent_server, "conversations_delete", {"conversation_id": session}))
        mockagent_server.advance(1)
        answered = held.result(timeout=10)
    assert error(answered, 404, "NOT_FOUND") == f"Session {session} not found."
    assert data(rpc(mockagent_server, "runs_list", {"agent_id": "echo"}))[0]["session_id"] == session  # no new turn
    assert len(data(rpc(mockagent_server, "runs_list", {}))) == 1


def test_a_conversation_shows_the_turns_as_they_happen(mockagent_server: ThreadedMockServer) -> None:
    started = invoke(mockagent_server, "question", {"start_session": True, "external_user_id": "u-1"})
    session = run_view(mockagent_server, started["run_id"])["session_id"]
    found = data(rpc(mockagent_server, "conversations_get", {"conversation_id": session}))
    assert found["messages"] == [
        {"role": "user", "content": "deploy", "run_id": started["run_id"], "created_at": found["created_at"]}
    ]  # a question is no text of the agent's
    assert (found["turn_count"], found["last_run_id"], found["external_user_id"]) == (1, started["run_id"], "u-1")
    reply = {"request_id": started["awaiting_input"]["request_id"], "response": "staging"}
    mockagent_server.advance_during(lambda: post(mockagent_server, f"/api/v1/runs/{started['run_id']}/reply", reply), 5)
    messages = data(rpc(mockagent_server, "conversations_get", {"conversation_id": session}))["messages"]
    assert [(m["role"], m["content"]) for m in messages] == [("user", "deploy"), ("assistant", "Deploying to staging.")]


def test_a_conversation_is_a_session(mockagent_server: ThreadedMockServer) -> None:
    """An invoke without a session has a conversation of its own inside mockagent, which no call shows."""
    invoke(mockagent_server, "echo")
    assert data(rpc(mockagent_server, "conversations_list", {})) == []
    for method in ("conversations_get", "conversations_delete"):
        missing = rpc(mockagent_server, method, {"conversation_id": "nope"})
        assert error(missing, 404, "NOT_FOUND") == "Conversation nope not found."


def test_conversations_list_filters_and_limits(mockagent_server: ThreadedMockServer) -> None:
    sessions = [
        run_view(mockagent_server, invoke(mockagent_server, agent, {"start_session": True})["run_id"])["session_id"]
        for agent in ("echo", "tools", "echo")
    ]
    listed = data(rpc(mockagent_server, "conversations_list", {}))
    assert [c["id"] for c in listed] == sessions[::-1]  # newest first
    assert [c["id"] for c in data(rpc(mockagent_server, "conversations_list", {"agent_id": "tools"}))] == [sessions[1]]
    assert [c["id"] for c in data(rpc(mockagent_server, "conversations_list", {"limit": 1}))] == [sessions[2]]
    for method, body in [
        ("conversations_list", {"limit": 0}),
        ("conversations_list", {"limit": 101}),
        ("conversations_get", {"conversation_id": sessions[0], "message_limit": 0}),
        ("conversations_get", {}),
    ]:
        error(rpc(mockagent_server, method, body), 400, "VALIDATION_ERROR")


# ── what mockagent does not model ─────────────────────────────────────────────────────────────────


def test_an_unmodelled_method_is_authenticated_first(mockagent_server: ThreadedMockServer) -> None:
    url = f"{mockagent_server.base_url('agentos')}/api/v1/rpc/agents_list"
    error(httpx.post(url, json={}, timeout=10), 401, "UNAUTHENTICATED")
    message = error(rpc(mockagent_server, "agents_list", {}), 404, "NOT_IMPLEMENTED")
    assert message == f"mockagent does not model aos.agents.list() (POST /api/v1/rpc/agents_list); {STUBS}"


def test_human_input_requests_are_not_modelled(mockagent_server: ThreadedMockServer) -> None:
    started = data(post(mockagent_server, "/api/ingest/v1/run/start", {"agent_id": "external"}))
    body = {"run_id": started["run_id"], "prompt": "Which environment?", "timeout_seconds": 60}
    message = error(post(mockagent_server, "/api/ingest/v1/human-input/request", body), 404, "NOT_IMPLEMENTED")
    assert message == (
        "mockagent does not model run.request_human_input() (POST /api/ingest/v1/human-input/request); " + STUBS
    )
