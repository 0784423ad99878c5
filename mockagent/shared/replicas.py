"""One process's copy of a session shared through Redis, kept in step with the others' (docs/deploy.md).

In Redis, a session is a set of snapshots — one key per run, per conversation, per platform's records, and
one for its counters — and a change log (a stream: each entry names the keys one commit wrote, numbered
1, 2, 3 …). A replica remembers the last entry it applied: catching up is one script that returns the keys
changed since, with their snapshots; a gap in the numbers (the log is trimmed to its last 10,000 entries,
CHOSEN) or a first contact reads every key of the session instead. A commit writes the snapshots that differ
from what was last read or written (compared by digest), appends its entry, tells the other processes and
lets go of the lock, in one script: nothing is half-written.

A process's requests for one session take their turns here first, so that only one of them at a time asks
Redis for the lock. While more of them wait, a commit passes the lock on to the next instead of letting it go:
no other process can have written meanwhile, so the next request neither takes the lock nor catches up — one
script a request under load instead of three. Another process that wants the lock says so; once the lock has
been kept `SHARE_AFTER`, it is let go for that process (which is woken by the news, not by polling), and
this process's requests wait until that one has had it.
"""

from __future__ import annotations

import asyncio
import contextlib
import hashlib
import importlib
import logging
import time
import uuid
from collections.abc import Callable
from typing import Any

from mockagent.errors import ApiError, ErrorKind
from mockagent.holding import TOUCHED
from mockagent.model import PlatformKey
from mockagent.runs import Conversation, Run
from mockagent.scenarios.model import ScenarioSet
from mockagent.sessions import Dropped, Session
from mockagent.shared import KEY_TTL, Shared
from mockagent.shared.snapshots import Shells, SnapshotError, dump, load

log = logging.getLogger("mockagent.shared")

#: CHOSEN: how long a session's lock lasts from its taking or a commit that keeps it, before Redis lets it go
#: (a process killed while holding one blocks the session no longer than this; a request holds it for
#: milliseconds, as it lets go before any wait), and how long a request waits for it — longer, so that a
#: request that meets a dead process's lock is served once it lapses.
LOCK_TTL = 5.0
LOCK_WAIT = 10.0
#: CHOSEN: how long a process may pass a session's lock from one of its requests to the next while another
#: process waits for it (fair enough for a waiter; long enough that a switch, a catch-up, is not paid per
#: request), and how long a process's wish for it lasts unless renewed (one that died wants it no longer).
SHARE_AFTER = 0.010
WANTED_TTL = 0.200
_MERGE_DEPTH = 8  # records → a map of them → a record → its fields: far deeper than any record nests
#: CHOSEN: the change log's length; a replica further behind reads the whole session again.
LOG_KEPT = 10_000

# KEYS: the log, the lock, who wants it. ARGV: the last entry applied ("" for none: read everything), its
# number, the lock token ("" to take no lock), the lock's TTL in ms, this process, how long a wish lasts in ms.
# Returns {0} when the lock is another request's, or free but wanted by another process (this one then wants
# it, unless one already does); else {1, "full", last id} (read every key), {1, "none"}, or {1, "some",
# last id, last n, key, value, …}: the keys other processes wrote (this one's objects are as new as what it
# wrote, or newer).
_CATCH_UP = """
if ARGV[3] ~= '' then
  local wanted = redis.call('GET', KEYS[3])
  if (wanted and wanted ~= ARGV[5]) or not redis.call('SET', KEYS[2], ARGV[3], 'NX', 'PX', ARGV[4]) then
    if not wanted or wanted == ARGV[5] then redis.call('SET', KEYS[3], ARGV[5], 'PX', ARGV[6]) end
    return {0}
  end
  if wanted then redis.call('DEL', KEYS[3]) end
end
local newest = redis.call('XREVRANGE', KEYS[1], '+', '-', 'COUNT', 1)
if ARGV[1] == '' then
  if #newest == 0 then return {1, 'full', '0-0', '0'} end
  return {1, 'full', newest[1][1], newest[1][2][2]}
end
if #newest == 0 or newest[1][1] == ARGV[1] then return {1, 'none'} end
local entries = redis.call('XRANGE', KEYS[1], '(' .. ARGV[1], '+', 'COUNT', 10001)
if #entries == 0 or #entries > 10000 or tonumber(entries[1][2][2]) ~= tonumber(ARGV[2]) + 1 then
  return {1, 'full', newest[1][1], newest[1][2][2]}
end
local result = {1, 'some', entries[#entries][1], entries[#entries][2][2]}
local seen = {}
for _, entry in ipairs(entries) do
  if entry[2][6] ~= ARGV[5] then
    for _, key in ipairs(cjson.decode(entry[2][4])) do
      if not seen[key] then
        seen[key] = true
        result[#result + 1] = key
        result[#result + 1] = redis.call('GET', key) or ''
      end
    end
  end
end
return result
"""

