"""Aster Agents over HTTP: POST /api/chat (UI-message stream and 202 + poll), GET /api/getConversation,
and every error class in Aster's `{"error", "details"?}` envelope."""

from __future__ import annotations

import asyncio
import base64
import json
import uuid
from datetime import datetime
from typing import Any

import aiohttp
import httpx
import pytest
from sse import check_vocabulary, parse

from mockagent.clock import ManualClock
from mockagent.engine import Engine
from mockagent.errors import ApiError, ErrorKind, FieldError
from mockagent.model import PlatformKey
from mockagent.platforms.aster import Aster
from mockagent.runs import RunStatus
from mockagent.scenarios.model import ScenarioSet
from mockagent.server import MockServer, ThreadedMockServer
from mockagent.sessions import MemorySessions, Session

SCENARIOS = "tests/platforms/scenarios/aster_agents.yaml"
AUTH_SCENARIOS = "tests/platforms/scenarios/aster_auth.yaml"
SAFETY = 10.0  # real seconds: a bound on what should happen at once, never a measurement
ECHO, TOOLS, APPROVAL, QUESTION, SLOW, FLAKY, TIMEOUT, ERROR, BROKEN_TOOL = 1, 2, 3, 4, 5, 6, 7, 8, 102

# The chunk types of the AI SDK v5 UI-message stream and their only keys (spec §5).
ALLOWED = {
    "start": {"messageId", "messageMetadata"},
    "start-step": set(),
    "text-start": {"id"},
    "text-delta": {"id", "delta"},
    "text-end": {"id"},
    "reasoning-start": {"id"},
    "reasoning-delta": {"id", "delta"},
    "reasoning-end": {"id"},
    "tool-input-start": {"toolCallId", "toolName"},
    "tool-input-delta": {"toolCallId", "inputTextDelta"},
    "tool-input-available": {"toolCallId", "toolName", "input"},
    "tool-output-available": {"toolCallId", "output"},
    "tool-output-error": {"toolCallId", "errorText"},
    "error": {"errorText"},
    "finish-step": set(),
    "finish": set(),
    "abort": set(),
}


def jwt(**claims: Any) -> str:
    def part(value: dict[str, Any]) -> str:
        return base64.urlsafe_b64encode(json.dumps(value).encode()).rstrip(b"=").decode()

    return f"{part({'alg': 'RS256', 'typ': 'JWT'})}.{part(claims)}.c2ln"


TOKEN = jwt(sub="user_2abc", org_id="org_2xyz", org_role="org:admin")
AUTH = {"Authorization": f"Bearer {TOKEN}"}


def user(text: str) -> dict[str, Any]:
    return {"role": "user", "parts": [{"type": "text", "text": text}]}


def post_chat(
    server: ThreadedMockServer,
    agent_id: int,
    text: str | None = "hi",
    *,
    thread: str | None = None,
    background: bool = False,
    headers: dict[str, str] | None = None,
    **extra: Any,
) -> httpx.Response:
    body: dict[str, Any] = {"agentId": agent_id, **extra}
    if text is not None:
        body["message"] = user(text)
    if thread is not None:
        body["threadId"] = thread
    sent = {**AUTH, **({"X-Stream-Response": "false"} if background else {}), **(headers or {})}
    return httpx.post(f"{server.base_url('aster')}/chat", json=body, headers=sent, timeout=10)


def get_conversation(server: ThreadedMockServer, thread: str) -> dict[str, Any]:
    response = httpx.get(f"{server.base_url('aster')}/getConversation", params={"threadId": thread}, headers=AUTH)
    assert response.status_code == 200, response.text
    body: dict[str, Any] = response.json()
    return body


def chunks_of(body: str) -> list[dict[str, Any]]:
    """The stream's JSON chunks, checked: documented types and keys only, blocks opened before use,
    `data: [DONE]` last."""
    frames = parse(body)
    assert frames[-1].data == "[DONE]", frames[-1]
    chunks = [frame.json() for frame in frames[:-1]]
    check_vocabulary(chunks, ALLOWED, {"finish", "abort"})
    assert chunks[0]["type"] == "start"
    assert chunks[1] == {"type": "start-step"}
    opened: set[str] = set()
    for chunk in chunks:
        kind, _, phase = chunk["type"].rpartition("-")
        if phase == "start" and kind in ("text", "reasoning"):
            opened.add(chunk["id"])
        elif phase in ("delta", "end") and kind in ("text", "reasoning"):
            assert chunk["id"] in opened, f"{chunk} before its start"
            if phase == "end":
                opened.remove(chunk["id"])
    assert not opened, f"blocks never ended: {opened}"
    return chunks


