"""A reply's `when`: the message, body fields by path, headers, query parameters, the platform, the turn,
how often the reply matched, combined by all/any/not — tried by priority, then as written; regex groups
reach the reply's templates; every condition that failed is explained with the value it saw."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import httpx
import pytest
from beeos_client import beeos
from credentials import AGENTOS, JWT

from mockagent.errors import ScenarioError
from mockagent.scenarios import load_text
from mockagent.server import ThreadedMockServer
from mockagent.settings import Settings

SCENARIOS = "tests/scenarios/conditions.yaml"
pytestmark = pytest.mark.mockagent(scenarios=[SCENARIOS])

LLM = {"baseUrl": "http://llm.invalid", "apiKey": "sk-x", "modelName": "m"}


def said(response: httpx.Response) -> str:
    assert response.status_code == 200, response.text
    data = response.json()["data"]
    return str(data["text"] if "text" in data else data["output"]["text"])


def agentos(server: ThreadedMockServer, agent: str, body: dict[str, Any]) -> httpx.Response:
    url = f"{server.base_url('agentos')}/api/v1/agents/{agent}/invoke"
    return httpx.post(url, json=body, headers=AGENTOS, timeout=10)


@pytest.mark.parametrize(
    ("message", "reply"),
    [
        ("order 42", "order 42"),  # a named group reaches the template
        ("hello", "greeting"),  # equals, ignoring case when told
        ("HeLLo", "greeting"),
        ("hello!", "say please"),
        ("a Refund please", "exact refund"),  # contains, keeping case when told
        ("a refund please", "any refund"),  # contains ignores case by default
        ("yes", "answer"),  # a list is one_of
        ("YES", "say please"),
        ("please CANCEL subscription", "cancelling subscription"),  # regex with ignore_case beside it
    ],
)
@pytest.mark.mockagent(scenarios=[SCENARIOS], allow_unmatched=True)
def test_message_tests(mockagent_server: ThreadedMockServer, message: str, reply: str) -> None:
    response = beeos(mockagent_server, "messages", message)
    if reply == "say please":
        assert response.status_code == 404  # `messages` has no default: nothing answered
    else:
        assert said(response) == reply


@pytest.mark.parametrize(
    ("body", "reply"),
    [
        ({"input": {}}, "no query"),  # exists: false
        ({"input": {"query": "q"}, "metadata": {"tier": "gold", "seats": 10}}, "big gold"),  # both must hold
        ({"input": {"query": "q"}, "metadata": {"tier": "gold", "seats": 9}}, "few seats"),
        ({"input": {"query": "q"}, "metadata": {"tier": "gold", "seats": "12"}}, "big gold"),  # text read as a number
        ({"input": {"query": "q"}, "metadata": {"tier": "gold", "seats": "12 seats"}}, "other"),
        ({"input": {"query": "q"}, "metadata": {"tags": ["alpha", "beta"]}}, "beta"),  # a list holding an item
        ({"input": {"query": "q"}, "metadata": {"items": [{"sku": "a-1"}, {"sku": "c-3"}]}}, "second item"),
        ({"input": {"query": "q"}, "metadata": {"items": [{"sku": "c-3"}]}}, "other"),  # no item [1]
        ({"input": {"query": "q"}, "metadata": {"seats": True}}, "other"),  # true is not a number
    ],
)
def test_body_fields_by_path(mockagent_server: ThreadedMockServer, body: dict[str, Any], reply: str) -> None:
    if "query" not in body["input"]:
        body = {"input": {"query": ""}, **{k: v for k, v in body.items() if k != "input"}}
        body["input"].pop("query")
    assert said(agentos(mockagent_server, "fields", body)) == reply


@pytest.mark.parametrize(
    ("headers", "query", "reply"),
    [
        ({"X-Env": "prod"}, "", "production"),
        ({"x-env": "prod"}, "", "production"),  # header names ignore case
        ({"X-Env": "prod"}, "?debug=1", "plain"),  # a query parameter present fails `exists: false`
        ({"X-Env": "staging-2"}, "", "staging"),
        ({"X-Retry": "3"}, "", "many retries"),  # header text compared as a number
        ({"X-Retry": "2"}, "", "plain"),
        ({"X-Retry": "many"}, "", "plain"),
    ],
)
def test_headers_and_query(
    mockagent_server: ThreadedMockServer, headers: dict[str, str], query: str, reply: str
) -> None:
    assert said(beeos(mockagent_server, "transport", "hi", headers, query)) == reply


def test_platform_any_all_not_turn_and_matched(mockagent_server: ThreadedMockServer) -> None:
    zeus = httpx.post(
        f"{mockagent_server.base_url('zeus')}/api/agent/invoke?agent=combined",
        json={"message": "please", "llm_config": LLM},
        headers={"Authorization": f"Bearer {JWT}"},
        timeout=10,
    )
    assert zeus.status_code == 200
    assert '"content":"priority "' in zeus.text
    assert '"content":"zeus"' in zeus.text
    assert said(beeos(mockagent_server, "combined", "urgent, please")) == "priority on beeos"
    assert said(beeos(mockagent_server, "combined", "now")) == "say please"
    first = beeos(mockagent_server, "combined", "please")
    assert said(first) == "first polite"  # matched: 0, the first time only
    assert said(beeos(mockagent_server, "combined", "please")) == "polite"
    # The same conversation's second turn.
    context_id = first.json()["data"]["context_id"]
    assert said(beeos(mockagent_server, "combined", "please", context_id=context_id)) == "again"


def test_matches_are_counted_per_session(mockagent_server: ThreadedMockServer) -> None:
    alice = {"X-Mockagent-Session": "alice"}
    assert said(beeos(mockagent_server, "combined", "please", alice)) == "first polite"
    assert said(beeos(mockagent_server, "combined", "please")) == "first polite"
    assert said(beeos(mockagent_server, "combined", "please", alice)) == "polite"
    mockagent_server.reset("alice")
    assert said(beeos(mockagent_server, "combined", "please", alice)) == "first polite"


def test_priority_before_file_order(mockagent_server: ThreadedMockServer) -> None:
    assert said(beeos(mockagent_server, "ranked", "abc")) == "tried first"
    assert said(beeos(mockagent_server, "ranked", "a")) == "written first"


@pytest.mark.mockagent(scenarios=[SCENARIOS], allow_unmatched=True)
def test_the_explanation_names_each_failed_condition_and_the_value_it_saw(
    mockagent_server: ThreadedMockServer,
) -> None:
    response = beeos(mockagent_server, "messages", "where is it")
    assert response.status_code == 404
    message = response.json()["error"]["message"]
    assert message.startswith("agent 'messages' has no reply for this request: ")
    assert "the message regex '^order (?P<order>[0-9]+)$': it is 'where is it'" in message
    assert "the message equals 'HELLO': it is 'where is it'" in message
    assert message.count("did not match") == 3  # the nearest three


def test_a_body_field_that_is_missing_is_said_so(tmp_path: Path) -> None:
    path = tmp_path / "strict.yaml"
    path.write_text(
        "agents:\n  - id: strict\n    platforms: [agentos]\n    replies:\n"
        "      - when: {body: {metadata.plan: pro}, not: {headers: {X-Trial: 'yes'}}}\n"
        "        script: [{say: pro}]\n"
    )
    with ThreadedMockServer(Settings(scenario_paths=(path,))) as server:
        response = agentos(server, "strict", {"input": {"query": "q"}})
        assert response.status_code == 404
        assert "body metadata.plan equals 'pro': it is missing" in response.json()["error"]["message"]
        on_trial = httpx.post(
            f"{server.base_url('agentos')}/api/v1/agents/strict/invoke",
            json={"input": {"query": "q"}, "metadata": {"plan": "pro"}},
            headers={**AGENTOS, "X-Trial": "yes"},
            timeout=10,
        )
        assert "not (header X-Trial equals 'yes'): it held" in on_trial.json()["error"]["message"]


REPLY = "agents:\n  - id: a\n    replies:\n      - when: {when}\n        script: [{{say: hi}}]\n"


@pytest.mark.parametrize(
    ("when", "column", "message"),
    [
        ("{mesage: hi}", 16, "unknown key 'mesage' in when (did you mean 'message'?)"),
        ("{regex: '(unclosed'}", 23, "invalid regular expression '(unclosed'"),
        ("{equals: yes}", 24, "when: True is a boolean to YAML, and the message is text (quote it)"),
        ("{headers: {X-Env: [prod, no]}}", 40, "headers X-Env: False is a boolean to YAML"),
        ("{body: {'a..b': 1}}", 23, "'a..b' is not a body path"),
        ("{body: {a: {bigger: 1}}}", 27, "unknown key 'bigger' in body a"),
        ("{turn: {gt: soon}}", 27, "turn.gt must be a number, got 'soon'"),
        ("{platform: zeuss}", 26, "platform 'zeuss' is not one of"),
        ("{any: []}", 21, "any needs at least one condition"),
        ("{}", 15, "when needs at least one condition"),
        ("{message: {ignore_case: true}}", 25, "ignore_case in message needs a test beside it"),
        ("{message: hi, equals: hi}", 15, "test the message with 'message:' or with equals/contains/regex beside it"),
    ],
)
def test_a_wrong_condition_is_named_at_its_place(tmp_path: Path, when: str, column: int, message: str) -> None:
    path = tmp_path / "s.yaml"
    path.write_text(REPLY.format(when=when))
    with pytest.raises(ScenarioError) as caught:
        load_text(path, path.read_text())
    assert f"{path}:4:{column}: {message}" in str(caught.value)


def test_a_reply_after_one_that_answers_anything_is_never_tried(tmp_path: Path) -> None:
    path = tmp_path / "s.yaml"
    path.write_text(
        "agents:\n  - id: a\n    replies:\n"
        "      - script: [{say: anything}]\n"
        "      - when: {contains: x}\n        script: [{say: x}]\n"
        "      - when: {contains: y}\n        priority: 1\n        script: [{say: y}]\n"
        "  - id: b\n    replies:\n      - when: {contains: x}\n        script: [{say: x}]\n"
        "    script: [{say: b}]\n    default: [{say: b}]\n"
    )
    with pytest.raises(ScenarioError) as caught:
        load_text(path, path.read_text())
    assert [str(problem) for problem in caught.value.problems] == [
        f"{path}:5:9: this reply is never tried: the reply at {path}:4:9 (with no 'when') answers first",
        f"{path}:15:14: an agent's 'script' is its default reply: give one or the other",
    ]
