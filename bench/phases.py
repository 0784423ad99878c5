"""The measurements, one function per section of the table. Every server and load generator is its own
process on loopback; every figure of the mock is taken next to the bare aiohttp baseline's in the same run."""

from __future__ import annotations

import compileall
import math
import time
from collections import Counter
from collections.abc import Callable, Iterator
from concurrent.futures import ThreadPoolExecutor
from contextlib import AbstractContextManager, contextmanager, nullcontext
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any

import cassettes
import procs
import scenarios
import store
import wire
from analysis import StreamStats, percentile, stream_stats
from load import LoadProcess, LoadResult, measure_throughput, run_loadgen
from procs import RssSampler, Server
from rawhttp import RequestSpec

STREAMS_LIMIT = 30.0  # seconds a burst of streams may take before the unfinished ones count as failed
IDLE_SETTLE = 1.0  # seconds a freshly started server sits idle before its RSS is read
MOCK = "mockagent"
BARE = "bare aiohttp"
# Issue 15's targets.
COLD_TARGET = 1.4  # spawn → first platform request answered, ÷ bare
JSON_TARGET = 0.7  # JSON invoke throughput ÷ bare, 1 and 1,000 scenarios (journal off)
JOURNAL_TARGET = 0.6  # … with the full journal (the default)
SSE_TARGET = 1.0  # unpaced streams ÷ bare
OVERSHOOT_TARGET = 0.005  # a 100 ms delay's overshoot p99 under the JSON load, seconds
PACED_RSS_TARGET = 100  # MB, peak RSS of 2,000 paced streams at once
LOADED_RSS_TARGET = 80  # MB, RSS after the sustained JSON load
COLD_FIRST_REQUEST = "spawn → first 200 on a platform request (BeeOS JSON invoke)"


@dataclass(frozen=True)
class Plan:
    """How long and how hard each measurement runs."""

    work: Path
    quick: bool = False
    window: int = 3  # seconds of one throughput measurement (wrk takes whole seconds)
    rounds: int = 4  # throughput windows per server, taken in turn with the other servers'
    warmup: int = 1
    connections: int = 32  # the invoke load: wrk -c / loadgen connections
    stream_counts: tuple[int, ...] = (200, 2000)
    timing_seconds: int = 8  # the timed streams under load
    cold_repeats: int = 9
    probe_connections: int = 4  # timed streams sent alongside the invoke load
    force_python: bool = False  # the Python load generator even where wrk is installed

    @classmethod
    def make(cls, work: Path, *, quick: bool, force_python: bool) -> Plan:
        if quick:
            return cls(
                work,
                quick=True,
                window=1,
                rounds=1,
                stream_counts=(2000,),
                timing_seconds=2,
                cold_repeats=3,
                force_python=force_python,
            )
        return cls(work, force_python=force_python)


@dataclass(frozen=True)
class Row:
    section: str
    measure: str
    mock: str
    bare: str = ""
    ratio: str = ""
    target: str = ""
    ok: bool | None = None


@dataclass
class Bench:
    """The generated scenario folders and captured wire, and how to start each server."""

    plan: Plan
    folders: dict[str, Path]
    wire_file: Path
    cassettes: Path

    def log(self, name: str) -> Path:
        return self.plan.work / "logs" / f"{name}.log"

    def start_mock(
        self, folder: str = "suite", *options: str, probe: RequestSpec | None = None, log: str = ""
    ) -> Server:
        """`log`: the log's name, where the servers of one folder must not overwrite each other's (the folder's)."""
        port = procs.free_port()
        command = procs.mock_command(self.folders[folder], port, *options)
        return procs.start(f"mock-{log or folder}", command, port, self.log(log or folder), probe)

    def start_replay(self) -> Server:
        port = procs.free_port()
        return procs.start("replay", procs.replay_command(self.cassettes, port), port, self.log("replay"))

    def start_bare(self, probe: RequestSpec | None = None) -> Server:
        port = procs.free_port()
        return procs.start("bare", procs.baseline_command(self.wire_file, port), port, self.log("bare"), probe)

    @contextmanager
    def mock(self, folder: str = "suite") -> Iterator[Server]:
        server = self.start_mock(folder)
        try:
            yield server
        finally:
            server.stop()

    @contextmanager
    def bare(self) -> Iterator[Server]:
        server = self.start_bare()
        try:
            yield server
        finally:
            server.stop()


# ── formatting ───────────────────────────────────────────────────────────────────────────────────────


def _millis(seconds: float) -> str:
    if math.isnan(seconds):
        return "–"
    value = seconds * 1000
    return f"{value:,.0f}" if abs(value) >= 100 else f"{value:.1f}"


def ms(seconds: float) -> str:
    return f"{_millis(seconds)} ms"


def ms_pair(p50: float, p99: float) -> str:
    return f"{_millis(p50)} / {_millis(p99)} ms"


def per_second(value: float) -> str:
    return f"{value:,.0f}/s"


def mb(mib: float) -> float:
    """Decimal megabytes, the unit of the targets, from the MiB that /proc gives."""
    return mib * 1024 * 1024 / 1e6


def megabytes(mib: float) -> str:
    return f"{mb(mib):.0f} MB"


def times(ratio: float) -> str:
    return "–" if math.isnan(ratio) else f"{ratio:.2f}×"


# ── preparing ────────────────────────────────────────────────────────────────────────────────────────


