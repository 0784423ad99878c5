"""Counting requests by pattern: the fixtures' `assert_called` and `journal`, and POST /__mockagent/verify."""

from __future__ import annotations

import httpx
import pytest
from beeos_client import SAFETY, beeos
from credentials import BEEOS

from mockagent.server import ThreadedMockServer
from mockagent.verification import PatternError


def _two_invokes(server: ThreadedMockServer) -> None:
    beeos(server, "echo", "hi")
    beeos(server, "echo", "bye", context_id="ch-1")


def test_assert_called_counts_what_the_pattern_matches(mockagent_server: ThreadedMockServer) -> None:
    _two_invokes(mockagent_server)
    mockagent_server.assert_called("POST", platform="beeos", path="/beeos/*/invoke", agent="echo", n=2)
    mockagent_server.assert_called(body={"message": "hi"}, n=1)
    mockagent_server.assert_called(body={"context_id": "ch-1"}, at_least=1, at_most=1)
    mockagent_server.assert_called("GET", n=0)
    mockagent_server.assert_called(agent="echo")  # nothing given: at least once


def test_a_failure_names_the_count_and_the_closest_requests(mockagent_server: ThreadedMockServer) -> None:
    _two_invokes(mockagent_server)
    with pytest.raises(AssertionError) as failed:
        mockagent_server.assert_called("POST", path="/beeos/*/invoke", body={"message": "hello"})
    message = str(failed.value)
    assert message.startswith("expected at least 1 request(s) matching POST /beeos/*/invoke body containing")
    assert "but 0 matched" in message
    assert 'POST /beeos/api/v1/agents/echo/invoke → 200 — body.message is "hi", not "hello"' in message
    assert 'body.message is "bye", not "hello"' in message
    with pytest.raises(AssertionError, match=r"expected exactly 1 request\(s\) matching .* but 2 matched"):
        mockagent_server.assert_called(agent="echo", n=1)
    with pytest.raises(AssertionError, match="method is POST, not GET"):
        mockagent_server.assert_called("GET", agent="echo")


def test_a_body_pattern_is_a_subset_of_the_body(mockagent_server: ThreadedMockServer) -> None:
    body = {"message": "hi", "metadata": {"tags": ["a", "b"], "n": 1}}
    httpx.post(f"{mockagent_server.base_url('beeos')}/api/v1/agents/echo/invoke", json=body, headers=BEEOS)
    mockagent_server.assert_called(body={"metadata": {"tags": ["a", "b"]}}, n=1)
    mockagent_server.assert_called(body={"metadata": {"tags": ["a"]}}, n=0)  # a list is matched item by item
    mockagent_server.assert_called(body={"metadata": {"n": True}}, n=0)  # JSON's true is not 1
    with pytest.raises(AssertionError, match=r"body.metadata.missing is missing"):
        mockagent_server.assert_called(body={"metadata": {"missing": 1}})


def test_a_count_that_cannot_hold_is_refused(mockagent_server: ThreadedMockServer) -> None:
    with pytest.raises(PatternError, match=r"^n: n is an exact count"):
        mockagent_server.assert_called(n=1, at_least=1)
    with pytest.raises(PatternError, match=r"^at_least: at_least \(3\) is more than at_most \(2\)"):
        mockagent_server.assert_called(at_least=3, at_most=2)
    with pytest.raises(PatternError, match=r"^at_most: at_most is a whole number"):
        mockagent_server.assert_called(at_most=-1)


def test_journal_returns_the_matching_entries_redacted(mockagent_server: ThreadedMockServer) -> None:
    _two_invokes(mockagent_server)
    entries = mockagent_server.journal(body={"message": "bye"})
    assert [e["request"]["body"] for e in entries] == [{"message": "bye", "context_id": "ch-1"}]
    assert entries[0]["status"] == 200
    assert BEEOS["Authorization"] not in str(entries)
    assert entries[0]["request"]["headers"]["Authorization"].startswith("Bearer <<secret:")
    assert len(mockagent_server.journal(method="post", agent="echo")) == 2
    assert mockagent_server.journal(platform="agentos") == []


@pytest.mark.mockagent(session="mine")
def test_the_marker_session_is_what_the_helpers_read(mockagent_server: ThreadedMockServer) -> None:
    beeos(mockagent_server, "echo", "in mine", headers={"X-Mockagent-Session": "mine"})
    beeos(mockagent_server, "echo", "in default")
    mockagent_server.assert_called(n=1)
    assert [e["request"]["body"]["message"] for e in mockagent_server.journal()] == ["in mine"]
    mockagent_server.assert_called(n=2, session=None)  # None: every session
    mockagent_server.assert_called(body={"message": "in default"}, n=1, session="default")


def _verify(server: ThreadedMockServer, body: object) -> httpx.Response:
    return httpx.post(f"{server.url}/__mockagent/verify", json=body, timeout=SAFETY)


def test_the_admin_api_verifies(mockagent_server: ThreadedMockServer) -> None:
    _two_invokes(mockagent_server)
    passed = _verify(mockagent_server, {"method": "POST", "agent": "echo", "n": 2})
    assert passed.status_code == 200
    assert passed.json() | {"message": ""} == {"passed": True, "count": 2, "message": "", "near": []}
    failed = _verify(mockagent_server, {"path": "/beeos/*", "body": {"message": "bye"}, "at_least": 2}).json()
    assert failed["passed"] is False
    assert failed["count"] == 1
    assert "expected at least 2 request(s)" in failed["message"]
    assert [entry["request"]["body"]["message"] for entry in failed["near"]] == ["hi"]
    assert failed["near"][0]["request"]["headers"]["Authorization"].startswith("Bearer <<secret:")
    in_session = _verify(mockagent_server, {"session": "other", "n": 0}).json()
    assert in_session["passed"] is True


@pytest.mark.parametrize(
    ("body", "field"),
    [
        ({"n": "2"}, "n"),
        ({"n": 1, "at_most": 2}, "n"),
        ({"methd": "GET"}, "methd"),
        ({"path": 3}, "path"),
        ({"session": "no spaces allowed"}, "session"),
        ([1], "JSON object"),
    ],
)
def test_a_malformed_verification_is_a_400_naming_the_field(
    mockagent_server: ThreadedMockServer, body: object, field: str
) -> None:
    answer = _verify(mockagent_server, body)
    assert answer.status_code == 400
    assert field in answer.json()["error"]
