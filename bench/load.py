"""Load from a separate process on loopback: wrk where it is installed, else bench/loadgen.py."""

from __future__ import annotations

import json
import shutil
import subprocess
import sys
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from procs import BENCH, HOST
from rawhttp import SESSION_HEADER, RequestSpec

LOADGEN = BENCH / "loadgen.py"
WRK_MARK = "BENCH-RESULT "
_LUA = """\
wrk.method = {method}
wrk.body = {body}
{headers}
done = function(summary, latency, requests)
  local e = summary.errors
  io.write(string.format('{mark}{{"requests":%d,"duration_us":%d,"p50_us":%d,"p99_us":%d,'
    .. '"errors":%d}}\\n', summary.requests, summary.duration, latency:percentile(50),
    latency:percentile(99), e.connect + e.read + e.write + e.status + e.timeout))
end
"""


@dataclass(frozen=True)
class LoadResult:
    tool: str
    requests: int
    errors: int
    seconds: float
    rps: float
    p50_ms: float
    p99_ms: float


def wrk_path() -> str | None:
    return shutil.which("wrk")


def _lua_string(text: str) -> str:
    return json.dumps(text)  # a JSON string literal is a valid Lua one for our ASCII payloads


_LUA_SESSIONS = """\
local sent = 0
request = function()
  wrk.headers[{header}] = "s" .. (sent % {sessions})
  sent = sent + 1
  return wrk.format()
end
"""


def _lua_script(spec: RequestSpec) -> str:
    headers = "\n".join(f"wrk.headers[{_lua_string(k)}] = {_lua_string(v)}" for k, v in spec.headers.items())
    if spec.sessions:
        headers += "\n" + _LUA_SESSIONS.format(header=_lua_string(SESSION_HEADER), sessions=spec.sessions)
    return _LUA.format(method=_lua_string(spec.method), body=_lua_string(spec.body), headers=headers, mark=WRK_MARK)


def parse_wrk(output: str) -> LoadResult:
    """The result line our Lua `done` hook prints."""
    line = next((x for x in output.splitlines() if x.startswith(WRK_MARK)), None)
    if line is None:
        raise RuntimeError(f"wrk printed no result:\n{output}")
    data = json.loads(line[len(WRK_MARK) :])
    elapsed = data["duration_us"] / 1e6
    requests = data["requests"] - data["errors"]
    return LoadResult(
        tool="wrk",
        requests=requests,
        errors=data["errors"],
        seconds=elapsed,
        rps=requests / elapsed,
        p50_ms=data["p50_us"] / 1000,
        p99_ms=data["p99_us"] / 1000,
    )


def parse_loadgen(data: dict[str, Any]) -> LoadResult:
    return LoadResult(
        tool="python",
        requests=data["requests"],
        errors=data["errors"],
        seconds=data["duration"],
        rps=data["rps"],
        p50_ms=data["p50_ms"],
        p99_ms=data["p99_ms"],
    )


def run_loadgen(mode: str, port: int, spec: RequestSpec, *, limit: float, **options: float) -> dict[str, Any]:
    """Run bench/loadgen.py in its own process and return what it printed."""
    command = [sys.executable, str(LOADGEN), mode, "--port", str(port), "--request", json.dumps(spec.as_json())]
    for name, value in options.items():
        command += [f"--{name}", str(value)]
    completed = subprocess.run(command, capture_output=True, text=True, timeout=limit, check=False)
    if completed.returncode != 0:
        raise RuntimeError(f"loadgen {mode} failed:\n{completed.stderr}")
    result: dict[str, Any] = json.loads(completed.stdout)
    return result


def _wrk_command(wrk: str, port: int, spec: RequestSpec, connections: int, seconds: int, script: Path) -> list[str]:
    script.write_text(_lua_script(spec), encoding="utf-8")
    command = [wrk, "-t1", f"-c{connections}", f"-d{max(1, seconds)}s", "--timeout", "10s", "-s", str(script)]
    return [*command, f"http://{HOST}:{port}{spec.path}"]


def _loadgen_command(port: int, spec: RequestSpec, connections: int, seconds: int) -> list[str]:
    command = [sys.executable, str(LOADGEN), "load", "--port", str(port), "--request", json.dumps(spec.as_json())]
    return [*command, "--connections", str(connections), "--duration", str(seconds)]


class LoadProcess:
    """A closed-loop keep-alive load of one request: wrk where installed, else the Python load generator."""

    def __init__(
        self, port: int, spec: RequestSpec, connections: int, seconds: int, work: Path, force_python: bool = False
    ) -> None:
        wrk = None if force_python else wrk_path()
        self.wrk = wrk is not None
        self.script = work / f"wrk-{port}.lua"
        if wrk is not None:
            command = _wrk_command(wrk, port, spec, connections, seconds, self.script)
        else:
            command = _loadgen_command(port, spec, connections, seconds)
        self.process = subprocess.Popen(command, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
        self.seconds = seconds

    def wait(self) -> LoadResult:
        out, err = self.process.communicate(timeout=self.seconds + 30)
        self.script.unlink(missing_ok=True)
        if self.process.returncode != 0:
            raise RuntimeError(f"the load generator failed:\n{err}")
        return parse_wrk(out) if self.wrk else parse_loadgen(json.loads(out))


def measure_throughput(
    port: int, spec: RequestSpec, connections: int, seconds: int, work: Path, force_python: bool = False
) -> LoadResult:
    return LoadProcess(port, spec, connections, seconds, work, force_python).wait()
