"""Admission on every platform route: a forced fault answers in the platform's envelope once the request is
authenticated, validated and its target found, and before the request changes anything.

The cases below cover every route each platform's `routes()` declares; `test_every_route_has_a_case`
fails when a route is added without one.
"""

from __future__ import annotations

import re
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from typing import Any

import httpx
import pytest
from credentials import JWT
from sse import json_frames

from mockagent.appkeys import PLATFORMS
from mockagent.clock import ManualClock
from mockagent.platforms.beeos.records import BeeOSRecords
from mockagent.platforms.beeos.unmodelled import UNMODELLED
from mockagent.runs import Run
from mockagent.server import ThreadedMockServer

pytestmark = pytest.mark.mockagent(manual_clock=True)

FAULT = "X-Mockagent-Fault"
AUTH = {
    "beeos": {"Authorization": "Bearer oag_" + "a" * 64},
    "agentos": {"Authorization": "Bearer aos_ws_test"},
    "xpander": {"x-api-key": "xp-test-key"},
    "zeus": {"Authorization": f"Bearer {JWT}"},
    "aster": {"Authorization": f"Bearer {JWT}"},
}
USER = {"id": "u1", "email": "u1@example.com"}
LLM = {"baseUrl": "http://llm.invalid", "apiKey": "sk-secret", "modelName": "m"}
BACKGROUND = {"X-Stream-Response": "false"}  # Aster's 202 + poll form
UNKNOWN = "00000000-0000-4000-8000-000000000000"

Ids = dict[str, str]


# ── requests ──────────────────────────────────────────────────────────────────────────────────────


@dataclass(frozen=True)
class Case:
    """A valid request to one declared route. `target` (path and query under the platform's mount) and
    string values in `json` are templates filled with the ids the platform's setup made."""

    platform: str
    method: str
    route: str  # the path exactly as the platform's routes() declares it
    target: str
    json: Any = None
    content: bytes | None = None
    headers: dict[str, str] = field(default_factory=dict)
    auth: bool = True
    name: str = ""  # tells apart two cases of one route
    setup: bool = True  # False: the request names nothing the platform's setup makes

    @property
    def key(self) -> tuple[str, str, str]:
        return (self.platform, self.method, self.route)

    @property
    def id(self) -> str:
        return f"{self.platform} {self.method} {self.route}" + (f" [{self.name}]" if self.name else "")


def fill(value: Any, ids: Ids) -> Any:
    if isinstance(value, str):
        return value.format_map(ids)
    if isinstance(value, dict):
        return {k: fill(v, ids) for k, v in value.items()}
    if isinstance(value, list):
        return [fill(v, ids) for v in value]
    return value


def mount(server: ThreadedMockServer, platform: str) -> str:
    """Where the platform's declared paths are served (Aster's client base URL adds /api to it)."""
    return f"{server.url}/{platform}"


def send(server: ThreadedMockServer, case: Case, ids: Ids, headers: dict[str, str] | None = None) -> httpx.Response:
    all_headers = {**(AUTH[case.platform] if case.auth else {}), **case.headers, **(headers or {})}
    return httpx.request(
        case.method,
        mount(server, case.platform) + fill(case.target, ids),
        json=fill(case.json, ids),
        content=case.content,
        headers=all_headers,
        timeout=10,
    )


def call(
    server: ThreadedMockServer, platform: str, method: str, target: str, json: Any = None, **headers: str
) -> httpx.Response:
    return send(server, Case(platform, method, target, target, json, headers=headers), {})


def settle(server: ThreadedMockServer, request: Callable[[], httpx.Response]) -> httpx.Response:
    """Send a request that waits on its run, and move the manual clock on once the server waits for it."""
    clock = server.clock
    assert isinstance(clock, ManualClock)
    waiting = clock.waiting
    with ThreadPoolExecutor(max_workers=1) as pool:
        pending = pool.submit(request)
        server.until_waiting(waiting + 1)
        server.advance(1)
        return pending.result(timeout=10)


