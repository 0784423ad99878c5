"""xpander.ai over HTTP: the invoke forms' task objects, threads, HITL, the catalog, and every error class."""

from __future__ import annotations

import json
import uuid
from collections.abc import Iterator
from typing import Any

import httpx
import pytest

from mockagent.server import ThreadedMockServer

EXTRA = "tests/platforms/scenarios/xpander_agents.yaml"
AUTH = "tests/platforms/scenarios/xpander_auth.yaml"
USER = {"id": "u-1", "email": "ada@example.com"}
manual_clock = pytest.mark.mockagent(manual_clock=True)
TASK_KEYS = [
    "id", "agent_id", "organization_id", "input", "status", "created_at", "started_at", "paused_at",
    "finished_at", "result", "hitl_request", "source", "output_format", "think_mode", "instructions_override",
    "additional_context", "expected_output", "llm_model_provider", "llm_model_name", "llm_reasoning_effort",
    "tokens",
]  # fmt: skip


@pytest.fixture
def client(mockagent_server: ThreadedMockServer) -> Iterator[httpx.Client]:
    with httpx.Client(base_url=mockagent_server.base_url("xpander"), headers={"x-api-key": "key-1"}) as c:
        yield c


def invoke(client: httpx.Client, agent: str, text: str = "hello", form: str = "", **body: Any) -> httpx.Response:
    path = f"/v1/agents/{agent}/invoke" + (f"/{form}" if form else "")
    return client.post(path, json={"input": {"text": text, "user": USER}, **body})


def task(client: httpx.Client, agent: str, text: str = "hello", **body: Any) -> dict[str, Any]:
    response = invoke(client, agent, text, **body)
    assert response.status_code == 200, response.text
    result: dict[str, Any] = response.json()
    return result


def paused_task(client: httpx.Client, server: ThreadedMockServer, agent: str) -> dict[str, Any]:
    """Invoke async and let the clock run until the agent pauses (needs the manual clock)."""
    started = invoke(client, agent, form="async").json()
    server.advance(1)
    return poll(client, started["id"])


def poll(client: httpx.Client, task_id: str) -> dict[str, Any]:
    response = client.get(f"/v1/tasks/{task_id}")
    assert response.status_code == 200, response.text
    result: dict[str, Any] = response.json()
    return result


def detail(response: httpx.Response, status: int) -> Any:
    assert response.status_code == status, response.text
    assert response.headers["content-type"].startswith("application/json")
    return response.json()["detail"]


# ── the task object ──────────────────────────────────────────────────────────────────────────────


def test_sync_invoke_returns_the_completed_task(client: httpx.Client) -> None:
    body = task(client, "echo", "hello there")
    assert list(body) == TASK_KEYS
    assert str(uuid.UUID(body["id"])) == body["id"]
    assert str(uuid.UUID(body["organization_id"])) == body["organization_id"]
    assert body["agent_id"] == "echo"
    assert body["input"] == {"text": "hello there", "files": [], "user": USER}
    assert body["status"] == "completed"
    assert body["result"] == "Echo: hello there"
    assert body["paused_at"] is None
    assert body["created_at"] <= body["started_at"] <= body["finished_at"]
    assert body["hitl_request"] is None
    assert body["source"] == "api"
    assert (body["output_format"], body["think_mode"]) == ("text", "default")
    assert (body["llm_model_provider"], body["llm_model_name"], body["llm_reasoning_effort"]) == (
        "openai",
        "gpt-5",
        "medium",
    )
    assert body["tokens"] == {"completion_tokens": 3, "prompt_tokens": 2, "total_tokens": 5}


def test_every_invocation_shares_the_organization(client: httpx.Client) -> None:
    assert task(client, "echo")["organization_id"] == task(client, "tools")["organization_id"]


def test_request_fields_are_echoed_and_the_oidc_token_is_not(client: httpx.Client) -> None:
    response = invoke(
        client,
        "echo",
        "hi",
        think_mode="harder",
        instructions_override="Be brief.",
        additional_context="It is Monday.",
        expected_output="One line",
        output_format="markdown",
        user_oidc_token="secret-oidc-token",
        source_node_type="sdk",
        disable_attachment_injection=True,
    )
    body = response.json()
    assert "secret-oidc-token" not in response.text
    assert (body["think_mode"], body["output_format"]) == ("harder", "markdown")
    assert (body["instructions_override"], body["additional_context"], body["expected_output"]) == (
        "Be brief.",
        "It is Monday.",
        "One line",
    )


