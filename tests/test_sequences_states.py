"""Sequences and scenario states over HTTP: a reply answering call by call (faults and scripts mixed) with
each exhaustion policy, on a blocking invoke and on streams; states required and set across requests, kept
per session, read and changed through the admin API and the fixtures; and the load errors."""

from __future__ import annotations

import json
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any

import httpx
import pytest
from credentials import BEEOS, JWT
from sse import parse

from mockagent.errors import ScenarioError
from mockagent.scenarios import load_paths, load_text
from mockagent.server import MockServer, ThreadedMockServer
from mockagent.settings import Settings

SCENARIOS = "tests/scenarios/sequences_states.yaml"
pytestmark = pytest.mark.mockagent(scenarios=[SCENARIOS])

LLM = {"baseUrl": "http://llm.invalid", "apiKey": "sk-x", "modelName": "m"}
ADMIN = "/__mockagent"


def beeos(server: ThreadedMockServer, agent: str, message: str, session: str | None = None) -> httpx.Response:
    """A blocking BeeOS invoke."""
    headers = {**BEEOS, **({"X-Mockagent-Session": session} if session else {})}
    url = f"{server.base_url('beeos')}/api/v1/agents/{agent}/invoke"
    return httpx.post(url, json={"message": message}, headers=headers, timeout=10)


def said(response: httpx.Response) -> str:
    assert response.status_code == 200, response.text
    return str(response.json()["data"]["text"])


def beeos_error(response: httpx.Response, status: int) -> dict[str, Any]:
    """BeeOS's own error envelope, checked."""
    assert response.status_code == status, response.text
    body: dict[str, Any] = response.json()
    assert body["success"] is False
    error: dict[str, Any] = body["error"]
    return error


def zeus(server: ThreadedMockServer, agent: str) -> tuple[httpx.Response, list[dict[str, Any]]]:
    """A Zeus invoke (an SSE stream) and its frames."""
    response = httpx.post(
        f"{server.base_url('zeus')}/api/agent/invoke?agent={agent}",
        json={"message": "hi", "llm_config": LLM},
        headers={"Authorization": f"Bearer {JWT}"},
        timeout=10,
    )
    frames = [frame.json() for frame in parse(response.text)] if response.status_code == 200 else []
    return response, frames


def zeus_text(frames: list[dict[str, Any]]) -> str:
    return "".join(frame["content"] for frame in frames if frame.get("type") == "message_chunk")


def admin(server: ThreadedMockServer, method: str, path: str, **kwargs: Any) -> httpx.Response:
    return httpx.request(method, f"{server.url}{ADMIN}{path}", timeout=10, **kwargs)


# ── sequences ────────────────────────────────────────────────────────────────────────────────────


def test_two_429s_a_reply_a_503_then_repeat_last(mockagent_server: ThreadedMockServer) -> None:
    first = beeos(mockagent_server, "retrying", "search")
    assert beeos_error(first, 429)["code"] == "rate_limited"
    assert first.headers["Retry-After"] == "1"
    second = beeos(mockagent_server, "retrying", "search")
    beeos_error(second, 429)
    assert second.headers["Retry-After"] == "3"
    # A fault is no turn: no run, and no conversation left behind.
    default = next(s for s in admin(mockagent_server, "GET", "/sessions").json() if s["name"] == "default")
    assert (default["runs"], default["conversations"]) == (0, 0)
    assert said(beeos(mockagent_server, "retrying", "search")) == "found it"
    for _ in range(2):  # used up: the last item answers again
        assert beeos_error(beeos(mockagent_server, "retrying", "search"), 503)["type"] == "api_error"
    # Another reply of the agent answers as it did; its calls use nothing of the sequence.
    assert said(beeos(mockagent_server, "retrying", "other")) == "say search"
    # Only the one turn ran; each fault is in the journal as the sequence item that answered.
    assert [run["text"] for run in admin(mockagent_server, "GET", "/runs").json()] == ["found it", "say search"]
    journal = admin(mockagent_server, "GET", "/journal").json()["entries"]
    assert [entry["status"] for entry in journal] == [429, 429, 200, 503, 503, 200]
    assert journal[0]["fault"].startswith(f"429 (sequence item at {Path(SCENARIOS).resolve()}:")
    counts = admin(mockagent_server, "GET", "/sequences").json()
    assert sorted(counts.values()) == [1, 5]


