"""The scenarios over the admin API: what is served, a whole new set from the request body (YAML or
JSON, checked as files are), and how a later reload brings the files back."""

from __future__ import annotations

import json
from typing import Any

import httpx
import pytest
from credentials import BEEOS

from mockagent.server import ThreadedMockServer

INSTANT = "tests/scenarios/instant.yaml"
pytestmark = pytest.mark.mockagent(manual_clock=True, scenarios=[INSTANT])
SAFETY = 10.0  # real seconds: a bound on what should happen at once, never a measurement
HELLO = """\
agents:
  - id: hello
    platforms: [beeos]
    replies:
      - when: {message: {contains: bye}}
        priority: 5
        script:
          - say: "Bye."
    script:
      - say: "Hello, {{ message }}."
stubs:
  - method: GET
    platform: beeos
    path: /api/v1/ping
    body: {pong: true}
"""


def scenarios(server: ThreadedMockServer, method: str, content: str | bytes = b"", media: str = "") -> httpx.Response:
    headers = {"Content-Type": media} if media else {}
    url = f"{server.url}/__mockagent/scenarios"
    return httpx.request(method, url, content=content, headers=headers, timeout=SAFETY)


def say(server: ThreadedMockServer, agent: str, message: str = "you") -> httpx.Response:
    url = f"{server.base_url('beeos')}/api/v1/agents/{agent}/invoke"
    return httpx.post(url, json={"message": message}, headers=BEEOS, timeout=SAFETY)


def test_the_loaded_set_is_listed(mockagent_server: ThreadedMockServer) -> None:
    listed = scenarios(mockagent_server, "GET").json()
    [loaded] = listed["files"]
    assert loaded.endswith("instant.yaml")
    assert listed["stubs"] == []
    for platform in ("beeos", "agentos", "xpander", "zeus", "aster"):
        [echo] = listed["agents"][platform]
        assert echo["id"] == "echo"
        [reply] = echo["replies"]
        assert reply == {"key": reply["key"], "source": reply["source"], "priority": None, "when": False, "sequence": 0}
        assert reply["source"].endswith("instant.yaml:7:7")


def test_put_replaces_the_whole_set_then_reload_brings_the_files_back(mockagent_server: ThreadedMockServer) -> None:
    put = scenarios(mockagent_server, "PUT", HELLO, "application/yaml")
    assert put.status_code == 200, put.text
    body = put.json()
    assert (body["replaced"], body["files"]) == (True, ["<admin>"])
    [hello] = body["agents"]["beeos"]
    assert [(r["source"], r["priority"], r["when"]) for r in hello["replies"]] == [
        ("<admin>:5:9", 5, True),
        ("<admin>:10:7", None, False),
    ]
    assert body["agents"]["agentos"] == []
    assert [(s["source"], s["method"], s["path"]) for s in body["stubs"]] == [("<admin>:12:5", "GET", "/api/v1/ping")]
    assert say(mockagent_server, "hello").json()["data"]["text"] == "Hello, you."
    assert say(mockagent_server, "echo").status_code == 404  # the whole set was replaced
    ping = httpx.get(f"{mockagent_server.base_url('beeos')}/api/v1/ping", timeout=SAFETY)
    assert ping.json() == {"pong": True}
    reloaded = httpx.post(f"{mockagent_server.url}/__mockagent/reload", timeout=SAFETY).json()
    assert reloaded == {"reloaded": True, "agents": ["echo"]}
    assert say(mockagent_server, "echo").status_code == 200


def test_json_is_taken_by_its_content_type(mockagent_server: ThreadedMockServer) -> None:
    document = {"agents": [{"id": "j", "script": [{"say": "From JSON."}]}]}
    put = scenarios(mockagent_server, "PUT", json.dumps(document), "application/json; charset=utf-8")
    assert put.status_code == 200, put.text
    assert say(mockagent_server, "j").json()["data"]["text"] == "From JSON."
    broken = scenarios(mockagent_server, "PUT", '{"agents": [', "application/json")
    assert broken.status_code == 422
    assert broken.json()["errors"] == ["<admin>:1:13: not JSON: Expecting value"]
    deep = scenarios(mockagent_server, "PUT", "[" * 100_000, "application/json")
    assert deep.status_code == 422
    assert deep.json()["errors"] == ["<admin>:1:65: nested more than 64 levels deep"]


def test_a_bad_set_is_422_with_every_problem_and_the_previous_set_serves(
    mockagent_server: ThreadedMockServer,
) -> None:
    bad = "agents:\n  - id: a\n    script: [{say: 1, sing: x}]\n  - id: b\n    colour: blue\n    script: []\n"
    put = scenarios(mockagent_server, "PUT", bad, "application/yaml")
    assert put.status_code == 422, put.text
    body: dict[str, Any] = put.json()
    assert body["replaced"] is False
    assert len(body["errors"]) >= 2
    assert all(error.startswith("<admin>:") for error in body["errors"])
    assert any("colour" in error and error.startswith("<admin>:5:") for error in body["errors"])
    assert body["error"] == "\n".join(body["errors"])
    assert say(mockagent_server, "echo").status_code == 200


def test_a_set_is_checked_as_a_whole_as_files_are(mockagent_server: ThreadedMockServer) -> None:
    twice = (
        "agents:\n  - id: a\n    script: [{say: hi}]\n  - id: a\n    script: [{say: again}]\n"
        "stubs:\n  - {method: GET, path: /ping, body: one}\n  - {method: GET, path: /ping, body: two}\n"
    )
    put = scenarios(mockagent_server, "PUT", twice, "application/yaml")
    assert put.status_code == 422, put.text
    errors = put.json()["errors"]
    assert any(e.startswith("<admin>:4:") and "agent 'a' is already declared at <admin>:2:" in e for e in errors)
    assert any(e.startswith("<admin>:8:") and "answers the same requests as" in e for e in errors)
    assert say(mockagent_server, "echo").status_code == 200


def test_body_type_and_size_are_checked(mockagent_server: ThreadedMockServer) -> None:
    unsupported = scenarios(mockagent_server, "PUT", "agents: []", "application/xml")
    assert unsupported.status_code == 415
    assert "Content-Type" in unsupported.json()["error"]
    huge = scenarios(mockagent_server, "PUT", b"#" * (10 * 1024 * 1024 + 1), "application/yaml")
    assert huge.status_code == 413
    assert set(huge.json()) == {"error"}
    not_utf8 = scenarios(mockagent_server, "PUT", b"agents: [\xff]", "application/yaml")
    assert not_utf8.json()["errors"] == ["<admin>: the document is not UTF-8"]
