"""The table: plain text for the terminal, Markdown (with the machine it ran on) for bench/RESULTS.md.

Each section's figures are kept in bench/results.json with the run that measured them, and RESULTS.md is
written from all of them: a run of some sections (`--only json`, `--only soak`) replaces their figures and
keeps the others'."""

from __future__ import annotations

import json
import os
import platform
import re
import shutil
import subprocess
import sys
from collections import Counter
from collections.abc import Callable, Iterable, Sequence
from dataclasses import asdict, dataclass
from datetime import UTC, datetime
from importlib import metadata
from pathlib import Path

import phases
from phases import BARE, MOCK, Row

HEADERS = ("measure", MOCK, BARE, "ratio", "target", "verdict")


def verdict(ok: bool | None) -> str:
    return "" if ok is None else ("pass" if ok else "MISS")


def _cells(row: Row) -> tuple[str, ...]:
    return (row.measure, row.mock, row.bare, row.ratio, row.target, verdict(row.ok))


def _columns(rows: Sequence[Row]) -> list[int]:
    """The columns with something in them (the soak has no baseline, so no bare or ratio column)."""
    return [i for i in range(len(HEADERS)) if i == 0 or any(_cells(row)[i] for row in rows)]


def text_table(rows: Sequence[Row]) -> str:
    columns = _columns(rows)
    widths = {i: max(len(HEADERS[i]), *(len(_cells(r)[i]) for r in rows)) for i in columns}

    def line(cells: Sequence[str]) -> str:
        return "  ".join(cells[i].ljust(widths[i]) for i in columns).rstrip()

    out = [line(HEADERS), "  ".join("-" * widths[i] for i in columns)]
    section = None
    for row in rows:
        if row.section != section:
            section = row.section
            out.append(f"[{section}]")
        out.append(line(_cells(row)))
    return "\n".join(out)


def _escape(cell: str) -> str:
    return cell.replace("|", "\\|")


def markdown_table(rows: Sequence[Row]) -> str:
    columns = _columns(rows)
    out = ["| " + " | ".join(HEADERS[i] for i in columns) + " |", "|" + "---|" * len(columns)]
    section = None
    for row in rows:
        if row.section != section:
            section = row.section
            out.append(f"| **{_escape(section)}** |" + " |" * (len(columns) - 1))
        cells = _cells(row)
        out.append("| " + " | ".join(_escape(cells[i]) for i in columns) + " |")
    return "\n".join(out)


def _cpu_model() -> str:
    try:
        with open("/proc/cpuinfo", encoding="utf-8") as cpuinfo:
            for line in cpuinfo:
                if line.startswith("model name"):
                    return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor() or "unknown"


def _version(package: str) -> str:
    try:
        return metadata.version(package)
    except metadata.PackageNotFoundError:
        return "not installed"


def _wrk_version() -> str:
    wrk = shutil.which("wrk")
    if wrk is None:
        return "not installed (Python load generator used)"
    output = subprocess.run([wrk, "--version"], capture_output=True, text=True, check=False).stdout
    return output.split("Copyright")[0].strip() if output else wrk


def machine() -> dict[str, str]:
    return {
        "date": datetime.now(UTC).strftime("%Y-%m-%d %H:%M UTC"),
        "CPU": f"{os.cpu_count()} × {_cpu_model()}",
        "OS": f"{platform.system()} {platform.release()}",
        "Python": sys.version.split()[0],
        "aiohttp": _version("aiohttp"),
        "mockagent": _version("mockagent"),
        "load generator": _wrk_version(),
    }


# ── the results file ─────────────────────────────────────────────────────────────────────────────────


@dataclass(frozen=True)
class Measured:
    """One section's figures, and the run that measured them."""

    rows: tuple[Row, ...]
    command: str
    seconds: float  # the whole run's
    machine: dict[str, str]

    def as_json(self) -> dict[str, object]:
        return {**asdict(self), "rows": [asdict(row) for row in self.rows]}

    @classmethod
    def from_json(cls, data: dict[str, object]) -> Measured:
        rows = data["rows"]
        assert isinstance(rows, list)
        machine = data["machine"]
        assert isinstance(machine, dict)
        seconds = data["seconds"]
        assert isinstance(seconds, int | float)
        return cls(tuple(Row(**row) for row in rows), str(data["command"]), float(seconds), machine)


def load(path: Path) -> dict[str, Measured]:
    """The sections of a results file (keys beginning with _ are notes about it)."""
    if not path.exists():
        return {}
    data = json.loads(path.read_text(encoding="utf-8"))
    return {name: Measured.from_json(section) for name, section in data.items() if not name.startswith("_")}


def note(path: Path) -> str:
    """What a results file says of itself (its `_measured`), e.g. which commit bench/before.json measured."""
    if not path.exists():
        return ""
    return str(json.loads(path.read_text(encoding="utf-8")).get("_measured", ""))