# ── what each platform's cases need ───────────────────────────────────────────────────────────────


def setup_beeos(server: ThreadedMockServer) -> Ids:
    """A task paused on the question agent; an uploaded file; a presigned upload not used yet."""
    created = call(server, "beeos", "POST", "/api/v1/agents/question/tasks", {"message": "deploy"})
    assert created.status_code == 202, created.text
    task = created.json()["data"]["task_id"]
    server.advance(1)  # dispatched after 0.5 s, then paused on its question
    polled = call(server, "beeos", "GET", f"/api/v1/agents/question/tasks/{task}")
    assert polled.json()["data"]["status"] == "input_required", polled.text

    def presign() -> dict[str, str]:
        response = call(
            server, "beeos", "POST", "/api/v1/files/presign-upload", {"filename": "a.txt", "content_type": "text/plain"}
        )
        assert response.status_code == 200, response.text
        data: dict[str, str] = response.json()["data"]
        return data

    uploaded, fresh = presign(), presign()
    put = httpx.put(uploaded["upload_url"], content=b"hello", headers={"Content-Type": "text/plain"}, timeout=10)
    assert put.status_code == 200, put.text
    root = mount(server, "beeos")
    return {
        "task": task,
        "file": uploaded["file_id"],
        "download": uploaded["download_url"].removeprefix(root),
        "upload": fresh["upload_url"].removeprefix(root),
    }


def setup_agentos(server: ThreadedMockServer) -> Ids:
    """A run awaiting input (question, in a session), one awaiting approval, and a started ingest run."""

    def invoke(agent: str, **options: Any) -> dict[str, Any]:
        body = {"input": {"query": "deploy"}, **options}
        response = settle(server, lambda: call(server, "agentos", "POST", f"/api/v1/agents/{agent}/invoke", body))
        assert response.status_code == 202, response.text
        data: dict[str, Any] = response.json()["data"]
        return data

    question, approval = invoke("question", start_session=True), invoke("approval")
    session = run_named(server, question["run_id"]).conversation.id
    ingest = call(server, "agentos", "POST", "/api/ingest/v1/run/start", {"agent_id": "external"})
    assert ingest.status_code == 200, ingest.text
    return {
        "run": question["run_id"],
        "session": session,
        "request": question["awaiting_input"]["request_id"],
        "approval": approval["awaiting_approval"]["approval_id"],
        "ingest": ingest.json()["data"]["run_id"],
    }


def setup_xpander(server: ThreadedMockServer) -> Ids:
    """A task paused on the question agent."""
    body = {"input": {"text": "deploy", "user": USER}}
    started = call(server, "xpander", "POST", "/v1/agents/question/invoke/async", body)
    assert started.status_code == 200, started.text
    task = started.json()["id"]
    server.advance(1)
    assert call(server, "xpander", "GET", f"/v1/tasks/{task}").json()["status"] == "paused"
    return {"task": task}


def setup_zeus(server: ThreadedMockServer) -> Ids:
    """A session with a pending approval interrupt."""
    body = {"message": "send it", "llm_config": LLM}
    response = settle(server, lambda: call(server, "zeus", "POST", "/api/agent/invoke?agent=approval", body))
    assert response.status_code == 200, response.text
    interrupt = json_frames(response.text)[-1]
    assert interrupt["type"] == "interrupt", response.text
    return {"session": interrupt["session_id"], "call": interrupt["tool_calls"][0]["tool_call_id"]}


def setup_aster(server: ThreadedMockServer) -> Ids:
    """A thread whose turn (echo, agentId 1) has completed."""
    body = {"agentId": 1, "message": {"role": "user", "parts": [{"type": "text", "text": "hi"}]}}
    started = call(server, "aster", "POST", "/api/chat", body, **BACKGROUND)
    assert started.status_code == 202, started.text
    thread = started.json()["threadId"]
    server.advance(1)
    polled = call(server, "aster", "GET", f"/api/getConversation?threadId={thread}")
    assert polled.json()["streamStatus"] == "completed", polled.text
    return {"thread": thread}


