"""AgentOS contract tests over HTTP: invoke (blocking and SSE), sessions, HITL, runs, errors."""

from __future__ import annotations

import asyncio
import uuid
from collections.abc import Iterator
from typing import Any

import httpx
import pytest
from sse import check_vocabulary, json_frames

from mockagent.server import MockServer, ThreadedMockServer

WS = {"Authorization": "Bearer aos_ws_test"}
AGENTS = "tests/platforms/scenarios/agentos_agents.yaml"
AUTH = "tests/platforms/scenarios/agentos_auth.yaml"
MANUAL = pytest.mark.mockagent(manual_clock=True, scenarios=[AGENTS], with_builtin=True)
SAFETY = 10.0  # real seconds: a bound on what should happen at once, never a measurement

# The documented stream vocabulary: each frame type with the keys it may carry.
VOCABULARY = {
    "start": {"run_id"},
    "chunk": {"text"},
    "tool": {"status", "name"},
    "done": {"run_id", "duration_ms", "session_id"},
    "awaiting_approval": {"run_id", "approval_id", "session_id"},
    "awaiting_input": {"run_id", "request_id", "question", "options", "session_id"},
    "error": {"code", "message"},
}
TERMINAL = {"done", "awaiting_approval", "awaiting_input", "error"}


class Api:
    """A thin client for the AgentOS paths of one test server."""

    def __init__(self, server: ThreadedMockServer, headers: dict[str, str] = WS) -> None:
        self.server = server
        self.base = server.base_url("agentos")
        self.headers = headers

    def post(self, path: str, body: Any = None, **kwargs: Any) -> httpx.Response:
        headers = {**self.headers, **kwargs.pop("headers", {})}
        return httpx.post(f"{self.base}{path}", json=body, headers=headers, timeout=10, **kwargs)

    def get(self, path: str, **kwargs: Any) -> httpx.Response:
        return httpx.get(f"{self.base}{path}", headers=self.headers, timeout=10, **kwargs)

    def invoke(self, agent: str, body: dict[str, Any] | None = None, **kwargs: Any) -> httpx.Response:
        return self.post(f"/api/v1/agents/{agent}/invoke", body if body is not None else {}, **kwargs)

    def run(self, run_id: str) -> dict[str, Any]:
        response = self.get(f"/api/v1/runs/{run_id}")
        assert response.status_code == 200, response.text
        data: dict[str, Any] = response.json()["data"]
        return data

    def stream(self, agent: str, body: dict[str, Any]) -> list[dict[str, Any]]:
        response = self.invoke(agent, {**body, "stream": True})
        assert response.status_code == 200, response.text
        assert response.headers["content-type"].startswith("text/event-stream")
        frames = json_frames(response.text)
        check_vocabulary(frames, VOCABULARY, TERMINAL)
        return frames


class LiveStream:
    """An SSE response read frame by frame while the test moves the manual clock."""

    def __init__(self, response: httpx.Response) -> None:
        self.response = response
        self.lines: Iterator[str] = response.iter_lines()
        self.text = ""

    def next(self) -> dict[str, Any]:
        for line in self.lines:
            self.text += line + "\n"
            if line.startswith("data:"):
                return json_frames(line + "\n\n")[0]
        raise AssertionError(f"the stream ended early:\n{self.text}")

    def rest(self) -> list[dict[str, Any]]:
        """Read to the end; every frame of the stream, checked against the vocabulary."""
        for line in self.lines:
            self.text += line + "\n"
        frames = json_frames(self.text)
        check_vocabulary(frames, VOCABULARY, TERMINAL)
        return frames


@pytest.fixture
def api(mockagent_server: ThreadedMockServer) -> Api:
    return Api(mockagent_server)


def error_of(response: httpx.Response, status: int, code: str) -> str:
    assert response.status_code == status, response.text
    assert response.headers["content-type"].startswith("application/json")
    body = response.json()
    assert body["data"] is None
    assert set(body["error"]) == {"code", "message"}
    assert body["error"]["code"] == code
    message: str = body["error"]["message"]
    return message


# ── invoke: blocking ────────────────────────────────────────────────────────────────────────────────


