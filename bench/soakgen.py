"""The soak's clients (bench/soak.py): a separate process that drives a mockagent server on loopback one way
and prints what it saw as JSON.

    soakgen.py drops     --port P --streams N --rounds R    every stream endpoint's streams, dropped mid-stream
    soakgen.py readers   --port P --stalled N --slow N      floods read slowly, or not at all
    soakgen.py slowloris --port P --connections N           request heads and bodies that never arrive whole
    soakgen.py fill      --port P --count N                 N uploads presigned and N ingest runs reported
    soakgen.py mixed     --port P --workers W --duration S  every platform's calls, mixed

Every answer is tallied by call and status against what the call expects (an injected fault's status, an
agent's scripted failure); a connection that ends before its answer does is counted apart from the ones this
process drops itself. Stdlib only, like loadgen.py; every mode is bounded in time.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import json
import random
import socket
import struct
import sys
import time
from collections import Counter, defaultdict
from collections.abc import Awaitable, Callable, Iterable
from dataclasses import dataclass, field
from typing import Any

import calls
from loadgen import percentile, raise_fd_limit
from rawhttp import Connection, Exchange, RequestSpec

HOST = "127.0.0.1"
CALL_TIMEOUT = 60.0  # seconds an answer may take: the slowest demo agent takes 3
FRAME_TIMEOUT = 15.0  # seconds a dropped stream may take to show the frames it is dropped after
CONNECT_AT_ONCE = 100  # connections being opened at a time, so that the accept backlog never overflows
POLL_INTERVAL = 0.2
POLLS = 100  # polls of one run before a flow gives up on it (20 s: the slowest demo agent takes 3.5)
SESSIONS = 250  # named sessions the mixed load picks from: more than the server keeps (100)
SAMPLES = 5  # unexpected answers kept, per call and status, to show what they were
RESET_NOTE = b"the session was reset"  # in the answer of a run cancelled as its session was reset


# ── the tally ────────────────────────────────────────────────────────────────────────────────────────


@dataclass
class Tally:
    """Everything the clients saw, by call name."""

    statuses: defaultdict[str, Counter[int]] = field(default_factory=lambda: defaultdict(Counter))
    unexpected: defaultdict[str, Counter[int]] = field(default_factory=lambda: defaultdict(Counter))
    samples: list[str] = field(default_factory=list)
    lost: Counter[str] = field(default_factory=Counter)  # ended before the answer did, not by us
    timeouts: Counter[str] = field(default_factory=Counter)
    dropped: Counter[str] = field(default_factory=Counter)  # by this process, on purpose
    ended_first: Counter[str] = field(default_factory=Counter)  # streams to drop that ended before they were
    cut_by_fault: Counter[str] = field(default_factory=Counter)  # by the server, as `drop-after` asked
    cut_by_reset: Counter[str] = field(default_factory=Counter)  # runs cancelled as another client reset the session
    connect_errors: int = 0
    flows: Counter[str] = field(default_factory=Counter)

    def answer(self, name: str, exchange: Exchange, expect: Iterable[int]) -> bool:
        self.statuses[name][exchange.status] += 1
        if exchange.status in expect:
            return True
        self.unexpected[name][exchange.status] += 1
        if self.unexpected[name][exchange.status] <= SAMPLES:
            self.samples.append(f"{name} {exchange.status}: {exchange.body[:300].decode(errors='replace')}")
        return False

    def as_json(self) -> dict[str, Any]:
        return {
            "statuses": {name: dict(counts) for name, counts in sorted(self.statuses.items())},
            "unexpected": {name: dict(counts) for name, counts in sorted(self.unexpected.items())},
            "samples": self.samples,
            "lost": dict(self.lost),
            "timeouts": dict(self.timeouts),
            "dropped": dict(self.dropped),
            "ended_first": dict(self.ended_first),
            "cut_by_fault": dict(self.cut_by_fault),
            "cut_by_reset": dict(self.cut_by_reset),
            "connect_errors": self.connect_errors,
            "flows": dict(self.flows),
        }


# ── connections ──────────────────────────────────────────────────────────────────────────────────────


class Watched(Connection):
    """A connection whose arrivals can be awaited, and that can be reset like a client that vanished."""

    def __init__(self) -> None:
        super().__init__(record_frames=True, keep_body=True)
        self.arrived = asyncio.Event()
        self.received = 0  # bytes
        self.lost_with: BaseException | None = None

    def data_received(self, data: bytes) -> None:
        self.received += len(data)
        super().data_received(data)
        self.arrived.set()

    def connection_lost(self, exc: Exception | None) -> None:
        self.lost_with = exc
        super().connection_lost(exc)
        self.arrived.set()

    async def until(self, done: Callable[[], bool], timeout: float) -> bool:
        """Wait until `done()` holds (checked at each arrival) or `timeout` passes; whether it held."""
        with contextlib.suppress(TimeoutError):
            async with asyncio.timeout(timeout):
                while not done():
                    self.arrived.clear()
                    await self.arrived.wait()
        return done()

    def reset(self) -> None:
        """Hang up at once with a TCP reset: no FIN, nothing flushed (a client killed mid-stream)."""
        if self.transport is None:
            return
        sock = self.transport.get_extra_info("socket")
        if sock is not None:
            sock.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
        self.transport.abort()


async def open_connection(port: int, receive_buffer: int | None = None) -> Watched:
    loop = asyncio.get_running_loop()
    if receive_buffer is None:
        _, protocol = await loop.create_connection(Watched, HOST, port)
        return protocol
    # A small receive buffer is set before connecting, so that the window the server sees is small too.
    sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, receive_buffer)
    sock.setblocking(False)
    try:
        await loop.sock_connect(sock, (HOST, port))
    except OSError:
        sock.close()
        raise
    _, protocol = await loop.create_connection(Watched, sock=sock)
    return protocol


class Client:
    """A worker's keep-alive connection, opened again whenever the server closed it, and its tally."""

    def __init__(self, port: int, tally: Tally, gate: asyncio.Semaphore) -> None:
        self.port = port
        self.tally = tally
        self.gate = gate  # shared: how many connections are being opened at once
        self._connection: Watched | None = None

    async def connect(self, receive_buffer: int | None = None) -> Watched | None:
        async with self.gate:
            try:
                return await open_connection(self.port, receive_buffer)
            except OSError:
                self.tally.connect_errors += 1
                return None

    async def call(
        self, name: str, spec: RequestSpec, expect: Iterable[int] = (200,), *, resettable: bool = False
    ) -> Exchange | None:
        """Send `spec` and wait for the whole answer; None unless it came whole with an expected status. A
        `resettable` call is in a session that another worker may reset meanwhile: its run then ends
        cancelled, and the platform's answer for that is counted apart."""
        if self._connection is None or not self._connection.usable:
            self._connection = await self.connect()
            if self._connection is None:
                return None
        connection = self._connection
        try:
            async with asyncio.timeout(CALL_TIMEOUT):
                exchange = await connection.send(spec.encode(HOST, self.port))
        except TimeoutError:
            self.tally.timeouts[name] += 1
            self.close()
            return None
        if exchange.end is None:
            self.tally.lost[name] += 1
            self.close()
            return None
        if exchange.headers.get("connection", "").lower() == "close":
            self.close()
        if resettable and exchange.status not in expect and RESET_NOTE in exchange.body:
            self.tally.cut_by_reset[name] += 1
            return None
        return exchange if self.tally.answer(name, exchange, expect) else None

    async def cut_by_fault(self, name: str, spec: RequestSpec) -> None:
        """A stream sent with `X-Mockagent-Fault: drop-after=N`: the server is to cut it."""
        connection = await self.connect()
        if connection is None:
            return
        try:
            async with asyncio.timeout(CALL_TIMEOUT):
                exchange = await connection.send(spec.encode(HOST, self.port))
        except TimeoutError:
            self.tally.timeouts[name] += 1
            return
        finally:
            connection.close()
        if exchange.end is None and exchange.status == 200:
            self.tally.cut_by_fault[name] += 1
        else:
            self.tally.answer(name, exchange, ())  # a stream that the fault did not cut is unexpected

    async def drop(self, name: str, spec: RequestSpec, frames: int) -> None:
        """Open a stream on a connection of its own, wait for its first `frames` frames, and reset it."""
        connection = await self.connect()
        if connection is None:
            return
        waiter = connection.send(spec.encode(HOST, self.port))
        shown = await connection.until(
            lambda: waiter.done() or len(connection.partial().frames) >= frames, FRAME_TIMEOUT
        )
        if waiter.done():  # it ended (or the server refused it) before it could be dropped
            exchange = waiter.result()
            if exchange.end is None:
                self.tally.lost[name] += 1
            elif self.tally.answer(name, exchange, (200,)):
                self.tally.ended_first[name] += 1
            connection.close()
            return
        status = connection.partial().status
        connection.reset()
        if not shown:
            self.tally.timeouts[name] += 1
        elif status == 200:
            self.tally.statuses[name][status] += 1
            self.tally.dropped[name] += 1
        else:
            self.tally.answer(name, connection.partial(), (200,))

    def close(self) -> None:
        if self._connection is not None:
            self._connection.close()
            self._connection = None


