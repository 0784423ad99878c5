"""How a server is set up: the CLI and the pytest plugin both build `Settings`."""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path

from mockagent.clock import Clock, ManualClock, RealClock
from mockagent.faults import FaultRule
from mockagent.journal import JOURNAL_BUDGET, JOURNAL_SIZE
from mockagent.model import PlatformKey
from mockagent.replay.modes import RecordMode, Repeat
from mockagent.scenarios import ScenarioSet, load_paths
from mockagent.scenarios.stubs import ServedRoute
from mockagent.sessions import MAX_SESSIONS
from mockagent.store import STORE_LIMIT

BUILTIN_SCENARIOS = Path(__file__).parent / "_builtin_scenarios"


@dataclass(frozen=True)
class Settings:
    """How a server is set up; the CLI and the pytest plugin both build one."""

    scenario_paths: tuple[Path, ...] = ()
    with_builtin: bool = False
    watch: bool = False  # reload whenever a file of `scenario_paths` changes (`serve --watch`)
    platforms: tuple[PlatformKey, ...] = tuple(PlatformKey)
    root_platform: PlatformKey | None = None  # serve this one platform at the root
    speed: float = 1.0
    manual_clock: bool = False
    fault_rules: tuple[FaultRule, ...] = ()  # server-wide: --fault, --rate-limit
    chaos: float = 0.0  # --chaos RATE: the share of requests that get a fault from the catalogue
    seed: int = 0  # --seed: makes chaos (and latency samples) repeat for the same request order
    store_limit: int = STORE_LIMIT  # runs (conversations, tasks …) each session keeps
    max_sessions: int = MAX_SESSIONS
    # The journal (docs/admin.md#journal): entries and bytes each session keeps (a size of 0 turns it off),
    # and a JSON Lines file every answered request is appended to.
    journal_size: int = JOURNAL_SIZE
    journal_budget: int = JOURNAL_BUDGET
    journal_file: Path | None = None
    # Record and replay (docs/recording.md): where cassettes are, and what happens to a request.
    cassettes: Path | None = None
    record_mode: RecordMode = RecordMode.NONE
    upstreams: tuple[tuple[PlatformKey, str], ...] = ()  # the real API of each platform, for recording
    repeat: Repeat = Repeat.LAST
    replay_asap: bool = False
    prefer_scenarios: bool = False
    cassette: str | None = None  # the default session's cassette name (the pytest fixture: the test's id)
    redaction: Path | None = None  # a file of more headers, fields and patterns to redact
    redact_headers: tuple[str, ...] = ()
    redact_fields: tuple[str, ...] = ()
    redact_patterns: tuple[tuple[str, str], ...] = ()  # (name, regex)
    # The admin API (docs/admin.md): served or not, its token, and the Host names it answers for besides
    # loopback names and IP addresses.
    admin_api: bool = True
    admin_token: str | None = field(default=None, repr=False)
    allowed_hosts: tuple[str, ...] = ()
    # The connections (CHOSEN; real seconds, whatever the clock; see mockagent/connections.py):
    header_timeout: float = 20.0  # for a request head to arrive whole, from its first byte
    body_timeout: float = 60.0  # for a request body to arrive whole, once its handler reads it
    idle_timeout: float = 75.0  # a keep-alive connection with no request in it is closed after this
    write_timeout: float = 60.0  # a client that takes nothing we send for this long is cut off
    max_connections: int = 4096  # open at once (lowered to what the file-descriptor limit allows)
    # Where the sessions' state lives (docs/deploy.md): this process (None), or Redis at this URL, shared by
    # every process of the server called `name`.
    state: str | None = None
    name: str = "mockagent"

    def scenario_sources(self) -> list[Path]:
        paths = list(self.scenario_paths)
        # The demo agents come when nothing else is asked for; with cassettes, only when asked for.
        if self.with_builtin or (not paths and self.cassettes is None):
            paths.insert(0, BUILTIN_SCENARIOS)
        return paths

    @property
    def scenarios_answer(self) -> bool:
        """Whether scenarios answer what no cassette does (with cassettes: only when some were asked for)."""
        return bool(self.scenario_paths) or self.with_builtin

    def make_clock(self, epoch: float | None = None) -> Clock:
        return ManualClock() if self.manual_clock else RealClock(self.speed, epoch)

    def served(self) -> tuple[PlatformKey, ...]:
        return (self.root_platform,) if self.root_platform else self.platforms


def load_scenarios(settings: Settings) -> ScenarioSet:
    """The scenario files the settings name, raw stubs checked against the routes of the platforms served."""

    def routes() -> list[ServedRoute]:
        from mockagent.platforms import served_routes  # imported only when a file has stubs

        return served_routes(settings.served())

    return load_paths(settings.scenario_sources(), routes)