# KEYS: the log, its counter, the lock, the runs' and the conversations' keys in the order they were made, who
# wants the lock. ARGV: the lock token, the channel, the session, this process, the TTL, the most runs (and
# conversations) kept, whether to keep the lock ("" no, "yes", "unless wanted"), its TTL in ms, the news that
# it is free, the news of the change (its number written "N"), then key, value … ("" deletes). Returns {-1}
# when the lock is no longer this request's, else {n, entry id, 1 if the lock is kept} (n 0: there was
# nothing to write). Past the most, the oldest runs and conversations are deleted, as the in-memory store
# forgets them. A process that wants the lock let go is told.
_COMMIT = """
if redis.call('GET', KEYS[3]) ~= ARGV[1] then return {-1} end
local keep = ARGV[7] == 'yes' or (ARGV[7] == 'unless wanted' and redis.call('EXISTS', KEYS[6]) == 0)
local function let_go()
  if keep then
    redis.call('PEXPIRE', KEYS[3], ARGV[8])
    return 1
  end
  redis.call('DEL', KEYS[3])
  if redis.call('EXISTS', KEYS[6]) == 1 then redis.call('PUBLISH', ARGV[2], ARGV[9]) end
  return 0
end
if #ARGV < 12 then return {0, '', let_go()} end
local n = redis.call('INCR', KEYS[2])
local names = {}
for i = 11, #ARGV, 2 do
  local key = ARGV[i]
  if ARGV[i + 1] == '' then
    redis.call('DEL', key)
    redis.call('ZREM', KEYS[5], key)
  else
    redis.call('SET', key, ARGV[i + 1], 'EX', ARGV[5])
    if string.find(key, ':o:run:', 1, true) then redis.call('ZADD', KEYS[4], 'NX', n, key) end
    if string.find(key, ':o:conversation:', 1, true) then redis.call('ZADD', KEYS[5], 'NX', n, key) end
  end
  names[#names + 1] = key
end
for k = 4, 5 do
  local excess = redis.call('ZCARD', KEYS[k]) - tonumber(ARGV[6])
  if excess > 0 then
    local oldest = redis.call('ZPOPMIN', KEYS[k], excess)
    for j = 1, #oldest, 2 do redis.call('DEL', oldest[j]) end
  end
end
local id = redis.call('XADD', KEYS[1], 'MAXLEN', '~', '10000', '*', 'n', n, 'keys', cjson.encode(names), 'p', ARGV[4])
for k = 1, 5 do
  if k ~= 3 then redis.call('EXPIRE', KEYS[k], ARGV[5]) end
end
redis.call('PUBLISH', ARGV[2], (string.gsub(ARGV[10], '"N"', tostring(n))))
return {n, id, let_go()}
"""


# KEYS: the lock, who wants it. ARGV: the lock token, the channel, the news that it is free.
_RELEASE = """
if redis.call('GET', KEYS[1]) == ARGV[1] then
  redis.call('DEL', KEYS[1])
  if redis.call('EXISTS', KEYS[2]) == 1 then redis.call('PUBLISH', ARGV[2], ARGV[3]) end
end
return 0
"""