def test_user_extras_and_files_are_echoed(client: httpx.Client) -> None:
    user = {**USER, "first_name": "Ada", "team": "ops"}
    files = ["https://example.com/a.pdf"]
    response = client.post("/v1/agents/echo/invoke", json={"input": {"text": "x", "user": user, "files": files}})
    assert response.json()["input"] == {"text": "x", "files": files, "user": user}


@pytest.mark.mockagent(scenarios=[EXTRA], with_builtin=True)
def test_llm_fields_come_from_the_agent_or_the_override(client: httpx.Client) -> None:
    configured = task(client, "configured")
    assert (configured["llm_model_provider"], configured["llm_model_name"], configured["llm_reasoning_effort"]) == (
        "anthropic",
        "claude-sonnet-4-6",
        "high",
    )
    overridden = task(
        client, "configured", llm_model_provider="openai", llm_model_name="gpt-4.1", llm_reasoning_effort="xhigh"
    )
    assert (overridden["llm_model_provider"], overridden["llm_model_name"], overridden["llm_reasoning_effort"]) == (
        "openai",
        "gpt-4.1",
        "xhigh",
    )
    partly = task(client, "configured", llm_model_name="claude-opus-4-6")
    assert (partly["llm_model_provider"], partly["llm_model_name"]) == ("anthropic", "claude-opus-4-6")


@pytest.mark.mockagent(scenarios=[EXTRA], with_builtin=True)
def test_output_format_json_gives_a_json_string(client: httpx.Client) -> None:
    wrapped = task(client, "echo", "hi", output_format="json")
    assert json.loads(wrapped["result"]) == {"result": "Echo: hi"}
    already = task(client, "jsonbot", "hi", output_format="json")
    assert already["result"] == '{"answer": 42}'
    assert task(client, "jsonbot", "hi")["result"] == '{"answer": 42}'


def test_tools_agent_shows_only_the_final_text(client: httpx.Client) -> None:
    body = task(client, "tools", "weather?")
    assert (body["status"], body["result"]) == ("completed", "It is 21°C in Paris.")


def test_error_agent_fails_the_task(client: httpx.Client) -> None:
    body = task(client, "error")
    assert (body["status"], body["result"]) == ("failed", "The agent failed.")
    assert body["finished_at"] is not None


def test_version_query_is_accepted(client: httpx.Client) -> None:
    for version in ("draft", "3", "latest"):
        response = client.post(
            "/v1/agents/echo/invoke", params={"version": version}, json={"input": {"text": "v", "user": USER}}
        )
        assert response.json()["result"] == "Echo: v"


# ── threads ──────────────────────────────────────────────────────────────────────────────────────


def test_a_continued_thread_keeps_its_task_id_and_history(client: httpx.Client) -> None:
    first = task(client, "echo", "one")
    second = task(client, "echo", "two", id=first["id"])
    assert second["id"] == first["id"]
    assert (second["result"], second["input"]["text"]) == ("Echo: two", "two")
    assert client.get(f"/v1/tasks/{first['id']}").json()["result"] == "Echo: two"
    thread = client.get(f"/v1/tasks/{first['id']}/thread").json()
    assert [(m["role"], m["content"]) for m in thread] == [
        ("user", "one"),
        ("assistant", "Echo: one"),
        ("user", "two"),
        ("assistant", "Echo: two"),
    ]
    assert all(m["created_at"] for m in thread)
    assert [m["created_at"] for m in thread] == sorted(m["created_at"] for m in thread)


def test_an_unknown_thread_id_is_404(client: httpx.Client) -> None:
    assert detail(invoke(client, "echo", id=str(uuid.uuid4())), 404) == "Task not found"


def test_a_thread_of_another_agent_is_404(client: httpx.Client) -> None:
    first = task(client, "echo")
    assert detail(invoke(client, "tools", id=first["id"]), 404) == "Task not found"


def test_continuing_a_paused_thread_is_409(client: httpx.Client) -> None:
    paused = task(client, "approval")
    assert detail(invoke(client, "approval", id=paused["id"]), 409).startswith("Task is paused")


# ── HITL ─────────────────────────────────────────────────────────────────────────────────────────


