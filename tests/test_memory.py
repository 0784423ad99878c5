"""A long-running server stays bounded: old runs are forgotten past the store limit, and what is forgotten
is freed — runs, and sessions forgotten past the session limit or reset; `mockagent serve`'s collector
policy freezes survivors and reclaims cyclic garbage when idle."""

from __future__ import annotations

import asyncio
import gc
import socket
import weakref
from collections.abc import AsyncIterator
from typing import Any

import aiohttp
import pytest
from aiohttp import web

from mockagent.app import build_app
from mockagent.appkeys import ENGINE
from mockagent.collector import Collector
from mockagent.engine import Engine
from mockagent.runs import Run
from mockagent.server import MockServer
from mockagent.sessions import SESSION_HEADER, Session
from mockagent.settings import Settings

KEY = "oag_" + "0123456789abcdef" * 4
AUTH = {"Authorization": f"Bearer {KEY}"}
LIMIT = 3


@pytest.fixture
async def small_store() -> AsyncIterator[tuple[str, Engine]]:
    """A real server on loopback whose stores keep only the last LIMIT entries."""
    settings = Settings(speed=1000, store_limit=LIMIT)
    runner = web.AppRunner(build_app(settings), handler_cancellation=True)
    await runner.setup()
    site = web.TCPSite(runner, "127.0.0.1", 0)
    await site.start()
    port = runner.addresses[0][1]
    try:
        yield f"http://127.0.0.1:{port}/beeos/api/v1/agents/echo", runner.app[ENGINE]
    finally:
        await runner.cleanup()


async def _json(response: aiohttp.ClientResponse) -> Any:
    return await response.json()


async def test_the_oldest_task_is_forgotten_past_the_store_limit(small_store: tuple[str, Engine]) -> None:
    base, _ = small_store
    async with aiohttp.ClientSession(headers=AUTH) as session:
        ids = []
        for n in range(LIMIT + 1):
            async with session.post(f"{base}/tasks", json={"message": f"task {n}"}) as response:
                assert response.status == 202
                ids.append((await _json(response))["data"]["task_id"])
        async with session.get(f"{base}/tasks/{ids[0]}") as response:
            assert response.status == 404  # the platform's own 404, as for an expired task
            assert (await _json(response))["error"]["code"] == "task_not_found"
        for task_id in ids[1:]:
            async with session.get(f"{base}/tasks/{task_id}") as response:
                assert response.status == 200


async def test_forgotten_runs_are_freed_without_a_full_collection(small_store: tuple[str, Engine]) -> None:
    base, engine = small_store
    async with aiohttp.ClientSession(headers=AUTH) as session:
        async with session.post(f"{base}/invoke", json={"message": "first"}) as response:
            assert response.status == 200
        first = weakref.ref(engine.default_sessions.default.runs_of()[0])
        gc.disable()  # what frees the run must be reference counting, not the cycle collector
        try:
            for n in range(LIMIT * 2):
                async with session.post(f"{base}/invoke", json={"message": f"more {n}"}) as response:
                    assert response.status == 200
            assert len(engine.default_sessions.default.runs_of()) == LIMIT
            assert first() is None
        finally:
            gc.enable()


async def test_collector_freezes_survivors_and_reclaims_frozen_cycles_when_idle(
    small_store: tuple[str, Engine],
) -> None:
    base, engine = small_store
    thresholds = gc.get_threshold()
    collector = Collector(engine, batch=2, tick=3600)  # the test takes the ticks itself
    collector.start()
    try:
        assert gc.get_threshold()[0] > thresholds[0]  # young collections made rarer while it runs

        class Cycle:
            me: Any = None

        cycle = Cycle()
        cycle.me = cycle  # garbage only the cycle collector can free, alive across the freeze
        dead = weakref.ref(cycle)
        async with aiohttp.ClientSession(headers=AUTH) as session:
            for n in range(2):
                async with session.post(f"{base}/invoke", json={"message": f"m{n}"}) as response:
                    assert response.status == 200
        frozen = gc.get_freeze_count()
        collector.step()  # two runs since the start: freeze what survived them
        assert collector.freezes == 1
        assert gc.get_freeze_count() > frozen
        del cycle
        gc.collect()
        assert dead() is not None  # frozen: out of the collector's reach
        collector.step()  # no new run, nothing in flight: idle, so one full collection
        assert collector.freezes == 0
        assert dead() is None
    finally:
        await collector.stop()
    assert gc.get_threshold() == thresholds
    assert gc.get_freeze_count() == 0


