"""Templates in every text and JSON value of a script (tests/scenarios/templating.yaml), over HTTP as clients
see them: the variables (the request's body, headers without secrets and query, the history, the session,
the agent, the clock's moment, the per-session counter), the seeded helpers reproducible from run to run and
their own in each session, tool call ids, arguments and outputs, ask options and fail messages in each
platform's frames; and what is refused — at load where it can be seen, else as the platform's 500 naming the
value's file, line and column and quoting its template."""

from __future__ import annotations

import json
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any

import httpx
import pytest
from beeos_client import beeos
from credentials import BEEOS, JWT
from sse import json_frames, parse

from mockagent.errors import ScenarioError
from mockagent.scenarios import load_text
from mockagent.server import ThreadedMockServer
from mockagent.settings import Settings

ROOT = Path(__file__).resolve().parent.parent
SCENARIOS = "tests/scenarios/templating.yaml"
FILE = ROOT / SCENARIOS
SAFETY = 30.0  # real seconds: a bound on a request that must be answered, never a measurement

pytestmark = pytest.mark.mockagent(manual_clock=True, scenarios=[SCENARIOS])

AGENTOS = {"Authorization": "Bearer aos_ws_test"}
XPANDER = {"x-api-key": "xp-test-key"}
ZEUS = {"Authorization": f"Bearer {JWT}"}
ASTER = {"Authorization": f"Bearer {JWT}"}
LLM = {"baseUrl": "http://llm.invalid", "apiKey": "sk-secret", "modelName": "m"}
USER = {"id": "u1", "email": "u1@example.com"}


def said(response: httpx.Response) -> str:
    assert response.status_code == 200, response.text
    text: str = response.json()["data"]["text"]
    return text


def shown(response: httpx.Response) -> dict[str, Any]:
    """What the `show` agent saw, from its JSON text."""
    seen: dict[str, Any] = json.loads(said(response))
    return seen


def zeus(server: ThreadedMockServer, agent: str, message: str) -> list[dict[str, Any]]:
    url = f"{server.base_url('zeus')}/api/agent/invoke"
    body = {"message": message, "llm_config": LLM}
    response = httpx.post(url, json=body, headers=ZEUS, params={"agent": agent}, timeout=SAFETY)
    assert response.status_code == 200, response.text
    return json_frames(response.text)


def aster(server: ThreadedMockServer, aster_id: int, message: str) -> list[dict[str, Any]]:
    body = {"agentId": aster_id, "message": {"role": "user", "parts": [{"type": "text", "text": message}]}}
    response = httpx.post(f"{server.base_url('aster')}/chat", json=body, headers=ASTER, timeout=SAFETY)
    assert response.status_code == 200, response.text
    frames = parse(response.text)
    assert frames[-1].data == "[DONE]"
    return [frame.json() for frame in frames[:-1]]


def agentos(server: ThreadedMockServer, agent: str, message: str) -> httpx.Response:
    url = f"{server.base_url('agentos')}/api/v1/agents/{agent}/invoke"
    return httpx.post(url, json={"input": {"query": message}}, headers=AGENTOS, timeout=SAFETY)


def wall(server: ThreadedMockServer, session: str = "default") -> datetime:
    """The session clock's wall time, as the admin API tells it."""
    answer = httpx.get(f"{server.url}/__mockagent/clock", params={"session": session}, timeout=SAFETY).json()
    return datetime.fromisoformat(answer["wall"])


def iso(moment: datetime) -> str:
    return moment.isoformat(timespec="milliseconds").replace("+00:00", "Z")


# ── the variables ────────────────────────────────────────────────────────────────────────────────────


