"""`mockagent` commands run as a user runs them, each its own process, for the tests that need several."""

from __future__ import annotations

import asyncio
import contextlib
import os
import sys
from collections.abc import AsyncIterator
from pathlib import Path

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
