"""Zeus over HTTP: POST /api/agent/invoke and /api/agent/resume (SSE), auth, and FastAPI-style errors."""

from __future__ import annotations

import asyncio
from typing import Any

import aiohttp
import httpx
import pytest
from credentials import JWT
from sse import check_vocabulary, json_frames

from mockagent.model import PlatformKey
from mockagent.platforms.zeus.routes import Invocation
from mockagent.runs import RunStatus
from mockagent.server import MockServer, ThreadedMockServer

AGENTS = "tests/platforms/scenarios/zeus_agents.yaml"
AUTH = "tests/platforms/scenarios/zeus_auth.yaml"
pytestmark = pytest.mark.mockagent(scenarios=[AGENTS], with_builtin=True)

ANY_KEY = "eyJhbGciOiJIUzI1NiJ9.eyJzdWIiOiJhbnkifQ.c2lnLWFueQ"
ECHO_KEY = "eyJhbGciOiJIUzI1NiJ9.eyJzdWIiOiJlY2hvIn0.c2lnLWVjaG8"
SECRET = "sk-zeus-very-secret"
LLM = {"baseUrl": "https://api.openai.com/v1", "apiKey": SECRET, "modelName": "gpt-4o", "temperature": 0.7}

VOCABULARY = {
    "message_chunk": {"content"},
    "tool_call": {"tool_name", "tool_args", "tool_call_id", "requires_approval"},
    "tool_result": {"tool_name", "result"},
    "done": {"session_id"},
    "error": {"error", "error_code"},
    "interrupt": {"session_id", "tool_calls", "question", "options"},
}
TERMINAL = {"done", "error", "interrupt"}
SAFETY = 10.0  # real seconds: a bound on what should happen at once, never a measurement


def post(
    server: ThreadedMockServer,
    endpoint: str,
    body: Any,
    *,
    token: str | None = JWT,
    agent: str | None = None,
    headers: dict[str, str] | None = None,
) -> httpx.Response:
    all_headers = {"Authorization": f"Bearer {token}"} if token is not None else {}
    all_headers.update(headers or {})
    params = {"agent": agent} if agent else None
    url = f"{server.base_url('zeus')}/api/agent/{endpoint}"
    return httpx.post(url, json=body, headers=all_headers, params=params, timeout=10)


def frames_of(response: httpx.Response) -> list[dict[str, Any]]:
    assert response.status_code == 200, response.text
    assert response.headers["content-type"].startswith("text/event-stream")
    frames = json_frames(response.text)
    check_vocabulary(frames, VOCABULARY, TERMINAL)
    return frames


def invoke(server: ThreadedMockServer, message: str, agent: str | None = None, **body: Any) -> list[dict[str, Any]]:
    return frames_of(post(server, "invoke", {"message": message, "llm_config": LLM, **body}, agent=agent))


def resume(server: ThreadedMockServer, session_id: str, *results: dict[str, Any], **body: Any) -> httpx.Response:
    payload = {"session_id": session_id, "llm_config": LLM, "tool_call_results": list(results), **body}
    return post(server, "resume", payload)


def text(frames: list[dict[str, Any]]) -> str:
    return "".join(f["content"] for f in frames if f["type"] == "message_chunk")


def without_chunks(frames: list[dict[str, Any]]) -> list[dict[str, Any]]:
    return [f for f in frames if f["type"] != "message_chunk"]


def run_status(server: ThreadedMockServer | MockServer, session_id: str) -> str:
    (run,) = [r for r in server.session().runs_of() if r.conversation.id == session_id][-1:]
    return run.status().value


def detail(response: httpx.Response, status: int) -> Any:
    assert response.status_code == status, response.text
    assert response.headers["content-type"].startswith("application/json")
    return response.json()["detail"]


# ── streams ─────────────────────────────────────────────────────────────────────────────────────


