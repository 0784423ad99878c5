"""The connections themselves (mockagent/connections.py): requests aiohttp's parser refuses are answered in
a JSON envelope and logged in one line that quotes nothing of them (a credential in a header never reaches
the log); a slow head, a slow body, an idle keep-alive and a client that reads nothing are each cut off (one
that reads slowly is not); past the connection limit a connection is refused at once; and each condition is
logged once per interval.

The timeouts are real time, so these tests set them to a fraction of a second and then wait for what the
server does — each wait is bounded by SAFETY, and nothing is measured."""

from __future__ import annotations

import asyncio
import contextlib
import json
import logging
import socket
import sys
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest

from mockagent.server import ThreadedMockServer
from mockagent.settings import Settings

ROOT = Path(__file__).resolve().parent.parent
INSTANT = ROOT / "tests" / "scenarios" / "instant.yaml"
SECRET = "oag_" + "5ec7e7" * 10 + "abcd"
BEEOS = {"Authorization": f"Bearer {SECRET}"}
SAFETY = 30.0  # real seconds: a bound on what should happen promptly, never a measurement
SHORT = 0.2  # real seconds: a timeout under test


@contextlib.contextmanager
def serving(**settings: Any) -> Iterator[ThreadedMockServer]:
    with ThreadedMockServer(Settings(scenario_paths=(INSTANT,), **settings)) as server:
        yield server


def exchange(port: int, raw: bytes) -> bytes:
    """Send `raw`, then read until the server closes the connection."""
    with socket.create_connection(("127.0.0.1", port), timeout=SAFETY) as sock:
        sock.sendall(raw)
        return read_to_end(sock)


def read_to_end(sock: socket.socket) -> bytes:
    received = b""
    with contextlib.suppress(ConnectionResetError):
        while chunk := sock.recv(65536):
            received += chunk
    return received


def parse(raw: bytes) -> tuple[int, dict[str, str], Any]:
    """The status, headers and JSON body of the one response in `raw`."""
    head, _, body = raw.partition(b"\r\n\r\n")
    status_line, *lines = head.decode("latin-1").split("\r\n")
    headers = {name.lower(): value.strip() for name, _, value in (line.partition(":") for line in lines)}
    assert headers["content-type"].startswith("application/json"), raw
    return int(status_line.split()[1]), headers, json.loads(body)


def until(condition: Any) -> None:
    """Wait (bounded) for a condition the server reaches on its own, such as closing a connection."""
    deadline = time.monotonic() + SAFETY
    while not condition():
        assert time.monotonic() < deadline, "the server did not get there"
        time.sleep(0.01)


def logged(caplog: pytest.LogCaptureFixture) -> list[str]:
    """Everything logged, tracebacks included, as text."""
    handler = logging.Handler()
    return [handler.format(record) if record.exc_info else record.getMessage() for record in caplog.records]


# ── what aiohttp's parser refuses ────────────────────────────────────────────────────────────────────

MALFORMED = {
    "long-header": (
        b"GET /beeos/api/v1/tasks HTTP/1.1\r\nHost: x\r\nAuthorization: Bearer "
        + SECRET.encode()
        + b"x" * 9000
        + b"\r\n\r\n",
        "a line of its head is too long",
    ),
    "control-character": (
        b"GET /beeos/api/v1/tasks HTTP/1.1\r\nHost: x\r\nAuthorization: Bearer " + SECRET.encode() + b"\x01\r\n\r\n",
        "a header is malformed",
    ),
    "content-length": (
        b"POST /beeos/api/v1/agents/echo/invoke HTTP/1.1\r\nHost: x\r\nAuthorization: Bearer "
        + SECRET.encode()
        + b"\r\nContent-Length: 12abc\r\n\r\n{}",
        "its Content-Length is not a length",
    ),
}