@manual_clock
def test_approval_pauses_and_approve_completes(client: httpx.Client, mockagent_server: ThreadedMockServer) -> None:
    paused = paused_task(client, mockagent_server, "approval")
    assert (paused["status"], paused["result"], paused["finished_at"]) == ("paused", None, None)
    assert paused["paused_at"] is not None
    hitl = paused["hitl_request"]
    assert hitl == {
        "wait_node_id": "call_1",
        "operation_id": hitl["operation_id"],
        "title": "Approve send_email",
        "description": 'May I call send_email with {"to": "ops@example.com"}? (yes/no)',
        "content": '{"tool_name":"send_email","payload":{"to":"ops@example.com"}}',
        "approved_by": None,
        "rejected_by": None,
    }
    decided = client.post(f"/v1/tasks/{paused['id']}/hitl", json={"decision": "approve"})
    assert decided.status_code == 200
    assert (decided.json()["status"], decided.json()["hitl_request"]) == ("executing", None)
    mockagent_server.advance(1)
    done = poll(client, paused["id"])
    assert (done["status"], done["result"]) == ("completed", "Email sent.")
    assert done["paused_at"] == paused["paused_at"]


def test_sync_invoke_returns_a_paused_task(client: httpx.Client) -> None:
    paused = task(client, "approval")
    assert (paused["status"], paused["hitl_request"]["title"]) == ("paused", "Approve send_email")


@manual_clock
def test_approval_reject_fails_the_task(client: httpx.Client, mockagent_server: ThreadedMockServer) -> None:
    paused = paused_task(client, mockagent_server, "approval")
    client.post(f"/v1/tasks/{paused['id']}/hitl", json={"decision": "reject", "comment": "no"})
    mockagent_server.advance(1)
    done = poll(client, paused["id"])
    assert (done["status"], done["result"]) == ("failed", "Email not sent.")


@manual_clock
def test_question_is_answered_by_the_comment(client: httpx.Client, mockagent_server: ThreadedMockServer) -> None:
    paused = paused_task(client, mockagent_server, "question")
    hitl = paused["hitl_request"]
    assert (hitl["wait_node_id"], hitl["title"], hitl["description"]) == (
        "question",
        "Input required",
        "Which environment?",
    )
    assert hitl["content"] == "Which environment?\nOptions: staging, production"
    no_answer = client.post(f"/v1/tasks/{paused['id']}/hitl", json={"decision": "approve"})
    assert detail(no_answer, 422) == [{"type": "missing", "loc": ["body", "comment"], "msg": "Field required"}]
    client.post(f"/v1/tasks/{paused['id']}/hitl", json={"decision": "approve", "comment": "production"})
    mockagent_server.advance(1)
    done = poll(client, paused["id"])
    assert (done["status"], done["result"]) == ("completed", "Deploying to production.")


def test_question_reject_fails_the_task(client: httpx.Client) -> None:
    paused = task(client, "question")
    rejected = client.post(f"/v1/tasks/{paused['id']}/hitl", json={"decision": "reject"}).json()
    assert (rejected["status"], rejected["result"]) == ("failed", "The question was rejected.")
    assert poll(client, paused["id"])["status"] == "failed"


def test_hitl_on_a_task_that_is_not_paused_is_409(client: httpx.Client) -> None:
    done = task(client, "echo")
    response = client.post(f"/v1/tasks/{done['id']}/hitl", json={"decision": "approve"})
    assert detail(response, 409) == "Task is completed, not paused"


def test_hitl_decision_must_be_approve_or_reject(client: httpx.Client) -> None:
    paused = task(client, "approval")
    response = client.post(f"/v1/tasks/{paused['id']}/hitl", json={"decision": "maybe", "comment": 3})
    assert detail(response, 422) == [
        {"type": "enum", "loc": ["body", "decision"], "msg": "Input should be 'approve' or 'reject'"},
        {"type": "string_type", "loc": ["body", "comment"], "msg": "Input should be a valid string"},
    ]


# ── stop ─────────────────────────────────────────────────────────────────────────────────────────


@manual_clock
def test_stop_ends_a_running_task(client: httpx.Client) -> None:
    started = invoke(client, "slow", form="async").json()
    stopped = client.post(f"/v1/tasks/{started['id']}/stop")
    assert stopped.status_code == 200
    body = stopped.json()
    assert (body["status"], body["result"]) == ("stopped", None)
    assert body["finished_at"] is not None
    assert client.get(f"/v1/tasks/{started['id']}").json()["status"] == "stopped"
    assert detail(client.post(f"/v1/tasks/{started['id']}/stop"), 409) == "Task is already stopped"