def text_of(chunks: list[dict[str, Any]]) -> str:
    return "".join(c["delta"] for c in chunks if c["type"] == "text-delta")


def types_of(chunks: list[dict[str, Any]]) -> list[str]:
    return [c["type"] for c in chunks]


def message(role: str, text: str) -> dict[str, Any]:
    """A transcript entry, with the id left out (compare with `without_ids`)."""
    return {"role": role, "parts": [{"type": "text", "text": text}]}


def without_ids(messages: list[dict[str, Any]]) -> list[dict[str, Any]]:
    return [{k: v for k, v in m.items() if k != "id"} for m in messages]


# ── streams ──────────────────────────────────────────────────────────────────────────────────────


def test_echo_streams_ui_message_chunks(mockagent_server: ThreadedMockServer) -> None:
    response = post_chat(mockagent_server, ECHO, "hi")
    assert response.status_code == 200
    headers = response.headers
    assert headers["content-type"] == "text/event-stream"
    assert headers["cache-control"] == "no-cache"
    assert headers["connection"] == "keep-alive"
    assert headers["x-vercel-ai-ui-message-stream"] == "v1"
    assert headers["x-accel-buffering"] == "no"
    thread = str(uuid.UUID(headers["x-thread-id"]))
    chunks = chunks_of(response.text)
    assert types_of(chunks) == [
        "start",
        "start-step",
        "text-start",
        "text-delta",
        "text-delta",
        "text-end",
        "finish-step",
        "finish",
    ]
    assert text_of(chunks) == "Echo: hi"
    # The stream's message is the assistant message the conversation keeps.
    assert get_conversation(mockagent_server, thread)["messages"][1]["id"] == chunks[0]["messageId"]


def test_tools_stream_shows_the_tool_step_then_the_text(mockagent_server: ThreadedMockServer) -> None:
    chunks = chunks_of(post_chat(mockagent_server, TOOLS).text)
    assert types_of(chunks) == [
        "start",
        "start-step",
        "reasoning-start",
        "reasoning-delta",
        "reasoning-end",
        "tool-input-start",
        "tool-input-available",
        "tool-output-available",
        "finish-step",
        "start-step",
        "text-start",
        *["text-delta"] * 5,
        "text-end",
        "finish-step",
        "finish",
    ]
    call_id = chunks[5]["toolCallId"]
    assert chunks[5] == {"type": "tool-input-start", "toolCallId": call_id, "toolName": "get_weather"}
    assert chunks[6] == {
        "type": "tool-input-available",
        "toolCallId": call_id,
        "toolName": "get_weather",
        "input": {"city": "Paris"},
    }
    assert chunks[7] == {"type": "tool-output-available", "toolCallId": call_id, "output": {"temp_c": 21}}
    assert chunks[3]["delta"] == "The user wants the weather; I will call get_weather."
    assert text_of(chunks) == "It is 21°C in Paris."


@pytest.mark.mockagent(scenarios=[SCENARIOS], with_builtin=True)
def test_failing_tool_streams_tool_output_error(mockagent_server: ThreadedMockServer) -> None:
    chunks = chunks_of(post_chat(mockagent_server, BROKEN_TOOL).text)
    failed = [c for c in chunks if c["type"] == "tool-output-error"]
    call_id = chunks[2]["toolCallId"]
    assert failed == [{"type": "tool-output-error", "toolCallId": call_id, "errorText": "lookup is down"}]
    assert text_of(chunks) == "Sorry."


def test_error_agent_streams_error_then_finish(mockagent_server: ThreadedMockServer) -> None:
    response = post_chat(mockagent_server, ERROR)
    chunks = chunks_of(response.text)
    assert types_of(chunks)[-5:] == ["text-delta", "text-end", "finish-step", "error", "finish"]
    assert chunks[-2] == {"type": "error", "errorText": "The agent failed."}
    assert text_of(chunks) == "Let me try… "
    conversation = get_conversation(mockagent_server, response.headers["x-thread-id"])
    assert conversation["streamStatus"] == "error"
    assert without_ids(conversation["messages"]) == [message("user", "hi"), message("assistant", "Let me try… ")]


