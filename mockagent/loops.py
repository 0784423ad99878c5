"""Which event loop `mockagent serve` and `mockagent record` run: uvloop where it is installed (it is a
dependency wherever it builds: CPython, not Windows), else asyncio's own.

CHOSEN: ``--loop auto`` (the default) takes uvloop when it imports and asyncio's loop otherwise; ``--loop
asyncio`` forces asyncio's (to tell a uvloop problem from ours), ``--loop uvloop`` refuses to start without it.
Only the command chooses: `MockServer`, `ThreadedMockServer` and the pytest fixtures run in whatever loop their
caller runs, and install no policy (a test process's loop is not ours to choose).
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable

LOOPS = ("auto", "asyncio", "uvloop")
LoopFactory = Callable[[], asyncio.AbstractEventLoop]


class LoopUnavailable(Exception):
    """``--loop uvloop`` where uvloop does not import."""


def loop_factory(choice: str) -> tuple[str, LoopFactory]:
    """The loop `choice` names (one of `LOOPS`): its name and how to make one."""
    if choice == "asyncio":
        return "asyncio", asyncio.new_event_loop
    try:
        import uvloop
    except ImportError as err:
        if choice == "uvloop":
            raise LoopUnavailable(f"uvloop does not import here ({err}); --loop asyncio runs without it") from err
        return "asyncio", asyncio.new_event_loop
    return "uvloop", uvloop.new_event_loop


def running_loop_name() -> str:
    """ "uvloop" or "asyncio": what runs the current event loop (stats and the banner say it)."""
    module = type(asyncio.get_running_loop()).__module__
    return "uvloop" if module.split(".", 1)[0] == "uvloop" else "asyncio"