# ── the LLM catalog ──────────────────────────────────────────────────────────────────────────────


def test_llm_providers_and_models(client: httpx.Client) -> None:
    providers = client.get("/v1/llm_providers").json()
    identifiers = [p["internal_identifier"] for p in providers]
    assert identifiers == ["openai", "anthropic", "bedrock", "gemini"]
    assert set(providers[0]) == {"id", "name", "internal_identifier", "logo", "description"}
    models = client.get("/v1/llm_providers/openai/models").json()
    assert {"id": "gpt-5", "name": "GPT-5", "provider": "openai"} in models
    assert client.get("/v1/misc/llm_providers").json() == providers
    assert detail(client.get("/v1/llm_providers/nobody/models"), 404) == "LLM provider not found"


# ── validation (422, FastAPI's shape) ────────────────────────────────────────────────────────────


def test_sync_and_async_require_user_id_and_email(client: httpx.Client) -> None:
    for form in ("", "/async"):
        response = client.post(f"/v1/agents/echo/invoke{form}", json={"input": {"user": {"first_name": "A"}}})
        assert detail(response, 422) == [
            {"type": "missing", "loc": ["body", "input", "text"], "msg": "Field required"},
            {"type": "missing", "loc": ["body", "input", "user", "id"], "msg": "Field required"},
            {"type": "missing", "loc": ["body", "input", "user", "email"], "msg": "Field required"},
        ]
    no_user = client.post("/v1/agents/echo/invoke", json={"input": {"text": "hi"}})
    assert detail(no_user, 422) == [{"type": "missing", "loc": ["body", "input", "user"], "msg": "Field required"}]
    no_input = client.post("/v1/agents/echo/invoke", json={})
    assert detail(no_input, 422) == [{"type": "missing", "loc": ["body", "input"], "msg": "Field required"}]


def test_every_enum_violation_is_listed(client: httpx.Client) -> None:
    response = invoke(
        client,
        "echo",
        think_mode="deep",
        output_format="pdf",
        llm_reasoning_effort="extreme",
        source_node_type="fax",
    )
    assert detail(response, 422) == [
        {"type": "enum", "loc": ["body", "think_mode"], "msg": "Input should be 'default' or 'harder'"},
        {
            "type": "enum",
            "loc": ["body", "output_format"],
            "msg": "Input should be 'text', 'markdown', 'json' or 'voice'",
        },
        {
            "type": "enum",
            "loc": ["body", "llm_reasoning_effort"],
            "msg": "Input should be 'low', 'medium', 'high' or 'xhigh'",
        },
        {
            "type": "enum",
            "loc": ["body", "source_node_type"],
            "msg": "Input should be 'workbench', 'sdk', 'task', 'assistant', 'webhook', 'mcp', 'a2a', "
            "'telegram' or 'slack'",
        },
    ]


def test_mistyped_fields_are_listed(client: httpx.Client) -> None:
    response = client.post(
        "/v1/agents/echo/invoke",
        json={
            "input": {"text": 42, "files": "a.pdf", "user": {"id": 7, "email": "e"}},
            "disable_attachment_injection": "maybe",
            "output_schema": [],
        },
    )
    assert detail(response, 422) == [
        {"type": "string_type", "loc": ["body", "input", "text"], "msg": "Input should be a valid string"},
        {"type": "list_type", "loc": ["body", "input", "files"], "msg": "Input should be a valid list"},
        {"type": "string_type", "loc": ["body", "input", "user", "id"], "msg": "Input should be a valid string"},
        {
            "type": "bool_parsing",
            "loc": ["body", "disable_attachment_injection"],
            "msg": "Input should be a valid boolean, unable to interpret input",
        },
        {"type": "dict_type", "loc": ["body", "output_schema"], "msg": "Input should be a valid dictionary"},
    ]


def test_malformed_json_is_422_json_invalid(client: httpx.Client) -> None:
    response = client.post(
        "/v1/agents/echo/invoke", content=b'{"input": ', headers={"content-type": "application/json"}
    )
    assert detail(response, 422) == [{"type": "json_invalid", "loc": ["body", 10], "msg": "JSON decode error"}]


def test_a_non_object_body_is_422(client: httpx.Client) -> None:
    response = client.post("/v1/agents/echo/invoke", json=["hello"])
    assert detail(response, 422) == [
        {
            "type": "model_attributes_type",
            "loc": ["body"],
            "msg": "Input should be a valid dictionary or object to extract fields from",
        }
    ]


