"""Verdicts on a client's behaviour: for each, a client that behaves and one that does not."""

from __future__ import annotations

import contextlib
import json
import socket
import time
from typing import Any

import httpx
import pytest
from beeos_client import SAFETY
from credentials import BEEOS, JWT

from mockagent.server import MockServer, ThreadedMockServer
from mockagent.verdicts import VerdictError

AGENT = "/api/v1/agents/{agent}"


def _invoke(server: ThreadedMockServer, body: dict[str, Any], fault: str | None = None) -> httpx.Response:
    headers = {**BEEOS, **({"X-Mockagent-Fault": fault} if fault else {})}
    url = f"{server.base_url('beeos')}{AGENT.format(agent='echo')}/invoke"
    return httpx.post(url, json=body, headers=headers, timeout=SAFETY)


def _create(server: ThreadedMockServer, agent: str, message: str, fault: str | None = None) -> httpx.Response:
    """A task: answered at once, so that a manual clock's test need not advance it for the answer."""
    headers = {**BEEOS, **({"X-Mockagent-Fault": fault} if fault else {})}
    url = f"{server.base_url('beeos')}{AGENT.format(agent=agent)}/tasks"
    return httpx.post(url, json={"message": message}, headers=headers, timeout=SAFETY)


def _task(server: ThreadedMockServer, agent: str, message: str = "one two") -> str:
    answer = _create(server, agent, message)
    assert answer.status_code == 202
    return str(answer.json()["data"]["task_id"])


def _task_url(server: ThreadedMockServer, agent: str, task: str) -> str:
    return f"{server.base_url('beeos')}{AGENT.format(agent=agent)}/tasks/{task}"


def _poll(server: ThreadedMockServer, agent: str, task: str) -> str:
    answer = httpx.get(_task_url(server, agent, task), headers=BEEOS, timeout=SAFETY)
    return str(answer.json()["data"]["status"])


# ── backed_off ────────────────────────────────────────────────────────────────────────────────────


def test_a_client_that_waits_out_retry_after_backed_off(mockagent_server: ThreadedMockServer) -> None:
    assert _invoke(mockagent_server, {"message": "hi"}, "429, retry-after=1").status_code == 429
    # The one real wait of the suite: a sleep lasts at least its length, so this cannot flake.
    time.sleep(1.05)
    assert _invoke(mockagent_server, {"message": "hi"}).status_code == 200
    verdict = mockagent_server.verdict("backed_off")
    assert verdict, verdict
    assert str(verdict) == "the client waited out the Retry-After of each of 1 429 answer(s)"


def test_a_client_that_retries_at_once_did_not_back_off(mockagent_server: ThreadedMockServer) -> None:
    _invoke(mockagent_server, {"message": "hi"}, "429, retry-after=60")
    _invoke(mockagent_server, {"message": "hi"})
    verdict = mockagent_server.verdict("backed_off")
    assert not verdict
    message = str(verdict)
    assert message.startswith(
        "the client did not back off: #1 POST /beeos/api/v1/agents/echo/invoke → 429 said Retry-After: 60, "
        "but #2 POST /beeos/api/v1/agents/echo/invoke → 200 came "
    )
    assert message.endswith("s later (real seconds)")
    assert verdict.evidence == (1, 2)
    assert repr(verdict) == message


def test_another_clients_request_is_not_a_retry(mockagent_server: ThreadedMockServer) -> None:
    _invoke(mockagent_server, {"message": "hi"}, "429, retry-after=60")
    other = {"Authorization": "Bearer oag_" + "b" * 64}
    url = f"{mockagent_server.base_url('beeos')}/api/v1/agents/echo/invoke"
    assert httpx.post(url, json={"message": "hi"}, headers=other, timeout=SAFETY).status_code == 200
    assert mockagent_server.verdict("backed_off")


@pytest.mark.mockagent(manual_clock=True)
def test_backed_off_on_the_session_clock(mockagent_server: ThreadedMockServer) -> None:
    assert _create(mockagent_server, "echo", "a", "429, retry-after=5").status_code == 429
    mockagent_server.advance(5)  # the client sleeps on the test's clock
    _create(mockagent_server, "echo", "a", "429, retry-after=5")
    assert mockagent_server.verdict("backed_off", clock="session")
    mockagent_server.advance(4.5)
    assert _create(mockagent_server, "echo", "a").status_code == 202
    verdict = mockagent_server.verdict("backed_off", clock="session")
    assert not verdict
    assert "#3 POST /beeos/api/v1/agents/echo/tasks → 202 came 4.500 s later (session-clock seconds)" in str(verdict)