SETUPS: dict[str, Callable[[ThreadedMockServer], Ids]] = {
    "beeos": setup_beeos,
    "agentos": setup_agentos,
    "xpander": setup_xpander,
    "zeus": setup_zeus,
    "aster": setup_aster,
}


# ── the cases: one (or more) per declared route ────────────────────────────────────────────────────

AGENT = "/api/v1/agents/{agentId}"
TASK = AGENT + "/tasks/{taskId}"
B_TASK = "/api/v1/agents/question/tasks/{task}"
INGEST = "/api/ingest/v1"
X_INVOKE = "/v1/agents/{agent_id}/invoke"
X_TASK = "/v1/tasks/{task_id}"
CHAT = {"agentId": 1, "threadId": "{thread}", "message": {"role": "user", "parts": [{"type": "text", "text": "again"}]}}
RESUME = {
    "session_id": "{session}",
    "llm_config": LLM,
    "tool_call_results": [{"tool_call_id": "{call}", "tool_name": "send_email", "decision": "approved"}],
}

CASES = [
    # BeeOS
    Case("beeos", "POST", AGENT + "/invoke", "/api/v1/agents/echo/invoke", {"message": "hi"}),
    Case("beeos", "POST", AGENT + "/tasks", "/api/v1/agents/echo/tasks", {"message": "hi"}),
    Case("beeos", "GET", AGENT + "/tasks", "/api/v1/agents/question/tasks"),
    Case("beeos", "GET", TASK, B_TASK),
    Case("beeos", "POST", TASK + "/cancel", B_TASK + "/cancel", {"reason": "no longer needed"}),
    Case("beeos", "POST", TASK + "/continue", B_TASK + "/continue", {"input": {"text": "staging"}}),
    Case("beeos", "GET", TASK + "/events", B_TASK + "/events"),
    Case("beeos", "GET", TASK + "/messages", B_TASK + "/messages"),
    Case("beeos", "GET", "/api/v1/tasks", "/api/v1/tasks"),
    Case(
        "beeos",
        "POST",
        "/api/v1/files/presign-upload",
        "/api/v1/files/presign-upload",
        {"filename": "b.txt", "content_type": "text/plain"},
    ),
    Case("beeos", "GET", "/api/v1/files/{fileId}", "/api/v1/files/{file}"),
    Case(
        "beeos",
        "PUT",
        "/storage/{fileId}",
        "{upload}",
        content=b"bytes",
        headers={"Content-Type": "text/plain"},
        auth=False,
    ),
    Case("beeos", "GET", "/storage/{fileId}", "{download}", auth=False),
    # the SDK calls mockagent does not model (any ids: they are answered after admission, unlooked-up)
    *(Case("beeos", e.method, e.path, re.sub(r"\{\w+\}", "x", e.path), setup=False) for e in UNMODELLED),
    # AgentOS
    Case("agentos", "POST", AGENT + "/invoke", "/api/v1/agents/echo/invoke", {"input": {"query": "hi"}}),
    Case("agentos", "GET", "/api/v1/runs/{runId}", "/api/v1/runs/{run}"),
    Case(
        "agentos",
        "POST",
        "/api/v1/runs/{runId}/reply",
        "/api/v1/runs/{run}/reply",
        {"request_id": "{request}", "response": "staging"},
    ),
    Case("agentos", "POST", "/api/v1/runs/{runId}/human-input", "/api/v1/runs/{run}/human-input", {"response": "x"}),
    Case("agentos", "GET", "/api/v1/approvals", "/api/v1/approvals"),
    Case(
        "agentos",
        "POST",
        "/api/v1/approvals/{approvalId}/decide",
        "/api/v1/approvals/{approval}/decide",
        {"decision": "approve"},
    ),
    Case("agentos", "POST", "/api/v1/rpc/{method}", "/api/v1/rpc/runs_get", {"run_id": "{run}"}, name="runs_get"),
    Case("agentos", "POST", "/api/v1/rpc/{method}", "/api/v1/rpc/approvals_list", {}, name="approvals_list"),
    Case(
        "agentos",
        "POST",
        "/api/v1/rpc/{method}",
        "/api/v1/rpc/approvals_decide",
        {"approval_id": "{approval}", "decision": "approved"},
        name="approvals_decide",
    ),
    *(
        Case("agentos", "POST", "/api/v1/rpc/{method}", f"/api/v1/rpc/{method}", body, name=method)
        for method, body in [
            ("runs_cancel", {"run_id": "{run}"}),
            ("runs_get_events", {"run_id": "{run}"}),
            ("runs_list", {}),
            ("runs_invoke", {"agent_id": "echo", "input": {"query": "hi"}}),
            ("conversations_list", {}),
            ("conversations_get", {"conversation_id": "{session}"}),
            ("conversations_delete", {"conversation_id": "{session}"}),
            ("agents_list", {}),  # not modelled: answered after admission too
        ]
    ),
    Case("agentos", "POST", INGEST + "/run/start", INGEST + "/run/start", {"agent_id": "external"}),
    Case(
        "agentos", "POST", INGEST + "/events", INGEST + "/events", {"run_id": "{ingest}", "events": [{"type": "log"}]}
    ),
    Case("agentos", "POST", INGEST + "/run/complete", INGEST + "/run/complete", {"run_id": "{ingest}"}),
    Case(
        "agentos", "POST", INGEST + "/run/fail", INGEST + "/run/fail", {"run_id": "{ingest}", "error_message": "boom"}
    ),
    Case("agentos", "POST", INGEST + "/run/cancel", INGEST + "/run/cancel", {"run_id": "{ingest}", "reason": "user"}),
    Case(
        "agentos",
        "POST",
        INGEST + "/tasks",
        INGEST + "/tasks",
        {"run_id": "{ingest}", "task": {"id": "t1", "name": "fetch", "status": "running"}},
    ),
    Case(
        "agentos",
        "POST",
        INGEST + "/human-input/request",
        INGEST + "/human-input/request",
        {"run_id": "{ingest}", "prompt": "Which environment?"},
    ),
    # xpander.ai
    Case("xpander", "POST", X_INVOKE, "/v1/agents/echo/invoke", {"input": {"text": "hi", "user": USER}}),
    Case(
        "xpander", "POST", X_INVOKE + "/async", "/v1/agents/echo/invoke/async", {"input": {"text": "hi", "user": USER}}
    ),
    Case("xpander", "POST", X_INVOKE + "/stream", "/v1/agents/echo/invoke/stream", {"input": {"text": "hi"}}),
    Case("xpander", "GET", X_TASK, "/v1/tasks/{task}"),
    Case("xpander", "GET", X_TASK + "/thread", "/v1/tasks/{task}/thread"),
    Case("xpander", "POST", X_TASK + "/stop", "/v1/tasks/{task}/stop"),
    Case("xpander", "POST", X_TASK + "/hitl", "/v1/tasks/{task}/hitl", {"decision": "approve", "comment": "staging"}),
    Case("xpander", "GET", "/v1/llm_providers", "/v1/llm_providers"),
    Case("xpander", "GET", "/v1/llm_providers/{provider}/models", "/v1/llm_providers/openai/models"),
    Case("xpander", "GET", "/v1/misc/llm_providers", "/v1/misc/llm_providers"),
    Case("xpander", "GET", "/v1/misc/llm_providers/{provider}/models", "/v1/misc/llm_providers/openai/models"),
    # Zeus
    Case("zeus", "POST", "/api/agent/invoke", "/api/agent/invoke?agent=echo", {"message": "hi", "llm_config": LLM}),
    Case("zeus", "POST", "/api/agent/resume", "/api/agent/resume", RESUME),
    # Aster
    Case("aster", "POST", "/api/chat", "/api/chat", CHAT, headers=BACKGROUND),
    Case("aster", "GET", "/api/getConversation", "/api/getConversation?threadId={thread}"),
]
CASE = {case.id: case for case in CASES}