def test_every_variable_of_a_first_turn(mockagent_server: ThreadedMockServer) -> None:
    secrets = {"Cookie": "sid=abc", "X-Api-Key": "k-123", "X-Session-Token": "t-456", "Proxy-Authorization": "p"}
    response = beeos(
        mockagent_server,
        "show",
        "hi there",
        headers={"X-Env": "prod", "X-Mockagent-Session": "s1", **secrets},
        query="?dry_run=1&api_key=q-789&page=2",
    )
    seen = shown(response)
    moment = wall(mockagent_server, "s1")
    assert seen == {
        "message": "hi there",
        "answer": "",
        "turn": 1,
        "conversation_id": response.json()["data"]["context_id"],
        "agent_id": "show",
        "platform": "beeos",
        "groups": {},
        "body": {"message": "hi there"},
        "headers": seen["headers"],
        "query": {"dry_run": "1", "page": "2"},  # no api_key
        "history": [],
        "session": "s1",
        "agent": {"id": "show", "name": "Show", "description": "Tells what its templates see"},
        "now": iso(moment),
        "epoch": int(moment.timestamp()),
        "counter": 1,
        "env": "prod",  # headers["X-ENV"]: any case
        "env_get": "prod",
    }
    headers = seen["headers"]
    assert headers["x-env"] == "prod"
    assert headers["x-mockagent-session"] == "s1"
    assert headers["content-type"] == "application/json"
    # No secret reaches a template: the credential, the cookie, the key and token headers are left out.
    assert not {"authorization", "cookie", "x-api-key", "x-session-token", "proxy-authorization"} & set(headers)
    assert not any(value in json.dumps(seen) for value in ("oag_", "abc", "k-123", "t-456", "q-789"))


def test_a_repeated_header_is_joined_and_a_repeated_parameter_is_its_first(
    mockagent_server: ThreadedMockServer,
) -> None:
    url = f"{mockagent_server.base_url('beeos')}/api/v1/agents/show/invoke?tag=a&tag=b"
    headers = [*BEEOS.items(), ("X-Tag", "one"), ("x-tag", "two")]
    seen = shown(httpx.post(url, json={"message": "hi"}, headers=headers, timeout=SAFETY))
    assert (seen["headers"]["x-tag"], seen["query"]) == ("one, two", {"tag": "a"})


def test_a_later_turn_sees_the_history_and_the_counter_goes_on(mockagent_server: ThreadedMockServer) -> None:
    first = beeos(mockagent_server, "show", "one")
    context = first.json()["data"]["context_id"]
    mockagent_server.advance(5)
    second = shown(beeos(mockagent_server, "show", "two", context_id=context))
    assert (second["turn"], second["counter"], second["conversation_id"]) == (2, 2, context)
    assert second["history"] == [{"message": "one", "reply": said(first)}]
    assert second["now"] == iso(wall(mockagent_server))
    assert second["epoch"] == shown(first)["epoch"] + 5
    # Another conversation of the session: its own turn and history, the session's counter.
    third = shown(beeos(mockagent_server, "show", "three"))
    assert (third["turn"], third["counter"], third["history"]) == (1, 3, [])


def test_the_counter_is_the_sessions_own(mockagent_server: ThreadedMockServer) -> None:
    def counter(session: str) -> int:
        seen = shown(beeos(mockagent_server, "show", "hi", headers={"X-Mockagent-Session": session}))
        assert seen["session"] == session
        return int(seen["counter"])

    assert [counter("a"), counter("a"), counter("b"), counter("a"), counter("b")] == [1, 2, 1, 3, 2]


def test_a_turn_whose_template_fails_gives_its_number_back(mockagent_server: ThreadedMockServer) -> None:
    assert shown(beeos(mockagent_server, "show", "hi"))["counter"] == 1
    assert beeos(mockagent_server, "omega", "hi").status_code == 500
    assert shown(beeos(mockagent_server, "show", "hi"))["counter"] == 2


@pytest.mark.parametrize("platform", ["agentos", "zeus", "aster"])
def test_the_variables_on_other_platforms(mockagent_server: ThreadedMockServer, platform: str) -> None:
    if platform == "agentos":
        response = agentos(mockagent_server, "show", "hello")
        assert response.status_code == 200, response.text
        seen = json.loads(response.json()["data"]["output"]["text"])
        assert seen["body"] == {"input": {"query": "hello"}}
    elif platform == "zeus":
        frames = zeus(mockagent_server, "show", "hello")
        seen = json.loads("".join(f["content"] for f in frames if f["type"] == "message_chunk"))
        assert seen["body"] == {"message": "hello", "llm_config": LLM}  # the body as sent
    else:
        chunks = aster(mockagent_server, 1, "hello")
        seen = json.loads("".join(c["delta"] for c in chunks if c["type"] == "text-delta"))
        assert seen["body"]["message"]["parts"] == [{"type": "text", "text": "hello"}]
    assert (seen["message"], seen["platform"], seen["agent_id"], seen["turn"]) == ("hello", platform, "show", 1)
    assert "authorization" not in seen["headers"]