async def test_client_disconnect_cancels_the_run(mockagent_aserver: MockServer) -> None:
    base = mockagent_aserver.base_url("aster")
    async with aiohttp.ClientSession(headers=AUTH) as session:
        response = await session.post(f"{base}/chat", json={"agentId": SLOW, "message": user("hi")})
        thread = response.headers["X-Thread-ID"]
        assert (await response.content.readline()).startswith(b'data: {"type":"start"')
        (run,) = mockagent_aserver.session().runs_of(PlatformKey.ASTER)
        response.close()
        # The server notices the hang-up on its own loop: the run changes then, and `settled` returns
        # (without the hang-up it would only settle by completing, 3 s of clock time later).
        await asyncio.wait_for(run.settled(), SAFETY)
        assert run.status() is RunStatus.CANCELLED
        async with session.get(f"{base}/getConversation", params={"threadId": thread}) as poll:
            assert (await poll.json())["streamStatus"] == "stopped"


@pytest.mark.mockagent(manual_clock=True)
async def test_stream_past_the_gateway_limit_ends_with_gateway_timeout(mockagent_aserver: MockServer) -> None:
    base = mockagent_aserver.base_url("aster")
    async with aiohttp.ClientSession(headers=AUTH) as session:
        async with session.post(f"{base}/chat", json={"agentId": TIMEOUT, "message": user("hi")}) as response:
            assert response.status == 200
            await mockagent_aserver.advance(Aster.gateway_timeout - 1)
            run = mockagent_aserver.session().runs_of(PlatformKey.ASTER)[0]
            assert run.status() is RunStatus.RUNNING
            await mockagent_aserver.advance(1)
            chunks = chunks_of(await response.text())
        assert types_of(chunks) == ["start", "start-step", "finish-step", "error", "finish"]
        assert chunks[3] == {"type": "error", "errorText": "Gateway Timeout"}
        assert run.moment(RunStatus.TIMED_OUT) == Aster.gateway_timeout
        params = {"threadId": response.headers["X-Thread-ID"]}
        async with session.get(f"{base}/getConversation", params=params) as poll:
            assert (await poll.json())["streamStatus"] == "timeout"


# ── 202 + poll ───────────────────────────────────────────────────────────────────────────────────


@pytest.mark.mockagent(manual_clock=True)
def test_background_echo_then_poll(mockagent_server: ThreadedMockServer) -> None:
    response = post_chat(mockagent_server, ECHO, "hi", background=True)
    assert response.status_code == 202
    thread = response.headers["x-thread-id"]
    assert response.json() == {"threadId": thread, "status": "in_progress"}
    before = get_conversation(mockagent_server, thread)
    assert before["streamStatus"] == "in_progress"
    assert without_ids(before["messages"]) == [message("user", "hi")]
    mockagent_server.advance(1)
    after = get_conversation(mockagent_server, thread)
    assert after["streamStatus"] == "completed"
    assert without_ids(after["messages"]) == [message("user", "hi"), message("assistant", "Echo: hi")]


@pytest.mark.mockagent(manual_clock=True)
def test_background_slow_poll_loop_sees_in_progress_then_completed(mockagent_server: ThreadedMockServer) -> None:
    thread = post_chat(mockagent_server, SLOW, "go", background=True).json()["threadId"]
    seen = []
    for _ in range(4):
        seen.append(get_conversation(mockagent_server, thread)["streamStatus"])
        mockagent_server.advance(1)
    assert seen == ["in_progress", "in_progress", "in_progress", "completed"]
    done = get_conversation(mockagent_server, thread)
    assert without_ids(done["messages"]) == [message("user", "go"), message("assistant", "Done after a while.")]
    created = datetime.fromisoformat(done["createdAt"].replace("Z", "+00:00"))
    updated = datetime.fromisoformat(done["updatedAt"].replace("Z", "+00:00"))
    assert (updated - created).total_seconds() == 3.0  # the moment the run completed, not the poll's
    assert mockagent_server.session().runs_of(PlatformKey.ASTER)[0].polls == 5