async def poll(
    client: Client, name: str, spec: RequestSpec, settled: Callable[[Any], bool], read: Callable[[bytes], Any]
) -> Any:
    """Poll until `settled(read(body))`; the last answer read, or None (an error, or it never settled)."""
    for _ in range(POLLS):
        exchange = await client.call(name, spec)
        if exchange is None:
            return None
        answer = read(exchange.body)
        if settled(answer):
            return answer
        await asyncio.sleep(POLL_INTERVAL)
    client.tally.timeouts[name] += 1
    return None


# ── drop storms ──────────────────────────────────────────────────────────────────────────────────────

LONG = "soak-long"  # 40 chunks over 4 s: a drop lands mid-stream
GATE = "soak-gate"  # the same behind an approval (Zeus's resume streams the rest)
STREAM_ENDPOINTS = (
    "POST /beeos/…/invoke (SSE)",
    "GET /beeos/…/tasks/{id}/events",
    "POST /agentos/…/invoke (stream)",
    "POST /xpander/…/invoke/stream",
    "POST /zeus/api/agent/invoke",
    "POST /zeus/api/agent/resume",
    "POST /aster/api/chat",
)


async def _with_clients(jobs: Iterable[Callable[[Client], Awaitable[Any]]], clients: list[Client]) -> list[Any]:
    """Run the jobs, each on a client of its own while it runs: as many at once as there are clients."""
    idle: asyncio.Queue[Client] = asyncio.Queue()
    for client in clients:
        idle.put_nowait(client)

    async def run(job: Callable[[Client], Awaitable[Any]]) -> Any:
        client = await idle.get()
        try:
            return await job(client)
        finally:
            idle.put_nowait(client)

    return await asyncio.gather(*(run(job) for job in jobs))


