"""Every public method of the official SDKs — pyagentos-sdk 0.4.0 and beeos-sdk 0.8.0 — against the mock.

Each gets a working answer, or the documented answer for what mockagent does not model (404 with the code
NOT_IMPLEMENTED / not_implemented, a message that says so and how to script it: docs/platforms/agentos.md,
docs/platforms/beeos.md) — never a bare 404. The methods are found by introspecting the SDKs, so that a newer
SDK's new method shows up here as a new case: a control-plane or generated API method is called with made-up
arguments and must get one of the two answers; any other public method needs a check in a WORKS table and
fails until it has one. (The generated `*_with_http_info` / `*_without_preload_content` variants send their
base method's request.)
"""

from __future__ import annotations

import inspect
import json
import time
import types
import typing
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from typing import Annotated, Any, Literal

import beeos_sdk.api
import httpx
import pytest
from agentos import AgentOS, Run, Span, Task
from agentos.errors import AgentOSError
from beeos_sdk import ApiClient, Configuration, FilesApi, InstancesApi, MobileClient, TasksApi
from beeos_sdk.exceptions import ApiException, NotFoundException
from beeos_sdk.models import ContinueTaskRequest, CreateTaskRequest, InvokeAgentRequest, PresignUploadRequest
from pydantic import BaseModel
from sse import parse

from mockagent.server import ThreadedMockServer

pytestmark = pytest.mark.mockagent(manual_clock=True)

STUBS = "script its answer with a raw stub (see docs/scenarios.md#raw-stubs)."


def public(cls: type) -> list[str]:
    return sorted(name for name, _ in inspect.getmembers(cls, inspect.isfunction) if not name.startswith("_"))


# ── pyagentos-sdk ─────────────────────────────────────────────────────────────────────────────────

AOS_KEY = "aos_ws_test"
# The control plane's namespaces (aos.runs, aos.agents …) are the client's declared attributes.
NAMESPACES: dict[str, type] = {name: tp for name, tp in typing.get_type_hints(AgentOS).items() if inspect.isclass(tp)}


def aos_methods() -> list[str]:
    """The client's own methods (`aos.invoke`), its control plane (`aos.runs.cancel`), and the methods of
    the objects it hands out (`Run.emit`, `Task.complete`, `Span.end`)."""
    names = [f"aos.{name}" for name in public(AgentOS)]
    names += [f"aos.{namespace}.{name}" for namespace, cls in NAMESPACES.items() for name in public(cls)]
    names += [f"{cls.__name__}.{name}" for cls in (Run, Task, Span) for name in public(cls)]
    return names


def client_for(server: ThreadedMockServer) -> AgentOS:
    return AgentOS(api_key=AOS_KEY, base_url=server.base_url("agentos"), max_retries=0)


def invoke(aos: AgentOS, server: ThreadedMockServer, agent: str, query: str = "hi", **options: Any) -> Any:
    """A blocking invoke, with the manual clock moved on while it waits."""
    return server.advance_during(lambda: aos.invoke({"query": query}, agent_id=agent, **options), 5)


def reported(server: ThreadedMockServer, run: Run) -> dict[str, Any]:
    """The ingest run as mockagent's admin API shows it, once the SDK has sent what it queued."""
    run.flush()
    response = httpx.get(f"{server.url}/__mockagent/agentos/ingest/runs/{run.run_id}", timeout=10)
    assert response.status_code == 200, response.text
    view: dict[str, Any] = response.json()
    return view


def event_types(server: ThreadedMockServer, run: Run) -> list[str]:
    return [event["type"] for event in reported(server, run)["events"]]


def assert_aos_not_modelled(error: AgentOSError, call: str) -> None:
    assert (error.code, error.status) == ("NOT_IMPLEMENTED", 404)
    message = str(error)
    assert message.startswith(f"mockagent does not model {call}() ("), message
    assert message.endswith(STUBS), message


# The checks: each makes its call for real and looks at what it did.
AosCheck = Callable[[AgentOS, ThreadedMockServer], None]