def prepare(plan: Plan) -> Bench:
    """Generate the scenario files, check the mock answers, and capture its wire for the baseline."""
    plan.work.mkdir(parents=True, exist_ok=True)
    _compile_bytecode()
    folders = scenarios.write_all(plan.work)
    with procs_mock(plan, folders["suite"]) as server:
        captured = wire.capture(server.port, plan.work / "wire.json")
    return Bench(plan, folders, plan.work / "wire.json", cassettes.write(plan.work, captured))


@contextmanager
def procs_mock(plan: Plan, folder: Path) -> Iterator[Server]:
    port = procs.free_port()
    server = procs.start("mock-capture", procs.mock_command(folder, port), port, plan.work / "logs" / "capture.log")
    try:
        yield server
    finally:
        server.stop()


def _compile_bytecode() -> None:
    """Write mockagent's bytecode first, as any install does (aiohttp's came with its wheel).

    Where PYTHONDONTWRITEBYTECODE is set (some sandboxes and CI images), an editable checkout never gets
    any, and every cold start would time the compiler on mockagent's 40 modules instead of the server.
    """
    import mockagent

    compileall.compile_dir(Path(mockagent.__file__).parent, quiet=1)


# ── cold start and idle memory ───────────────────────────────────────────────────────────────────────


def _cold_starts(starts: dict[str, Callable[[], Server]], repeats: int) -> dict[str, tuple[float, float]]:
    """Per server: median seconds from spawn to the first answered request, and the idle RSS (MiB) of
    its last start. The servers take turns, start after start, so a drift in the machine's speed
    (another process, a CPU's clock) falls on all of them alike."""
    readies: dict[str, list[float]] = {name: [] for name in starts}
    rss: dict[str, float] = {}
    for attempt in range(repeats):
        for name, start in starts.items():
            server = start()
            try:
                readies[name].append(server.ready_seconds)
                if attempt == repeats - 1:
                    time.sleep(IDLE_SETTLE)
                    rss[name] = server.rss_mib()
            finally:
                server.stop()
    return {name: (percentile(readies[name], 50), rss[name]) for name in starts}


def cold_start(bench: Bench) -> list[Row]:
    """Spawn → the first 200 on a platform request (the JSON section's routed invoke; the baseline answers
    its captured reply), so that nothing start-up puts off to the first request escapes the figure; and
    spawn → the first 200 on the health path, which is only the server listening."""
    repeats = bench.plan.cold_repeats
    first = wire.routed_spec()
    measured = _cold_starts(
        {
            "bare": lambda: bench.start_bare(first),
            "mock": lambda: bench.start_mock(probe=first),
            "bare health": bench.start_bare,
            "mock health": bench.start_mock,
        },
        repeats,
    )
    (bare_ready, bare_rss), (mock_ready, mock_rss) = measured["bare"], measured["mock"]
    bare_health, mock_health = measured["bare health"][0], measured["mock health"][0]
    section = "Cold start & idle memory"
    ratio = mock_ready / bare_ready
    rows = [
        Row(
            section,
            f"{COLD_FIRST_REQUEST}, median of {repeats} (4 agents)",
            ms(mock_ready),
            ms(bare_ready),
            times(ratio),
            f"≤ {COLD_TARGET}× bare",
            ratio <= COLD_TARGET,
        ),
        Row(
            section,
            f"spawn → first 200 on /__mockagent/health, median of {repeats} (4 agents)",
            ms(mock_health),
            ms(bare_health),
            times(mock_health / bare_health),
        ),
        Row(
            section,
            "idle RSS after start (4 agents)",
            megabytes(mock_rss),
            megabytes(bare_rss),
            "",
            "≤ 60 MB",
            mb(mock_rss) <= 60,
        ),
    ]
    if not bench.plan.quick:
        many_ready, many_rss = _cold_starts({"many": lambda: bench.start_mock("many", probe=first)}, 1)["many"]
        rows += [
            Row(
                section,
                f"{COLD_FIRST_REQUEST} (1,001 agents)",
                ms(many_ready),
                ms(bare_ready),
                times(many_ready / bare_ready),
            ),
            Row(section, "idle RSS after start (1,001 agents)", megabytes(many_rss), megabytes(bare_rss)),
        ]
    return rows


# ── throughput: JSON invoke and unpaced SSE ──────────────────────────────────────────────────────────


@dataclass(frozen=True)
class Throughput:
    """A server's windows under the same load: throughput over all of them (a GC pause or a busy moment
    of the machine then weighs what it cost), latency percentiles by their medians."""

    windows: tuple[LoadResult, ...]
    rss_mib: float = 0.0  # the server's resident memory once its last window is over

    @property
    def rps(self) -> float:
        return sum(w.requests for w in self.windows) / sum(w.seconds for w in self.windows)

    @property
    def p50_ms(self) -> float:
        return percentile([w.p50_ms for w in self.windows], 50)

    @property
    def p99_ms(self) -> float:
        return percentile([w.p99_ms for w in self.windows], 50)

    @property
    def errors(self) -> int:
        return sum(w.errors for w in self.windows)

    @property
    def tool(self) -> str:
        return "wrk" if self.windows[0].tool == "wrk" else "Python client"


Around = Callable[[str, Server], AbstractContextManager[object]]