async def _drop_targets(clients: list[Client], count: int) -> dict[str, list[RequestSpec]]:
    """`count` stream requests per endpoint. Zeus's resumes need an interrupted session each and the task
    events a running task each: made here, the tasks last, so that they are still running when dropped."""

    async def interrupt(client: Client) -> dict[str, Any] | None:
        exchange = await client.call("setup: Zeus interrupt", calls.zeus_invoke(GATE, "soak"))
        last = calls.frames(exchange.body)[-1] if exchange else None
        return last if last and last.get("type") == "interrupt" else None

    async def task(client: Client) -> str | None:
        exchange = await client.call("setup: BeeOS task", calls.beeos_create_task(LONG, "soak"), (202,))
        return calls.data(exchange.body)["task_id"] if exchange else None

    interrupts = [found for found in await _with_clients([interrupt] * count, clients) if found]
    tasks = [found for found in await _with_clients([task] * count, clients) if found]
    message = "soak"
    return dict(
        zip(
            STREAM_ENDPOINTS,
            (
                [calls.beeos_invoke(LONG, message, stream=True)] * count,
                [calls.beeos_task(LONG, task_id, "events") for task_id in tasks],
                [calls.agentos_invoke(LONG, message, stream=True)] * count,
                [calls.xpander_invoke(LONG, message, "stream")] * count,
                [calls.zeus_invoke(LONG, message)] * count,
                [calls.zeus_resume(found) for found in interrupts],
                [calls.aster_chat(LONG, message)] * count,
            ),
            strict=True,
        )
    )


async def drop_storms(port: int, streams: int, rounds: int, seed: int) -> dict[str, Any]:
    """Each round: `streams` streams on every stream endpoint, all open at once, each reset after its first
    one to five frames."""
    tally = Tally()
    gate = asyncio.Semaphore(CONNECT_AT_ONCE)
    rng = random.Random(seed)
    setup = [Client(port, tally, gate) for _ in range(32)]
    started = time.perf_counter()
    for round_number in range(rounds):
        targets = await _drop_targets(setup, streams)
        drops = [
            Client(port, tally, gate).drop(name, spec, rng.randint(1, 5))
            for name, specs in targets.items()
            for spec in specs
        ]
        await asyncio.gather(*drops)
        print(f"round {round_number + 1}: {len(drops)} streams", file=sys.stderr, flush=True)
    for client in setup:
        client.close()
    return {"seconds": time.perf_counter() - started, **tally.as_json()}


