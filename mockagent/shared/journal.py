"""The journal of a server whose processes share Redis: each answered entry, as the admin API shows it
(redacted), in one sorted set per session, ordered by one sequence for the whole server — so that
`GET /__mockagent/journal` through any process lists what every process served, oldest first.

Bounded as one process's journal is: each session keeps its newest `journal_size` entries (the oldest are
dropped as new ones come), and its set expires a day after its last entry.
"""

from __future__ import annotations

import json
from collections.abc import Iterable
from typing import TYPE_CHECKING, Any, cast

from mockagent.encoding import dumps
from mockagent.journal import Kept
from mockagent.shared import KEY_TTL, Shared

if TYPE_CHECKING:
    from redis.asyncio.client import Pipeline

# KEYS: the session's entries, the server's sequence. ARGV: the entry (JSON), the most kept, the TTL.
_ADD = """
local seq = redis.call('INCR', KEYS[2])
redis.call('ZADD', KEYS[1], seq, ARGV[1])
local excess = redis.call('ZCARD', KEYS[1]) - tonumber(ARGV[2])
if excess > 0 then redis.call('ZREMRANGEBYRANK', KEYS[1], 0, excess - 1) end
redis.call('EXPIRE', KEYS[1], ARGV[3])
return seq
"""


class SharedJournal:
    def __init__(self, shared: Shared, size: int) -> None:
        self._shared = shared
        self._size = size
        self._sequence = shared.key("journal", "seq")

    def _key(self, session: str) -> str:
        return self._shared.session_key(session, "journal")

    def add(self, pipe: Pipeline, session: str, entry: dict[str, Any]) -> None:
        """Add `entry` to the journal of `session` as `pipe` is carried out."""
        if self._size:
            # EVAL, not a registered script: in a pipeline, redis-py would first ask whether it is loaded,
            # a round trip each time (Redis keeps it compiled by its digest all the same).
            pipe.eval(_ADD, 2, self._key(session), self._sequence, dumps(entry), self._size, KEY_TTL)

    async def entries(self, sessions: Iterable[str] | None) -> list[Kept]:
        """The entries of `sessions` (None: every session), oldest first."""
        client = self._shared.client
        found: list[Kept] = []
        async with self._shared.lost():
            for key in await self._keys(sessions):
                scored = cast("list[tuple[str, float]]", await client.zrange(key, 0, -1, withscores=True))
                found.extend(_kept(text, seq) for text, seq in scored)
        found.sort(key=lambda kept: kept.seq)
        return found

    async def clear(self, sessions: Iterable[str] | None) -> int:
        client = self._shared.client
        cleared = 0
        async with self._shared.lost():
            for key in await self._keys(sessions):
                cleared += int(await client.zcard(key))
                await client.delete(key)
        return cleared

    async def _keys(self, sessions: Iterable[str] | None) -> list[str]:
        if sessions is not None:
            return [self._key(name) for name in sessions]
        pattern = self._shared.session_key("*", "journal")
        return [key async for key in self._shared.client.scan_iter(match=pattern, count=1000)]


def _kept(text: str, seq: float) -> Kept:
    entry = json.loads(text)
    decision = entry.get("decision") or {}
    return Kept(
        seq=seq,
        id=entry["id"],
        session=entry["session"],
        platform=entry.get("platform"),
        agent=entry.get("agent"),
        method=entry["method"],
        path=entry["path"],
        status=entry.get("status"),
        run=entry.get("run"),
        unmatched=decision.get("kind") == "unmatched",
        size=len(text),
        json=entry,
    )
