"""Tests against mockagent: each test gets a fresh server on a free port, serving scenarios/agents.yaml.

Here the calls are plain HTTP; in your tests, point your own client (or the platform's SDK) at
`mockagent_server.base_url("beeos")` instead of the real base URL. Run them with `pytest`.
"""

from __future__ import annotations

import json
import urllib.request
from pathlib import Path
from typing import Any

import pytest

from mockagent.server import ThreadedMockServer

SCENARIOS = Path(__file__).resolve().parent.parent / "scenarios" / "agents.yaml"
pytestmark = pytest.mark.mockagent(scenarios=[SCENARIOS])

# Any well-formed BeeOS key will do (a scenario file's `auth:` can name the only ones accepted).
BEEOS_KEY = "oag_" + "0" * 64


def invoke(server: ThreadedMockServer, agent: str, message: str, **fields: str) -> dict[str, Any]:
    """BeeOS's blocking invoke: the agent's whole reply, once its run is done."""
    request = urllib.request.Request(
        f"{server.base_url('beeos')}/api/v1/agents/{agent}/invoke",
        data=json.dumps({"message": message, **fields}).encode(),
        headers={"Authorization": f"Bearer {BEEOS_KEY}", "Content-Type": "application/json"},
        method="POST",
    )
    with urllib.request.urlopen(request, timeout=10) as response:
        data: dict[str, Any] = json.load(response)["data"]
        return data


def test_a_refund_question_looks_the_order_up(mockagent_server: ThreadedMockServer) -> None:
    reply = invoke(mockagent_server, "support", "Can I get a refund?")
    assert reply["text"] == "Order A-1001 has shipped, so a refund needs a return first."


def test_deploy_asks_then_goes_on_with_the_answer(mockagent_server: ThreadedMockServer) -> None:
    question = invoke(mockagent_server, "deploy", "Ship it")
    assert question["text"].startswith("Which environment?")
    # The next message in the same conversation (BeeOS: the same context_id) is the answer.
    reply = invoke(mockagent_server, "deploy", "staging", context_id=question["context_id"])
    assert reply["text"] == "Deploying to staging."
