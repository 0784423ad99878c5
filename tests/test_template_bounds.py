"""Templates that load but fail, or pass a bound, as they render (tests/scenarios/templates.yaml): each is the
platform's own 500, whose message names the template's file, line and column, and quotes it, answered promptly; and the
request changes nothing: no run or conversation is left behind, a pause still waits for its answer."""

from __future__ import annotations

import tracemalloc
from pathlib import Path
from typing import Any

import httpx
import pytest
import yaml
from credentials import BEEOS, JWT

from mockagent.server import ThreadedMockServer

ROOT = Path(__file__).resolve().parent.parent
SCENARIOS = "tests/scenarios/templates.yaml"
FILE = ROOT / SCENARIOS
SAFETY = 30.0  # real seconds: a bound on a request that must be answered, never a measurement

pytestmark = pytest.mark.mockagent(manual_clock=True, scenarios=[SCENARIOS])

AGENTOS = {"Authorization": "Bearer aos_ws_test"}
XPANDER = {"x-api-key": "xp-test-key"}
ZEUS = {"Authorization": f"Bearer {JWT}"}
LLM = {"baseUrl": "http://llm.invalid", "apiKey": "sk-secret", "modelName": "m"}
USER = {"id": "u1", "email": "u1@example.com"}
LONG = "x" * 100  # `message * 100000` of it: 10,000,000 characters


def invoke(server: ThreadedMockServer, platform: str, agent: str, message: str) -> httpx.Response:
    """The platform's blocking turn for `agent`, as its clients send it."""
    base = server.base_url(platform)
    requests: dict[str, tuple[str, Any, dict[str, str]]] = {
        "beeos": (f"/api/v1/agents/{agent}/invoke", {"message": message}, BEEOS),
        "agentos": (f"/api/v1/agents/{agent}/invoke", {"input": {"query": message}}, AGENTOS),
        "xpander": (f"/v1/agents/{agent}/invoke", {"input": {"text": message, "user": USER}}, XPANDER),
        "zeus": (f"/api/agent/invoke?agent={agent}", {"message": message, "llm_config": LLM}, ZEUS),
        "aster": (
            "/chat",
            {"agentId": 1, "message": {"role": "user", "parts": [{"type": "text", "text": message}]}},
            {"Authorization": f"Bearer {JWT}", "X-Stream-Response": "false"},
        ),
    }
    path, body, headers = requests[platform]
    return httpx.post(base + path, json=body, headers=headers, timeout=SAFETY)


def failed_at(response: httpx.Response, position: str) -> str:
    """The BeeOS 500 naming the template at `position` (line:col in templates.yaml) and quoting it; its reason."""
    assert response.status_code == 500, response.text
    error = response.json()["error"]
    assert error["code"] == "internal_error"
    return reason_of(error["message"], position)


def reason_of(message: str, position: str) -> str:
    """The reason of a render's error at `position`, whose message quotes the template written there."""
    line, column = map(int, position.split(":"))
    written = FILE.read_text().splitlines()[line - 1][column - 1 :]
    source = yaml.safe_load(written) if written.startswith(('"', "'")) else written
    source = source if len(source) <= 80 else source[:79] + "…"  # a long template is quoted cut short
    prefix = f"{FILE}:{position}: the template {source!r} failed to render: "
    assert message.startswith(prefix), message
    return message.removeprefix(prefix)


def runs(server: ThreadedMockServer) -> list[dict[str, Any]]:
    listed: list[dict[str, Any]] = httpx.get(f"{server.url}/__mockagent/runs", timeout=SAFETY).json()
    return listed


# The 500 each platform answers with: its own envelope; BeeOS, AgentOS and Zeus carry the message, xpander and
# Aster answer with the fixed text their servers give (the message is in mockagent's log).
ENVELOPES = {
    "beeos": lambda body: body["error"]["message"],
    "agentos": lambda body: body["error"]["message"],
    "zeus": lambda body: body["detail"],
    "xpander": lambda body: body == {"detail": "Internal Server Error"},
    "aster": lambda body: body == {"error": "Internal server error"},
}


@pytest.mark.parametrize("platform", list(ENVELOPES))
def test_a_render_past_its_output_bound_is_the_platforms_500(
    mockagent_server: ThreadedMockServer, platform: str
) -> None:
    assert invoke(mockagent_server, platform, "shout", "hi").status_code in (200, 202)  # 200,000 characters
    before = runs(mockagent_server)
    response = invoke(mockagent_server, platform, "shout", LONG)
    assert response.status_code == 500, response.text
    shown = ENVELOPES[platform](response.json())
    if isinstance(shown, str):
        assert reason_of(shown, "7:14").startswith("* would make 10,000,000 characters")
    else:
        assert shown is True, response.text
    assert runs(mockagent_server) == before  # the turn did not happen


def test_loops_in_loops_stop_at_the_step_bound(mockagent_server: ThreadedMockServer) -> None:
    reason = failed_at(invoke(mockagent_server, "beeos", "spin", "hi"), "10:14")
    assert reason == "it took more than 100,000 steps (loop turns, calls, operators and outputs)"


def test_what_a_buffer_holds_counts_as_output(mockagent_server: ThreadedMockServer) -> None:
    reason = failed_at(invoke(mockagent_server, "beeos", "hoard", LONG), "13:14")
    assert reason.startswith("its output passed 1,048,")


def test_a_value_doubled_over_and_over_stops_at_the_size_bound(mockagent_server: ThreadedMockServer) -> None:
    reason = failed_at(invoke(mockagent_server, "beeos", "double", "hi"), "16:14")
    assert reason.startswith("it built a value of more than 1,048,")


