"""What a request holds of a session shared between processes (`--state redis://…`; docs/deploy.md).

A request that may change a session holds the session's lock in Redis from its admission until the first
moment it would wait — on a run's clock, or for its client as its answer begins — or until it ends; and
what it changed is written to Redis as it lets go (`let_go`). The objects of a session it reached (runs,
conversations, a platform's records) are noted as `touched` on the way, so that only they are compared
and written. In one process none of this is set, and every call here returns at once.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from contextvars import ContextVar

#: The request's own letting go, while it holds a session's lock (set by the session store in Redis).
HELD: ContextVar[Callable[[], Awaitable[None]] | None] = ContextVar("mockagent_held", default=None)
#: The session objects the request reached, while it serves a session shared between processes.
TOUCHED: ContextVar[dict[int, object] | None] = ContextVar("mockagent_touched", default=None)


def touch(thing: object) -> None:
    """Note that the request reached `thing` (a run, a conversation, a platform's records)."""
    touched = TOUCHED.get()
    if touched is not None:
        touched[id(thing)] = thing


async def let_go() -> None:
    """Write what the request changed and let go of the session's lock, if it holds one: it is about to
    wait, or it is over."""
    held = HELD.get()
    if held is not None:
        HELD.set(None)
        await held()