def _compare(
    bench: Bench,
    spec: RequestSpec,
    servers: dict[str, Callable[[], Server]],
    around: Around | None = None,
    rounds: int | None = None,
) -> dict[str, Throughput]:
    """Start every server, warm each up, then measure them in turn, round after round, so that whatever
    else the machine does falls on all of them alike. `around(name, server)` wraps each measured window
    (not the warm-up): what it reads there is read over the windows wrk counts."""
    plan = bench.plan
    running: dict[str, Server] = {}
    windows: dict[str, list[LoadResult]] = {name: [] for name in servers}

    def measure(server: Server, seconds: int) -> LoadResult:
        return measure_throughput(server.port, spec, plan.connections, seconds, plan.work, plan.force_python)

    try:
        for name, start in servers.items():
            running[name] = start()
            measure(running[name], plan.warmup)
        for _ in range(plan.rounds if rounds is None else rounds):
            for name, server in running.items():
                with around(name, server) if around is not None else nullcontext():
                    windows[name].append(measure(server, plan.window))
        rss = {name: server.rss_mib() for name, server in running.items()}
    finally:
        for server in running.values():
            server.stop()
    return {name: Throughput(tuple(results), rss[name]) for name, results in windows.items()}


def _load_rows(section: str, label: str, mock: Throughput, bare: Throughput, target: float | None) -> list[Row]:
    ratio = mock.rps / bare.rps
    rows = [
        Row(
            section,
            f"{label}: throughput",
            per_second(mock.rps),
            per_second(bare.rps),
            times(ratio),
            f"≥ {target}× bare" if target is not None else "",
            ratio >= target if target is not None else None,
        ),
        Row(
            section,
            f"{label}: latency p50 / p99",
            f"{mock.p50_ms:.1f} / {mock.p99_ms:.1f} ms",
            f"{bare.p50_ms:.1f} / {bare.p99_ms:.1f} ms",
        ),
    ]
    if mock.errors or bare.errors:
        rows.append(Row(section, f"{label}: failed requests", str(mock.errors), str(bare.errors), "", "0", False))
    return rows


def _load_section(bench: Bench, what: str, result: Throughput) -> str:
    plan = bench.plan
    rounds = f"{plan.rounds} rounds × {plan.window} s" if plan.rounds > 1 else f"{plan.window} s"
    return f"{what} ({result.tool}, {plan.connections} connections, {rounds})"


def json_invoke(bench: Bench) -> list[Row]:
    # An agent whose reply is chosen by body paths and headers (past two that do not match), among 1 or
    # 1,000 scenarios whose replies test the message, body paths and headers. Each with the journal as it
    # is by default (it is full after the warm-up: 1,000 entries kept) and off; and the 1-scenario server
    # again on asyncio's own loop, to show what uvloop gives.
    spec = wire.routed_spec()
    off = ("--journal-size", "0")
    results = _compare(
        bench,
        spec,
        {
            BARE: bench.start_bare,
            "one": lambda: bench.start_mock("one"),
            "many": lambda: bench.start_mock("many"),
            "unjournaled": lambda: bench.start_mock("one", *off),
            "many unjournaled": lambda: bench.start_mock("many", *off),
            "asyncio": lambda: bench.start_mock("one", "--loop", "asyncio"),
        },
    )
    bare, one, many, unjournaled = results[BARE], results["one"], results["many"], results["unjournaled"]
    many_unjournaled, on_asyncio = results["many unjournaled"], results["asyncio"]
    section = _load_section(bench, "JSON invoke, a reply chosen by body paths and headers", bare)
    flat = many.rps / one.rps
    journal_cost = one.rps / unjournaled.rps
    loaded_rss = max(mb(one.rss_mib), mb(unjournaled.rss_mib))
    return [
        *_load_rows(section, "1 scenario", one, bare, JOURNAL_TARGET),
        *_load_rows(section, "1,000 scenarios", many, bare, JOURNAL_TARGET),
        Row(
            section,
            "flatness: throughput 1,000 ÷ 1 scenario",
            times(flat),
            "",
            "",
            "within 10 %",
            abs(flat - 1) <= 0.10,
        ),
        *_load_rows(section, "1 scenario, journal off (--journal-size 0)", unjournaled, bare, JSON_TARGET),
        *_load_rows(section, "1,000 scenarios, journal off", many_unjournaled, bare, JSON_TARGET),
        Row(section, "the full journal's cost: throughput with it ÷ without", times(journal_cost)),
        *_load_rows(section, "1 scenario, asyncio loop (--loop asyncio)", on_asyncio, bare, None),
        Row(section, "uvloop's gain: throughput on uvloop ÷ on asyncio (1 scenario)", times(one.rps / on_asyncio.rps)),
        Row(
            section,
            "RSS after the load: journal full (1,000 entries kept) / off",
            f"{megabytes(one.rss_mib)} / {megabytes(unjournaled.rss_mib)}",
            "",
            "",
            f"≤ {LOADED_RSS_TARGET} MB",
            loaded_rss <= LOADED_RSS_TARGET,
        ),
    ]


def sse_unpaced(bench: Bench) -> list[Row]:
    spec = wire.invoke_spec(scenarios.UNPACED.id, stream=True)
    servers = {
        BARE: bench.start_bare,
        MOCK: bench.start_mock,
        "asyncio": lambda: bench.start_mock("suite", "--loop", "asyncio"),
    }
    results = _compare(bench, spec, servers)
    section = _load_section(bench, f"SSE unpaced, {scenarios.FRAMES} chunks a stream", results[BARE])
    return [
        *_load_rows(section, "streams", results[MOCK], results[BARE], SSE_TARGET),
        *_load_rows(section, "streams, asyncio loop (--loop asyncio)", results["asyncio"], results[BARE], None),
    ]


# ── paced streams held at once ───────────────────────────────────────────────────────────────────────


