"""Run mockagent's benchmark suite: print the table and write bench/RESULTS.md.

    python bench/run.py                 # every section but the soak (under 5 minutes on 2 cores)
    python bench/run.py --quick         # a fast smoke run (under a minute)
    python bench/run.py --only json     # one section: cold, json, sse, paced, timing, replay, redis
    python bench/run.py --only soak     # the soak (bench/soak.py): a 10-minute mixed load and more, ~13 min
    python bench/run.py --only soak --minutes 2

Every server (mockagent and the bare aiohttp baseline) and every load generator (wrk where installed,
else bench/loadgen.py) runs as its own process on loopback; each measurement is bounded in time and count.
A run replaces the figures of the sections it ran, in bench/results.json, and keeps the others'; RESULTS.md
is written from them all.
"""

from __future__ import annotations

import argparse
import os
import shlex
import sys
import time
from pathlib import Path

BENCH = Path(__file__).resolve().parent
REPO = BENCH.parent
WORK = BENCH / ".work"
RESULTS = BENCH / "RESULTS.md"
RESULTS_DATA = BENCH / "results.json"
BEFORE_DATA = BENCH / "before.json"  # a run of the code before issue 15, for RESULTS.md's before → after
SOAK = "soak"

sys.path.insert(0, str(BENCH))

import phases  # noqa: E402
import procs  # noqa: E402
import report  # noqa: E402
import scenarios  # noqa: E402
import soak  # noqa: E402

NOTES = (
    "JSON invoke: `POST /beeos/api/v1/agents/routed/invoke` with a Bearer `oag_…` key, `X-Bench: yes` and "
    '`{"message": "hi", "metadata": {"tier": "gold", "channel": "web"}}`, through auth, validation, the reply '
    "chosen by body paths and headers (two replies tested and passed over first: one-of, regex, any), render "
    "and journal; the 1,000-scenario server loads bench-agent-0000 … 0999 beside it, each with replies whose "
    "`when` tests the message, a header and a body path.",
    "SSE: `POST /beeos/api/v1/agents/stream20/invoke` with `Accept: text/event-stream`; the baseline writes "
    "the frames captured from the mock "
    "(the chunk frames and the closing `done`), at once or at their scheduled offsets with asyncio.sleep.",
    "Paced streams: all connections are opened first (100 at a time, under the accept backlog), then every "
    "request is sent at once. The target is judged on the stream's own duration (response headers to its end; "
    "the run starts as the headers go out) against the scripted 1.00 s (first chunk at 0.05 s, then one every "
    "0.05 s); the admission of the burst (request to headers) and the total are shown beside it.",
    "Throughput: each server is warmed up, then measured in turn with the others, round after round; "
    "throughput is over all its rounds, latency the median of the rounds' percentiles. Load is wrk -t1 where "
    "installed, else bench/loadgen.py (stdlib asyncio, keep-alive).",
    "Timing: delay and paced streams are sent 4 at a time while the JSON invoke load runs; the overshoot is a "
    "chunk's arrival after the response headers minus its scripted moment (the run starts as the headers go out), "
    "so the request's own queueing under load is shown on its own line.",
    "Cold start: from spawning `mockagent serve` (or `python bench/baseline.py`) to the first 200 on a platform "
    "request, the JSON invoke above (the baseline answers its captured reply), so that nothing put off to the "
    "first request escapes it; and, beside it, to the first 200 on `/__mockagent/health` (the server listening). "
    "The servers take turns, median of 9; mockagent's bytecode is compiled first, as an install does (aiohttp's "
    "came with its wheel). Idle RSS is VmRSS 1 s later; peak RSS is VmRSS sampled every 20 ms.",
    "uvloop: `mockagent serve` runs on uvloop where it is installed; the rows marked `--loop asyncio` are the "
    "same server on asyncio's own loop, in the same run (the baseline always runs on asyncio's).",
    "Issue 15's targets, before and after: `bench/before.json` is a run of the code before the issue (its "
    "`_measured` says which commit); the table at the top is drawn from it and the figures below.",
    "Shared state in Redis (issue 17): the bench starts a redis-server of its own (free port, temporary folder, "
    "`--save '' --appendonly no`) and runs the JSON invoke above and the paced streams against `mockagent serve` "
    "in memory, with `--state redis://…` in one process, and with `--workers 2` (two processes on one port, "
    "SO_REUSEPORT; RSS and CPU are summed over the workers, the supervisor not counted), each redis-backed server "
    "under a `--name` of its own. The JSON invoke runs twice: all requests in one session (the default, as "
    "clients that name none), then each request naming the next of 8 sessions (`X-Mockagent-Session`), as CI "
    "jobs sharing one mock would. Per request: Redis's calls by command (INFO commandstats, the commands its "
    "scripts run included) and CPU (used_cpu_user + used_cpu_sys), the mock's CPU (utime + stime of "
    "/proc/PID/stat), and the keys and memory Redis gained, each read before and after every measured window "
    "and divided by the requests wrk counted; beside them, 20 requests sent one at a time under MONITOR: the "
    "commands the mock sends, those its scripts run, and how long the session lock is held. A session lock still "
    "held 1 s after a load stopped is counted and deleted (else the next load waits out its 5 s TTL). The "
    "projection is arithmetic on those figures, not a measurement: N replicas, each with a core, and one Redis "
    "core serve the least of N × the 1-process throughput and 1 s ÷ Redis's CPU per request, both of the "
    "8-session load, that cost growing by what the second worker added for each further replica; requests of "
    "one session are bounded by its lock whatever N.",
)


