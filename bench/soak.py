"""The soak: one `mockagent serve` through drop storms, slow readers, slowloris and a long mixed load of every
platform's calls, watched from outside — its memory (VmRSS, every second), its file descriptors
(/proc/PID/fd) and its asyncio tasks (`GET /__mockagent/stats`) — and found back at rest after each phase.

    python bench/run.py --only soak                  # a 10-minute mixed load: about 13 minutes in all
    python bench/run.py --only soak --minutes 2      # a shorter one
    python bench/soak.py [--minutes N] [--no-write]  # the same as run.py --only soak

The clients are bench/soakgen.py, each phase in its own process. The figures are a block of their own in
bench/RESULTS.md; every sample is kept in bench/.work/soak-samples.csv, and what each phase's clients saw (with
the first few unexpected answers of each kind) in bench/.work/soak-results.json.
"""

from __future__ import annotations

import csv
import http.client
import json
import math
import os
import subprocess
import sys
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

from mockagent.sessions import DEFAULT_SESSION, MAX_SESSIONS
from mockagent.store import STORE_LIMIT

import procs
import soakgen
from analysis import Fit, linear_fit
from phases import Row, mb, megabytes
from procs import HOST, Server

SOAKGEN = Path(soakgen.__file__)
HEADER_TIMEOUT = 5  # seconds: shorter than the defaults (20, 60, 60), so that each phase takes seconds
BODY_TIMEOUT = 5
WRITE_TIMEOUT = 10
SERVE_OPTIONS = (
    "--with-builtin",
    *("--header-timeout", str(HEADER_TIMEOUT), "--body-timeout", str(BODY_TIMEOUT)),
    *("--write-timeout", str(WRITE_TIMEOUT)),
)
SAMPLE_EVERY = 1.0  # seconds between samples of the server
AT_REST_LIMIT = 60.0  # seconds a phase's connections may take to close once its clients are done
SETTLE = 2.0  # seconds at rest before the figures are read: the collector's idle collection runs meanwhile
NOISE_SIGMAS = 2  # RSS is flat when the drift of its fitted slope stays within this many residual SDs
NOTES = (
    "Soak: one `mockagent serve` (the built-in demo agents and the soak's own: a 4 s paced stream, the same "
    f"behind an approval, an 8 MiB flood) runs every phase in turn, with a {HEADER_TIMEOUT} s header timeout, a "
    f"{BODY_TIMEOUT} s body timeout and a {WRITE_TIMEOUT} s write timeout (the defaults are 20 s, 60 s and 60 s) "
    "so that those phases take seconds. The clients (bench/soakgen.py) are a process of their own per phase.",
    "Soak figures: VmRSS and the open descriptors (/proc/PID/fd) are read every second, the asyncio tasks and "
    "connections from `GET /__mockagent/stats`, the stores from `GET /__mockagent/sessions`; a phase's peak is "
    "VmHWM, reset before it. After each phase the server is left until only the probe's connection is open and "
    "nothing is in flight, then 2 s more, and read again: that is “at rest”.",
    "Soak memory: the stores fill at the start of the mixed load — BeeOS files and AgentOS ingest runs first "
    f"({STORE_LIMIT:,} each, as no run leaves them), then the runs, conversations and journal ({STORE_LIMIT:,}) "
    f"and the sessions ({MAX_SESSIONS}: the load uses 250 names). The slope is a least-squares fit of RSS over "
    f"the rest of the load; it counts as flat when the drift it predicts over that time is within "
    f"{NOISE_SIGMAS} standard deviations of the samples about the line. The slope's standard error is shown "
    "beside it, not judged on: samples a second apart are not independent, so it understates the uncertainty.",
    "Soak answers: every answer is checked against what its call expects — 2xx, an injected fault's status "
    "(`X-Mockagent-Fault: 429` or `504`), AgentOS's 500 for the scripted failing agent — and every connection "
    "that ends before its answer is counted, apart from the streams the clients reset themselves and those "
    "a `drop-after=2` fault cut. A call in a named session may find its run cancelled because another client "
    "reset that session meanwhile (`DELETE /__mockagent/sessions/NAME`): that answer is counted apart.",
)