class Replica:
    def __init__(self, shared: Shared, session: Session, scenarios: Callable[[], ScenarioSet]) -> None:
        self.shared = shared
        self.session = session
        self._scenarios = scenarios
        self._raw = shared.raw
        self._catch_up = self._raw.register_script(_CATCH_UP)
        self._commit = self._raw.register_script(_COMMIT)
        self._release = self._raw.register_script(_RELEASE)
        self._log = shared.session_key(session.name, "log")
        self._lock = shared.session_key(session.name, "lock")
        self._wanted = shared.session_key(session.name, "lock", "wanted")
        self._counter = shared.session_key(session.name, "log", "n")
        self._made = [shared.session_key(session.name, "made", kind) for kind in ("runs", "conversations")]
        self._last: tuple[str, int] | None = None  # the last log entry applied: (id, number)
        self._digests: dict[str, bytes] = {}  # each key as last read or written
        self._reading = asyncio.Lock()  # one catch-up at a time
        self._applied = asyncio.Event()  # set (and made anew) each time other processes' changes are read
        self._turn = asyncio.Lock()  # this process's requests, one at a time at the lock
        self._queued = 0  # requests waiting for their turn
        self._holding: str | None = None  # the lock's token while this process holds it
        self._since = 0.0  # since when (monotonic) this process holds it
        self._freed = asyncio.Event()  # another process let go of the lock, or wrote

    def heard(self) -> None:
        """Another process wrote, or let go of the lock: a request waiting for it tries again now."""
        self._freed.set()

    # ── reading what the others wrote ────────────────────────────────────────────────────────────

    async def catch_up(self, *, quietly: bool = False) -> None:
        """Apply what other processes committed since the last time (`quietly`: heard as news, where a
        failure is only logged — the next request catches up again)."""
        if self._holding is not None:
            return  # no other process can have written while this one holds the lock
        try:
            await self._read("")
        except ApiError:
            if not quietly:
                raise
            log.warning("session %s: could not catch up with Redis", self.session.name)

    async def until_changed(self) -> None:
        """Return once other processes' changes have next been read (the caller bounds the wait)."""
        await self._applied.wait()

    async def acquire(self) -> str:
        """Take the session's lock (waiting for another request's, up to `LOCK_WAIT`), up to date; the
        token to `commit` with. Each holding of the lock by this process has its own: a lapsed lock is never
        let go by another's commit."""
        deadline = time.monotonic() + LOCK_WAIT
        self._queued += 1
        try:
            async with asyncio.timeout(LOCK_WAIT):
                await self._turn.acquire()
        except TimeoutError:
            raise self._busy() from None
        finally:
            self._queued -= 1
            if not self._turn.locked():  # given up on as the lock was passed to it
                self._unwanted()
        try:
            if self._holding is None:
                self._holding = await self._take(deadline)
                self._since = time.monotonic()
        except BaseException:
            self._turn.release()
            raise
        return self._holding

    async def _take(self, deadline: float) -> str:
        token = uuid.uuid4().hex
        pause = 0.001
        try:
            while True:
                self._freed.clear()
                if await self._read(token):
                    return token
                if time.monotonic() > deadline:
                    raise self._busy()
                # Woken by the news of a commit or a let-go; the pause is for a holder that died.
                with contextlib.suppress(TimeoutError):
                    async with asyncio.timeout(pause):
                        await self._freed.wait()
                pause = min(pause * 2, 0.02)
        except asyncio.CancelledError:
            # The script may have taken the lock as the request was given up on: let it go (only if so).
            self._let_go_soon(token)
            raise

    def _let_go_soon(self, token: str) -> None:
        free = self.shared.news("free", session=self.session.name)
        self.shared.soon(self._release(keys=[self._lock, self._wanted], args=[token, self.shared.channel, free]))

    def _unwanted(self) -> None:
        """No request here waits for the lock that was kept for one (it was given up on): let it go."""
        if self._holding is not None and not self._queued and not self._turn.locked():
            token, self._holding = self._holding, None
            self._let_go_soon(token)

    def _busy(self) -> ApiError:
        return ApiError(ErrorKind.UNAVAILABLE, f"the session {self.session.name!r} stayed busy in another process")

    async def _read(self, token: str) -> bool:
        async with self._reading:
            last_id, last_n = self._last if self._last is not None else ("", 0)
            async with self.shared.lost():
                args: list[str | int] = [last_id, last_n, token, int(LOCK_TTL * 1000), self.shared.process]
                args.append(int(WANTED_TTL * 1000))
                answer = await self._catch_up(keys=[self._log, self._lock, self._wanted], args=args)
            if not answer[0]:
                return False
            what = answer[1]
            if what == b"some":
                self._apply(dict(zip(answer[4::2], answer[5::2], strict=True)))
                self._last = (answer[2].decode(), int(answer[3]))
            elif what == b"full":
                await self._read_all()
                self._last = (answer[2].decode(), int(answer[3]))
            return True

    async def _read_all(self) -> None:
        pattern = self.shared.session_key(self.session.name, "o", "*")
        async with self.shared.lost():
            keys = [key async for key in self._raw.scan_iter(match=pattern, count=1000)]
            values = await self._raw.mget(keys) if keys else []
        found = zip(keys, values, strict=True)
        self._apply({key: value if isinstance(value, bytes) else b"" for key, value in found})

    def _apply(self, snapshots: dict[bytes, bytes]) -> None:
        session = self.session
        shells = Shells(session)
        loaded: list[tuple[list[str], Any]] = []
        for raw_key, data in snapshots.items():
            key = raw_key.decode()
            parts = key[len(self.shared.session_key(session.name, "o", "")) :].split(":", 2)
            if not data:
                self._digests.pop(key, None)
                self._drop(parts)
                continue
            try:
                loaded.append((parts, load(data, shells, self._scenarios)))
            except SnapshotError as err:
                log.warning("session %s: %s cannot be read here: %s", session.name, key, err)
                continue
            self._digests[key] = _digest(data)
        applied, self._applied = self._applied, asyncio.Event()
        applied.set()
        for parts, value in loaded:
            try:
                self._place(parts, value, shells)
            except Exception as err:
                log.warning("session %s: %s cannot be placed here: %s", session.name, ":".join(parts), err)
        # A run a conversation names that could not be read here (expired, or of another scenario set) is left
        # out of it, rather than left an empty shell that a later read would fail on.
        for _, value in loaded:
            if isinstance(value, Conversation):
                conversation = session.conversations.get((value.platform, value.id))
                if conversation is not None and any(not hasattr(run, "id") for run in conversation.runs):
                    conversation.runs = [run for run in conversation.runs if hasattr(run, "id")]

    def _place(self, parts: list[str], value: Any, shells: Shells) -> None:
        session = self.session
        match parts:
            case ["run", run_id] if isinstance(value, Run):
                found = session.runs.get(run_id) or shells.made.get(("run", run_id))
                if isinstance(found, Run):
                    found.refresh(value)
                    value = found
                session.runs[run_id] = value
            case ["conversation", platform, conversation_id] if isinstance(value, Conversation):
                key = (PlatformKey(platform), conversation_id)
                found = session.conversations.get(key) or shells.made.get(("conversation", platform, conversation_id))
                session.conversations[key] = merged(found, value) if isinstance(found, Conversation) else value
            case ["records", kind_name]:
                kind = _kind(kind_name)
                current = dict(session.record_kinds()).get(kind)
                session.replace_records(kind, merged(current, value) if current is not None else value)
            case ["core"] if isinstance(value, dict):
                session.sequences.clear()
                session.sequences.update(value["sequences"])
                session.states.clear()
                session.states.update(value["states"])
                session.counter = value["counter"]
                session.runs_started = value["runs_started"]

    def _drop(self, parts: list[str]) -> None:
        match parts:
            case ["conversation", platform, conversation_id]:
                self.session.conversations.pop((PlatformKey(platform), conversation_id), None)
            case ["run", run_id]:
                self.session.runs.pop(run_id, None)

    # ── writing what this process changed ────────────────────────────────────────────────────────

    async def settle(self) -> None:
        """At the end of a request that let go before: write what changed since, under the lock again."""
        if not self._changed():
            return
        token = await self.acquire()
        await asyncio.shield(self.commit(token))

    async def commit(self, token: str) -> None:
        """Write what the request changed and let go of the lock it took with `token` — or pass it on to
        this process's next request for the session."""
        try:
            kept = await self._write(token)
        except BaseException:
            kept = False
            raise
        finally:
            if not kept:
                self._holding = None
            self._turn.release()
            self._unwanted()

    async def _write(self, token: str) -> bool:
        writes = self._changed()
        session = self.session
        keep = ""
        if self._queued:
            keep = "yes" if time.monotonic() - self._since < SHARE_AFTER else "unless wanted"
        free = self.shared.news("free", session=session.name)
        changed = self.shared.news("changed", session=session.name, n="N")
        args: list[Any] = [token, self.shared.channel, session.name, self.shared.process, KEY_TTL, session.store_limit]
        args += [keep, int(LOCK_TTL * 1000), free, changed]
        for key, data in writes:
            args += [key, data]
        keys = [self._log, self._counter, self._lock, *self._made, self._wanted]
        async with self.shared.lost():
            answer = await self._commit(keys=keys, args=args)
        # What the request reaches from now on is written at its end (`settle`); what it reached so far is.
        TOUCHED.set({})
        if answer[0] == -1:
            log.warning("session %s: its lock lapsed before its changes were written", self.session.name)
            lapsed = f"the session {self.session.name!r} was reset, or held too long, before this request was written"
            raise ApiError(ErrorKind.UNAVAILABLE, lapsed)
        for key, data in writes:
            if data:
                self._digests[key] = _digest(data)
            else:
                self._digests.pop(key, None)
        if answer[0] and self._last is not None and self._last[1] == int(answer[0]) - 1:
            self._last = (answer[1].decode(), int(answer[0]))  # our own entry: nothing to read back
        return bool(answer[2])

    def _changed(self) -> list[tuple[str, bytes]]:
        """The snapshots that differ from those last read or written: of what the request touched, and the
        session's counters."""
        session = self.session
        touched = TOUCHED.get() or {}
        kinds = {id(records): kind for kind, records in session.record_kinds()}
        objects: dict[str, object] = {}
        for thing in list(touched.values()):
            match thing:
                case Run():
                    objects[self._key("run", thing.id)] = thing
                    conversation = thing.conversation
                    objects[self._key("conversation", conversation.platform.value, conversation.id)] = conversation
                case Conversation():
                    objects[self._key("conversation", thing.platform.value, thing.id)] = thing
                case Dropped():
                    objects[self._key("conversation", thing.platform.value, thing.id)] = None
                case _ if id(thing) in kinds:
                    objects[self._key("records", _kind_name(kinds[id(thing)]))] = thing
        objects[self._key("core")] = {
            "sequences": dict(session.sequences),
            "states": dict(session.states),
            "counter": session.counter,
            "runs_started": session.runs_started,
        }
        writes: list[tuple[str, bytes]] = []
        for key, thing in objects.items():
            if thing is None:
                if key in self._digests:
                    writes.append((key, b""))
                continue
            try:
                data = dump(thing, session)
            except Exception as err:
                log.warning("session %s: %s is not shared: %s", session.name, key, err)
                continue
            if self._digests.get(key) != _digest(data):
                writes.append((key, data))
        return writes

    def _key(self, *parts: str) -> str:
        return self.shared.session_key(self.session.name, "o", *parts)


