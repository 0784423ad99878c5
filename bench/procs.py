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


@dataclass
class Server:
    name: str
    process: subprocess.Popen[bytes]
    port: int
    ready_seconds: float  # from spawn to the first 200 on its probe (the health path unless told)

    @property
    def pid(self) -> int:
        return self.process.pid

    def rss_mib(self) -> float:
        return memory_kib(self.pid) / 1024

    def peak_rss_mib(self) -> float:
        return memory_kib(self.pid, "VmHWM") / 1024

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
    """The peak VmRSS of a process, sampled in a thread while a measurement runs."""

    pid: int
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
            self.peak_kib = max(self.peak_kib, memory_kib(self.pid))
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
