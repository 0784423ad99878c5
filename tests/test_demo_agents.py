"""The built-in demo agents that show the scenario language behave as the README says, over HTTP: replies
chosen by regex groups, headers, turns and `any`; a checkout whose state moves per session; a sequence of
faults and a reply."""

from __future__ import annotations

import httpx
import pytest
from credentials import JWT
from sse import json_frames

from mockagent.server import ThreadedMockServer

pytestmark = pytest.mark.mockagent(speed=1000)  # the demo pace, without the wait
KEY = {"Authorization": "Bearer oag_" + "a" * 64}


def invoke(server: ThreadedMockServer, agent: str, message: str, **headers: str) -> httpx.Response:
    return httpx.post(
        f"{server.base_url('beeos')}/api/v1/agents/{agent}/invoke",
        json={"message": message},
        headers={**KEY, **{name.replace("_", "-"): value for name, value in headers.items()}},
        timeout=10,
    )


def said(response: httpx.Response) -> str:
    assert response.status_code == 200, response.text
    return str(response.json()["data"]["text"])


def test_support_answers_by_what_it_is_asked(mockagent_server: ThreadedMockServer) -> None:
    assert said(invoke(mockagent_server, "support", "where is ORDER b-2002?")) == "Order B-2002 has shipped."
    assert said(invoke(mockagent_server, "support", "I want my money back")).startswith("Refunds take 5 days")
    assert said(invoke(mockagent_server, "support", "hello")).startswith("I can look up an order")
    gold = invoke(mockagent_server, "support", "where is order A-1", X_Customer_Tier="gold")
    assert said(gold).startswith("Welcome back! Gold customers go first.")


def test_checkout_moves_through_its_states_per_session(mockagent_server: ThreadedMockServer) -> None:
    def step(message: str, session: str) -> str:
        return said(invoke(mockagent_server, "checkout", message, X_Mockagent_Session=session))

    assert step("ship it", "alice") == 'Say "pay" first.'
    assert step("pay", "alice") == 'Paid. Say "ship" to ship it.'
    assert step("ship", "bob") == 'Say "pay" first.'  # bob's checkout has not started
    assert step("ship", "alice") == "Shipped."
    assert step("anything", "alice") == "Your order has shipped; nothing left to do."
    assert mockagent_server.states("alice") == {"checkout": "shipped"}


def test_retry_answers_429_then_503_then_its_reply(mockagent_server: ThreadedMockServer) -> None:
    first = invoke(mockagent_server, "retry", "hi")
    assert (first.status_code, first.headers["Retry-After"]) == (429, "1")
    assert invoke(mockagent_server, "retry", "hi").status_code == 503
    assert said(invoke(mockagent_server, "retry", "hi")) == "Third time lucky."
    assert said(invoke(mockagent_server, "retry", "hi")) == "Third time lucky."
    assert invoke(mockagent_server, "retry", "hi", X_Mockagent_Session="other").status_code == 429


def test_support_puts_the_order_it_heard_into_its_tool_call(mockagent_server: ThreadedMockServer) -> None:
    response = httpx.post(
        f"{mockagent_server.base_url('zeus')}/api/agent/invoke",
        params={"agent": "support"},
        json={
            "message": "order c-7 please",
            "llm_config": {"baseUrl": "http://llm.invalid", "apiKey": "sk-x", "modelName": "m"},
        },
        headers={"Authorization": f"Bearer {JWT}"},
        timeout=10,
    )
    assert response.status_code == 200, response.text
    frames = json_frames(response.text)
    assert frames[0]["tool_name"] == "lookup_order"
    assert frames[0]["tool_args"] == {"order_id": "C-7"}
    assert frames[1]["result"] == {"order_id": "C-7", "status": "shipped"}


def test_the_demo_stubs_answer_a_health_check_and_an_instance(mockagent_server: ThreadedMockServer) -> None:
    health = httpx.get(f"{mockagent_server.url}/healthz", timeout=10)
    assert health.json()["status"] == "ok"
    instance = httpx.get(f"{mockagent_server.base_url('beeos')}/api/v1/instances/i-42", headers=KEY, timeout=10)
    assert instance.json()["data"]["id"] == "i-42"
    assert instance.json()["data"]["status"] == "running"
