"""`mockagent` commands run as a user runs them, each its own process, for the tests that need several."""

from __future__ import annotations

import asyncio
import contextlib
import os
import sys
from collections.abc import AsyncIterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import aiohttp
from redis_server import RedisServer

ROOT = Path(__file__).resolve().parent.parent
#: Real seconds a command may take to print its banner before the test fails (a bound, never a measure).
SAFETY = 30.0
_ENTRY = "from mockagent._entry import main; main()"


async def start(*args: str) -> asyncio.subprocess.Process:
    return await asyncio.create_subprocess_exec(
        sys.executable, "-c", _ENTRY, *args, cwd=ROOT,
        stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.PIPE, env=dict(os.environ),
    )  # fmt: skip


@contextlib.asynccontextmanager
async def mockagent(*args: str, port: str = "0") -> AsyncIterator[str]:
    """A `mockagent` command serving on `port` (0: a free one): its base URL once the banner is out."""
    process = await start(*args, "--port", port)
    try:
        yield await listening(process, args[0])
    finally:
        if process.returncode is None:
            process.terminate()
            await process.wait()


async def listening(process: asyncio.subprocess.Process, command: str = "serve") -> str:
    """The base URL a started command serves, once its banner is out."""
    assert process.stdout is not None
    lines: list[str] = []
    while not lines or not lines[-1].endswith("Ctrl-C to stop"):
        line = await asyncio.wait_for(process.stdout.readline(), SAFETY)
        if not line:
            assert process.stderr is not None
            error = (await process.stderr.read()).decode()
            raise AssertionError(f"{command} ended before its banner: {lines} {error}")
        lines.append(line.decode().rstrip("\n"))
    return lines[0].split(" listening on ", 1)[1].split()[0]


# ── processes that share one Redis (the tests of `--state redis://…`) ──────────────────────────────


@dataclass
class Replica:
    """One `mockagent serve` process of the test's server."""

    process: asyncio.subprocess.Process
    base: str


@contextlib.asynccontextmanager
async def replicas(
    redis_server: RedisServer, name: str, count: int = 3, *, manual: bool = True
) -> AsyncIterator[list[Replica]]:
    """`count` processes of server `name` (on a manual clock, unless not `manual`), started together; what
    each wrote to stderr is printed as they stop (shown when the test fails)."""
    args = ("serve", "--state", redis_server.url, "--name", name, "--port", "0")
    args += ("--manual-clock",) if manual else ()
    processes = await asyncio.gather(*(start(*args) for _ in range(count)))
    try:
        bases = await asyncio.gather(*(listening(process) for process in processes))
        yield [Replica(process, base) for process, base in zip(processes, bases, strict=True)]
    finally:
        for process in processes:
            if process.returncode is None:
                process.terminate()
        for process in processes:
            await process.wait()
            assert process.stderr is not None
            print((await process.stderr.read()).decode())


async def call(
    http: aiohttp.ClientSession, method: str, url: str, headers: dict[str, str], body: Any = None
) -> tuple[int, Any]:
    """A request's status and body: its JSON, or a stream's text."""
    async with http.request(method, url, json=body, headers=headers) as response:
        if response.content_type == "text/event-stream":
            return response.status, await response.text()
        return response.status, await response.json()


async def waiting(http: aiohttp.ClientSession, base: str, count: int = 1) -> None:
    """Until `base`'s default session has `count` requests waiting on its manual clock (watched through
    its admin API, within a bound: another process cannot be awaited otherwise)."""
    loop = asyncio.get_running_loop()
    deadline = loop.time() + SAFETY
    while loop.time() < deadline:
        async with http.get(f"{base}/__mockagent/clock") as clock:
            if (await clock.json())["waiting"] >= count:
                return
        await asyncio.sleep(0.02)
    raise AssertionError(f"nothing waits on {base}'s clock")


async def advance(http: aiohttp.ClientSession, base: str, seconds: float) -> None:
    async with http.post(f"{base}/__mockagent/clock/advance", json={"seconds": seconds}) as advanced:
        assert advanced.status == 200, await advanced.text()
