"""The pytest plugin: a mockagent server per test, on a free loopback port.

    def test_echo(mockagent_server):
        url = mockagent_server.base_url("beeos")          # http://127.0.0.1:PORT/beeos
        ...

    @pytest.mark.mockagent(scenarios=["tests/scenarios/mine.yaml"], manual_clock=True)
    async def test_slow(mockagent_aserver):
        await mockagent_aserver.advance(30)                # 30 s of clock time, instantly

    @pytest.mark.mockagent(manual_clock=True)
    def test_blocking(mockagent_server):
        reply = mockagent_server.advance_during(lambda: httpx.post(...), 3)   # the call waits, the clock moves

Marker keywords: ``scenarios`` (paths; default: the built-in demo agents), ``with_builtin``, ``watch``
(reload the scenario files when one changes, as ``serve --watch`` does),
``manual_clock``, ``speed``, ``platform`` (serve one platform at the root), ``faults`` (fault specs applied
to every request), ``rate_limit`` ("60/min"), ``chaos`` and ``seed``; ``allow_unmatched`` (a request nothing
answered does not fail the test) and ``session`` (the session the verification helpers read by default;
None: every session). Override the ``mockagent_settings`` fixture to set the server's for a whole module or
conftest.

What the test's clients did: ``server.journal(method=…, path=…, body=…)``, ``server.assert_called(…, n=2)``,
``assert server.verdict("backed_off")`` (docs/testing.md#verifying-what-the-client-did). A request nothing
answered fails the test at teardown, with why, unless the marker says ``allow_unmatched=True``.

Each test gets a server of its own, so it starts from a clean state; within a test, requests carrying
``X-Mockagent-Session: NAME`` live apart from the rest, and ``server.reset(NAME)`` clears one session.
Scenario states are read and set per session: ``server.states(session=NAME)``, ``server.set_state("checkout",
"paid", session=NAME)``, ``server.reset_states(session=NAME)`` (docs/scenarios.md#states).
At teardown the server stops as ``mockagent serve`` does, with a shorter grace: a stream the test left open
ends as cancelled, and a request still waiting on something else is cut after `TEARDOWN_GRACE`.
"""

from __future__ import annotations

import contextlib
import os
from collections.abc import AsyncIterator, Generator, Iterator
from pathlib import Path
from typing import Any

import pytest

from mockagent.faults import FaultRule, Per, RateLimit, parse_fault
from mockagent.model import PlatformKey
from mockagent.replay.modes import RecordMode
from mockagent.server import MockServer, ThreadedMockServer
from mockagent.settings import Settings

#: CHOSEN: real seconds a fixture's server lets open responses finish at teardown (see server.SHUTDOWN_GRACE).
TEARDOWN_GRACE = 1.0
_MARKER_KEYS = {
    "scenarios",
    "with_builtin",
    "watch",
    "manual_clock",
    "speed",
    "platform",
    "faults",
    "rate_limit",
    "chaos",
    "seed",
    "cassette",
    "cassettes",
    "record_mode",
    "upstreams",
    "allow_unmatched",
    "session",
}
_FAILED = pytest.StashKey[bool]()


def pytest_addoption(parser: pytest.Parser) -> None:
    parser.getgroup("mockagent").addoption(
        "--mockagent-record-mode",
        choices=[mode.value for mode in RecordMode],
        default=None,
        help="How tests with a mockagent cassette record: once, new_episodes, none (the default) or all.",
    )


def pytest_configure(config: pytest.Config) -> None:
    config.addinivalue_line(
        "markers",
        "mockagent(scenarios=None, with_builtin=False, watch=False, manual_clock=False, speed=1.0, platform=None, "
        "faults=None, rate_limit=None, chaos=0.0, seed=0, cassette=None, cassettes=None, record_mode=None, "
        "upstreams=None, allow_unmatched=False, session=None): configure the mockagent server fixture for this "
        "test (allow_unmatched: do not fail the test for requests nothing answered; session: the session its "
        "journal, assert_called, verdict and unmatched helpers read by default, None for every session)",
    )


@pytest.hookimpl(wrapper=True)
def pytest_runtest_makereport(
    item: pytest.Item, call: pytest.CallInfo[None]
) -> Generator[None, pytest.TestReport, pytest.TestReport]:
    report = yield
    if report.when == "call":
        item.stash[_FAILED] = report.failed  # a failed test does not keep what it recorded
    return report


