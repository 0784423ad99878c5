"""The pytest plugin (mockagent/pytest_plugin.py), exercised the way its users meet it: small test files
run by a real pytest (pytester, in a subprocess), using the `mockagent_server` / `mockagent_aserver`
fixtures and the `mockagent(...)` marker."""

from __future__ import annotations

import pytest

pytest_plugins = ["pytester"]

# The inner runs get the project's own asyncio settings (the plugin itself comes in by its entry point).
INI = """
[pytest]
asyncio_mode = auto
asyncio_default_fixture_loop_scope = function
"""

HEADER = """
import asyncio

import aiohttp
import httpx
import pytest

AUTH = {"Authorization": "Bearer oag_" + "a" * 64}


def invoke(server, agent="echo", message="hi", session=None):
    headers = {**AUTH, "X-Mockagent-Session": session} if session else AUTH
    return httpx.post(
        f"{server.base_url('beeos')}/api/v1/agents/{agent}/invoke",
        json={"message": message},
        headers=headers,
        timeout=10,
    )
"""


@pytest.fixture
def inner(pytester: pytest.Pytester) -> pytest.Pytester:
    pytester.makeini(INI)
    return pytester


def run(pytester: pytest.Pytester, source: str, *args: str) -> pytest.RunResult:
    pytester.makepyfile(test_inner=HEADER + source)
    return pytester.runpytest_subprocess("-p", "no:cacheprovider", "-v", *args, timeout=120)


def test_a_test_using_the_sync_and_async_fixtures_passes(inner: pytest.Pytester) -> None:
    result = run(
        inner,
        """
def test_sync(mockagent_server):
    assert invoke(mockagent_server).json()["data"]["text"] == "Echo: hi"
    health = httpx.get(f"{mockagent_server.url}/__mockagent/health").json()
    assert health["platforms"] == ["beeos", "agentos", "xpander", "zeus", "aster"]


async def test_async(mockagent_aserver):
    async with aiohttp.ClientSession() as http:
        url = f"{mockagent_aserver.base_url('beeos')}/api/v1/agents/echo/invoke"
        response = await http.post(url, json={"message": "there"}, headers=AUTH)
        assert (await response.json())["data"]["text"] == "Echo: there"
""",
    )
    result.assert_outcomes(passed=2)


def test_a_failing_assertion_inside_a_test_fails_it(inner: pytest.Pytester) -> None:
    result = run(
        inner,
        """
def test_wrong(mockagent_server):
    assert invoke(mockagent_server).json()["data"]["text"] == "something else"
""",
    )
    result.assert_outcomes(failed=1)


def test_an_unknown_marker_option_is_a_usage_error(inner: pytest.Pytester) -> None:
    result = run(
        inner,
        """
@pytest.mark.mockagent(manual_clok=True)
def test_typo(mockagent_server):
    pass


def test_fine(mockagent_server):
    pass
""",
    )
    # The test with the typo errors at setup (it never runs with settings it did not ask for); others run.
    result.assert_outcomes(passed=1, errors=1)
    result.stdout.fnmatch_lines(["*UsageError: unknown mockagent marker option(s): manual_clok"])
    result.stdout.fnmatch_lines(["*test_inner.py::test_fine PASSED*"])


def test_the_manual_clock_marker_lets_a_test_advance(inner: pytest.Pytester) -> None:
    result = run(
        inner,
        """
@pytest.mark.mockagent(manual_clock=True)
def test_sync_advance(mockagent_server):
    assert mockagent_server.clock.now() == 0
    mockagent_server.advance(30)
    assert mockagent_server.clock.now() == 30
    clock = httpx.get(f"{mockagent_server.url}/__mockagent/clock").json()
    assert (clock["manual"], clock["now"]) == (True, 30)


@pytest.mark.mockagent(manual_clock=True)
async def test_async_advance_completes_a_slow_run(mockagent_aserver):
    async with aiohttp.ClientSession() as http:
        url = f"{mockagent_aserver.base_url('beeos')}/api/v1/agents/slow/invoke"
        pending = asyncio.ensure_future(http.post(url, json={"message": "x"}, headers=AUTH))
        await asyncio.wait_for(mockagent_aserver.until_waiting(1), 10)
        assert not pending.done()
        await mockagent_aserver.advance(3)
        response = await asyncio.wait_for(pending, 10)
        assert (await response.json())["data"]["text"] == "Done after a while."
    assert mockagent_aserver.clock.now() == 3


def test_without_the_marker_the_clock_is_real(mockagent_server):
    with pytest.raises(TypeError, match="manual_clock=True"):
        mockagent_server.advance(1)
    assert httpx.get(f"{mockagent_server.url}/__mockagent/clock").json()["manual"] is False
""",
    )
    result.assert_outcomes(passed=3)


def test_each_test_gets_a_fresh_server(inner: pytest.Pytester) -> None:
    # An echo with no pacing: a blocking invoke ends at once, even on a manual clock.
    (inner.path / "instant.yaml").write_text('agents:\n  - id: echo\n    script:\n      - say: "Echo: {{ message }}"\n')
    result = run(
        inner,
        """
pytestmark = pytest.mark.mockagent(manual_clock=True, scenarios=["instant.yaml"])
seen = {}


def runs(server):
    return httpx.get(f"{server.url}/__mockagent/runs").json()


def test_first(mockagent_server):
    assert invoke(mockagent_server).json()["data"]["text"] == "Echo: hi"
    assert invoke(mockagent_server, session="other").status_code == 200
    mockagent_server.advance(5)
    assert len(runs(mockagent_server)) == 1
    seen["first"] = mockagent_server


def test_second(mockagent_server):
    assert mockagent_server is not seen["first"]
    assert runs(mockagent_server) == []
    assert [s["name"] for s in httpx.get(f"{mockagent_server.url}/__mockagent/sessions").json()] == ["default"]
    assert httpx.get(f"{mockagent_server.url}/__mockagent/journal").json()["entries"] == []
    assert httpx.get(f"{mockagent_server.url}/__mockagent/runs?session=other").json() == []
    assert mockagent_server.clock.now() == 0


async def test_third_async(mockagent_aserver):
    assert mockagent_aserver.session().runs_of() == []
    assert mockagent_aserver.clock.now() == 0
""",
    )
    result.assert_outcomes(passed=3)