def _burst(server: Server, count: int) -> tuple[StreamStats, float]:
    """Open `count` paced streams at once: their stats, and the server's peak RSS (MiB) meanwhile."""
    spec = wire.invoke_spec(scenarios.PACED.id, stream=True)
    with RssSampler(server.pids) as sampler:
        result = run_loadgen("streams", server.port, spec, limit=STREAMS_LIMIT + 60, count=count, timeout=STREAMS_LIMIT)
    return stream_stats(result["exchanges"], scenarios.PACED.schedule), sampler.peak_mib


def _paced_rows(count: int, mock: StreamStats, bare: StreamStats, rss: tuple[float, float], judged: bool) -> list[Row]:
    scripted = scenarios.PACED.scripted
    section = f"SSE paced: {count:,} streams at once, {scenarios.FRAMES} chunks over {scripted:g} s"
    ratio = mock.stream_p99 / scripted
    mock_rss, bare_rss = rss
    return [
        Row(
            section,
            "streams completed",
            f"{mock.completed:,}/{mock.started:,}",
            f"{bare.completed:,}/{bare.started:,}",
            "",
            "all" if judged else "",
            mock.completed == count if judged else None,
        ),
        Row(
            section,
            "stream duration p50 / p99, headers → end",
            ms_pair(mock.stream_p50, mock.stream_p99),
            ms_pair(bare.stream_p50, bare.stream_p99),
            f"p99 {times(ratio)} scripted",
            "p99 ≤ 1.1× scripted" if judged else "",
            ratio <= 1.1 if judged else None,
        ),
        Row(
            section,
            "total duration p50 / p99, request → end",
            ms_pair(mock.total_p50, mock.total_p99),
            ms_pair(bare.total_p50, bare.total_p99),
            f"p99 {times(mock.total_p99 / scripted)} scripted",
        ),
        Row(
            section,
            "admission p50 / p99, request → headers",
            ms_pair(mock.head_p50, mock.head_p99),
            ms_pair(bare.head_p50, bare.head_p99),
        ),
        Row(
            section,
            "chunk arrival − scheduled p50 / p99",
            ms_pair(mock.schedule_error_p50, mock.schedule_error_p99),
            ms_pair(bare.schedule_error_p50, bare.schedule_error_p99),
        ),
        Row(
            section,
            "inter-frame gap error p50 / p99",
            ms_pair(mock.gap_error_p50, mock.gap_error_p99),
            ms_pair(bare.gap_error_p50, bare.gap_error_p99),
        ),
        Row(
            section,
            "peak RSS",
            megabytes(mock_rss),
            megabytes(bare_rss),
            "",
            f"≤ {PACED_RSS_TARGET} MB" if judged else "",
            mb(mock_rss) <= PACED_RSS_TARGET if judged else None,
        ),
    ]


def paced_streams(bench: Bench) -> list[Row]:
    rows: list[Row] = []
    for count in bench.plan.stream_counts:
        with bench.bare() as server:
            bare, bare_rss = _burst(server, count)
        with bench.mock() as server:
            mock, mock_rss = _burst(server, count)
        rows += _paced_rows(count, mock, bare, (mock_rss, bare_rss), judged=count == max(bench.plan.stream_counts))
    return rows


# ── timing accuracy under the invoke load ───────────────────────────────────────────────────────────


def _timed_under_load(bench: Bench, server: Server) -> tuple[StreamStats, StreamStats, LoadResult]:
    """Delay and paced streams, a few at a time, timed while the JSON invoke load runs."""
    plan = bench.plan
    seconds = plan.timing_seconds
    invoke = wire.invoke_spec(scenarios.ECHO)
    background = LoadProcess(server.port, invoke, plan.connections, seconds + 1, plan.work, plan.force_python)
    time.sleep(0.5)
    probes = {agent.id: wire.invoke_spec(agent.id, stream=True) for agent in (scenarios.DELAYED, scenarios.PACED)}
    with ThreadPoolExecutor(len(probes)) as pool:
        futures = {
            name: pool.submit(
                run_loadgen,
                "probe",
                server.port,
                spec,
                limit=seconds + 60,
                connections=plan.probe_connections,
                duration=seconds - 1,
            )
            for name, spec in probes.items()
        }
        results: dict[str, dict[str, Any]] = {name: future.result() for name, future in futures.items()}
    served = background.wait()
    delay = stream_stats(results[scenarios.DELAYED.id]["exchanges"], scenarios.DELAYED.schedule)
    paced = stream_stats(results[scenarios.PACED.id]["exchanges"], scenarios.PACED.schedule)
    return delay, paced, served


def timing(bench: Bench) -> list[Row]:
    with bench.bare() as server:
        bare_delay, bare_paced, bare_load = _timed_under_load(bench, server)
    with bench.mock() as server:
        mock_delay, mock_paced, mock_load = _timed_under_load(bench, server)
    plan = bench.plan
    section = (
        f"Timing under load ({plan.probe_connections} timed streams at a time beside {plan.connections} connections "
        f"of JSON invoke, {plan.timing_seconds} s)"
    )
    delay = f"{scenarios.DELAY * 1000:.0f} ms delay"
    return [
        Row(
            section,
            f"{delay}: overshoot p50 / p99 (headers → chunk)",
            ms_pair(mock_delay.first_chunk_late_p50, mock_delay.first_chunk_late_p99),
            ms_pair(bare_delay.first_chunk_late_p50, bare_delay.first_chunk_late_p99),
            "",
            f"p99 ≤ {OVERSHOOT_TARGET * 1000:g} ms",
            mock_delay.first_chunk_late_p99 <= OVERSHOOT_TARGET,
        ),
        Row(
            section,
            f"{delay}: request → chunk, minus the delay, p50 / p99",
            ms_pair(mock_delay.first_chunk_e2e_p50, mock_delay.first_chunk_e2e_p99),
            ms_pair(bare_delay.first_chunk_e2e_p50, bare_delay.first_chunk_e2e_p99),
        ),
        Row(
            section,
            "paced: inter-frame gap error p50 / p99",
            ms_pair(mock_paced.gap_error_p50, mock_paced.gap_error_p99),
            ms_pair(bare_paced.gap_error_p50, bare_paced.gap_error_p99),
        ),
        Row(
            section,
            "paced: chunk arrival − scheduled p50 / p99",
            ms_pair(mock_paced.schedule_error_p50, mock_paced.schedule_error_p99),
            ms_pair(bare_paced.schedule_error_p50, bare_paced.schedule_error_p99),
        ),
        Row(
            section,
            "timed streams completed",
            f"{mock_delay.completed + mock_paced.completed:,}",
            f"{bare_delay.completed + bare_paced.completed:,}",
        ),
        Row(
            section,
            "invoke load served meanwhile",
            per_second(mock_load.rps),
            per_second(bare_load.rps),
            times(mock_load.rps / bare_load.rps),
        ),
    ]


