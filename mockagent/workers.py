"""The worker processes of ``mockagent serve --workers N``: N copies of the same command, each serving the
same port (SO_REUSEPORT: the kernel shares the connections out) and one state in Redis. This process only
starts them, passes a stop on, and stops them all when one of them fails."""

from __future__ import annotations

import contextlib
import os
import signal
import socket
import subprocess
import sys
import time
from collections.abc import Sequence

_RELAUNCH = "from mockagent._entry import main; main()"
#: CHOSEN: real seconds a stopped worker has to end its streams before it is killed (its own grace is 5 s).
STOP_GRACE = 10.0


def free_port(host: str) -> int:
    """A port free on `host` now, for workers told to take any (``--port 0``): they must all take the same."""
    family = socket.AF_INET6 if ":" in host else socket.AF_INET
    with socket.socket(family, socket.SOCK_STREAM) as probe:
        probe.bind((host, 0))
        return int(probe.getsockname()[1])


def supervise(argv: Sequence[str], workers: int, port: int) -> int:
    """Run `workers` copies of this command (`argv`: its arguments) on `port`; return the exit code of the
    first that ends (0 when stopped by a signal)."""
    children = [
        # This command's own arguments, run again by this interpreter: nothing from outside the command.
        subprocess.Popen([sys.executable, "-c", _RELAUNCH, *argv, "--port", str(port), "--worker", str(index)])  # noqa: S603
        for index in range(workers)
    ]
    stopping = False

    def stop(*_: object) -> None:
        nonlocal stopping
        stopping = True
        for child in children:
            if child.poll() is None:
                child.terminate()

    signal.signal(signal.SIGTERM, stop)
    signal.signal(signal.SIGINT, stop)
    try:
        # Woken by the kernel when a worker ends (a stop's signal ends them all), not by polling; WNOWAIT
        # leaves it to Popen to reap, so that it knows the code.
        os.waitid(os.P_ALL, 0, os.WEXITED | os.WNOWAIT)
        code = next(child.returncode for child in children if child.poll() is not None)
        stop()
    finally:
        deadline = time.monotonic() + STOP_GRACE
        for child in children:
            with contextlib.suppress(subprocess.TimeoutExpired):
                child.wait(max(0.0, deadline - time.monotonic()))
            if child.poll() is None:
                child.kill()
                child.wait()
    return 0 if stopping and code in (0, -signal.SIGTERM) else code