def test_invoke_echo_completes_with_output(api: Api) -> None:
    response = api.invoke("echo", {"input": {"query": "hello"}})
    assert response.status_code == 200
    body = response.json()
    assert body["error"] is None
    data = body["data"]
    assert set(data) == {"run_id", "output", "duration_ms"}  # no session was asked for
    assert uuid.UUID(data["run_id"])
    assert data["output"] == {"text": "Echo: hello"}
    assert isinstance(data["duration_ms"], int)


@pytest.mark.parametrize(
    ("input_", "message"),
    [
        ({"text": "t", "prompt": "p"}, "t"),
        ({"prompt": "p", "query": "q", "message": "m"}, "q"),
        ({"message": "m", "text": "t"}, "m"),
        ({"prompt": "p"}, "p"),
        ({"city": "Paris", "n": 2}, '{"city":"Paris","n":2}'),
        ({}, ""),  # an empty input says nothing
    ],
)
def test_message_is_read_from_input(api: Api, input_: dict[str, Any], message: str) -> None:
    response = api.invoke("echo", {"input": input_})
    assert response.json()["data"]["output"] == {"text": f"Echo: {message}"}


def test_input_defaults_to_empty_object(api: Api) -> None:
    response = api.post("/api/v1/agents/echo/invoke", {"test": True, "prompt_variables": {"SHEET": "1"}})
    data = response.json()["data"]
    assert data["output"] == {"text": "Echo: "}  # an empty input says nothing
    assert api.run(data["run_id"])["test"] is True


def test_blocking_tools_shows_only_the_final_text(api: Api) -> None:
    response = api.invoke("tools", {"input": {"query": "weather?"}})
    assert response.json()["data"]["output"] == {"text": "It is 21°C in Paris."}


def test_agent_failure_is_500_agent_error(api: Api) -> None:
    response = api.invoke("error", {"input": {"query": "x"}})
    assert error_of(response, 500, "AGENT_ERROR") == "The agent failed."


@pytest.mark.mockagent(scenarios=[AGENTS], with_builtin=True)
def test_session_continues_the_conversation(api: Api) -> None:
    first = api.invoke("counter", {"input": {"query": "hi"}, "start_session": True, "external_user_id": "u-1"})
    data = first.json()["data"]
    session_id = data["session_id"]
    assert uuid.UUID(session_id)
    assert data["output"] == {"text": "First: hi"}
    second = api.invoke("counter", {"input": {"query": "again"}, "session_id": session_id}).json()["data"]
    assert second["session_id"] == session_id
    assert second["output"] == {"text": f"Turn 2 of {session_id}: again"}
    alone = api.invoke("counter", {"input": {"query": "solo"}}).json()["data"]
    assert alone["output"] == {"text": "First: solo"}
    assert "session_id" not in alone


def test_unknown_session_is_404(api: Api) -> None:
    response = api.invoke("echo", {"session_id": str(uuid.uuid4())})
    assert "Session" in error_of(response, 404, "NOT_FOUND")


def test_session_of_another_agent_is_404(api: Api) -> None:
    session_id = api.invoke("echo", {"start_session": True}).json()["data"]["session_id"]
    error_of(api.invoke("tools", {"session_id": session_id}), 404, "NOT_FOUND")


def test_invoking_a_session_paused_on_a_question_is_409(api: Api) -> None:
    paused = api.invoke("question", {"start_session": True})
    assert paused.status_code == 202
    run_id = paused.json()["data"]["run_id"]
    session_id = api.run(run_id)["session_id"]
    assert run_id in error_of(api.invoke("question", {"session_id": session_id}), 409, "CONFLICT")


# ── validation and errors ───────────────────────────────────────────────────────────────────────────