def test_echo_streams_chunks_then_done_with_a_new_session(mockagent_server: ThreadedMockServer) -> None:
    frames = invoke(mockagent_server, "hello there")
    assert text(frames) == "Echo: hello there"
    assert len([f for f in frames if f["type"] == "message_chunk"]) == 3  # word by word
    done = frames[-1]
    assert done["type"] == "done"
    session_id = done["session_id"]
    assert len(session_id) == 36  # a generated UUID
    assert run_status(mockagent_server, session_id) == "completed"


def test_session_continues_the_conversation(mockagent_server: ThreadedMockServer) -> None:
    first = invoke(mockagent_server, "one", agent="counter", session_id="sess_456")
    assert text(first) == "First: one"
    assert first[-1] == {"type": "done", "session_id": "sess_456"}
    # The session keeps its agent: no agent is named the second time.
    second = invoke(mockagent_server, "two", session_id="sess_456")
    assert text(second) == "Turn 2 of sess_456: two"
    assert second[-1] == {"type": "done", "session_id": "sess_456"}
    conversation = mockagent_server.session().conversation(PlatformKey.ZEUS, "sess_456")
    assert conversation is not None
    assert [run.message for run in conversation.runs] == ["one", "two"]


def test_tools_stream_shows_the_call_and_result_but_no_reasoning(mockagent_server: ThreadedMockServer) -> None:
    frames = invoke(mockagent_server, "weather?", agent="tools")
    assert without_chunks(frames)[:2] == [
        {"type": "tool_call", "tool_name": "get_weather", "tool_args": {"city": "Paris"}, "tool_call_id": "call_1"},
        {"type": "tool_result", "tool_name": "get_weather", "result": {"temp_c": 21}},
    ]
    assert frames[0]["type"] == "tool_call"  # reasoning is not shown
    assert text(frames) == "It is 21°C in Paris."
    assert frames[-1]["type"] == "done"


def test_agent_failure_is_a_terminal_error_frame(mockagent_server: ThreadedMockServer) -> None:
    frames = invoke(mockagent_server, "go", agent="error")
    assert text(frames) == "Let me try… "
    assert frames[-1] == {"type": "error", "error": "The agent failed.", "error_code": "agent_error"}


def test_agent_choice_query_header_model_name_and_fallback(mockagent_server: ThreadedMockServer) -> None:
    by_header = post(
        mockagent_server, "invoke", {"message": "h", "llm_config": LLM}, headers={"X-Mockagent-Agent": "counter"}
    )
    assert text(frames_of(by_header)) == "First: h"
    by_model = invoke(mockagent_server, "m", llm_config={**LLM, "modelName": "counter"})
    assert text(by_model) == "First: m"
    query_wins = post(
        mockagent_server,
        "invoke",
        {"message": "q", "llm_config": LLM},
        agent="echo",
        headers={"X-Mockagent-Agent": "counter"},
    )
    assert text(frames_of(query_wins)) == "Echo: q"
    assert text(invoke(mockagent_server, "d")) == "Echo: d"  # gpt-4o is no agent: echo


def test_unknown_agent_is_404(mockagent_server: ThreadedMockServer) -> None:
    response = post(mockagent_server, "invoke", {"message": "x", "llm_config": LLM}, agent="nobody")
    assert detail(response, 404) == "Agent not found"
    by_header = post(
        mockagent_server, "invoke", {"message": "x", "llm_config": LLM}, headers={"X-Mockagent-Agent": "nobody"}
    )
    assert detail(by_header, 404) == "Agent not found"


def test_session_of_another_agent_is_409(mockagent_server: ThreadedMockServer) -> None:
    invoke(mockagent_server, "a", agent="echo", session_id="s-echo")
    response = post(
        mockagent_server, "invoke", {"message": "b", "llm_config": LLM, "session_id": "s-echo"}, agent="counter"
    )
    assert detail(response, 409) == "Session s-echo belongs to agent echo"


# ── human in the loop ───────────────────────────────────────────────────────────────────────────


