"""Clients that hang up mid-stream: the server logs no error of its own, stays up, and journals the call."""

from __future__ import annotations

import json
import logging
import socket
import struct

import httpx
import pytest

from mockagent.server import ThreadedMockServer

KEY = "oag_" + "0123456789abcdef" * 4
MESSAGE = "x" * 600_000  # streamed back in 1,000 chunks (the most one say makes): ~0.6 MB of SSE


def _hang_up_after_headers(port: int, path: str, body: dict[str, str], headers: dict[str, str]) -> bytes:
    raw = json.dumps(body).encode()
    head = "".join(f"{name}: {value}\r\n" for name, value in headers.items())
    request = (
        f"POST {path} HTTP/1.1\r\nHost: 127.0.0.1\r\nContent-Type: application/json\r\n"
        f"Content-Length: {len(raw)}\r\n{head}\r\n"
    ).encode() + raw
    with socket.create_connection(("127.0.0.1", port), timeout=10) as sock:
        sock.sendall(request)
        first = sock.recv(4096)
        # Linger 0: close() sends a reset at once, with the server's frames still unread.
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
    return first


@pytest.mark.mockagent(scenarios=["tests/scenarios/bulky.yaml"])
def test_a_hang_up_mid_stream_is_no_server_error(
    mockagent_server: ThreadedMockServer, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.ERROR, logger="mockagent")
    for _ in range(15):
        first = _hang_up_after_headers(
            mockagent_server.server.port,
            "/beeos/api/v1/agents/bulky/invoke",
            {"message": MESSAGE},
            {"Accept": "text/event-stream", "Authorization": f"Bearer {KEY}"},
        )
        assert first.startswith(b"HTTP/1.1 200")
    mockagent_server.until_idle()  # the hung-up streams' handlers have ended (and journaled them)
    health = httpx.get(f"{mockagent_server.url}/__mockagent/health")
    assert health.status_code == 200
    journal = httpx.get(f"{mockagent_server.url}/__mockagent/journal", params={"path": "*/bulky/*"}).json()["entries"]
    assert [entry["status"] for entry in journal] == [200] * 15
    assert [r.getMessage() for r in caplog.records if r.levelno >= logging.ERROR] == []


@pytest.mark.mockagent(manual_clock=True)
def test_a_hang_up_before_the_answer_is_journaled_as_499(mockagent_server: ThreadedMockServer) -> None:
    raw = json.dumps({"message": "hi"}).encode()
    request = (
        "POST /beeos/api/v1/agents/slow/invoke HTTP/1.1\r\nHost: 127.0.0.1\r\nContent-Type: application/json\r\n"
        f"Authorization: Bearer {KEY}\r\nContent-Length: {len(raw)}\r\n\r\n"
    ).encode() + raw
    with socket.create_connection(("127.0.0.1", mockagent_server.server.port), timeout=10) as sock:
        sock.sendall(request)
        mockagent_server.until_waiting()  # the slow agent's 3 s on the manual clock: no answer has begun
    mockagent_server.until_idle()
    journal = httpx.get(f"{mockagent_server.url}/__mockagent/journal", params={"path": "/beeos/*"}).json()["entries"]
    assert [(entry["status"], entry["agent"]) for entry in journal] == [(499, "slow")]


def test_a_client_gone_before_a_streams_head_is_a_hang_up_not_an_error(
    mockagent_server: ThreadedMockServer, caplog: pytest.LogCaptureFixture
) -> None:
    # Found by the framing fuzz: a half-closed socket with a body still owed makes aiohttp close the transport
    # before the event feed writes its head, and the write raised ClientConnectionResetError into the log.
    port = mockagent_server.server.port
    request = (
        f"GET /__mockagent/events HTTP/1.1\r\nHost: 127.0.0.1:{port}\r\nAccept: text/event-stream\r\n"
        "Content-Length: 1\r\n\r\n"
    ).encode()
    with caplog.at_level(logging.WARNING, logger="mockagent"), caplog.at_level(logging.WARNING, logger="aiohttp"):
        for _ in range(5):
            with socket.create_connection(("127.0.0.1", port), timeout=10) as sock:
                sock.sendall(request)
                sock.shutdown(socket.SHUT_WR)
                while sock.recv(65536):
                    pass
        assert httpx.get(f"{mockagent_server.url}/__mockagent/health", timeout=10).status_code == 200
    assert [record.getMessage() for record in caplog.records if record.levelno >= logging.WARNING] == []