def test_the_scenarios_marker_serves_my_agents_relative_to_the_rootdir(inner: pytest.Pytester) -> None:
    inner.mkdir("scenarios_here")
    (inner.path / "scenarios_here" / "mine.yaml").write_text(
        'agents:\n  - id: mine\n    script:\n      - say: "mine: {{ message }}"\n'
    )
    result = run(
        inner,
        """
@pytest.mark.mockagent(scenarios=["scenarios_here/mine.yaml"])
def test_only_mine(mockagent_server):
    assert invoke(mockagent_server, agent="mine").json()["data"]["text"] == "mine: hi"
    assert invoke(mockagent_server).status_code == 404  # no demo agents unless asked


@pytest.mark.mockagent(scenarios=["scenarios_here/mine.yaml"], with_builtin=True)
def test_mine_and_the_demo_agents(mockagent_server):
    assert invoke(mockagent_server, agent="mine").status_code == 200
    assert invoke(mockagent_server).json()["data"]["text"] == "Echo: hi"


@pytest.mark.mockagent(platform="beeos")
def test_one_platform_at_the_root(mockagent_server):
    assert mockagent_server.base_url("beeos") == mockagent_server.url
    assert invoke(mockagent_server).json()["data"]["text"] == "Echo: hi"


@pytest.mark.mockagent(faults=["503"])
def test_faults_apply_to_every_request(mockagent_server):
    assert invoke(mockagent_server).status_code == 503
""",
    )
    result.assert_outcomes(passed=4)


def test_overriding_mockagent_settings_sets_a_module_default(inner: pytest.Pytester) -> None:
    result = run(
        inner,
        """
from mockagent.settings import Settings


@pytest.fixture
def mockagent_settings():
    return Settings(manual_clock=True)


def test_uses_the_override(mockagent_server):
    mockagent_server.advance(5)
    assert mockagent_server.clock.now() == 5
""",
    )
    result.assert_outcomes(passed=1)


def test_the_readme_example_runs(inner: pytest.Pytester) -> None:
    from pathlib import Path

    readme = (Path(__file__).parents[1] / "README.md").read_text()
    section = readme.split("The pytest plugin (installed with the package):", 1)[1]
    block = section.split("```python\n", 1)[1].split("```", 1)[0]
    example = "\n".join(line.removeprefix("  ") for line in block.splitlines())
    inner.makepyfile(test_readme=example)
    result = inner.runpytest_subprocess("-p", "no:cacheprovider", "-v", timeout=120)
    result.assert_outcomes(passed=2)


def test_a_cassette_is_recorded_once_replayed_after_and_not_kept_by_a_failed_test(
    inner: pytest.Pytester, monkeypatch: pytest.MonkeyPatch
) -> None:
    from mockagent.server import ThreadedMockServer
    from mockagent.settings import Settings

    source = """
@pytest.mark.mockagent(cassette="greeting", record_mode="once")
def test_greet(mockagent_server):
    assert invoke(mockagent_server, message="hello").json()["data"]["text"] == "Echo: hello"


@pytest.mark.mockagent(record_mode="once")
def test_fails_after_recording(mockagent_server):
    assert invoke(mockagent_server, message="lost").status_code == 200
    assert False, "this test fails: what it recorded is not kept"
"""
    with ThreadedMockServer(Settings(speed=100)) as upstream:
        monkeypatch.setenv("MOCKAGENT_UPSTREAM_BEEOS", upstream.base_url("beeos"))
        run(inner, source).assert_outcomes(passed=1, failed=1)
    folder = inner.path / "cassettes" / "test_inner"
    assert sorted(p.name for p in folder.iterdir()) == ["greeting.yaml"]  # the failed test's was removed
    # The upstream is gone: the passing test replays from its cassette.
    monkeypatch.delenv("MOCKAGENT_UPSTREAM_BEEOS")
    run(inner, source, "-k", "greet").assert_outcomes(passed=1)


def test_a_stream_left_open_ends_as_cancelled_at_teardown(inner: pytest.Pytester) -> None:
    # The first test leaves an hour-long stream open (never read, never closed); the next one reads what the
    # client got once the fixture's teardown had stopped the server.
    result = run(
        inner,
        """
LEFT_OPEN = []


@pytest.mark.mockagent(manual_clock=True)
def test_leaves_a_stream_open(mockagent_server):
    client = httpx.Client(timeout=10)
    url = f"{mockagent_server.base_url('beeos')}/api/v1/agents/timeout/invoke"
    headers = {**AUTH, "Accept": "text/event-stream"}
    response = client.send(client.build_request("POST", url, json={"message": "hi"}, headers=headers), stream=True)
    assert response.status_code == 200
    LEFT_OPEN.append(response)


def test_the_stream_ended_as_cancelled():
    (response,) = LEFT_OPEN
    ending = response.read().decode()
    assert ending.rstrip().splitlines()[-1].startswith('data: {"type":"done"')
    assert '"code":"canceled"' in ending
""",
    )
    result.assert_outcomes(passed=2)