def merged(old: Any, new: Any, depth: int = 0) -> Any:
    """`new`'s state put into `old`, where both are the same mutable kind of object, all the way down: whoever
    holds `old` or anything in it (a handler that looked a task up before it took the session's lock) sees
    what another process wrote. Values and immutable objects are simply `new`."""
    if old is new or type(old) is not type(new) or depth > _MERGE_DEPTH:
        return old if old is new else new
    if isinstance(old, dict):
        for key in [key for key in old if key not in new]:
            del old[key]
        for key, value in new.items():
            old[key] = merged(old[key], value, depth + 1) if key in old else value
        return old
    names = [
        name
        for cls in type(old).__mro__
        for name in getattr(cls, "__slots__", ())
        if name not in ("__weakref__", "__dict__") and hasattr(new, name)
    ]
    names += list(getattr(old, "__dict__", {}))
    frozen = getattr(getattr(type(old), "__dataclass_params__", None), "frozen", False)
    if not names or frozen:
        return new
    for name in names:
        object.__setattr__(old, name, merged(getattr(old, name), getattr(new, name), depth + 1))
    return old


def _digest(data: bytes) -> bytes:
    return hashlib.blake2b(data, digest_size=16).digest()


def _kind_name(kind: Callable[..., object]) -> str:
    return f"{kind.__module__}.{kind.__qualname__}"


def _kind(name: str) -> Callable[[Session], Any]:
    module, _, qualified = name.rpartition(".")
    if not module.startswith("mockagent."):
        raise SnapshotError(f"no records of kind {name}")
    kind: Callable[[Session], Any] = getattr(importlib.import_module(module), qualified)
    return kind
