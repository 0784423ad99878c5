"""The official AgentOS SDK (pyagentos-sdk, import name ``agentos``) against the mock, unchanged but for base_url."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import httpx
import pytest
from agentos import AgentOS
from agentos.errors import AgentOSAuthError, AgentOSError, AgentOSTransientError, AgentOSValidationError
from sse import check_vocabulary

from mockagent.server import ThreadedMockServer

AUTH = "tests/platforms/scenarios/agentos_auth.yaml"


@pytest.fixture
def aos(mockagent_server: ThreadedMockServer) -> Iterator[AgentOS]:
    client = AgentOS(api_key="aos_ws_x", base_url=mockagent_server.base_url("agentos"), max_retries=0)
    yield client
    client.shutdown()


def run_status(server: ThreadedMockServer, run_id: str) -> dict[str, Any]:
    """GET /api/v1/runs/{id}, as the run stands at the manual clock's time."""
    response = httpx.get(
        f"{server.base_url('agentos')}/api/v1/runs/{run_id}", headers={"Authorization": "Bearer aos_ws_x"}
    )
    data: dict[str, Any] = response.json()["data"]
    return data


def test_invoke_echo(aos: AgentOS) -> None:
    result = aos.invoke({"query": "hello"}, agent_id="echo")
    assert result.status == "completed"
    assert result.output == {"text": "Echo: hello"}
    assert result.session_id is None
    assert isinstance(result.duration_ms, int)


def test_session_round_trip(aos: AgentOS) -> None:
    first = aos.invoke({"query": "a"}, agent_id="echo", start_session=True, external_user_id="u-1")
    assert first.session_id is not None
    second = aos.invoke({"query": "b"}, agent_id="echo", session_id=first.session_id)
    assert (second.session_id, second.output) == (first.session_id, {"text": "Echo: b"})


def test_question_then_reply(aos: AgentOS) -> None:
    paused = aos.invoke({"query": "deploy"}, agent_id="question")
    assert paused.status == "awaiting_input"
    assert paused.output is None
    assert paused.input_request is not None
    assert paused.input_request.question == "Which environment?"
    assert paused.input_request.options == ["staging", "production"]
    done = aos.reply(paused.run_id, "staging", request_id=paused.input_request.request_id)
    assert (done.run_id, done.status, done.output) == (paused.run_id, "completed", {"text": "Deploying to staging."})


def test_reply_without_request_id_uses_human_input(aos: AgentOS) -> None:
    paused = aos.invoke({}, agent_id="question")
    assert aos.reply(paused.run_id, "production").output == {"text": "Deploying to production."}


def test_invoke_stream_echo(aos: AgentOS) -> None:
    events = list(aos.invoke_stream({"query": "hi you"}, agent_id="echo"))
    check_vocabulary(
        [dict(e) for e in events],
        {"start": {"run_id"}, "chunk": {"text"}, "done": {"run_id", "duration_ms"}},
        {"done"},
    )
    assert [e["type"] for e in events] == ["start", "chunk", "chunk", "chunk", "done"]
    assert "".join(e["text"] for e in events if e["type"] == "chunk") == "Echo: hi you"
    assert events[0]["run_id"] == events[-1]["run_id"]


def test_invoke_stream_error_raises(aos: AgentOS) -> None:
    seen: list[str] = []
    with pytest.raises(AgentOSError, match=r"The agent failed\.") as caught:
        seen.extend(event["type"] for event in aos.invoke_stream({}, agent_id="error"))
    assert caught.value.code == "AGENT_ERROR"
    assert seen == ["start", "chunk", "chunk", "chunk"]  # "Let ", "me ", "try… "


def test_blocking_agent_failure(aos: AgentOS) -> None:
    with pytest.raises(AgentOSTransientError, match=r"The agent failed\.") as caught:
        aos.invoke({}, agent_id="error")
    assert (caught.value.code, caught.value.status) == ("AGENT_ERROR", 500)


def test_validation_error(aos: AgentOS) -> None:
    with pytest.raises(AgentOSValidationError, match="external_user_id"):
        aos.invoke({}, agent_id="echo", external_user_id="u-1")


