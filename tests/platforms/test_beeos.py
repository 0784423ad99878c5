"""BeeOS over HTTP: invoke (blocking and SSE), tasks, files, auth, and the error envelope."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import httpx
import pytest
from sse import check_vocabulary, json_frames, parse

from mockagent.errors import ApiError, ErrorKind, FieldError
from mockagent.platforms.beeos import BeeOS
from mockagent.runs import RunStatus
from mockagent.server import ThreadedMockServer

AGENTS = "tests/platforms/scenarios/beeos_agents.yaml"
AUTH = "tests/platforms/scenarios/beeos_auth.yaml"
pytestmark = pytest.mark.mockagent(scenarios=[AGENTS], with_builtin=True)

KEY = "oag_" + "0123456789abcdef" * 4
OTHER_KEY = "oag_" + "f" * 64
JWT = "eyJhbGciOiJIUzI1NiJ9.eyJzdWIiOiJ1c2VyXzEifQ.c2lnbmF0dXJl"  # {"sub": "user_1"}
ERROR_TYPES = {
    "api_error",
    "invalid_request_error",
    "authentication_error",
    "permission_error",
    "rate_limit_error",
    "not_found_error",
    "conflict_error",
    "validation_error",
}
# The invoke stream's documented frames and their keys.
VOCABULARY = {
    "reasoning": {"text"},
    "delta": {"text"},
    "error": {"code", "status_code", "message"},
    "done": {"text", "context_id", "is_error", "error", "code"},
}


def call(
    server: ThreadedMockServer,
    method: str,
    path: str,
    *,
    token: str | None = KEY,
    headers: dict[str, str] | None = None,
    **kwargs: Any,
) -> httpx.Response:
    all_headers = {"Authorization": f"Bearer {token}"} if token is not None else {}
    all_headers.update(headers or {})
    return httpx.request(method, server.base_url("beeos") + path, headers=all_headers, timeout=10, **kwargs)


def invoke(server: ThreadedMockServer, agent: str, body: Any, **kwargs: Any) -> httpx.Response:
    return call(server, "POST", f"/api/v1/agents/{agent}/invoke", json=body, **kwargs)


def data(response: httpx.Response, status: int = 200) -> Any:
    assert response.status_code == status, response.text
    body = response.json()
    assert body["success"] is True
    assert response.headers["X-Request-Id"].startswith("req_")
    return body["data"]


def error(response: httpx.Response, status: int) -> dict[str, Any]:
    assert response.status_code == status, response.text
    assert response.headers["content-type"].startswith("application/json")
    body = response.json()
    assert body["success"] is False
    err = body["error"]
    assert err["type"] in ERROR_TYPES
    assert err["request_id"] == response.headers["X-Request-Id"]
    return dict(err)


def stamp(server: ThreadedMockServer, at: float) -> str:
    return server.clock.wall(at).isoformat(timespec="milliseconds").replace("+00:00", "Z")


def sse(response: httpx.Response) -> list[dict[str, Any]]:
    assert response.status_code == 200, response.text
    assert response.headers["content-type"].startswith("text/event-stream")
    frames = json_frames(response.text)
    check_vocabulary(frames, VOCABULARY, {"done"})
    return frames


# ── auth ──────────────────────────────────────────────────────────────────────────────────────────


def test_missing_token_is_401_missing_token(mockagent_server: ThreadedMockServer) -> None:
    err = error(invoke(mockagent_server, "echo", {"message": "hi"}, token=None), 401)
    assert err["type"] == "authentication_error"
    assert err["code"] == "missing_token"


@pytest.mark.parametrize(
    "header",
    ["Bearer nope", "Basic abc", "Bearer oag_123", f"Bearer {KEY}0", "Bearer a.b", "Bearer"],
)
def test_malformed_token_is_401_invalid_token(mockagent_server: ThreadedMockServer, header: str) -> None:
    response = invoke(mockagent_server, "echo", {"message": "hi"}, token=None, headers={"Authorization": header})
    assert error(response, 401)["code"] == "invalid_token"


def test_a_user_jwt_is_accepted_and_names_the_caller(mockagent_server: ThreadedMockServer) -> None:
    assert data(invoke(mockagent_server, "echo", {"message": "hi"}, token=JWT))["text"] == "Echo: hi"
    created = data(call(mockagent_server, "POST", "/api/v1/agents/echo/tasks", token=JWT, json={"message": "x"}), 202)
    task = data(call(mockagent_server, "GET", f"/api/v1/agents/echo/tasks/{created['task_id']}", token=JWT))
    assert task["caller_id"] == "user:user_1"


@pytest.mark.mockagent(scenarios=[AUTH], with_builtin=True)
def test_declared_keys_only(mockagent_server: ThreadedMockServer) -> None:
    assert error(invoke(mockagent_server, "echo", {"message": "hi"}), 401)["code"] == "unauthorized"
    first = "oag_" + "1" * 64
    scoped = "oag_" + "2" * 64
    assert data(invoke(mockagent_server, "tools", {"message": "hi"}, token=first))["is_error"] is False
    assert data(invoke(mockagent_server, "echo", {"message": "hi"}, token=scoped))["text"] == "Echo: hi"
    err = error(invoke(mockagent_server, "tools", {"message": "hi"}, token=scoped), 403)
    assert (err["type"], err["code"]) == ("permission_error", "forbidden")


# ── blocking invoke ───────────────────────────────────────────────────────────────────────────────


def test_echo_blocking(mockagent_server: ThreadedMockServer) -> None:
    reply = data(invoke(mockagent_server, "echo", {"message": "hello there"}))
    assert set(reply) == {"text", "context_id", "is_error"}
    assert reply["text"] == "Echo: hello there"
    assert reply["is_error"] is False
    assert reply["context_id"].startswith("ch-")
    again = data(invoke(mockagent_server, "echo", {"message": "hello there"}))
    assert again["context_id"] != reply["context_id"]  # a new conversation each time


def test_tools_blocking_shows_only_the_final_text(mockagent_server: ThreadedMockServer) -> None:
    assert data(invoke(mockagent_server, "tools", {"message": "weather?"}))["text"] == "It is 21°C in Paris."


def test_agent_failure_is_200_with_is_error(mockagent_server: ThreadedMockServer) -> None:
    reply = data(invoke(mockagent_server, "error", {"message": "go"}))
    assert (reply["text"], reply["is_error"]) == ("The agent failed.", True)


def test_question_is_asked_in_text_and_answered_on_the_same_context(mockagent_server: ThreadedMockServer) -> None:
    asked = data(invoke(mockagent_server, "question", {"message": "deploy"}))
    assert asked == {
        "text": "Which environment? (staging / production)",
        "context_id": asked["context_id"],
        "is_error": False,
    }
    answered = data(invoke(mockagent_server, "question", {"message": "staging", "context_id": asked["context_id"]}))
    assert answered == {"text": "Deploying to staging.", "context_id": asked["context_id"], "is_error": False}


@pytest.mark.parametrize(
    ("answer", "text", "is_error"), [("yes", "Email sent.", False), ("no thanks", "Email not sent.", True)]
)
def test_approval_in_chat(mockagent_server: ThreadedMockServer, answer: str, text: str, is_error: bool) -> None:
    asked = data(invoke(mockagent_server, "approval", {"message": "mail ops"}))
    assert asked["text"] == 'May I call send_email with {"to": "ops@example.com"}? (yes/no)'
    decided = data(invoke(mockagent_server, "approval", {"message": answer, "context_id": asked["context_id"]}))
    assert (decided["text"], decided["is_error"]) == (text, is_error)


def test_idempotency_key_replays_without_a_new_turn(mockagent_server: ThreadedMockServer) -> None:
    body = {"message": "once", "idempotency_key": "k-1"}
    first = data(invoke(mockagent_server, "echo", body))
    second = data(invoke(mockagent_server, "echo", {**body, "message": "different"}))
    assert second == first
    assert len(mockagent_server.session().runs_of()) == 1


def test_metadata_drops_reserved_keys(mockagent_server: ThreadedMockServer) -> None:
    metadata = {"trace_id": "t-1", "protocol": "x", "caller_owner_id": "y", "target_agent_id": "z"}
    data(invoke(mockagent_server, "echo", {"message": "m", "metadata": {**metadata, "delivery_principal": "p"}}))
    (run,) = mockagent_server.session().runs_of()
    assert run.record.metadata == {"trace_id": "t-1"}


def test_timeout_above_the_cap_is_clamped_not_rejected(mockagent_server: ThreadedMockServer) -> None:
    assert data(invoke(mockagent_server, "echo", {"message": "x", "timeout_ms": 200_000}))["text"] == "Echo: x"
    assert data(invoke(mockagent_server, "echo", {"message": "x", "timeout_ms": 0}))["text"] == "Echo: x"


@pytest.mark.parametrize(
    ("body", "code", "param"),
    [
        ({}, "missing_param", "message"),
        ({"message": 1}, "invalid_param", "message"),
        ({"message": ""}, "invalid_param", "message"),
        ({"message": "x", "timeout_ms": -1}, "invalid_param", "timeout_ms"),
        ({"message": "x", "timeout_ms": "5"}, "invalid_param", "timeout_ms"),
        ({"message": "x", "timeout_ms": 1.5}, "invalid_param", "timeout_ms"),
        ({"message": "x", "context_id": 5}, "invalid_param", "context_id"),
        ({"message": "x", "idempotency_key": False}, "invalid_param", "idempotency_key"),
        ({"message": "x", "metadata": {"n": 1}}, "invalid_param", "metadata.n"),
        ({"message": "x", "metadata": []}, "invalid_param", "metadata"),
        ({"message": "x", "attachments": [{}]}, "missing_param", "attachments.0.file_id"),
        ({"message": "x", "attachments": [{"file_id": "f"}] * 17}, "invalid_param", "attachments"),
        ({"message": "x", "attachments": [{"file_id": "f" * 129}]}, "invalid_param", "attachments.0.file_id"),
        ({"message": "x", "attachments": [{"file_id": "nope"}]}, "invalid_param", "attachments.0.file_id"),
    ],
)
def test_invoke_validation(mockagent_server: ThreadedMockServer, body: Any, code: str, param: str) -> None:
    err = error(invoke(mockagent_server, "echo", body), 400)
    assert (err["type"], err["code"], err["param"]) == ("invalid_request_error", code, param)
    assert mockagent_server.session().runs_of() == []


def test_agent_id_longer_than_128_is_invalid(mockagent_server: ThreadedMockServer) -> None:
    err = error(invoke(mockagent_server, "a" * 129, {"message": "x"}), 400)
    assert (err["code"], err["param"]) == ("invalid_param", "agentId")


def test_context_of_another_agent_is_invalid(mockagent_server: ThreadedMockServer) -> None:
    context_id = data(invoke(mockagent_server, "echo", {"message": "x"}))["context_id"]
    err = error(invoke(mockagent_server, "tools", {"message": "x", "context_id": context_id}), 400)
    assert (err["code"], err["param"]) == ("invalid_param", "context_id")


def test_body_errors(mockagent_server: ThreadedMockServer) -> None:
    path = "/api/v1/agents/echo/invoke"
    json_type = {"Content-Type": "application/json"}
    assert (
        error(call(mockagent_server, "POST", path, content=b"{nope", headers=json_type), 400)["code"] == "invalid_json"
    )
    assert error(call(mockagent_server, "POST", path, content=b"[1]", headers=json_type), 400)["code"] == "invalid_body"
    text_type = {"Content-Type": "text/plain"}
    err = error(call(mockagent_server, "POST", path, content=b'{"message":"x"}', headers=text_type), 400)
    assert err["code"] == "invalid_body"
    big = {"message": "x" * (1024 * 1024)}
    err = error(invoke(mockagent_server, "echo", big), 413)
    assert (err["type"], err["code"]) == ("invalid_request_error", "payload_too_large")


@pytest.mark.mockagent(scenarios=[AGENTS], with_builtin=True, allow_unmatched=True)
def test_unknown_agent_route_and_method(mockagent_server: ThreadedMockServer) -> None:
    err = error(invoke(mockagent_server, "nobody", {"message": "x"}), 404)
    assert (err["type"], err["code"]) == ("not_found_error", "agent_not_found")
    assert error(call(mockagent_server, "GET", "/api/v1/nowhere"), 404)["code"] == "not_found"
    err = error(call(mockagent_server, "GET", "/api/v1/agents/echo/invoke"), 405)
    assert err["code"] == "method_not_allowed"


@pytest.mark.parametrize(
    ("fault", "status", "kind", "code", "retry_after"),
    [
        ("429, retry-after=3", 429, "rate_limit_error", "rate_limited", "3"),
        ("429", 429, "rate_limit_error", "rate_limited", "1"),
        ("500", 500, "api_error", "internal_error", None),
        ("502", 502, "api_error", "bad_gateway", None),
        ("503", 503, "api_error", "agent_service_unavailable", None),
        ("504", 504, "api_error", "service_timeout", None),
    ],
)
def test_injected_status_faults(
    mockagent_server: ThreadedMockServer, fault: str, status: int, kind: str, code: str, retry_after: str | None
) -> None:
    response = invoke(mockagent_server, "echo", {"message": "x"}, headers={"X-Mockagent-Fault": fault})
    err = error(response, status)
    assert (err["type"], err["code"]) == (kind, code)
    assert response.headers.get("Retry-After") == retry_after
    assert mockagent_server.session().runs_of() == []


def test_render_error_covers_every_kind() -> None:
    expected = {
        ErrorKind.BAD_REQUEST: (400, "invalid_body"),
        ErrorKind.INVALID_JSON: (400, "invalid_json"),
        ErrorKind.INVALID_BODY: (400, "invalid_body"),
        ErrorKind.UNSUPPORTED_MEDIA_TYPE: (400, "invalid_body"),
        ErrorKind.VALIDATION: (400, "invalid_param"),
        ErrorKind.MISSING_CREDENTIAL: (401, "missing_token"),
        ErrorKind.INVALID_CREDENTIAL: (401, "invalid_token"),
        ErrorKind.FORBIDDEN: (403, "forbidden"),
        ErrorKind.NOT_FOUND: (404, "not_found"),
        ErrorKind.METHOD_NOT_ALLOWED: (405, "method_not_allowed"),
        ErrorKind.CONFLICT: (409, "conflict"),
        ErrorKind.PAYLOAD_TOO_LARGE: (413, "payload_too_large"),
        ErrorKind.RATE_LIMITED: (429, "rate_limited"),
        ErrorKind.INTERNAL: (500, "internal_error"),
        ErrorKind.BAD_GATEWAY: (502, "bad_gateway"),
        ErrorKind.UNAVAILABLE: (503, "agent_service_unavailable"),
        ErrorKind.TIMEOUT: (504, "service_timeout"),
    }
    assert set(expected) == set(ErrorKind)
    platform = BeeOS.__new__(BeeOS)  # render_error needs no engine
    for kind, (status, code) in expected.items():
        fields = [FieldError(("a", 0, "b"), "bad")] if kind is ErrorKind.VALIDATION else []
        response = platform.render_error(ApiError(kind, "boom", fields=fields))
        assert response.status == status
        assert response.text is not None
        assert f'"code":"{code}"' in response.text
        assert ('"param":"a.0.b"' in response.text) is (kind is ErrorKind.VALIDATION)
        assert ("Retry-After" in response.headers) is (kind is ErrorKind.RATE_LIMITED)


# ── streaming invoke ──────────────────────────────────────────────────────────────────────────────

STREAM = {"Accept": "text/event-stream"}


def test_echo_stream(mockagent_server: ThreadedMockServer) -> None:
    frames = sse(invoke(mockagent_server, "echo", {"message": "a b"}, headers=STREAM))
    context_id = frames[-1]["context_id"]
    assert context_id.startswith("ch-")
    assert frames == [
        {"type": "delta", "text": "Echo: "},
        {"type": "delta", "text": "a "},
        {"type": "delta", "text": "b"},
        {"type": "done", "text": "Echo: a b", "context_id": context_id, "is_error": False},
    ]


def test_stream_frames_have_no_event_lines(mockagent_server: ThreadedMockServer) -> None:
    response = invoke(mockagent_server, "echo", {"message": "a"}, headers=STREAM)
    assert all(frame.event is None and frame.id is None for frame in parse(response.text))


def test_tools_stream_shows_reasoning_then_text(mockagent_server: ThreadedMockServer) -> None:
    frames = sse(invoke(mockagent_server, "tools", {"message": "weather?"}, headers=STREAM))
    assert frames[0] == {"type": "reasoning", "text": "The user wants the weather; I will call get_weather."}
    assert "".join(f["text"] for f in frames if f["type"] == "delta") == "It is 21°C in Paris."
    assert frames[-1]["text"] == "It is 21°C in Paris."


def test_error_stream_has_one_error_then_done(mockagent_server: ThreadedMockServer) -> None:
    frames = sse(invoke(mockagent_server, "error", {"message": "go"}, headers=STREAM))
    context_id = frames[-1]["context_id"]
    assert frames[-2:] == [
        {"type": "error", "code": "agent_reply_error", "status_code": 502, "message": "The agent failed."},
        {
            "type": "done",
            "text": "Let me try… ",
            "context_id": context_id,
            "is_error": True,
            "error": "The agent failed.",
            "code": "agent_reply_error",
        },
    ]
    assert [f["type"] for f in frames].count("error") == 1


def test_a_script_failure_code_is_kept(mockagent_server: ThreadedMockServer) -> None:
    frames = sse(invoke(mockagent_server, "picky", {"message": "go"}, headers=STREAM))
    assert frames[-1]["code"] == "quota_exceeded"


def test_stream_replay_with_the_same_idempotency_key(mockagent_server: ThreadedMockServer) -> None:
    body = {"message": "same", "idempotency_key": "k-s"}
    first = sse(invoke(mockagent_server, "echo", body, headers=STREAM))
    assert sse(invoke(mockagent_server, "echo", body, headers=STREAM)) == first
    assert data(invoke(mockagent_server, "echo", body))["text"] == "Echo: same"
    assert len(mockagent_server.session().runs_of()) == 1


def test_dropped_stream_cancels_the_run(mockagent_server: ThreadedMockServer) -> None:
    with pytest.raises(httpx.RemoteProtocolError):
        invoke(mockagent_server, "echo", {"message": "a b c"}, headers={**STREAM, "X-Mockagent-Fault": "drop-after=1"})
    (run,) = mockagent_server.session().runs_of()
    assert run.status() is RunStatus.CANCELLED
    assert run.end_reason == "client disconnected"


# ── tasks (manual clock) ──────────────────────────────────────────────────────────────────────────

TASKS = "/api/v1/agents/{agent}/tasks"


def create(server: ThreadedMockServer, agent: str, body: Any | None = None, **kwargs: Any) -> dict[str, Any]:
    response = call(server, "POST", TASKS.format(agent=agent), json=body or {"message": "go"}, **kwargs)
    return dict(data(response, 202))


def task_path(agent: str, task_id: str, tail: str = "") -> str:
    return TASKS.format(agent=agent) + f"/{task_id}{tail}"


def get(server: ThreadedMockServer, agent: str, task_id: str) -> dict[str, Any]:
    return dict(data(call(server, "GET", task_path(agent, task_id))))


@pytest.mark.mockagent(manual_clock=True, scenarios=[AGENTS], with_builtin=True)
def test_task_lifecycle_and_timestamps(mockagent_server: ThreadedMockServer) -> None:
    created = create(mockagent_server, "slow", {"message": "go", "metadata": {"trace_id": "t", "protocol": "p"}})
    task_id = created["task_id"]
    assert task_id.startswith("ch-")
    assert created == {
        "task_id": task_id,
        "agent_id": "slow",
        "status": "queued",
        "created_at": stamp(mockagent_server, 0),
    }
    assert get(mockagent_server, "slow", task_id)["status"] == "queued"
    mockagent_server.advance(0.5)
    running = get(mockagent_server, "slow", task_id)
    assert running == {
        "task_id": task_id,
        "agent_id": "slow",
        "status": "running",
        "caller_id": running["caller_id"],
        "metadata": {"trace_id": "t"},
        "created_at": stamp(mockagent_server, 0),
        "started_at": stamp(mockagent_server, 0.5),
        "truncated": False,
    }
    mockagent_server.advance(3)
    done = get(mockagent_server, "slow", task_id)
    assert done["status"] == "completed"
    assert done["result"] == {"text": "Done after a while."}
    assert done["completed_at"] == stamp(mockagent_server, 3.5)
    (run,) = mockagent_server.session().runs_of()
    assert run.polls == 3


@pytest.mark.mockagent(manual_clock=True)
def test_question_task_input_required_then_continue(mockagent_server: ThreadedMockServer) -> None:
    task_id = create(mockagent_server, "question")["task_id"]
    mockagent_server.advance(1)
    paused = get(mockagent_server, "question", task_id)
    assert paused["status"] == "input_required"
    assert paused["result"] == {"text": "", "question": "Which environment?", "options": ["staging", "production"]}
    path = task_path("question", task_id, "/continue")
    err = error(call(mockagent_server, "POST", path, json={"input": {"a": "x", "b": "y"}}), 400)
    assert (err["code"], err["param"]) == ("invalid_param", "input")
    assert error(call(mockagent_server, "POST", path, json={}), 400)["code"] == "missing_param"
    resumed = data(call(mockagent_server, "POST", path, json={"input": {"env": "production"}}))
    assert resumed["status"] == "running"
    mockagent_server.advance(1)
    done = get(mockagent_server, "question", task_id)
    assert (done["status"], done["result"]) == ("completed", {"text": "Deploying to production."})
    err = error(call(mockagent_server, "POST", path, json={"input": {"text": "again"}}), 409)
    assert (err["type"], err["code"]) == ("conflict_error", "conflict")


@pytest.mark.mockagent(manual_clock=True)
@pytest.mark.parametrize(
    ("grant", "status", "outcome"), [(True, "completed", "Email sent."), (False, "failed", "Email not sent.")]
)
def test_approval_task(mockagent_server: ThreadedMockServer, grant: bool, status: str, outcome: str) -> None:
    task_id = create(mockagent_server, "approval")["task_id"]
    mockagent_server.advance(1)
    paused = get(mockagent_server, "approval", task_id)
    assert paused["status"] == "auth_required"
    assert paused["result"]["tool_call"] == {
        "id": "call_1",
        "name": "send_email",
        "arguments": {"to": "ops@example.com"},
    }
    path = task_path("approval", task_id, "/continue")
    err = error(call(mockagent_server, "POST", path, json={"input": {"text": "yes"}}), 400)
    assert (err["code"], err["param"]) == ("missing_param", "auth_grant")
    data(call(mockagent_server, "POST", path, json={"auth_grant": grant}))
    mockagent_server.advance(1)
    done = get(mockagent_server, "approval", task_id)
    assert done["status"] == status
    assert done.get("result", {}).get("text", done.get("error")) == outcome


@pytest.mark.mockagent(manual_clock=True)
def test_an_expired_approval_is_rejected(mockagent_server: ThreadedMockServer) -> None:
    task_id = create(mockagent_server, "approval")["task_id"]
    mockagent_server.advance(24 * 3600 + 1)
    expired = get(mockagent_server, "approval", task_id)
    assert (expired["status"], expired["error"]) == ("rejected", "the approval request expired")
    closing = data(call(mockagent_server, "GET", task_path("approval", task_id, "/messages")))["messages"][-1]
    assert (closing["type"], closing["state"], closing["stop_reason"]) == ("agent_reply", "refused", "refused")
    response = call(mockagent_server, "POST", task_path("approval", task_id, "/continue"), json={"auth_grant": True})
    assert error(response, 409)["code"] == "conflict"


@pytest.mark.mockagent(manual_clock=True)
def test_cancel_is_idempotent_and_closes_the_task(mockagent_server: ThreadedMockServer) -> None:
    task_id = create(mockagent_server, "approval")["task_id"]
    mockagent_server.advance(1)
    path = task_path("approval", task_id, "/cancel")
    # No body at all, as the SDK sends it.
    canceled = data(call(mockagent_server, "POST", path, headers={"Content-Type": "application/json"}))
    assert (canceled["status"], canceled["error"]) == ("canceled", "canceled by the caller")
    assert canceled["completed_at"] == stamp(mockagent_server, 1)
    again = data(call(mockagent_server, "POST", path, json={"reason": "twice"}))
    assert (again["status"], again["error"]) == ("canceled", "canceled by the caller")
    err = error(
        call(mockagent_server, "POST", task_path("approval", task_id, "/continue"), json={"auth_grant": True}), 409
    )
    assert err["code"] == "conflict"


@pytest.mark.mockagent(manual_clock=True)
def test_continue_a_running_task_is_a_conflict(mockagent_server: ThreadedMockServer) -> None:
    task_id = create(mockagent_server, "slow")["task_id"]
    response = call(mockagent_server, "POST", task_path("slow", task_id, "/continue"))  # empty body
    assert error(response, 409)["code"] == "conflict"


@pytest.mark.mockagent(manual_clock=True, scenarios=[AGENTS], with_builtin=True)
def test_deadline_times_the_task_out(mockagent_server: ThreadedMockServer) -> None:
    task = create(mockagent_server, "sleepy", {"message": "go", "deadline_ms": 2000})
    mockagent_server.advance(1.9)
    assert get(mockagent_server, "sleepy", task["task_id"])["status"] == "running"
    mockagent_server.advance(0.1)
    timed_out = get(mockagent_server, "sleepy", task["task_id"])
    assert (timed_out["status"], timed_out["error"]) == ("timeout", "task deadline exceeded")
    assert timed_out["deadline_at"] == timed_out["completed_at"] == stamp(mockagent_server, 2)


@pytest.mark.mockagent(manual_clock=True)
def test_task_validation_and_idempotency(mockagent_server: ThreadedMockServer) -> None:
    path = TASKS.format(agent="echo")
    err = error(call(mockagent_server, "POST", path, json={"message": "x", "deadline_ms": -1}), 400)
    assert (err["code"], err["param"]) == ("invalid_param", "deadline_ms")
    assert error(call(mockagent_server, "POST", path, json={"message": "x" * (1024 * 1024)}), 413)["code"] == (
        "payload_too_large"
    )
    first = create(mockagent_server, "echo", {"message": "x", "idempotency_key": "t-1"})
    assert create(mockagent_server, "echo", {"message": "x", "idempotency_key": "t-1"}) == first
    assert len(mockagent_server.session().runs_of()) == 1


@pytest.mark.mockagent(manual_clock=True)
def test_tasks_are_private_to_their_owner_and_agent(mockagent_server: ThreadedMockServer) -> None:
    task_id = create(mockagent_server, "slow")["task_id"]
    for token, agent, tid in [(OTHER_KEY, "slow", task_id), (KEY, "echo", task_id), (KEY, "slow", "ch-nope")]:
        err = error(call(mockagent_server, "GET", task_path(agent, tid), token=token), 404)
        assert (err["type"], err["code"]) == ("not_found_error", "task_not_found")
    assert error(call(mockagent_server, "GET", task_path("nobody", task_id)), 404)["code"] == "agent_not_found"


@pytest.mark.mockagent(manual_clock=True)
def test_list_tasks(mockagent_server: ThreadedMockServer) -> None:
    ids = [create(mockagent_server, "slow")["task_id"] for _ in range(3)]
    call(mockagent_server, "POST", task_path("slow", ids[0], "/cancel"))
    path = TASKS.format(agent="slow")
    active = data(call(mockagent_server, "GET", path))
    assert [t["task_id"] for t in active["tasks"]] == [ids[2], ids[1]]
    assert active["next_since"] == ""
    assert {t["state"] for t in active["tasks"]} == {"active"}
    closed = data(call(mockagent_server, "GET", path, params={"state": "closed"}))["tasks"]
    assert [(t["task_id"], t["state"], t["close_reason"]) for t in closed] == [(ids[0], "closed", "canceled")]
    page = data(call(mockagent_server, "GET", path, params={"state": "all", "limit": 2}))
    assert [t["task_id"] for t in page["tasks"]] == [ids[2], ids[1]]
    rest = data(call(mockagent_server, "GET", path, params={"state": "all", "since": page["next_since"]}))
    assert [t["task_id"] for t in rest["tasks"]] == [ids[0]]
    assert data(call(mockagent_server, "GET", path, token=OTHER_KEY))["tasks"] == []
    mine = data(call(mockagent_server, "GET", "/api/v1/tasks", params={"agent_id": "slow", "state": "all"}))
    assert len(mine["tasks"]) == 3
    for params, param in [({"state": "open"}, "state"), ({"limit": "0"}, "limit"), ({"limit": "x"}, "limit")]:
        err = error(call(mockagent_server, "GET", path, params=params), 400)
        assert (err["code"], err["param"]) == ("invalid_param", param)


@pytest.mark.mockagent(manual_clock=True)
def test_task_messages_and_events_backfill(mockagent_server: ThreadedMockServer) -> None:
    task_id = create(mockagent_server, "echo", {"message": "a b"})["task_id"]
    mockagent_server.advance(1)
    listed = data(call(mockagent_server, "GET", task_path("echo", task_id, "/messages")))
    assert [(m["offset"], m["type"]) for m in listed["messages"]] == [(1, "chat_message"), (5, "agent_reply")]
    assert listed["messages"][0]["payload"] == {"text": "a b"}
    assert listed["messages"][1]["payload"] == {"text": "Echo: a b"}
    assert (listed["latest_offset"], listed["has_more"], listed["next_since"]) == (5, False, "5")
    params = {"include_deltas": "true", "since": 1, "limit": 2}
    page = data(call(mockagent_server, "GET", task_path("echo", task_id, "/messages"), params=params))
    assert [m["offset"] for m in page["messages"]] == [2, 3]
    assert (page["has_more"], page["next_since"]) == (True, "3")
    assert [m["payload"]["text"] for m in page["messages"]] == ["Echo: ", "a "]

    events = call(mockagent_server, "GET", task_path("echo", task_id, "/events"))
    assert events.headers["content-type"].startswith("text/event-stream")
    frames = parse(events.text)
    # The end frame has no id of its own: the last event id stays the last message's offset.
    assert [(f.event, f.id) for f in frames] == [("message", str(n)) for n in range(1, 6)] + [("end", "5")]
    assert frames[-1].json() == {"reason": "task_terminal"}
    assert [f.json()["offset"] for f in frames[:-1]] == [1, 2, 3, 4, 5]
    after = parse(call(mockagent_server, "GET", task_path("echo", task_id, "/events"), params={"since": 3}).text)
    assert [(f.event, f.id) for f in after] == [("message", "4"), ("message", "5"), ("end", "5")]
    resumed = call(mockagent_server, "GET", task_path("echo", task_id, "/events"), headers={"Last-Event-ID": "4"})
    assert [(f.event, f.id) for f in parse(resumed.text)] == [("message", "5"), ("end", "5")]
    err = error(call(mockagent_server, "GET", task_path("echo", task_id, "/events"), params={"since": "-1"}), 400)
    assert err["param"] == "since"


@pytest.mark.mockagent(manual_clock=True)
def test_tools_task_channel_shows_tool_steps(mockagent_server: ThreadedMockServer) -> None:
    task_id = create(mockagent_server, "tools")["task_id"]
    mockagent_server.advance(2)
    messages = data(call(mockagent_server, "GET", task_path("tools", task_id, "/messages")))["messages"]
    types = [m["type"] for m in messages]
    assert types == ["chat_message", "agent_thinking", "tool_use", "tool_result", "agent_reply"]
    assert messages[2]["parts"] == [
        {"type": "tool_use", "id": "call_1", "name": "get_weather", "arguments": {"city": "Paris"}}
    ]
    assert messages[3]["parts"] == [
        {"type": "tool_result", "tool_use_id": "call_1", "content": {"temp_c": 21}, "is_error": False}
    ]


# ── files ─────────────────────────────────────────────────────────────────────────────────────────


def presign(server: ThreadedMockServer, body: Any | None = None, **kwargs: Any) -> httpx.Response:
    body = body or {"filename": "a.png", "content_type": "image/png"}
    return call(server, "POST", "/api/v1/files/presign-upload", json=body, **kwargs)


def test_files_presign_upload_get_and_download(mockagent_server: ThreadedMockServer) -> None:
    presigned = data(presign(mockagent_server))
    file_id = presigned["file_id"]
    assert set(presigned) == {"file_id", "upload_url", "download_url", "download_expires_in"}
    assert presigned["upload_url"].startswith(mockagent_server.base_url("beeos") + "/")
    assert presigned["download_expires_in"] == 86400
    meta = data(call(mockagent_server, "GET", f"/api/v1/files/{file_id}"))
    assert meta == {
        "file_id": file_id,
        "filename": "a.png",
        "content_type": "image/png",
        "download_url": meta["download_url"],
    }
    assert error(httpx.get(presigned["download_url"]), 404)["code"] == "file_not_found"
    err = error(httpx.put(presigned["upload_url"], content=b"x", headers={"Content-Type": "text/plain"}), 403)
    assert err["code"] == "forbidden"
    assert error(httpx.put(presigned["upload_url"] + "0", content=b"x"), 403)["code"] == "forbidden"
    uploaded = httpx.put(presigned["upload_url"], content=b"\x89PNG", headers={"Content-Type": "image/png"})
    assert uploaded.status_code == 200
    assert error(httpx.put(presigned["upload_url"], content=b"again", headers={"Content-Type": "image/png"}), 409)[
        "code"
    ] == ("conflict")
    meta = data(call(mockagent_server, "GET", f"/api/v1/files/{file_id}"))
    assert meta["size"] == 4
    downloaded = httpx.get(meta["download_url"])
    assert (downloaded.status_code, downloaded.content) == (200, b"\x89PNG")
    assert downloaded.headers["content-type"] == "image/png"
    assert (
        error(call(mockagent_server, "GET", f"/api/v1/files/{file_id}", token=OTHER_KEY), 404)["code"]
        == "file_not_found"
    )
    assert error(call(mockagent_server, "GET", "/api/v1/files/" + "f" * 129), 400)["param"] == "fileId"


@pytest.mark.parametrize(
    ("body", "code", "param"),
    [
        ({"filename": "a.png"}, "missing_param", "content_type"),
        ({"filename": "a" * 513, "content_type": "image/png"}, "invalid_param", "filename"),
        ({"filename": "a.png", "content_type": "x" * 256}, "invalid_param", "content_type"),
    ],
)
def test_presign_validation(mockagent_server: ThreadedMockServer, body: Any, code: str, param: str) -> None:
    err = error(presign(mockagent_server, body), 400)
    assert (err["code"], err["param"]) == (code, param)


def test_presign_needs_a_token(mockagent_server: ThreadedMockServer) -> None:
    assert error(presign(mockagent_server, token=None), 401)["code"] == "missing_token"


def test_invoke_with_an_uploaded_attachment(mockagent_server: ThreadedMockServer) -> None:
    file_id = data(presign(mockagent_server))["file_id"]
    reply = data(invoke(mockagent_server, "echo", {"message": "see file", "attachments": [{"file_id": file_id}]}))
    assert reply["text"] == "Echo: see file"
    (run,) = mockagent_server.session().runs_of()
    assert run.record.attachments == [{"file_id": file_id, "filename": "a.png", "content_type": "image/png"}]
    other = {"message": "x", "attachments": [{"file_id": file_id}]}
    assert error(invoke(mockagent_server, "echo", other, token=OTHER_KEY), 400)["param"] == "attachments.0.file_id"


@pytest.mark.mockagent(platform="beeos")
def test_served_at_the_root_alone(mockagent_server: ThreadedMockServer) -> None:
    assert mockagent_server.base_url("beeos") == mockagent_server.url
    response = httpx.post(
        f"{mockagent_server.url}/api/v1/agents/echo/invoke",
        json={"message": "root"},
        headers={"Authorization": f"Bearer {KEY}"},
    )
    assert data(response)["text"] == "Echo: root"
    presigned = data(presign(mockagent_server))
    assert presigned["upload_url"].startswith(f"{mockagent_server.url}/storage/")


@pytest.mark.mockagent(scenarios=["tests/scenarios/instant.yaml"])  # an unpaced echo
def test_a_large_body_is_read_whole_however_many_packets_it_takes(mockagent_server: ThreadedMockServer) -> None:
    message = "x" * 900_000  # many TCP segments, still under BeeOS's 1 MiB limit
    reply = data(call(mockagent_server, "POST", "/api/v1/agents/echo/invoke", json={"message": message}))
    assert reply["text"] == f"Echo: {message}"
    too_big = call(mockagent_server, "POST", "/api/v1/agents/echo/invoke", json={"message": "x" * (1024 * 1024)})
    assert error(too_big, 413)["code"] == "payload_too_large"


def test_a_large_upload_is_stored_whole(mockagent_server: ThreadedMockServer) -> None:
    presigned = data(presign(mockagent_server, {"filename": "big.bin", "content_type": "application/octet-stream"}))
    content = bytes(range(256)) * 20_000  # 5 MB
    uploaded = httpx.put(
        presigned["upload_url"], content=content, headers={"Content-Type": "application/octet-stream"}, timeout=10
    )
    assert uploaded.status_code == 200
    meta = data(call(mockagent_server, "GET", f"/api/v1/files/{presigned['file_id']}"))
    assert meta["size"] == len(content)
    assert httpx.get(meta["download_url"], timeout=10).content == content


@pytest.mark.mockagent(scenarios=["tests/scenarios/instant.yaml"])
def test_a_chunked_body_is_read_whole_and_limited(mockagent_server: ThreadedMockServer) -> None:
    def body(size: int) -> Iterator[bytes]:
        yield b'{"message": "'
        for _ in range(size // 1000):
            yield b"y" * 1000
        yield b'"}'

    headers = {"Content-Type": "application/json"}
    reply = call(mockagent_server, "POST", "/api/v1/agents/echo/invoke", content=body(200_000), headers=headers)
    assert data(reply)["text"] == "Echo: " + "y" * 200_000
    too_big = call(mockagent_server, "POST", "/api/v1/agents/echo/invoke", content=body(2_000_000), headers=headers)
    assert error(too_big, 413)["code"] == "payload_too_large"