def check_start_run(aos: AgentOS, server: ThreadedMockServer) -> None:
    run = aos.start_run(agent_id="external", input={"invoice": 1})
    view = reported(server, run)
    assert (view["agent_id"], view["input"], view["status"]) == ("external", {"invoice": 1}, "running")


def check_invoke(aos: AgentOS, server: ThreadedMockServer) -> None:
    result = invoke(aos, server, "echo")
    assert (result.status, result.output) == ("completed", {"text": "Echo: hi"})


def check_invoke_stream(aos: AgentOS, server: ThreadedMockServer) -> None:
    events = server.advance_during(lambda: list(aos.invoke_stream({"query": "hi"}, agent_id="echo")), 5)
    assert (events[0]["type"], events[-1]["type"]) == ("start", "done")
    assert "".join(e["text"] for e in events if e["type"] == "chunk") == "Echo: hi"


def check_reply(aos: AgentOS, server: ThreadedMockServer) -> None:
    paused = invoke(aos, server, "question", "deploy")
    request_id = paused.input_request.request_id
    done = server.advance_during(lambda: aos.reply(paused.run_id, "staging", request_id=request_id), 5)
    assert (done.status, done.output) == ("completed", {"text": "Deploying to staging."})


def check_flush(aos: AgentOS, server: ThreadedMockServer) -> None:
    run = aos.start_run(agent_id="external")
    run.emit("step")
    aos.flush()
    assert not run.has_pending
    assert event_types(server, run) == ["step"]


def check_shutdown(aos: AgentOS, server: ThreadedMockServer) -> None:
    own = client_for(server)
    run = own.start_run(agent_id="external")
    run.emit("step")
    own.shutdown()  # sends what is queued, then closes
    assert event_types(server, run) == ["step"]


def check_runs_get(aos: AgentOS, server: ThreadedMockServer) -> None:
    run_id = invoke(aos, server, "echo").run_id
    view = aos.runs.get(run_id=run_id)
    assert (view["run_id"], view["status"], view["output"]) == (run_id, "completed", {"text": "Echo: hi"})


def check_runs_cancel(aos: AgentOS, server: ThreadedMockServer) -> None:
    run_id = invoke(aos, server, "question", "deploy").run_id
    cancelled = aos.runs.cancel(run_id=run_id)
    assert (cancelled["status"], cancelled["error"]["code"]) == ("cancelled", "CANCELLED")
    assert aos.runs.get(run_id=run_id)["status"] == "cancelled"
    with pytest.raises(AgentOSError) as ended:
        aos.runs.cancel(run_id=invoke(aos, server, "echo").run_id)
    assert (ended.value.code, ended.value.status) == ("CONFLICT", 409)


def check_runs_events(aos: AgentOS, server: ThreadedMockServer) -> None:
    run_id = invoke(aos, server, "tools").run_id
    events = aos.runs.events(run_id=run_id)
    assert [e["type"] for e in events] == ["start", "tool", "tool", *["chunk"] * 5, "done"]
    assert [e["status"] for e in events if e["type"] == "tool"] == ["calling", "returned"]
    assert "".join(e["text"] for e in events if e["type"] == "chunk") == "It is 21°C in Paris."
    assert all(e["at"].endswith("Z") for e in events)
    assert aos.runs.events(run_id=run_id, limit=2) == events[-2:]


def check_runs_list(aos: AgentOS, server: ThreadedMockServer) -> None:
    echo, tools = invoke(aos, server, "echo").run_id, invoke(aos, server, "tools").run_id
    assert [r["run_id"] for r in aos.runs.list()] == [tools, echo]
    assert [r["run_id"] for r in aos.runs.list(agent_id="echo")] == [echo]
    assert [r["run_id"] for r in aos.runs.list(limit=1)] == [tools]
    assert aos.runs.list(status="failed") == []


