"""The Redis that the shared-state section's servers keep their state in: one of the benchmark's own, on a
free port in a temporary folder, persisting nothing; read for what the mock asked of it (INFO commandstats
and cpu, and MONITOR for a few requests one at a time)."""

from __future__ import annotations

import shutil
import subprocess
import tempfile
import threading
import time
from collections import Counter
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import procs

REDIS_SERVER = "redis-server"
END = "bench-monitor-end"  # echoed to close a MONITOR sample: the watcher stops at it


def missing() -> str:
    """Why the section cannot run here ("" when it can): redis-server, and redis-py for the mock's --state."""
    if shutil.which(REDIS_SERVER) is None:
        return f"{REDIS_SERVER} is not installed"
    try:
        import redis  # noqa: F401
    except ImportError:
        return "redis-py is not installed (pip install 'mockagent[redis]')"
    return ""


@dataclass(frozen=True)
class Usage:
    """What Redis had done at a moment: the calls of each command (those a script makes included: Redis
    counts them too), its CPU seconds (user + system), and the keys and bytes it held (used_memory)."""

    calls: Counter[str]
    cpu: float
    keys: int
    memory: int

    def __sub__(self, earlier: Usage) -> Usage:
        calls = Counter(self.calls)
        calls.subtract(earlier.calls)
        return Usage(+calls, self.cpu - earlier.cpu, self.keys - earlier.keys, self.memory - earlier.memory)

    def __add__(self, other: Usage) -> Usage:
        calls = self.calls + other.calls
        return Usage(calls, self.cpu + other.cpu, self.keys + other.keys, self.memory + other.memory)


NO_USAGE = Usage(Counter(), 0.0, 0, 0)


@dataclass(frozen=True)
class Command:
    """One line of MONITOR: when, whether a script ran it (else a client sent it), and its words."""

    at: float
    scripted: bool
    words: tuple[str, ...]

    @property
    def name(self) -> str:
        return self.words[0].lower()


@dataclass
class Store:
    process: subprocess.Popen[bytes]
    port: int
    folder: Path
    _client: Any = field(default=None, repr=False)

    def url(self, db: int = 0) -> str:
        return f"redis://{procs.HOST}:{self.port}/{db}"

    @property
    def client(self) -> Any:
        if self._client is None:
            import redis

            self._client = redis.Redis(host=procs.HOST, port=self.port)
        return self._client

    def usage(self) -> Usage:
        stats = self.client.info("commandstats")
        cpu = self.client.info("cpu")
        calls = Counter({name.removeprefix("cmdstat_"): int(found["calls"]) for name, found in stats.items()})
        for own in ("info", "echo", "ping", "monitor"):  # the benchmark's own, not the mock's
            calls.pop(own, None)
        keys = sum(int(db["keys"]) for db in self.client.info("keyspace").values())
        memory = int(self.client.info("memory")["used_memory"])
        return Usage(calls, float(cpu["used_cpu_user"]) + float(cpu["used_cpu_sys"]), keys, memory)

    def held_locks(self, server: str) -> list[str]:
        """The session locks of server `server` (its --name) held now: `mockagent:NAME:s:SESSION:lock`
        (docs/deploy.md: a session's keys live under `mockagent:NAME:s:SESSION:`)."""
        return [key.decode() for key in self.client.scan_iter(match=f"mockagent:{server}:s:*:lock", count=1000)]

    def free_locks(self, server: str, wait: float) -> list[float]:
        """Wait up to `wait` seconds for the session locks of `server` to be let go (a request in flight as
        the load stopped holds one for milliseconds), then delete those still held: how long ago each was
        taken, in seconds (from its TTL left: the mock sets it to `LOCK_TTL` as it takes the lock)."""
        from mockagent.shared.replicas import LOCK_TTL

        deadline = time.perf_counter() + wait
        while (held := self.held_locks(server)) and time.perf_counter() < deadline:
            time.sleep(0.01)
        ages = [LOCK_TTL - max(0, self.client.pttl(key)) / 1000 for key in held]
        if held:
            self.client.delete(*held)
        return ages

    def monitor(self, action: Callable[[], object]) -> list[Command]:
        """Every command Redis carries out while `action` runs (MONITOR: costly, so never while measuring)."""
        found: list[Command] = []
        started = threading.Event()

        def watch() -> None:
            with self.client.monitor() as monitor:
                started.set()
                for line in monitor.listen():
                    words = tuple(str(line["command"]).split(" "))
                    if words == ("ECHO", END):
                        return
                    found.append(Command(float(line["time"]), line.get("client_type") == "lua", words))

        self.client.ping()  # a connection in the pool for the closing ECHO: opening one would be seen
        watcher = threading.Thread(target=watch, daemon=True)
        watcher.start()
        started.wait(5)
        time.sleep(0.1)  # MONITOR is sent once the context is entered: let Redis take it first
        try:
            action()
        finally:
            self.client.echo(END)
            watcher.join(10)
        return found

    def stop(self) -> None:
        if self._client is not None:
            self._client.close()
        if self.process.poll() is None:
            self.process.terminate()
            try:
                self.process.wait(timeout=10)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait()
        shutil.rmtree(self.folder, ignore_errors=True)


@contextmanager
def running(log: Path) -> Iterator[Store]:
    """A redis-server of its own on a free port, in a temporary folder, with nothing saved to disk."""
    folder = Path(tempfile.mkdtemp(prefix="bench-redis-"))
    port = procs.free_port()
    command = [REDIS_SERVER, "--port", str(port), "--bind", procs.HOST, "--dir", str(folder)]
    command += ["--save", "", "--appendonly", "no"]
    log.parent.mkdir(parents=True, exist_ok=True)
    with log.open("wb") as out:
        process = subprocess.Popen(command, stdout=out, stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL)
    store = Store(process, port, folder)
    try:
        deadline = time.perf_counter() + procs.START_TIMEOUT
        while True:
            try:
                store.client.ping()
                break
            except Exception:
                if process.poll() is not None or time.perf_counter() > deadline:
                    raise RuntimeError(f"{REDIS_SERVER} did not answer; see {log}") from None
                time.sleep(0.02)
        yield store
    finally:
        store.stop()