@dataclass(frozen=True)
class SoakPlan:
    minutes: float = 10.0  # of mixed load
    workers: int = 30  # mixed-load clients
    drop_streams: int = 200  # per stream endpoint and round
    drop_rounds: int = 8
    stalled: int = 100  # readers that stop reading
    slow: int = 25  # readers that read slowly
    loris: int = 300  # slowloris connections
    fill: int = STORE_LIMIT  # entries of the stores that no run leaves

    @classmethod
    def make(cls, minutes: float | None, quick: bool) -> SoakPlan:
        if quick:
            return cls(minutes=minutes or 1.0, drop_streams=50, drop_rounds=2, stalled=20, slow=5, loris=60)
        return cls(minutes=minutes or cls.minutes)

    def phases(self) -> list[tuple[str, dict[str, float], float]]:
        """(soakgen mode, its options, seconds it may take)."""
        return [
            ("drops", {"streams": self.drop_streams, "rounds": self.drop_rounds}, 60 + 30 * self.drop_rounds),
            ("readers", {"stalled": self.stalled, "slow": self.slow, "limit": WRITE_TIMEOUT + 30}, 300),
            ("slowloris", {"connections": self.loris, "limit": max(HEADER_TIMEOUT, BODY_TIMEOUT) + 30}, 120),
            ("fill", {"count": self.fill}, 600),
            ("mixed", {"workers": self.workers, "duration": self.minutes * 60}, self.minutes * 60 + 300),
        ]


# ── watching the server ──────────────────────────────────────────────────────────────────────────────


class Probe:
    """The server's own figures, read over one keep-alive connection: the probe is then always one (and the
    only one at rest) of the connections the server counts."""

    def __init__(self, port: int) -> None:
        self.port = port
        self._connection: http.client.HTTPConnection | None = None
        self._lock = threading.Lock()

    def get(self, path: str) -> Any:
        with self._lock:
            for _ in range(3):
                if self._connection is None:
                    self._connection = http.client.HTTPConnection(HOST, self.port, timeout=30)
                try:
                    self._connection.request("GET", "/__mockagent" + path)
                    return json.loads(self._connection.getresponse().read())
                except (OSError, http.client.HTTPException):
                    self._connection.close()
                    self._connection = None
            raise RuntimeError(f"the server does not answer GET /__mockagent{path}")

    def stats(self) -> dict[str, int]:
        stats: dict[str, int] = self.get("/stats")
        return stats

    def stores(self) -> tuple[int, int, int]:
        """The default session's runs and conversations, and how many sessions there are."""
        sessions = self.get("/sessions")
        default = next(s for s in sessions if s["name"] == DEFAULT_SESSION)
        return default["runs"], default["conversations"], len(sessions)

    def close(self) -> None:
        with self._lock:
            if self._connection is not None:
                self._connection.close()


def open_fds(pid: int) -> int:
    return len(os.listdir(f"/proc/{pid}/fd"))


def reset_peak(pid: int) -> None:
    """Start VmHWM again from the current RSS (Linux: clear_refs 5), so that it shows a phase's own peak."""
    Path(f"/proc/{pid}/clear_refs").write_text("5")


@dataclass(frozen=True)
class Sample:
    at: float  # seconds since the watch began
    phase: str
    rss_mib: float
    fds: int
    tasks: int
    connections: int
    runs: int
    conversations: int
    sessions: int


