"""Reading YAML with positions: every value knows its file, line and column.

PyYAML's composer keeps marks on nodes; this wraps them so that a validator can say
``scenarios/demo.yaml:12:9: unknown key 'sya' in a step`` about the exact key or value at fault.
"""

from __future__ import annotations

import contextlib
import re
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import yaml

from mockagent.errors import ScenarioError, SourcePosition

_STR_TAG = "tag:yaml.org,2002:str"
_SCALAR_TAGS = {
    "tag:yaml.org,2002:str",
    "tag:yaml.org,2002:int",
    "tag:yaml.org,2002:float",
    "tag:yaml.org,2002:bool",
    "tag:yaml.org,2002:null",
}


class Node:
    """One YAML node and where it stands."""

    __slots__ = ("_node", "path")

    def __init__(self, node: yaml.Node, path: str) -> None:
        self._node = node
        self.path = path

    @property
    def position(self) -> SourcePosition:
        mark = self._node.start_mark
        return SourcePosition(self.path, mark.line + 1, mark.column + 1)

    def error(self, message: str) -> ScenarioError:
        return ScenarioError(self.position, message)

    @property
    def is_mapping(self) -> bool:
        return isinstance(self._node, yaml.MappingNode)

    @property
    def is_sequence(self) -> bool:
        return isinstance(self._node, yaml.SequenceNode)

    @property
    def is_scalar(self) -> bool:
        return isinstance(self._node, yaml.ScalarNode)

    @property
    def is_null(self) -> bool:
        return self._node.tag == "tag:yaml.org,2002:null"

    def items(self, what: str, allowed: set[str] | None = None) -> Iterator[tuple[str, Node, Node]]:
        """Yield (key, key node, value node); unknown and duplicate keys are errors at the key."""
        if not isinstance(self._node, yaml.MappingNode):
            raise self.error(f"{what} must be a mapping, not {self.kind}")
        seen: set[str] = set()
        for key_node, value_node in self._node.value:
            key = Node(key_node, self.path)
            if isinstance(key_node, yaml.ScalarNode) and key_node.tag == _STR_TAG:
                name = key_node.value  # what scalar() gives for a string key, without formatting its message
            else:
                name = key.scalar(f"a key in {what}")
                if not isinstance(name, str):
                    raise key.error(f"keys in {what} must be strings, got {name!r}")
            if allowed is not None and name not in allowed:
                raise key.error(f"unknown key {name!r} in {what}; expected one of: {', '.join(sorted(allowed))}")
            if name in seen:
                raise key.error(f"duplicate key {name!r} in {what}")
            seen.add(name)
            yield name, key, Node(value_node, self.path)

    def mapping(self, what: str, allowed: set[str], required: frozenset[str] = frozenset()) -> dict[str, Node]:
        found = {name: value for name, _, value in self.items(what, allowed)}
        missing = sorted(required - found.keys())
        if missing:
            raise self.error(f"{what} needs {missing[0]!r}")
        return found

    def sequence(self, what: str) -> list[Node]:
        if not isinstance(self._node, yaml.SequenceNode):
            raise self.error(f"{what} must be a list, not {self.kind}")
        return [Node(child, self.path) for child in self._node.value]

    def scalar(self, what: str) -> Any:
        if not isinstance(self._node, yaml.ScalarNode):
            raise self.error(f"{what} must be a single value, not {self.kind}")
        return self.plain()

    def string(self, what: str) -> str:
        value = self.scalar(what)
        if not isinstance(value, str):
            raise self.error(f"{what} must be a string, got {value!r}")
        return value

    def text(self, what: str) -> str:
        """A string, accepting plain numbers too (``say: 42`` says "42")."""
        value = self.scalar(what)
        if isinstance(value, bool) or value is None or isinstance(value, dict | list):
            raise self.error(f"{what} must be text, got {value!r}")
        return str(value)

    def integer(self, what: str, minimum: int | None = None) -> int:
        value = self.scalar(what)
        if isinstance(value, bool) or not isinstance(value, int):
            raise self.error(f"{what} must be a whole number, got {value!r}")
        if minimum is not None and value < minimum:
            raise self.error(f"{what} must be at least {minimum}, got {value}")
        return value

    def number(self, what: str, minimum: float | None = 0.0) -> float:
        value = self.scalar(what)
        if isinstance(value, bool) or not isinstance(value, int | float):
            raise self.error(f"{what} must be a number, got {value!r}")
        if minimum is not None and value < minimum:
            raise self.error(f"{what} must be at least {minimum}, got {value}")
        return float(value)

    def boolean(self, what: str) -> bool:
        value = self.scalar(what)
        if not isinstance(value, bool):
            raise self.error(f"{what} must be true or false, got {value!r}")
        return value

    def plain(self) -> Any:
        """The node as ordinary Python data (for tool arguments and outputs)."""
        node = self._node
        if isinstance(node, yaml.ScalarNode):
            if node.tag == _STR_TAG:
                return node.value  # what SafeConstructor.construct_yaml_str gives, minus its setup
            if node.tag not in _SCALAR_TAGS:
                raise self.error(f"unsupported YAML tag {node.tag}")
        try:
            return _Constructor().construct_document(node)
        except yaml.YAMLError as err:
            raise self.error(str(err)) from err

    @property
    def kind(self) -> str:
        if isinstance(self._node, yaml.MappingNode):
            return "a mapping"
        if isinstance(self._node, yaml.SequenceNode):
            return "a list"
        return f"the value {self.plain()!r}"