def test_regex_groups_reach_the_template(mockagent_server: ThreadedMockServer) -> None:
    assert said(beeos(mockagent_server, "order", "order 42")) == "Order 42"


def test_now_is_the_moment_of_the_step(mockagent_server: ThreadedMockServer) -> None:
    start = wall(mockagent_server)
    response = mockagent_server.advance_during(lambda: beeos(mockagent_server, "clock", "hi"), 60)
    first, first_epoch, second, second_epoch = said(response).split()
    assert (first, int(first_epoch)) == (iso(start), int(start.timestamp()))
    later = start + timedelta(seconds=60)
    assert (second, int(second_epoch)) == (iso(later), int(later.timestamp()))


# ── the seeded helpers ───────────────────────────────────────────────────────────────────────────────


def draws(server: ThreadedMockServer, session: str) -> list[str]:
    return said(beeos(server, "draws", "hi", headers={"X-Mockagent-Session": session})).split()


def test_the_helpers_draw_the_same_values_in_every_run_and_their_own_in_each_session() -> None:
    runs = []
    for _ in range(2):  # two servers, the same requests
        with ThreadedMockServer(Settings(scenario_paths=(FILE,), manual_clock=True)) as server:
            runs.append([draws(server, "a"), draws(server, "a"), draws(server, "b")])
    assert runs[0] == runs[1]
    first, again, other = runs[0]
    uuid, digits, prefixed, number, whole, item, counter = first
    assert (len(uuid), uuid[14], len(digits), prefixed[:4], len(prefixed)) == (36, "4", 24, "ord_", 28)
    assert 0 <= float(number) < 1
    assert 1 <= int(whole) <= 10**12
    assert item in "abcdef"
    assert (counter, again[-1], other[-1]) == ("1", "2", "1")
    assert first[:-1] != again[:-1]  # the next turn draws anew
    assert first[:-1] != other[:-1]  # another session draws its own
    assert len(set(first[:3])) == 3  # each call draws anew


# ── JSON values, options and messages in the platforms' frames ─────────────────────────────────────


ARGS = {
    "query": "hi",
    "length": 2,  # a value that is one {{ expression }} keeps its type
    "upper": "HI",
    "turn": 1,
    "text": "turn 1",  # text around an expression: text
    "tags": ["PLATFORM", "fixed", 3],
    "nested": {"agent": {"id": "tools", "name": "tools", "description": ""}, "json": '{"a": [1, 2]}'},
    "none": None,
}
OUTPUT = {"echo": "hi", "items": [1, 2, 1], "plain": {"a": 1}}


def test_tool_call_ids_arguments_and_outputs_in_zeus_frames(mockagent_server: ThreadedMockServer) -> None:
    frames = zeus(mockagent_server, "tools", "hi")
    call, result = frames[0], frames[1]
    assert call["tool_call_id"].startswith("call_")
    assert len(call["tool_call_id"]) == 29
    assert call["tool_args"] == {**ARGS, "tags": ["zeus", "fixed", 3]}
    assert result == {"type": "tool_result", "tool_name": "lookup", "result": OUTPUT}


def test_tool_call_ids_arguments_and_outputs_in_aster_frames(mockagent_server: ThreadedMockServer) -> None:
    chunks = aster(mockagent_server, 2, "hi")
    (available,) = [c for c in chunks if c["type"] == "tool-input-available"]
    (output,) = [c for c in chunks if c["type"] == "tool-output-available"]
    assert available["toolCallId"].startswith("call_")
    assert available["input"] == {**ARGS, "tags": ["aster", "fixed", 3]}
    assert output == {"type": "tool-output-available", "toolCallId": available["toolCallId"], "output": OUTPUT}