@pytest.mark.parametrize(
    ("body", "field"),
    [
        ({"input": "hello"}, "input"),
        ({"input": None}, "input"),
        ({"prompt_variables": {"KEY": 1}}, "prompt_variables.KEY"),
        ({"session_id": "not-a-uuid"}, "session_id"),
        ({"start_session": "yes"}, "start_session"),
        ({"stream": "true"}, "stream"),
        ({"test": 1}, "test"),
        ({"parent_run_id": "run-1"}, "parent_run_id"),
        ({"external_user_id": "u-1"}, "external_user_id"),
        ({"history": [{"role": "robot", "content": "x"}]}, "history.0.role"),
        ({"history": [{"role": "user"}]}, "history.0.content"),
        ({"history": [], "session_id": str(uuid.uuid4())}, "history"),
        ({"history": [], "start_session": True}, "history"),
        ({"session_id": str(uuid.uuid4()), "start_session": True}, "start_session"),
    ],
)
def test_invalid_invoke_body_names_the_field(api: Api, body: dict[str, Any], field: str) -> None:
    message = error_of(api.invoke("echo", body), 400, "VALIDATION_ERROR")
    assert message.startswith(f"{field}: "), message


def test_enum_error_lists_the_valid_values(api: Api) -> None:
    message = error_of(api.invoke("echo", {"history": [{"role": "robot", "content": "x"}]}), 400, "VALIDATION_ERROR")
    assert "'user', 'assistant' or 'system'" in message


def test_history_is_accepted_without_a_session(api: Api) -> None:
    history = [{"role": "user", "content": "a"}, {"role": "assistant", "content": "b"}]
    response = api.invoke("echo", {"input": {"query": "c"}, "history": history})
    assert response.json()["data"]["output"] == {"text": "Echo: c"}


def test_malformed_json_is_400(api: Api) -> None:
    response = api.post(
        "/api/v1/agents/echo/invoke", content=b'{"input": ', headers={"Content-Type": "application/json"}
    )
    assert "JSON" in error_of(response, 400, "VALIDATION_ERROR")


def test_non_object_body_is_400(api: Api) -> None:
    assert "object" in error_of(api.post("/api/v1/agents/echo/invoke", [1, 2]), 400, "VALIDATION_ERROR")


def test_wrong_content_type_is_415(api: Api) -> None:
    response = api.post("/api/v1/agents/echo/invoke", content=b"{}", headers={"Content-Type": "text/plain"})
    error_of(response, 415, "UNSUPPORTED_MEDIA_TYPE")


def test_oversized_body_is_413(api: Api) -> None:
    response = api.invoke("echo", {"input": {"query": "x" * 4_600_000}})
    error_of(response, 413, "PAYLOAD_TOO_LARGE")


@pytest.mark.parametrize("header", [None, "Bearer", "Basic aos_ws_x", "Bearer sk-123", "Bearer aos_ws_"])
def test_missing_or_malformed_key_is_401(mockagent_server: ThreadedMockServer, header: str | None) -> None:
    api = Api(mockagent_server, {"Authorization": header} if header is not None else {})
    error_of(api.invoke("echo", {}), 401, "UNAUTHENTICATED")


def test_unknown_agent_is_404(api: Api) -> None:
    assert "nobody" in error_of(api.invoke("nobody", {}), 404, "NOT_FOUND")


def test_unknown_run_is_404(api: Api) -> None:
    error_of(api.get(f"/api/v1/runs/{uuid.uuid4()}"), 404, "NOT_FOUND")


@pytest.mark.mockagent(allow_unmatched=True)
def test_unknown_route_is_404_in_the_envelope(api: Api) -> None:
    error_of(api.get("/api/v1/nothing"), 404, "NOT_FOUND")


@pytest.mark.mockagent(allow_unmatched=True)
def test_wrong_method_is_405(api: Api) -> None:
    error_of(api.get("/api/v1/agents/echo/invoke"), 405, "METHOD_NOT_ALLOWED")


@pytest.mark.parametrize(
    ("fault", "status", "code"),
    [("500", 500, "INTERNAL_ERROR"), ("502", 502, "BAD_GATEWAY"), ("503", 503, "UNAVAILABLE"), ("504", 504, "TIMEOUT")],
)
def test_injected_server_faults(api: Api, fault: str, status: int, code: str) -> None:
    error_of(api.invoke("echo", {}, headers={"X-Mockagent-Fault": fault}), status, code)


def test_rate_limit_has_retry_after(api: Api) -> None:
    response = api.invoke("echo", {}, headers={"X-Mockagent-Fault": "429, retry-after=7"})
    error_of(response, 429, "RATE_LIMITED")
    assert response.headers["Retry-After"] == "7"


