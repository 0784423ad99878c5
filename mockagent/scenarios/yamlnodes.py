"""Reading YAML with positions: every value knows its file, line and column.

PyYAML's composer keeps marks on nodes; this wraps them so that a validator can say
``scenarios/demo.yaml:12:9: unknown key 'sya' in a step`` about the exact key or value at fault.

A file is read and composed within bounds (CHOSEN, docs/scenarios.md): its size, how deep it nests, and
how many nodes its aliases repeat ("billion laughs"), each past its bound a ``path:line:col:`` error
before anything walks, prints or streams the document.
"""

from __future__ import annotations

import contextlib
import difflib
import re
import reprlib
from collections.abc import Callable, Iterable, Iterator
from pathlib import Path
from typing import Any, TypeVar

import yaml
from yaml.composer import Composer
from yaml.parser import Parser
from yaml.reader import Reader
from yaml.resolver import Resolver
from yaml.scanner import Scanner

from mockagent.errors import ScenarioError, ScenarioErrors, SourcePosition

#: CHOSEN: the largest scenario file, in bytes (composing costs about 40 bytes of memory per byte).
MAX_FILE_BYTES = 4 * 1024 * 1024
#: CHOSEN: how deep mappings and lists may nest (a scenario needs about ten levels; tool arguments more).
MAX_DEPTH = 64
#: CHOSEN: how many nodes the aliases of one file may repeat, all told.
MAX_ALIAS_NODES = 100_000
#: CHOSEN: problems reported by one load before it stops looking.
MAX_PROBLEMS = 1_000

_STR_TAG = "tag:yaml.org,2002:str"
_SCALAR_TAGS = {
    "tag:yaml.org,2002:str",
    "tag:yaml.org,2002:int",
    "tag:yaml.org,2002:float",
    "tag:yaml.org,2002:bool",
    "tag:yaml.org,2002:null",
}
_FLOAT_TAG = "tag:yaml.org,2002:float"
_JSON_COLLECTION_TAGS = {"tag:yaml.org,2002:map", "tag:yaml.org,2002:seq"}
R = TypeVar("R")

# Values quoted in messages: a scalar may be megabytes long.
_SHOWN = reprlib.Repr()
_SHOWN.maxstring = _SHOWN.maxother = 80
_SHOWN.maxlist = _SHOWN.maxtuple = _SHOWN.maxdict = _SHOWN.maxset = 6
_SHOWN.maxlevel = 3


def shown(value: object) -> str:
    """`value`'s repr, cut short where it is long."""
    return _SHOWN.repr(value)


def _unknown(name: str, what: str, allowed: set[str]) -> str:
    near = difflib.get_close_matches(name, allowed, n=1, cutoff=0.6) if len(name) <= 100 else []
    hint = f" (did you mean {near[0]!r}?)" if near else ""
    return f"unknown key {shown(name)} in {what}{hint}; expected one of: {', '.join(sorted(allowed))}"


class TooManyProblems(Exception):
    """`MAX_PROBLEMS` were found: the load stops looking."""


class Problems:
    """The problems found while loading: loading goes on past each one, so that all are reported."""

    def __init__(self) -> None:
        self.found: list[ScenarioError] = []
        self.stopped = False

    def report(self, error: ScenarioError) -> None:
        self.found.extend(error.problems)
        if len(self.found) >= MAX_PROBLEMS:
            self.stopped = True
            raise TooManyProblems

    def each(self, nodes: Iterable[Node], parse: Callable[[Node], R]) -> list[R]:
        """`parse` of each node, leaving out (and reporting) those that are wrong."""
        results = []
        for node in nodes:
            try:
                results.append(parse(node))
            except ScenarioError as err:
                self.report(err)
        return results

    def sort_from(self, start: int) -> None:
        """Put the problems found since `start` (those of one file) in the order of their positions."""
        self.found[start:] = sorted(self.found[start:], key=lambda e: (e.position.line, e.position.column))

    def check(self) -> None:
        if self.found:
            note = f"(stopped after {MAX_PROBLEMS:,} problems)" if self.stopped else ""
            raise ScenarioErrors(self.found, note)