# ── slow readers ─────────────────────────────────────────────────────────────────────────────────────

FLOOD = "soak-flood"
SMALL_BUFFER = 4096  # bytes of a stalled reader's receive buffer (the kernel doubles it)
SLOW_RATE = 1_000_000  # bytes a second that a slow reader takes


def _flood(platform: str) -> RequestSpec:
    return {
        "beeos": calls.beeos_invoke(FLOOD, "soak", stream=True),
        "agentos": calls.agentos_invoke(FLOOD, "soak", stream=True),
        "xpander": calls.xpander_invoke(FLOOD, "soak", "stream"),
        "zeus": calls.zeus_invoke(FLOOD, "soak"),
        "aster": calls.aster_chat(FLOOD, "soak"),
    }[platform]


PLATFORMS = ("beeos", "agentos", "xpander", "zeus", "aster")


async def server_stats(port: int) -> dict[str, Any]:
    connection = await open_connection(port)
    try:
        exchange = await connection.send(RequestSpec("GET", "/__mockagent/stats", {}, "").encode(HOST, port))
    finally:
        connection.close()
    stats: dict[str, Any] = json.loads(exchange.body)
    return stats


async def _stall(client: Client, platform: str) -> tuple[Watched, asyncio.Future[Exchange]] | None:
    """A flood whose reader takes its first frames, then stops reading for good."""
    connection = await client.connect(SMALL_BUFFER)
    if connection is None:
        return None
    waiter = connection.send(_flood(platform).encode(HOST, client.port))
    await connection.until(lambda: bool(connection.partial().frames) or waiter.done(), 30)
    assert connection.transport is not None
    connection.transport.pause_reading()
    return connection, waiter


async def _sip(client: Client, platform: str) -> tuple[bool, float]:
    """A flood read at `SLOW_RATE`, slower than the server writes it (its writes keep backing up, but never
    for long): whether it came whole, and how long it took."""
    connection = await client.connect()
    if connection is None:
        return False, 0.0
    started = time.perf_counter()
    waiter = connection.send(_flood(platform).encode(HOST, client.port))
    transport = connection.transport
    assert transport is not None
    while not waiter.done():
        before = connection.received
        connection.arrived.clear()
        with contextlib.suppress(TimeoutError):
            async with asyncio.timeout(CALL_TIMEOUT):
                await connection.arrived.wait()
        transport.pause_reading()
        await asyncio.sleep((connection.received - before) / SLOW_RATE)
        transport.resume_reading()
    exchange = waiter.result()
    connection.close()
    return exchange.ok, time.perf_counter() - started


async def readers(port: int, stalled: int, slow: int, limit: float) -> dict[str, Any]:
    """Stalled readers first (the server must cut them off), then slow ones (the server must serve them)."""
    tally = Tally()
    client = Client(port, tally, asyncio.Semaphore(CONNECT_AT_ONCE))
    baseline = (await server_stats(port))["connections"]
    opened = await asyncio.gather(*(_stall(client, PLATFORMS[n % len(PLATFORMS)]) for n in range(stalled)))
    stalls = [found for found in opened if found is not None]
    stopped = time.perf_counter()
    released = None
    while time.perf_counter() - stopped < limit:
        await asyncio.sleep(0.25)
        if (await server_stats(port))["connections"] <= baseline:
            released = time.perf_counter() - stopped
            break
    for connection, _ in stalls:  # what the server did shows once they read again
        assert connection.transport is not None
        connection.transport.resume_reading()
    await asyncio.wait([waiter for _, waiter in stalls], timeout=CALL_TIMEOUT)
    cut = sum(1 for _, waiter in stalls if waiter.done() and waiter.result().end is None)
    for connection, _ in stalls:
        connection.close()
    sipped = await asyncio.gather(*(_sip(client, PLATFORMS[n % len(PLATFORMS)]) for n in range(slow)))
    durations = [seconds for ok, seconds in sipped if ok]
    return {
        "stalled": len(stalls),
        "cut": cut,
        "released_after": released,
        "slow": slow,
        "slow_completed": len(durations),
        "slow_p50": percentile(durations, 50),
        "slow_max": max(durations, default=float("nan")),
        "connect_errors": tally.connect_errors,
    }