# ── what a client sees ────────────────────────────────────────────────────────────────────────────


def error_of(platform: str, response: httpx.Response, status: int) -> Any:
    """Assert `status` in the platform's JSON error envelope; return its code (BeeOS, AgentOS), its
    `detail` (xpander, Zeus) or its `error` text (Aster)."""
    assert response.status_code == status, response.text
    assert response.headers["content-type"].startswith("application/json"), response.headers
    body = response.json()
    match platform:
        case "beeos":
            assert set(body) == {"success", "error"}, body
            assert body["success"] is False, body
            return body["error"]["code"]
        case "agentos":
            assert body["data"] is None, body
            assert set(body["error"]) >= {"code", "message"}, body
            return body["error"]["code"]
        case "xpander" | "zeus":
            assert set(body) == {"detail"}, body
            return body["detail"]
        case "aster":
            assert isinstance(body.get("error"), str), body
            return body["error"]
    raise AssertionError(f"no envelope for {platform}")


UNAVAILABLE = {
    "beeos": "agent_service_unavailable",
    "agentos": "UNAVAILABLE",
    "xpander": "Service Unavailable",
    "zeus": "Service unavailable",
    "aster": "Service Unavailable",
}
RATE_LIMITED = {
    "beeos": "rate_limited",
    "agentos": "RATE_LIMITED",
    "xpander": "Rate limit exceeded",
    "zeus": "Rate limit exceeded",
    "aster": "Too many requests",
}


