"""A session's fault counters and rate-limit buckets in Redis: each count and each token taken is one
atomic script, so N processes serving one client count its calls once, in one bucket (not N)."""

from __future__ import annotations

from mockagent.digests import digest
from mockagent.faults import RateLimit
from mockagent.shared import KEY_TTL, Shared

# KEYS[1]: the counter; ARGV: the calls it had before any was counted, the TTL. Returns the calls before this one.
_COUNT = """
redis.call('SET', KEYS[1], ARGV[1], 'NX')
local after = redis.call('INCR', KEYS[1])
redis.call('EXPIRE', KEYS[1], ARGV[2])
return after - 1
"""

# KEYS[1]: the bucket (tokens, at); ARGV: capacity, tokens per clock second, clock now, TTL. Returns "" when
# a token was taken, else the clock seconds until one is back. Time never runs back: a process whose clock
# reads a hair behind another's refills nothing rather than a negative amount.
_TAKE = """
local capacity, rate, now = tonumber(ARGV[1]), tonumber(ARGV[2]), tonumber(ARGV[3])
local state = redis.call('HMGET', KEYS[1], 'tokens', 'at')
local tokens, at = tonumber(state[1]), tonumber(state[2])
if tokens == nil then tokens, at = capacity, now end
if now > at then
  tokens = math.min(capacity, tokens + (now - at) * rate)
  at = now
end
local wait = ''
if tokens >= 1 then tokens = tokens - 1 else wait = tostring((1 - tokens) / rate) end
redis.call('HSET', KEYS[1], 'tokens', tostring(tokens), 'at', tostring(at))
redis.call('EXPIRE', KEYS[1], ARGV[4])
return wait
"""


class RedisTally:
    """The `Tally` of one session, in Redis."""

    def __init__(self, shared: Shared, session: str) -> None:
        self._shared = shared
        self._session = session
        self._count = shared.client.register_script(_COUNT)
        self._take = shared.client.register_script(_TAKE)

    async def count(self, key: str, earlier: int) -> int:
        async with self._shared.lost():
            calls = await self._count(
                keys=[self._shared.session_key(self._session, "calls", key)], args=[earlier, KEY_TTL]
            )
        return int(calls)

    async def take_token(self, limit: RateLimit, key: str, now: float) -> float:
        # A scope may be a credential: its bucket is named by its digest (no secret is written to Redis).
        bucket = self._shared.session_key(self._session, "bucket", digest(key))
        async with self._shared.lost():
            wait = await self._take(
                keys=[bucket], args=[limit.requests, repr(limit.requests / limit.window), repr(now), KEY_TTL]
            )
        return float(wait) if wait else 0.0
