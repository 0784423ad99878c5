"""Verdicts on a client's behaviour, read from the journal (and a session's runs): did it back off after a
429, stop polling a finished run, poll no faster than it should, retry a turn with its idempotency key,
resume a stream where it broke off, and answer every pause for a human. Each is a function of the entries
(oldest first) returning a `Verdict`; their exact definitions are in docs/testing.md#verdicts.

Entries are compared inside the process, where their credentials are still whole: two requests are the same
client's when they carry the same `Authorization` (or `x-api-key`) value. No verdict's message shows one.
Where the processes of a server share Redis, the verdicts read every process's entries back from the journal
kept there (`Entry.from_json`), whose headers are redacted: two of those are the same client's when they
carry the same digest of that value (`Entry.as_kept`), which is written in its place. The entries are ones or
the others, never both, so a raw value is never compared with a digest.
"""

from __future__ import annotations

import itertools
import math
from collections import defaultdict
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from mockagent.journal import Entry, State, credential_of
from mockagent.model import Paused, Resumed
from mockagent.runs import Run, RunStatus
from mockagent.verification import describe

#: The endpoints (route names) that start a turn, and those that poll one run's status.
TURN_ENDPOINTS = frozenset({"invoke_agent", "create_task", "start_task", "stream_task", "chat"})
POLL_ENDPOINTS = frozenset({"get_task", "get_run", "get_conversation"})
_POLL_RPC = "/rpc/runs_get"  # AgentOS's control plane (the SDK's aos.runs.get) polls with a POST
#: Where a turn-starting request carries its idempotency key: BeeOS's body field, or the common header.
IDEMPOTENCY_FIELD = "idempotency_key"
IDEMPOTENCY_HEADER = "Idempotency-Key"
CLOCKS = ("real", "session")


@dataclass(frozen=True, slots=True)
class Verdict:
    """Truthy when passed; its `str` and `repr` are its message, so that ``assert verdict`` shows why."""

    name: str
    passed: bool
    message: str
    evidence: tuple[int, ...] = ()  # ids of the journal entries the message is about

    def __bool__(self) -> bool:
        return self.passed

    def __str__(self) -> str:
        return self.message

    def __repr__(self) -> str:
        return self.message

    def as_json(self) -> dict[str, Any]:
        return {"verdict": self.name, "passed": self.passed, "message": self.message, "evidence": list(self.evidence)}


class VerdictError(ValueError):
    """An unknown verdict, or an option it does not take or cannot read; `option` names the option."""

    def __init__(self, message: str, option: str | None = None) -> None:
        super().__init__(message)
        self.option = option


# ── reading entries ─────────────────────────────────────────────────────────────────────────────


def credential(entry: Entry) -> str | None:
    """What tells the entry's client: its credential, or — read back from Redis, where none is kept — the
    digest kept in its place."""
    if entry.kept:
        return entry.client
    return credential_of(entry.request_headers)


def _same_client(a: Entry, b: Entry) -> bool:
    return a.session == b.session and credential(a) == credential(b)


def retry_after(entry: Entry) -> int | None:
    raw = (entry.response_headers or {}).get("Retry-After")
    try:
        return int(raw) if raw is not None else None
    except ValueError:
        return None  # an HTTP date: the mock never sends one


def _gap(earlier: float | None, later: float | None) -> float | None:
    return None if earlier is None or later is None else later - earlier


def _after_end(first: Entry, then: Entry, clock: str) -> float | None:
    """Seconds from the end of `first`'s answer to the arrival of `then`, on the real or the session clock."""
    if clock == "session":
        return _gap(first.ended, then.received)
    return _gap(first.real_ended, then.real_received)


def _between_starts(first: Entry, then: Entry, clock: str) -> float:
    if clock == "session":
        return then.received - first.received
    return then.real_received - first.real_received


def _seconds(value: float) -> str:
    return f"{value:.3f} s"


def _clock_name(clock: str) -> str:
    return "real seconds" if clock == "real" else "session-clock seconds"


