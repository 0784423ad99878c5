"""Scenario files: what loads, and the path:line:col error for what does not."""

from __future__ import annotations

import textwrap
from pathlib import Path

import httpx
import pytest
from click.testing import CliRunner

from mockagent.cli import main
from mockagent.errors import ScenarioError
from mockagent.scenarios import load_paths, load_text
from mockagent.server import ThreadedMockServer


def load(tmp_path: Path, text: str) -> None:
    path = tmp_path / "s.yaml"
    path.write_text(textwrap.dedent(text))
    load_text(path, path.read_text())


@pytest.mark.parametrize(
    ("text", "position", "message"),
    [
        ("agents:\n  - id: a\n    script:\n      - sya: hi\n", "4:9", "unknown key 'sya' in a step"),
        ("agents:\n  - id: a\n    scirpt: []\n", "3:5", "unknown key 'scirpt' in an agent"),
        (
            "agents:\n  - id: a\n    script:\n      - say: '{{ mesage }}'\n",
            "4:14",
            "unknown template variable 'mesage'",
        ),
        ("agents:\n  - id: a\n    script:\n      - delay: soon\n", "4:16", "delay must be a number"),
        ("agents:\n  - id: a\n    aster_id: zero\n    script: []\n", "3:15", "aster_id must be a whole number"),
        ("agents:\n  - id: a\n    script: [{say: hi, fail: no}]\n", "3:14", "a step does one thing"),
        ("agents:\n  - id: a\n    script:\n      - say: hi\n  - id: a\n    script: []\n", "5:5", "already declared at"),
        ("agents:\n  - id: a\n    script: [{say: [unclosed\n", "4:1", "YAML syntax error"),
        ("agents:\n  - id: a\n    pace: {chunk: lines}\n    script: []\n", "3:19", "pace.chunk 'lines' is not one of"),
        ("agents:\n  - id: a\n    faults: [{fault: 418}]\n    script: []\n", "3:22", "fault '418' is not understood"),
        ("agents:\n  - id: a\n    faults: [{rate_limit: lots}]\n    script: []\n", "3:27", "should look like 60/min"),
        ("auth:\n  nobody: [k]\n", "2:3", "a platform in auth 'nobody' is not one of"),
    ],
)
def test_errors_name_file_line_and_column(tmp_path: Path, text: str, position: str, message: str) -> None:
    with pytest.raises(ScenarioError) as caught:
        load(tmp_path, text)
    assert str(caught.value).startswith(f"{tmp_path / 's.yaml'}:{position}: "), str(caught.value)
    assert message in str(caught.value)


def test_the_demo_agents_load() -> None:
    scenarios = load_paths([Path(__file__).parent.parent / "scenarios"])
    assert sorted(scenarios.agents) == [
        "approval",
        "checkout",
        "echo",
        "error",
        "flaky",
        "question",
        "retry",
        "slow",
        "support",
        "timeout",
        "tools",
    ]
    assert {a: scenarios.agents[a].aster_id for a in scenarios.agents} == {
        "echo": 1,
        "tools": 2,
        "approval": 3,
        "question": 4,
        "slow": 5,
        "flaky": 6,
        "timeout": 7,
        "error": 8,
        "support": 9,
        "checkout": 10,
        "retry": 11,
    }


def test_validate_command_reports_the_position(tmp_path: Path) -> None:
    bad = tmp_path / "bad.yaml"
    bad.write_text("agents:\n  - id: a\n    script:\n      - say: hi\n        colour: red\n")
    result = CliRunner().invoke(main, ["validate", str(bad)])
    assert result.exit_code == 1
    assert f"{bad}:5:9: unknown key 'colour' in a step" in result.output
    good = CliRunner().invoke(main, ["validate", str(Path(__file__).parent.parent / "scenarios")])
    assert good.exit_code == 0
    assert "ok: 11 agents" in good.output


def test_reload_keeps_serving_what_it_had_when_a_file_breaks(tmp_path: Path) -> None:
    from mockagent.settings import Settings

    path = tmp_path / "mine.yaml"
    path.write_text("agents:\n  - id: first\n    script: [{say: one}]\n")
    with ThreadedMockServer(Settings(scenario_paths=(path,))) as server:
        path.write_text("agents:\n  - id: second\n    script: [{say: two}]\n    oops: 1\n")
        broken = httpx.post(f"{server.url}/__mockagent/reload")
        assert broken.status_code == 422
        keys = "aster_id, default, description, faults, id, llm, name, pace, platforms, replies, script"
        assert broken.json()["error"] == f"{path}:4:5: unknown key 'oops' in an agent; expected one of: {keys}"
        assert sorted(server.engine.scenarios.agents) == ["first"]
        path.write_text("agents:\n  - id: second\n    script: [{say: two}]\n")
        fixed = httpx.post(f"{server.url}/__mockagent/reload")
        assert fixed.json() == {"reloaded": True, "agents": ["second"]}