def test_demo_flaky_is_rate_limited_once(api: Api) -> None:
    first = api.invoke("flaky", {"input": {"query": "hi"}})
    error_of(first, 429, "RATE_LIMITED")
    assert first.headers["Retry-After"] == "1"
    assert api.invoke("flaky", {"input": {"query": "hi"}}).json()["data"]["output"] == {"text": "Echo: hi"}


# ── auth scopes (declared keys) ─────────────────────────────────────────────────────────────────────


@pytest.mark.mockagent(scenarios=[AUTH], with_builtin=True)
def test_declared_keys(mockagent_server: ThreadedMockServer) -> None:
    team = Api(mockagent_server, {"Authorization": "Bearer aos_ws_team"})
    echo_key = Api(mockagent_server, {"Authorization": "Bearer aos_agent_echo"})
    stranger = Api(mockagent_server, {"Authorization": "Bearer aos_ws_other"})
    assert team.invoke("tools", {}).status_code == 200
    assert echo_key.invoke("echo", {"input": {"query": "a"}}).json()["data"]["output"] == {"text": "Echo: a"}
    error_of(echo_key.invoke("tools", {}), 403, "FORBIDDEN")
    error_of(stranger.invoke("echo", {}), 401, "UNAUTHENTICATED")
    # Approvals and replies need a workspace key.
    error_of(echo_key.get("/api/v1/approvals"), 403, "FORBIDDEN")
    paused = team.invoke("question", {}).json()["data"]
    error_of(echo_key.post(f"/api/v1/runs/{paused['run_id']}/human-input", {"response": "x"}), 403, "FORBIDDEN")
    error_of(echo_key.get(f"/api/v1/runs/{paused['run_id']}"), 403, "FORBIDDEN")
    # Ingest: the agent key reports only its own agent's runs.
    error_of(echo_key.post("/api/ingest/v1/run/start", {"agent_id": "tools"}), 403, "FORBIDDEN")
    assert echo_key.post("/api/ingest/v1/run/start", {"agent_id": "echo"}).status_code == 200


# ── streaming ───────────────────────────────────────────────────────────────────────────────────────


def test_stream_echo(api: Api) -> None:
    frames = api.stream("echo", {"input": {"query": "hello there"}})
    run_id = frames[0]["run_id"]
    assert frames[0] == {"type": "start", "run_id": run_id}
    chunks = frames[1:-1]
    assert [f["type"] for f in chunks] == ["chunk"] * 3
    assert "".join(f["text"] for f in chunks) == "Echo: hello there"
    assert frames[-1]["type"] == "done"
    assert frames[-1]["run_id"] == run_id
    assert isinstance(frames[-1]["duration_ms"], int)
    assert api.run(run_id)["output"] == {"text": "Echo: hello there"}


def test_stream_shows_tool_steps(api: Api) -> None:
    frames = api.stream("tools", {})
    assert frames[1:3] == [
        {"type": "tool", "status": "calling", "name": "get_weather"},
        {"type": "tool", "status": "returned", "name": "get_weather"},
    ]
    assert "".join(f["text"] for f in frames if f["type"] == "chunk") == "It is 21°C in Paris."


@pytest.mark.mockagent(scenarios=[AGENTS])
def test_stream_failed_tool(api: Api) -> None:
    frames = api.stream("broken_tool", {})
    assert frames[2] == {"type": "tool", "status": "failed", "name": "lookup"}


def test_stream_agent_failure_ends_with_error(api: Api) -> None:
    frames = api.stream("error", {})
    assert "".join(f["text"] for f in frames if f["type"] == "chunk") == "Let me try… "
    assert frames[-1] == {"type": "error", "code": "AGENT_ERROR", "message": "The agent failed."}


def test_stream_question_ends_awaiting_input(api: Api) -> None:
    frames = api.stream("question", {"start_session": True})
    last = frames[-1]
    assert last["type"] == "awaiting_input"
    assert last["question"] == "Which environment?"
    assert last["options"] == ["staging", "production"]
    assert uuid.UUID(last["session_id"])
    run = api.run(last["run_id"])
    assert run["status"] == "awaiting_input"
    assert run["awaiting_input"] == {k: last[k] for k in ("request_id", "question", "options")}


