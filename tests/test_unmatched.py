"""A request nothing answered fails the test that sent it, at the fixture's teardown, with why — unless the
test's marker allows it. Each case is a test file of its own, run through the plugin with pytester."""

from __future__ import annotations

import pytest

HEADER = """
import httpx, pytest

AUTH = {"Authorization": "Bearer oag_" + "a" * 64}
"""


def _run(pytester: pytest.Pytester, body: str) -> pytest.RunResult:
    pytester.makeini("[pytest]\nasyncio_mode = auto\nasyncio_default_fixture_loop_scope = function\n")
    pytester.makepyfile(test_client=HEADER + body)
    return pytester.runpytest("-p", "no:cacheprovider")


def test_an_unmatched_request_fails_its_test_with_why(pytester: pytest.Pytester) -> None:
    result = _run(
        pytester,
        """
def test_lost(mockagent_server):
    httpx.get(mockagent_server.url + "/beeos/api/v1/nowhere", headers=AUTH)
""",
    )
    result.assert_outcomes(passed=1, errors=1)
    result.stdout.fnmatch_lines(
        [
            "*ERROR at teardown of test_lost*",
            "*1 request(s) to mockagent were unmatched*allow_unmatched=True*",
            "*GET /beeos/api/v1/nowhere → 404: nothing is served at GET /beeos/api/v1/nowhere*",
        ]
    )


def test_an_unmatched_reply_names_its_near_miss(pytester: pytest.Pytester) -> None:
    pytester.makefile(
        ".yaml",
        picky="""
agents:
  - id: picky
    replies:
      - when: {message: {contains: refund}}
        script: [{say: "Refunded."}]
""",
    )
    result = _run(
        pytester,
        """
@pytest.mark.mockagent(scenarios=["picky.yaml"])
def test_off_script(mockagent_server):
    url = mockagent_server.base_url("beeos") + "/api/v1/agents/picky/invoke"
    httpx.post(url, json={"message": "hello"}, headers=AUTH)
""",
    )
    result.assert_outcomes(passed=1, errors=1)
    result.stdout.fnmatch_lines(["*POST /beeos/api/v1/agents/picky/invoke → *: *refund*"])


def test_allow_unmatched_lets_the_test_pass(pytester: pytest.Pytester) -> None:
    result = _run(
        pytester,
        """
@pytest.mark.mockagent(allow_unmatched=True)
def test_lost_on_purpose(mockagent_server):
    assert httpx.get(mockagent_server.url + "/beeos/api/v1/nowhere", headers=AUTH).status_code == 404

@pytest.mark.mockagent(allow_unmatched=True)
async def test_lost_on_purpose_async(mockagent_aserver):
    async with httpx.AsyncClient() as client:
        assert (await client.get(mockagent_aserver.url + "/beeos/api/v1/nowhere")).status_code == 404
""",
    )
    result.assert_outcomes(passed=2)


def test_the_async_fixture_fails_an_unmatched_request_too(pytester: pytest.Pytester) -> None:
    result = _run(
        pytester,
        """
async def test_lost(mockagent_aserver):
    async with httpx.AsyncClient() as client:
        await client.get(mockagent_aserver.url + "/zeus/nowhere")
""",
    )
    result.assert_outcomes(passed=1, errors=1)
    result.stdout.fnmatch_lines(["*GET /zeus/nowhere → 404: nothing is served at GET /zeus/nowhere*"])


def test_matched_requests_pass(pytester: pytest.Pytester) -> None:
    result = _run(
        pytester,
        """
def test_echo(mockagent_server):
    url = mockagent_server.base_url("beeos") + "/api/v1/agents/echo/invoke"
    assert httpx.post(url, json={"message": "hi"}, headers=AUTH).json()["data"]["text"] == "Echo: hi"
    assert mockagent_server.unmatched() == []
""",
    )
    result.assert_outcomes(passed=1)


def test_the_marker_session_limits_the_check(pytester: pytest.Pytester) -> None:
    result = _run(
        pytester,
        """
@pytest.mark.mockagent(session="mine")
def test_lost_elsewhere(mockagent_server):
    httpx.get(mockagent_server.url + "/beeos/api/v1/nowhere", headers={"X-Mockagent-Session": "other"})
""",
    )
    result.assert_outcomes(passed=1)