def check_runs_invoke(aos: AgentOS, server: ThreadedMockServer) -> None:
    result = server.advance_during(lambda: aos.runs.invoke(agent_id="echo", input={"query": "hi"}), 5)
    assert result["output"] == {"text": "Echo: hi"}
    assert aos.runs.get(run_id=result["run_id"])["status"] == "completed"


def check_conversations_list(aos: AgentOS, server: ThreadedMockServer) -> None:
    invoke(aos, server, "echo")  # no session: no conversation to list
    session = invoke(aos, server, "echo", start_session=True, external_user_id="u-1").session_id
    listed = aos.conversations.list()
    assert [(c["id"], c["agent_id"], c["external_user_id"], c["turn_count"]) for c in listed] == [
        (session, "echo", "u-1", 1)
    ]
    assert aos.conversations.list(external_user_id="u-2") == []


def check_conversations_get(aos: AgentOS, server: ThreadedMockServer) -> None:
    session = invoke(aos, server, "echo", start_session=True).session_id
    invoke(aos, server, "echo", "again", session_id=session)
    found = aos.conversations.get(conversation_id=session)
    assert [(m["role"], m["content"]) for m in found["messages"]] == [
        ("user", "hi"),
        ("assistant", "Echo: hi"),
        ("user", "again"),
        ("assistant", "Echo: again"),
    ]
    latest = aos.conversations.get(conversation_id=session, message_limit=1)
    assert [m["content"] for m in latest["messages"]] == ["Echo: again"]


def check_conversations_delete(aos: AgentOS, server: ThreadedMockServer) -> None:
    first = invoke(aos, server, "echo", start_session=True)
    assert aos.conversations.delete(conversation_id=first.session_id) == {"id": first.session_id, "deleted": True}
    with pytest.raises(AgentOSError) as gone:
        aos.conversations.get(conversation_id=first.session_id)
    assert (gone.value.code, gone.value.status) == ("NOT_FOUND", 404)
    with pytest.raises(AgentOSError) as ended:  # refused at once: no clock to move
        aos.invoke({"query": "again"}, agent_id="echo", session_id=first.session_id)
    assert (ended.value.code, ended.value.status) == ("NOT_FOUND", 404)
    assert aos.runs.get(run_id=first.run_id)["status"] == "completed"  # its runs stay


def check_approvals_list(aos: AgentOS, server: ThreadedMockServer) -> None:
    paused = invoke(aos, server, "approval", "mail")
    assert [a["approval_id"] for a in aos.approvals.list()] == [paused.approval_id]
    assert aos.approvals.list(agent_id="echo") == []


def check_approvals_decide(aos: AgentOS, server: ThreadedMockServer) -> None:
    paused = invoke(aos, server, "approval", "mail")
    assert aos.approvals.decide(approval_id=paused.approval_id, decision="approved")["status"] == "approved"
    server.advance(1)
    assert aos.runs.get(run_id=paused.run_id)["output"] == {"text": "Email sent."}


def check_run(act: Callable[[Run], None], events: list[str], status: str = "running") -> AosCheck:
    """A check of a Run method: what the run reports once `act` has been done to it."""

    def check(aos: AgentOS, server: ThreadedMockServer) -> None:
        run = aos.start_run(agent_id="external")
        act(run)
        view = reported(server, run)
        assert ([e["type"] for e in view["events"]], view["status"]) == (events, status)

    return check


def check_request_human_input(aos: AgentOS, server: ThreadedMockServer) -> None:
    run = aos.start_run(agent_id="external")
    with pytest.raises(AgentOSError) as raised:
        run.request_human_input("Which environment?")
    assert_aos_not_modelled(raised.value, "run.request_human_input")


def record_span(run: Run) -> None:
    now = "2026-01-01T00:00:00Z"
    run.record_span(
        type="fetch",
        kind="tool",
        span_id="s1",
        parent_span_id=None,
        started_at=now,
        ended_at=now,
        duration_ms=5,
        payload={},
    )


def emit_and_flush(run: Run) -> None:
    run.emit("step")
    run.flush()
    assert not run.has_pending


