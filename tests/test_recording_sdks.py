"""The official SDKs and the AI SDK's parser run unchanged against a replay: what they got live through the
recorder, they get again from the cassette."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import Any, TypeVar

import node_client
import pytest
from agentos import AgentOS
from beeos_sdk import AgentsApi, ApiClient, Configuration, TasksApi
from beeos_sdk.models import ContinueTaskRequest, CreateTaskRequest, InvokeAgentRequest

from mockagent.model import PlatformKey
from mockagent.replay.modes import RecordMode
from mockagent.server import ThreadedMockServer
from mockagent.settings import Settings

T = TypeVar("T")
KEY = "oag_" + "0123456789abcdef" * 4


def record_and_replay(folder: Path, use: Callable[[ThreadedMockServer, ThreadedMockServer | None], T]) -> tuple[T, T]:
    """`use(server, upstream)` once through a recorder in front of an upstream on a manual clock, once
    against a server replaying what was recorded (upstream None: nothing to move)."""
    with ThreadedMockServer(Settings(manual_clock=True)) as upstream:
        urls = tuple((key, upstream.base_url(key)) for key in PlatformKey)
        with ThreadedMockServer(Settings(cassettes=folder, record_mode=RecordMode.ALL, upstreams=urls)) as recorder:
            live = use(recorder, upstream)
    with ThreadedMockServer(Settings(cassettes=folder, replay_asap=True)) as replaying:
        return live, use(replaying, None)


def moving(upstream: ThreadedMockServer | None, call: Callable[[], T], seconds: float = 1) -> T:
    return call() if upstream is None else upstream.advance_during(call, seconds)


def test_beeos_sdk(tmp_path: Path) -> None:
    def use(server: ThreadedMockServer, upstream: ThreadedMockServer | None) -> list[Any]:
        config = Configuration(host=server.base_url("beeos"), access_token=KEY, retries=False)
        with ApiClient(config) as client:
            agents, tasks = AgentsApi(client), TasksApi(client)
            reply = moving(upstream, lambda: agents.invoke_agent("echo", InvokeAgentRequest(message="hi")))
            created = tasks.create_task("question", CreateTaskRequest(message="deploy"))
            if upstream is not None:
                upstream.advance(1)
            paused = tasks.get_task("question", created.data.task_id)
            tasks.continue_task("question", created.data.task_id, ContinueTaskRequest(input={"text": "staging"}))
            if upstream is not None:
                upstream.advance(1)
            done = tasks.get_task("question", created.data.task_id)
            return [reply.data.text, reply.data.context_id, paused.data.status, done.data.status, done.data.result]

    live, replayed = record_and_replay(tmp_path, use)
    assert live[2:4] == ["input_required", "completed"]
    assert replayed == live


def test_agentos_sdk(tmp_path: Path) -> None:
    def use(server: ThreadedMockServer, upstream: ThreadedMockServer | None) -> list[Any]:
        with AgentOS(api_key="aos_ws_x", base_url=server.base_url("agentos"), max_retries=0) as aos:
            echoed = moving(upstream, lambda: aos.invoke({"query": "hello"}, agent_id="echo"))
            paused = moving(upstream, lambda: aos.invoke({"query": "mail"}, agent_id="approval"))
            return [echoed.status, echoed.output, echoed.run_id, paused.status]

    live, replayed = record_and_replay(tmp_path, use)
    assert live[0:2] == ["completed", {"text": "Echo: hello"}]
    assert replayed == live


@pytest.mark.skipif(node_client.NODE is None, reason="node is not on PATH")
def test_the_ai_sdk_reads_a_replayed_aster_stream_as_it_read_the_live_one(tmp_path: Path) -> None:
    harness = node_client.installed()
    body = {"agentId": 2, "message": {"role": "user", "parts": [{"type": "text", "text": "weather?"}]}}

    def use(server: ThreadedMockServer, upstream: ThreadedMockServer | None) -> Any:
        return moving(upstream, lambda: node_client.read_chat(harness, server.base_url("aster"), body))

    live, replayed = record_and_replay(tmp_path, use)
    assert (live["status"], live["rejected"], live["sawDone"]) == (200, [], True)
    for seen in (live, replayed):  # the moment and the software of each answer are not the recording's
        seen["headers"].pop("date", None)
        seen["headers"].pop("server", None)
    assert replayed == live