def is_poll(entry: Entry) -> bool:
    if entry.run is None or entry.frames is not None:
        return False
    if entry.method == "GET" and entry.endpoint in POLL_ENDPOINTS:
        return True
    return entry.method == "POST" and entry.endpoint == "call_rpc" and entry.path.endswith(_POLL_RPC)


def _ok(entry: Entry) -> bool:
    return entry.status is not None and 200 <= entry.status < 300 and entry.state is State.ANSWERED


def _terminal(status: str | None) -> bool:
    return status is not None and RunStatus(status).is_terminal


# ── the verdicts ────────────────────────────────────────────────────────────────────────────────


def backed_off(entries: Sequence[Entry], *, clock: str = "real") -> Verdict:
    """After each 429 with ``Retry-After: N``, the same client's next request (in the same conversation, if
    the 429 had one) came at least N seconds after the 429 ended."""
    name = "backed_off"
    checked: list[int] = []
    for index, refused in enumerate(entries):
        wait = retry_after(refused) if refused.status == 429 else None
        if wait is None or not refused.done:
            continue
        following = next(
            (
                then
                for then in entries[index + 1 :]
                if _same_client(refused, then)
                and (refused.conversation is None or then.conversation == refused.conversation)
            ),
            None,
        )
        checked.append(refused.id)
        if following is None:
            continue  # it gave up, which is backing off too
        gap = _after_end(refused, following, clock)
        if gap is not None and gap < wait:
            return Verdict(
                name,
                False,
                f"the client did not back off: {describe(refused)} said Retry-After: {wait}, but "
                f"{describe(following)} came {_seconds(gap)} later ({_clock_name(clock)})",
                (refused.id, following.id),
            )
    if not checked:
        return Verdict(name, True, "no request was answered 429 with a Retry-After: nothing to back off from")
    return Verdict(
        name, True, f"the client waited out the Retry-After of each of {len(checked)} 429 answer(s)", tuple(checked)
    )


def _polls_by_run(entries: Sequence[Entry]) -> dict[tuple[str, str], list[Entry]]:
    polls: dict[tuple[str, str], list[Entry]] = defaultdict(list)
    for entry in entries:
        if is_poll(entry) and entry.run is not None:
            polls[(entry.session, entry.run)].append(entry)
    return polls


def stopped_polling(entries: Sequence[Entry]) -> Verdict:
    """Once a poll of a run was answered with the run in a terminal state, that run was not polled again."""
    name = "stopped_polling"
    polls = _polls_by_run(entries)
    for (_, run), seen in polls.items():
        final = next((poll for poll in seen if _ok(poll) and _terminal(poll.run_status)), None)
        if final is None:
            continue
        # After it in the journal's order: ids tell that within one process only (each has its own).
        again = seen[seen.index(final) + 1 :]
        if again:
            return Verdict(
                name,
                False,
                f"the client polled run {run} {len(again)} more time(s) after {describe(final)} showed it "
                f"{final.run_status}: first {describe(again[0])}",
                (final.id, *(poll.id for poll in again)),
            )
    return Verdict(name, True, f"no run was polled after a poll showed it over ({len(polls)} run(s) polled)")


def polled_no_faster(entries: Sequence[Entry], *, min_interval: float, clock: str = "real") -> Verdict:
    """Consecutive polls of one run arrived at least `min_interval` seconds apart."""
    name = "polled_no_faster"
    polls = _polls_by_run(entries)
    for (_, run), seen in polls.items():
        for first, then in itertools.pairwise(seen):
            gap = _between_starts(first, then, clock)
            if gap < min_interval:
                return Verdict(
                    name,
                    False,
                    f"the client polled run {run} too fast: {describe(first)} then {describe(then)} "
                    f"{_seconds(gap)} later ({_clock_name(clock)}), less than {min_interval:g}",
                    (first.id, then.id),
                )
    return Verdict(name, True, f"every run was polled at most once each {min_interval:g} s ({len(polls)} run(s))")


