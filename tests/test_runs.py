"""The run lifecycle (mockagent/runs.py) as clients drive it: over loopback HTTP against a manual clock,
inspecting the server's own `Run` objects (`session().run(id)`) where the wire cannot show enough.

- reading a run never changes it, and a deadline that passed reads as a timeout *at the deadline*;
- a resume of the wrong kind is refused and leaves the pause pending;
- two views of one run see the same frames at the same moments;
- a view's gateway limit is its own (BeeOS idempotent invoke replays).
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from datetime import datetime
from typing import Any

import aiohttp
import pytest
from sse import parse

from mockagent.errors import RunStateError
from mockagent.model import PauseKind, TextDelta
from mockagent.runs import Decision, Run, RunStatus
from mockagent.server import MockServer

pytestmark = pytest.mark.mockagent(manual_clock=True, scenarios=["tests/scenarios/core_runs.yaml"], with_builtin=True)

BEEOS_AUTH = {"Authorization": "Bearer oag_" + "0123456789abcdef" * 4}
AGENTOS_AUTH = {"Authorization": "Bearer aos_ws_team"}
SAFETY = 10.0  # real seconds: a bound on what should happen at once, never a measurement


@pytest.fixture
async def http() -> AsyncIterator[aiohttp.ClientSession]:
    async with aiohttp.ClientSession() as session:
        yield session


def stamp(moment: datetime) -> str:
    """RFC 3339 with milliseconds and Z, as BeeOS writes timestamps."""
    return moment.strftime("%Y-%m-%dT%H:%M:%S.") + f"{moment.microsecond // 1000:03d}Z"


def agents_url(server: MockServer) -> str:
    return f"{server.base_url('beeos')}/api/v1/agents"


async def create_task(http: aiohttp.ClientSession, server: MockServer, agent: str, **body: Any) -> tuple[str, Run]:
    response = await http.post(
        f"{agents_url(server)}/{agent}/tasks", json={"message": "go", **body}, headers=BEEOS_AUTH
    )
    assert response.status == 202, await response.text()
    task_id = (await response.json())["data"]["task_id"]
    run = server.session().run(task_id)
    assert run is not None
    return task_id, run


async def get_task(http: aiohttp.ClientSession, server: MockServer, agent: str, task_id: str) -> dict[str, Any]:
    response = await http.get(f"{agents_url(server)}/{agent}/tasks/{task_id}", headers=BEEOS_AUTH)
    assert response.status == 200, await response.text()
    data: dict[str, Any] = (await response.json())["data"]
    return data


async def advance_to(server: MockServer, at: float) -> None:
    await server.advance(at - server.clock.now())
    assert server.clock.now() == at


async def spins(turns: int = 20) -> None:
    for _ in range(turns):
        await asyncio.sleep(0)


# ── reading a run does not change it ─────────────────────────────────────────────────────────────────

# `drip` (tests/scenarios/core_runs.yaml) as a BeeOS task: queued 0.5 s, then "one " "two " "three " "four"
# at 0.5, 1.5, 2.5 and 3.5, completed at 3.5. With deadline_ms 2000 the task times out at 2.0.
DEADLINE = 2.0


async def test_reads_do_not_change_a_run_and_a_passed_deadline_reads_as_of_the_deadline(
    mockagent_aserver: MockServer, http: aiohttp.ClientSession
) -> None:
    task_id, run = await create_task(http, mockagent_aserver, "drip", deadline_ms=2000)
    timeline = run.timeline
    laid_out = list(timeline)
    assert [t.at for t in laid_out] == [0.5, 1.5, 2.5, 3.5, 3.5]

    def read_everything() -> None:
        for at in (None, 0.0, 0.2, 0.5, 1.0, 1.9, 2.0, 2.7, 9.0, 100.0):
            run.status(at)
            run.visible(at)
            run.text(at)
            run.failure(at)
            run.pause(at)
        for status in RunStatus:
            run.moment(status)
        _ = run.settles_at, run.end_reason

    await advance_to(mockagent_aserver, 1.0)
    read_everything()
    assert run.status() is RunStatus.RUNNING
    assert run.moment(RunStatus.TIMED_OUT) is None
    assert run.end_reason is None
    assert run.text() == "one "

    await advance_to(mockagent_aserver, 2.7)  # past the deadline: nobody has looked at the run since 1.0
    read_everything()
    assert run.status() is RunStatus.TIMED_OUT
    assert run.moment(RunStatus.TIMED_OUT) == DEADLINE  # the deadline, not the moment it was read
    assert run.end_reason == "task deadline exceeded"
    assert run.text() == "one two "  # "three" was due at 2.5, after the deadline: it never happened
    assert run.visible() == laid_out[:2]
    assert run.visible(100.0) == laid_out[:2]
    # Reading the past still answers the past.
    assert run.status(0.2) is RunStatus.QUEUED
    assert run.status(1.9) is RunStatus.RUNNING
    assert run.status(DEADLINE) is RunStatus.TIMED_OUT
    assert run.text(1.0) == "one "
    assert run.visible(0.5) == laid_out[:1]
    assert run.failure() is None
    assert run.pause() is None

    # Over HTTP, the task shows the same: timed out at the deadline, with the text of before it.
    wall = run.clock.wall
    task = await get_task(http, mockagent_aserver, "drip", task_id)
    assert task["status"] == "timeout"
    assert task["error"] == "task deadline exceeded"
    assert task["completed_at"] == task["deadline_at"] == stamp(wall(DEADLINE))
    messages_url = f"{agents_url(mockagent_aserver)}/drip/tasks/{task_id}/messages?include_deltas=true"
    page = (await (await http.get(messages_url, headers=BEEOS_AUTH)).json())["data"]
    channel = [(m["type"], m["payload"].get("text"), m["created_at"]) for m in page["messages"]]
    assert channel == [
        ("chat_message", "go", stamp(wall(0))),
        ("agent_reply_delta", "one ", stamp(wall(0.5))),
        ("agent_reply_delta", "two ", stamp(wall(1.5))),
        ("agent_reply", "one two ", stamp(wall(DEADLINE))),
    ]

    await advance_to(mockagent_aserver, 9.0)  # read again much later: the same answers
    read_everything()
    assert run.status() is RunStatus.TIMED_OUT
    assert run.moment(RunStatus.TIMED_OUT) == DEADLINE
    assert run.text() == "one two "
    assert (await get_task(http, mockagent_aserver, "drip", task_id))["completed_at"] == stamp(wall(DEADLINE))

    # None of the reads touched the timeline (the deadline is derived, never written into the run).
    assert run.timeline is timeline
    assert run.timeline == laid_out


async def test_a_run_that_settles_before_its_deadline_is_not_timed_out(
    mockagent_aserver: MockServer, http: aiohttp.ClientSession
) -> None:
    task_id, run = await create_task(http, mockagent_aserver, "drip", deadline_ms=10_000)
    await advance_to(mockagent_aserver, 20.0)
    assert run.status() is RunStatus.COMPLETED
    assert run.moment(RunStatus.COMPLETED) == 3.5
    assert run.moment(RunStatus.TIMED_OUT) is None
    assert run.text() == "one two three four"
    task = await get_task(http, mockagent_aserver, "drip", task_id)
    assert (task["status"], task["result"]) == ("completed", {"text": "one two three four"})
    assert task["completed_at"] == stamp(run.clock.wall(3.5))


async def test_moment_of_a_status_not_yet_reached_is_none(
    mockagent_aserver: MockServer, http: aiohttp.ClientSession
) -> None:
    _, run = await create_task(http, mockagent_aserver, "drip")
    await advance_to(mockagent_aserver, 1.0)
    assert run.status() is RunStatus.RUNNING
    assert run.moment(RunStatus.COMPLETED) is None  # it completes at 3.5: "when it got there, if it has"


async def test_moment_of_completion_is_none_for_a_run_its_deadline_cut_off(
    mockagent_aserver: MockServer, http: aiohttp.ClientSession
) -> None:
    _, run = await create_task(http, mockagent_aserver, "drip", deadline_ms=2000)
    await advance_to(mockagent_aserver, 9.0)
    assert run.status() is RunStatus.TIMED_OUT
    assert run.moment(RunStatus.COMPLETED) is None


# ── a resume of the wrong kind ───────────────────────────────────────────────────────────────────────


async def paused_task(http: aiohttp.ClientSession, server: MockServer, agent: str) -> tuple[str, Run]:
    task_id, run = await create_task(http, server, agent)
    await server.advance(1)  # queued 0.5 s, first frame 0.03 s later: paused
    assert run.status() is RunStatus.PAUSED
    return task_id, run


async def test_answering_an_approval_is_refused_and_the_approval_stays_pending(
    mockagent_aserver: MockServer, http: aiohttp.ClientSession
) -> None:
    task_id, run = await paused_task(http, mockagent_aserver, "approval")
    pending = run.pending
    assert pending is not None
    assert pending.pause.kind is PauseKind.APPROVAL
    before, variables = list(run.timeline), dict(run.variables)

    with pytest.raises(RunStateError, match="approval, not an answer"):
        run.resume(Decision.ANSWER, answer="staging")

    assert run.status() is RunStatus.PAUSED
    assert run.pending is pending
    assert run.pause() is pending.pause
    assert run.timeline == before
    assert run.variables == variables  # no answer recorded
    assert (await get_task(http, mockagent_aserver, "approval", task_id))["status"] == "auth_required"

    # The right kind of decision still works, through the API.
    continued = await http.post(
        f"{agents_url(mockagent_aserver)}/approval/tasks/{task_id}/continue",
        json={"auth_grant": True},
        headers=BEEOS_AUTH,
    )
    assert continued.status == 200, await continued.text()
    await mockagent_aserver.advance(1)
    task = await get_task(http, mockagent_aserver, "approval", task_id)
    assert (task["status"], task["result"]) == ("completed", {"text": "Email sent."})


@pytest.mark.parametrize("decision", [Decision.APPROVE, Decision.REJECT])
async def test_approving_a_question_is_refused_and_the_question_stays_pending(
    mockagent_aserver: MockServer, http: aiohttp.ClientSession, decision: Decision
) -> None:
    task_id, run = await paused_task(http, mockagent_aserver, "question")
    pending = run.pending
    assert pending is not None
    assert pending.pause.kind is PauseKind.INPUT
    before, variables = list(run.timeline), dict(run.variables)

    with pytest.raises(RunStateError, match="answer, not an approval"):
        run.resume(decision)

    assert run.status() is RunStatus.PAUSED
    assert run.pending is pending
    assert run.timeline == before
    assert run.variables == variables  # no answer recorded
    assert (await get_task(http, mockagent_aserver, "question", task_id))["status"] == "input_required"

    continued = await http.post(
        f"{agents_url(mockagent_aserver)}/question/tasks/{task_id}/continue",
        json={"input": {"text": "staging"}},
        headers=BEEOS_AUTH,
    )
    assert continued.status == 200, await continued.text()
    await mockagent_aserver.advance(1)
    task = await get_task(http, mockagent_aserver, "question", task_id)
    assert (task["status"], task["result"]) == ("completed", {"text": "Deploying to staging."})


async def test_a_resume_of_a_run_that_is_not_paused_is_refused(
    mockagent_aserver: MockServer, http: aiohttp.ClientSession
) -> None:
    _, run = await create_task(http, mockagent_aserver, "approval")
    assert run.status() is RunStatus.QUEUED
    with pytest.raises(RunStateError, match="not paused"):
        run.resume(Decision.APPROVE)
    await mockagent_aserver.advance(1)
    run.resume(Decision.APPROVE)
    await mockagent_aserver.advance(1)
    assert run.status() is RunStatus.COMPLETED
    with pytest.raises(RunStateError, match="completed, not paused"):
        run.resume(Decision.APPROVE)
    assert run.text() == "Email sent."


async def test_an_expired_approval_cannot_be_decided(
    mockagent_aserver: MockServer, http: aiohttp.ClientSession
) -> None:
    task_id, run = await paused_task(http, mockagent_aserver, "approval")
    await mockagent_aserver.advance(24 * 3600)
    assert run.status() is RunStatus.EXPIRED
    with pytest.raises(RunStateError, match="expired"):
        run.resume(Decision.APPROVE)
    task = await get_task(http, mockagent_aserver, "approval", task_id)
    assert (task["status"], task["error"]) == ("rejected", "the approval request expired")


async def test_agentos_answering_an_approval_is_refused_over_http_and_the_approval_still_decides(
    mockagent_aserver: MockServer, http: aiohttp.ClientSession
) -> None:
    base = f"{mockagent_aserver.base_url('agentos')}/api/v1"
    invoke = asyncio.ensure_future(
        http.post(f"{base}/agents/approval/invoke", json={"input": {"query": "mail ops"}}, headers=AGENTOS_AUTH)
    )
    await asyncio.wait_for(mockagent_aserver.until_waiting(1), SAFETY)
    await mockagent_aserver.advance(1)
    response = await asyncio.wait_for(invoke, SAFETY)
    assert response.status == 202, await response.text()
    data = (await response.json())["data"]
    run_id, approval_id = data["run_id"], data["awaiting_approval"]["approval_id"]
    run = mockagent_aserver.session().run(run_id)
    assert run is not None
    before = list(run.timeline)

    refused = await http.post(f"{base}/runs/{run_id}/human-input", json={"response": "yes"}, headers=AGENTOS_AUTH)
    assert refused.status == 400
    assert "not awaiting input" in (await refused.json())["error"]["message"]
    assert run.status() is RunStatus.PAUSED
    assert run.timeline == before

    decided = await http.post(
        f"{base}/approvals/{approval_id}/decide", json={"decision": "approve"}, headers=AGENTOS_AUTH
    )
    assert decided.status == 200, await decided.text()
    await mockagent_aserver.advance(1)
    polled = (await (await http.get(f"{base}/runs/{run_id}", headers=AGENTOS_AUTH)).json())["data"]
    assert (polled["status"], polled["output"]) == ("completed", {"text": "Email sent."})


# ── two views of one run ─────────────────────────────────────────────────────────────────────────────


async def read_frame(response: aiohttp.ClientResponse) -> bytes:
    return await asyncio.wait_for(response.content.readuntil(b"\n\n"), SAFETY)


async def test_two_event_streams_of_one_task_see_the_same_frames_at_the_same_moments(
    mockagent_aserver: MockServer, http: aiohttp.ClientSession
) -> None:
    task_id, run = await create_task(http, mockagent_aserver, "echo", message="a b")
    events_url = f"{agents_url(mockagent_aserver)}/echo/tasks/{task_id}/events"
    first, second = await asyncio.gather(
        http.get(events_url, headers=BEEOS_AUTH), http.get(events_url, headers=BEEOS_AUTH)
    )
    streams = (first, second)
    opening = [await read_frame(s) for s in streams]
    assert opening[0] == opening[1]
    assert parse(opening[0].decode())[0].json()["type"] == "chat_message"
    await asyncio.wait_for(mockagent_aserver.until_waiting(2), SAFETY)  # both parked on the clock

    laid_out = list(run.timeline)
    assert [type(t.event) for t in laid_out[:3]] == [TextDelta, TextDelta, TextDelta]
    for timed in laid_out[:3]:
        await advance_to(mockagent_aserver, timed.at)
        got = [await read_frame(s) for s in streams]
        assert got[0] == got[1]
        message = parse(got[0].decode())[0].json()
        assert (message["offset"], message["payload"]["text"]) == (timed.seq + 2, timed.event.text)
        assert message["created_at"] == stamp(run.clock.wall(timed.at))
        if timed is not laid_out[2]:
            await spins()
            # Nothing due later has been sent to either view ahead of its moment.
            assert [s.content.read_nowait() for s in streams] == [b"", b""]

    await mockagent_aserver.advance(1)
    rest = [await asyncio.wait_for(s.content.read(), SAFETY) for s in streams]
    assert rest[0] == rest[1]
    tail = parse(rest[0].decode())
    assert [f.event for f in tail][-1] == "end"
    assert tail[-2].json()["body"] == "Echo: a b"
    assert run.status() is RunStatus.COMPLETED


async def test_a_view_that_joins_late_sees_what_the_first_saw(
    mockagent_aserver: MockServer, http: aiohttp.ClientSession
) -> None:
    task_id, run = await create_task(http, mockagent_aserver, "drip")
    events_url = f"{agents_url(mockagent_aserver)}/drip/tasks/{task_id}/events"
    early = await http.get(events_url, headers=BEEOS_AUTH)
    await read_frame(early)  # the caller's message
    await asyncio.wait_for(mockagent_aserver.until_waiting(1), SAFETY)
    await advance_to(mockagent_aserver, 1.5)  # "one " and "two " have happened
    late = await http.get(events_url, headers=BEEOS_AUTH)
    await asyncio.wait_for(mockagent_aserver.until_waiting(2), SAFETY)  # both views wait for "three"
    await advance_to(mockagent_aserver, 10.0)
    bodies = [await asyncio.wait_for(s.content.read(), SAFETY) for s in (early, late)]
    whole = parse(bodies[1].decode())
    assert bodies[0] == bodies[1].split(b"\n\n", 1)[1]  # the late view also got the caller's message
    assert [f.event for f in whole] == ["message"] * 6 + ["end"]
    assert [f.json()["offset"] for f in whole[:6]] == [1, 2, 3, 4, 5, 6]
    assert [f.json()["created_at"] for f in whole[1:5]] == [stamp(run.clock.wall(at)) for at in (0.5, 1.5, 2.5, 3.5)]


# ── a view's gateway limit is its own (BeeOS idempotent invoke) ──────────────────────────────────────


async def start_invoke(
    http: aiohttp.ClientSession, server: MockServer, agent: str, timeout_ms: int, key: str
) -> asyncio.Future[aiohttp.ClientResponse]:
    body = {"message": "go", "idempotency_key": key, "timeout_ms": timeout_ms}
    return asyncio.ensure_future(http.post(f"{agents_url(server)}/{agent}/invoke", json=body, headers=BEEOS_AUTH))


async def test_a_replay_with_a_shorter_window_times_out_at_its_own_limit(
    mockagent_aserver: MockServer, http: aiohttp.ClientSession
) -> None:
    first = await start_invoke(http, mockagent_aserver, "slow", 10_000, "k-short")
    await asyncio.wait_for(mockagent_aserver.until_waiting(1), SAFETY)
    replay = await start_invoke(http, mockagent_aserver, "slow", 1_000, "k-short")
    await asyncio.wait_for(mockagent_aserver.until_waiting(2), SAFETY)
    assert len(mockagent_aserver.session().runs_of()) == 1  # the replay started no turn of its own

    await mockagent_aserver.advance(0.9)
    await spins()
    assert not replay.done()
    assert not first.done()
    await mockagent_aserver.advance(0.1)
    answer = await asyncio.wait_for(replay, SAFETY)
    assert answer.status == 504
    assert (await answer.json())["error"]["code"] == "service_timeout"
    first.cancel()


async def test_a_replay_timing_out_leaves_the_first_request_its_own_window(
    mockagent_aserver: MockServer, http: aiohttp.ClientSession
) -> None:
    first = await start_invoke(http, mockagent_aserver, "slow", 10_000, "k-own")
    await asyncio.wait_for(mockagent_aserver.until_waiting(1), SAFETY)
    replay = await start_invoke(http, mockagent_aserver, "slow", 1_000, "k-own")
    await asyncio.wait_for(mockagent_aserver.until_waiting(2), SAFETY)
    run = mockagent_aserver.session().runs_of()[0]

    await mockagent_aserver.advance(1)
    assert (await asyncio.wait_for(replay, SAFETY)).status == 504
    await spins()
    try:
        # The replay's gateway gave up on the replay; the turn itself goes on for the first request.
        assert not first.done()
        assert run.status() is RunStatus.RUNNING
        await mockagent_aserver.advance(4)
        answer = await asyncio.wait_for(first, SAFETY)
        assert answer.status == 200
        assert (await answer.json())["data"]["text"] == "Done after a while."
    finally:
        first.cancel()


async def test_a_replay_with_a_longer_window_does_not_extend_the_first(
    mockagent_aserver: MockServer, http: aiohttp.ClientSession
) -> None:
    first = await start_invoke(http, mockagent_aserver, "slow", 1_000, "k-long")
    await asyncio.wait_for(mockagent_aserver.until_waiting(1), SAFETY)
    replay = await start_invoke(http, mockagent_aserver, "slow", 10_000, "k-long")
    await asyncio.wait_for(mockagent_aserver.until_waiting(2), SAFETY)
    run = mockagent_aserver.session().runs_of()[0]

    await mockagent_aserver.advance(0.9)
    await spins()
    assert not first.done()
    await mockagent_aserver.advance(0.1)
    assert (await asyncio.wait_for(first, SAFETY)).status == 504
    assert run.status() is RunStatus.TIMED_OUT
    assert run.moment(RunStatus.TIMED_OUT) == 1.0
    # The turn the replay replays timed out, so the replay answers as the first did.
    assert (await asyncio.wait_for(replay, SAFETY)).status == 504
    late = await start_invoke(http, mockagent_aserver, "slow", 10_000, "k-long")
    assert (await asyncio.wait_for(late, SAFETY)).status == 504
    assert len(mockagent_aserver.session().runs_of()) == 1


async def test_a_replay_hanging_up_leaves_the_first_request_its_turn(mockagent_aserver: MockServer) -> None:
    session = mockagent_aserver.session()
    async with aiohttp.ClientSession() as http, aiohttp.ClientSession() as other:
        first = await start_invoke(http, mockagent_aserver, "slow", 10_000, "k-gone")
        await asyncio.wait_for(mockagent_aserver.until_waiting(1), SAFETY)
        replay = await start_invoke(other, mockagent_aserver, "slow", 10_000, "k-gone")
        await asyncio.wait_for(mockagent_aserver.until_waiting(2), SAFETY)
        run = session.runs_of()[0]
        assert session.in_flight == 2
        replay.cancel()
        await other.close()  # the replay's client goes away
        await asyncio.wait_for(session.until_in_flight(1), SAFETY)  # the server ended the replay's handler
        try:
            assert session.in_flight == 1  # the first request is still waiting
            assert run.status() is RunStatus.RUNNING
            await mockagent_aserver.advance(4)
            answer = await asyncio.wait_for(first, SAFETY)
            assert (await answer.json())["data"] == {
                "text": "Done after a while.",
                "context_id": run.conversation.id,
                "is_error": False,
            }
        finally:
            first.cancel()


# ── a scripted stream fault strikes the view it is written to, not the run ───────────────────────────


@pytest.mark.mockagent(manual_clock=True, scenarios=["tests/scenarios/glitches.yaml"])
async def test_a_scripted_drop_cuts_the_client_stream_while_another_view_sees_the_whole_run(
    mockagent_aserver: MockServer, http: aiohttp.ClientSession
) -> None:
    task_id, run = await create_task(http, mockagent_aserver, "dropper")
    seen: list[str] = []

    async def watch() -> None:  # a second view with no stream of its own (as a recording or a web page)
        async for _, timed in run.follow(through_pauses=True):
            seen.append(type(timed.event).__name__)

    watcher = asyncio.ensure_future(watch())
    response = await http.get(f"{agents_url(mockagent_aserver)}/dropper/tasks/{task_id}/events", headers=BEEOS_AUTH)
    await asyncio.wait_for(mockagent_aserver.until_waiting(2), SAFETY)  # both views wait for the task to start
    await advance_to(mockagent_aserver, 0.5)
    with pytest.raises(aiohttp.ClientPayloadError):
        await response.read()  # the client's stream is cut where the script says
    await asyncio.wait_for(mockagent_aserver.session().until_in_flight(0), SAFETY)
    await advance_to(mockagent_aserver, 5.5)
    await asyncio.wait_for(watcher, SAFETY)
    assert seen == ["TextDelta", "TextDelta", "Completed"]  # "before ", "after", and the end: the run went on
    assert (await get_task(http, mockagent_aserver, "dropper", task_id))["status"] == "completed"