@pytest.mark.parametrize("case", list(MALFORMED))
def test_a_malformed_request_to_a_platform_gets_its_envelope_and_one_clean_log_line(
    case: str, caplog: pytest.LogCaptureFixture
) -> None:
    raw, reason = MALFORMED[case]
    caplog.set_level(logging.DEBUG)
    with serving() as server:
        status, _, body = parse(exchange(server.server.port, raw))
        again = exchange(server.server.port, raw)  # the same again, within the log interval
    assert status == 400  # and the connection closed: `exchange` read to its end
    assert body["success"] is False  # BeeOS's envelope: the request line names BeeOS
    assert (body["error"]["code"], body["error"]["message"]) == ("invalid_body", f"malformed request: {reason}")
    assert again.startswith(b"HTTP/1.1 400") or again.startswith(b"HTTP/1.0 400")
    lines = logged(caplog)
    assert [line for line in lines if "malformed" in line] == [
        f"refused a malformed request from 127.0.0.1: {reason}"
    ]  # once, for the two of them
    assert not any(SECRET in line for line in lines)
    assert not any(record.levelno >= logging.ERROR for record in caplog.records)


@pytest.mark.parametrize(
    ("raw", "reason"),
    [
        (b"GARBAGE\r\n\r\n", "its method is not an HTTP method"),
        (b"GET /nowhere HTTP/1.1\r\nHost: x\r\nX-Key: " + SECRET.encode() + b"\x7f\r\n\r\n", "a header is malformed"),
        (b"GET /__mockagent/health HTTP/1.1\r\nX-Key: " + b"k" * 9000 + b"\r\n\r\n", "a line of its head is too long"),
    ],
    ids=["request-line", "unknown-path", "admin-path"],
)
def test_a_malformed_request_elsewhere_gets_mockagents_envelope(raw: bytes, reason: str) -> None:
    with serving() as server:
        status, _, body = parse(exchange(server.server.port, raw))
    assert (status, body) == (400, {"error": f"malformed request: {reason}"})


@pytest.mark.parametrize(
    ("platform", "path", "envelope"),
    [
        ("agentos", "/agentos/api/v1/runs/r", {"data": None, "error": {"code": "BAD_REQUEST"}}),
        ("xpander", "/xpander/v1/tasks/t", {"detail": "malformed request: a header is malformed"}),
        ("zeus", "/zeus/api/agent/invoke", {"detail": "malformed request: a header is malformed"}),
        ("aster", "/aster/api/chat", {"error": "malformed request: a header is malformed"}),
    ],
)
def test_each_platform_answers_a_malformed_request_in_its_envelope(
    platform: str, path: str, envelope: dict[str, Any]
) -> None:
    raw = f"GET {path} HTTP/1.1\r\nHost: x\r\nX-Broken: a\x00b\r\n\r\n".encode()
    with serving() as server:
        status, _, body = parse(exchange(server.server.port, raw))
    assert status == 400
    if platform == "agentos":
        assert body["error"]["code"] == "BAD_REQUEST"
        assert body["data"] is None
    else:
        assert body == envelope


@pytest.mark.parametrize(
    ("path", "envelope"),
    [
        ("/beeos/api/v1/agents/echo/invoke", {"success", "error"}),
        ("/xpander/v1/agents/echo/invoke", {"detail"}),
        ("/__mockagent/health", {"error"}),
        ("/nowhere", {"error"}),
    ],
)
def test_an_expect_the_server_cannot_meet_is_the_platforms_400_quoting_nothing(
    path: str, envelope: set[str], caplog: pytest.LogCaptureFixture
) -> None:
    # aiohttp's own answer is a text/plain 417 quoting the header, sent before any middleware could step in.
    with serving() as server:
        response = httpx.post(server.url + path, content=b"{}", headers={"Expect": SECRET}, timeout=SAFETY)
    assert response.status_code == 400
    assert response.headers["content-type"].startswith("application/json")
    body = response.json()
    assert set(body) == envelope
    assert "its Expect is not 100-continue" in json.dumps(body)
    assert SECRET not in json.dumps(body)
    assert not any(record.levelno >= logging.ERROR for record in caplog.records)


# ── timeouts ─────────────────────────────────────────────────────────────────────────────────────────