def test_values_without_templates_are_sent_as_written(mockagent_server: ThreadedMockServer) -> None:
    frames = zeus(mockagent_server, "plain-tools", "hi")
    assert frames[0]["tool_args"] == {"city": "Paris", "days": [1, 2]}
    assert frames[1]["result"] == {"temp_c": 21}


def test_ask_options_and_the_answer(mockagent_server: ThreadedMockServer) -> None:
    paused = agentos(mockagent_server, "choose", "api")
    data = paused.json()["data"]
    question = data["awaiting_input"]
    assert (question["question"], question["options"]) == ("Deploy api where?", ["api-staging", "api-production"])
    base = mockagent_server.base_url("agentos")
    answered = httpx.post(
        f"{base}/api/v1/runs/{data['run_id']}/human-input",
        json={"response": "api-staging"},
        headers=AGENTOS,
        timeout=SAFETY,
    )
    assert answered.json()["data"]["output"] == {"text": "Deploying to api-staging"}
    # In chat (BeeOS invoke) the options follow the question.
    assert said(beeos(mockagent_server, "choose", "web")) == "Deploy web where? (web-staging / web-production)"


def test_fail_messages(mockagent_server: ThreadedMockServer) -> None:
    frames = zeus(mockagent_server, "broken", "fly")
    assert frames[-1] == {"type": "error", "error": "Could not fly on turn 1", "error_code": "agent_error"}
    data = beeos(mockagent_server, "broken", "swim").json()["data"]
    assert (data["text"], data["is_error"]) == ("Could not swim on turn 1", True)


def test_an_approval_question_shows_the_rendered_arguments(mockagent_server: ThreadedMockServer) -> None:
    assert said(beeos(mockagent_server, "approve", "ops")) == 'May I call send with {"to": "ops@example.com"}? (yes/no)'
    frames = zeus(mockagent_server, "approve", "dev")
    assert frames[-1]["tool_calls"][0]["tool_args"] == {"to": "dev@example.com"}


def test_explicit_chunks(mockagent_server: ThreadedMockServer) -> None:
    url = f"{mockagent_server.base_url('beeos')}/api/v1/agents/chunks/invoke"
    response = httpx.post(url, json={"message": "you"}, headers={**BEEOS, "Accept": "text/event-stream"})
    deltas = [f["text"] for f in json_frames(response.text) if f["type"] == "delta"]
    assert deltas == ["Hello ", "you", "!"]


# ── refused as they render: the platform's 500, naming the value ────────────────────────────────────


def failure(response: httpx.Response, position: str, template: str) -> str:
    """The reason of the BeeOS 500 naming the template at `position` of templating.yaml, and quoting it."""
    assert response.status_code == 500, response.text
    message: str = response.json()["error"]["message"]
    prefix = f"{FILE}:{position}: the template {template!r} failed to render: "
    assert message.startswith(prefix), message
    return message.removeprefix(prefix)


@pytest.mark.parametrize(
    ("agent", "message", "position", "template", "reason"),
    [
        ("big-args", "x" * 100, "71:42", "{{ message * 100000 }}", "* would make 10,000,000 characters, more than"),
        ("many-args", "x" * 600_000, "74:80", "{{ message }}", "the templates of the value together made more"),
        ("big-range", "1000000000", "78:31", "{{ range(message | int) | list }}", "the number 1e+09 is larger than"),
        ("omega", "hi", "81:15", "{% macro a(x) %}{{ x(x) }}{% endmacro %}{{ a(a) }}", "macros called one inside"),
        ("walk", "__class__", "84:45", "{{ message | attr(message) }}", "access to attribute '__class__' of 'str'"),
        ("helper-value", "hi", "87:41", "{{ uuid }}", "the value is a helper: call it, which is not JSON data"),
    ],
)
def test_what_fails_as_it_renders_is_the_platforms_500(
    mockagent_server: ThreadedMockServer, agent: str, message: str, position: str, template: str, reason: str
) -> None:
    assert failure(beeos(mockagent_server, agent, message), position, template).startswith(reason)
    assert mockagent_server.session().runs_of() == []  # the turn did not happen
    assert mockagent_server.session().conversations == {}