def replay(bench: Bench) -> list[Row]:
    """Replay throughput beside the JSON invoke of the same run (matching must not grow with the cassette),
    and how closely a replayed paced stream keeps its recorded gaps."""
    results = _compare(
        bench,
        wire.invoke_spec(scenarios.ECHO),
        {"json": lambda: bench.start_mock("one"), "replay": bench.start_replay},
    )
    json_rate, replayed = results["json"], results["replay"]
    ratio = replayed.rps / json_rate.rps
    section = _load_section(bench, f"Replay ({cassettes.INTERACTIONS + 2:,}-interaction cassette)", replayed)
    rows = [
        Row(
            section,
            "replayed JSON invoke: throughput",
            per_second(replayed.rps),
            f"{per_second(json_rate.rps)} (scenario)",
            times(ratio),
            "≥ 0.5× the JSON invoke",
            ratio >= 0.5,
        ),
        Row(section, "replayed JSON invoke: latency p50 / p99", f"{replayed.p50_ms:.1f} / {replayed.p99_ms:.1f} ms"),
    ]
    count = min(bench.plan.stream_counts)
    spec = wire.invoke_spec(scenarios.PACED.id, stream=True)
    server = bench.start_replay()
    try:
        result = run_loadgen("streams", server.port, spec, limit=STREAMS_LIMIT + 60, count=count, timeout=STREAMS_LIMIT)
    finally:
        server.stop()
    stats = stream_stats(result["exchanges"], scenarios.PACED.schedule)
    paced = f"{scenarios.FRAMES} chunks over {scenarios.PACED.scripted:g} s"
    streams = f"Replay: {count:,} recorded paced streams at once, {paced}"
    return [
        *rows,
        Row(streams, "streams completed", f"{stats.completed:,}/{stats.started:,}"),
        Row(streams, "replayed − recorded gap p50 / p99", ms_pair(stats.gap_error_p50, stats.gap_error_p99)),
        Row(
            streams,
            "chunk arrival − recorded moment p50 / p99",
            ms_pair(stats.schedule_error_p50, stats.schedule_error_p99),
        ),
    ]


# ── shared state in Redis (--state, --workers) ───────────────────────────────────────────────────────

MEMORY = "in memory, 1 process"
REDIS_ONE = "--state redis, 1 process"
REDIS_TWO = "--state redis --workers 2"
REPLICAS = (1, 2, 4, 8)
SESSIONS = 8  # the sessions the many-session load names in turn (CI jobs sharing one mock, each its own)
MONITORED = 20  # requests sent one at a time under MONITOR
LOCK_GRACE = 1.0  # seconds a session lock may stay held after a window before it counts as left behind


@dataclass
class Meter:
    """What each server's measured windows cost: Redis's commands and CPU, and the server's own CPU (summed
    over its workers), read before and after each window.

    A session lock still held a second after a load stopped (wrk hangs up on the requests it has in flight)
    was left by a request cut short: every later request of that session would wait for it, up to the lock's
    5 s TTL, and the window would measure the wait. It is counted (`left`), and deleted so that the next
    window measures the server. How long before it was found each was taken (`left`) tells one taken as the
    load stopped from one the window itself was stuck behind."""

    redis_store: store.Store
    names: dict[str, str]  # the servers' names in Redis (--name), by the section's name for them
    redis: dict[str, store.Usage] = field(default_factory=dict)
    cpu: dict[str, float] = field(default_factory=dict)
    left: dict[str, list[float]] = field(default_factory=dict)

    def _free(self, name: str) -> None:
        if name in self.names:
            self.left.setdefault(name, []).extend(self.redis_store.free_locks(self.names[name], LOCK_GRACE))

    @contextmanager
    def window(self, name: str, server: Server) -> Iterator[None]:
        self._free(name)  # after its warm-up, or its last window
        pids = server.pids
        usage, cpu = self.redis_store.usage(), procs.cpu_seconds(pids)
        yield
        self.redis[name] = self.redis.get(name, store.NO_USAGE) + (self.redis_store.usage() - usage)
        self.cpu[name] = self.cpu.get(name, 0.0) + procs.cpu_seconds(pids) - cpu
        self._free(name)  # before the next server's window: its waiting requests would cost Redis there


@dataclass(frozen=True)
class Monitored:
    """Requests sent one at a time, seen by MONITOR: per request, the commands the mock sent and those its
    scripts ran; and how long each held its session's lock (the lock's SET NX to its DEL)."""

    sent: Counter[str]
    scripted: Counter[str]
    holds: tuple[float, ...]