def test_a_head_that_does_not_arrive_in_time_is_answered_408_and_closed(caplog: pytest.LogCaptureFixture) -> None:
    with serving(header_timeout=SHORT) as server:
        slow = b"GET /beeos/api/v1/tasks HTTP/1.1\r\nHost: x\r\n"  # … and never the blank line
        status, _, body = parse(exchange(server.server.port, slow))
        silent = exchange(server.server.port, b"")  # a connection that sends nothing at all
        until(lambda: server.connections == 0)
        # A client that keeps to the timeout is served as ever.
        served = httpx.get(server.base_url("beeos") + "/api/v1/tasks", headers=BEEOS, timeout=SAFETY)
    assert (status, body) == (408, {"error": f"the request head did not arrive within {SHORT:g} s"})
    assert silent.startswith(b"HTTP/1.1 408")
    assert served.status_code == 200
    assert [line for line in logged(caplog) if "head" in line] == [
        f"closed connections whose request head did not arrive within {SHORT:g} s"
    ]


@pytest.mark.parametrize("platform", ["beeos", "xpander"])
def test_a_body_that_does_not_arrive_in_time_is_the_platforms_400(platform: str) -> None:
    path = {"beeos": "/beeos/api/v1/agents/echo/invoke", "xpander": "/xpander/v1/agents/echo/invoke"}[platform]
    head = f"POST {path} HTTP/1.1\r\nHost: x\r\nx-api-key: k\r\nContent-Type: application/json\r\n"
    raw = (head + "Authorization: Bearer oag_" + "a" * 64 + "\r\nContent-Length: 100\r\n\r\n").encode() + b'{"mess'
    with serving(body_timeout=SHORT) as server:
        status, _, body = parse(exchange(server.server.port, raw))
    assert status == 400
    message = body["error"]["message"] if platform == "beeos" else body["detail"]
    assert message == f"request body did not arrive within {SHORT:g} s"


def test_an_idle_keep_alive_connection_is_closed() -> None:
    request = b"GET /beeos/api/v1/tasks HTTP/1.1\r\nHost: x\r\nAuthorization: Bearer " + SECRET.encode() + b"\r\n\r\n"
    with serving(idle_timeout=SHORT) as server:
        received = exchange(server.server.port, request)  # read until the server closes the idle connection
    assert received.startswith(b"HTTP/1.1 200")
    assert received.count(b"HTTP/1.1") == 1


def test_a_client_that_reads_nothing_is_cut_off(caplog: pytest.LogCaptureFixture) -> None:
    content = bytes(range(256)) * 120_000  # 30 MB: more than the socket buffers between us hold
    with serving(write_timeout=SHORT) as server:
        base = server.base_url("beeos")
        body = {"filename": "big.bin", "content_type": "application/octet-stream"}
        presigned = httpx.post(f"{base}/api/v1/files/presign-upload", json=body, headers=BEEOS).json()["data"]
        put = httpx.put(
            presigned["upload_url"], content=content, headers={"Content-Type": body["content_type"]}, timeout=SAFETY
        )
        assert put.status_code == 200
        path = presigned["download_url"].split(str(server.server.port), 1)[1]
        with socket.socket() as sock:
            sock.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 4096)
            sock.settimeout(SAFETY)
            sock.connect(("127.0.0.1", server.server.port))
            sock.sendall(f"GET {path} HTTP/1.1\r\nHost: x\r\n\r\n".encode())
            until(lambda: any("cut off" in record.getMessage() for record in caplog.records))  # it gave up on us
            received = read_to_end(sock)
    assert received.startswith(b"HTTP/1.1 200")
    assert len(received) < len(content)
    assert [line for line in logged(caplog) if "cut off" in line] == [
        f"cut off clients that took nothing of their response for {SHORT:g} s"
    ]


