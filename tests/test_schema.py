"""The JSON Schema of scenario files and the loader agree: the committed schema is the one the loader's key
sets build, every scenario file the project has (docs examples, demo agents, starter, test scenarios) is
valid to both, and mutated files — an unknown key, a value of the wrong type, a key taken away — are
refused by both or by neither. The loader alone also checks meaning the schema cannot express; those
refusals are named below, and only they may differ."""

from __future__ import annotations

import copy
import json
import random
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import jsonschema
import pytest
import yaml
from click.testing import CliRunner
from test_docs_examples import EXAMPLES

from mockagent.cli import main
from mockagent.errors import ScenarioError
from mockagent.scenarios import load_text, schema

ROOT = Path(__file__).resolve().parent.parent
COMMITTED = ROOT / "mockagent" / "schema" / "scenario.schema.json"
VALIDATOR = jsonschema.Draft202012Validator(schema.build())

# What only the loader can see: a file whose every problem is one of these may pass the schema.
MEANING = (
    "this reply is never tried",  # a reply after a catch-all
    "has no tool_call before it",
    "invalid regular expression",
    "is not understood; expected one of",  # a fault's own little language
    "is never set",  # a `when` on a state that no reply sets
    "is already declared",
    "is already used by",
    "is not a body path",
    "must be 1-128 letters",  # an agent id that YAML read as a number
    "answers the same requests as the stub at",  # two stubs, once one's `when` is taken away
    "breaks a turn's stream",  # a sequence item's stream fault without its script: the fault's own language
)


def corpus() -> list[tuple[str, str]]:
    files = [ROOT / "mockagent" / "starter" / "agents.yaml", *sorted((ROOT / "scenarios").glob("*.yaml"))]
    files += sorted((ROOT / "tests" / "scenarios").glob("*.yaml"))
    return [(str(path.relative_to(ROOT)), path.read_text()) for path in files] + EXAMPLES


CORPUS = corpus()


def test_the_committed_schema_is_the_one_the_loader_builds() -> None:
    jsonschema.Draft202012Validator.check_schema(schema.build())
    assert COMMITTED.read_text() == schema.text(), "run: mockagent schema > mockagent/schema/scenario.schema.json"


def test_mockagent_schema_prints_it() -> None:
    result = CliRunner().invoke(main, ["schema"])
    assert result.exit_code == 0
    assert json.loads(result.output) == schema.build()


@pytest.mark.parametrize(("where", "text"), CORPUS, ids=[where for where, _ in CORPUS])
def test_every_scenario_file_of_the_project_is_valid_to_both(where: str, text: str) -> None:
    load_text(Path(where), text)
    assert _schema_problems(yaml.safe_load(text)) == []


SHAPES = {
    "two actions in a step": {"agents": [{"id": "a", "script": [{"say": "hi", "ask": "which?"}]}]},
    "an empty script": {"agents": [{"id": "a", "script": []}]},
    "an unknown key": {"agents": [{"id": "a", "script": [{"say": "x"}], "priority": 1}]},
    "ignore_case alone": {
        "agents": [{"id": "a", "replies": [{"when": {"message": {"ignore_case": True}}, "script": [{"say": "x"}]}]}]
    },
    "script and default": {"agents": [{"id": "a", "script": [{"say": "x"}], "default": [{"say": "y"}]}]},
    "message twice": {
        "agents": [{"id": "a", "replies": [{"when": {"message": "x", "contains": "y"}, "script": [{"say": "x"}]}]}]
    },
    "no platform": {"agents": [{"id": "a", "replies": [{"when": {"platform": []}, "script": [{"say": "x"}]}]}]},
    "two kinds of fault rule": {"faults": [{"first": 1, "probability": 0.5, "fault": 429}]},
    "a fault rule without its fault": {"faults": [{"first": 1}]},
    "chunk: chars without chars": {"agents": [{"id": "a", "pace": {"chunk": "chars"}, "script": [{"say": "x"}]}]},
    "a tool_result with output and error": {
        "agents": [{"id": "a", "script": [{"tool_call": {"name": "t"}}, {"tool_result": {"output": 1, "error": "e"}}]}]
    },
}


@pytest.mark.parametrize("what", SHAPES)
def test_a_wrong_shape_is_refused_by_both(what: str) -> None:
    assert _schema_problems(SHAPES[what])
    with pytest.raises(ScenarioError):
        load_text(Path("bad.yaml"), yaml.safe_dump(SHAPES[what]))


def test_mutated_files_are_refused_by_both_or_by_neither() -> None:
    rng = random.Random(13)
    mutants = [mutant for _, text in CORPUS for mutant in _mutants(yaml.safe_load(text))]
    rng.shuffle(mutants)
    checked = disagreements = 0
    report = []
    for how, data in mutants[:2000]:
        text = yaml.safe_dump(data, sort_keys=False)
        schema_says = _schema_problems(data)
        try:
            load_text(Path("mutant.yaml"), text)
            loader_says: list[str] = []
        except ScenarioError as err:
            loader_says = str(err).splitlines()
        checked += 1
        if bool(schema_says) == bool(loader_says):
            continue
        if loader_says and all(any(reason in said for reason in MEANING) for said in loader_says):
            continue  # meaning, not shape: the loader's alone
        disagreements += 1
        report.append(f"{how}: schema {schema_says[:2]}, loader {loader_says[:2]}")
    assert checked >= 2000
    assert disagreements == 0, "\n".join(report[:20])


def _schema_problems(data: Any) -> list[str]:
    return [f"{list(error.absolute_path)}: {error.message}" for error in VALIDATOR.iter_errors(data)]


WRONG = ([1, 2], {"colour": "red"}, True, None, "text", 3.5)


def _mutants(data: Any) -> Iterator[tuple[str, Any]]:
    """Each structural change at each place: an unknown key in a mapping, a key taken away, a value
    replaced by one of another type."""
    for path, node in _places(data):
        if isinstance(node, dict):
            yield f"{path} + colour", _changed(data, path, lambda n: {**n, "colour": "red"})
            for key in node:
                yield f"{path} - {key}", _changed(data, path, lambda n, k=key: {x: v for x, v in n.items() if x != k})
        if path:
            for value in WRONG:
                if type(value) is not type(node):
                    yield f"{path} = {value!r}", _changed(data, path, lambda _, v=value: copy.deepcopy(v))


def _places(node: Any, path: tuple[Any, ...] = ()) -> Iterator[tuple[tuple[Any, ...], Any]]:
    yield path, node
    children = node.items() if isinstance(node, dict) else enumerate(node) if isinstance(node, list) else ()
    for key, child in children:
        yield from _places(child, (*path, key))


def _changed(data: Any, path: tuple[Any, ...], change: Any) -> Any:
    result = copy.deepcopy(data)
    if not path:
        return change(result)
    parent = result
    for key in path[:-1]:
        parent = parent[key]
    parent[path[-1]] = change(parent[path[-1]])
    return result