@pytest.mark.mockagent(manual_clock=True)
def test_background_run_past_its_limit_reads_timeout(mockagent_server: ThreadedMockServer) -> None:
    thread = post_chat(mockagent_server, TIMEOUT, background=True).json()["threadId"]
    mockagent_server.advance(Aster.background_timeout - 1)
    assert get_conversation(mockagent_server, thread)["streamStatus"] == "in_progress"
    mockagent_server.advance(1)
    assert get_conversation(mockagent_server, thread)["streamStatus"] == "timeout"


def test_get_conversation_shape(mockagent_server: ThreadedMockServer) -> None:
    response = post_chat(mockagent_server, ECHO, "hello there", timezone="Europe/Paris")
    thread = response.headers["x-thread-id"]
    body = get_conversation(mockagent_server, thread)
    assert set(body) == {
        "id",
        "agentId",
        "userId",
        "organizationId",
        "name",
        "upstreamConversationId",
        "renderedSystemPrompt",
        "streamStatus",
        "createdAt",
        "updatedAt",
        "deletedAt",
        "messages",
    }
    assert body["id"] == thread
    assert body["agentId"] == ECHO
    assert (body["userId"], body["organizationId"]) == ("user_2abc", "org_2xyz")
    assert body["name"] == "hello there"
    assert body["upstreamConversationId"] is None
    assert body["deletedAt"] is None
    assert body["renderedSystemPrompt"].endswith("Current timezone: Europe/Paris")
    assert body["streamStatus"] == "completed"
    assert body["createdAt"].endswith("Z")
    assert without_ids(body["messages"]) == [message("user", "hello there"), message("assistant", "Echo: hello there")]
    assert all(isinstance(m["id"], str) and m["id"] for m in body["messages"])


def test_unsigned_looking_token_gives_the_mock_identity(mockagent_server: ThreadedMockServer) -> None:
    thread = post_chat(mockagent_server, ECHO, headers={"Authorization": "Bearer aaa.bbb.ccc"}).headers["x-thread-id"]
    body = get_conversation(mockagent_server, thread)
    assert (body["userId"], body["organizationId"]) == ("user_mock", "org_mock")


def test_conversation_continues_on_its_thread(mockagent_server: ThreadedMockServer) -> None:
    first = post_chat(mockagent_server, ECHO, "one")
    thread = first.headers["x-thread-id"]
    second = post_chat(mockagent_server, ECHO, "two", thread=thread)
    assert second.headers["x-thread-id"] == thread
    assert text_of(chunks_of(second.text)) == "Echo: two"
    assert without_ids(get_conversation(mockagent_server, thread)["messages"]) == [
        message("user", "one"),
        message("assistant", "Echo: one"),
        message("user", "two"),
        message("assistant", "Echo: two"),
    ]


def test_user_message_keeps_its_id_and_text_parts_join(mockagent_server: ThreadedMockServer) -> None:
    sent = {
        "id": "msg-client-1",
        "role": "user",
        "parts": [
            {"type": "text", "text": "a"},
            {"type": "file", "url": "https://x/y.png", "mediaType": "image/png"},
            {"type": "text", "text": "b"},
        ],
    }
    response = httpx.post(
        f"{mockagent_server.base_url('aster')}/chat", json={"agentId": ECHO, "message": sent}, headers=AUTH
    )
    assert text_of(chunks_of(response.text)) == "Echo: ab"
    messages = get_conversation(mockagent_server, response.headers["x-thread-id"])["messages"]
    assert messages[0] == sent


def test_continuation_without_a_message_adds_no_user_turn(mockagent_server: ThreadedMockServer) -> None:
    thread = post_chat(mockagent_server, ECHO, "one").headers["x-thread-id"]
    again = post_chat(mockagent_server, ECHO, None, thread=thread)
    assert again.status_code == 200
    assert text_of(chunks_of(again.text)) == "Echo: "
    roles = [m["role"] for m in get_conversation(mockagent_server, thread)["messages"]]
    assert roles == ["user", "assistant", "assistant"]


# ── chat-style pauses ────────────────────────────────────────────────────────────────────────────