def test_stream_approval_ends_awaiting_approval(api: Api) -> None:
    frames = api.stream("approval", {})
    assert frames[1] == {"type": "tool", "status": "calling", "name": "send_email"}
    last = frames[-1]
    assert set(last) == {"type", "run_id", "approval_id"}
    pending = api.get("/api/v1/approvals").json()["data"]
    assert [a["approval_id"] for a in pending] == [last["approval_id"]]


def test_stream_done_carries_the_session(api: Api) -> None:
    frames = api.stream("echo", {"start_session": True})
    assert uuid.UUID(frames[-1]["session_id"])


def test_validation_errors_come_before_the_stream(api: Api) -> None:
    error_of(api.invoke("echo", {"stream": True, "input": 3}), 400, "VALIDATION_ERROR")


@MANUAL
def test_stream_gateway_timeout(mockagent_server: ThreadedMockServer) -> None:
    api = Api(mockagent_server)
    with httpx.stream(
        "POST", f"{api.base}/api/v1/agents/glacial/invoke", json={"stream": True}, headers=WS, timeout=10
    ) as response:
        live = LiveStream(response)
        run_id = live.next()["run_id"]
        assert live.next() == {"type": "chunk", "text": "Thinking… "}
        mockagent_server.advance(300)
        frames = live.rest()
    assert frames[-1] == {"type": "error", "code": "TIMEOUT", "message": "The run did not finish within 300 s."}
    assert api.run(run_id)["status"] == "failed"


@MANUAL
async def test_disconnect_cancels_the_run(mockagent_aserver: MockServer) -> None:
    base = mockagent_aserver.base_url("agentos")
    async with httpx.AsyncClient(base_url=base, headers=WS, timeout=10) as client:
        async with client.stream("POST", "/api/v1/agents/slow/invoke", json={"stream": True}) as response:
            async for line in response.aiter_lines():
                if line.startswith("data:"):
                    break
            run_id = json_frames(line + "\n\n")[0]["run_id"]
            run = mockagent_aserver.session().run(run_id)
            assert run is not None
        # Leaving the block mid-stream hangs up. The server notices on its own loop: the run changes then,
        # and `settled` returns (the manual clock stands still, so nothing else can settle it).
        await asyncio.wait_for(run.settled(), SAFETY)
        polled = (await client.get(f"/api/v1/runs/{run_id}")).json()["data"]
    assert polled["status"] == "cancelled"
    assert polled["error"] == {"code": "CANCELLED", "message": "The run was cancelled: client disconnected."}


# ── runs that wait ──────────────────────────────────────────────────────────────────────────────────


@MANUAL
def test_poll_slow_sees_running_then_completed(mockagent_server: ThreadedMockServer) -> None:
    api = Api(mockagent_server)
    with httpx.stream(
        "POST", f"{api.base}/api/v1/agents/slow/invoke", json={"stream": True}, headers=WS, timeout=10
    ) as response:
        live = LiveStream(response)
        run_id = live.next()["run_id"]
        running = api.run(run_id)
        assert running["status"] == "running"
        assert running["output"] is None
        assert running["finished_at"] is None
        mockagent_server.advance(1.5)
        assert api.run(run_id)["status"] == "running"
        mockagent_server.advance(1.5)
        done = api.run(run_id)
        frames = live.rest()
    assert done["status"] == "completed"
    assert done["output"] == {"text": "Done after a while."}
    assert done["duration_ms"] == 3000
    assert done["error"] is None
    assert frames[-1] == {"type": "done", "run_id": run_id, "duration_ms": 3000}
    assert mockagent_server.session().run(run_id).polls == 3  # type: ignore[union-attr]


@MANUAL
def test_blocking_gateway_timeout_is_504(mockagent_server: ThreadedMockServer) -> None:
    api = Api(mockagent_server)
    response = mockagent_server.advance_during(lambda: api.invoke("glacial", {}), 300)
    assert error_of(response, 504, "TIMEOUT") == "The run did not finish within 300 s."
    run = api.run(mockagent_server.session().runs_of()[0].id)
    assert run["status"] == "failed"
    assert run["error"]["code"] == "TIMEOUT"


