"""Server processes: start one, time it to its first answered request, read its memory, stop it."""

from __future__ import annotations

import http.client
import os
import resource
import signal
import socket
import subprocess
import sys
import threading
import time
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path

from rawhttp import RequestSpec

BENCH = Path(__file__).resolve().parent
HOST = "127.0.0.1"
HEALTH_PATH = "/__mockagent/health"
START_TIMEOUT = 30.0


def raise_fd_limit() -> None:
    """Children inherit the limit: the servers and the load generators can hold thousands of sockets."""
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    wanted = hard if hard != resource.RLIM_INFINITY else 65536
    if soft < wanted:
        resource.setrlimit(resource.RLIMIT_NOFILE, (wanted, hard))


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind((HOST, 0))
        return int(sock.getsockname()[1])


def mock_command(scenarios: Path, port: int, *options: str) -> list[str]:
    """`mockagent serve` (with `options`), from the same environment as this Python."""
    exe = Path(sys.executable).parent / "mockagent"
    if exe.exists():
        return [str(exe), "serve", str(scenarios), "--port", str(port), *options]
    code = "import sys; from mockagent.cli import main; sys.exit(main())"
    return [sys.executable, "-c", code, "serve", str(scenarios), "--port", str(port), *options]


def replay_command(cassettes: Path, port: int) -> list[str]:
    """`mockagent serve --cassettes`: recordings only, no scenarios."""
    exe = Path(sys.executable).parent / "mockagent"
    if exe.exists():
        return [str(exe), "serve", "--cassettes", str(cassettes), "--port", str(port)]
    code = "import sys; from mockagent.cli import main; sys.exit(main())"
    return [sys.executable, "-c", code, "serve", "--cassettes", str(cassettes), "--port", str(port)]


def baseline_command(wire: Path | None, port: int) -> list[str]:
    command = [sys.executable, str(BENCH / "baseline.py"), "--port", str(port)]
    return [*command, "--wire", str(wire)] if wire else command


def memory_kib(pid: int, field_name: str = "VmRSS") -> int:
    """A /proc/<pid>/status figure in KiB (VmRSS now, VmHWM the peak); 0 once the process is gone."""
    try:
        for line in Path(f"/proc/{pid}/status").read_text().splitlines():
            if line.startswith(field_name + ":"):
                return int(line.split()[1])
    except OSError:
        return 0
    return 0


def children(pid: int) -> list[int]:
    """The processes `pid` started (its threads' children lists in /proc); [] once it is gone."""
    found: list[int] = []
    for listing in Path(f"/proc/{pid}/task").glob("*/children"):
        try:
            found += [int(child) for child in listing.read_text().split()]
        except OSError:
            continue
    return found


def cpu_seconds(pids: Sequence[int]) -> float:
    """User + system CPU seconds the processes have used (utime and stime of /proc/<pid>/stat)."""
    ticks = 0
    for pid in pids:
        try:
            stat = Path(f"/proc/{pid}/stat").read_text()
        except OSError:
            continue
        fields = stat[stat.rindex(")") + 2 :].split()  # the command name may hold spaces: skip past it
        ticks += int(fields[11]) + int(fields[12])  # fields 14 and 15 of proc(5), counted from the state
    return ticks / os.sysconf("SC_CLK_TCK")


def _listening_inodes(port: int) -> set[str]:
    inodes: set[str] = set()
    for table in ("/proc/net/tcp", "/proc/net/tcp6"):
        try:
            lines = Path(table).read_text().splitlines()[1:]
        except OSError:
            continue
        for line in lines:
            parts = line.split()
            if parts[1].endswith(f":{port:04X}") and parts[3] == "0A":  # 0A: LISTEN
                inodes.add(parts[9])
    return inodes


def listening(pid: int, port: int) -> bool:
    """Whether the process holds a socket listening on `port` (each worker of --workers has its own)."""
    sockets = {f"socket:[{inode}]" for inode in _listening_inodes(port)}
    try:
        return any(os.readlink(fd) in sockets for fd in Path(f"/proc/{pid}/fd").iterdir())
    except OSError:
        return False