class Reported(ScenarioError):
    """A value left out because of problems already reported: there is nothing more to say about it."""

    @property
    def problems(self) -> tuple[ScenarioError, ...]:
        return ()


class Fields(dict[str, "Node"]):
    """A mapping's known keys; `misspelt` when it also had unknown ones (already reported), so that a
    key it lacks is likely one of them and needs no second message."""

    misspelt = False


class Node:
    """One YAML node and where it stands."""

    __slots__ = ("_node", "path", "problems")

    def __init__(self, node: yaml.Node, path: str, problems: Problems) -> None:
        self._node = node
        self.path = path
        self.problems = problems

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

    def has(self, key: str) -> bool:
        """Whether this is a mapping with the key `key` (asking reports nothing)."""
        return isinstance(self._node, yaml.MappingNode) and any(
            isinstance(k, yaml.ScalarNode) and k.value == key for k, _ in self._node.value
        )

    @property
    def is_scalar(self) -> bool:
        return isinstance(self._node, yaml.ScalarNode)

    @property
    def is_null(self) -> bool:
        return self._node.tag == "tag:yaml.org,2002:null"

    def items(self, what: str, allowed: set[str] | None = None) -> Iterator[tuple[str, Node, Node]]:
        """Yield (key, key node, value node); unknown and duplicate keys are reported at the key, and left out."""
        if not isinstance(self._node, yaml.MappingNode):
            raise self.error(f"{what} must be a mapping, not {self.kind}")
        seen: set[str] = set()
        for key_node, value_node in self._node.value:
            key = Node(key_node, self.path, self.problems)
            if isinstance(key_node, yaml.ScalarNode) and key_node.tag == _STR_TAG:
                name = key_node.value  # what scalar() gives for a string key, without formatting its message
            else:
                try:
                    name = key.scalar(f"a key in {what}")
                    if not isinstance(name, str):
                        raise key.error(f"keys in {what} must be strings, got {shown(name)}")
                except ScenarioError as err:
                    self.problems.report(err)
                    continue
            if allowed is not None and name not in allowed:
                self.problems.report(key.error(_unknown(name, what, allowed)))
                continue
            if name in seen:
                self.problems.report(key.error(f"duplicate key {shown(name)} in {what}"))
                continue
            seen.add(name)
            yield name, key, Node(value_node, self.path, self.problems)

    def mapping(self, what: str, allowed: set[str], required: frozenset[str] = frozenset()) -> Fields:
        reported = len(self.problems.found)
        found = Fields((name, value) for name, _, value in self.items(what, allowed))
        found.misspelt = len(self.problems.found) > reported
        missing = sorted(required - found.keys())
        if missing and not found.misspelt:
            raise self.error(f"{what} needs {missing[0]!r}")
        if missing:
            raise Reported(self.position, f"{what} is left out")
        return found

    def sequence(self, what: str) -> list[Node]:
        if not isinstance(self._node, yaml.SequenceNode):
            raise self.error(f"{what} must be a list, not {self.kind}")
        return [Node(child, self.path, self.problems) for child in self._node.value]

    def scalar(self, what: str) -> Any:
        if not isinstance(self._node, yaml.ScalarNode):
            raise self.error(f"{what} must be a single value, not {self.kind}")
        return self.plain()

    def string(self, what: str) -> str:
        value = self.scalar(what)
        if not isinstance(value, str):
            raise self.error(f"{what} must be a string, got {shown(value)}")
        return value

    def text(self, what: str) -> str:
        """A string, accepting plain numbers too (``say: 42`` says "42")."""
        value = self.scalar(what)
        if isinstance(value, bool) or value is None or isinstance(value, dict | list):
            raise self.error(f"{what} must be text, got {shown(value)}")
        return str(value)

    def integer(self, what: str, minimum: int | None = None) -> int:
        value = self.scalar(what)
        if isinstance(value, bool) or not isinstance(value, int):
            raise self.error(f"{what} must be a whole number, got {shown(value)}")
        if minimum is not None and value < minimum:
            raise self.error(f"{what} must be at least {minimum}, got {value}")
        return value

    def number(self, what: str, minimum: float | None = 0.0) -> float:
        value = self.scalar(what)
        if isinstance(value, bool) or not isinstance(value, int | float):
            raise self.error(f"{what} must be a number, got {shown(value)}")
        if minimum is not None and value < minimum:
            raise self.error(f"{what} must be at least {minimum}, got {value}")
        return float(value)

    def boolean(self, what: str) -> bool:
        value = self.scalar(what)
        if not isinstance(value, bool):
            raise self.error(f"{what} must be true or false, got {shown(value)}")
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

    def json(self) -> Any:
        """The node as JSON data, for what goes on the wire (tool arguments and outputs): each value JSON
        cannot carry (a date, a set, binary data, NaN) is reported at its own position, rather than
        failing a stream later."""
        reported = len(self.problems.found)
        seen: set[int] = set()
        stack: list[yaml.Node] = [self._node]
        while stack:
            node = stack.pop()
            if id(node) in seen:
                continue
            seen.add(id(node))
            at = Node(node, self.path, self.problems)
            if isinstance(node, yaml.ScalarNode):
                if node.tag == _FLOAT_TAG and not _finite(node.value):
                    self.problems.report(at.error(f"{shown(node.value)}: JSON has no NaN or infinity"))
                elif node.tag not in _SCALAR_TAGS:
                    kind = node.tag.rsplit(":", 1)[-1]
                    self.problems.report(
                        at.error(f"{shown(node.value)} is a {kind} to YAML, which JSON cannot carry (quote it)")
                    )
                continue
            if node.tag not in _JSON_COLLECTION_TAGS:
                kind = node.tag.rsplit(":", 1)[-1]
                self.problems.report(at.error(f"a {kind} is not JSON data (mappings and lists are)"))
                continue
            children = node.value
            if isinstance(node, yaml.MappingNode):
                children = [child for pair in children for child in pair]
            stack.extend(reversed(children))
        if len(self.problems.found) > reported:
            raise Reported(self.position, "a value that is not JSON data is left out")
        return self.plain()

    def children(self) -> list[tuple[Any, Node]]:
        """A mapping's (key as `plain` makes it, value) or a list's (index, item); nothing for a scalar. For a
        walk beside `plain()`'s data (a key given twice: the later one is what the data holds)."""
        node = self._node
        if isinstance(node, yaml.SequenceNode):
            return [(index, Node(child, self.path, self.problems)) for index, child in enumerate(node.value)]
        if isinstance(node, yaml.MappingNode):
            return [
                (Node(key, self.path, self.problems).plain(), Node(value, self.path, self.problems))
                for key, value in node.value
            ]
        return []

    @property
    def kind(self) -> str:
        if isinstance(self._node, yaml.MappingNode):
            return "a mapping"
        if isinstance(self._node, yaml.SequenceNode):
            return "a list"
        return f"the value {shown(self.plain())}"