@dataclass
class Watch:
    """Samples the server every `SAMPLE_EVERY` seconds in a thread, labelled with the phase running."""

    server: Server
    probe: Probe
    phase: str = "start"
    samples: list[Sample] = field(default_factory=list)
    _started: float = field(default_factory=time.perf_counter)
    _stop: threading.Event = field(default_factory=threading.Event)

    def _run(self) -> None:
        while not self._stop.wait(SAMPLE_EVERY):
            at, phase = time.perf_counter() - self._started, self.phase
            stats = self.probe.stats()
            runs, conversations, sessions = self.probe.stores()
            self.samples.append(
                Sample(
                    at,
                    phase,
                    self.server.rss_mib(),
                    open_fds(self.server.pid),
                    stats["tasks"],
                    stats["connections"],
                    runs,
                    conversations,
                    sessions,
                )
            )

    @contextmanager
    def running(self) -> Iterator[Watch]:
        thread = threading.Thread(target=self._run, daemon=True)
        thread.start()
        try:
            yield self
        finally:
            self._stop.set()
            thread.join()

    def write(self, path: Path) -> None:
        with path.open("w", newline="", encoding="utf-8") as out:
            writer = csv.DictWriter(out, fieldnames=list(Sample.__dataclass_fields__))
            writer.writeheader()
            writer.writerows(asdict(sample) for sample in self.samples)


@dataclass(frozen=True)
class Rest:
    """The server at rest: only the probe connected, nothing in flight."""

    rss_mib: float
    fds: int
    tasks: int
    connections: int
    waited: float  # seconds until it was at rest


def at_rest(server: Server, probe: Probe) -> Rest:
    started = time.perf_counter()
    quiet = 0
    while quiet < 4 and time.perf_counter() - started < AT_REST_LIMIT:
        stats = probe.stats()
        quiet = quiet + 1 if (stats["connections"], stats["in_flight"]) == (1, 1) else 0
        time.sleep(0.25)
    waited = time.perf_counter() - started
    time.sleep(SETTLE)
    stats = probe.stats()
    return Rest(server.rss_mib(), open_fds(server.pid), stats["tasks"], stats["connections"], waited)


# ── running it ───────────────────────────────────────────────────────────────────────────────────────


def run_soakgen(mode: str, port: int, limit: float, options: dict[str, float]) -> dict[str, Any]:
    command = [sys.executable, str(SOAKGEN), mode, "--port", str(port)]
    for name, value in options.items():
        command += [f"--{name}", f"{value:g}"]
    completed = subprocess.run(command, capture_output=True, text=True, timeout=limit, check=False)
    if completed.returncode != 0:
        raise RuntimeError(f"soakgen {mode} failed:\n{completed.stderr}")
    result: dict[str, Any] = json.loads(completed.stdout)
    return result


@dataclass
class Soak:
    """What one soak saw."""

    plan: SoakPlan
    start: Rest
    results: dict[str, dict[str, Any]] = field(default_factory=dict)
    rests: dict[str, Rest] = field(default_factory=dict)
    peaks: dict[str, float] = field(default_factory=dict)  # MiB, VmHWM of each phase
    seconds: dict[str, float] = field(default_factory=dict)
    samples: list[Sample] = field(default_factory=list)
    log_errors: list[str] = field(default_factory=list)


def soak(plan: SoakPlan, folder: Path, work: Path) -> Soak:
    port = procs.free_port()
    log = work / "logs" / "soak.log"
    server = procs.start("soak", procs.mock_command(folder, port, *SERVE_OPTIONS), port, log)
    probe = Probe(port)
    try:
        time.sleep(SETTLE)
        found = Soak(plan, at_rest(server, probe))
        watch = Watch(server, probe)
        with watch.running():
            for mode, options, limit in plan.phases():
                print(f"  soak: {mode} …", flush=True)
                watch.phase = mode
                reset_peak(server.pid)
                started = time.perf_counter()
                found.results[mode] = run_soakgen(mode, port, limit, options)
                found.seconds[mode] = time.perf_counter() - started
                found.peaks[mode] = server.peak_rss_mib()
                watch.phase = f"{mode}: at rest"
                found.rests[mode] = at_rest(server, probe)
        found.samples = watch.samples
        watch.write(work / "soak-samples.csv")
        (work / "soak-results.json").write_text(json.dumps(found.results, indent=1), encoding="utf-8")
        for sample in found.results["mixed"]["samples"]:
            print(f"  unexpected: {sample}", flush=True)
    finally:
        probe.close()
        server.stop()
    found.log_errors = [line for line in log.read_text(errors="replace").splitlines() if line.startswith("ERROR")]
    return found