def test_question_reply_completes(api: Api) -> None:
    paused = api.invoke("question", {"input": {"query": "deploy"}})
    assert paused.status_code == 202
    data = paused.json()["data"]
    request_id = data["awaiting_input"]["request_id"]
    assert data == {
        "run_id": data["run_id"],
        "awaiting_input": {
            "request_id": request_id,
            "question": "Which environment?",
            "options": ["staging", "production"],
        },
        "output": None,
    }
    run_id = data["run_id"]
    reply = api.post(f"/api/v1/runs/{run_id}/reply", {"request_id": request_id, "response": "production"})
    assert reply.status_code == 200
    assert reply.json()["data"]["run_id"] == run_id
    assert reply.json()["data"]["output"] == {"text": "Deploying to production."}
    assert api.run(run_id)["status"] == "completed"
    again = api.post(f"/api/v1/runs/{run_id}/reply", {"request_id": request_id, "response": "staging"})
    assert "not awaiting input" in error_of(again, 400, "VALIDATION_ERROR")


def test_human_input_form(api: Api) -> None:
    run_id = api.invoke("question", {}).json()["data"]["run_id"]
    response = api.post(f"/api/v1/runs/{run_id}/human-input", {"response": "staging"})
    assert response.json()["data"]["output"] == {"text": "Deploying to staging."}


def test_reply_errors(api: Api) -> None:
    run_id = api.invoke("question", {}).json()["data"]["run_id"]
    stale = api.post(f"/api/v1/runs/{run_id}/reply", {"request_id": "old", "response": "x"})
    error_of(stale, 409, "CONFLICT")
    missing = api.post(f"/api/v1/runs/{run_id}/reply", {"response": "x"})
    assert error_of(missing, 400, "VALIDATION_ERROR").startswith("request_id: ")
    empty = api.post(f"/api/v1/runs/{run_id}/human-input", {"response": ""})
    assert error_of(empty, 400, "VALIDATION_ERROR").startswith("response: ")
    error_of(api.post(f"/api/v1/runs/{uuid.uuid4()}/human-input", {"response": "x"}), 404, "NOT_FOUND")
    echo_run = api.invoke("echo", {}).json()["data"]["run_id"]
    error_of(api.post(f"/api/v1/runs/{echo_run}/human-input", {"response": "x"}), 400, "VALIDATION_ERROR")


def approval_paused(api: Api) -> tuple[str, str]:
    """A run of the approval agent, paused on its tool call (the server runs on a manual clock)."""
    response = api.server.advance_during(lambda: api.invoke("approval", {"input": {"query": "mail ops"}}), 1)
    assert response.status_code == 202
    data = response.json()["data"]
    approval_id = data["awaiting_approval"]["approval_id"]
    assert data == {"run_id": data["run_id"], "awaiting_approval": {"approval_id": approval_id}, "output": None}
    return data["run_id"], approval_id


@MANUAL
def test_approve_over_http_completes_the_run(api: Api) -> None:
    run_id, approval_id = approval_paused(api)
    run = api.run(run_id)
    assert run["status"] == "awaiting_approval"
    assert run["awaiting_approval"] == {"approval_id": approval_id}
    [item] = api.get("/api/v1/approvals").json()["data"]
    assert item["approval_id"] == item["id"] == approval_id
    assert (item["run_id"], item["agent_id"], item["status"]) == (run_id, "approval", "pending")
    assert (item["tool_name"], item["tool_input"]) == ("send_email", {"to": "ops@example.com"})
    decided = api.post(f"/api/v1/approvals/{approval_id}/decide", {"decision": "approve"})
    assert decided.json()["data"]["status"] == "approved"
    api.server.advance(1)  # the rest of the script plays out
    done = api.run(run_id)
    assert done["status"] == "completed"
    assert done["output"] == {"text": "Email sent."}
    assert api.get("/api/v1/approvals").json()["data"] == []
    twice = api.post(f"/api/v1/approvals/{approval_id}/decide", {"decision": "reject"})
    assert "already approved" in error_of(twice, 400, "VALIDATION_ERROR")