def test_concurrent_calls_each_get_their_own_item(mockagent_server: ThreadedMockServer) -> None:
    with ThreadPoolExecutor(6) as pool:
        calls = list(pool.map(lambda _: beeos(mockagent_server, "retrying", "search"), range(6)))
    assert sorted(response.status_code for response in calls) == [200, 429, 429, 503, 503, 503]
    assert sorted(response.headers.get("Retry-After", "") for response in calls if response.status_code == 429) == [
        "1",
        "3",
    ]


def test_cycle_starts_the_sequence_over(mockagent_server: ThreadedMockServer) -> None:
    answers = []
    for _ in range(7):
        response = beeos(mockagent_server, "cycling", "hi")
        answers.append(said(response) if response.status_code == 200 else beeos_error(response, 504)["code"])
    timeout = answers[1]
    assert answers == ["first", timeout, "third", "first", timeout, "third", "first"]


@pytest.mark.mockagent(scenarios=[SCENARIOS], allow_unmatched=True)
def test_error_when_used_up_is_the_platforms_404_naming_the_sequence(mockagent_server: ThreadedMockServer) -> None:
    assert beeos_error(beeos(mockagent_server, "streaming", "hi"), 429)
    assert said(beeos(mockagent_server, "streaming", "hi")) == "cut short"  # a blocking call has no stream to break
    assert said(beeos(mockagent_server, "streaming", "hi")) == "whole"
    for _ in range(2):
        error = beeos_error(beeos(mockagent_server, "streaming", "hi"), 404)
        assert error["message"] == (
            f"the sequence at {Path(SCENARIOS).resolve()}:28:7 is used up: its 3 answers were given (exhausted: error)"
        )
    assert len(admin(mockagent_server, "GET", "/runs").json()) == 2  # a used-up call starts no run
    assert admin(mockagent_server, "GET", "/journal").json()["entries"][-1]["explanation"] == error["message"]


@pytest.mark.mockagent(scenarios=[SCENARIOS], allow_unmatched=True)
def test_a_stream_gets_the_faults_and_the_items_stream_fault(mockagent_server: ThreadedMockServer) -> None:
    limited, _ = zeus(mockagent_server, "streaming")
    assert limited.status_code == 429
    assert limited.headers["Retry-After"] == "2"
    assert isinstance(limited.json()["detail"], str)  # FastAPI's shape, as Zeus answers
    broken, frames = zeus(mockagent_server, "streaming")
    assert broken.status_code == 200
    assert zeus_text(frames) == "cut short"
    assert not any(frame["type"] in {"done", "error"} for frame in frames)  # no terminal frame
    whole, frames = zeus(mockagent_server, "streaming")
    assert whole.status_code == 200
    assert zeus_text(frames) == "whole"
    assert frames[-1]["type"] == "done"
    used_up, _ = zeus(mockagent_server, "streaming")
    assert used_up.status_code == 404
    assert "is used up" in used_up.json()["detail"]


@pytest.mark.mockagent(scenarios=[SCENARIOS], allow_unmatched=True)
def test_an_aster_stream_walks_the_same_sequence(mockagent_server: ThreadedMockServer) -> None:
    def chat() -> httpx.Response:
        body = {"agentId": 70, "message": {"role": "user", "parts": [{"type": "text", "text": "hi"}]}}
        url = f"{mockagent_server.base_url('aster')}/chat"
        return httpx.post(url, json=body, headers={"Authorization": f"Bearer {JWT}"}, timeout=10)

    limited = chat()
    assert (limited.status_code, limited.json()) == (429, {"error": "Too many requests"})
    frames = parse(chat().text)
    assert frames[-1].data != "[DONE]"
    assert not any(json.loads(frame.data)["type"] == "finish" for frame in frames)
    assert parse(chat().text)[-1].data == "[DONE]"
    assert chat().status_code == 404


