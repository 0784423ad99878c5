"""The official beeos-sdk 0.8.0, unchanged but for its host, against the mock."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import pytest
import urllib3
from beeos_sdk import AgentsApi, ApiClient, Configuration, FilesApi, TasksApi
from beeos_sdk.exceptions import ConflictException, NotFoundException, UnauthorizedException
from beeos_sdk.models import (
    AttachmentRef,
    CancelTaskRequest,
    ContinueTaskRequest,
    CreateTaskRequest,
    InvokeAgentRequest,
    PresignUploadRequest,
)
from beeos_sdk.models.invoke_agent_sse_delta import InvokeAgentSSEDelta
from beeos_sdk.models.invoke_agent_sse_done import InvokeAgentSSEDone
from beeos_sdk.models.invoke_agent_sse_reasoning import InvokeAgentSSEReasoning
from beeos_sdk.models.task_sse_end import TaskSSEEnd
from beeos_sdk.models.task_sse_message import TaskSSEMessage
from sse import check_vocabulary, json_frames, parse

from mockagent.runs import RunStatus
from mockagent.server import ThreadedMockServer

KEY = "oag_" + "0123456789abcdef" * 4
VOCABULARY = {
    "reasoning": {"text"},
    "delta": {"text"},
    "error": {"code", "status_code", "message"},
    "done": {"text", "context_id", "is_error", "error", "code"},
}


@pytest.fixture
def client(mockagent_server: ThreadedMockServer) -> Iterator[ApiClient]:
    config = Configuration(host=mockagent_server.base_url("beeos"), access_token=KEY, retries=False)
    with ApiClient(config) as api_client:
        yield api_client


def test_invoke_echo_and_error(client: ApiClient) -> None:
    agents = AgentsApi(client)
    reply = agents.invoke_agent("echo", InvokeAgentRequest(message="hi", timeout_ms=5000))
    assert (reply.success, reply.data.text, reply.data.is_error) == (True, "Echo: hi", False)
    assert reply.data.context_id.startswith("ch-")
    failed = agents.invoke_agent("error", InvokeAgentRequest(message="go"))
    assert (failed.data.text, failed.data.is_error) == ("The agent failed.", True)


def test_invoke_continues_a_conversation(client: ApiClient) -> None:
    agents = AgentsApi(client)
    asked = agents.invoke_agent("question", InvokeAgentRequest(message="deploy"))
    assert asked.data.text == "Which environment? (staging / production)"
    answered = agents.invoke_agent(
        "question", InvokeAgentRequest(message="production", context_id=asked.data.context_id)
    )
    assert answered.data.text == "Deploying to production."


def test_sdk_errors_carry_the_envelope(client: ApiClient, mockagent_server: ThreadedMockServer) -> None:
    with pytest.raises(NotFoundException) as missing:
        AgentsApi(client).invoke_agent("nobody", InvokeAgentRequest(message="hi"))
    assert missing.value.data is not None
    assert (missing.value.data.error.type, missing.value.data.error.code) == ("not_found_error", "agent_not_found")
    assert missing.value.headers["X-Request-Id"] == missing.value.data.error.request_id
    anonymous = Configuration(host=mockagent_server.base_url("beeos"), retries=False)
    with ApiClient(anonymous) as bare, pytest.raises(UnauthorizedException) as unauthorized:
        AgentsApi(bare).invoke_agent("echo", InvokeAgentRequest(message="hi"))
    assert unauthorized.value.data is not None
    assert unauthorized.value.data.error.code == "missing_token"


def test_files_then_invoke_with_the_attachment(client: ApiClient, mockagent_server: ThreadedMockServer) -> None:
    files = FilesApi(client)
    presigned = files.presign_file_upload(PresignUploadRequest(filename="a.png", content_type="image/png"))
    assert presigned.data is not None
    upload = urllib3.request(
        "PUT", presigned.data.upload_url, body=b"\x89PN", headers={"Content-Type": "image/png"}, retries=False
    )
    assert upload.status == 200
    meta = files.get_file(presigned.data.file_id)
    assert meta.data is not None
    assert (meta.data.file_id, meta.data.filename, meta.data.size) == (presigned.data.file_id, "a.png", 3)
    assert meta.data.download_url is not None
    assert urllib3.request("GET", meta.data.download_url, retries=False).data == b"\x89PN"
    reply = AgentsApi(client).invoke_agent(
        "echo", InvokeAgentRequest(message="look", attachments=[AttachmentRef(file_id=presigned.data.file_id)])
    )
    assert reply.data.text == "Echo: look"
    (run,) = mockagent_server.session().runs_of()
    assert run.record.attachments[0]["file_id"] == presigned.data.file_id


@pytest.mark.parametrize(
    ("agent", "reasoning", "text", "is_error"),
    [
        ("echo", [], "Echo: a b", False),
        ("tools", ["The user wants the weather; I will call get_weather."], "It is 21°C in Paris.", False),
        ("error", [], "Let me try… ", True),
    ],
)
def test_invoke_stream_through_the_sdk(
    client: ApiClient, agent: str, reasoning: list[str], text: str, is_error: bool
) -> None:
    raw = AgentsApi(client).invoke_agent_without_preload_content(
        agent, InvokeAgentRequest(message="a b"), _headers={"Accept": "text/event-stream"}
    )
    assert raw.headers["Content-Type"].startswith("text/event-stream")
    frames = json_frames(raw.read().decode())
    check_vocabulary(frames, VOCABULARY, {"done"})
    assert [InvokeAgentSSEReasoning.from_dict(f).text for f in frames if f["type"] == "reasoning"] == reasoning
    deltas = [InvokeAgentSSEDelta.from_dict(f).text for f in frames if f["type"] == "delta"]
    done = InvokeAgentSSEDone.from_dict(frames[-1])
    assert ("".join(deltas), done.text, done.is_error) == (text, text, is_error)
    assert [f["type"] for f in frames].count("error") == (1 if is_error else 0)


# ── tasks: polling with the manual clock ──────────────────────────────────────────────────────────


@pytest.mark.mockagent(manual_clock=True)
def test_poll_a_slow_task_to_completion(client: ApiClient, mockagent_server: ThreadedMockServer) -> None:
    tasks = TasksApi(client)
    created = tasks.create_task("slow", CreateTaskRequest(message="take your time", metadata={"trace_id": "t"}))
    task_id = created.data.task_id
    seen = [created.data.status.value]
    for _ in range(6):
        mockagent_server.advance(0.75)
        status = tasks.get_task("slow", task_id).data.status.value
        if status != seen[-1]:
            seen.append(status)
    assert seen == ["queued", "running", "completed"]
    done = tasks.get_task("slow", task_id).data
    assert (done.result, done.metadata, done.truncated) == ({"text": "Done after a while."}, {"trace_id": "t"}, False)
    assert done.created_at is not None
    assert done.started_at is not None
    assert done.completed_at is not None
    assert (done.started_at - done.created_at).total_seconds() == 0.5
    assert (done.completed_at - done.started_at).total_seconds() == 3
    listed = tasks.list_agent_tasks("slow", state="all")
    assert [(t.task_id, t.state, t.close_reason) for t in listed.data.tasks] == [(task_id, "closed", "completed")]


@pytest.mark.mockagent(manual_clock=True)
def test_question_task_input_required_continue_completed(
    client: ApiClient, mockagent_server: ThreadedMockServer
) -> None:
    tasks = TasksApi(client)
    task_id = tasks.create_task("question", CreateTaskRequest(message="deploy")).data.task_id
    mockagent_server.advance(1)
    paused = tasks.get_task("question", task_id).data
    assert paused.status.value == "input_required"
    assert paused.result == {"text": "", "question": "Which environment?", "options": ["staging", "production"]}
    resumed = tasks.continue_task("question", task_id, ContinueTaskRequest(input={"text": "staging"}))
    assert resumed.data.status.value == "running"
    mockagent_server.advance(1)
    done = tasks.get_task("question", task_id).data
    assert (done.status.value, done.result) == ("completed", {"text": "Deploying to staging."})
    with pytest.raises(ConflictException) as closed:
        tasks.continue_task("question", task_id, ContinueTaskRequest(input="again"))
    assert closed.value.data is not None
    assert closed.value.data.error.code == "conflict"

    messages = tasks.list_task_messages("question", task_id, include_deltas=False).data
    assert [m.type for m in messages.messages] == ["chat_message", "input_required", "chat_message", "agent_reply"]
    assert messages.messages[-1].body == "Deploying to staging."
    assert (messages.latest_offset, messages.has_more) == (7, False)

    text = tasks.stream_task_events("question", task_id)
    frames = parse(text)
    assert [f.event for f in frames] == ["message"] * 7 + ["end"]
    for frame in frames[:-1]:
        assert TaskSSEMessage.from_dict(frame.json()).offset == int(frame.id or "0")
    assert TaskSSEEnd.from_dict(frames[-1].json()).reason == "task_terminal"
    resumed_text = tasks.stream_task_events("question", task_id, since=5)
    assert [f.json().get("offset") for f in parse(resumed_text)] == [6, 7, None]


@pytest.mark.mockagent(manual_clock=True)
def test_approval_and_cancel_through_the_sdk(client: ApiClient, mockagent_server: ThreadedMockServer) -> None:
    tasks = TasksApi(client)
    approved = tasks.create_task("approval", CreateTaskRequest(message="mail")).data.task_id
    canceled = tasks.create_task("approval", CreateTaskRequest(message="mail")).data.task_id
    mockagent_server.advance(1)
    assert tasks.get_task("approval", approved).data.status.value == "auth_required"
    tasks.continue_task("approval", approved, ContinueTaskRequest(auth_grant=True))
    mockagent_server.advance(1)
    assert tasks.get_task("approval", approved).data.result == {"text": "Email sent."}
    result = tasks.cancel_task("approval", canceled)  # no body at all
    assert (result.data.status.value, result.data.error) == ("canceled", "canceled by the caller")
    again = tasks.cancel_task("approval", canceled, CancelTaskRequest(reason="user"))
    assert again.data.status.value == "canceled"
    run = mockagent_server.session().run(canceled)
    assert run is not None
    assert run.status() is RunStatus.CANCELLED


def test_task_not_found(client: ApiClient) -> None:
    with pytest.raises(NotFoundException) as missing:
        TasksApi(client).get_task("echo", "ch-nope")
    data: Any = missing.value.data
    assert data.error.code == "task_not_found"