def test_an_empty_body_is_422_missing(client: httpx.Client) -> None:
    response = client.post("/v1/agents/echo/invoke", headers={"content-type": "application/json"})
    assert detail(response, 422) == [{"type": "missing", "loc": ["body"], "msg": "Field required"}]


def test_a_bad_fault_header_names_the_header(client: httpx.Client) -> None:
    response = client.post(
        "/v1/agents/echo/invoke", json={"input": {"text": "x", "user": USER}}, headers={"X-Mockagent-Fault": "418"}
    )
    [error] = detail(response, 422)
    assert error["loc"] == ["header", "X-Mockagent-Fault"]


# ── other error classes ──────────────────────────────────────────────────────────────────────────


def test_wrong_content_type_is_415(client: httpx.Client) -> None:
    response = client.post("/v1/agents/echo/invoke", content=b"hello", headers={"content-type": "text/plain"})
    assert detail(response, 415) == "Content-Type must be application/json, got text/plain"


def test_an_oversized_body_is_413(client: httpx.Client) -> None:
    huge = json.dumps({"input": {"text": "x" * (10 * 1024 * 1024), "user": USER}})
    response = client.post("/v1/agents/echo/invoke", content=huge, headers={"content-type": "application/json"})
    assert detail(response, 413) == "request body exceeds 10485760 bytes"


def test_a_missing_api_key_is_401(mockagent_server: ThreadedMockServer) -> None:
    base = mockagent_server.base_url("xpander")
    response = httpx.post(f"{base}/v1/agents/echo/invoke", json={"input": {"text": "x", "user": USER}})
    assert detail(response, 401) == "Not authenticated"
    assert detail(httpx.get(f"{base}/v1/llm_providers", headers={"x-api-key": ""}), 401) == "Not authenticated"


@pytest.mark.mockagent(scenarios=[AUTH])
def test_declared_keys_are_enforced(mockagent_server: ThreadedMockServer) -> None:
    base = mockagent_server.base_url("xpander")
    body = {"input": {"text": "x", "user": USER}}

    def call(key: str, agent: str) -> httpx.Response:
        return httpx.post(f"{base}/v1/agents/{agent}/invoke", json=body, headers={"x-api-key": key})

    assert detail(call("wrong", "echo"), 401) == "Invalid API key"
    assert call("good-key", "other").json()["result"] == "Other."
    assert call("echo-only", "echo").json()["result"] == "Echo: x"
    assert detail(call("echo-only", "other"), 403) == "This API key may not use this agent"


@pytest.mark.mockagent(allow_unmatched=True)
def test_unknown_agent_task_and_route_are_404(client: httpx.Client) -> None:
    assert detail(invoke(client, "nobody"), 404) == "Agent not found"
    assert detail(client.get(f"/v1/tasks/{uuid.uuid4()}"), 404) == "Task not found"
    assert detail(client.get(f"/v1/tasks/{uuid.uuid4()}/thread"), 404) == "Task not found"
    assert detail(client.get("/v1/nothing"), 404) == "Not Found"


@pytest.mark.mockagent(allow_unmatched=True)
def test_wrong_method_is_405(client: httpx.Client) -> None:
    assert detail(client.get("/v1/agents/echo/invoke"), 405) == "Method Not Allowed"


def test_the_flaky_agent_is_rate_limited_once(client: httpx.Client) -> None:
    limited = invoke(client, "flaky")
    assert detail(limited, 429) == "Rate limit exceeded"
    assert limited.headers["Retry-After"] == "1"
    assert invoke(client, "flaky").json()["result"] == "Echo: hello"


@pytest.mark.parametrize(
    ("fault", "status", "message"),
    [
        ("429, retry-after=7", 429, "Rate limit exceeded"),
        ("500", 500, "Internal Server Error"),
        ("502", 502, "Bad Gateway"),
        ("503", 503, "Service Unavailable"),
        ("504", 504, "Gateway Timeout"),
    ],
)
def test_injected_faults_use_the_detail_envelope(client: httpx.Client, fault: str, status: int, message: str) -> None:
    response = client.post(
        "/v1/agents/echo/invoke", json={"input": {"text": "x", "user": USER}}, headers={"X-Mockagent-Fault": fault}
    )
    assert detail(response, status) == message
    if status == 429:
        assert response.headers["Retry-After"] == "7"