class _Constructor(yaml.SafeLoader):
    """A SafeLoader used only to construct one already-composed node.

    Only the constructor part is set up: a whole SafeLoader also builds a reader, scanner and parser
    for a stream it never reads, and that cost was paid for every scalar of every scenario file.
    It stays a SafeLoader so that it constructs with exactly SafeLoader's constructors.
    """

    def __init__(self) -> None:
        yaml.constructor.SafeConstructor.__init__(self)
        self.deep_construct = True


def _finite(text: str) -> bool:
    """Whether a YAML float (``1.5``, ``1e3``, ``.nan``, ``-.inf``) is a finite number."""
    return ".inf" not in text.lower() and ".nan" not in text.lower()


def read(path: Path) -> str:
    """The text of a scenario file, read no further than `MAX_FILE_BYTES` (the file may be a pipe)."""
    try:
        with path.open("rb") as file:
            data = file.read(MAX_FILE_BYTES + 1)
    except OSError as err:
        raise ScenarioError(SourcePosition.whole(path), f"cannot read it: {err.strerror or err}") from None
    if len(data) > MAX_FILE_BYTES:
        raise ScenarioError(
            SourcePosition.whole(path),
            f"the file is larger than {MAX_FILE_BYTES // 1024 // 1024} MiB, the limit for a scenario file",
        )
    try:
        text = data.decode("utf-8")
    except UnicodeDecodeError as err:
        before = data[: err.start].decode("utf-8", errors="replace")
        line, column = before.count("\n") + 1, len(before) - before.rfind("\n")
        raise ScenarioError(SourcePosition(str(path), line, column), f"not UTF-8 text: {err.reason}") from None
    # As a text-mode read would have it (universal newlines), which is what the positions always counted.
    return text.replace("\r\n", "\n").replace("\r", "\n") if "\r" in text else text