def save(path: Path, results: dict[str, Measured]) -> None:
    data = {name: section.as_json() for name, section in results.items()}
    path.write_text(json.dumps(data, indent=1, ensure_ascii=False) + "\n", encoding="utf-8")


# ── issue 15: each target, before and after ──────────────────────────────────────────────────────────

_NUMBER = re.compile(r"-?\d[\d,]*(?:\.\d+)?")


def _numbers(cell: str) -> list[float]:
    return [float(found.replace(",", "")) for found in _NUMBER.findall(cell)]


def _ratio(row: Row) -> float | None:
    found = _numbers(row.ratio)
    return found[0] if found else None


def _mock_first(row: Row) -> float | None:
    found = _numbers(row.mock)
    return found[0] if found else None


def _mock_max(row: Row) -> float | None:
    found = _numbers(row.mock)
    return max(found) if found else None


def _mock_p99(row: Row) -> float | None:
    """The second of "p50 / p99 ms"."""
    found = _numbers(row.mock)
    return found[1] if len(found) > 1 else None


@dataclass(frozen=True)
class Target:
    """One target of issue 15, and the row of a run that measures it."""

    name: str
    section: str  # the results section
    measures: tuple[str, ...]  # regular expressions of the row's measure: its name now, then what it was
    figure: Callable[[Row], float | None]
    unit: str
    target: str
    ok: Callable[[float], bool]
    within: str = ""  # the row's section title begins so, where a measure's name repeats (200 or 2,000 streams)

    def find(self, results: dict[str, Measured]) -> tuple[Row, int] | None:
        """The row measuring this target, and which of `measures` named it (0: its name now)."""
        if self.section not in results:
            return None
        for index, pattern in enumerate(self.measures):
            for row in results[self.section].rows:
                if re.fullmatch(pattern, row.measure) and row.section.startswith(self.within):
                    return row, index
        return None

    def shown(self, found: tuple[Row, int] | None) -> tuple[str, float | None]:
        if found is None:
            return "–", None
        row, index = found
        value = self.figure(row)
        if value is None:
            return "–", None
        text = f"{value:g}{self.unit}" if self.unit != "×" else f"{value:.2f}×"
        if self.unit == "×" and row.mock and row.ratio:
            text += f" ({row.mock.split(' / ')[0]} ÷ {row.bare})"
        if index:
            text += f" [{row.measure}]"
        return text, value


_COLD = re.escape(phases.COLD_FIRST_REQUEST) + r", median of \d+ \(4 agents\)"
_COLD_HEALTH = r"spawn → first 200 on /__mockagent/health, median of \d+ \(4 agents\)"
ISSUE_15 = (
    Target(
        "JSON invoke, 1 scenario (journal off)",
        "json",
        (re.escape("1 scenario, journal off (--journal-size 0): throughput"),),
        _ratio,
        "×",
        f"≥ {phases.JSON_TARGET}× bare",
        lambda v: v >= phases.JSON_TARGET,
    ),
    Target(
        "JSON invoke, 1,000 scenarios (journal off)",
        "json",
        (re.escape("1,000 scenarios, journal off: throughput"),),
        _ratio,
        "×",
        f"≥ {phases.JSON_TARGET}× bare",
        lambda v: v >= phases.JSON_TARGET,
    ),
    Target(
        "JSON invoke, flat: 1,000 ÷ 1 scenario",
        "json",
        (re.escape("flatness: throughput 1,000 ÷ 1 scenario"),),
        _mock_first,
        "×",
        "within 10 %",
        lambda v: abs(v - 1) <= 0.10,
    ),
    Target(
        "JSON invoke with the full journal, 1 scenario",
        "json",
        (re.escape("1 scenario: throughput"),),
        _ratio,
        "×",
        f"≥ {phases.JOURNAL_TARGET}× bare",
        lambda v: v >= phases.JOURNAL_TARGET,
    ),
    Target(
        "JSON invoke with the full journal, 1,000 scenarios",
        "json",
        (re.escape("1,000 scenarios: throughput"),),
        _ratio,
        "×",
        f"≥ {phases.JOURNAL_TARGET}× bare",
        lambda v: v >= phases.JOURNAL_TARGET,
    ),
    Target(
        "SSE unpaced, 20 frames a stream",
        "sse",
        (re.escape("streams: throughput"),),
        _ratio,
        "×",
        f"≥ {phases.SSE_TARGET}× bare",
        lambda v: v >= phases.SSE_TARGET,
    ),
    Target(
        "100 ms delay under the JSON load: overshoot p99",
        "timing",
        (re.escape("100 ms delay: overshoot p50 / p99 (headers → chunk)"),),
        _mock_p99,
        " ms",
        f"≤ {phases.OVERSHOOT_TARGET * 1000:g} ms",
        lambda v: v <= phases.OVERSHOOT_TARGET * 1000,
    ),
    Target(
        "2,000 paced streams at once: peak RSS",
        "paced",
        ("peak RSS",),
        _mock_first,
        " MB",
        f"≤ {phases.PACED_RSS_TARGET} MB",
        lambda v: v <= phases.PACED_RSS_TARGET,
        within="SSE paced: 2,000 streams",
    ),
    Target(
        "RSS after the sustained JSON load (journal full / off: the larger)",
        "json",
        (re.escape("RSS after the load: journal full (1,000 entries kept) / off"),),
        _mock_max,
        " MB",
        f"≤ {phases.LOADED_RSS_TARGET} MB",
        lambda v: v <= phases.LOADED_RSS_TARGET,
    ),
    Target(
        "Cold start, first request included",
        "cold",
        (_COLD, _COLD_HEALTH),
        _ratio,
        "×",
        f"≤ {phases.COLD_TARGET}× bare",
        lambda v: v <= phases.COLD_TARGET,
    ),
)