def approval_interrupt(server: ThreadedMockServer, session_id: str) -> list[dict[str, Any]]:
    frames = invoke(server, "mail ops", agent="approval", session_id=session_id)
    assert frames == [
        {
            "type": "tool_call",
            "tool_name": "send_email",
            "tool_args": {"to": "ops@example.com"},
            "tool_call_id": "call_1",
            "requires_approval": True,
        },
        {
            "type": "interrupt",
            "session_id": session_id,
            "tool_calls": [
                {"tool_call_id": "call_1", "tool_name": "send_email", "tool_args": {"to": "ops@example.com"}}
            ],
        },
    ]
    assert run_status(server, session_id) == "paused"
    return frames


def decision(value: str, **extra: Any) -> dict[str, Any]:
    return {"tool_call_id": "call_1", "tool_name": "send_email", "decision": value, **extra}


def test_approval_interrupt_then_resume_approved(mockagent_server: ThreadedMockServer) -> None:
    approval_interrupt(mockagent_server, "s-approve")
    frames = frames_of(resume(mockagent_server, "s-approve", decision("approved")))
    assert without_chunks(frames) == [
        {"type": "tool_result", "tool_name": "send_email", "result": {"sent": True}},
        {"type": "done", "session_id": "s-approve"},
    ]
    assert text(frames) == "Email sent."
    assert run_status(mockagent_server, "s-approve") == "completed"
    again = resume(mockagent_server, "s-approve", decision("approved"))
    assert detail(again, 409) == "Session has no pending interrupt (the session is completed)"


@pytest.mark.parametrize("value", ["rejected", "timeout"])
def test_rejected_or_timed_out_approval_fails_the_run(mockagent_server: ThreadedMockServer, value: str) -> None:
    approval_interrupt(mockagent_server, f"s-{value}")
    frames = frames_of(resume(mockagent_server, f"s-{value}", decision(value)))
    assert frames == [{"type": "error", "error": "Email not sent.", "error_code": "rejected"}]
    assert run_status(mockagent_server, f"s-{value}") == "failed"


def test_modified_approval_shows_the_modified_call(mockagent_server: ThreadedMockServer) -> None:
    approval_interrupt(mockagent_server, "s-mod")
    response = resume(mockagent_server, "s-mod", decision("modified", modified_args={"to": "dev@example.com"}))
    frames = frames_of(response)
    assert without_chunks(frames) == [
        {
            "type": "tool_call",
            "tool_name": "send_email",
            "tool_args": {"to": "dev@example.com"},
            "tool_call_id": "call_1",
        },
        {"type": "tool_result", "tool_name": "send_email", "result": {"sent": True}},
        {"type": "done", "session_id": "s-mod"},
    ]
    assert text(frames) == "Email sent."


def test_tool_interrupt_config_pauses_a_tool_of_the_request(mockagent_server: ThreadedMockServer) -> None:
    config = {"get_weather": {"enabled": True, "requires_interrupt": True}}
    tools = [{"type": "mcp", "name": "weather", "base_url": "https://mcp.example.com", "api_key": "tvly-secret"}]
    frames = invoke(
        mockagent_server, "weather?", agent="tools", session_id="s-tic", tool_interrupt_config=config, tools=tools
    )
    assert frames[-2:] == [
        {
            "type": "tool_call",
            "tool_name": "get_weather",
            "tool_args": {"city": "Paris"},
            "tool_call_id": "call_1",
            "requires_approval": True,
        },
        {
            "type": "interrupt",
            "session_id": "s-tic",
            "tool_calls": [{"tool_call_id": "call_1", "tool_name": "get_weather", "tool_args": {"city": "Paris"}}],
        },
    ]
    result = {"tool_call_id": "call_1", "tool_name": "get_weather", "decision": "approved"}
    after = frames_of(resume(mockagent_server, "s-tic", result))
    assert without_chunks(after) == [
        {"type": "tool_result", "tool_name": "get_weather", "result": {"temp_c": 21}},
        {"type": "done", "session_id": "s-tic"},
    ]
    assert text(after) == "It is 21°C in Paris."