def load(path: Path, text: str | None = None, problems: Problems | None = None) -> Node | None:
    """Compose one YAML document; a syntax error, or a document past a bound, is a `ScenarioError` at
    its position. Empty → None."""
    shown_path = str(path)
    if text is None:
        text = read(path)
    try:
        node = _compose(text)
    except _PastBound as err:
        mark = err.problem_mark
        line, column = (mark.line + 1, mark.column + 1) if mark else (1, 1)
        raise ScenarioError(SourcePosition(shown_path, line, column), str(err.problem)) from None
    except yaml.MarkedYAMLError as err:
        mark = err.problem_mark or err.context_mark
        line, column = (mark.line + 1, mark.column + 1) if mark else (1, 1)
        raise ScenarioError(SourcePosition(shown_path, line, column), f"YAML syntax error: {err.problem}") from err
    except yaml.YAMLError as err:
        raise ScenarioError(SourcePosition(shown_path, 1, 1), f"YAML error: {err}") from err
    return None if node is None else Node(node, shown_path, problems if problems is not None else Problems())


class _PastBound(yaml.MarkedYAMLError):
    """A document nested too deeply, or whose aliases repeat too much: refused where it passes the bound."""


class _BoundedComposer(Composer):
    """PyYAML's composer, refusing a collection nested deeper than `MAX_DEPTH` and aliases that repeat more
    than `MAX_ALIAS_NODES` nodes in all (an alias to a node that contains it, a cycle, too), each at the
    event that passes the bound: before anything recurses through the document or expands it."""

    def __init__(self) -> None:
        super().__init__()
        self._depth = 0  # collections open around the node being composed
        self._reached = 0  # the deepest level reached so far inside the node being composed
        self._count = 0  # nodes composed so far, what each alias repeats included
        self._repeated = 0  # nodes repeated by aliases so far
        self._sizes: dict[str, tuple[int, int]] = {}  # anchor → (nodes, levels) of the node it names

    peek_event: Callable[[], yaml.Event]  # the parser's, beside this in the loader's bases

    def compose_node(self, parent: yaml.Node | None, index: int) -> yaml.Node | None:
        event = self.peek_event()
        if isinstance(event, yaml.AliasEvent):
            size = self._sizes.get(str(event.anchor))
            if size is None and event.anchor in self.anchors:
                raise _past(f"the alias *{event.anchor} is inside the node it names", event)
            if size is not None:
                nodes, levels = size
                self._repeated += nodes
                if self._repeated > MAX_ALIAS_NODES:
                    raise _past(f"aliases repeat more than {MAX_ALIAS_NODES:,} nodes in all", event)
                if self._depth + levels > MAX_DEPTH:
                    raise _past(f"nested more than {MAX_DEPTH} levels deep (through *{event.anchor})", event)
                self._count += nodes
                self._reached = max(self._reached, self._depth + levels)
            return super().compose_node(parent, index)
        opens = isinstance(event, yaml.CollectionStartEvent)
        if opens and self._depth >= MAX_DEPTH:
            raise _past(f"nested more than {MAX_DEPTH} levels deep", event)
        start, outer = self._count, self._reached
        self._depth += opens
        self._reached = self._depth
        try:
            node = super().compose_node(parent, index)
        finally:
            self._depth -= opens
        self._count += 1
        anchor = getattr(event, "anchor", None)
        if anchor is not None:
            self._sizes[anchor] = (self._count - start, self._reached - self._depth)
        self._reached = max(outer, self._reached)
        return node