# ── stopped_polling, polled_no_faster ─────────────────────────────────────────────────────────────


@pytest.mark.mockagent(manual_clock=True)
def test_a_client_that_stops_at_the_end_stopped_polling(mockagent_server: ThreadedMockServer) -> None:
    task = _task(mockagent_server, "echo")
    assert _poll(mockagent_server, "echo", task) == "queued"
    mockagent_server.advance(10)
    assert _poll(mockagent_server, "echo", task) == "completed"
    verdict = mockagent_server.verdict("stopped_polling")
    assert verdict, verdict
    assert mockagent_server.journal(method="GET")[-1]["run_status"] == "completed"


@pytest.mark.mockagent(manual_clock=True)
def test_a_client_that_polls_a_finished_task_did_not_stop(mockagent_server: ThreadedMockServer) -> None:
    task = _task(mockagent_server, "echo")
    mockagent_server.advance(10)
    assert _poll(mockagent_server, "echo", task) == "completed"
    _poll(mockagent_server, "echo", task)
    verdict = mockagent_server.verdict("stopped_polling")
    assert not verdict
    assert str(verdict).startswith(f"the client polled run {task} 1 more time(s) after #2 GET ")
    assert "showed it completed: first #3 GET" in str(verdict)


@pytest.mark.mockagent(manual_clock=True)
def test_a_client_that_waits_between_polls_polled_no_faster(mockagent_server: ThreadedMockServer) -> None:
    task = _task(mockagent_server, "slow")
    for _ in range(3):
        _poll(mockagent_server, "slow", task)
        mockagent_server.advance(2)
    assert mockagent_server.verdict("polled_no_faster", min_interval=2, clock="session")
    assert not mockagent_server.verdict("polled_no_faster", min_interval=2.5, clock="session")


@pytest.mark.mockagent(manual_clock=True)
def test_a_client_that_polls_in_a_loop_polled_too_fast(mockagent_server: ThreadedMockServer) -> None:
    task = _task(mockagent_server, "slow")
    _poll(mockagent_server, "slow", task)
    mockagent_server.advance(0.5)
    _poll(mockagent_server, "slow", task)
    verdict = mockagent_server.verdict("polled_no_faster", min_interval=1, clock="session")
    assert not verdict
    assert f"the client polled run {task} too fast: #2 GET" in str(verdict)
    assert "0.500 s later (session-clock seconds), less than 1" in str(verdict)
    assert verdict.evidence == (2, 3)


# ── idempotent_retries ────────────────────────────────────────────────────────────────────────────


def test_a_retry_with_the_same_key_is_idempotent(mockagent_server: ThreadedMockServer) -> None:
    body = {"message": "pay", "idempotency_key": "k-1"}
    assert _invoke(mockagent_server, body, "503").status_code == 503
    assert _invoke(mockagent_server, body).status_code == 200
    verdict = mockagent_server.verdict("idempotent_retries")
    assert verdict, verdict
    assert str(verdict) == "each of 1 retried turn(s) reused its idempotency key and started one run"


def test_a_retry_with_a_new_key_is_not(mockagent_server: ThreadedMockServer) -> None:
    _invoke(mockagent_server, {"message": "pay", "idempotency_key": "k-1"}, "429")
    _invoke(mockagent_server, {"message": "pay", "idempotency_key": "k-2"})
    verdict = mockagent_server.verdict("idempotent_retries")
    assert not verdict
    assert str(verdict) == (
        "a retry did not reuse the idempotency key: #1 POST /beeos/api/v1/agents/echo/invoke → 429 failed "
        "having sent a key, and its retry #2 POST /beeos/api/v1/agents/echo/invoke → 200 sent another one"
    )


def test_a_retry_without_a_key_is_not(mockagent_server: ThreadedMockServer) -> None:
    _invoke(mockagent_server, {"message": "pay"}, "500")
    _invoke(mockagent_server, {"message": "other"})  # another turn, not a retry
    assert mockagent_server.verdict("idempotent_retries")
    _invoke(mockagent_server, {"message": "pay"})
    verdict = mockagent_server.verdict("idempotent_retries")
    assert not verdict
    assert "failed having sent no idempotency key, and its retry #3 POST" in str(verdict)


