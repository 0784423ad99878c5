"""A request on a raw socket, its answer, and what makes an answer wrong."""

from __future__ import annotations

import http.client
import json
import logging
import re
import socket
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import httpx
from yarl import URL

from fuzz.routes import ADMIN
from fuzz.strategies import Known
from mockagent.admission import FAULT_HEADER
from mockagent.faults import FaultSyntaxError, parse_fault
from mockagent.platforms.fastapi import LOC_ROOTS
from mockagent.server import ThreadedMockServer

SAFETY = 10.0  # real seconds: a bound on an answer that should come at once, never a measurement


@dataclass(frozen=True)
class Probe:
    """One request as sent, and what its answer may be."""

    method: str
    target: str
    headers: tuple[tuple[str, str], ...]
    body: bytes
    raw: bytes = b""  # the whole request as sent, when it is not built from the fields above (framing)
    half_close: bool = False  # the client said it is done sending: the server may close without an answer
    line_broken: bool = False  # its request line names no platform: mockagent's own envelope may answer

    def wire(self) -> bytes:
        if self.raw:
            return self.raw
        lines = [f"{self.method} {self.target} HTTP/1.1", *(f"{name}: {value}" for name, value in self.headers)]
        if self.body or self.method in ("POST", "PUT", "PATCH"):
            lines.append(f"Content-Length: {len(self.body)}")
        # Text beyond ASCII goes out as UTF-8 (a lone surrogate too: bytes that are no UTF-8).
        return ("\r\n".join(lines) + "\r\n\r\n").encode("utf-8", "surrogatepass") + self.body

    @property
    def deliberate(self) -> set[int]:
        """The statuses the request asked for with a fault header (the only 5xx that may answer it)."""
        asked = set()
        for name, value in self.headers:
            if name.lower() == FAULT_HEADER.lower():
                try:
                    status = parse_fault(value).status
                except FaultSyntaxError:
                    continue
                if status is not None:
                    asked.add(status)
        return asked

    def __repr__(self) -> str:
        def cut(data: str | bytes) -> str:
            return repr(data) if len(data) <= 300 else f"{data[:300]!r}… ({len(data)} long)"

        if self.raw:
            return f"Probe({cut(self.raw)}, half_close={self.half_close})"
        shown = ", ".join(f"{name}: {cut(value)}" for name, value in self.headers)
        return f"Probe({self.method} {cut(self.target)} [{shown}] {cut(self.body)})"


@dataclass(frozen=True)
class Answer:
    status: int
    headers: dict[str, str]
    body: bytes

    def __repr__(self) -> str:
        return f"Answer({self.status} {self.headers.get('content-type')} {self.body[:500]!r})"


def exchange(port: int, probe: Probe) -> Answer | None:
    """Send the probe on a fresh connection and read its answer (a stream's head only: the stream is left the
    way a client that hangs up leaves it). None: the connection closed without an answer."""
    with socket.create_connection(("127.0.0.1", port), timeout=SAFETY) as sock:
        try:
            sock.sendall(probe.wire())
            if probe.half_close:
                sock.shutdown(socket.SHUT_WR)
        except (BrokenPipeError, ConnectionResetError):
            pass  # the server answered before it read everything: its answer is still there to read
        response = http.client.HTTPResponse(sock, method=probe.method)
        try:
            response.begin()
            headers = {name.lower(): value for name, value in response.getheaders()}
            streamed = headers.get("content-type", "").startswith("text/event-stream")
            return Answer(response.status, headers, b"" if streamed else response.read())
        except (http.client.RemoteDisconnected, ConnectionResetError):
            return None
        finally:
            response.close()


# ── the envelopes ────────────────────────────────────────────────────────────────────────────────────


def envelope_problem(owner: str, answer: Answer) -> str | None:
    """What is wrong with an error answer as `owner`'s envelope (None: nothing)."""
    if not answer.headers.get("content-type", "").startswith("application/json"):
        return f"an error that is not JSON: {answer.headers.get('content-type')}"
    return _ENVELOPES[owner](answer, json.loads(answer.body))


def _beeos(answer: Answer, body: Any) -> str | None:
    if not isinstance(body, dict) or set(body) != {"success", "error"} or body["success"] is not False:
        return "not BeeOS's {success: false, error}"
    error = body["error"]
    keys = {"type", "code", "message", "request_id"}
    if not isinstance(error, dict) or not keys <= set(error) <= keys | {"param"}:
        return "BeeOS's error is not {type, code, message, param?, request_id}"
    if not all(isinstance(value, str) for value in error.values()):
        return "a field of BeeOS's error is not a string"
    if answer.headers.get("x-request-id") != error["request_id"]:
        return "X-Request-Id is not the error's request_id"
    if error["code"] in ("invalid_param", "missing_param") and "param" not in error:
        return "a BeeOS validation error that names no field"
    return None


def _agentos(answer: Answer, body: Any) -> str | None:
    if not isinstance(body, dict) or set(body) != {"data", "error"} or body["data"] is not None:
        return "not AgentOS's {data: null, error}"
    error = body["error"]
    if not isinstance(error, dict) or set(error) != {"code", "message"}:
        return "AgentOS's error is not {code, message}"
    if not (isinstance(error["code"], str) and re.fullmatch(r"[A-Z_]+", error["code"])):
        return "AgentOS's error code is not UPPER_SNAKE"
    return None if isinstance(error["message"], str) else "AgentOS's error message is not a string"