def test_disabled_interrupt_config_does_not_pause(mockagent_server: ThreadedMockServer) -> None:
    config = {"get_weather": {"enabled": False, "requires_interrupt": True}}
    frames = invoke(mockagent_server, "weather?", agent="tools", tool_interrupt_config=config)
    assert "requires_approval" not in frames[0]
    assert frames[-1]["type"] == "done"


def test_question_interrupt_answered_by_human_order(mockagent_server: ThreadedMockServer) -> None:
    frames = invoke(mockagent_server, "deploy", agent="question", session_id="s-q")
    assert frames == [
        {
            "type": "interrupt",
            "session_id": "s-q",
            "tool_calls": [],
            "question": "Which environment?",
            "options": ["staging", "production"],
        },
    ]
    missing = resume(mockagent_server, "s-q")
    assert detail(missing, 422) == [
        {"loc": ["body", "human_order"], "msg": "Field required to answer the question", "type": "missing"}
    ]
    after = frames_of(resume(mockagent_server, "s-q", human_order="staging"))
    assert text(after) == "Deploying to staging."
    assert after[-1] == {"type": "done", "session_id": "s-q"}


def test_invoke_on_an_interrupted_session_is_409(mockagent_server: ThreadedMockServer) -> None:
    approval_interrupt(mockagent_server, "s-busy")
    response = post(mockagent_server, "invoke", {"message": "again", "llm_config": LLM, "session_id": "s-busy"})
    assert detail(response, 409) == "Session has a pending interrupt; resume it first"


def test_resume_errors(mockagent_server: ThreadedMockServer) -> None:
    assert detail(resume(mockagent_server, "nope", decision("approved")), 404) == "Session not found"
    invoke(mockagent_server, "hi", session_id="s-idle")
    idle = resume(mockagent_server, "s-idle", decision("approved"))
    assert detail(idle, 409) == "Session has no pending interrupt (the session is completed)"
    approval_interrupt(mockagent_server, "s-bad")
    wrong_id = resume(mockagent_server, "s-bad", {**decision("approved"), "tool_call_id": "call_9"})
    assert detail(wrong_id, 422) == [
        {
            "loc": ["body", "tool_call_results", 0, "tool_call_id"],
            "msg": "No pending tool call 'call_9'",
            "type": "value_error",
        },
        {
            "loc": ["body", "tool_call_results"],
            "msg": "No decision for pending tool call 'call_1'",
            "type": "value_error",
        },
    ]
    no_args = resume(mockagent_server, "s-bad", decision("modified"))
    assert detail(no_args, 422) == [
        {
            "loc": ["body", "tool_call_results", 0, "modified_args"],
            "msg": "Field required when decision is 'modified'",
            "type": "missing",
        },
    ]
    assert run_status(mockagent_server, "s-bad") == "paused"  # a refused resume changes nothing


# ── validation and errors ───────────────────────────────────────────────────────────────────────


def locs(response: httpx.Response) -> list[tuple[list[Any], str]]:
    return [(e["loc"], e["type"]) for e in detail(response, 422)]


def test_invoke_validation_lists_every_field(mockagent_server: ThreadedMockServer) -> None:
    assert locs(post(mockagent_server, "invoke", {})) == [
        (["body", "message"], "missing"),
        (["body", "llm_config"], "missing"),
    ]
    bad = {
        "message": "",
        "llm_config": {"apiKey": SECRET, "temperature": 3},
        "mode": "chat",
        "enable_sandbox": "yes",
        "tools": [{"type": "rest", "api_key": "tvly-secret"}],
        "chat_history": [{"role": "robot"}],
        "tool_interrupt_config": {"send_email": {"requires_interrupt": "true"}},
    }
    response = post(mockagent_server, "invoke", bad)
    assert locs(response) == [
        (["body", "message"], "string_too_short"),
        (["body", "llm_config", "baseUrl"], "missing"),
        (["body", "llm_config", "modelName"], "missing"),
        (["body", "llm_config", "temperature"], "less_than_equal"),
        (["body", "mode"], "literal_error"),
        (["body", "tools", 0, "type"], "literal_error"),
        (["body", "tools", 0, "name"], "missing"),
        (["body", "enable_sandbox"], "bool_type"),
        (["body", "chat_history", 0, "role"], "literal_error"),
        (["body", "chat_history", 0, "content"], "missing"),
        (["body", "tool_interrupt_config", "send_email", "requires_interrupt"], "bool_type"),
    ]
    assert response.json()["detail"][4]["msg"] == "Input should be 'agent', 'ask' or 'plan'"
    # Secrets are never echoed, and no entry carries the input.
    assert SECRET not in response.text
    assert "tvly-secret" not in response.text
    assert all(set(e) == {"loc", "msg", "type"} for e in response.json()["detail"])