def test_sequences_count_per_session(mockagent_server: ThreadedMockServer) -> None:
    beeos_error(beeos(mockagent_server, "retrying", "search"), 429)
    beeos_error(beeos(mockagent_server, "retrying", "search"), 429)
    beeos_error(beeos(mockagent_server, "retrying", "search", session="alice"), 429)  # alice's first call
    assert said(beeos(mockagent_server, "retrying", "search")) == "found it"
    beeos_error(beeos(mockagent_server, "retrying", "search", session="alice"), 429)
    assert said(beeos(mockagent_server, "retrying", "search", session="alice")) == "found it"
    # Counts start over, for one session only: through the admin API, and with the session.
    assert admin(mockagent_server, "DELETE", "/sequences").json() == {"reset": True}
    beeos_error(beeos(mockagent_server, "retrying", "search"), 429)
    beeos_error(beeos(mockagent_server, "retrying", "search", session="alice"), 503)
    assert admin(mockagent_server, "DELETE", "/sessions/alice").json() == {"session": "alice", "reset": True}
    beeos_error(beeos(mockagent_server, "retrying", "search", session="alice"), 429)
    assert list(admin(mockagent_server, "GET", "/sequences?session=alice").json().values()) == [1]


# ── states ───────────────────────────────────────────────────────────────────────────────────────


@pytest.mark.mockagent(scenarios=[SCENARIOS], allow_unmatched=True)
def test_states_are_required_and_set_across_requests(mockagent_server: ThreadedMockServer) -> None:
    shipped = beeos_error(beeos(mockagent_server, "shop", "ship it"), 404)  # nothing paid yet
    assert "state checkout equals 'paid': it is 'started'" in shipped["message"]
    assert admin(mockagent_server, "GET", "/states").json() == {}
    # The first payment is a 503 whose item sets a state of its own; the second pays.
    beeos_error(beeos(mockagent_server, "shop", "pay"), 503)
    assert admin(mockagent_server, "GET", "/states").json() == {"attempts": "failed-once"}
    assert said(beeos(mockagent_server, "shop", "pay")) == "paid"
    assert said(beeos(mockagent_server, "shop", "status?")) == "on its way"
    assert said(beeos(mockagent_server, "shop", "ship it")) == "shipped"
    assert said(beeos(mockagent_server, "shop", "status?")) == "on its way"
    # Paid no more: `pay` requires `started`, so nothing answers it.
    assert "it is 'shipped'" in beeos_error(beeos(mockagent_server, "shop", "pay"), 404)["message"]
    assert admin(mockagent_server, "GET", "/states").json() == {
        "attempts": "failed-once",
        "checkout": "shipped",
        "parcel": "2",  # a number is set as its text
    }
    # A reply may set a state back to `started`; the payment sequence goes on where it was (its last item).
    assert said(beeos(mockagent_server, "shop", "reopen")) == "reopened"
    assert said(beeos(mockagent_server, "shop", "pay")) == "paid"


@pytest.mark.mockagent(scenarios=[SCENARIOS], allow_unmatched=True)
def test_states_are_kept_per_session(mockagent_server: ThreadedMockServer) -> None:
    beeos_error(beeos(mockagent_server, "shop", "pay", session="alice"), 503)
    assert said(beeos(mockagent_server, "shop", "pay", session="alice")) == "paid"
    assert said(beeos(mockagent_server, "shop", "ship", session="alice")) == "shipped"
    beeos_error(beeos(mockagent_server, "shop", "ship"), 404)  # the default session paid nothing
    beeos_error(beeos(mockagent_server, "shop", "ship", session="bob"), 404)
    assert admin(mockagent_server, "GET", "/states").json() == {}
    alice = {"X-Mockagent-Session": "alice"}
    assert admin(mockagent_server, "GET", "/states", headers=alice).json()["checkout"] == "shipped"
    assert admin(mockagent_server, "GET", "/states?session=bob").json() == {}
    # Resetting the session puts its states back to `started` and its sequences to their first item.
    admin(mockagent_server, "DELETE", "/sessions/alice")
    assert admin(mockagent_server, "GET", "/states", headers=alice).json() == {}
    beeos_error(beeos(mockagent_server, "shop", "pay", session="alice"), 503)