def test_question_is_asked_in_text_and_answered_by_the_next_message(mockagent_server: ThreadedMockServer) -> None:
    asked = post_chat(mockagent_server, QUESTION, "deploy")
    thread = asked.headers["x-thread-id"]
    assert text_of(chunks_of(asked.text)) == "Which environment? (staging / production)"
    assert get_conversation(mockagent_server, thread)["streamStatus"] == "completed"
    answered = post_chat(mockagent_server, QUESTION, "staging", thread=thread)
    assert text_of(chunks_of(answered.text)) == "Deploying to staging."
    assert without_ids(get_conversation(mockagent_server, thread)["messages"])[2:] == [
        message("user", "staging"),
        message("assistant", "Deploying to staging."),
    ]


def test_approval_yes_runs_the_tool(mockagent_server: ThreadedMockServer) -> None:
    asked = post_chat(mockagent_server, APPROVAL, "mail ops")
    thread = asked.headers["x-thread-id"]
    chunks = chunks_of(asked.text)
    assert text_of(chunks) == 'May I call send_email with {"to": "ops@example.com"}? (yes/no)'
    assert not [c for c in chunks if c["type"].startswith("tool-")]  # asked in text, not as a tool part
    approved = chunks_of(post_chat(mockagent_server, APPROVAL, "yes", thread=thread).text)
    tool = [c for c in approved if c["type"].startswith("tool-")]
    assert [c["type"] for c in tool] == ["tool-input-start", "tool-input-available", "tool-output-available"]
    assert tool[1]["toolName"] == "send_email"
    assert tool[1]["input"] == {"to": "ops@example.com"}
    assert tool[2] == {"type": "tool-output-available", "toolCallId": tool[0]["toolCallId"], "output": {"sent": True}}
    assert text_of(approved) == "Email sent."
    assert get_conversation(mockagent_server, thread)["streamStatus"] == "completed"


def test_approval_no_fails_the_turn(mockagent_server: ThreadedMockServer) -> None:
    thread = post_chat(mockagent_server, APPROVAL, "mail ops").headers["x-thread-id"]
    rejected = chunks_of(post_chat(mockagent_server, APPROVAL, "no", thread=thread).text)
    assert types_of(rejected) == ["start", "start-step", "finish-step", "error", "finish"]
    assert rejected[3] == {"type": "error", "errorText": "Email not sent."}
    assert get_conversation(mockagent_server, thread)["streamStatus"] == "error"


# ── errors ───────────────────────────────────────────────────────────────────────────────────────


def error_of(response: httpx.Response, status: int) -> dict[str, Any]:
    assert response.status_code == status, response.text
    assert response.headers["content-type"].startswith("application/json")
    body: dict[str, Any] = response.json()
    return body


def raw_post(server: ThreadedMockServer, content: bytes, content_type: str = "application/json") -> httpx.Response:
    headers = {**AUTH, "Content-Type": content_type}
    return httpx.post(f"{server.base_url('aster')}/chat", content=content, headers=headers)


@pytest.mark.parametrize(
    "headers",
    [{}, {"Authorization": "Bearer not-a-jwt"}, {"Authorization": f"Basic {TOKEN}"}],
    ids=["missing", "not-a-jwt", "not-bearer"],
)
def test_401_unauthorized(mockagent_server: ThreadedMockServer, headers: dict[str, str]) -> None:
    base = mockagent_server.base_url("aster")
    response = httpx.post(f"{base}/chat", json={"agentId": ECHO, "message": user("hi")}, headers=headers)
    assert error_of(response, 401) == {"error": "Unauthorized"}
    poll = httpx.get(f"{base}/getConversation", params={"threadId": str(uuid.uuid4())}, headers=headers)
    assert error_of(poll, 401) == {"error": "Unauthorized"}


def test_403_for_a_non_admin_member(mockagent_server: ThreadedMockServer) -> None:
    member = jwt(sub="user_1", org_id="org_1", org_role="org:member")
    response = post_chat(mockagent_server, ECHO, headers={"Authorization": f"Bearer {member}"})
    assert error_of(response, 403) == {"error": "Unauthorized: User is not an admin in this organization"}
    clerk_v2 = jwt(sub="user_1", o={"id": "org_1", "rol": "member"})
    response = post_chat(mockagent_server, ECHO, headers={"Authorization": f"Bearer {clerk_v2}"})
    assert response.status_code == 403