@pytest.mark.mockagent(scenarios=[AUTH], with_builtin=True)
def test_undeclared_key_is_an_auth_error(mockagent_server: ThreadedMockServer) -> None:
    base_url = mockagent_server.base_url("agentos")
    with (
        AgentOS(api_key="aos_ws_nobody", base_url=base_url, max_retries=0) as client,
        pytest.raises(AgentOSAuthError),
    ):
        client.invoke({}, agent_id="echo")


@pytest.mark.mockagent(manual_clock=True)
def test_approvals_through_the_sdk(aos: AgentOS, mockagent_server: ThreadedMockServer) -> None:
    paused = mockagent_server.advance_during(lambda: aos.invoke({"query": "mail"}, agent_id="approval"), 1)
    assert paused.status == "awaiting_approval"
    assert paused.approval_id is not None
    [pending] = aos.approvals.list(agent_id="approval")
    assert (pending["approval_id"], pending["tool_name"]) == (paused.approval_id, "send_email")
    decided = aos.approvals.decide(approval_id=paused.approval_id, decision="approved", decision_note="ok")
    assert decided["status"] == "approved"
    mockagent_server.advance(1)  # the rest of the script plays out
    assert run_status(mockagent_server, paused.run_id)["output"] == {"text": "Email sent."}
    with pytest.raises(AgentOSValidationError, match="already approved"):
        aos.approvals.decide(approval_id=paused.approval_id, decision="rejected")


@pytest.mark.mockagent(manual_clock=True)
def test_rejection_through_the_sdk(aos: AgentOS, mockagent_server: ThreadedMockServer) -> None:
    paused = mockagent_server.advance_during(lambda: aos.invoke({}, agent_id="approval"), 1)
    assert paused.approval_id is not None
    aos.approvals.decide(approval_id=paused.approval_id, decision="rejected")
    mockagent_server.advance(1)  # the rest of the script plays out
    failed = run_status(mockagent_server, paused.run_id)
    assert failed["status"] == "failed"
    assert failed["error"] == {"code": "AGENT_ERROR", "message": "Email not sent."}
    assert aos.runs.get(run_id=paused.run_id)["status"] == "failed"


def test_reported_run_shows_in_the_admin_api(aos: AgentOS, mockagent_server: ThreadedMockServer) -> None:
    run = aos.start_run(agent_id="billing", input={"invoice": "INV-1"}, trigger_type="manual")
    run.emit("step.completed", {"rows": 42})
    run.emit_tool_call("validate", {"amount": 12})
    task = run.start_task("parse-pdf", {"file": "a.pdf"})
    task.complete({"pages": 3})
    run.complete({"result": "Done"}, usage={"input_tokens": 5})
    assert run.is_ended
    seen = httpx.get(f"{mockagent_server.url}/__mockagent/agentos/ingest/runs/{run.run_id}").json()
    assert (seen["status"], seen["output"], seen["usage"]) == ("completed", {"result": "Done"}, {"input_tokens": 5})
    assert (seen["agent_id"], seen["trigger_type"], seen["input"]) == ("billing", "manual", {"invoice": "INV-1"})
    assert [(e["type"], e["level"], e["payload"]) for e in seen["events"]] == [
        ("step.completed", "info", {"rows": 42}),
        ("tool.called", "info", {"tool": "validate", "input": {"amount": 12}}),
    ]
    [reported] = seen["tasks"]
    assert (reported["name"], reported["status"], reported["output"]) == ("parse-pdf", "completed", {"pages": 3})


def test_failed_run_through_the_context_manager(aos: AgentOS, mockagent_server: ThreadedMockServer) -> None:
    with pytest.raises(RuntimeError), aos.start_run(agent_id="billing", external_run_id="job-7") as run:
        raise RuntimeError("disk full")
    again = aos.start_run(agent_id="billing", external_run_id="job-7")
    assert again.run_id == run.run_id
    seen = httpx.get(f"{mockagent_server.url}/__mockagent/agentos/ingest/runs/{run.run_id}").json()
    assert seen["status"] == "failed"
    assert seen["error"]["message"] == "disk full"
    assert seen["error"]["detail"]["type"] == "RuntimeError"