# ── slowloris ────────────────────────────────────────────────────────────────────────────────────────


RESET = -1  # the status of a slowloris connection reset before its answer was read


async def _loris(port: int, kind: str, limit: float, gate: asyncio.Semaphore) -> tuple[int, float | None]:
    """One connection that never finishes its request: the status the server answered (0: none; RESET: the
    connection was reset before an answer was read) and the seconds from connecting until the server closed
    it (None: it did not within `limit`)."""
    async with gate:  # only the connects are bounded: the connections then wait together
        reader, writer = await asyncio.open_connection(HOST, port)
    opened = time.perf_counter()
    body = json.dumps({"message": "soak"})
    head = (
        f"POST /beeos/api/v1/agents/echo/invoke HTTP/1.1\r\nHost: {HOST}:{port}\r\n"
        f"Authorization: Bearer {calls.BEEOS_KEY}\r\nContent-Type: application/json\r\n"
    )

    async def dribble() -> None:
        for byte in head.encode():  # … and never the blank line that ends the head
            writer.write(bytes([byte]))
            await asyncio.sleep(0.5)

    sender: asyncio.Task[None] | None = None
    if kind == "head":
        sender = asyncio.create_task(dribble())
    elif kind == "body":  # a whole head, and a tenth of the body it announces
        writer.write(f"{head}Content-Length: {len(body) * 10}\r\n\r\n{body}".encode())
    try:
        async with asyncio.timeout(limit):
            answer = await reader.read()
        closed: float | None = time.perf_counter() - opened
    except TimeoutError:
        answer, closed = b"", None
    except ConnectionResetError:
        # A client still sending when the server closes gets a reset, and the kernel drops what it had
        # received and not yet handed over: the server's 408, when this process was too slow to read it.
        return RESET, time.perf_counter() - opened
    finally:
        if sender is not None:
            sender.cancel()
        writer.close()
    status = int(answer.split(b" ", 2)[1]) if answer.startswith(b"HTTP/1.1 ") else 0
    return status, closed


async def slowloris(port: int, connections: int, limit: float) -> dict[str, Any]:
    """A third of the connections send their head a byte every 0.5 s, a third send nothing, a third send a
    head and part of its body."""
    kinds = ("head", "silent", "body")
    gate = asyncio.Semaphore(CONNECT_AT_ONCE)

    async def one(kind: str) -> tuple[str, int, float | None]:
        return (kind, *(await _loris(port, kind, limit, gate)))

    results = await asyncio.gather(*(one(kinds[n % len(kinds)]) for n in range(connections)))
    report: dict[str, Any] = {}
    for kind in kinds:
        mine = [(status, closed) for k, status, closed in results if k == kind]
        times = [closed for _, closed in mine if closed is not None]
        report[kind] = {
            "connections": len(mine),
            "statuses": dict(Counter(status for status, _ in mine)),
            "closed": len(times),
            "p50": percentile(times, 50),
            "max": max(times, default=float("nan")),
        }
    return report


# ── filling the stores ───────────────────────────────────────────────────────────────────────────────


async def fill(port: int, count: int, seed: int) -> dict[str, Any]:
    """Fill the stores that no run leaves (BeeOS files, AgentOS ingest runs) to `count` each: the mixed load
    adds to them too slowly to fill them in its first minutes, as it fills the run stores."""
    tally = Tally()
    gate = asyncio.Semaphore(CONNECT_AT_ONCE)
    clients = [Client(port, tally, gate) for _ in range(32)]
    rng = random.Random(seed)
    started = time.perf_counter()

    async def presign(client: Client) -> None:
        await client.call("BeeOS presign", calls.beeos_presign(f"soak-{rng.randrange(1000)}.txt"))

    await _with_clients([presign] * count, clients)
    await _with_clients([lambda client: agentos_ingest(client, rng)] * count, clients)  # the mixed load's flow
    for client in clients:
        client.close()
    return {"seconds": time.perf_counter() - started, **tally.as_json()}


# ── the mixed load ───────────────────────────────────────────────────────────────────────────────────

Flow = Callable[[Client, random.Random], Awaitable[None]]


def _message(rng: random.Random) -> str:
    return f"soak {rng.randrange(1_000_000)}"


