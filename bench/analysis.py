"""Turning the load generator's time-stamped exchanges into the figures the table shows."""

from __future__ import annotations

import itertools
import math
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from typing import Any

NO_TOKEN = -1  # a frame without a scripted chunk (start or status frames)
MANY_TOKENS = -2  # a summary frame that repeats the whole text (BeeOS's `done`)


def percentile(values: Sequence[float], q: float) -> float:
    """Nearest-rank percentile; NaN for no values."""
    if not values:
        return math.nan
    ordered = sorted(values)
    rank = max(1, math.ceil(q / 100 * len(ordered)))
    return ordered[rank - 1]


def frame_schedule(tokens: Iterable[int], chunk_times: Sequence[float]) -> list[float]:
    """When each frame of a stream is due (seconds after it opens), from the chunk each one carries:
    frames before the first chunk are due at once, a summary frame with the last chunk."""
    due = 0.0
    schedule = []
    for token in tokens:
        if token >= 0:
            due = chunk_times[token]
        elif token == MANY_TOKENS:
            due = chunk_times[-1]
        schedule.append(due)
    return schedule


@dataclass(frozen=True)
class StreamStats:
    """What a set of streams of one scripted agent did."""

    started: int
    completed: int  # every chunk arrived and the response ended with a 2xx status
    total_p50: float  # request sent → response complete
    total_p99: float
    head_p50: float  # request sent → response headers
    head_p99: float
    stream_p50: float  # response headers → response complete
    stream_p99: float
    schedule_error_p50: float  # a chunk's arrival after the headers minus its scripted moment
    schedule_error_p99: float
    gap_error_p50: float  # |observed - scripted| gap between consecutive chunks
    gap_error_p99: float
    first_chunk_late_p50: float  # the first chunk's schedule error (the scripted delay's overshoot)
    first_chunk_late_p99: float
    first_chunk_e2e_p50: float  # request sent → first chunk, minus its scripted moment
    first_chunk_e2e_p99: float


def _chunks(exchange: dict[str, Any]) -> list[tuple[float, int]]:
    return [(at, token) for at, token in exchange["frames"] if token >= 0]


def _complete(exchange: dict[str, Any], chunk_count: int) -> bool:
    ok = exchange["end"] is not None and 200 <= exchange["status"] < 300
    return ok and {token for _, token in _chunks(exchange)} == set(range(chunk_count))


def stream_stats(exchanges: Sequence[dict[str, Any]], chunk_times: Sequence[float]) -> StreamStats:
    complete = [e for e in exchanges if _complete(e, len(chunk_times))]
    totals = [e["end"] - e["sent"] for e in complete]
    heads = [e["head"] - e["sent"] for e in complete]
    streams = [e["end"] - e["head"] for e in complete]
    schedule_errors: list[float] = []
    gap_errors: list[float] = []
    first_late: list[float] = []
    first_e2e: list[float] = []
    for exchange in complete:
        chunks = _chunks(exchange)
        head = exchange["head"]
        schedule_errors += [(at - head) - chunk_times[token] for at, token in chunks]
        gap_errors += [
            abs((b_at - a_at) - (chunk_times[b] - chunk_times[a]))
            for (a_at, a), (b_at, b) in itertools.pairwise(chunks)
        ]
        first_at, first = chunks[0]
        first_late.append((first_at - head) - chunk_times[first])
        first_e2e.append((first_at - exchange["sent"]) - chunk_times[first])
    return StreamStats(
        started=len(exchanges),
        completed=len(complete),
        total_p50=percentile(totals, 50),
        total_p99=percentile(totals, 99),
        head_p50=percentile(heads, 50),
        head_p99=percentile(heads, 99),
        stream_p50=percentile(streams, 50),
        stream_p99=percentile(streams, 99),
        schedule_error_p50=percentile(schedule_errors, 50),
        schedule_error_p99=percentile(schedule_errors, 99),
        gap_error_p50=percentile(gap_errors, 50),
        gap_error_p99=percentile(gap_errors, 99),
        first_chunk_late_p50=percentile(first_late, 50),
        first_chunk_late_p99=percentile(first_late, 99),
        first_chunk_e2e_p50=percentile(first_e2e, 50),
        first_chunk_e2e_p99=percentile(first_e2e, 99),
    )


@dataclass(frozen=True)
class Fit:
    """A least-squares line through (x, y) points, and how far the points stray from it."""

    slope: float
    intercept: float
    residual_sd: float  # the standard deviation of the points about the line
    slope_se: float  # the slope's standard error (as if the points strayed independently)


def linear_fit(xs: Sequence[float], ys: Sequence[float]) -> Fit:
    """The least-squares line through the points (at least two, with different xs)."""
    count = len(xs)
    mean_x, mean_y = sum(xs) / count, sum(ys) / count
    spread = sum((x - mean_x) ** 2 for x in xs)
    slope = sum((x - mean_x) * (y - mean_y) for x, y in zip(xs, ys, strict=True)) / spread
    intercept = mean_y - slope * mean_x
    residuals = [y - (intercept + slope * x) for x, y in zip(xs, ys, strict=True)]
    residual_sd = math.sqrt(sum(r * r for r in residuals) / max(1, count - 2))
    return Fit(slope, intercept, residual_sd, residual_sd / math.sqrt(spread))