@MANUAL
def test_reject_over_rpc_fails_the_run(api: Api) -> None:
    run_id, approval_id = approval_paused(api)
    listed = api.post("/api/v1/rpc/approvals_list", {"agent_id": "approval", "limit": 5}).json()["data"]
    assert [a["approval_id"] for a in listed] == [approval_id]
    assert api.post("/api/v1/rpc/approvals_list", {"agent_id": "echo"}).json()["data"] == []
    body = {"approval_id": approval_id, "decision": "rejected", "decision_note": "not today"}
    decided = api.post("/api/v1/rpc/approvals_decide", body).json()["data"]
    assert (decided["status"], decided["decision_note"]) == ("rejected", "not today")
    api.server.advance(1)  # the rest of the script plays out
    failed = api.run(run_id)
    assert failed["status"] == "failed"
    assert failed["error"] == {"code": "AGENT_ERROR", "message": "Email not sent."}
    error_of(api.post("/api/v1/rpc/approvals_decide", body), 400, "VALIDATION_ERROR")


@MANUAL
def test_approval_errors(api: Api) -> None:
    _, approval_id = approval_paused(api)
    wrong = api.post(f"/api/v1/approvals/{approval_id}/decide", {"decision": "approved"})
    assert error_of(wrong, 400, "VALIDATION_ERROR").startswith("decision: ")
    rpc_wrong = api.post("/api/v1/rpc/approvals_decide", {"approval_id": approval_id, "decision": "approve"})
    assert error_of(rpc_wrong, 400, "VALIDATION_ERROR").startswith("decision: ")
    error_of(api.post(f"/api/v1/approvals/{uuid.uuid4()}/decide", {"decision": "approve"}), 404, "NOT_FOUND")
    error_of(api.post("/api/v1/rpc/agents_frobnicate", {}), 404, "NOT_FOUND")  # no such method
    assert error_of(api.get("/api/v1/approvals", params={"limit": "x"}), 400, "VALIDATION_ERROR").startswith("limit: ")
    assert error_of(api.get("/api/v1/approvals", params={"limit": "0"}), 400, "VALIDATION_ERROR").startswith("limit: ")


@MANUAL
def test_approval_expires_after_24_hours(mockagent_server: ThreadedMockServer) -> None:
    api = Api(mockagent_server)
    with httpx.stream(
        "POST", f"{api.base}/api/v1/agents/approval/invoke", json={"stream": True}, headers=WS, timeout=10
    ) as response:
        live = LiveStream(response)
        run_id = live.next()["run_id"]
        mockagent_server.advance(0.03)
        approval_id = live.rest()[-1]["approval_id"]
    mockagent_server.advance(24 * 3600 - 1)
    assert api.run(run_id)["status"] == "awaiting_approval"
    mockagent_server.advance(1)
    assert api.get("/api/v1/approvals").json()["data"] == []
    run = api.run(run_id)
    assert run["status"] == "failed"
    assert run["error"]["code"] == "APPROVAL_EXPIRED"
    late = api.post(f"/api/v1/approvals/{approval_id}/decide", {"decision": "approve"})
    assert "expired" in error_of(late, 400, "VALIDATION_ERROR")


# ── ingest ──────────────────────────────────────────────────────────────────────────────────────────