class _Constructor(yaml.SafeLoader):
    """A SafeLoader used only to construct one already-composed node.

    Only the constructor part is set up: a whole SafeLoader also builds a reader, scanner and parser
    for a stream it never reads, and that cost was paid for every scalar of every scenario file.
    It stays a SafeLoader so that it constructs with exactly SafeLoader's constructors.
    """

    def __init__(self) -> None:
        yaml.constructor.SafeConstructor.__init__(self)
        self.deep_construct = True


def load(path: Path, text: str | None = None) -> Node | None:
    """Compose one YAML document; a syntax error is a `ScenarioError` at its position. Empty → None."""
    shown = str(path)
    if text is None:
        text = path.read_text(encoding="utf-8")
    try:
        node = _compose(text)
    except yaml.MarkedYAMLError as err:
        mark = err.problem_mark or err.context_mark
        line, column = (mark.line + 1, mark.column + 1) if mark else (1, 1)
        raise ScenarioError(SourcePosition(shown, line, column), f"YAML syntax error: {err.problem}") from err
    except yaml.YAMLError as err:
        raise ScenarioError(SourcePosition(shown, 1, 1), f"YAML error: {err}") from err
    return None if node is None else Node(node, shown)


# libyaml's parser composes the same nodes (the Python resolver still gives the tags) several times
# faster than PyYAML's pure-Python one, which was most of the time taken to load a big scenario set.
# PyYAML only defines CSafeLoader when it was built with libyaml.
_FAST_LOADER: Any = getattr(yaml, "CSafeLoader", None)
_NON_PRINTABLE = yaml.reader.Reader.NON_PRINTABLE
# Where the two parsers part ways, the pure one decides, as it always has. Besides the characters its
# reader refuses up front (above), libyaml accepts or places differently: tabs, byte-order marks and the
# Unicode line breaks; tags and directives (a `!` or `%` where a token can start: libyaml takes handles
# that the pure scanner refuses); and a comment glued to a block scalar's header (`|#`).
_SCANNED_APART = re.compile(r"[\t\ufeff\x85\u2028\u2029]|(?<![^\s\[\]{},:?-])[!%]|[|>][-+0-9]*#")


def _compose(text: str) -> yaml.Node | None:
    if _FAST_LOADER is not None and not _NON_PRINTABLE.search(text) and not _SCANNED_APART.search(text):
        # Text libyaml refuses goes on to the pure parser below, whose messages and positions are
        # the ones users have always seen.
        with contextlib.suppress(Exception):
            node: yaml.Node | None = yaml.compose(text, Loader=_FAST_LOADER)
            if node is None or _same_as_pure(node, question_marks="?" in text):
                return node
    return yaml.compose(text, Loader=yaml.SafeLoader)


def _same_as_pure(root: yaml.Node, question_marks: bool) -> bool:
    """False for the two shapes libyaml composes otherwise: an empty value (libyaml puts it one column
    further on), and a `?` inside a plain scalar in a flow collection (the pure parser takes it for a
    key indicator and refuses the text)."""
    if not isinstance(root, yaml.CollectionNode):
        return not isinstance(root, yaml.ScalarNode) or bool(root.style or root.value)
    seen: set[int] = set()  # collections only: an alias repeats a node, and must not repeat the walk
    stack: list[yaml.CollectionNode] = [root]
    while stack:
        collection = stack.pop()
        if id(collection) in seen:
            continue
        seen.add(id(collection))
        in_flow = question_marks and collection.flow_style
        children = collection.value
        if isinstance(collection, yaml.MappingNode):
            children = [child for pair in children for child in pair]
        for child in children:
            if isinstance(child, yaml.ScalarNode):
                if not child.style and (not child.value or (in_flow and "?" in child.value)):
                    return False
            elif isinstance(child, yaml.CollectionNode):
                stack.append(child)
    return True