# ── resumed_streams ───────────────────────────────────────────────────────────────────────────────


def _stream(server: ThreadedMockServer, task: str, headers: dict[str, str], query: str = "") -> list[str]:
    """The ids of the events a stream delivered before it ended or was dropped."""
    ids: list[str] = []
    url = _task_url(server, "echo", task) + "/events" + query
    with (
        httpx.stream("GET", url, headers={**BEEOS, **headers}, timeout=SAFETY) as answer,
        contextlib.suppress(httpx.RemoteProtocolError),  # the dropped connection
    ):
        for line in answer.iter_lines():
            if line.startswith("id: "):
                ids.append(line[4:])
    server.until_idle()
    return ids


@pytest.mark.mockagent(manual_clock=True)
def test_a_client_that_resumes_from_the_last_event_resumed_streams(mockagent_server: ThreadedMockServer) -> None:
    task = _task(mockagent_server, "echo", "one two three")
    mockagent_server.advance(10)
    seen = _stream(mockagent_server, task, {"X-Mockagent-Fault": "drop-after=2"})
    assert seen == ["1", "2"]
    seen = _stream(mockagent_server, task, {"Last-Event-ID": seen[-1], "X-Mockagent-Fault": "drop-after=1"})
    _stream(mockagent_server, task, {}, f"?since={seen[-1]}")
    verdict = mockagent_server.verdict("resumed_streams")
    assert verdict, verdict
    assert str(verdict) == "each of 2 reconnected stream(s) resumed after its last delivered event"


@pytest.mark.mockagent(manual_clock=True)
def test_a_client_that_starts_over_did_not_resume(mockagent_server: ThreadedMockServer) -> None:
    task = _task(mockagent_server, "echo", "one two three")
    mockagent_server.advance(10)
    _stream(mockagent_server, task, {"X-Mockagent-Fault": "drop-after=2"})
    _stream(mockagent_server, task, {})
    verdict = mockagent_server.verdict("resumed_streams")
    assert not verdict
    assert str(verdict).endswith(
        f"delivered up to id '2', but #3 GET /beeos/api/v1/agents/echo/tasks/{task}/events → 200 asked for "
        "neither Last-Event-ID nor since"
    )


# ── resumed_pauses ────────────────────────────────────────────────────────────────────────────────


def _continue(server: ThreadedMockServer, task: str, body: dict[str, Any]) -> int:
    url = _task_url(server, "approval", task) + "/continue"
    return httpx.post(url, json=body, headers=BEEOS, timeout=SAFETY).status_code


@pytest.mark.mockagent(manual_clock=True)
def test_a_client_that_decides_resumed_pauses(mockagent_server: ThreadedMockServer) -> None:
    task = _task(mockagent_server, "approval")
    mockagent_server.advance(5)
    assert _poll(mockagent_server, "approval", task) == "auth_required"
    assert not mockagent_server.verdict("resumed_pauses")  # still waiting for its human
    assert _continue(mockagent_server, task, {"auth_grant": True}) == 200
    verdict = mockagent_server.verdict("resumed_pauses")
    assert verdict, verdict
    assert str(verdict) == "each of 1 pause(s) for a human was resumed"


@pytest.mark.mockagent(manual_clock=True)
def test_a_client_whose_decision_is_refused_left_the_pause(mockagent_server: ThreadedMockServer) -> None:
    task = _task(mockagent_server, "approval")
    mockagent_server.advance(5)
    assert _continue(mockagent_server, task, {"input": "yes"}) == 400  # an approval needs auth_grant
    verdict = mockagent_server.verdict("resumed_pauses")
    assert not verdict
    assert str(verdict) == (
        f"run {task} of agent approval paused for a human and was never resumed (left paused); resume "
        f"attempt(s) refused: #2 POST /beeos/api/v1/agents/approval/tasks/{task}/continue → 400"
    )
    assert verdict.evidence == (2,)


# ── by name ───────────────────────────────────────────────────────────────────────────────────────


