"""The table: plain text for the terminal, Markdown (with the machine it ran on) for bench/RESULTS.md.

Each section's figures are kept in bench/results.json with the run that measured them, and RESULTS.md is
written from all of them: a run of some sections (`--only json`, `--only soak`) replaces their figures and
keeps the others'."""

from __future__ import annotations

import json
import os
import platform
import shutil
import subprocess
import sys
from collections import Counter
from collections.abc import Iterable, Sequence
from dataclasses import asdict, dataclass
from datetime import UTC, datetime
from importlib import metadata
from pathlib import Path

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
    if not path.exists():
        return {}
    data = json.loads(path.read_text(encoding="utf-8"))
    return {name: Measured.from_json(section) for name, section in data.items()}


def save(path: Path, results: dict[str, Measured]) -> None:
    data = {name: section.as_json() for name, section in results.items()}
    path.write_text(json.dumps(data, indent=1, ensure_ascii=False) + "\n", encoding="utf-8")


def _runs(sections: Iterable[Measured]) -> list[tuple[str, str, float]]:
    """The runs that measured `sections` (command, date, seconds), the one that measured most first."""
    counts = Counter((s.command, s.machine["date"], s.seconds) for s in sections)
    return [run for run, _ in counts.most_common()]


def _machine(machine: dict[str, str]) -> str:
    return "\n".join(f"- {name}: {value}" for name, value in machine.items())


def markdown(
    results: dict[str, Measured], order: Sequence[str], notes: Sequence[str], soak: str, soak_notes: Sequence[str]
) -> str:
    """RESULTS.md: the benchmark's sections in `order`, then the soak's block, each with its notes."""
    main = [results[name] for name in order if name in results]
    out = ["# mockagent benchmark results\n"]
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