async def beeos_invoke(client: Client, rng: random.Random) -> None:
    agent = rng.choice(("echo", "tools", "error"))
    await client.call("BeeOS invoke", calls.beeos_invoke(agent, _message(rng)))


async def beeos_stream(client: Client, rng: random.Random) -> None:
    await client.call(
        "BeeOS invoke (SSE)", calls.beeos_invoke(rng.choice(("echo", "tools")), _message(rng), stream=True)
    )


async def beeos_question(client: Client, rng: random.Random) -> None:
    """A question asked in text, answered by the next message of the conversation."""
    asked = await client.call("BeeOS invoke", calls.beeos_invoke("question", _message(rng)))
    if asked is not None:
        context = calls.data(asked.body)["context_id"]
        await client.call("BeeOS invoke", calls.beeos_invoke("question", "staging", context=context))


async def beeos_task(client: Client, rng: random.Random) -> None:
    """A task polled until it settles, answered if it pauses, and its channel read to the end."""
    agent = rng.choice(("echo", "approval", "question", "slow"))
    created = await client.call("BeeOS task", calls.beeos_create_task(agent, _message(rng)), (202,))
    if created is None:
        return
    task_id = calls.data(created.body)["task_id"]
    spec = calls.beeos_task(agent, task_id)
    status = await poll(client, "BeeOS task poll", spec, lambda d: d["status"] not in ("queued", "running"), calls.data)
    if status is None:
        return
    answers: dict[str, dict[str, Any]] = {"auth_required": {"auth_grant": True}, "input_required": {"input": "staging"}}
    answer = answers.get(status["status"])
    if answer is not None and await client.call("BeeOS continue", calls.beeos_continue(agent, task_id, answer)) is None:
        return
    await client.call("BeeOS task events (SSE)", calls.beeos_task(agent, task_id, "events"))


async def beeos_file(client: Client, rng: random.Random) -> None:
    presigned = await client.call("BeeOS presign", calls.beeos_presign(f"soak-{rng.randrange(1000)}.txt"))
    if presigned is not None:
        upload = calls.data(presigned.body)["upload_url"]
        await client.call("BeeOS upload", calls.beeos_upload(upload, _message(rng) * 10))


async def agentos_invoke(client: Client, rng: random.Random) -> None:
    agent = rng.choice(("echo", "tools", "error"))
    # AgentOS answers an agent's failure with a 500 (AGENT_ERROR): scripted, not a fault of the server.
    await client.call(
        "AgentOS invoke", calls.agentos_invoke(agent, _message(rng)), (500,) if agent == "error" else (200,)
    )


async def agentos_stream(client: Client, rng: random.Random) -> None:
    agent = rng.choice(("echo", "tools"))
    await client.call("AgentOS invoke (stream)", calls.agentos_invoke(agent, _message(rng), stream=True))


async def agentos_pause(client: Client, rng: random.Random) -> None:
    """An approval decided (then the run polled to its end), or a question replied to."""
    agent = rng.choice(("approval", "question"))
    paused = await client.call("AgentOS invoke", calls.agentos_invoke(agent, _message(rng)), (202,))
    if paused is None:
        return
    run = calls.data(paused.body)
    if agent == "question":
        request_id = run["awaiting_input"]["request_id"]
        await client.call("AgentOS reply", calls.agentos_reply(run["run_id"], request_id, "staging"))
        return
    decision = rng.choice(("approve", "reject"))
    if await client.call("AgentOS decide", calls.agentos_decide(run["awaiting_approval"]["approval_id"], decision)):
        settled = ("completed", "failed")
        await poll(
            client, "AgentOS run poll", calls.agentos_run(run["run_id"]), lambda d: d["status"] in settled, calls.data
        )


async def agentos_ingest(client: Client, rng: random.Random) -> None:
    started = await client.call("AgentOS ingest", calls.agentos_ingest("run/start", {"agent_id": "soak-external"}))
    if started is not None:
        run_id = calls.data(started.body)["run_id"]
        events = {"run_id": run_id, "events": [{"type": "log", "payload": {"n": n}} for n in range(3)]}
        if await client.call("AgentOS ingest", calls.agentos_ingest("events", events)):
            await client.call("AgentOS ingest", calls.agentos_ingest("run/complete", {"run_id": run_id}))