def check_task(act: Callable[[Task], None], status: str) -> AosCheck:
    def check(aos: AgentOS, server: ThreadedMockServer) -> None:
        run = aos.start_run(agent_id="external")
        act(run.start_task("fetch", {"url": "https://example.com"}))
        tasks = reported(server, run)["tasks"]
        assert [(t["name"], t["status"]) for t in tasks] == [("fetch", status)]

    return check


def check_span(act: Callable[[Span], None], expected: list[tuple[str, str]]) -> AosCheck:
    """A check of a Span method: the spans recorded, as (name, level), once `act` has been done."""

    def check(aos: AgentOS, server: ThreadedMockServer) -> None:
        run = aos.start_run(agent_id="external")
        act(run.start_span("classify", kind="step"))
        assert [(e["type"], e["level"]) for e in reported(server, run)["events"]] == expected

    return check


def child_and_parent(span: Span) -> None:
    span.child("llm", kind="llm").end()
    span.end()


AOS_WORKS: dict[str, AosCheck] = {
    "aos.start_run": check_start_run,
    "aos.invoke": check_invoke,
    "aos.invoke_stream": check_invoke_stream,
    "aos.reply": check_reply,
    "aos.flush": check_flush,
    "aos.shutdown": check_shutdown,
    "aos.close": check_shutdown,
    "aos.runs.get": check_runs_get,
    "aos.runs.cancel": check_runs_cancel,
    "aos.runs.events": check_runs_events,
    "aos.runs.list": check_runs_list,
    "aos.runs.invoke": check_runs_invoke,
    "aos.conversations.list": check_conversations_list,
    "aos.conversations.get": check_conversations_get,
    "aos.conversations.delete": check_conversations_delete,
    "aos.approvals.list": check_approvals_list,
    "aos.approvals.decide": check_approvals_decide,
    "Run.emit": check_run(lambda run: run.emit("step", {"i": 1}), ["step"]),
    "Run.emit_llm_request": check_run(lambda run: run.emit_llm_request("m", "hi"), ["llm.request"]),
    "Run.emit_llm_response": check_run(lambda run: run.emit_llm_response("m", "hello"), ["llm.response"]),
    "Run.emit_tool_call": check_run(lambda run: run.emit_tool_call("fetch", {}), ["tool.called"]),
    "Run.emit_tool_return": check_run(lambda run: run.emit_tool_return("fetch", {}), ["tool.returned"]),
    "Run.emit_tool_error": check_run(lambda run: run.emit_tool_error("fetch", "boom"), ["tool.failed"]),
    "Run.start_span": check_run(lambda run: run.start_span("classify").end(), ["classify"]),
    "Run.record_span": check_run(record_span, ["fetch"]),
    "Run.flush": check_run(emit_and_flush, ["step"]),
    "Run.complete": check_run(lambda run: run.complete({"ok": True}), [], "completed"),
    "Run.fail": check_run(lambda run: run.fail("boom"), [], "failed"),
    "Run.cancel": check_run(lambda run: run.cancel("not needed"), [], "cancelled"),
    "Run.start_task": check_task(lambda task: None, "running"),
    "Run.request_human_input": check_request_human_input,
    "Task.complete": check_task(lambda task: task.complete({"ok": True}), "completed"),
    "Task.fail": check_task(lambda task: task.fail("boom"), "failed"),
    "Task.skip": check_task(lambda task: task.skip(), "skipped"),
    "Span.child": check_span(child_and_parent, [("llm", "info"), ("classify", "info")]),
    "Span.end": check_span(lambda span: span.end({"label": "x"}), [("classify", "info")]),
    "Span.fail": check_span(lambda span: span.fail(ValueError("boom")), [("classify", "error")]),
}