def _redis_names(prefix: str) -> dict[str, str]:
    """The redis-backed servers' names in Redis (--name): each its own, so that none meets another's sessions."""
    return {REDIS_ONE: f"{prefix}-one", REDIS_TWO: f"{prefix}-two"}


def _redis_servers(bench: Bench, folder: str, url: str, prefix: str) -> dict[str, Callable[[], Server]]:
    """The in-memory server and the two redis-backed ones (named by `_redis_names(prefix)`)."""
    names = _redis_names(prefix)

    def workers() -> Server:
        options = ("--state", url, "--name", names[REDIS_TWO], "--workers", "2")
        server = bench.start_mock(folder, *options, log=f"redis-{names[REDIS_TWO]}")
        server.workers = 2
        server.wait_workers()
        return server

    return {
        MEMORY: lambda: bench.start_mock(folder, log=f"redis-{prefix}-memory"),
        REDIS_ONE: lambda: bench.start_mock(
            folder, "--state", url, "--name", names[REDIS_ONE], log=f"redis-{names[REDIS_ONE]}"
        ),
        REDIS_TWO: workers,
    }


def _monitored(bench: Bench, redis: store.Store) -> Monitored:
    spec = wire.routed_spec()
    server = bench.start_mock("one", "--state", redis.url(), "--name", "monitored", log="redis-monitored")
    try:
        for _ in range(5):  # its first requests read the session afresh: not what a request costs
            wire.fetch(server.port, spec)
        seen = redis.monitor(lambda: [wire.fetch(server.port, spec) for _ in range(MONITORED)])
    finally:
        server.stop()
    taken: dict[str, float] = {}
    holds: list[float] = []
    for command in seen:
        words = command.words
        if command.name == "set" and len(words) > 3 and words[1].endswith(":lock") and "NX" in words:
            taken[words[1]] = command.at
        elif command.name == "del" and len(words) > 1 and words[1] in taken:
            holds.append(command.at - taken.pop(words[1]))
    return Monitored(
        Counter(c.name for c in seen if not c.scripted),
        Counter(c.name for c in seen if c.scripted),
        tuple(holds),
    )


def _over(value: float, count: float) -> float:
    """value ÷ count, or NaN (shown as a dash) where nothing was counted: a server that served nothing."""
    return value / count if count else math.nan


def _per_request(calls: Counter[str], requests: int) -> str:
    """`evalsha 3.0, get 1.0, …`: the commands, most called first."""
    if not requests:
        return "–"
    shown = [f"{name} {count / requests:.1f}" for name, count in calls.most_common() if count / requests >= 0.05]
    return ", ".join(shown) or "none"


def _micros(seconds: float) -> str:
    return "–" if math.isnan(seconds) else f"{seconds * 1e6:,.0f} µs"


def redis_state(bench: Bench) -> list[Row]:
    """The mock with its state in Redis (`--state`), in one process and two (`--workers 2`), beside the
    in-memory server and the bare baseline in the same run: JSON invoke and 2,000 paced streams; what Redis
    costs per request (its commands and CPU, and the mock's own CPU, read around the measured windows);
    and, from those costs, what N replicas would serve."""
    absent = store.missing()
    if absent:
        return [Row("Shared state in Redis (--state)", "not measured", absent)]
    plan = bench.plan
    rounds = 1 if plan.quick else 2  # four servers in this section's minute, not the json section's six
    with store.running(bench.log("redis-server")) as redis:
        meter = Meter(redis, _redis_names("json"))
        servers: dict[str, Callable[[], Server]] = {
            BARE: bench.start_bare,
            **_redis_servers(bench, "one", redis.url(), "json"),
        }
        results = _compare(bench, wire.routed_spec(), servers, meter.window, rounds)
        spread = Meter(redis, _redis_names("many"))
        many_spec = replace(wire.routed_spec(), sessions=SESSIONS)
        many = _compare(bench, many_spec, _redis_servers(bench, "one", redis.url(), "many"), spread.window, 1)
        monitored = _monitored(bench, redis)
        # --quick: a quarter of the streams, for three servers' bursts within the smoke run's seconds
        count = max(plan.stream_counts) // (4 if plan.quick else 1)
        bursts: dict[str, tuple[StreamStats, float]] = {}
        for name, start in _redis_servers(bench, "suite", redis.url(), "paced").items():
            server = start()
            try:
                bursts[name] = _burst(server, count)
            finally:
                server.stop()
        held = redis.usage()
    return [
        *_redis_json_rows(bench, results, rounds),
        *_redis_many_rows(bench, many, spread),
        *_redis_paced_rows(count, bursts),
        *_redis_cost_rows(results, meter, monitored, held),
        *_projection_rows(many, spread, monitored),
    ]


def _redis_json_rows(bench: Bench, results: dict[str, Throughput], rounds: int) -> list[Row]:
    plan = bench.plan
    bare, memory, one, two = results[BARE], results[MEMORY], results[REDIS_ONE], results[REDIS_TWO]
    windows = f"{rounds} rounds × {plan.window} s" if rounds > 1 else f"{plan.window} s"
    section = (
        f"Shared state in Redis: JSON invoke as in the json section ({bare.tool}, {plan.connections} connections, "
        f"{windows}), one Redis on this machine"
    )
    rows: list[Row] = []
    for label, result in ((MEMORY, memory), (REDIS_ONE, one), (REDIS_TWO, two)):
        rows += _load_rows(section, label, result, bare, None)
    return [
        *rows,
        Row(section, f"{REDIS_ONE}: throughput ÷ in memory", times(_over(one.rps, memory.rps))),
        Row(section, f"{REDIS_TWO}: throughput ÷ in memory", times(_over(two.rps, memory.rps))),
        _second_worker(section, one, two),
        Row(
            section,
            "RSS after the load: in memory / redis 1 process / redis 2 workers (summed over the workers)",
            f"{megabytes(memory.rss_mib)} / {megabytes(one.rss_mib)} / {megabytes(two.rss_mib)}",
        ),
    ]