@pytest.mark.mockagent(scenarios=[SCENARIOS], allow_unmatched=True)
def test_the_admin_api_reads_sets_and_resets_states(mockagent_server: ThreadedMockServer) -> None:
    alice = {"X-Mockagent-Session": "alice"}
    put = admin(mockagent_server, "PUT", "/states/checkout", json={"state": "cancelled"}, headers=alice)
    assert (put.status_code, put.json()) == (200, {"name": "checkout", "state": "cancelled"})
    assert said(beeos(mockagent_server, "shop", "anything", session="alice")) == "cancelled"
    beeos_error(beeos(mockagent_server, "shop", "anything"), 404)  # only alice's order was cancelled
    admin(mockagent_server, "PUT", "/states/other", json={"state": "x"}, headers=alice)
    assert admin(mockagent_server, "GET", "/states", headers=alice).json() == {"checkout": "cancelled", "other": "x"}
    one = admin(mockagent_server, "DELETE", "/states/checkout", headers=alice)
    assert one.json() == {"name": "checkout", "reset": True}
    assert admin(mockagent_server, "DELETE", "/states/checkout", headers=alice).json()["reset"] is False
    beeos_error(beeos(mockagent_server, "shop", "anything", session="alice"), 404)
    assert admin(mockagent_server, "DELETE", "/states", headers=alice).json() == {"reset": ["other"]}
    assert admin(mockagent_server, "GET", "/states", headers=alice).json() == {}


@pytest.mark.parametrize(
    ("body", "message"),
    [
        ({"value": "paid"}, 'expected {"state": "<value>"}'),
        ({"state": 3}, "the value is text"),
        ({"state": "x" * 1025}, "at most 1024 characters"),
        ("not an object", 'expected {"state": "<value>"}'),
    ],
)
def test_a_wrong_state_is_refused(mockagent_server: ThreadedMockServer, body: Any, message: str) -> None:
    response = admin(mockagent_server, "PUT", "/states/checkout", json=body)
    assert response.status_code == 400
    assert message in response.json()["error"]
    assert admin(mockagent_server, "GET", "/states").json() == {}


def test_state_changes_follow_the_admin_apis_origin_rule(mockagent_server: ThreadedMockServer) -> None:
    evil = {"Origin": "http://evil.example"}
    assert admin(mockagent_server, "PUT", "/states/checkout", json={"state": "paid"}, headers=evil).status_code == 403
    assert admin(mockagent_server, "DELETE", "/states", headers=evil).status_code == 403
    assert admin(mockagent_server, "GET", "/states").json() == {}


@pytest.mark.mockagent(scenarios=[SCENARIOS], allow_unmatched=True)
def test_the_threaded_fixture_reads_sets_and_resets_states(mockagent_server: ThreadedMockServer) -> None:
    mockagent_server.set_state("checkout", "paid", session="alice")
    assert said(beeos(mockagent_server, "shop", "ship", session="alice")) == "shipped"
    assert mockagent_server.states(session="alice") == {"checkout": "shipped", "parcel": "2"}
    assert mockagent_server.states() == {}
    mockagent_server.set_state("checkout", "cancelled")
    assert said(beeos(mockagent_server, "shop", "ship")) == "cancelled"
    mockagent_server.reset_states(session="alice")
    assert mockagent_server.states(session="alice") == {}
    assert mockagent_server.states() == {"checkout": "cancelled"}
    beeos_error(beeos(mockagent_server, "shop", "ship", session="alice"), 404)


@pytest.mark.mockagent(scenarios=[SCENARIOS], allow_unmatched=True)
async def test_the_async_fixture_reads_sets_and_resets_states(mockagent_aserver: MockServer) -> None:
    url = f"{mockagent_aserver.base_url('beeos')}/api/v1/agents/shop/invoke"
    async with httpx.AsyncClient(timeout=10) as client:
        mockagent_aserver.set_state("checkout", "paid", session="bob")
        bob = {**BEEOS, "X-Mockagent-Session": "bob"}
        assert said(await client.post(url, json={"message": "ship"}, headers=bob)) == "shipped"
        assert mockagent_aserver.states("bob")["checkout"] == "shipped"
        assert (await client.post(url, json={"message": "ship"}, headers=BEEOS)).status_code == 404
        mockagent_aserver.reset_states("bob")
        assert mockagent_aserver.states("bob") == {}
        assert (await client.post(url, json={"message": "ship"}, headers=bob)).status_code == 404