def made_up(tp: Any) -> Any:
    """A value of a control-plane parameter's type (what it is does not matter to an unmodelled call)."""
    origin = typing.get_origin(tp)
    if origin is Literal:
        return typing.get_args(tp)[0]
    if origin in (typing.Union, types.UnionType):
        return made_up(next(arg for arg in typing.get_args(tp) if arg is not type(None)))
    if list in (tp, origin):
        return []
    if dict in (tp, origin):
        return {}
    values: dict[Any, Any] = {str: "00000000-0000-4000-8000-000000000000", int: 1, float: 1.0, bool: True}
    return values[tp]


def call_control_plane(aos: AgentOS, name: str) -> Any:
    """Call aos.<namespace>.<method> with every required argument made up."""
    _, namespace, method_name = name.split(".")
    method = getattr(getattr(aos, namespace), method_name)
    hints = typing.get_type_hints(method)
    required = [p.name for p in inspect.signature(method).parameters.values() if p.default is inspect.Parameter.empty]
    return method(**{param: made_up(hints[param]) for param in required})


def test_every_check_is_of_a_method_of_the_sdk() -> None:
    assert set(AOS_WORKS) - set(aos_methods()) == set()
    assert set(BEEOS_WORKS) - set(beeos_methods()) == set()


@pytest.mark.parametrize("name", aos_methods())
def test_every_pyagentos_sdk_method(mockagent_server: ThreadedMockServer, name: str) -> None:
    aos = client_for(mockagent_server)
    try:
        check = AOS_WORKS.get(name)
        if check is not None:
            check(aos, mockagent_server)
        elif name.count(".") == 2:  # a control-plane call mockagent does not serve
            with pytest.raises(AgentOSError) as raised:
                call_control_plane(aos, name)
            assert_aos_not_modelled(raised.value, name)
        else:
            pytest.fail(f"{name} is new in this SDK: add a check of what it does to AOS_WORKS")
    finally:
        aos.shutdown()


def test_an_unknown_rpc_method_is_still_not_found(mockagent_server: ThreadedMockServer) -> None:
    """A name AgentOS has no method for is an unknown method, not an unmodelled one."""
    url = f"{mockagent_server.base_url('agentos')}/api/v1/rpc/agents_frobnicate"
    response = httpx.post(url, json={}, headers={"Authorization": f"Bearer {AOS_KEY}"}, timeout=10)
    assert (response.status_code, response.json()["error"]) == (
        404,
        {"code": "NOT_FOUND", "message": "Unknown RPC method 'agents_frobnicate'."},
    )


# ── beeos-sdk ─────────────────────────────────────────────────────────────────────────────────────

BEEOS_KEY = "oag_" + "0123456789abcdef" * 4
APIS: dict[str, type] = dict(
    inspect.getmembers(beeos_sdk.api, lambda v: inspect.isclass(v) and v.__name__.endswith("Api"))
)
VARIANTS = ("_with_http_info", "_without_preload_content")


def beeos_methods() -> list[str]:
    """Every generated API method (`TasksApi.create_task`) and the MobileClient helper's methods."""
    names = [f"{api}.{name}" for api, cls in APIS.items() for name in public(cls) if not name.endswith(VARIANTS)]
    return names + [f"MobileClient.{name}" for name in public(MobileClient)]


BeeCheck = Callable[[ApiClient, ThreadedMockServer], None]


def task(client: ApiClient, server: ThreadedMockServer, agent: str, message: str = "hi") -> str:
    """A task of `agent`, its script played out as far as it goes in 5 s of clock time."""
    task_id: str = TasksApi(client).create_task(agent, CreateTaskRequest(message=message)).data.task_id
    server.advance(5)
    return task_id


def mobile_client(server: ThreadedMockServer, agent: str = "echo") -> MobileClient:
    return MobileClient(
        api_key=BEEOS_KEY, agent_id=agent, instance_id="i-1", base_url=server.base_url("beeos"), poll_interval=0.01
    )


def check_invoke_agent(client: ApiClient, server: ThreadedMockServer) -> None:
    agents = beeos_sdk.AgentsApi(client)
    reply = server.advance_during(lambda: agents.invoke_agent("echo", InvokeAgentRequest(message="hi")), 5)
    assert (reply.data.text, reply.data.is_error) == ("Echo: hi", False)