@pytest.mark.mockagent(scenarios=[AUTH_SCENARIOS], with_builtin=True)
def test_declared_tokens(mockagent_server: ThreadedMockServer) -> None:
    declared, echo_only = (
        "eyJhbGciOiJSUzI1NiIsInR5cCI6IkpXVCJ9.eyJzdWIiOiJ1c2VyX2FueSIsIm9yZ19pZCI6Im9yZ19hbnkiLCJvcmdfcm9sZSI6Im9yZzphZG1pbiJ9.c2lnLWFueQ",
        "eyJhbGciOiJSUzI1NiIsInR5cCI6IkpXVCJ9.eyJzdWIiOiJ1c2VyX2VjaG8iLCJvcmdfaWQiOiJvcmdfYW55Iiwib3JnX3JvbGUiOiJvcmc6YWRtaW4ifQ.c2lnLWVjaG8",
    )
    assert error_of(post_chat(mockagent_server, ECHO), 401) == {"error": "Unauthorized"}
    ok = post_chat(mockagent_server, TOOLS, headers={"Authorization": f"Bearer {declared}"})
    assert ok.status_code == 200
    scoped = {"Authorization": f"Bearer {echo_only}"}
    assert post_chat(mockagent_server, ECHO, headers=scoped).status_code == 200
    assert error_of(post_chat(mockagent_server, TOOLS, headers=scoped), 404) == {
        "error": "Agent not found or unauthorized"
    }


def test_400_lists_every_invalid_field(mockagent_server: ThreadedMockServer) -> None:
    body = {
        "agentId": "1",
        "message": {"role": "assistant", "parts": [{"type": "text"}, "x"]},
        "threadId": "nope",
        "timezone": "Not a zone",
    }
    response = httpx.post(f"{mockagent_server.base_url('aster')}/chat", json=body, headers=AUTH)
    assert error_of(response, 400) == {
        "error": "Invalid request body",
        "details": [
            {"message": "Expected number, received string", "path": ["agentId"]},
            {"message": 'Invalid literal value, expected "user"', "path": ["message", "role"]},
            {"message": "Required", "path": ["message", "parts", 0, "text"]},
            {"message": "Expected object, received string", "path": ["message", "parts", 1]},
            {"message": "Invalid uuid", "path": ["threadId"]},
            {"message": "Invalid timezone", "path": ["timezone"]},
        ],
    }


@pytest.mark.parametrize(
    ("body", "detail"),
    [
        ({"message": user("hi")}, {"message": "Required", "path": ["agentId"]}),
        ({"agentId": 1.5, "message": user("hi")}, {"message": "Expected integer, received float", "path": ["agentId"]}),
        ({"agentId": 1, "message": "hi"}, {"message": "Expected object, received string", "path": ["message"]}),
        ({"agentId": 1, "message": {"role": "user"}}, {"message": "Required", "path": ["message", "parts"]}),
        (
            {"agentId": 1, "message": user("hi"), "threadId": 7},
            {"message": "Expected string, received number", "path": ["threadId"]},
        ),
    ],
    ids=["agentId-missing", "agentId-float", "message-string", "parts-missing", "threadId-number"],
)
def test_400_names_the_field(
    mockagent_server: ThreadedMockServer, body: dict[str, Any], detail: dict[str, Any]
) -> None:
    response = httpx.post(f"{mockagent_server.base_url('aster')}/chat", json=body, headers=AUTH)
    assert error_of(response, 400) == {"error": "Invalid request body", "details": [detail]}


def test_400_message_required_for_a_new_conversation(mockagent_server: ThreadedMockServer) -> None:
    response = post_chat(mockagent_server, ECHO, None)
    assert error_of(response, 400) == {"error": "Message is required for non-continuation calls"}


@pytest.mark.parametrize(("content", "message"), [(b"{nope", "not valid JSON"), (b"[1]", "JSON object")])
def test_400_for_a_body_that_is_not_a_json_object(
    mockagent_server: ThreadedMockServer, content: bytes, message: str
) -> None:
    body = error_of(raw_post(mockagent_server, content), 400)
    assert body["error"] == "Invalid request body"
    assert body["details"][0]["path"] == []
    assert message in body["details"][0]["message"]