# ── the figures ──────────────────────────────────────────────────────────────────────────────────────


def _seconds(value: float) -> str:
    return "–" if math.isnan(value) else f"{value:.2f} s" if value < 10 else f"{value:.1f} s"


def _clock(seconds: float) -> str:
    return f"{int(seconds // 60)}:{int(seconds % 60):02d}"


def _at_rest(rest: Rest) -> str:
    return f"{rest.tasks} tasks, {rest.fds} fds, {megabytes(rest.rss_mib)}"


def _problems(result: dict[str, Any]) -> tuple[int, int, int]:
    """Unexpected answers, connections lost before their answer ended, and calls that timed out."""
    unexpected = sum(sum(counts.values()) for counts in result.get("unexpected", {}).values())
    return unexpected, sum(result.get("lost", {}).values()), sum(result.get("timeouts", {}).values())


def _problem_row(section: str, result: dict[str, Any]) -> Row:
    unexpected, lost, timeouts = _problems(result)
    return Row(
        section,
        "unexpected answers / connections lost mid-answer / timeouts",
        f"{unexpected} / {lost} / {timeouts}",
        target="none",
        ok=unexpected == lost == timeouts == 0,
    )


def _rest_rows(section: str, found: Soak, phase: str) -> list[Row]:
    rest, start = found.rests[phase], found.start
    back = (rest.tasks, rest.fds, rest.connections) == (start.tasks, start.fds, start.connections)
    return [
        Row(section, "peak RSS during the phase (VmHWM)", megabytes(found.peaks[phase])),
        Row(
            section,
            f"at rest after it ({rest.waited:.1f} s to close): tasks, fds, RSS",
            _at_rest(rest),
            target="tasks and fds as at start",
            ok=back,
        ),
    ]


@dataclass(frozen=True)
class Steady:
    """The mixed load once the stores are full."""

    filled_at: float  # seconds into the mixed load
    filled_rss: float  # MiB
    peak_rss: float
    fit: Fit  # RSS in MB against minutes
    minutes: float  # the fit's span

    @property
    def drift(self) -> float:
        return self.fit.slope * self.minutes

    @property
    def flat(self) -> bool:
        return abs(self.drift) <= NOISE_SIGMAS * self.fit.residual_sd


def steady(samples: list[Sample]) -> Steady | None:
    mixed = [s for s in samples if s.phase == "mixed"]
    full = next(
        (s for s in mixed if s.runs >= STORE_LIMIT and s.conversations >= STORE_LIMIT and s.sessions >= MAX_SESSIONS),
        None,
    )
    if full is None:
        return None
    window = [s for s in mixed if s.at >= full.at]
    if len(window) < 10:
        return None
    minutes = [(s.at - full.at) / 60 for s in window]
    fit = linear_fit(minutes, [mb(s.rss_mib) for s in window])
    return Steady(full.at - mixed[0].at, full.rss_mib, max(s.rss_mib for s in window), fit, minutes[-1])