def check_create_task(client: ApiClient, server: ThreadedMockServer) -> None:
    created = TasksApi(client).create_task("echo", CreateTaskRequest(message="hi")).data
    assert (created.agent_id, created.status.value) == ("echo", "queued")


def check_get_task(client: ApiClient, server: ThreadedMockServer) -> None:
    found = TasksApi(client).get_task("echo", task(client, server, "echo")).data
    assert (found.status.value, found.result) == ("completed", {"text": "Echo: hi"})


def check_list_agent_tasks(client: ApiClient, server: ThreadedMockServer) -> None:
    task_id = task(client, server, "echo")
    listed = TasksApi(client).list_agent_tasks("echo", state="all").data
    assert [(t.task_id, t.state) for t in listed.tasks] == [(task_id, "closed")]


def check_list_user_tasks(client: ApiClient, server: ThreadedMockServer) -> None:
    echo, tools = task(client, server, "echo"), task(client, server, "tools")
    assert [t.task_id for t in TasksApi(client).list_user_tasks(state="all").data.tasks] == [tools, echo]


def check_cancel_task(client: ApiClient, server: ThreadedMockServer) -> None:
    cancelled = TasksApi(client).cancel_task("question", task(client, server, "question", "deploy")).data
    assert cancelled.status.value == "canceled"


def check_continue_task(client: ApiClient, server: ThreadedMockServer) -> None:
    tasks, task_id = TasksApi(client), task(client, server, "question", "deploy")
    tasks.continue_task("question", task_id, ContinueTaskRequest(input={"text": "staging"}))
    server.advance(5)
    assert tasks.get_task("question", task_id).data.result == {"text": "Deploying to staging."}


def check_stream_task_events(client: ApiClient, server: ThreadedMockServer) -> None:
    frames = parse(TasksApi(client).stream_task_events("echo", task(client, server, "echo")))
    assert (frames[-2].json()["type"], frames[-1].event) == ("agent_reply", "end")


def check_list_task_messages(client: ApiClient, server: ThreadedMockServer) -> None:
    messages = TasksApi(client).list_task_messages("echo", task(client, server, "echo")).data.messages
    assert [m.type for m in messages] == ["chat_message", "agent_reply"]


def check_presign_file_upload(client: ApiClient, server: ThreadedMockServer) -> None:
    presigned = FilesApi(client).presign_file_upload(PresignUploadRequest(filename="a.txt", content_type="text/plain"))
    upload = httpx.put(presigned.data.upload_url, content=b"hi", headers={"Content-Type": "text/plain"}, timeout=10)
    assert upload.status_code == 200, upload.text


def check_get_file(client: ApiClient, server: ThreadedMockServer) -> None:
    files = FilesApi(client)
    file_id = files.presign_file_upload(PresignUploadRequest(filename="a.txt", content_type="text/plain")).data.file_id
    assert (files.get_file(file_id).data.filename, files.get_file(file_id).data.file_id) == ("a.txt", file_id)


def check_mobile_run(client: ApiClient, server: ThreadedMockServer) -> None:
    mobile = mobile_client(server)
    with ThreadPoolExecutor(1) as pool:
        pending = pool.submit(mobile.run, "hi", timeout=60)
        # The task is queued until the clock moves; move it once the helper has made the task.
        deadline = time.monotonic() + 10
        while not TasksApi(client).list_user_tasks(state="all").data.tasks:
            assert time.monotonic() < deadline, "MobileClient.run made no task"
            time.sleep(0.01)
        server.advance(5)
        snapshot = pending.result(timeout=30)
    assert (snapshot.data.status.value, snapshot.data.result) == ("completed", {"text": "Echo: hi"})
    mobile.close()


def check_mobile_watch(client: ApiClient, server: ThreadedMockServer) -> None:
    snapshots = list(mobile_client(server).watch(task(client, server, "echo")))
    assert [s.data.status.value for s in snapshots] == ["completed"]