def _past(problem: str, event: yaml.Event) -> _PastBound:
    mark: Any = event.start_mark  # libyaml's events carry a Mark type of their own, with the same fields
    return _PastBound(None, None, problem, mark)


class _PureLoader(Reader, Scanner, Parser, _BoundedComposer, Resolver):
    """PyYAML's pure-Python SafeLoader up to composing (it never constructs), with the bounds."""

    def __init__(self, stream: str) -> None:
        Reader.__init__(self, stream)
        Scanner.__init__(self)
        Parser.__init__(self)
        _BoundedComposer.__init__(self)
        Resolver.__init__(self)


def _compose_with(loader_class: Callable[[str], Any], text: str) -> yaml.Node | None:
    loader = loader_class(text)
    try:
        node: yaml.Node | None = loader.get_single_node()
        return node
    finally:
        loader.dispose()


# libyaml's parser composes the same nodes (the Python resolver still gives the tags) several times
# faster than PyYAML's pure-Python one, which was most of the time taken to load a big scenario set.
# PyYAML only defines CSafeLoader when it was built with libyaml.
_FAST_LOADER: Any = getattr(yaml, "CSafeLoader", None)
_NON_PRINTABLE = yaml.reader.Reader.NON_PRINTABLE
_FAST_BOUNDED_LOADER: Any = None
if _FAST_LOADER is not None:
    from yaml._yaml import CParser

    class _FastBoundedLoader(_BoundedComposer, CParser, Resolver):
        """libyaml's parser, for its speed, with the bounded composer (libyaml's own composer cannot be
        bounded; this one, in Python, is 1.6 times as slow: it is used only for text with anchors)."""

        def __init__(self, stream: str) -> None:
            CParser.__init__(self, stream)
            _BoundedComposer.__init__(self)
            Resolver.__init__(self)

    _FAST_BOUNDED_LOADER = _FastBoundedLoader
# Where the two parsers part ways, the pure one decides, as it always has. Besides the characters its
# reader refuses up front (above), libyaml accepts or places differently: tabs, byte-order marks and the
# Unicode line breaks; tags and directives (a `!` or `%` where a token can start: libyaml takes handles
# that the pure scanner refuses); and a comment glued to a block scalar's header (`|#`).
_SCANNED_APART = re.compile(r"[\t\ufeff\x85\u2028\u2029]|(?<![^\s\[\]{},:?-])[!%]|[|>][-+0-9]*#")


def _compose(text: str) -> yaml.Node | None:
    if _FAST_LOADER is not None and not _NON_PRINTABLE.search(text) and not _SCANNED_APART.search(text):
        # Text libyaml refuses goes on to the pure parser below, whose messages and positions are
        # the ones users have always seen; so does a document past a bound, for the pure composer to
        # say where.
        with contextlib.suppress(Exception):
            node: yaml.Node | None
            if "&" in text:  # anchors, so maybe aliases: counted as they are composed, by the bounded composer
                node = _compose_with(_FAST_BOUNDED_LOADER, text)
            else:
                node = yaml.compose(text, Loader=_FAST_LOADER)
                if node is not None and _deeper_than(node, MAX_DEPTH):
                    raise _PastBound  # for the pure composer to say where
            if node is None or _same_as_pure(node, question_marks="?" in text):
                return node
    return _compose_with(_PureLoader, text)


def _deeper_than(root: yaml.Node, limit: int) -> bool:
    """Whether collections nest deeper than `limit` (for a document without aliases: a tree)."""
    stack: list[tuple[yaml.Node, int]] = [(root, 1)]
    while stack:
        node, depth = stack.pop()
        if isinstance(node, yaml.CollectionNode):
            if depth > limit:
                return True
            children = node.value
            if isinstance(node, yaml.MappingNode):
                children = [child for pair in children for child in pair]
            stack.extend((child, depth + 1) for child in children if isinstance(child, yaml.CollectionNode))
    return False


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
