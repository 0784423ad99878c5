"""The one server every test of the package fuzzes, what it holds before the fuzz starts, and its log."""

from __future__ import annotations

import itertools
import logging
import re
import time
import uuid
from collections.abc import Iterator

import httpx
import pytest
from test_hostile_input import AGENTOS, BEEOS, XPANDER, ZEUS
from yarl import URL

from fuzz.routes import BUDGET, SCENARIOS, SEED
from fuzz.strategies import LLM, Known
from fuzz.wire import SAFETY, Fuzzed, Seeder, Trouble
from mockagent.platforms.agentos.control import NOT_MODELLED, SERVED
from mockagent.platforms.xpander.models import LLM_CATALOG
from mockagent.server import ThreadedMockServer
from mockagent.settings import Settings

AGENTS = ["echo", "tools", "approval", "question", "picky", "flaky"]
# What each fuzzed server was sent, and in how long (real seconds, for the summary only): the measure of a
# run's budget that pytest's summary, counting tests, does not give.
_SENT: list[tuple[int, float]] = []


def pytest_terminal_summary(terminalreporter: pytest.TerminalReporter) -> None:
    for sent, seconds in _SENT:
        terminalreporter.write_line(
            f"fuzz: {sent} requests in {seconds:.1f} s (MOCKAGENT_FUZZ_EXAMPLES={BUDGET}, MOCKAGENT_FUZZ_SEED={SEED})"
        )


@pytest.fixture(scope="package")
def fuzzed() -> Iterator[Fuzzed]:
    # A manual clock: nothing a probe starts moves on by itself (a BeeOS task leaves its queue only when a
    # probe of the admin API advances the clock), so that a run of the fuzz is the same run every time. Small
    # stores: the fuzz forgets runs, tasks, approvals, conversations and sessions all along, as a server that
    # has run for long does past its 10,000 and 100.
    trouble = Trouble()
    loggers = [logging.getLogger(name) for name in Trouble.LOGGERS]
    for logger in loggers:
        logger.addHandler(trouble)
    assert all(logger.isEnabledFor(logging.ERROR) for logger in loggers)  # else the log check holds nothing
    started = time.monotonic()
    try:
        with ThreadedMockServer(
            Settings(scenario_paths=(SCENARIOS,), manual_clock=True, store_limit=64, max_sessions=8)
        ) as server:
            known = _fixed()
            for seeder in SEEDERS.values():
                seeder(server, known)
            fuzzed = Fuzzed(server, known, trouble, SEEDERS)
            yield fuzzed
            _SENT.append((fuzzed.sent, time.monotonic() - started))
            health = httpx.get(f"{server.url}/__mockagent/health", timeout=SAFETY)
            assert (health.status_code, health.json()["status"]) == (200, "ok")
    finally:
        for logger in loggers:
            logger.removeHandler(trouble)
    assert trouble.since(0) == []


def _fixed() -> Known:
    """The names that are always there: agents, RPC methods, LLM providers, sessions."""
    known = Known()
    for name in ("agentId", "agent_id", "agent"):
        known.add(name, *AGENTS)
    known.add("method", *sorted(SERVED), *sorted(NOT_MODELLED)[:3])
    known.add("provider", *LLM_CATALOG)
    known.add("name", "fuzz", "a.b:c@d/e+f-g")  # never the default session: resetting it loses the ids below
    known.add("session", "default", "fuzz")
    known.add("uuid", str(uuid.UUID(int=1)))
    return known


# Each makes, the ordinary way, what a platform's routes act on — a run, a task, an approval, a question, a
# file, a session, a thread — and adds their ids.


def _beeos(server: ThreadedMockServer, known: Known) -> None:
    beeos = server.base_url("beeos") + "/api/v1"
    file = {"filename": "a.txt", "content_type": "text/plain"}
    presigned = httpx.post(f"{beeos}/files/presign-upload", json=file, headers=BEEOS).json()["data"]
    known.add("fileId", presigned["file_id"])
    known.add("signature", *(URL(presigned[url]).query["signature"] for url in ("upload_url", "download_url")))
    reply = httpx.post(f"{beeos}/agents/echo/invoke", json={"message": "hi"}, headers=BEEOS).json()["data"]
    known.add("context", reply["context_id"])
    for agent in ("echo", "approval", "question"):
        task = httpx.post(f"{beeos}/agents/{agent}/tasks", json={"message": "hi"}, headers=BEEOS).json()["data"]
        known.add("taskId", task["task_id"], agent=agent)
    server.advance(1)  # out of their queue: the approval's and the question's tasks pause


def _agentos(server: ThreadedMockServer, known: Known) -> None:
    agentos = server.base_url("agentos") + "/api"
    for agent in ("echo", "approval", "question"):
        body = {"input": {"message": "hi"}, "start_session": True}
        data = httpx.post(f"{agentos}/v1/agents/{agent}/invoke", json=body, headers=AGENTOS).json()["data"]
        known.add("runId", data["run_id"])
        if "session_id" in data:
            known.add("sessionId", data["session_id"])
        if "awaiting_approval" in data:
            known.add("approvalId", data["awaiting_approval"]["approval_id"])
        if "awaiting_input" in data:
            known.add("requestId", data["awaiting_input"]["request_id"])
    started = httpx.post(f"{agentos}/ingest/v1/run/start", json={"agent_id": "echo"}, headers=AGENTOS)
    known.add("runId", started.json()["data"]["run_id"])
    known.add("ingestRunId", started.json()["data"]["run_id"])


def _xpander(server: ThreadedMockServer, known: Known) -> None:
    xpander = server.base_url("xpander") + "/v1/agents"
    for agent in ("echo", "approval", "question"):
        body = {"input": {"text": "hi", "user": {"id": "u1", "email": "u@example.com"}}}
        task = httpx.post(f"{xpander}/{agent}/invoke/async", json=body, headers=XPANDER).json()
        known.add("task_id", task["id"])


_SESSIONS = itertools.count(1)


def _zeus(server: ThreadedMockServer, known: Known) -> None:
    zeus = server.base_url("zeus") + "/api/agent/invoke"
    for agent in ("approval", "question"):
        session = f"zeus-{next(_SESSIONS)}"
        body = {"message": "hi", "session_id": session, "llm_config": LLM}
        frames = httpx.post(zeus, params={"agent": agent}, json=body, headers=ZEUS).text
        known.add("zeusSession", session)
        known.add("toolCallId", *re.findall(r'"tool_call_id":"([^"]+)"', frames))


def _aster(server: ThreadedMockServer, known: Known) -> None:
    aster = server.base_url("aster") + "/chat"
    for aster_id in (1, 3, 4):
        body = {"agentId": aster_id, "message": {"role": "user", "parts": [{"type": "text", "text": "hi"}]}}
        known.add("threadId", httpx.post(aster, json=body, headers=ZEUS).headers["X-Thread-ID"])


SEEDERS: dict[str, Seeder] = {"beeos": _beeos, "agentos": _agentos, "xpander": _xpander, "zeus": _zeus, "aster": _aster}
