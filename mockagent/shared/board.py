"""The fault board in Redis: a rule added, counted down or cleared through any process is what the next
request meets in every process. Each process keeps a copy, refreshed when the board's version moved (one
GET a request); each change is one atomic script that moves the version."""

from __future__ import annotations

import json
from collections.abc import Sequence
from typing import Any

from mockagent.faultboard import MAX_ADDED, too_many
from mockagent.faults import AddedRule, FaultRule, Per, RateLimit, parse_fault
from mockagent.shared import Shared

# KEYS: rules, ids, version, times prefix; ARGV: the rule as JSON (without its id), times or "", MAX_ADDED.
_ADD = """
if redis.call('HLEN', KEYS[1]) >= tonumber(ARGV[3]) then return -1 end
local id = redis.call('INCR', KEYS[2])
local rule = cjson.decode(ARGV[1])
rule['id'] = id
redis.call('HSET', KEYS[1], id, cjson.encode(rule))
if ARGV[2] ~= '' then redis.call('SET', KEYS[4] .. id, ARGV[2]) end
redis.call('INCR', KEYS[3])
return id
"""

# KEYS: rules, version, times of the rule; ARGV: the rule's id. 1: this request gets the fault.
_TAKE = """
local left = tonumber(redis.call('GET', KEYS[3]) or '0')
if left <= 0 then return 0 end
left = redis.call('DECR', KEYS[3])
if left <= 0 then
  redis.call('HDEL', KEYS[1], ARGV[1])
  redis.call('DEL', KEYS[3])
  redis.call('INCR', KEYS[2])
end
return 1
"""

# KEYS: rules, version, chaos, times prefix. Returns how many rules went.
_CLEAR = """
local ids = redis.call('HKEYS', KEYS[1])
for _, id in ipairs(ids) do redis.call('DEL', KEYS[4] .. id) end
redis.call('DEL', KEYS[1], KEYS[3])
redis.call('INCR', KEYS[2])
return #ids
"""


class SharedBoard:
    """The `FaultBoard` of a server whose processes share Redis."""

    def __init__(self, shared: Shared, chaos: float = 0.0) -> None:
        self._shared = shared
        self._configured = chaos
        self._rules_key = shared.key("faults", "rules")
        self._version_key = shared.key("faults", "version")
        self._chaos_key = shared.key("faults", "chaos")
        self._times_prefix = shared.key("faults", "times", "")
        self._version: str | None = None
        self._cached: tuple[Sequence[AddedRule], float] = ((), chaos)
        client = shared.client
        self._add = client.register_script(_ADD)
        self._take = client.register_script(_TAKE)
        self._clear = client.register_script(_CLEAR)

    @property
    def may_fault(self) -> bool:
        return True  # another process may have added a rule: only Redis knows

    async def current(self) -> tuple[Sequence[AddedRule], float]:
        client = self._shared.client
        async with self._shared.lost():
            version = await client.get(self._version_key)
            if version == self._version:
                return self._cached
            async with client.pipeline(transaction=True) as pipe:
                pipe.get(self._version_key)
                pipe.hgetall(self._rules_key)
                pipe.get(self._chaos_key)
                version, rules, chaos = await pipe.execute()
            added = sorted((_rule_of(json.loads(text)) for text in rules.values()), key=lambda rule: rule.id)
            counted = [rule for rule in added if rule.times is not None]
            if counted:
                left = await client.mget([self._times_prefix + str(rule.id) for rule in counted])
                for rule, times in zip(counted, left, strict=True):
                    rule.times = int(times) if times is not None else 0
        self._version = version
        self._cached = (added, float(chaos) if chaos is not None else self._configured)
        return self._cached

    async def take(self, added: AddedRule) -> bool:
        if added.times is None:
            return True
        times = self._times_prefix + str(added.id)
        async with self._shared.lost():
            return bool(await self._take(keys=[self._rules_key, self._version_key, times], args=[added.id]))

    async def add(self, rule: FaultRule, times: int | None, scope: dict[str, str | None]) -> AddedRule:
        keys = [self._rules_key, self._shared.key("faults", "ids"), self._version_key, self._times_prefix]
        async with self._shared.lost():
            rule_id = int(
                await self._add(keys=keys, args=[json.dumps(_json_of(rule, times, scope)), times or "", MAX_ADDED])
            )
        if rule_id < 0:
            raise too_many()
        return AddedRule(rule_id, rule, times, **scope)

    async def clear(self) -> int:
        keys = [self._rules_key, self._version_key, self._chaos_key, self._times_prefix]
        async with self._shared.lost():
            return int(await self._clear(keys=keys))

    async def set_chaos(self, chaos: float) -> None:
        async with self._shared.lost(), self._shared.client.pipeline(transaction=True) as pipe:
            pipe.set(self._chaos_key, repr(chaos))
            pipe.incr(self._version_key)
            await pipe.execute()


def _json_of(rule: FaultRule, times: int | None, scope: dict[str, str | None]) -> dict[str, Any]:
    limit = rule.rate_limit
    return {
        "fault": rule.fault.source if limit is None else None,
        "rate_limit": [limit.requests, limit.window] if limit is not None else None,
        "per": rule.per.value,
        "times": times,
        **scope,
    }


def _rule_of(found: dict[str, Any]) -> AddedRule:
    limit = found["rate_limit"]
    rule = (
        FaultRule(rate_limit=RateLimit(int(limit[0]), float(limit[1])), per=Per(found["per"]))
        if limit is not None
        else FaultRule(fault=parse_fault(found["fault"]))
    )
    return AddedRule(
        int(found["id"]),
        rule,
        found["times"],
        platform=found["platform"],
        session=found["session"],
        path=found["path"],
    )