def test_ingest_run_lifecycle(api: Api) -> None:
    start = {"agent_id": "billing", "trigger_type": "webhook", "input": {"q": 1}, "external_run_id": "ext-1"}
    response = api.post("/api/ingest/v1/run/start", start)
    assert response.status_code == 200
    run_id = response.json()["data"]["run_id"]
    assert response.json() == {"data": {"run_id": run_id}, "error": None}
    assert api.post("/api/ingest/v1/run/start", start).json()["data"]["run_id"] == run_id
    event = {"type": "step.completed", "level": "warn", "payload": {"rows": 42}, "occurred_at": "2026-05-11T20:00:00Z"}
    ok = {"data": {"ok": True}, "error": None}
    assert api.post("/api/ingest/v1/events", {"run_id": run_id, "events": [event]}).json() == ok
    task = {"id": "t1", "name": "parse-pdf", "status": "running", "input": {"file": "a.pdf"}}
    assert api.post("/api/ingest/v1/tasks", {"run_id": run_id, "task": task}).json() == ok
    done_task = {"id": "t1", "name": "parse-pdf", "status": "completed", "output": {"pages": 3}}
    assert api.post("/api/ingest/v1/tasks", {"run_id": run_id, "task": done_task}).json() == ok
    complete = {"run_id": run_id, "output": {"result": "Done"}, "input_tokens": 10}
    assert api.post("/api/ingest/v1/run/complete", complete).json() == ok
    assert api.post("/api/ingest/v1/run/complete", complete).json() == ok  # a retry is harmless
    conflict = api.post("/api/ingest/v1/run/fail", {"run_id": run_id, "error_message": "late"})
    assert "already completed" in error_of(conflict, 409, "CONFLICT")

    seen = httpx.get(f"{api.server.url}/__mockagent/agentos/ingest/runs/{run_id}").json()
    assert (seen["status"], seen["output"], seen["usage"]) == ("completed", {"result": "Done"}, {"input_tokens": 10})
    assert (seen["agent_id"], seen["trigger_type"], seen["external_run_id"]) == ("billing", "webhook", "ext-1")
    assert [{k: e[k] for k in event} for e in seen["events"]] == [event]
    [reported] = seen["tasks"]
    assert (reported["status"], reported["output"], reported["input"]) == ("completed", {"pages": 3}, {"file": "a.pdf"})
    assert [h["status"] for h in reported["history"]] == ["running", "completed"]
    assert [r["run_id"] for r in httpx.get(f"{api.server.url}/__mockagent/agentos/ingest/runs").json()] == [run_id]


def test_ingest_fail_and_cancel(api: Api) -> None:
    failed = api.post("/api/ingest/v1/run/start", {"agent_id": "a"}).json()["data"]["run_id"]
    api.post("/api/ingest/v1/run/fail", {"run_id": failed, "error_message": "boom", "error_detail": {"step": "fetch"}})
    cancelled = api.post("/api/ingest/v1/run/start", {"agent_id": "a"}).json()["data"]["run_id"]
    api.post("/api/ingest/v1/run/cancel", {"run_id": cancelled, "reason": "user"})
    admin = f"{api.server.url}/__mockagent/agentos/ingest/runs"
    first = httpx.get(f"{admin}/{failed}").json()
    assert (first["status"], first["error"], first["trigger_type"]) == (
        "failed",
        {"message": "boom", "detail": {"step": "fetch"}},
        "sdk",
    )
    second = httpx.get(f"{admin}/{cancelled}").json()
    assert (second["status"], second["cancel_reason"]) == ("cancelled", "user")


@pytest.mark.parametrize(
    ("path", "body", "field"),
    [
        ("run/start", {}, "agent_id"),
        ("run/start", {"agent_id": "a", "trigger_type": "cron"}, "trigger_type"),
        ("run/start", {"agent_id": "a", "input": []}, "input"),
        ("events", {"run_id": "r"}, "events"),
        ("events", {"run_id": "r", "events": [{"type": "x", "level": "fatal"}]}, "events.0.level"),
        ("events", {"run_id": "r", "events": [{"level": "info"}]}, "events.0.type"),
        ("run/complete", {"output": {}}, "run_id"),
        ("run/fail", {"run_id": "r"}, "error_message"),
        ("tasks", {"run_id": "r", "task": {"id": "t", "name": "n", "status": "done"}}, "task.status"),
    ],
)
def test_ingest_validation_names_the_field(api: Api, path: str, body: dict[str, Any], field: str) -> None:
    message = error_of(api.post(f"/api/ingest/v1/{path}", body), 400, "VALIDATION_ERROR")
    assert message.startswith(f"{field}: "), message


@pytest.mark.parametrize("path", ["events", "run/complete", "run/cancel", "tasks"])
def test_ingest_unknown_run_is_404(api: Api, path: str) -> None:
    body: dict[str, Any] = {
        "run_id": str(uuid.uuid4()),
        "events": [],
        "task": {"id": "t", "name": "n", "status": "pending"},
    }
    error_of(api.post(f"/api/ingest/v1/{path}", body), 404, "NOT_FOUND")


def test_ingest_needs_a_key(mockagent_server: ThreadedMockServer) -> None:
    error_of(Api(mockagent_server, {}).post("/api/ingest/v1/run/start", {"agent_id": "a"}), 401, "UNAUTHENTICATED")