async def xpander_invoke(client: Client, rng: random.Random) -> None:
    await client.call("xpander invoke", calls.xpander_invoke(rng.choice(("echo", "tools")), _message(rng)))


async def xpander_stream(client: Client, rng: random.Random) -> None:
    await client.call(
        "xpander invoke/stream", calls.xpander_invoke(rng.choice(("echo", "tools")), _message(rng), "stream")
    )


async def xpander_async(client: Client, rng: random.Random) -> None:
    started = await client.call(
        "xpander invoke/async", calls.xpander_invoke(rng.choice(("echo", "slow")), _message(rng), "async")
    )
    if started is not None:
        spec = calls.xpander_task(json.loads(started.body)["id"])
        await poll(client, "xpander task poll", spec, lambda t: t["status"] not in ("pending", "executing"), json.loads)


async def xpander_hitl(client: Client, rng: random.Random) -> None:
    paused = await client.call("xpander invoke", calls.xpander_invoke("approval", _message(rng)))
    if paused is not None:
        task_id = json.loads(paused.body)["id"]
        if await client.call("xpander hitl", calls.xpander_hitl(task_id, rng.choice(("approve", "reject")))):
            settled = ("completed", "failed")
            await poll(
                client, "xpander task poll", calls.xpander_task(task_id), lambda t: t["status"] in settled, json.loads
            )


async def zeus_invoke(client: Client, rng: random.Random) -> None:
    await client.call("Zeus invoke", calls.zeus_invoke(rng.choice(("echo", "tools", "error")), _message(rng)))


async def zeus_resume(client: Client, rng: random.Random) -> None:
    """An interrupt (an approval or a question) resumed, and the rest of the turn streamed."""
    agent = rng.choice(("approval", "question"))
    asked = await client.call("Zeus invoke", calls.zeus_invoke(agent, _message(rng)))
    if asked is not None:
        interrupt = calls.frames(asked.body)[-1]
        answer = "staging" if agent == "question" else None
        await client.call("Zeus resume", calls.zeus_resume(interrupt, answer=answer))


async def aster_chat(client: Client, rng: random.Random) -> None:
    await client.call("Aster chat", calls.aster_chat(rng.choice(("echo", "tools", "error")), _message(rng)))


async def aster_thread(client: Client, rng: random.Random) -> None:
    """A question asked in a thread, answered by the thread's next message."""
    asked = await client.call("Aster chat", calls.aster_chat("question", _message(rng)))
    if asked is not None:
        await client.call("Aster chat", calls.aster_chat("question", "staging", thread=asked.headers["x-thread-id"]))


async def aster_background(client: Client, rng: random.Random) -> None:
    started = await client.call("Aster chat (202)", calls.aster_chat("echo", _message(rng), background=True), (202,))
    if started is not None:
        spec = calls.aster_conversation(json.loads(started.body)["threadId"])
        await poll(client, "Aster poll", spec, lambda c: c["streamStatus"] != "in_progress", json.loads)


def _simple(rng: random.Random) -> tuple[str, RequestSpec]:
    """A one-request call of some platform, for a fault or a named session."""
    message = _message(rng)
    return rng.choice(
        (
            ("BeeOS invoke", calls.beeos_invoke("echo", message)),
            ("AgentOS invoke", calls.agentos_invoke("echo", message)),
            ("xpander invoke", calls.xpander_invoke("echo", message)),
            ("Zeus invoke", calls.zeus_invoke("echo", message)),
            ("Aster chat", calls.aster_chat("echo", message)),
        )
    )


def _stream(rng: random.Random, agent: str) -> tuple[str, RequestSpec]:
    message = _message(rng)
    return rng.choice(
        (
            ("BeeOS invoke (SSE)", calls.beeos_invoke(agent, message, stream=True)),
            ("AgentOS invoke (stream)", calls.agentos_invoke(agent, message, stream=True)),
            ("xpander invoke/stream", calls.xpander_invoke(agent, message, "stream")),
            ("Zeus invoke", calls.zeus_invoke(agent, message)),
            ("Aster chat", calls.aster_chat(agent, message)),
        )
    )


async def fault(client: Client, rng: random.Random) -> None:
    """A 429 or a 504, injected: answered in the platform's envelope before any run starts."""
    status = rng.choice((429, 504))
    name, spec = _simple(rng)
    await client.call(name, calls.with_headers(spec, {"X-Mockagent-Fault": str(status)}), (status,))