def test_an_unknown_verdict_or_option_is_refused(mockagent_server: ThreadedMockServer) -> None:
    with pytest.raises(VerdictError, match="no verdict 'polite'; the verdicts are backed_off, stopped_polling"):
        mockagent_server.verdict("polite")
    with pytest.raises(VerdictError, match="stopped_polling takes no option 'clock'"):
        mockagent_server.verdict("stopped_polling", clock="session")
    with pytest.raises(VerdictError, match="polled_no_faster needs the option min_interval"):
        mockagent_server.verdict("polled_no_faster")
    with pytest.raises(VerdictError, match="clock is real or session, not 'wall'"):
        mockagent_server.verdict("backed_off", clock="wall")


def test_the_admin_api_gives_verdicts(mockagent_server: ThreadedMockServer) -> None:
    _invoke(mockagent_server, {"message": "hi"}, "429, retry-after=60")
    _invoke(mockagent_server, {"message": "hi"})
    admin = f"{mockagent_server.url}/__mockagent/verdicts"
    answer = httpx.get(f"{admin}/backed_off", params={"session": "default", "clock": "real"}, timeout=SAFETY)
    assert answer.status_code == 200
    body = answer.json()
    assert body["verdict"] == "backed_off"
    assert body["passed"] is False
    assert body["evidence"] == [1, 2]
    assert body["message"].startswith("the client did not back off: #1 POST")
    elsewhere = httpx.get(f"{admin}/backed_off", params={"session": "other"}, timeout=SAFETY).json()
    assert elsewhere["passed"] is True
    unknown = httpx.get(f"{admin}/polite", timeout=SAFETY)
    assert unknown.status_code == 404
    assert "the verdicts are backed_off, stopped_polling, polled_no_faster" in unknown.json()["error"]
    bad = httpx.get(f"{admin}/polled_no_faster", params={"min_interval": "soon"}, timeout=SAFETY)
    assert bad.status_code == 400
    assert bad.json()["error"].startswith("min_interval")
    extra = httpx.get(f"{admin}/stopped_polling", params={"clock": "real"}, timeout=SAFETY)
    assert extra.status_code == 400
    assert "'clock'" in extra.json()["error"]


@pytest.mark.mockagent(manual_clock=True)
def test_every_platforms_poll_is_journaled_with_its_run_and_status(mockagent_server: ThreadedMockServer) -> None:
    server = mockagent_server
    agentos, aos_key = server.base_url("agentos"), {"Authorization": "Bearer aos_ws_t"}
    invoked = server.advance_during(
        lambda: httpx.post(
            f"{agentos}/api/v1/agents/echo/invoke", json={"input": {"query": "hi"}}, headers=aos_key, timeout=SAFETY
        ),
        5,
    )
    run_id = invoked.json()["data"]["run_id"]
    assert httpx.get(f"{agentos}/api/v1/runs/{run_id}", headers=aos_key, timeout=SAFETY).status_code == 200
    polled = httpx.post(f"{agentos}/api/v1/rpc/runs_get", json={"run_id": run_id}, headers=aos_key, timeout=SAFETY)
    assert polled.status_code == 200
    xpander, xp_key = server.base_url("xpander"), {"x-api-key": "key-1"}
    user = {"id": "u-1", "email": "ada@example.com"}
    started = httpx.post(
        f"{xpander}/v1/agents/echo/invoke/async", json={"input": {"text": "hi", "user": user}}, headers=xp_key
    ).json()
    assert httpx.get(f"{xpander}/v1/tasks/{started['id']}", headers=xp_key, timeout=SAFETY).status_code == 200
    aster, jwt = server.base_url("aster"), {"Authorization": f"Bearer {JWT}", "X-Stream-Response": "false"}
    message = {"role": "user", "parts": [{"type": "text", "text": "hi"}]}
    chat = httpx.post(f"{aster}/chat", json={"agentId": 1, "message": message}, headers=jwt, timeout=SAFETY)
    thread = chat.json()["threadId"]
    got = httpx.get(f"{aster}/getConversation", params={"threadId": thread}, headers=jwt, timeout=SAFETY)
    assert got.status_code == 200
    polls = [(e["platform"], e["run"] is not None, e["run_status"]) for e in server.journal() if e["method"] == "GET"]
    polls += [("agentos-rpc", e["run"] == run_id, e["run_status"]) for e in server.journal(path="*/rpc/runs_get")]
    assert polls == [
        ("agentos", True, "completed"),
        ("xpander", True, "running"),
        ("aster", True, "running"),
        ("agentos-rpc", True, "completed"),
    ]
    server.advance(10)
    assert httpx.get(f"{xpander}/v1/tasks/{started['id']}", headers=xp_key, timeout=SAFETY).status_code == 200
    assert not server.verdict("stopped_polling")  # the RPC poll came after the REST one showed it over


