"""The Python load generator: a separate process that drives a server on loopback and prints JSON.

    loadgen.py load    --port P --request JSON --connections C --duration S   keep-alive closed loop
    loadgen.py probe   --port P --request JSON --connections C --duration S   the same, every frame timed
    loadgen.py streams --port P --request JSON --count N [--timeout S]        N streams opened at once

Stdlib only, so it runs under any Python 3.11. Every mode is bounded in time and count.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import resource
import sys
import time
from collections.abc import Callable
from typing import Any

from rawhttp import Connection, Exchange, RequestSpec, connect

HOST = "127.0.0.1"
CONNECT_BATCH = 100  # connections opened at a time, so the server's accept backlog never overflows


def raise_fd_limit() -> None:
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    wanted = hard if hard != resource.RLIM_INFINITY else 65536
    if soft < wanted:
        resource.setrlimit(resource.RLIMIT_NOFILE, (wanted, hard))


def percentile(values: list[float], q: float) -> float:
    if not values:
        return float("nan")
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(q / 100 * len(ordered)))]


async def _worker(port: int, request: bytes, deadline: float, record: bool, sink: Callable[[Exchange], None]) -> None:
    """One connection's closed loop: send, wait for the whole response, repeat until the deadline."""
    connection: Connection | None = None
    while time.perf_counter() < deadline:
        if connection is None or not connection.usable:
            try:
                connection = await connect(HOST, port, record_frames=record)
            except OSError:
                sink(Exchange(status=-1))
                await asyncio.sleep(0.01)
                continue
        remaining = deadline + 5.0 - time.perf_counter()  # an answer may finish a little past the deadline
        try:
            exchange = await asyncio.wait_for(connection.send(request), timeout=max(0.1, remaining))
        except TimeoutError:
            connection.close()
            sink(Exchange(status=-1))
            continue
        sink(exchange)
    if connection is not None:
        connection.close()


async def closed_loop(port: int, spec: RequestSpec, connections: int, duration: float, record: bool) -> dict[str, Any]:
    exchanges: list[Exchange] = []
    started = time.perf_counter()
    deadline = started + duration
    await asyncio.gather(
        *(_worker(port, spec.encode(HOST, port, i), deadline, record, exchanges.append) for i in range(connections))
    )
    elapsed = time.perf_counter() - started
    done = [e for e in exchanges if e.ok]
    latencies = [e.end - e.sent for e in done if e.end is not None]
    result: dict[str, Any] = {
        "tool": "python",
        "requests": len(done),
        "errors": len(exchanges) - len(done),
        "duration": elapsed,
        "rps": len(done) / elapsed,
        "p50_ms": percentile(latencies, 50) * 1000,
        "p99_ms": percentile(latencies, 99) * 1000,
    }
    if record:
        result["exchanges"] = [e.as_json() for e in exchanges]
    return result


async def _open_all(port: int, count: int) -> list[Connection]:
    connections: list[Connection] = []
    for start in range(0, count, CONNECT_BATCH):
        batch = min(CONNECT_BATCH, count - start)
        connections += await asyncio.gather(*(connect(HOST, port, record_frames=True) for _ in range(batch)))
    return connections


async def streams(port: int, spec: RequestSpec, count: int, timeout: float) -> dict[str, Any]:
    """Open `count` connections first, then send every request at once and time each frame."""
    request = spec.encode(HOST, port)
    connect_started = time.perf_counter()
    connections = await _open_all(port, count)
    connect_time = time.perf_counter() - connect_started
    waiters = [connection.send(request) for connection in connections]
    done, _ = await asyncio.wait(waiters, timeout=timeout)
    exchanges = [w.result() if w in done else c.partial() for w, c in zip(waiters, connections, strict=True)]
    for connection in connections:
        connection.close()
    return {"connect_seconds": connect_time, "exchanges": [e.as_json() for e in exchanges]}


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("mode", choices=["load", "probe", "streams"])
    parser.add_argument("--port", type=int, required=True)
    parser.add_argument("--request", required=True, help="the request as JSON: method, path, headers, body")
    parser.add_argument("--connections", type=int, default=16)
    parser.add_argument("--duration", type=float, default=5.0)
    parser.add_argument("--count", type=int, default=200)
    parser.add_argument("--timeout", type=float, default=30.0)
    args = parser.parse_args(argv)
    raise_fd_limit()
    spec = RequestSpec.from_json(json.loads(args.request))
    if args.mode == "streams":
        result = asyncio.run(streams(args.port, spec, args.count, args.timeout))
    else:
        duration = min(args.duration, 120.0)
        result = asyncio.run(closed_loop(args.port, spec, args.connections, duration, args.mode == "probe"))
    json.dump(result, sys.stdout)


if __name__ == "__main__":
    main()
