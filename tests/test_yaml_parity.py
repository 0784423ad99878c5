"""Scenario files are composed by libyaml where it agrees with PyYAML's pure parser, and by the pure
parser where they part ways; either way the nodes, tags, values and positions (which every
`path:line:col:` message quotes) are the pure parser's."""

from __future__ import annotations

import random
from pathlib import Path
from typing import Any

import pytest
import yaml

from mockagent.scenarios import yamlnodes

ROOT = Path(__file__).resolve().parent.parent
SCENARIO_FILES = sorted([*ROOT.glob("scenarios/*.yaml"), *ROOT.glob("tests/**/scenarios/*.yaml")])

# Where libyaml accepts, refuses or places things otherwise: each must come out as the pure parser has it.
APART = [
    "agents:\n\t- id: x\n",  # a tab in the indentation
    "agents:\n  - id: a\tb\n    script: [{say: hi}]\n",
    "agents:\n  - {id: a, script: [{say: }]}\n",  # an empty value: libyaml puts it a column further on
    "agents: [{id: what?, script: [{say: a?b}]}]\n",  # `?` in a flow plain scalar
    "agents:\n  - id: a\n    script:\n      - say: |#\n          text\n",
    "%TAG !x! tag:yaml.org,2002:\n---\nagents: !x!seq []\n",
    "agents: !foo []\n",
    "\ufeffagents: []\n",
    "agents:\u2028  - id: a\n",
    "agents:\n  - id: \x85a\n",
    "agents: []\r\n",
    "key: [a, b\n",
    "",
]


def _shape(node: yaml.Node | None) -> Any:
    """A node as plain data with what the loader reads of it: kind, tag, value, style, and where it
    starts (the position every `path:line:col:` message quotes; end marks are never read)."""
    if node is None:
        return None
    at = (node.start_mark.line, node.start_mark.column)
    if isinstance(node, yaml.ScalarNode):
        return ("scalar", node.tag, node.value, node.style or None, at)  # libyaml says "" for plain
    if isinstance(node, yaml.SequenceNode):
        return ("seq", node.tag, at, [_shape(child) for child in node.value])
    assert isinstance(node, yaml.MappingNode)
    return ("map", node.tag, at, [(_shape(key), _shape(value)) for key, value in node.value])


def _composed(text: str, compose: Any) -> Any:
    try:
        return ("ok", _shape(compose(text)))
    except yaml.MarkedYAMLError as err:
        mark = err.problem_mark or err.context_mark
        return ("error", (mark.line, mark.column) if mark else None)
    except yaml.YAMLError:
        return ("error", None)


def _pure(text: str) -> yaml.Node | None:
    return yaml.compose(text, Loader=yaml.SafeLoader)


@pytest.mark.parametrize("path", SCENARIO_FILES, ids=lambda p: str(p.relative_to(ROOT)))
def test_scenario_files_compose_as_the_pure_parser_has_them(path: Path) -> None:
    text = path.read_text(encoding="utf-8")
    assert _composed(text, yamlnodes._compose) == _composed(text, _pure)


@pytest.mark.parametrize("text", APART)
def test_where_the_parsers_part_ways_the_pure_one_decides(text: str) -> None:
    assert _composed(text, yamlnodes._compose) == _composed(text, _pure)


def test_mutated_scenario_files_compose_as_the_pure_parser_has_them() -> None:
    """Seeded mutations of the project's own scenario files: inserted, deleted and moved characters."""
    rng = random.Random(20261124)
    texts = [p.read_text(encoding="utf-8") for p in SCENARIO_FILES if p.stat().st_size < 8000]
    pieces = [
        " ",
        "\t",
        "\n",
        "\n  ",
        ": ",
        "- ",
        "? ",
        "#",
        "[",
        "]",
        "{",
        "}",
        ",",
        "!",
        "&a ",
        "*a",
        "|",
        ">",
        "'",
        '"',
    ]
    for _ in range(1_500):
        text = rng.choice(texts)
        for _ in range(rng.randint(1, 4)):
            at = rng.randrange(len(text) + 1)
            if rng.random() < 0.6:
                text = text[:at] + rng.choice(pieces) + text[at:]
            else:
                text = text[:at] + text[at + rng.randint(1, 3) :]
        assert _composed(text, yamlnodes._compose) == _composed(text, _pure), text


# ── the bounds: depth, aliases ──────────────────────────────────────────────────────────────────────────


def _pure_bounded(text: str) -> yaml.Node | None:
    return yamlnodes._compose_with(yamlnodes._PureLoader, text)


def _fast_bounded(text: str) -> yaml.Node | None:
    return yamlnodes._compose_with(yamlnodes._FAST_BOUNDED_LOADER, text)


ALIASED = [
    "a: &x [1, {b: &y two}]\nc: *x\nd: [*y, *x]\n",
    "agents:\n  - &agent {id: a, script: &s [{say: hi}]}\n  - {id: b, script: *s}\n",
    "a: &x [1, 2]\nb: [" + ", ".join(["*x"] * 30_000) + "]\n",  # 90,000 nodes repeated: within the bound
]
PAST_BOUNDS = [
    "agents: " + "[" * 70 + "]" * 70 + "\n",
    "agents: " + "[" * 2_000 + "]" * 2_000 + "\n",  # past libyaml's own nesting limit too
    "a:\n" + "".join("  " * (i + 1) + f"k{i}:\n" for i in range(70)),
    "a: &x [1, 2]\nb: [" + ", ".join(["*x"] * 40_000) + "]\n",  # 120,000 nodes repeated
    "a: &deep " + "[" * 40 + "]" * 40 + "\nb: " + "[" * 30 + "*deep" + "]" * 30 + "\n",  # deep through an alias
    "a: &loop [1, *loop]\n",  # an alias inside the node it names
]


@pytest.mark.skipif(yamlnodes._FAST_BOUNDED_LOADER is None, reason="PyYAML was built without libyaml")
@pytest.mark.parametrize("text", [*ALIASED, *(p.read_text(encoding="utf-8") for p in SCENARIO_FILES)])
def test_within_the_bounds_both_bounded_composers_compose_as_the_pure_parser_does(text: str) -> None:
    expected = _composed(text, _pure)
    assert _composed(text, _pure_bounded) == expected
    assert _composed(text, _fast_bounded) == expected
    assert _composed(text, yamlnodes._compose) == expected


@pytest.mark.parametrize("text", PAST_BOUNDS)
def test_past_the_bounds_every_composer_refuses_at_the_same_place(text: str) -> None:
    refused = _composed(text, _pure_bounded)
    assert refused[0] == "error"
    assert refused[1] is not None
    assert _composed(text, yamlnodes._compose) == refused
    if yamlnodes._FAST_BOUNDED_LOADER is not None and "[" * 1_000 not in text:
        assert _composed(text, _fast_bounded) == refused