def rows(found: Soak) -> list[Row]:
    start, end = found.start, found.rests["mixed"]
    total = sum(found.seconds.values()) + sum(rest.waited + SETTLE for rest in found.rests.values())
    memory = f"Soak: one server through every phase below, {total / 60:.1f} min in all"
    held = steady(found.samples)
    out = [Row(memory, "RSS at start, at rest", megabytes(start.rss_mib))]
    if held is None:
        out.append(Row(memory, "stores full during the mixed load", "no (a longer --minutes fills them)"))
    else:
        slope = (
            f"{held.fit.slope:+.2f} ± {held.fit.slope_se:.2f} MB/min: {held.drift:+.1f} MB over {held.minutes:.1f} min"
        )
        noise = f"samples about the line: σ = {held.fit.residual_sd:.1f} MB"
        out += [
            Row(
                memory,
                f"RSS once the stores are full ({_clock(held.filled_at)} into the mixed load)",
                megabytes(held.filled_rss),
            ),
            Row(memory, "RSS peak after that (sampled each second)", megabytes(held.peak_rss)),
            Row(
                memory,
                "RSS slope after the stores filled (± its standard error), and the noise about it",
                f"{slope} ({noise})",
            ),
            Row(
                memory,
                f"RSS after the stores filled: flat when the drift is within {NOISE_SIGMAS}σ",
                "flat" if held.flat else "NOT flat: it grows",
                target="flat",
                ok=held.flat,
            ),
        ]
    out += [
        Row(memory, "RSS at the end, at rest", megabytes(end.rss_mib)),
        Row(memory, "peak RSS over the soak (VmHWM), and its phase", _peak(found)),
        *(
            Row(
                memory,
                f"{what}: at start → at the end",
                f"{getattr(start, field)} → {getattr(end, field)}",
                target="as at start",
                ok=getattr(start, field) == getattr(end, field),
            )
            for what, field in (("asyncio tasks", "tasks"), ("open file descriptors", "fds"))
        ),
        Row(
            memory,
            "server log: errors",
            str(len(found.log_errors)),
            target="none",
            ok=not found.log_errors,
        ),
    ]
    return out + _drop_rows(found) + _reader_rows(found) + _loris_rows(found) + _mixed_rows(found)


def _peak(found: Soak) -> str:
    phase = max(found.peaks, key=lambda name: found.peaks[name])
    return f"{megabytes(found.peaks[phase])} ({phase})"


def _drop_rows(found: Soak) -> list[Row]:
    plan, result = found.plan, found.results["drops"]
    section = (
        f"Soak: drop storms, {plan.drop_rounds} rounds of {plan.drop_streams} streams on each stream endpoint, all "
        f"open at once, each reset after its first 1–5 frames ({found.seconds['drops']:.0f} s)"
    )
    out = []
    for endpoint in soakgen.STREAM_ENDPOINTS:
        dropped = result["dropped"].get(endpoint, 0)
        ended = result["ended_first"].get(endpoint, 0)
        sent = sum(result["statuses"].get(endpoint, {}).values())
        done = f"{dropped:,}/{sent:,} reset mid-stream" + (f", {ended:,} ended first" if ended else "")
        out.append(Row(section, endpoint, done))
    return [*out, _problem_row(section, result), *_rest_rows(section, found, "drops")]


def _reader_rows(found: Soak) -> list[Row]:
    plan, result = found.plan, found.results["readers"]
    section = (
        f"Soak: slow readers of an 8 MiB stream on each platform — {plan.stalled} stop reading after its first "
        f"frames, {plan.slow} read {soakgen.SLOW_RATE / 1e6:g} MB/s (write timeout {WRITE_TIMEOUT} s)"
    )
    released = result["released_after"]
    return [
        Row(
            section,
            "readers that stopped: cut off by the server",
            f"{result['cut']}/{result['stalled']}",
            target="all",
            ok=result["cut"] == result["stalled"] == plan.stalled,
        ),
        Row(
            section,
            "… their connections all closed, after they stopped reading",
            "not within the limit" if released is None else _seconds(released),
            target=f"≈ {WRITE_TIMEOUT} s",
            ok=released is not None and released < WRITE_TIMEOUT + 5,
        ),
        Row(
            section,
            "slow readers: served whole",
            f"{result['slow_completed']}/{result['slow']}",
            target="all",
            ok=result["slow_completed"] == result["slow"] == plan.slow,
        ),
        Row(
            section,
            "… their stream's duration p50 / max",
            f"{_seconds(result['slow_p50'])} / {_seconds(result['slow_max'])}",
        ),
        *_rest_rows(section, found, "readers"),
    ]


