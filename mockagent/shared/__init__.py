"""State shared between mockagent processes, in Redis (`serve --state redis://…`; docs/deploy.md).

Every key of a server lives under ``mockagent:NAME:`` (`--name`, CHOSEN default ``mockagent``), and every key
of one of its sessions under ``mockagent:NAME:s:SESSION:``, so that a session's reset deletes what it
left, and two servers (a CI job's and a demo's) can share one Redis without meeting. What each process
must agree on (its clock's speed, whether the clock is manual) is registered when it starts, and one that
disagrees with the processes already serving is refused.

Redis unreachable while serving is the platform's 503 in its own envelope (`lost`): the process keeps
serving, and the next request that reaches Redis again works as before.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import time
import uuid
from collections.abc import AsyncIterator, Callable, Coroutine
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from mockagent.encoding import dumps
from mockagent.errors import ApiError, ErrorKind, MockAgentError

if TYPE_CHECKING:
    from redis.asyncio import Redis

#: CHOSEN: how long counters, buckets and other per-session keys live unused (Redis forgets them after),
#: the bound that the in-memory store's "the latest 10,000 scopes" is in Redis.
KEY_TTL = 24 * 3600
#: CHOSEN: how long a process's registration lives without being renewed (renewed every third of it), so
#: that a server restarted with another --speed is refused only while a process of the old one serves.
REGISTRATION_TTL = 15.0
#: CHOSEN: the longest wait for Redis at start and on each call (seconds): a Redis that does not answer is
#: a 503 after this, not a hung request.
REDIS_TIMEOUT = 2.0
DEFAULT_NAME = "mockagent"


def stopping() -> bool:
    """Whether the running task was cancelled. redis-py may turn a cancellation into an error of its own as
    it drops the connection it was using: a loop that outlives such errors asks this before it waits again,
    or it would wait for ever while the process stops."""
    task = asyncio.current_task()
    return task is not None and task.cancelling() > 0


class SharedStateError(MockAgentError):
    """Redis cannot serve as the state of this server (unreachable, or other processes disagree)."""


@dataclass(frozen=True)
class Agreement:
    """What every process of one server must share: a run's timeline is read the same by all of them."""

    speed: float
    manual_clock: bool

    def as_fields(self) -> dict[str, str]:
        return {"speed": repr(self.speed), "manual_clock": "1" if self.manual_clock else "0"}

    def as_items(self) -> list[str]:
        return [part for pair in self.as_fields().items() for part in pair]


class Shared:
    """One process's handle on its server's state in Redis: the connection and the names of its keys."""

    def __init__(self, client: Redis, raw: Redis, url: str, name: str) -> None:
        self.client = client
        self.raw = raw  # snapshots are bytes: this client hands them back as they are
        self.url = url
        self.name = name
        self.prefix = f"mockagent:{name}"
        self.epoch = 0.0  # the server's first start, in Unix seconds: clock time 0 of its real clock
        self.number = 0  # this process's, among all that served the server: its journal ids are its own
        self.process = uuid.uuid4().hex  # tells this process's own news from the others' (see `tell`)
        self.channel = self.key("news")
        self._own = dumps({"from": self.process})[:-1]  # how this process's news begins (see `news`)
        self._renewal: asyncio.Task[None] | None = None
        self._listening: asyncio.Task[None] | None = None
        self._soon: set[asyncio.Task[object]] = set()

    def key(self, *parts: str) -> str:
        return ":".join((self.prefix, *parts))

    def session_key(self, session: str, *parts: str) -> str:
        # A session name may hold ":" (ci:job1): escaped, one session's keys never start like another's.
        return ":".join((self.prefix, "s", session.replace("%", "%25").replace(":", "%3A"), *parts))

    @contextlib.asynccontextmanager
    async def lost(self) -> AsyncIterator[None]:
        """Redis failing inside is the platform's 503 (the request changes nothing it could half-write:
        each change is one atomic call)."""
        from redis.exceptions import RedisError

        try:
            yield
        except RedisError as err:
            raise ApiError(
                ErrorKind.UNAVAILABLE, f"mockagent's state store (Redis at {self.url}) failed: {err}"
            ) from None

    async def forget_session(self, session: str) -> bool:
        """Delete every key of `session` (a reset); whether it had any."""
        deleted = 0
        async with self.lost():
            batch: list[str] = []
            async for key in self.client.scan_iter(match=self.session_key(session, "*"), count=500):
                batch.append(key)
                if len(batch) >= 500:
                    deleted += await self.client.unlink(*batch)
                    batch.clear()
            if batch:
                deleted += await self.client.unlink(*batch)
        return deleted > 0

    def soon(self, call: Coroutine[Any, Any, object]) -> None:
        """Make `call` in the background, whatever becomes of the request that asked, until it ends or the
        process closes its connections (`close`). Redis away: it is not made, as if made before Redis lost it."""

        async def made() -> object:
            from redis.exceptions import RedisError

            with contextlib.suppress(RedisError, ApiError):  # ApiError: Redis away, as `lost` tells it
                return await call
            return None

        task = asyncio.get_running_loop().create_task(made())
        self._soon.add(task)
        task.add_done_callback(self._soon.discard)

    def news(self, kind: str, **fields: object) -> str:
        """A message for the server's channel: published by a Lua script with the change it tells of, or
        by `tell`."""
        return dumps({"from": self.process, "kind": kind, **fields})  # "from" first: see `_listen`

    async def tell(self, kind: str, **fields: object) -> None:
        """Tell the other processes of the server of a change (they hear it through `listen`)."""
        async with self.lost():
            await self.client.publish(self.channel, self.news(kind, **fields))

    def listen(self, hear: Callable[[dict[str, object]], None]) -> None:
        """Call `hear` with each message another process tells (from now on, once; woken by Redis, never
        polling). Redis away: it subscribes again once Redis is back, and what was told meanwhile is
        caught up by the next request's `sync`."""
        if self._listening is None:
            self._listening = asyncio.get_running_loop().create_task(self._listen(hear))

    async def _listen(self, hear: Callable[[dict[str, object]], None]) -> None:
        from redis.asyncio import Redis
        from redis.exceptions import RedisError

        while not stopping():
            # A connection of its own, with no read timeout: it waits for news as long as there is none.
            client = Redis.from_url(self.url, decode_responses=True, socket_connect_timeout=REDIS_TIMEOUT)
            try:
                async with client.pubsub(ignore_subscribe_messages=True) as pubsub:
                    await pubsub.subscribe(self.channel)
                    async for message in pubsub.listen():
                        # This process's own news is told back to it too: known by its start, not read.
                        if not message["data"].startswith(self._own):
                            hear(json.loads(message["data"]))
            except (RedisError, OSError):
                await asyncio.sleep(1.0)  # CHOSEN: a second between tries while Redis is away
            finally:
                with contextlib.suppress(Exception):
                    await client.aclose()

    async def close(self) -> None:
        # What is under way in the background ends before the connections it uses close under it.
        ongoing: list[asyncio.Task[Any]] = [*self._soon, *filter(None, (self._renewal, self._listening))]
        for task in ongoing:
            task.cancel()
        await asyncio.gather(*ongoing, return_exceptions=True)
        for client in (self.client, self.raw):
            with contextlib.suppress(Exception):  # closing a connection to a Redis that is gone
                await client.aclose()