def _hang_up_waiting(server: ThreadedMockServer, body: dict[str, Any]) -> None:
    """An invoke the client gives up on while the agent is still working (the server waits on its clock)."""
    raw = json.dumps(body).encode()
    head = (
        f"POST /beeos{AGENT.format(agent='slow')}/invoke HTTP/1.1\r\nHost: 127.0.0.1\r\n"
        f"Authorization: {BEEOS['Authorization']}\r\nContent-Type: application/json\r\n"
        f"Content-Length: {len(raw)}\r\n\r\n"
    )
    with socket.create_connection(("127.0.0.1", server.server.port), timeout=SAFETY) as sock:
        sock.sendall(head.encode() + raw)
        server.until_waiting()
    server.until_idle()


@pytest.mark.parametrize("key", ["k-9", "k-10"])
@pytest.mark.mockagent(manual_clock=True)
def test_a_retry_after_a_hang_up_must_reuse_the_key(mockagent_server: ThreadedMockServer, key: str) -> None:
    body = {"message": "deploy", "idempotency_key": "k-9"}
    _hang_up_waiting(mockagent_server, body)
    assert [e["state"] for e in mockagent_server.journal()] == ["closed"]
    url = f"{mockagent_server.base_url('beeos')}{AGENT.format(agent='slow')}/invoke"
    retried = {**body, "idempotency_key": key}
    if key == "k-9":  # the hang-up ended the first run: watching it again answers at once
        httpx.post(url, json=retried, headers=BEEOS, timeout=SAFETY)
    else:
        mockagent_server.advance_during(lambda: httpx.post(url, json=retried, headers=BEEOS, timeout=SAFETY), 5)
    first, retry = mockagent_server.journal()
    verdict = mockagent_server.verdict("idempotent_retries")
    if key == "k-9":
        assert retry["run"] == first["run"] is not None  # BeeOS watches the first run again
        assert verdict, verdict
    else:
        assert retry["run"] != first["run"]
        assert not verdict
        assert f"#{first['id']} POST /beeos/api/v1/agents/slow/invoke → 499 failed having sent a key" in str(verdict)


async def test_the_async_fixture_verifies_too(mockagent_aserver: MockServer) -> None:
    url = f"{mockagent_aserver.base_url('beeos')}{AGENT.format(agent='echo')}/invoke"
    async with httpx.AsyncClient(timeout=SAFETY) as client:
        await client.post(url, json={"message": "hi"}, headers={**BEEOS, "X-Mockagent-Fault": "429, retry-after=60"})
        await client.post(url, json={"message": "hi"}, headers=BEEOS)
    mockagent_aserver.assert_called("POST", agent="echo", n=2)
    with pytest.raises(AssertionError, match=r"expected exactly 3 request\(s\) matching POST"):
        mockagent_aserver.assert_called("POST", n=3)
    assert [e["status"] for e in mockagent_aserver.journal(agent="echo")] == [429, 200]
    assert not mockagent_aserver.verdict("backed_off")


@pytest.mark.parametrize("decision", ["approve", "never"])
@pytest.mark.mockagent(manual_clock=True)
def test_resumed_pauses_on_xpander(mockagent_server: ThreadedMockServer, decision: str) -> None:
    base, key = mockagent_server.base_url("xpander"), {"x-api-key": "key-1"}
    user = {"id": "u-1", "email": "ada@example.com"}
    started = httpx.post(
        f"{base}/v1/agents/approval/invoke/async", json={"input": {"text": "mail", "user": user}}, headers=key
    ).json()
    mockagent_server.advance(1)
    task = started["id"]
    assert httpx.get(f"{base}/v1/tasks/{task}", headers=key, timeout=SAFETY).json()["status"] == "paused"
    if decision == "approve":
        decided = httpx.post(f"{base}/v1/tasks/{task}/hitl", json={"decision": "approve"}, headers=key)
        assert decided.status_code == 200
        assert mockagent_server.verdict("resumed_pauses")
    else:
        verdict = mockagent_server.verdict("resumed_pauses")
        assert not verdict
        assert str(verdict).endswith("of agent approval paused for a human and was never resumed (left paused)")