def test_resume_validation_lists_every_field(mockagent_server: ThreadedMockServer) -> None:
    assert locs(post(mockagent_server, "resume", {})) == [
        (["body", "session_id"], "missing"),
        (["body", "llm_config"], "missing"),
        (["body", "tool_call_results"], "missing"),
    ]
    body = {"session_id": "s", "llm_config": LLM, "tool_call_results": [{"tool_call_id": "c", "decision": "maybe"}]}
    assert locs(post(mockagent_server, "resume", body)) == [
        (["body", "tool_call_results", 0, "tool_name"], "missing"),
        (["body", "tool_call_results", 0, "decision"], "literal_error"),
    ]


def raw_post(server: ThreadedMockServer, content: bytes, content_type: str) -> httpx.Response:
    headers = {"Authorization": f"Bearer {JWT}", "Content-Type": content_type}
    return httpx.post(f"{server.base_url('zeus')}/api/agent/invoke", content=content, headers=headers, timeout=10)


def test_malformed_bodies(mockagent_server: ThreadedMockServer) -> None:
    assert detail(raw_post(mockagent_server, b"{oops", "application/json"), 422) == [
        {"loc": ["body", 1], "msg": "JSON decode error", "type": "json_invalid"}
    ]
    assert detail(raw_post(mockagent_server, b"[1, 2]", "application/json"), 422) == [
        {
            "loc": ["body"],
            "msg": "Input should be a valid dictionary or object to extract fields from",
            "type": "model_attributes_type",
        }
    ]
    unsupported = raw_post(mockagent_server, b"message=hi", "application/x-www-form-urlencoded")
    assert detail(unsupported, 415) == "Content-Type must be application/json, got application/x-www-form-urlencoded"


def test_oversized_body_is_413(mockagent_server: ThreadedMockServer) -> None:
    response = raw_post(mockagent_server, b'{"message": "' + b"x" * (10 * 1024 * 1024) + b'"}', "application/json")
    assert detail(response, 413) == f"request body exceeds {10 * 1024 * 1024} bytes"


@pytest.mark.parametrize(
    ("token", "expected"),
    [
        (None, "Not authenticated"),
        ("not-a-jwt", "Could not validate credentials"),
        ("a.b", "Could not validate credentials"),
    ],
)
def test_bad_credentials_are_401(mockagent_server: ThreadedMockServer, token: str | None, expected: str) -> None:
    for endpoint in ("invoke", "resume"):
        response = post(mockagent_server, endpoint, {"message": "x", "llm_config": LLM}, token=token)
        assert detail(response, 401) == expected
        assert response.headers["WWW-Authenticate"] == "Bearer"


def test_basic_scheme_is_401(mockagent_server: ThreadedMockServer) -> None:
    response = post(mockagent_server, "invoke", {}, token=None, headers={"Authorization": f"Basic {JWT}"})
    assert detail(response, 401) == "Could not validate credentials"


@pytest.mark.mockagent(scenarios=[AUTH], with_builtin=True)
def test_declared_tokens_and_agent_scoped_tokens(mockagent_server: ThreadedMockServer) -> None:
    body = {"message": "x", "llm_config": LLM}
    assert detail(post(mockagent_server, "invoke", body, token=JWT), 401) == "Could not validate credentials"
    assert text(frames_of(post(mockagent_server, "invoke", body, token=ANY_KEY, agent="tools"))).startswith("It is")
    assert text(frames_of(post(mockagent_server, "invoke", body, token=ECHO_KEY))) == "Echo: x"
    scoped = post(mockagent_server, "invoke", body, token=ECHO_KEY, agent="tools")
    assert detail(scoped, 403) == "Not allowed to use this agent"