def last_journal_entry(server: ThreadedMockServer) -> dict[str, Any]:
    entry: dict[str, Any] = httpx.get(f"{server.url}/__mockagent/journal", timeout=10).json()["entries"][-1]
    return entry


def state(server: ThreadedMockServer) -> Any:
    """What a request could change: the runs (and their polls), reported ingest runs, presigned files."""
    session = server.session()
    runs = httpx.get(f"{server.url}/__mockagent/runs", timeout=10).json()
    polls = [run.polls for run in session.runs_of()]
    ingest = httpx.get(f"{server.url}/__mockagent/agentos/ingest/runs", timeout=10).json()
    files = {f.id: (f.size, f.used) for f in session.records(BeeOSRecords).files.values()}
    return runs, polls, ingest, files


def run_named(server: ThreadedMockServer, name: str) -> Run:
    """The latest run with this id, or of the conversation (task, thread) with this id."""
    return next(r for r in reversed(server.session().runs_of()) if name in (r.id, r.conversation.id))


# ── tests ─────────────────────────────────────────────────────────────────────────────────────────


def test_every_route_has_a_case(mockagent_server: ThreadedMockServer) -> None:
    app = mockagent_server.server.app
    assert app is not None
    platforms = app[PLATFORMS]
    declared = {(key.value, r.method, r.path) for key, platform in platforms.items() for r in platform.routes()}
    covered = {case.key for case in CASES}
    assert declared - covered == set(), "routes with no admission case"
    assert covered - declared == set(), "cases for routes that are not declared"


@pytest.mark.parametrize("case", CASES, ids=lambda case: case.id)
def test_a_forced_fault_answers_on_every_route(mockagent_server: ThreadedMockServer, case: Case) -> None:
    ids = SETUPS[case.platform](mockagent_server) if case.setup else {}
    before = state(mockagent_server)
    response = send(mockagent_server, case, ids, {FAULT: "503"})
    assert error_of(case.platform, response, 503) == UNAVAILABLE[case.platform]
    entry = last_journal_entry(mockagent_server)
    assert (entry["platform"], entry["status"], entry["fault"]) == (case.platform, 503, "503")
    # Answered before the request changed anything.
    assert state(mockagent_server) == before


