"""The table: plain text for the terminal, Markdown (with the machine it ran on) for bench/RESULTS.md."""

from __future__ import annotations

import os
import platform
import shutil
import subprocess
import sys
from collections.abc import Sequence
from datetime import UTC, datetime
from importlib import metadata

from phases import BARE, MOCK, Row

HEADERS = ("measure", MOCK, BARE, "ratio", "target", "verdict")


def verdict(ok: bool | None) -> str:
    return "" if ok is None else ("pass" if ok else "MISS")


def _cells(row: Row) -> tuple[str, ...]:
    return (row.measure, row.mock, row.bare, row.ratio, row.target, verdict(row.ok))


def text_table(rows: Sequence[Row]) -> str:
    widths = [max(len(HEADERS[i]), *(len(_cells(r)[i]) for r in rows)) for i in range(len(HEADERS))]

    def line(cells: Sequence[str]) -> str:
        return "  ".join(cell.ljust(width) for cell, width in zip(cells, widths, strict=True)).rstrip()

    out = [line(HEADERS), "  ".join("-" * w for w in widths)]
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
    out = ["| " + " | ".join(HEADERS) + " |", "|" + "---|" * len(HEADERS)]
    section = None
    for row in rows:
        if row.section != section:
            section = row.section
            out.append(f"| **{_escape(section)}** |" + " |" * (len(HEADERS) - 1))
        out.append("| " + " | ".join(_escape(cell) for cell in _cells(row)) + " |")
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


def markdown(rows: Sequence[Row], command: str, seconds: float, notes: Sequence[str]) -> str:
    info = "\n".join(f"- {name}: {value}" for name, value in machine().items())
    note_lines = "\n".join(f"- {note}" for note in notes)
    return f"""# mockagent benchmark results

Produced by `{command}` in {seconds:.0f} s. Absolute figures hold only for the machine below; the ratios
compare mockagent with a bare aiohttp server doing the same wire work (same JSON body, same SSE frames),
started by the benchmark itself in the same run.

{info}

{markdown_table(rows)}

{note_lines}
"""