def _key(entry: Entry) -> str | None:
    body = entry.body_json()
    if isinstance(body, dict) and isinstance(body.get(IDEMPOTENCY_FIELD), str):
        return str(body[IDEMPOTENCY_FIELD])
    return (entry.request_headers or {}).get(IDEMPOTENCY_HEADER)


def _without_key(entry: Entry) -> Any:
    body = entry.body_json()
    if isinstance(body, dict):
        return {name: value for name, value in body.items() if name != IDEMPOTENCY_FIELD}
    return body if body is not None else entry.request_body


def _failed(entry: Entry) -> bool:
    return entry.state is State.CLOSED or (entry.status is not None and (entry.status >= 500 or entry.status == 429))


def idempotent_retries(entries: Sequence[Entry]) -> Verdict:
    """A turn-starting request that failed (5xx, 429, or closed by the client) and was sent again (same
    endpoint, agent and client, same body apart from the key) was retried with its idempotency key, and
    the retry started no second run."""
    name = "idempotent_retries"
    turns = [entry for entry in entries if entry.endpoint in TURN_ENDPOINTS and entry.done]
    bodies = [_without_key(turn) for turn in turns]  # each parsed once, whatever the number of failures
    retries = 0
    for index, failed in enumerate(turns):
        if not _failed(failed):
            continue
        retry = next(
            (
                turns[later]
                for later in range(index + 1, len(turns))
                if _same_client(failed, turns[later])
                and turns[later].platform == failed.platform
                and turns[later].endpoint == failed.endpoint
                and turns[later].agent == failed.agent
                and bodies[later] == bodies[index]
            ),
            None,
        )
        if retry is None:
            continue
        retries += 1
        first_key, retry_key = _key(failed), _key(retry)
        if first_key is None or retry_key != first_key:
            sent = "no idempotency key" if first_key is None else "a key"
            again = "none" if retry_key is None else "another one" if first_key is not None else "one"
            return Verdict(
                name,
                False,
                f"a retry did not reuse the idempotency key: {describe(failed)} failed having sent {sent}, and "
                f"its retry {describe(retry)} sent {again}",
                (failed.id, retry.id),
            )
        if failed.run is not None and retry.run is not None and retry.run != failed.run:
            return Verdict(
                name,
                False,
                f"a retry started a second run: {describe(failed)} started run {failed.run}, its retry "
                f"{describe(retry)} started run {retry.run}",
                (failed.id, retry.id),
            )
    return Verdict(name, True, f"each of {retries} retried turn(s) reused its idempotency key and started one run")


def frame_ids(entry: Entry) -> list[str]:
    """The ``id:`` of each event a stream's entry delivered, in order."""
    found: list[str] = []
    for _, raw in entry.frames or ():
        for line in raw.decode("utf-8", "replace").splitlines():
            if line.startswith("id:"):
                found.append(line[3:].removeprefix(" "))
    return found


def resume_point(entry: Entry) -> str | None:
    """Where a stream request asked to start: its ``Last-Event-ID``, else its ``since``."""
    header = (entry.request_headers or {}).get("Last-Event-ID")
    if header is not None:
        return header
    return (entry.query or {}).get("since")


def resumed_streams(entries: Sequence[Entry]) -> Verdict:
    """Each stream of a run opened again after an earlier one carried ``Last-Event-ID`` (or ``since``) equal
    to the id of the last event the earlier stream delivered."""
    name = "resumed_streams"
    streams: dict[tuple[str, str], list[Entry]] = defaultdict(list)
    for entry in entries:
        if entry.run is not None and entry.method == "GET" and entry.frames is not None:
            streams[(entry.session, entry.run)].append(entry)
    resumed = 0
    for (_, run), seen in streams.items():
        for first, then in itertools.pairwise(seen):
            ids = frame_ids(first)
            if not ids:
                continue  # nothing was delivered: starting over loses nothing
            resumed += 1
            asked = resume_point(then)
            if asked != ids[-1]:
                shown = "neither Last-Event-ID nor since" if asked is None else f"{asked!r}"
                return Verdict(
                    name,
                    False,
                    f"a stream of run {run} was not resumed where it broke off: {describe(first)} delivered "
                    f"up to id {ids[-1]!r}, but {describe(then)} asked for {shown}",
                    (first.id, then.id),
                )
    return Verdict(name, True, f"each of {resumed} reconnected stream(s) resumed after its last delivered event")