def _fastapi(answer: Answer, body: Any) -> str | None:
    """xpander's and Zeus's: a 422 lists each field, any other error says what in a string."""
    if not isinstance(body, dict) or set(body) != {"detail"}:
        return "not FastAPI's {detail}"
    detail = body["detail"]
    if answer.status != 422:
        return None if isinstance(detail, str) else "FastAPI's detail is not a string"
    if not isinstance(detail, list) or not detail:
        return "FastAPI's 422 detail is not a list of fields"
    for entry in detail:
        if not isinstance(entry, dict) or set(entry) != {"type", "loc", "msg"}:
            return "a FastAPI 422 entry is not {type, loc, msg}"
        if not (isinstance(entry["loc"], list) and entry["loc"] and entry["loc"][0] in LOC_ROOTS):
            return "a FastAPI 422 entry's loc is not under body, query, path or header"
    return None


def _aster(answer: Answer, body: Any) -> str | None:
    if not isinstance(body, dict) or not isinstance(body.get("error"), str):
        return "not Aster's {error}"
    if set(body) == {"error"}:
        return None
    details = body.get("details")
    if set(body) != {"error", "details"} or not isinstance(details, list) or not details:
        return "Aster's error is not {error, details?}"
    if not all(isinstance(d, dict) and set(d) == {"message", "path"} for d in details):
        return "an Aster detail is not {message, path}"
    return None


def _mockagent(answer: Answer, body: Any) -> str | None:
    if isinstance(body, dict) and set(body) == {"error"} and isinstance(body["error"], str):
        return None
    if (
        answer.status == 422
        and isinstance(body, dict)
        and set(body) in ({"reloaded", "error", "errors"}, {"replaced", "error", "errors"})
    ):
        return None  # a reload (or a scenario set put) that failed lists every problem
    return "not mockagent's {error}"


_ENVELOPES: dict[str, Callable[[Answer, Any], str | None]] = {
    "beeos": _beeos,
    "agentos": _agentos,
    "xpander": _fastapi,
    "zeus": _fastapi,
    "aster": _aster,
    ADMIN: _mockagent,
}


def owners(target: str) -> set[str]:
    """Whose envelope an answer to `target` may be in: the platform its path is under (as sent, or as the
    server may read it), else mockagent's own."""
    path = target.split("?", 1)[0]
    try:
        read = URL(path).path
    except ValueError:
        read = path
    return {_owner(candidate) for candidate in (path, read)}


def _owner(path: str) -> str:
    segment = path.split("/")[1] if path.startswith("/") else ""
    return segment if segment in _ENVELOPES and segment != ADMIN else ADMIN


# ── the server, its log, and the check ───────────────────────────────────────────────────────────────


class Trouble(logging.Handler):
    """What the server logged that means a bug: an error, an exception, a traceback."""

    LOGGERS = ("mockagent", "aiohttp", "asyncio")

    def __init__(self) -> None:
        super().__init__(logging.WARNING)
        self.records: list[logging.LogRecord] = []

    def emit(self, record: logging.LogRecord) -> None:
        text = record.getMessage()
        if record.levelno >= logging.ERROR or record.exc_info or "Traceback" in text or "Error handling" in text:
            self.records.append(record)

    def since(self, mark: int) -> list[str]:
        return [self.format(record) for record in self.records[mark:]]


Seeder = Callable[[ThreadedMockServer, Known], None]


@dataclass
class Fuzzed:
    """The server under fuzz, the ids it holds, what it logged, and how to make a platform's ids anew."""

    server: ThreadedMockServer
    known: Known
    trouble: Trouble
    seeders: dict[str, Seeder]
    sent: int = 0  # requests the fuzz has sent (the seeders' not counted)

    @property
    def port(self) -> int:
        return self.server.server.port

    def fresh(self, owner: str) -> Known:
        """The ids the server holds, with `owner`'s made anew: a route's fuzz starts with tasks to cancel,
        approvals to decide and questions to answer whatever the routes fuzzed before it did to theirs — and
        the server as it started, whatever the admin API was sent (faults added, scenarios replaced)."""
        admin = f"{self.server.url}/__mockagent"
        assert httpx.delete(f"{admin}/faults", timeout=SAFETY).status_code == 200
        assert httpx.post(f"{admin}/reload", timeout=SAFETY).status_code == 200
        seeder = self.seeders.get(owner)
        if seeder is None:
            return self.known
        made = Known()
        seeder(self.server, made)
        return Known({**self.known.pools, **made.pools}, {**self.known.agents, **made.agents})


def check(fuzzed: Fuzzed, probe: Probe) -> None:
    """Send the probe and hold its answer, and what the server logged meanwhile, to the rules."""
    mark = len(fuzzed.trouble.records)
    fuzzed.sent += 1
    answer = exchange(fuzzed.port, probe)
    exchanged = f"{probe!r}\n  answered {answer!r}"
    trouble = fuzzed.trouble.since(mark)
    assert trouble == [], f"the server logged trouble for {exchanged}:\n" + "\n".join(trouble)
    if answer is None:
        assert probe.half_close, f"the connection closed without an answer to {exchanged}"
        return
    assert answer.status < 500 or answer.status in probe.deliberate, f"a {answer.status} nobody asked for: {exchanged}"
    if answer.status >= 400 and probe.method != "HEAD":
        allowed = owners(probe.target) | ({ADMIN} if probe.line_broken else set())
        problems = {owner: envelope_problem(owner, answer) for owner in allowed}
        assert None in problems.values(), f"{problems} in {exchanged}"
    elif answer.headers.get("content-type", "").startswith("application/json") and answer.body:
        json.loads(answer.body)  # a success is valid JSON too