async def fault_drop(client: Client, rng: random.Random) -> None:
    name, spec = _stream(rng, LONG)
    await client.cut_by_fault(name, calls.with_headers(spec, {"X-Mockagent-Fault": "drop-after=2"}))


async def client_drop(client: Client, rng: random.Random) -> None:
    name, spec = _stream(rng, LONG)
    await client.drop(name, spec, rng.randint(1, 5))


async def named_session(client: Client, rng: random.Random) -> None:
    """A call in one of more sessions than the server keeps: the least recently used idle one is forgotten."""
    name, spec = _simple(rng)
    named = calls.with_headers(spec, {"X-Mockagent-Session": f"soak-{rng.randrange(SESSIONS)}"})
    await client.call(name, named, resettable=True)


async def session_reset(client: Client, rng: random.Random) -> None:
    reset = RequestSpec("DELETE", f"/__mockagent/sessions/soak-{rng.randrange(SESSIONS)}", {}, "")
    await client.call("admin: reset a session", reset)


FLOWS: dict[Flow, int] = {  # each flow and its weight
    beeos_invoke: 8,
    beeos_stream: 6,
    beeos_question: 2,
    beeos_task: 3,
    beeos_file: 1,
    agentos_invoke: 8,
    agentos_stream: 6,
    agentos_pause: 3,
    agentos_ingest: 1,
    xpander_invoke: 8,
    xpander_stream: 6,
    xpander_async: 2,
    xpander_hitl: 2,
    zeus_invoke: 8,
    zeus_resume: 3,
    aster_chat: 8,
    aster_thread: 2,
    aster_background: 2,
    fault: 4,
    fault_drop: 2,
    client_drop: 3,
    named_session: 6,
    session_reset: 1,
}


async def mixed(port: int, workers: int, duration: float, seed: int) -> dict[str, Any]:
    tally = Tally()
    gate = asyncio.Semaphore(CONNECT_AT_ONCE)
    flows, weights = list(FLOWS), list(FLOWS.values())
    started = time.perf_counter()
    deadline = started + duration

    async def worker(number: int) -> None:
        rng = random.Random(seed * 1000 + number)
        client = Client(port, tally, gate)
        while time.perf_counter() < deadline:
            flow = rng.choices(flows, weights)[0]
            try:
                await flow(client, rng)
            except (KeyError, IndexError, TypeError, ValueError) as error:  # an answer not shaped as expected
                tally.unexpected[flow.__name__][-1] += 1
                tally.samples.append(f"{flow.__name__}: {error!r}")
                client.close()
            tally.flows[flow.__name__] += 1
        client.close()

    await asyncio.gather(*(worker(n) for n in range(workers)))
    return {"seconds": time.perf_counter() - started, **tally.as_json()}


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("mode", choices=["drops", "readers", "slowloris", "fill", "mixed"])
    parser.add_argument("--port", type=int, required=True)
    parser.add_argument("--streams", type=int, default=200, help="drops: streams per endpoint and round")
    parser.add_argument("--rounds", type=int, default=5, help="drops: rounds")
    parser.add_argument("--stalled", type=int, default=100, help="readers: readers that stop reading")
    parser.add_argument("--slow", type=int, default=25, help="readers: readers that read slowly")
    parser.add_argument("--connections", type=int, default=300, help="slowloris: connections")
    parser.add_argument("--limit", type=float, default=60.0, help="readers, slowloris: seconds to wait for the server")
    parser.add_argument("--count", type=int, default=10_000, help="fill: entries of each store")
    parser.add_argument("--workers", type=int, default=48, help="mixed: concurrent clients")
    parser.add_argument("--duration", type=float, default=600.0, help="mixed: seconds")
    parser.add_argument("--seed", type=int, default=1)
    args = parser.parse_args(argv)
    raise_fd_limit()
    if args.mode == "drops":
        result = asyncio.run(drop_storms(args.port, args.streams, args.rounds, args.seed))
    elif args.mode == "readers":
        result = asyncio.run(readers(args.port, args.stalled, args.slow, args.limit))
    elif args.mode == "slowloris":
        result = asyncio.run(slowloris(args.port, args.connections, args.limit))
    elif args.mode == "fill":
        result = asyncio.run(fill(args.port, args.count, args.seed))
    else:
        result = asyncio.run(mixed(args.port, args.workers, args.duration, args.seed))
    json.dump(result, sys.stdout)


if __name__ == "__main__":
    main()