async def _use_every_kind_of_record(server: MockServer, http: aiohttp.ClientSession, session: str) -> None:
    """Calls that fill a session's records, those that point back at the session among them: a BeeOS
    upload (kept in the session's scratch folder) and an AgentOS approval, left pending."""
    named = {SESSION_HEADER: session}
    beeos, agentos = server.base_url("beeos"), server.base_url("agentos")
    async with http.post(f"{beeos}/api/v1/agents/echo/invoke", json={"message": "hi"}, headers=named | AUTH) as r:
        assert r.status == 200
    presign = {"filename": "a.txt", "content_type": "text/plain"}
    async with http.post(f"{beeos}/api/v1/files/presign-upload", json=presign, headers=named | AUTH) as r:
        upload_url = (await _json(r))["data"]["upload_url"]
    async with http.put(upload_url, data=b"soak", headers=named | {"Content-Type": "text/plain"}) as r:
        assert r.status == 200
    agentos_auth = {"Authorization": "Bearer aos_ws_t"}
    async with http.post(f"{agentos}/api/v1/agents/approval/invoke", json={}, headers=named | agentos_auth) as r:
        assert r.status == 202
    async with http.get(f"{agentos}/api/v1/approvals", headers=named | agentos_auth) as r:
        assert len((await _json(r))["data"]) == 1


def _live_sessions() -> set[str]:
    return {found.name for found in gc.get_objects() if isinstance(found, Session)}


def _live_runs() -> int:
    return sum(1 for found in gc.get_objects() if isinstance(found, Run))


async def test_forgotten_and_reset_sessions_are_freed_without_a_full_collection() -> None:
    # `mockagent serve` freezes what survives each batch of runs out of the cycle collector's reach: a
    # forgotten session in a reference cycle would stay, with all it holds, until the server went idle.
    settings = Settings(speed=1000, max_sessions=2)  # the default session and one more
    async with MockServer(settings) as server, aiohttp.ClientSession() as http:
        gc.collect()
        gc.disable()
        try:
            runs = _live_runs()
            names = {"forgotten-1", "forgotten-2", "reset-3"}
            for name in sorted(names):  # each one pushes the one before out of the store
                await _use_every_kind_of_record(server, http, name)
            async with http.delete(f"{server.url}/__mockagent/sessions/reset-3") as r:
                assert r.status == 200
            assert not _live_sessions() & names  # (other tests' servers may hold sessions of their own)
            assert _live_runs() == runs  # their runs too: a conversation and its runs point at each other
        finally:
            gc.enable()


async def test_a_closed_connection_is_freed_without_a_full_collection() -> None:
    # CPython's selector transports are reference cycles of their own; the server cuts them as they close.
    head = b"GET /__mockagent/health HTTP/1.1\r\nHost: mock\r\nConnection: close\r\n\r\n"
    async with MockServer(Settings()) as server:
        loop = asyncio.get_running_loop()
        gc.collect()
        gc.disable()
        try:
            before = _live_transports()
            for sent in (head, head[:20]):  # answered and closed by the server; left by the client midway
                with socket.socket() as client:  # a bare socket: the test's own side holds no transport
                    client.setblocking(False)
                    await loop.sock_connect(client, (server.host, server.port))
                    await loop.sock_sendall(client, sent)
                    if sent is head:
                        while await loop.sock_recv(client, 65536):
                            pass
                await _until_freed(before)
        finally:
            gc.enable()


def _live_transports() -> int:
    return sum(1 for found in gc.get_objects() if isinstance(found, asyncio.Transport))


async def _until_freed(transports: int) -> None:
    """Wait (bounded) until the server has closed the connection and only `transports` are alive: what
    frees a closed one must be reference counting, the cycle collector being off."""
    for _ in range(500):
        if _live_transports() == transports:
            return
        await asyncio.sleep(0.01)
    raise AssertionError("a closed connection's transport is still alive")


async def test_a_stopped_server_keeps_no_session_but_an_empty_default() -> None:
    # aiohttp caches each application's middleware chain process-wide (up to 1,024 of them): a test process
    # that starts many servers keeps their applications, so what a stopped one holds must be let go.
    async with MockServer(Settings(speed=1000)) as server, aiohttp.ClientSession() as http:
        for name in ("one", "two"):
            url = f"{server.base_url('beeos')}/api/v1/agents/echo/invoke"
            headers = {"Authorization": "Bearer oag_" + "a" * 64, SESSION_HEADER: name}
            async with http.post(url, json={"message": "hi"}, headers=headers) as r:
                assert r.status == 200
        sessions = server.app[ENGINE].sessions
        assert [session.name for session in sessions.sessions()] == ["default", "one", "two"]
    assert [session.name for session in sessions.sessions()] == ["default"]
    assert len(sessions.default.runs) == 0
    gc.collect()
    assert {"one", "two"} & _live_sessions() == set()