@pytest.mark.mockagent(scenarios=[AGENTS], with_builtin=True, allow_unmatched=True)
def test_unknown_route_and_wrong_method(mockagent_server: ThreadedMockServer) -> None:
    base = mockagent_server.base_url("zeus")
    missing = httpx.post(f"{base}/api/agent/nothing", json={}, timeout=10)
    assert detail(missing, 404) == "Not found"
    wrong = httpx.get(f"{base}/api/agent/invoke", timeout=10)
    assert detail(wrong, 405) == "Method not allowed"
    assert wrong.headers["Allow"] == "POST"


def test_api_key_is_not_kept(mockagent_server: ThreadedMockServer) -> None:
    invoke(mockagent_server, "hi", tools=[{"type": "oauth", "name": "gmail", "api_key": "tool-secret"}])
    runs = httpx.get(f"{mockagent_server.url}/__mockagent/runs", timeout=10).text
    assert SECRET not in runs
    assert "tool-secret" not in runs
    (run,) = mockagent_server.session().runs_of()
    assert run.record == Invocation(mode="agent", model="gpt-4o")


@pytest.mark.mockagent(platform="zeus")
def test_served_at_the_root(mockagent_server: ThreadedMockServer) -> None:
    response = httpx.post(
        f"{mockagent_server.url}/api/agent/invoke",
        json={"message": "root", "llm_config": LLM},
        headers={"Authorization": f"Bearer {JWT}"},
        timeout=10,
    )
    assert text(frames_of(response)) == "Echo: root"


# ── time and disconnects (manual clock) ─────────────────────────────────────────────────────────


async def open_stream(
    server: MockServer, session: aiohttp.ClientSession, agent: str, session_id: str
) -> aiohttp.ClientResponse:
    response = await session.post(
        f"{server.base_url('zeus')}/api/agent/invoke",
        params={"agent": agent},
        json={"message": "go", "llm_config": LLM, "session_id": session_id},
        headers={"Authorization": f"Bearer {JWT}"},
    )
    assert response.status == 200
    return response


@pytest.mark.mockagent(manual_clock=True)
async def test_frames_follow_the_clock(mockagent_aserver: MockServer) -> None:
    async with aiohttp.ClientSession() as session:
        response = await open_stream(mockagent_aserver, session, "slow", "s-slow")
        await mockagent_aserver.advance(2.9)
        assert run_status(mockagent_aserver, "s-slow") == "running"
        await mockagent_aserver.advance(0.1)
        frames = json_frames(await response.text())
    check_vocabulary(frames, VOCABULARY, TERMINAL)
    assert text(frames) == "Done after a while."
    assert frames[-1] == {"type": "done", "session_id": "s-slow"}


@pytest.mark.mockagent(manual_clock=True)
async def test_client_disconnect_cancels_the_run(mockagent_aserver: MockServer) -> None:
    async with aiohttp.ClientSession() as session:
        response = await open_stream(mockagent_aserver, session, "slow", "s-gone")
        assert run_status(mockagent_aserver, "s-gone") == "running"
        (run,) = mockagent_aserver.session().runs_of()
        response.close()
    # The server notices the hang-up on its own loop: the run changes then, and `settled` returns (the
    # manual clock stands still, so nothing else can settle it).
    await asyncio.wait_for(run.settled(), SAFETY)
    assert run.status() is RunStatus.CANCELLED
    assert run.end_reason == "client disconnected"
    async with aiohttp.ClientSession() as session:
        listed = await (await session.get(f"{mockagent_aserver.url}/__mockagent/runs")).json()
    assert [r["status"] for r in listed] == ["cancelled"]