# ── load errors ──────────────────────────────────────────────────────────────────────────────────


def problems_of(path: Path, text: str) -> list[str]:
    path.write_text(text)
    with pytest.raises(ScenarioError) as caught:
        load_text(path, text)
    return [str(problem) for problem in caught.value.problems]


def test_a_state_nothing_sets_is_named_where_it_is_required(tmp_path: Path) -> None:
    path = tmp_path / "s.yaml"
    text = (
        "agents:\n  - id: shop\n    replies:\n"
        "      - when: {contains: pay}\n        script: [{say: paid}]\n"
        "        then: {state: {checkout: paid}}\n"
        "      - when: {state: {checkout: payed}}\n        script: [{say: typo}]\n"
        "      - when: {not: {state: {chekout: [paid]}}}\n        script: [{say: typo}]\n"
    )
    assert problems_of(path, text) == [
        f"{path}:7:24: state 'checkout' is never set to 'payed' by any reply (values set: 'paid', 'started'); "
        "values set from outside are declared under 'states:'",
        f"{path}:9:30: state 'chekout' is never set by any reply (it stays 'started'); "
        "values set from outside are declared under 'states:'",
    ]
    # Declared as set from outside, it loads.
    declared = "states:\n  checkout: payed\n  chekout: [paid]\n" + text
    path.write_text(declared)
    assert load_text(path, declared).states == {"checkout": frozenset({"payed"}), "chekout": frozenset({"paid"})}


def test_a_state_set_in_one_file_may_be_required_in_another(tmp_path: Path) -> None:
    (tmp_path / "a.yaml").write_text(
        "agents:\n  - id: a\n    default:\n      script: [{say: a}]\n      then: {state: {door: open}}\n"
    )
    (tmp_path / "b.yaml").write_text(
        "agents:\n  - id: b\n    replies:\n      - when: {state: {door: open}}\n        script: [{say: b}]\n"
    )
    assert sorted(load_paths([tmp_path]).agents) == ["a", "b"]


REPLY = "agents:\n  - id: a\n    replies:\n      - {reply}\n"


@pytest.mark.parametrize(
    ("reply", "where", "message"),
    [
        ("{sequence: [[{say: a}]], exhausted: forever}", "4:45", "exhausted 'forever' is not one of"),
        ("{sequence: []}", "4:20", "a sequence needs at least one item"),
        (
            "{script: [{say: a}], sequence: [[{say: b}]]}",
            "4:40",
            "with a 'script' or a 'sequence', not both",
        ),
        ("{then: {state: {a: b}}}", "4:9", "a reply needs 'script' (or 'sequence')"),
        ("{script: [{say: a}], exhausted: cycle}", "4:41", "'exhausted' says what a used-up sequence answers"),
        ("{sequence: [{say: a}]}", "4:21", "'say' is a step: write `- [{say: …}]`"),
        ("{sequence: [{fault: latency=2, script: [{say: a}]}]}", "4:29", "a sequence item answers at once"),
        ("{sequence: [{fault: ok}]}", "4:29", "'ok' is no answer in a sequence"),
        ("{sequence: [{fault: 429, script: [{say: a}]}]}", "4:29", "a 429 answers in place of a script"),
        ("{sequence: [{fault: no-terminal}]}", "4:29", "breaks a turn's stream: give the item the script"),
        ("{sequence: [{fault: 418}]}", "4:29", "fault '418' is not understood"),
        ("{sequence: [{script: [{say: a}], retry_after: 2}]}", "4:55", "retry_after goes with a status fault"),
        ("{script: [{say: a}], then: {state: {a: [b]}}}", "4:48", "then.state a must be a single value"),
        ("{script: [{say: a}], then: {state: {a: yes}}}", "4:48", "True is a boolean to YAML, and a state is text"),
        ("{when: {state: {a: no}}, script: [{say: a}]}", "4:28", "False is a boolean to YAML, and state a is text"),
        ("{script: [{say: a}], then: {state: {}}}", "4:44", "then.state needs at least one name"),
        ("{script: [{say: a}], then: {stat: {a: b}}}", "4:37", "unknown key 'stat' in then (did you mean 'state'?)"),
    ],
)
def test_a_wrong_sequence_is_named_at_its_place(tmp_path: Path, reply: str, where: str, message: str) -> None:
    path = tmp_path / "s.yaml"
    found = problems_of(path, REPLY.format(reply=reply))
    assert any(problem.startswith(f"{path}:{where}: ") and message in problem for problem in found), found