def check_mobile_cancel(client: ApiClient, server: ThreadedMockServer) -> None:
    cancelled = mobile_client(server, "question").cancel(task(client, server, "question", "deploy"), "not needed")
    assert cancelled.data.status.value == "canceled"


def check_mobile_wait_ready(client: ApiClient, server: ThreadedMockServer) -> None:
    with pytest.raises(NotFoundException) as raised:
        mobile_client(server).wait_ready(timeout=10)
    assert_beeos_not_modelled(raised.value, "MobileApi.get_mobile_info")


def check_get_instance(client: ApiClient, server: ThreadedMockServer) -> None:
    """Not modelled, but the demo scenarios stub it (scenarios/demo.yaml): the SDK reads the stub's answer."""
    instance = InstancesApi(client).get_instance("i-42").data
    assert (instance.id, instance.status, instance.endpoint) == ("i-42", "running", "https://i-42.instances.example")


BEEOS_WORKS: dict[str, BeeCheck] = {
    "InstancesApi.get_instance": check_get_instance,
    "AgentsApi.invoke_agent": check_invoke_agent,
    "TasksApi.create_task": check_create_task,
    "TasksApi.get_task": check_get_task,
    "TasksApi.list_agent_tasks": check_list_agent_tasks,
    "TasksApi.list_user_tasks": check_list_user_tasks,
    "TasksApi.cancel_task": check_cancel_task,
    "TasksApi.continue_task": check_continue_task,
    "TasksApi.stream_task_events": check_stream_task_events,
    "TasksApi.list_task_messages": check_list_task_messages,
    "FilesApi.presign_file_upload": check_presign_file_upload,
    "FilesApi.get_file": check_get_file,
    "MobileClient.run": check_mobile_run,
    "MobileClient.watch": check_mobile_watch,
    "MobileClient.cancel": check_mobile_cancel,
    "MobileClient.wait_ready": check_mobile_wait_ready,
    "MobileClient.close": lambda client, server: mobile_client(server).close(),  # sends nothing
}


def assert_beeos_not_modelled(error: ApiException, call: str) -> None:
    assert error.status == 404, error
    body = json.loads(error.body or "")
    assert (body["success"], body["error"]["type"], body["error"]["code"]) == (
        False,
        "not_found_error",
        "not_implemented",
    )
    message = body["error"]["message"]
    assert message.startswith(f"mockagent does not model {call}() ("), message
    assert message.endswith(STUBS), message


def call_api(client: ApiClient, name: str) -> Any:
    """Call a generated API method with every required argument made up: any id, an empty body."""
    api_name, method_name = name.split(".")
    method = getattr(APIS[api_name](client), method_name)
    arguments: dict[str, Any] = {}
    for param in inspect.signature(method).parameters.values():
        if param.default is not inspect.Parameter.empty:
            continue
        tp = param.annotation
        if typing.get_origin(tp) is Annotated:
            tp = typing.get_args(tp)[0]
        is_model = inspect.isclass(tp) and issubclass(tp, BaseModel)
        # A body with every field unset (None): the SDK sends it as `{}`.
        arguments[param.name] = tp.model_construct(**dict.fromkeys(tp.model_fields)) if is_model else "x"
    return method(**arguments)


@pytest.mark.parametrize("name", beeos_methods())
def test_every_beeos_sdk_method(mockagent_server: ThreadedMockServer, name: str) -> None:
    config = Configuration(host=mockagent_server.base_url("beeos"), access_token=BEEOS_KEY, retries=False)
    with ApiClient(config) as client:
        check = BEEOS_WORKS.get(name)
        if check is not None:
            check(client, mockagent_server)
        elif not name.startswith("MobileClient."):  # a generated call mockagent does not serve
            with pytest.raises(ApiException) as raised:
                call_api(client, name)
            assert_beeos_not_modelled(raised.value, name)
        else:
            pytest.fail(f"{name} is new in this SDK: add a check of what it does to BEEOS_WORKS")