POLLS = [  # a poll endpoint, and which id names its run
    ("beeos GET /api/v1/agents/{agentId}/tasks/{taskId}", "task"),
    ("agentos GET /api/v1/runs/{runId}", "run"),
    ("xpander GET /v1/tasks/{task_id}", "task"),
    ("aster GET /api/getConversation", "thread"),
]


@pytest.mark.parametrize(("case_id", "run_id"), POLLS, ids=[case_id for case_id, _ in POLLS])
def test_a_rate_limited_poll_does_not_count(mockagent_server: ThreadedMockServer, case_id: str, run_id: str) -> None:
    case = CASE[case_id]
    ids = SETUPS[case.platform](mockagent_server)
    run = run_named(mockagent_server, ids[run_id])
    seen = send(mockagent_server, case, ids)
    assert seen.status_code == 200, seen.text
    polls, status = run.polls, run.status()

    limited = send(mockagent_server, case, ids, {FAULT: "429, retry-after=7"})
    assert error_of(case.platform, limited, 429) == RATE_LIMITED[case.platform]
    assert limited.headers["Retry-After"] == "7"
    assert (run.polls, run.status()) == (polls, status)

    again = send(mockagent_server, case, ids)
    assert again.status_code == 200, again.text
    assert again.json() == seen.json()
    assert run.polls == polls + 1


@dataclass(frozen=True)
class Refused:
    """A request the platform refuses before admission, whatever fault it forces."""

    case: Case
    status: int
    error: Any  # what error_of returns


REFUSED = [
    # malformed
    Refused(Case("beeos", "POST", AGENT + "/invoke", "/api/v1/agents/echo/invoke", {}), 400, "missing_param"),
    Refused(
        Case("agentos", "POST", AGENT + "/invoke", "/api/v1/agents/echo/invoke", {"input": 5}), 400, "VALIDATION_ERROR"
    ),
    Refused(
        Case("xpander", "POST", X_INVOKE, "/v1/agents/echo/invoke", {}),
        422,
        [{"type": "missing", "loc": ["body", "input"], "msg": "Field required"}],
    ),
    Refused(
        Case("zeus", "POST", "/api/agent/invoke", "/api/agent/invoke", {}),
        422,
        [
            {"type": "missing", "loc": ["body", "message"], "msg": "Field required"},
            {"type": "missing", "loc": ["body", "llm_config"], "msg": "Field required"},
        ],
    ),
    Refused(
        Case("aster", "POST", "/api/chat", "/api/chat", {"agentId": 1}),
        400,
        "Message is required for non-continuation calls",
    ),
    # unknown ids
    Refused(Case("beeos", "GET", TASK, f"/api/v1/agents/question/tasks/ch-{UNKNOWN[:8]}"), 404, "task_not_found"),
    Refused(Case("agentos", "GET", "/api/v1/runs/{runId}", f"/api/v1/runs/{UNKNOWN}"), 404, "NOT_FOUND"),
    Refused(Case("xpander", "GET", X_TASK, f"/v1/tasks/{UNKNOWN}"), 404, "Task not found"),
    Refused(
        Case("zeus", "POST", "/api/agent/resume", "/api/agent/resume", {**RESUME, "session_id": UNKNOWN}),
        404,
        "Session not found",
    ),
    Refused(
        Case("aster", "GET", "/api/getConversation", f"/api/getConversation?threadId={UNKNOWN}"),
        404,
        "Conversation not found",
    ),
]


@pytest.mark.parametrize("refused", REFUSED, ids=lambda r: f"{r.status} {r.case.id}")
def test_a_forced_fault_does_not_hide_a_client_error(mockagent_server: ThreadedMockServer, refused: Refused) -> None:
    case = refused.case
    response = send(mockagent_server, case, {"call": "call_1"}, {FAULT: "503"})
    assert error_of(case.platform, response, refused.status) == refused.error
    entry = last_journal_entry(mockagent_server)
    assert (entry["status"], entry["fault"]) == (refused.status, None)
