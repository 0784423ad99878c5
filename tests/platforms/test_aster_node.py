"""The test of record for Aster's stream: the AI SDK's own client (ai@5.0.150, strict chunk schemas) reads
POST /api/chat through tests/node/check_ui_stream.mjs and assembles the assistant message."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import httpx
import node_client
import pytest

from mockagent.server import ThreadedMockServer

HARNESS = node_client.HARNESS
NODE = node_client.NODE

pytestmark = pytest.mark.skipif(NODE is None, reason="node is not on PATH")


@pytest.fixture(scope="session")
def harness() -> Path:
    return node_client.installed()


def check(harness: Path, server: ThreadedMockServer, body: dict[str, Any]) -> dict[str, Any]:
    result = node_client.read_chat(harness, server.base_url("aster"), body)
    assert result["status"] == 200
    assert result["rejected"] == [], result["rejected"]
    assert result["sawDone"] is True
    return result


def ask(agent_id: int, text: str, thread: str | None = None) -> dict[str, Any]:
    body: dict[str, Any] = {"agentId": agent_id, "message": {"role": "user", "parts": [{"type": "text", "text": text}]}}
    return body if thread is None else {**body, "threadId": thread}


def content_parts(message: dict[str, Any]) -> list[dict[str, Any]]:
    """The message's parts without the step markers (their placement is checked separately)."""
    return [p for p in message["parts"] if p["type"] != "step-start"]


def test_echo_assembles_one_text_part(harness: Path, mockagent_server: ThreadedMockServer) -> None:
    result = check(harness, mockagent_server, ask(1, "hi"))
    assert result["errors"] == []
    assert result["message"]["role"] == "assistant"
    assert result["message"]["parts"] == [{"type": "step-start"}, {"type": "text", "text": "Echo: hi", "state": "done"}]


def test_tools_assembles_the_tool_call_then_the_text(harness: Path, mockagent_server: ThreadedMockServer) -> None:
    result = check(harness, mockagent_server, ask(2, "weather?"))
    assert result["errors"] == []
    parts = result["message"]["parts"]
    assert [p["type"] for p in parts] == ["step-start", "reasoning", "tool-get_weather", "step-start", "text"]
    tool = parts[2]
    assert tool["state"] == "output-available"
    assert tool["input"] == {"city": "Paris"}
    assert tool["output"] == {"temp_c": 21}
    assert parts[4] == {"type": "text", "text": "It is 21°C in Paris.", "state": "done"}


def test_error_agent_reports_its_error_text(harness: Path, mockagent_server: ThreadedMockServer) -> None:
    result = check(harness, mockagent_server, ask(8, "hi"))
    assert result["errors"] == ["The agent failed."]
    assert content_parts(result["message"]) == [{"type": "text", "text": "Let me try… ", "state": "done"}]
    assert [c["type"] for c in result["chunks"]][-2:] == ["error", "finish"]


def test_approved_call_assembles_with_its_output(harness: Path, mockagent_server: ThreadedMockServer) -> None:
    url = f"{mockagent_server.base_url('aster')}/chat"
    asked = httpx.post(url, json=ask(3, "mail ops"), headers={"Authorization": node_client.AUTH})
    result = check(harness, mockagent_server, ask(3, "yes", thread=asked.headers["x-thread-id"]))
    assert result["errors"] == []
    parts = content_parts(result["message"])
    assert [p["type"] for p in parts] == ["tool-send_email", "text"]
    assert (parts[0]["state"], parts[0]["input"], parts[0]["output"]) == (
        "output-available",
        {"to": "ops@example.com"},
        {"sent": True},
    )
    assert parts[1]["text"] == "Email sent."