def targets_table(before: dict[str, Measured], after: dict[str, Measured]) -> str:
    """Issue 15's targets: the figure before the issue, now, the target and whether it is met."""
    out = ["| target | before | after | target | verdict |", "|---|---|---|---|---|"]
    for target in ISSUE_15:
        was, _ = target.shown(target.find(before))
        now, value = target.shown(target.find(after))
        ok = None if value is None else target.ok(value)
        out.append(
            f"| {_escape(target.name)} | {_escape(was)} | {_escape(now)} | {_escape(target.target)} | {verdict(ok)} |"
        )
    return "\n".join(out)


def _runs(sections: Iterable[Measured]) -> list[tuple[str, str, float]]:
    """The runs that measured `sections` (command, date, seconds), the one that measured most first."""
    counts = Counter((s.command, s.machine["date"], s.seconds) for s in sections)
    return [run for run, _ in counts.most_common()]


def _machine(machine: dict[str, str]) -> str:
    return "\n".join(f"- {name}: {value}" for name, value in machine.items())


def _before_block(before: dict[str, Measured], before_note: str, results: dict[str, Measured]) -> list[str]:
    if not before:
        return []
    first = next(iter(before.values()))
    shown = next(iter(results.values())).machine if results else {}
    differs = {k: v for k, v in first.machine.items() if k not in ("date", "mockagent") and shown.get(k) != v}
    where = "on the same machine as the figures below" if not differs else "on:\n\n" + _machine(differs) + "\n"
    return [
        "## Issue 15 targets: before → after\n",
        f"Before: `bench/before.json`, {before_note or 'the run before issue 15'}; {where}. After: the figures "
        "below. A ratio is mockagent ÷ bare aiohttp in the same run (the two throughputs in brackets); where the "
        "before run measured a target under another name, that name is shown in square brackets.\n",
        targets_table(before, results) + "\n",
    ]


def markdown(
    results: dict[str, Measured],
    order: Sequence[str],
    notes: Sequence[str],
    soak: str,
    soak_notes: Sequence[str],
    before: dict[str, Measured] | None = None,
    before_note: str = "",
) -> str:
    """RESULTS.md: issue 15's targets before and after, the benchmark's sections in `order`, then the soak's
    block, each with its notes."""
    main = [results[name] for name in order if name in results]
    out = ["# mockagent benchmark results\n", *_before_block(before or {}, before_note, results)]
    if main:
        (command, _, seconds), *later = _runs(main)
        again = "".join(
            f"\nSome rows were measured again since, by `{c}` ({date}): "
            + ", ".join(f"{name}" for name in order if name in results and results[name].command == c)
            + "."
            for c, date, _ in later
        )
        newest = max(main, key=lambda section: section.machine["date"])
        out += [
            f"""Produced by `{command}` in {seconds:.0f} s. Absolute figures hold only for the machine below; the ratios
compare mockagent with a bare aiohttp server doing the same wire work (same JSON body, same SSE frames),
started by the benchmark itself in the same run.{again}
""",
            _machine(newest.machine) + "\n",
            markdown_table([row for section in main for row in section.rows]) + "\n",
            "\n".join(f"- {note}" for note in notes) + "\n",
        ]
    if soak in results:
        measured = results[soak]
        shown = main[-1].machine if main else {}
        differs = {k: v for k, v in measured.machine.items() if k != "date" and shown.get(k) != v}
        where = "on the machine above." if not differs else "on:\n\n" + _machine(differs)
        out += [
            "## Soak\n",
            f"Produced by `{measured.command}` in {measured.seconds:.0f} s ({measured.machine['date']}), {where}\n",
            markdown_table(measured.rows) + "\n",
            "\n".join(f"- {note}" for note in soak_notes) + "\n",
        ]
    return "\n".join(out)