def ensure_python() -> None:
    """Re-run under a Python that has aiohttp and mockagent when this one lacks them."""
    if procs.environment_python_ok():
        return
    python = procs.find_project_python(REPO)
    if python is None:
        sys.exit(
            "bench: this Python cannot import aiohttp and mockagent; run it with the project's virtualenv "
            "(or set MOCKAGENT_PYTHON)"
        )
    os.execv(str(python), [str(python), *sys.argv])


def parse_args(argv: list[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--quick", action="store_true", help="short measurements: a smoke run, under a minute")
    parser.add_argument("--only", choices=[*sorted(phases.PHASES), SOAK], action="append", help="run only this section")
    parser.add_argument("--minutes", type=float, help="the soak's mixed load, in minutes (default 10; 1 with --quick)")
    parser.add_argument("--python-load", action="store_true", help="use the Python load generator even with wrk")
    parser.add_argument("--no-write", action="store_true", help=f"print the table without writing {RESULTS.name}")
    return parser.parse_args(argv)


def main(argv: list[str] | None = None) -> int:
    ensure_python()
    args = parse_args(argv)
    procs.raise_fd_limit()
    started = time.perf_counter()
    selected = args.only or list(phases.PHASES)  # the soak only when asked for: it takes minutes
    measured: dict[str, list[phases.Row]] = {}
    if any(name in phases.PHASES for name in selected):
        plan = phases.Plan.make(WORK, quick=args.quick, force_python=args.python_load)
        print("preparing: scenario files, and the mock's wire captured for the baseline …", flush=True)
        bench = phases.prepare(plan)
        for name, phase in phases.PHASES.items():
            if name in selected:
                print(f"running {name} …", flush=True)
                phase_started = time.perf_counter()
                measured[name] = phase(bench)
                print(f"  {name} done in {time.perf_counter() - phase_started:.0f} s", flush=True)
    if SOAK in selected:
        print("running soak …", flush=True)
        found = soak.soak(soak.SoakPlan.make(args.minutes, args.quick), scenarios.write_all(WORK)["soak"], WORK)
        measured[SOAK] = soak.rows(found)
    elapsed = time.perf_counter() - started
    rows = [row for section in measured.values() for row in section]
    print()
    print(report.text_table(rows))
    print(f"\n{len(rows)} figures in {elapsed:.0f} s")
    if not args.no_write:
        command = shlex.join(["python", "bench/run.py", *(argv if argv is not None else sys.argv[1:])])
        machine = report.machine()
        results = report.load(RESULTS_DATA)
        for name, section in measured.items():
            results[name] = report.Measured(tuple(section), command, elapsed, machine)
        report.save(RESULTS_DATA, results)
        before, before_note = report.load(BEFORE_DATA), report.note(BEFORE_DATA)
        text = report.markdown(results, list(phases.PHASES), NOTES, SOAK, soak.NOTES, before, before_note)
        RESULTS.write_text(text, encoding="utf-8")
        print(f"wrote {RESULTS.relative_to(REPO)} and {RESULTS_DATA.relative_to(REPO)}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