def _second_worker(section: str, one: Throughput, two: Throughput) -> Row:
    return Row(
        section,
        "what the second worker wins: 2 workers ÷ 1 process, both --state redis",
        times(_over(two.rps, one.rps)),
    )


def _redis_many_rows(bench: Bench, results: dict[str, Throughput], meter: Meter) -> list[Row]:
    memory, one, two = results[MEMORY], results[REDIS_ONE], results[REDIS_TWO]
    section = (
        f"Shared state in Redis: the same JSON invoke over {SESSIONS} sessions, each request naming the next "
        f"(X-Mockagent-Session; {bench.plan.connections} connections, {bench.plan.window} s)"
    )
    requests = {name: sum(w.requests for w in results[name].windows) for name in (MEMORY, REDIS_ONE, REDIS_TWO)}
    return [
        Row(
            section,
            "throughput: in memory / redis 1 process / redis 2 workers",
            " / ".join(per_second(r.rps) for r in (memory, one, two)),
        ),
        _second_worker(section, one, two),
        *_cpu_rows(section, requests, meter),
    ]


def _cpu_rows(section: str, requests: dict[str, int], meter: Meter) -> list[Row]:
    """Redis's CPU and the mock's, per request of each server."""
    cpu = {name: _over(meter.cpu[name], requests[name]) for name in (MEMORY, REDIS_ONE, REDIS_TWO)}
    redis_cpu = {name: _over(meter.redis[name].cpu, requests[name]) for name in (REDIS_ONE, REDIS_TWO)}
    return [
        Row(
            section,
            "Redis CPU per request (used_cpu_user + used_cpu_sys): redis 1 process / 2 workers",
            " / ".join(_micros(redis_cpu[name]) for name in (REDIS_ONE, REDIS_TWO)),
        ),
        Row(
            section,
            "the mock's CPU per request (summed over the workers): in memory / redis 1 process / redis 2 workers",
            " / ".join(_micros(cpu[name]) for name in (MEMORY, REDIS_ONE, REDIS_TWO)),
        ),
    ]


def _redis_paced_rows(count: int, bursts: dict[str, tuple[StreamStats, float]]) -> list[Row]:
    scripted = scenarios.PACED.scripted
    section = (
        f"Shared state in Redis: {count:,} paced streams at once, {scenarios.FRAMES} chunks over {scripted:g} s "
        "(in memory / redis 1 process / redis 2 workers)"
    )
    stats = [bursts[name][0] for name in (MEMORY, REDIS_ONE, REDIS_TWO)]
    rss = [bursts[name][1] for name in (MEMORY, REDIS_ONE, REDIS_TWO)]
    return [
        Row(
            section,
            "streams completed",
            " / ".join(f"{s.completed:,}" for s in stats),
            "",
            "",
            "all",
            all(s.completed == count for s in stats),
        ),
        Row(
            section,
            "stream duration p99, headers → end",
            " / ".join(ms(s.stream_p99) for s in stats),
            "",
            " / ".join(times(s.stream_p99 / scripted) for s in stats) + " scripted",
            "p99 ≤ 1.1× scripted",
            all(s.stream_p99 / scripted <= 1.1 for s in stats),
        ),
        Row(section, "admission p50, request → headers", " / ".join(ms(s.head_p50) for s in stats)),
        Row(section, "admission p99, request → headers", " / ".join(ms(s.head_p99) for s in stats)),
        Row(section, "peak RSS (summed over the workers)", " / ".join(megabytes(r) for r in rss)),
    ]