def resumed_pauses(entries: Sequence[Entry], runs: Iterable[Run]) -> Verdict:
    """Every run that paused for a human (approval or input) was resumed — a decision the platform accepted
    (the run's timeline has it) — and was not left paused, expired or ended while it waited."""
    name = "resumed_pauses"
    by_run: dict[str, list[Entry]] = defaultdict(list)
    for entry in entries:
        if entry.run is not None:
            by_run[entry.run].append(entry)
    paused = 0
    for run in runs:
        timeline = run.visible()
        waiting = False
        for timed in timeline:
            if isinstance(timed.event, Paused):
                waiting, paused = True, paused + 1
            elif isinstance(timed.event, Resumed):
                waiting = False
        if not waiting:
            continue
        seen = by_run.get(run.id, [])
        refused = [e for e in seen if e.method != "GET" and e.status is not None and 400 <= e.status < 500]
        status = run.status()
        left = "left paused" if status is RunStatus.PAUSED else f"{status.value} while it waited"
        message = f"run {run.id} of agent {run.agent.id} paused for a human and was never resumed ({left})"
        if refused:
            message += "; resume attempt(s) refused: " + ", ".join(describe(e) for e in refused)
        return Verdict(name, False, message, tuple(e.id for e in (refused or seen)))
    return Verdict(name, True, f"each of {paused} pause(s) for a human was resumed")


# ── by name ─────────────────────────────────────────────────────────────────────────────────────


def _clock(value: object) -> str:
    if value not in CLOCKS:
        raise VerdictError(f"clock is real or session, not {str(value)[:40]!r}", "clock")
    return str(value)


def _interval(value: object) -> float:
    try:
        seconds = float(value) if isinstance(value, int | float | str) and not isinstance(value, bool) else math.nan
    except ValueError:
        seconds = math.nan
    if not (seconds >= 0 and math.isfinite(seconds)):
        raise VerdictError("min_interval is a number of seconds, 0 or more", "min_interval")
    return seconds


@dataclass(frozen=True, slots=True)
class Kind:
    """A verdict by name: how to judge, the options it takes (each read by its parser), which it needs."""

    judge: Callable[..., Verdict]
    options: Mapping[str, Callable[[object], Any]]
    required: frozenset[str] = frozenset()
    needs_runs: bool = False


VERDICTS: dict[str, Kind] = {
    "backed_off": Kind(backed_off, {"clock": _clock}),
    "stopped_polling": Kind(stopped_polling, {}),
    "polled_no_faster": Kind(
        polled_no_faster, {"min_interval": _interval, "clock": _clock}, frozenset({"min_interval"})
    ),
    "idempotent_retries": Kind(idempotent_retries, {}),
    "resumed_streams": Kind(resumed_streams, {}),
    "resumed_pauses": Kind(resumed_pauses, {}, needs_runs=True),
}


def judge(name: str, entries: Sequence[Entry], runs: Iterable[Run], options: Mapping[str, object]) -> Verdict:
    """The verdict called `name` on `entries` (oldest first), its options read from Python values or the
    strings of a query."""
    kind = VERDICTS.get(name)
    if kind is None:
        raise VerdictError(f"no verdict {name[:60]!r}; the verdicts are {', '.join(VERDICTS)}")
    for option in options:
        if option not in kind.options:
            takes = ", ".join(kind.options) or "none"
            raise VerdictError(f"{name} takes no option {option[:40]!r} (its options: {takes})", option)
    missing = kind.required - options.keys()
    if missing:
        option = sorted(missing)[0]
        raise VerdictError(f"{name} needs the option {option}", option)
    read = {option: kind.options[option](value) for option, value in options.items()}
    if kind.needs_runs:
        return kind.judge(entries, runs, **read)
    return kind.judge(entries, **read)