def test_a_lazy_sequence_is_weighed_as_it_is_gathered(mockagent_server: ThreadedMockServer) -> None:
    # 100 strings of 1,000,000 characters, each within the bound: gathering them stops at the second.
    tracemalloc.start()
    try:
        response = invoke(mockagent_server, "beeos", "gather", LONG)
        peak = tracemalloc.get_traced_memory()[1]
    finally:
        tracemalloc.stop()
    assert failed_at(response, "29:14").startswith("it built a sequence of more than 1,048,")
    assert peak < 20_000_000, f"the render allocated {peak:,} bytes"


def test_look_ups_inside_a_filter_are_steps(mockagent_server: ThreadedMockServer) -> None:
    reason = failed_at(invoke(mockagent_server, "beeos", "total", "hi"), "32:14")
    # Uncounted, the 100,000 look-ups finish in about 0.1 s and the render succeeds. Counted, they pass the
    # step bound — unless a loaded machine spends the 0.25 s first: the same look-ups, bounded either way.
    assert reason in (
        "it took more than 100,000 steps (loop turns, calls, operators and outputs)",
        "it took longer than 0.25 s",
    )


def test_a_filter_that_goes_item_by_item_is_given_at_most_100000_items(mockagent_server: ThreadedMockServer) -> None:
    assert invoke(mockagent_server, "beeos", "sorted", "cab").json()["data"]["text"] == "abc"
    reason = failed_at(invoke(mockagent_server, "beeos", "sorted", "x" * 100_001), "35:14")
    assert reason == "sort over 100,001 items; a filter goes through at most 100,000"


def test_a_slow_render_stops_at_the_time_bound(mockagent_server: ThreadedMockServer) -> None:
    # 60,000 steps, each sorting and weighing 50,000 numbers: minutes of work, far inside the step bound, so
    # only the time bound (0.25 s) can stop it; no machine sorts a list of 50,000 numbers in 12 µs.
    reason = failed_at(invoke(mockagent_server, "beeos", "sort", "hi"), "19:14")
    assert reason == "it took longer than 0.25 s"


def test_what_the_sandbox_refuses_at_render_is_a_500_too(mockagent_server: ThreadedMockServer) -> None:
    reason = failed_at(invoke(mockagent_server, "beeos", "hidden", "__class__"), "26:14")
    assert reason == "access to attribute '__class__' of 'str' object is unsafe."
    assert invoke(mockagent_server, "beeos", "hidden", "upper").status_code == 200


def test_a_failed_render_leaves_no_conversation_behind(mockagent_server: ThreadedMockServer) -> None:
    response = invoke(mockagent_server, "aster", "shout", LONG)
    assert response.status_code == 500
    session = mockagent_server.session()
    assert session.conversations == {}
    assert session.runs_of() == []
    assert invoke(mockagent_server, "aster", "shout", "hi").status_code == 202


def test_an_answer_whose_template_fails_leaves_the_question_waiting(mockagent_server: ThreadedMockServer) -> None:
    base = mockagent_server.base_url("agentos")
    paused = httpx.post(f"{base}/api/v1/agents/repeat/invoke", json={}, headers=AGENTOS, timeout=SAFETY)
    assert paused.status_code == 202, paused.text
    run_id = paused.json()["data"]["run_id"]
    answer = f"{base}/api/v1/runs/{run_id}/human-input"

    failed = httpx.post(answer, json={"response": LONG}, headers=AGENTOS, timeout=SAFETY)
    assert failed.status_code == 500, failed.text
    assert reason_of(failed.json()["error"]["message"], "23:14")
    run = httpx.get(f"{base}/api/v1/runs/{run_id}", headers=AGENTOS, timeout=SAFETY).json()["data"]
    assert run["status"] == "awaiting_input"
    assert run["awaiting_input"]["question"] == "What shall I repeat?"

    answered = httpx.post(answer, json={"response": "ab"}, headers=AGENTOS, timeout=SAFETY)
    assert answered.status_code == 200, answered.text
    assert answered.json()["data"]["output"] == {"text": "ab" * 100000}


def test_an_answer_in_chat_whose_template_fails_can_be_given_again(mockagent_server: ThreadedMockServer) -> None:
    asked = invoke(mockagent_server, "beeos", "repeat", "hi").json()["data"]
    assert asked["text"] == "What shall I repeat?"
    url = f"{mockagent_server.base_url('beeos')}/api/v1/agents/repeat/invoke"
    again = {"context_id": asked["context_id"]}

    failed = httpx.post(url, json={"message": LONG, **again}, headers=BEEOS, timeout=SAFETY)
    assert failed_at(failed, "23:14").startswith("* would make 10,000,000 characters")
    answered = httpx.post(url, json={"message": "ab", **again}, headers=BEEOS, timeout=SAFETY)
    assert answered.status_code == 200, answered.text
    assert answered.json()["data"]["text"] == "ab" * 100000


def test_a_poll_whose_template_fails_leaves_the_task_waiting_for_it(mockagent_server: ThreadedMockServer) -> None:
    tasks = f"{mockagent_server.base_url('beeos')}/api/v1/agents/polled/tasks"
    created = httpx.post(tasks, json={"message": LONG}, headers=BEEOS, timeout=SAFETY)
    assert created.status_code == 202, created.text
    task = f"{tasks}/{created.json()['data']['task_id']}"
    mockagent_server.advance(1)  # out of the queue: the run waits for a poll
    for _ in range(2):  # each poll plays the rest of the script again, and fails again
        assert failed_at(httpx.get(task, headers=BEEOS, timeout=SAFETY), "39:14").startswith("* would make")