def _redis_cost_rows(
    results: dict[str, Throughput], meter: Meter, monitored: Monitored, held: store.Usage
) -> list[Row]:
    section = (
        "Shared state in Redis: what a JSON invoke costs, measured — Redis's INFO commandstats and cpu, and the "
        "mock's utime + stime, read around each measured window, ÷ the requests wrk counted in it"
    )
    requests = {name: sum(w.requests for w in result.windows) for name, result in results.items()}
    one, two = meter.redis[REDIS_ONE], meter.redis[REDIS_TWO]
    commands = {name: _over(sum(meter.redis[name].calls.values()), requests[name]) for name in (REDIS_ONE, REDIS_TWO)}
    cpu = {name: _over(meter.cpu[name], requests[name]) for name in (MEMORY, REDIS_ONE, REDIS_TWO)}
    served = len(monitored.holds) or MONITORED
    rows = [
        Row(
            section,
            "Redis commands per request, those its scripts run included: redis 1 process / 2 workers",
            f"{commands[REDIS_ONE]:.1f} / {commands[REDIS_TWO]:.1f}",
        ),
        Row(section, "… by command, redis 1 process", _per_request(one.calls, requests[REDIS_ONE])),
        Row(section, "… by command, redis 2 workers", _per_request(two.calls, requests[REDIS_TWO])),
        *_cpu_rows(section, requests, meter),
        Row(
            section,
            "what Redis costs the mock per request: redis 1 process − in memory",
            f"+{_micros(cpu[REDIS_ONE] - cpu[MEMORY])}",
            "",
            times(_over(cpu[REDIS_ONE], cpu[MEMORY])),
        ),
        Row(
            section,
            f"{MONITORED} requests one at a time (MONITOR, redis 1 process): commands the mock sends per request",
            _per_request(monitored.sent, served),
        ),
        Row(section, "… and those its scripts run, per request", _per_request(monitored.scripted, served)),
        Row(
            section,
            "… the session's lock held per request (its SET NX → its DEL) p50 / p99",
            ms_pair(percentile(list(monitored.holds), 50), percentile(list(monitored.holds), 99)),
        ),
        Row(
            section,
            "what a request leaves in Redis: keys / used memory added per request, redis 1 process / 2 workers",
            " / ".join(
                f"{_over(meter.redis[name].keys, requests[name]):.1f} keys, "
                f"{_over(meter.redis[name].memory, requests[name]):,.0f} B"
                for name in (REDIS_ONE, REDIS_TWO)
            ),
        ),
        Row(
            section,
            "Redis at the end of the section: keys / used memory (a session's keys live 24 h: none expires here)",
            f"{held.keys:,} / {held.memory / 1e6:.1f} MB",
        ),
    ]
    left = {name: meter.left.get(name, []) for name in (REDIS_ONE, REDIS_TWO)}
    ages = sorted(age for found in left.values() for age in found)
    windows = len(results[REDIS_ONE].windows) + 1  # the checks: after the warm-up and after each window
    rows.append(
        Row(
            section,
            f"session locks left held {LOCK_GRACE:g} s after wrk stopped (it hangs up on its requests in flight), "
            f"out of {windows} loads each: redis 1 process / 2 workers — deleted by the bench, else the next load "
            "waits out their 5 s",
            f"{len(left[REDIS_ONE])} / {len(left[REDIS_TWO])}",
            "",
            f"taken {', '.join(f'{age:.1f}' for age in ages)} s before found" if ages else "",
            "0",
            not ages,
        )
    )
    return rows


def _projection_rows(results: dict[str, Throughput], meter: Meter, monitored: Monitored) -> list[Row]:
    """What N replicas would serve a load over many sessions (`results`: the many-session load), each on a
    core of its own, with one Redis core: the least of N times one redis-backed process's throughput and
    Redis's capacity, a second over its CPU per request. A session served by several replicas is caught up
    with by each of them, so Redis's cost per request grows with N: taken as the cost at 1 process plus N - 1
    times what the second worker added, both measured."""
    per_process = results[REDIS_ONE].rps
    requests = {name: sum(w.requests for w in results[name].windows) for name in (REDIS_ONE, REDIS_TWO)}
    alone = _over(meter.redis[REDIS_ONE].cpu, requests[REDIS_ONE])
    heard = max(0.0, _over(meter.redis[REDIS_TWO].cpu, requests[REDIS_TWO]) - alone)
    section = (
        f"Shared state in Redis: a projection from the costs measured above over {SESSIONS} sessions, not a "
        "measurement — N replicas, each on a core of its own, one Redis core"
    )
    if math.isnan(alone) or math.isnan(heard) or not per_process:
        return [Row(section, "not projected", "a redis-backed server served nothing to measure")]
    rows = [
        Row(
            section,
            "Redis CPU per request with N replicas: 1 process's + (N − 1) × what the 2nd worker added (a "
            "session's commits are caught up with by every replica serving it; an upper bound: one catch-up "
            "may read several)",
            f"{_micros(alone)} + (N − 1) × {_micros(heard)}",
        ),
    ]
    rows.append(
        Row(
            section,
            "Redis's capacity at the 1-process cost, as if replicas never heard each other's commits: 1 s ÷ "
            f"{_micros(alone)}",
            per_second(1 / alone) if alone > 0 else "–",
        )
    )
    for n in REPLICAS:
        cost = alone + (n - 1) * heard
        capacity = 1 / cost if cost > 0 else math.inf
        served = min(n * per_process, capacity)
        bound = "bound: the replicas" if n * per_process <= capacity else "bound: Redis's core"
        rows.append(
            Row(
                section,
                f"{n} replica{'s' if n > 1 else ''}: least of {n} × {per_process:,.0f}/s (1 redis-backed process, "
                f"measured above) and Redis's 1 s ÷ {_micros(cost)}",
                per_second(served),
                "",
                bound,
            )
        )
    for n in REPLICAS:
        served = min(n * per_process, 1 / alone if alone > 0 else math.inf)
        rows.append(
            Row(
                section,
                f"{n} replica{'s' if n > 1 else ''}, each session kept on one replica by the load balancer (docs/"
                f"deploy.md#throughput): least of {n} × {per_process:,.0f}/s and Redis's 1 s ÷ {_micros(alone)} "
                "(no replica catches up with another's session; the news each commit sends to every replica is "
                "not counted)",
                per_second(served),
                "",
                "bound: the replicas" if n * per_process <= 1 / alone else "bound: Redis's core",
            )
        )
    hold = percentile(list(monitored.holds), 50)
    if monitored.holds and hold > 0:
        rows.append(
            Row(
                section,
                f"one session, whatever N: its lock is held {ms(hold)} a request (p50, one at a time), "
                "so its requests are served one after another at most",
                per_second(1 / hold),
                "",
                "for the one-session load above",
            )
        )
    return rows


PHASES: dict[str, Callable[[Bench], list[Row]]] = {
    "cold": cold_start,
    "json": json_invoke,
    "sse": sse_unpaced,
    "paced": paced_streams,
    "timing": timing,
    "replay": replay,
    "redis": redis_state,
}