async def connect(url: str, name: str, agreement: Agreement) -> Shared:
    """Connect to Redis at `url` for server `name`, register this process's `agreement` and learn the
    server's epoch; SharedStateError (one line, for the command line) if any of it cannot be done."""
    try:
        from redis.asyncio import Redis
        from redis.exceptions import RedisError
    except ImportError:
        raise SharedStateError("--state redis://… needs redis-py: pip install 'mockagent[redis]'") from None
    from redis.asyncio.retry import Retry
    from redis.backoff import NoBackoff
    from redis.exceptions import ConnectionError as Disconnected

    # A pooled connection that Redis closed (a restart) is found closed only when used: the call is tried
    # once more on a new one. A time-out is not retried: the call may have been carried out.
    options: dict[str, Any] = {
        "socket_timeout": REDIS_TIMEOUT,
        "socket_connect_timeout": REDIS_TIMEOUT,
        "retry": Retry(NoBackoff(), 1),
        "retry_on_error": [Disconnected],
    }
    try:
        client = Redis.from_url(url, decode_responses=True, **options)
        raw = Redis.from_url(url, **options)
    except ValueError as err:
        raise SharedStateError(f"--state {url}: {err}") from None
    shared = Shared(client, raw, url, name)
    try:
        await client.ping()
        await _agree(shared, agreement)
        await client.set(shared.key("epoch"), repr(time.time()), nx=True)
        shared.epoch = float(await client.get(shared.key("epoch")) or time.time())
        shared.number = int(await client.incr(shared.key("processes")))
    except RedisError as err:
        await shared.close()
        raise SharedStateError(f"cannot use Redis at {url}: {err}") from None
    except SharedStateError:
        await shared.close()
        raise
    shared._renewal = asyncio.get_running_loop().create_task(_renew(shared, agreement))
    return shared


# KEYS: the registration. ARGV: speed, manual clock, TTL. The first process's registration, set by it: one
# script, so that replicas starting together cannot read half of one.
_AGREE = """
local found = redis.call('HGETALL', KEYS[1])
if #found == 0 then
  redis.call('HSET', KEYS[1], 'speed', ARGV[1], 'manual_clock', ARGV[2])
  found = {'speed', ARGV[1], 'manual_clock', ARGV[2]}
end
redis.call('EXPIRE', KEYS[1], ARGV[3])
return found
"""


async def _agree(shared: Shared, agreement: Agreement) -> None:
    fields = agreement.as_fields()
    answer = await shared.client.eval(
        _AGREE, 1, shared.key("agreement"), fields["speed"], fields["manual_clock"], int(REGISTRATION_TTL)
    )
    found = {str(answer[i]): str(answer[i + 1]) for i in range(0, len(answer), 2)}
    if found != fields:
        theirs = "a manual clock" if found.get("manual_clock") == "1" else f"--speed {found.get('speed')}"
        ours = "a manual clock" if agreement.manual_clock else f"--speed {agreement.speed:g}"
        raise SharedStateError(
            f"the processes serving {shared.prefix} at {shared.url} run with {theirs}; this one would run with "
            f"{ours}: every process of one server needs the same clock (or give this one another --name)"
        )


async def _renew(shared: Shared, agreement: Agreement) -> None:
    from redis.exceptions import RedisError

    while not stopping():
        await asyncio.sleep(REGISTRATION_TTL / 3)
        with contextlib.suppress(RedisError):  # Redis away for a while: registered again once it is back
            key = shared.key("agreement")
            await shared.client.hset(key, items=agreement.as_items())
            await shared.client.expire(key, int(REGISTRATION_TTL))