def test_a_client_that_reads_slowly_but_steadily_is_not_cut_off(caplog: pytest.LogCaptureFixture) -> None:
    # One write of 16 MB (a download) keeps the server's writes paused until the reader has taken most of it,
    # far longer than the write timeout, while the reader takes a little every few milliseconds.
    content = bytes(range(256)) * 64_000
    timeout = 1.0  # real seconds: two hundred of the reader's sips
    with serving(write_timeout=timeout) as server:
        base = server.base_url("beeos")
        body = {"filename": "big.bin", "content_type": "application/octet-stream"}
        presigned = httpx.post(f"{base}/api/v1/files/presign-upload", json=body, headers=BEEOS).json()["data"]
        put = httpx.put(
            presigned["upload_url"], content=content, headers={"Content-Type": body["content_type"]}, timeout=SAFETY
        )
        assert put.status_code == 200
        path = presigned["download_url"].split(str(server.server.port), 1)[1]
        with socket.socket() as sock:
            sock.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 65536)  # a fixed window: no autotuning
            sock.settimeout(SAFETY)
            sock.connect(("127.0.0.1", server.server.port))
            sock.sendall(f"GET {path} HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n".encode())
            received = b""
            with contextlib.suppress(ConnectionResetError):
                while chunk := sock.recv(65536):
                    received += chunk
                    time.sleep(0.005)
    assert received.startswith(b"HTTP/1.1 200")
    assert received.endswith(content)
    assert not [line for line in logged(caplog) if "cut off" in line]


# ── the connection limit ─────────────────────────────────────────────────────────────────────────────


def test_past_the_connection_limit_a_connection_is_refused_at_once(caplog: pytest.LogCaptureFixture) -> None:
    with serving(max_connections=2) as server:
        port = server.server.port
        held = [socket.create_connection(("127.0.0.1", port), timeout=SAFETY) for _ in range(2)]
        until(lambda: server.connections == 2)
        refused = [exchange(port, b"GET /__mockagent/health HTTP/1.1\r\nHost: x\r\n\r\n") for _ in range(3)]
        for sock in held:
            sock.close()
        until(lambda: server.connections == 0)
        served = httpx.get(f"{server.url}/__mockagent/health", timeout=SAFETY)
    for raw in refused:
        assert parse(raw)[0::2] == (503, {"error": "too many connections: at most 2"})
    assert served.status_code == 200
    assert [line for line in logged(caplog) if "refused connections" in line] == [
        "refused connections past 2 open at once"
    ]


def test_the_connection_limit_stays_within_the_file_descriptor_limit() -> None:
    """`mockagent serve` with few file descriptors (ulimit -n 64) and a flood of connections: it refuses what
    it cannot hold, keeps serving, and logs a line or two — not one traceback per failed accept."""
    # The child lowers its own limit before it serves (`ulimit -n 64`).
    lower = "import resource as r; r.setrlimit(r.RLIMIT_NOFILE, (64, r.getrlimit(r.RLIMIT_NOFILE)[1]))"
    command = [sys.executable, "-c", f"{lower}; from mockagent._entry import main; main()", "serve", "--port", "0"]

    async def flood() -> tuple[list[str], str]:
        process = await asyncio.create_subprocess_exec(
            *command, cwd=ROOT, stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.PIPE
        )
        assert process.stdout is not None
        assert process.stderr is not None
        try:
            first = (await asyncio.wait_for(process.stdout.readline(), SAFETY)).decode()
            url = first.split(" listening on ", 1)[1].split()[0]
            host, port = url.removeprefix("http://").split(":")
            held = [socket.create_connection((host, int(port)), timeout=SAFETY) for _ in range(150)]
            for sock in held:
                sock.sendall(b"GET /__mockagent/health HTTP/1.1\r\nHost: x\r\n")  # … never finished
            statuses = []
            for sock in held[-3:]:
                sock.settimeout(SAFETY)
                statuses.append(sock.recv(64).decode("latin-1").split("\r\n")[0])
            async with httpx.AsyncClient(timeout=SAFETY) as client:
                for sock in held:
                    sock.close()
                health = await client.get(f"{url}/__mockagent/health")
            assert health.status_code == 200
        finally:
            process.terminate()
            await asyncio.wait_for(process.wait(), SAFETY)
        return statuses, (await process.stderr.read()).decode()

    statuses, stderr = asyncio.run(flood())
    assert statuses == ["HTTP/1.1 503 Service Unavailable"] * 3
    lines = stderr.splitlines()
    # The lowered limit; the refusals; and, as a burst of accepts can still find no descriptor left, at
    # most one line about that: each once per interval, with no traceback.
    assert len(lines) <= 3, stderr
    assert "that is what the file-descriptor limit allows" in lines[0]
    assert "Traceback" not in stderr