@pytest.fixture
def mockagent_settings(request: pytest.FixtureRequest) -> Settings:
    """The server's settings, from the test's ``mockagent`` marker (override for a module-wide default)."""
    marker = request.node.get_closest_marker("mockagent")
    options: dict[str, Any] = dict(marker.kwargs) if marker else {}
    unknown = options.keys() - _MARKER_KEYS
    if unknown:
        raise pytest.UsageError(f"unknown mockagent marker option(s): {', '.join(sorted(unknown))}")
    root = Path(str(request.config.rootpath))
    paths = tuple(p if (p := Path(s)).is_absolute() else root / p for s in options.get("scenarios") or ())
    platform = options.get("platform")
    rules = tuple(FaultRule(fault=parse_fault(spec)) for spec in options.get("faults") or ())
    if options.get("rate_limit"):
        rules += (FaultRule(rate_limit=RateLimit.parse(options["rate_limit"]), per=Per.CREDENTIAL),)
    replay: dict[str, Any] = {}
    if options.keys() & {"cassette", "cassettes", "record_mode", "upstreams"}:
        replay = _replay_settings(request, options, root)
    return Settings(
        **replay,
        scenario_paths=paths,
        with_builtin=bool(options.get("with_builtin", False)),
        watch=bool(options.get("watch", False)),
        manual_clock=bool(options.get("manual_clock", False)),
        speed=float(options.get("speed", 1.0)),
        root_platform=PlatformKey(platform) if platform else None,
        fault_rules=rules,
        chaos=float(options.get("chaos", 0.0)),
        seed=int(options.get("seed", 0)),
    )


def _replay_settings(request: pytest.FixtureRequest, options: dict[str, Any], root: Path) -> dict[str, Any]:
    """A cassette per test: `cassettes` (a folder, default `cassettes/<module>` beside the test module),
    `cassette` (default the test's name), `record_mode` (else --mockagent-record-mode, else none), and
    `upstreams` ({platform: real base URL}, else the MOCKAGENT_UPSTREAM_<PLATFORM> environment variables)."""
    module = Path(str(request.node.path))
    folder = Path(options["cassettes"]) if options.get("cassettes") else module.parent / "cassettes" / module.stem
    mode = options.get("record_mode") or request.config.getoption("--mockagent-record-mode") or RecordMode.NONE
    given = options.get("upstreams") or {
        key.value: url for key in PlatformKey if (url := os.environ.get(f"MOCKAGENT_UPSTREAM_{key.value.upper()}"))
    }
    return {
        "cassettes": folder if folder.is_absolute() else root / folder,
        "cassette": str(options.get("cassette") or request.node.name),
        "record_mode": RecordMode(mode),
        "upstreams": tuple((PlatformKey(key), url) for key, url in given.items()),
    }


@contextlib.contextmanager
def _kept_on_success(request: pytest.FixtureRequest, settings: Settings) -> Iterator[None]:
    """What the test recorded stays only if the test passed; a failed test leaves its cassette as it was."""
    if settings.cassettes is None or settings.cassette is None:
        yield
        return
    from mockagent.replay.recordings import file_name

    path = settings.cassettes / file_name(settings.cassette)
    before = path.read_bytes() if path.exists() else None
    yield
    if request.node.stash.get(_FAILED, False):
        if before is None:
            path.unlink(missing_ok=True)
        else:
            path.write_bytes(before)


def _verifying(request: pytest.FixtureRequest) -> tuple[bool, str | None]:
    """The marker's `allow_unmatched` and `session`."""
    marker = request.node.get_closest_marker("mockagent")
    options = marker.kwargs if marker else {}
    session = options.get("session")
    if session is not None and not isinstance(session, str):
        raise pytest.UsageError("the mockagent marker's session is a session's name, or None for every session")
    return bool(options.get("allow_unmatched", False)), session


def _fail_on_unmatched(server: MockServer, allowed: bool) -> None:
    """CHOSEN: a request nothing answered fails its test at teardown (reported as an error of that test,
    after the server stopped, so that every request is journaled), unless the marker allows it."""
    if allowed:
        return
    unmatched = server.unmatched()
    if unmatched:
        lines = [
            f"{entry.method} {entry.path} → {entry.status}: {entry.explanation or 'nothing answered it'}"
            for entry in unmatched
        ]
        pytest.fail(
            f"{len(unmatched)} request(s) to mockagent were unmatched (mark the test "
            "@pytest.mark.mockagent(allow_unmatched=True) if that is what it means to do):\n  " + "\n  ".join(lines),
            pytrace=False,
        )


@pytest.fixture
def mockagent_server(mockagent_settings: Settings, request: pytest.FixtureRequest) -> Iterator[ThreadedMockServer]:
    """A running server in a background thread, for sync tests and sync clients (SDKs, httpx)."""
    allowed, session = _verifying(request)
    with (
        _kept_on_success(request, mockagent_settings),
        ThreadedMockServer(mockagent_settings, shutdown_grace=TEARDOWN_GRACE) as server,
    ):
        server.verify_session = session
        yield server
    _fail_on_unmatched(server.server, allowed)


try:
    import pytest_asyncio
except ImportError:  # the async fixture needs pytest-asyncio (pytest-aiohttp brings it); the rest does not
    pass
else:

    @pytest_asyncio.fixture
    async def mockagent_aserver(
        mockagent_settings: Settings, request: pytest.FixtureRequest
    ) -> AsyncIterator[MockServer]:
        """A running server on the test's own event loop, for async tests."""
        allowed, session = _verifying(request)
        with _kept_on_success(request, mockagent_settings):
            async with MockServer(mockagent_settings, shutdown_grace=TEARDOWN_GRACE) as server:
                server.verify_session = session
                yield server
        _fail_on_unmatched(server, allowed)