def _loris_rows(found: Soak) -> list[Row]:
    result = found.results["slowloris"]
    section = (
        f"Soak: slowloris, {found.plan.loris} connections at once (header timeout {HEADER_TIMEOUT} s, "
        f"body timeout {BODY_TIMEOUT} s)"
    )
    kinds = {
        "head": ("a head sent a byte every 0.5 s, never finished", 408, HEADER_TIMEOUT),
        "silent": ("a connection that sends nothing", 408, HEADER_TIMEOUT),
        "body": ("a whole head, a tenth of its body", 400, BODY_TIMEOUT),
    }
    out = []
    for kind, (what, status, timeout) in kinds.items():
        seen = result[kind]
        answered = seen["statuses"].get(str(status), 0)
        # Only a client still sending may miss its answer (soakgen._loris says why): it must be closed at the
        # timeout all the same.
        reset = seen["statuses"].get(str(soakgen.RESET), 0) if kind == "head" else 0
        shown = f"{answered}/{seen['connections']}" + (f" (and {reset} reset as they sent)" if reset else "")
        out.append(
            Row(
                section,
                f"{what}: answered {status} and closed / closed after p50, max",
                f"{shown} / {_seconds(seen['p50'])}, {_seconds(seen['max'])}",
                target=f"all, ≈ {timeout} s",
                ok=answered + reset == seen["closed"] == seen["connections"] and seen["max"] < timeout + 2,
            )
        )
    return [*out, *_rest_rows(section, found, "slowloris")]


def _mixed_rows(found: Soak) -> list[Row]:
    plan, result, filled = found.plan, found.results["mixed"], found.results["fill"]
    seconds = result["seconds"]
    section = (
        f"Soak: mixed load, {plan.workers} clients for {plan.minutes:g} min over all five platforms (invokes, streams, "
        "pauses and resumes, async runs and polls, files, ingest, 250 sessions, faults, drops)"
    )
    statuses: dict[int, int] = {}
    for counts in result["statuses"].values():
        for status, count in counts.items():
            statuses[int(status)] = statuses.get(int(status), 0) + count
    answered = sum(statuses.values())
    successes = sum(count for status, count in statuses.items() if status < 300)
    dropped, cut = sum(result["dropped"].values()), sum(result["cut_by_fault"].values())
    reset = sum(result.get("cut_by_reset", {}).values())
    fill_calls = sum(sum(counts.values()) for counts in filled["statuses"].values())
    unexpected_5xx = sum(
        count for counts in result["unexpected"].values() for status, count in counts.items() if int(status) >= 500
    )
    return [
        Row(
            section,
            "stores filled first: BeeOS files, AgentOS ingest runs",
            f"{plan.fill:,} each ({fill_calls:,} calls, {filled['seconds']:.0f} s)",
        ),
        Row(section, "answers", f"{answered:,} ({answered / seconds:,.0f}/s)"),
        Row(section, "… 2xx", f"{successes:,}"),
        Row(
            section,
            "… injected 429 / 504; AgentOS's 500 for the failing agent",
            f"{statuses.get(429, 0):,} / {statuses.get(504, 0):,}; {statuses.get(500, 0):,}",
        ),
        Row(section, "streams reset by the clients / cut by drop-after faults", f"{dropped:,} / {cut:,}"),
        Row(section, "calls in a session that another client reset meanwhile (their run cancelled)", f"{reset:,}"),
        Row(
            section,
            "5xx other than those",
            str(unexpected_5xx),
            target="none",
            ok=unexpected_5xx == 0,
        ),
        _problem_row(section, result),
        *_rest_rows(section, found, "mixed"),
    ]


def main(argv: list[str] | None = None) -> int:
    import run  # the one entry point: it writes the results

    return run.main(["--only", "soak", *(argv if argv is not None else sys.argv[1:])])


if __name__ == "__main__":
    sys.exit(main())