def test_a_render_error_in_a_json_value_is_each_platforms_500(mockagent_server: ThreadedMockServer) -> None:
    response = agentos(mockagent_server, "big-args", "x" * 100)
    assert response.status_code == 500
    assert response.json()["error"]["message"].startswith(f"{FILE}:71:42: the template ")
    url = f"{mockagent_server.base_url('zeus')}/api/agent/invoke"
    body = {"message": "x" * 100, "llm_config": LLM}
    response = httpx.post(url, json=body, headers=ZEUS, params={"agent": "big-args"}, timeout=SAFETY)
    assert response.status_code == 500
    assert response.json()["detail"].startswith(f"{FILE}:71:42: the template ")


# ── refused at load, at the value ────────────────────────────────────────────────────────────────────


def load_problem(tmp_path: Path, step: str) -> str:
    """The one problem of a file whose agent's script is `step` (written at line 4, column 9)."""
    path = tmp_path / "agents.yaml"
    text = f"agents:\n  - id: a\n    script:\n      - {step}\n"
    with pytest.raises(ScenarioError) as caught:
        load_text(path, text)
    (problem,) = str(caught.value).splitlines()
    return problem.removeprefix(f"{path}:")


REFUSED = [
    ("{{ ''.__class__ }}", "'__class__': names starting with _ are not available in templates"),
    ("{{ uuid.__globals__ }}", "'__globals__': names starting with _ are not available in templates"),
    ("{{ range(10**9) }}", "a range of 1,000,000,000 numbers; a range in a template has at most 100,000"),
    ("{{ 'x' * 10**9 }}", "'x' * 1e+09 would make more than 1,048,576 characters"),
    ("{% macro f(n) %}{{ f(n) }}{% endmacro %}{{ f(1) }}", "the macro 'f' calls itself (directly or through"),
    ("{% macro f() %}{{ g() }}{% endmacro %}{% macro g() %}{{ f() }}{% endmacro %}", "the macro 'f' calls itself"),
    ("{{ mesage }}", "unknown template variable 'mesage' (did you mean 'message'?)"),
]


@pytest.mark.parametrize(("template", "problem"), REFUSED)
@pytest.mark.parametrize(
    ("step", "what"),
    [
        ('tool_call: {name: t, args: {a: {b: ["x", "T"]}}}', "tool_call.args.a.b[1]"),
        ('tool_call: {name: t, id: "T"}', "tool_call.id"),
        ('tool_call: {name: t}\n      - tool_result: {output: ["T"]}', "tool_result.output[0]"),
        ('tool_call: {name: t}\n      - tool_result: {output: "T"}', "tool_result.output"),
        ('ask: {question: q, options: [a, "T"]}', "ask.options"),
        ('fail: {message: "T"}', "fail.message"),
        ('say: {chunks: [a, "T"]}', "say.chunks"),
    ],
)
def test_what_a_template_would_do_wrong_is_a_load_error_at_its_value(
    tmp_path: Path, step: str, what: str, template: str, problem: str
) -> None:
    lines = f"      - {step}".splitlines()
    line = next(n for n, text in enumerate(lines) if '"T"' in text)
    column = lines[line].index('"T"') + 1
    where = f"{4 + line}:{column}"  # the quoted value, in the file load_problem writes
    found = load_problem(tmp_path, step.replace("T", template))
    assert found.startswith(f"{where}: {what}: {problem}"), found


def test_every_wrong_value_of_a_json_value_is_reported(tmp_path: Path) -> None:
    path = tmp_path / "agents.yaml"
    step = "      - tool_call: {name: t, args: {a: '{{ nope }}', b: '{{ x.__y }}'}}"
    with pytest.raises(ScenarioError) as caught:
        load_text(path, f"agents:\n  - id: a\n    script:\n{step}\n")
    a, b = step.index("'{{ nope"), step.index("'{{ x")
    assert [line.split(": ")[0:2] for line in str(caught.value).splitlines()] == [
        [f"{path}:4:{a + 1}", "tool_call.args.a"],
        [f"{path}:4:{b + 1}", "tool_call.args.b"],
    ]


def test_the_helpers_numbers_size_nothing(tmp_path: Path) -> None:
    path = tmp_path / "agents.yaml"
    load_text(path, "agents:\n  - id: a\n    script:\n      - say: '{{ randint(1, 10**12) }}'\n")