def test_every_wrong_item_is_reported(tmp_path: Path) -> None:
    path = tmp_path / "s.yaml"
    text = "agents:\n  - id: a\n    default:\n      sequence:\n        - fault: 999\n        - 42\n"
    found = problems_of(path, text)
    assert [problem.split(": ")[0] for problem in found[:2]] == [f"{path}:5:18", f"{path}:6:11"]


# ── the docs' examples do what their comments say ─────────────────────────────────────────────────


def docs_example(heading: str, tmp_path: Path) -> Path:
    """The first yaml block under `heading` in docs/scenarios.md, as a file."""
    text = (Path(__file__).resolve().parent.parent / "docs" / "scenarios.md").read_text()
    section = text[text.index(f"\n## {heading}\n") :]
    block = section[section.index("```yaml\n") + len("```yaml\n") :]
    path = tmp_path / f"{heading.lower()}.yaml"
    path.write_text(block[: block.index("```")])
    return path


def beeos_stream(server: ThreadedMockServer, agent: str, message: str) -> tuple[bool, str]:
    """A streamed BeeOS invoke: whether the stream ended cleanly, and the text of its deltas."""
    url = f"{server.base_url('beeos')}/api/v1/agents/{agent}/invoke"
    body = []
    try:
        headers = {**BEEOS, "Accept": "text/event-stream"}
        with httpx.stream("POST", url, json={"message": message}, headers=headers, timeout=10) as response:
            assert response.status_code == 200
            body.extend(response.iter_text())
    except httpx.RemoteProtocolError:
        return False, "".join(body)
    return True, "".join(body)


def test_the_docs_sequences_example(tmp_path: Path) -> None:
    path = docs_example("Sequences", tmp_path)
    with ThreadedMockServer(Settings(scenario_paths=(path,))) as server:
        calls = [beeos(server, "search", "search") for _ in range(6)]
        assert [(r.status_code, r.headers.get("Retry-After")) for r in calls[:2]] == [(429, "1"), (429, "2")]
        assert said(calls[2]) == "Found 3 results."
        assert calls[3].status_code == 503
        assert [said(r) for r in calls[4:]] == ["Found 4 results."] * 2
        assert said(beeos(server, "search", "hello")) == "Ask me to search."
        # The stream reply cycles: dropped after one frame, whole, dropped again.
        streams = [beeos_stream(server, "search", "stream") for _ in range(3)]
        assert [ended for ended, _ in streams] == [False, True, False]
        assert [len(parse(text)) for _, text in streams[::2]] == [1, 1]
        assert "whole" in streams[1][1]
        assert said(beeos(server, "once", "hello")) == "The only answer."
        assert "is used up" in beeos_error(beeos(server, "once", "hello"), 404)["message"]


def test_the_docs_states_example(tmp_path: Path) -> None:
    path = docs_example("States", tmp_path)
    with ThreadedMockServer(Settings(scenario_paths=(path,))) as server:
        beeos_error(beeos(server, "shop", "ship"), 404)
        beeos_error(beeos(server, "shop", "pay"), 503)
        assert said(beeos(server, "shop", "pay")) == "Paid."
        assert said(beeos(server, "shop", "status")) == "On its way."
        assert said(beeos(server, "shop", "ship")) == "Shipped."
        assert said(beeos(server, "shop", "status")) == "On its way."
        server.set_state("checkout", "cancelled")
        assert said(beeos(server, "shop", "status")) == "The order was cancelled."