@pytest.mark.mockagent(manual_clock=True, scenarios=[AGENTS], with_builtin=True)
async def test_gateway_timeout_ends_the_stream_with_an_error_frame(mockagent_aserver: MockServer) -> None:
    async with aiohttp.ClientSession() as session:
        response = await open_stream(mockagent_aserver, session, "glacial", "s-late")
        await mockagent_aserver.advance(299)
        assert run_status(mockagent_aserver, "s-late") == "running"
        await mockagent_aserver.advance(1)
        frames = json_frames(await response.text())
    check_vocabulary(frames, VOCABULARY, TERMINAL)
    assert frames == [
        {"type": "message_chunk", "content": "Thinking… "},
        {"type": "error", "error": "Gateway timeout: the stream took too long", "error_code": "timeout"},
    ]
    assert run_status(mockagent_aserver, "s-late") == "timed_out"


# ── injected faults answer in Zeus's envelope ───────────────────────────────────────────────────


@pytest.mark.parametrize(
    ("fault", "status", "message", "retry_after"),
    [
        ("429, retry-after=5", 429, "Rate limit exceeded", "5"),
        ("429", 429, "Rate limit exceeded", "1"),
        ("500", 500, "Internal server error", None),
        ("502", 502, "Bad gateway", None),
        ("503", 503, "Service unavailable", None),
        ("504", 504, "Gateway timeout", None),
    ],
)
def test_status_faults(
    mockagent_server: ThreadedMockServer, fault: str, status: int, message: str, retry_after: str | None
) -> None:
    body = {"message": "x", "llm_config": LLM, "session_id": "s-fault"}
    response = post(mockagent_server, "invoke", body, headers={"X-Mockagent-Fault": fault})
    assert detail(response, status) == message
    assert response.headers.get("Retry-After") == retry_after
    assert mockagent_server.session().runs_of() == []  # the agent never ran
    assert mockagent_server.session().conversation(PlatformKey.ZEUS, "s-fault") is None


def test_malformed_fault_header_is_422(mockagent_server: ThreadedMockServer) -> None:
    response = post(
        mockagent_server, "invoke", {"message": "x", "llm_config": LLM}, headers={"X-Mockagent-Fault": "teapot"}
    )
    (entry,) = detail(response, 422)
    assert entry["loc"] == ["header", "X-Mockagent-Fault"]


def test_dropped_stream_cancels_the_run(mockagent_server: ThreadedMockServer) -> None:
    body = {"message": "a b c", "llm_config": LLM, "session_id": "s-drop"}
    with pytest.raises(httpx.RemoteProtocolError):
        post(mockagent_server, "invoke", body, headers={"X-Mockagent-Fault": "drop-after=1"})
    (run,) = mockagent_server.session().runs_of()
    assert run.status() is RunStatus.CANCELLED
    assert run.end_reason == "client disconnected"


def test_no_terminal_fault_withholds_done(mockagent_server: ThreadedMockServer) -> None:
    body = {"message": "a b", "llm_config": LLM}
    response = post(mockagent_server, "invoke", body, headers={"X-Mockagent-Fault": "no-terminal"})
    frames = json_frames(response.text)
    assert [f["type"] for f in frames] == ["message_chunk"] * 3
    assert text(frames) == "Echo: a b"


@pytest.mark.mockagent(manual_clock=True)
async def test_an_expired_interrupt_cannot_be_resumed(mockagent_aserver: MockServer) -> None:
    async with aiohttp.ClientSession() as session:
        response = await open_stream(mockagent_aserver, session, "approval", "s-old")
        await mockagent_aserver.advance(0.1)
        assert json_frames(await response.text())[-1]["type"] == "interrupt"
        await mockagent_aserver.advance(24 * 3600)
        late = await session.post(
            f"{mockagent_aserver.base_url('zeus')}/api/agent/resume",
            json={"session_id": "s-old", "llm_config": LLM, "tool_call_results": [decision("approved")]},
            headers={"Authorization": f"Bearer {JWT}"},
        )
        assert late.status == 409
        assert await late.json() == {"detail": "Session has no pending interrupt (the interrupt expired)"}
    assert run_status(mockagent_aserver, "s-old") == "expired"