def test_415_for_a_wrong_content_type(mockagent_server: ThreadedMockServer) -> None:
    response = raw_post(mockagent_server, b'{"agentId": 1}', "text/plain")
    assert error_of(response, 415) == {"error": "Content-Type must be application/json"}


def test_413_for_an_oversized_body(mockagent_server: ThreadedMockServer) -> None:
    content = json.dumps({"agentId": 1, "message": user("x" * Aster.body_limit)}).encode()
    assert error_of(raw_post(mockagent_server, content), 413) == {"error": "Request body too large"}


def test_404_unknown_agent_and_conversation(mockagent_server: ThreadedMockServer) -> None:
    assert error_of(post_chat(mockagent_server, 999), 404) == {"error": "Agent not found or unauthorized"}
    unknown = str(uuid.uuid4())
    assert error_of(post_chat(mockagent_server, ECHO, thread=unknown), 404) == {"error": "Conversation not found"}
    base = mockagent_server.base_url("aster")
    poll = httpx.get(f"{base}/getConversation", params={"threadId": unknown}, headers=AUTH)
    assert error_of(poll, 404) == {"error": "Conversation not found"}
    # A thread belongs to its agent.
    thread = post_chat(mockagent_server, ECHO).headers["x-thread-id"]
    assert error_of(post_chat(mockagent_server, TOOLS, thread=thread), 404) == {"error": "Conversation not found"}


@pytest.mark.mockagent(allow_unmatched=True)
def test_404_unknown_route_in_aster_shape(mockagent_server: ThreadedMockServer) -> None:
    response = httpx.get(f"{mockagent_server.base_url('aster')}/nothing-here", headers=AUTH)
    assert error_of(response, 404) == {"error": "Not found"}


def test_400_get_conversation_needs_thread_id(mockagent_server: ThreadedMockServer) -> None:
    response = httpx.get(f"{mockagent_server.base_url('aster')}/getConversation", headers=AUTH)
    assert error_of(response, 400) == {"error": "threadId is required"}


@pytest.mark.mockagent(allow_unmatched=True)
def test_405_method_not_allowed(mockagent_server: ThreadedMockServer) -> None:
    base = mockagent_server.base_url("aster")
    response = httpx.get(f"{base}/chat", headers=AUTH)
    assert error_of(response, 405) == {"error": "Method not allowed"}
    assert response.headers["allow"] == "POST"
    assert error_of(httpx.post(f"{base}/getConversation", headers=AUTH), 405) == {"error": "Method not allowed"}


@pytest.mark.mockagent(manual_clock=True)
def test_409_while_the_thread_is_still_answering(mockagent_server: ThreadedMockServer) -> None:
    thread = post_chat(mockagent_server, SLOW, background=True).json()["threadId"]
    response = post_chat(mockagent_server, SLOW, "again", thread=thread, background=True)
    assert error_of(response, 409) == {"error": "A response is already in progress for this conversation"}
    mockagent_server.advance(3)
    assert post_chat(mockagent_server, SLOW, "again", thread=thread, background=True).status_code == 202


def test_429_for_the_flaky_agent_then_the_retry_succeeds(mockagent_server: ThreadedMockServer) -> None:
    response = post_chat(mockagent_server, FLAKY)
    assert error_of(response, 429) == {"error": "Too many requests"}
    assert response.headers["retry-after"] == "1"
    assert post_chat(mockagent_server, FLAKY).status_code == 200


@pytest.mark.parametrize(
    ("fault", "status", "text"),
    [
        ("429, retry-after=7", 429, "Too many requests"),
        ("500", 500, "Internal server error"),
        ("502", 502, "Bad Gateway"),
        ("503", 503, "Service Unavailable"),
        ("504", 504, "Gateway Timeout"),
    ],
)
def test_injected_status_faults(mockagent_server: ThreadedMockServer, fault: str, status: int, text: str) -> None:
    response = post_chat(mockagent_server, ECHO, headers={"X-Mockagent-Fault": fault})
    assert error_of(response, status) == {"error": text}
    if status == 429:
        assert response.headers["retry-after"] == "7"


def test_unparsable_fault_header_is_a_validation_error(mockagent_server: ThreadedMockServer) -> None:
    body = error_of(post_chat(mockagent_server, ECHO, headers={"X-Mockagent-Fault": "bogus"}), 400)
    assert body["error"] == "Invalid request body"
    assert body["details"][0]["path"] == ["header", "X-Mockagent-Fault"]