@dataclass
class Server:
    name: str
    process: subprocess.Popen[bytes]
    port: int
    ready_seconds: float  # from spawn to the first 200 on its probe (the health path unless told)
    workers: int = 1  # >1: the process started is the supervisor of --workers, and its children serve

    @property
    def pid(self) -> int:
        return self.process.pid

    @property
    def pids(self) -> tuple[int, ...]:
        """The processes that serve: the workers of a --workers supervisor (which itself only watches
        them), else the server itself."""
        return tuple(children(self.pid)) if self.workers > 1 else (self.pid,)

    def rss_mib(self) -> float:
        return sum(memory_kib(pid) for pid in self.pids) / 1024

    def peak_rss_mib(self) -> float:
        return sum(memory_kib(pid, "VmHWM") for pid in self.pids) / 1024

    def wait_workers(self) -> None:
        """Wait until every worker listens: the start answered the first one's request, and the kernel
        shares connections out only among the sockets already listening."""
        deadline = time.perf_counter() + START_TIMEOUT
        while True:
            pids = self.pids
            if len(pids) == self.workers and all(listening(pid, self.port) for pid in pids):
                return
            if self.process.poll() is not None or time.perf_counter() > deadline:
                raise RuntimeError(f"{self.name}: {len(pids)} of {self.workers} workers listening")
            time.sleep(0.01)

    def stop(self) -> None:
        if self.process.poll() is None:
            self.process.send_signal(signal.SIGTERM)
            try:
                self.process.wait(timeout=10)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait()


def _answers(port: int, probe: RequestSpec | None) -> bool:
    connection = http.client.HTTPConnection(HOST, port, timeout=5)
    try:
        if probe is None:
            connection.request("GET", HEALTH_PATH)
        else:
            connection.request(probe.method, probe.path, body=probe.body.encode(), headers=probe.headers)
        response = connection.getresponse()
        response.read()  # answered means the whole body is in
        return response.status == 200
    except OSError:
        return False
    finally:
        connection.close()


def start(name: str, command: list[str], port: int, log: Path, probe: RequestSpec | None = None) -> Server:
    """Spawn a server and wait for its first answered request, `probe` (the health path unless given): the
    time is its cold start. A platform request as the probe times whatever the first request pays too."""
    log.parent.mkdir(parents=True, exist_ok=True)
    with log.open("wb") as out:
        spawned = time.perf_counter()
        process = subprocess.Popen(command, stdout=out, stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL)
    while not _answers(port, probe):
        if process.poll() is not None:
            raise RuntimeError(f"{name} exited with {process.returncode} before answering; see {log}")
        if time.perf_counter() - spawned > START_TIMEOUT:
            process.kill()
            raise RuntimeError(f"{name} did not answer within {START_TIMEOUT:.0f} s; see {log}")
        time.sleep(0.002)
    return Server(name, process, port, time.perf_counter() - spawned)


@dataclass
class RssSampler:
    """The peak VmRSS of a server, summed over its processes, sampled in a thread while a measurement runs."""

    pids: tuple[int, ...]
    interval: float = 0.02
    peak_kib: int = 0
    _stop: threading.Event = field(default_factory=threading.Event)
    _thread: threading.Thread | None = None

    def __enter__(self) -> RssSampler:
        self._thread = threading.Thread(target=self._run, daemon=True)
        self._thread.start()
        return self

    def __exit__(self, *_: object) -> None:
        self._stop.set()
        if self._thread is not None:
            self._thread.join()

    def _run(self) -> None:
        while not self._stop.is_set():
            self.peak_kib = max(self.peak_kib, sum(memory_kib(pid) for pid in self.pids))
            self._stop.wait(self.interval)

    @property
    def peak_mib(self) -> float:
        return self.peak_kib / 1024


def environment_python_ok() -> bool:
    """Whether this Python can run the servers (aiohttp and mockagent importable)."""
    try:
        import aiohttp  # noqa: F401
        import mockagent  # noqa: F401
    except ImportError:
        return False
    return True


def find_project_python(repo: Path) -> Path | None:
    """A Python with mockagent installed: $MOCKAGENT_PYTHON, the active virtualenv, or one beside the repo."""
    candidates = [os.environ.get("MOCKAGENT_PYTHON", ""), os.environ.get("VIRTUAL_ENV", "")]
    for venv in (repo / ".venv", repo / "venv", repo.parent / "venv"):
        candidates.append(str(venv))
    for candidate in filter(None, candidates):
        path = Path(candidate)
        python = path if path.is_file() else path / "bin" / "python"
        if python.is_file() and os.access(python, os.X_OK) and python.absolute() != Path(sys.executable).absolute():
            return python
    return None