def test_dropped_stream_reads_stopped(mockagent_server: ThreadedMockServer) -> None:
    base = mockagent_server.base_url("aster")
    body = {"agentId": ECHO, "message": user("hi")}
    headers = {**AUTH, "X-Mockagent-Fault": "drop-after=3"}
    with httpx.stream("POST", f"{base}/chat", json=body, headers=headers) as response:
        thread = response.headers["x-thread-id"]
        with pytest.raises(httpx.RemoteProtocolError):
            response.read()
    assert get_conversation(mockagent_server, thread)["streamStatus"] == "stopped"


def test_no_terminal_fault_loses_finish_and_done(mockagent_server: ThreadedMockServer) -> None:
    response = post_chat(mockagent_server, ECHO, headers={"X-Mockagent-Fault": "no-terminal"})
    frames = parse(response.text)
    assert [frame.json()["type"] for frame in frames] == [
        "start",
        "start-step",
        "text-start",
        "text-delta",
        "text-delta",
        "text-end",
        "finish-step",
    ]


# What render_error gives each kind, including the ones no request can trigger on its own.
RENDERED = {
    ErrorKind.BAD_REQUEST: (400, {"error": "why"}),
    ErrorKind.INVALID_JSON: (400, {"error": "Invalid request body", "details": [{"message": "why", "path": []}]}),
    ErrorKind.INVALID_BODY: (400, {"error": "Invalid request body", "details": [{"message": "why", "path": []}]}),
    ErrorKind.VALIDATION: (400, {"error": "Invalid request body", "details": [{"message": "Req", "path": ["a", 0]}]}),
    ErrorKind.UNSUPPORTED_MEDIA_TYPE: (415, {"error": "Content-Type must be application/json"}),
    ErrorKind.PAYLOAD_TOO_LARGE: (413, {"error": "Request body too large"}),
    ErrorKind.MISSING_CREDENTIAL: (401, {"error": "Unauthorized"}),
    ErrorKind.INVALID_CREDENTIAL: (401, {"error": "Unauthorized"}),
    ErrorKind.FORBIDDEN: (403, {"error": "Unauthorized: User is not an admin in this organization"}),
    ErrorKind.NOT_FOUND: (404, {"error": "why"}),
    ErrorKind.METHOD_NOT_ALLOWED: (405, {"error": "Method not allowed"}),
    ErrorKind.CONFLICT: (409, {"error": "why"}),
    ErrorKind.RATE_LIMITED: (429, {"error": "Too many requests"}),
    ErrorKind.INTERNAL: (500, {"error": "Internal server error"}),
    ErrorKind.BAD_GATEWAY: (502, {"error": "Bad Gateway"}),
    ErrorKind.UNAVAILABLE: (503, {"error": "Service Unavailable"}),
    ErrorKind.TIMEOUT: (504, {"error": "Gateway Timeout"}),
}


@pytest.mark.parametrize("kind", list(ErrorKind))
def test_render_error_covers_every_kind(kind: ErrorKind) -> None:
    platform = Aster(Engine(ScenarioSet(), MemorySessions(lambda name: Session(name, ManualClock()))))
    fields = [FieldError(("a", 0), "Req")] if kind is ErrorKind.VALIDATION else []
    response = platform.render_error(ApiError(kind, "why", fields=fields, retry_after=3))
    status, body = RENDERED[kind]
    assert response.status == status
    assert response.content_type == "application/json"
    assert json.loads(response.text or "") == body
    assert response.headers.get("Retry-After") == ("3" if kind is ErrorKind.RATE_LIMITED else None)


@pytest.mark.mockagent(platform="aster", allow_unmatched=True)
def test_served_alone_at_the_root(mockagent_server: ThreadedMockServer) -> None:
    assert mockagent_server.base_url("aster") == f"{mockagent_server.url}/api"
    response = post_chat(mockagent_server, ECHO, "root")
    assert text_of(chunks_of(response.text)) == "Echo: root"
    assert error_of(httpx.get(f"{mockagent_server.url}/api/chat", headers=AUTH), 405) == {"error": "Method not allowed"}
