"""Loading scenario files: YAML in, a validated `ScenarioSet` out, or a `path:line:col:` error.

The file format (see docs/scenarios.md)::

    agents:
      - id: echo
        aster_id: 1
        script:
          - say: "Echo: {{ message }}"
"""

from __future__ import annotations

import contextlib
import gc
import re
from collections.abc import Callable, Iterable, Iterator, Mapping, Sequence
from contextlib import contextmanager
from dataclasses import replace
from pathlib import Path
from typing import TypeVar

import regex

from mockagent.errors import ScenarioError, SourcePosition
from mockagent.faults import Fault, FaultRule, FaultSyntaxError, Per, RateLimit, parse_fault
from mockagent.model import (
    Ask,
    Chunking,
    Delay,
    Fail,
    Glitch,
    Pace,
    PlatformKey,
    Reasoning,
    Say,
    Step,
    ToolCall,
    ToolResult,
    WaitPolls,
)
from mockagent.scenarios import conditions, states, stubs, yamlnodes
from mockagent.scenarios.conditions import Condition
from mockagent.scenarios.model import (
    DEFAULT_PRIORITY,
    Agent,
    Answer,
    Credential,
    Exhausted,
    Llm,
    Reply,
    ScenarioSet,
    StateChanges,
)
from mockagent.scenarios.yamlnodes import Fields, Node, Problems, Reported, TooManyProblems, shown
from mockagent.templating import JsonTemplate, Template, TemplateError, json_template

SCENARIO_SUFFIXES = (".yaml", ".yml")
T = TypeVar("T")
_NO_FAULTS: tuple[FaultRule, ...] = ()
_NO_CHANGES: StateChanges = ()
AGENT_ID = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._:-]{0,127}$")


def load_paths(paths: Sequence[Path], routes: Callable[[], Iterable[stubs.ServedRoute]] | None = None) -> ScenarioSet:
    """Load files, and the scenario files inside folders (sorted, so the order is stable). Every problem
    of every file is reported, in one `ScenarioErrors`. `routes`: the modelled routes of the platforms to
    be served, asked for only when there are stubs (a stub that would answer for one must say `shadow`)."""
    order: dict[str, int] = {}  # each path in the order it is loaded: the order its problems are told in

    def parts(problems: Problems) -> list[ScenarioSet]:
        loaded = []
        for path in _expand(paths, problems, order):
            order.setdefault(str(path), len(order))
            loaded.append(_load(path, None, problems))
        return loaded

    return _checked(parts, routes, order)


def load_text(path: Path, text: str, routes: Callable[[], Iterable[stubs.ServedRoute]] | None = None) -> ScenarioSet:
    """One scenario document given as text (the admin API's `PUT /scenarios`), checked exactly as
    `load_paths` checks a file: its problems named at `path` (a pseudo path such as ``<admin>``)."""
    return _checked(lambda problems: [_load(path, text, problems)], routes, {})


def _checked(
    parts: Callable[[Problems], list[ScenarioSet]],
    routes: Callable[[], Iterable[stubs.ServedRoute]] | None,
    order: Mapping[str, int],
) -> ScenarioSet:
    """The scenario set of the `parts` loaded, checked as a whole (stubs against the modelled routes and each
    other, agents declared once, states): every problem reported at once, by file `order`, line and column."""
    problems = Problems()
    scenarios = ScenarioSet()
    with _gc_paused():
        try:
            loaded = parts(problems)
            found = [stub for part in loaded for stub in part.stubs]
            if routes is not None and found:
                for problem in stubs.collisions(found, routes()):
                    problems.report(problem)
            scenarios = ScenarioSet.combine(loaded)
            for problem in states.problems(scenarios):
                problems.report(problem)
        except ScenarioError as err:
            with contextlib.suppress(TooManyProblems):
                problems.report(err)
        except TooManyProblems:
            pass
    problems.found.sort(key=lambda e: (order.get(e.position.path, len(order)), e.position.line, e.position.column))
    problems.check()
    return scenarios


@contextmanager
def _gc_paused() -> Iterator[None]:
    """Loading allocates tens of thousands of objects that all stay alive, so each collection the
    allocations trigger finds nothing to free yet walks everything made so far: with a thousand
    agents that was a quarter of the load. The collector resumes (and catches up) afterwards."""
    enabled = gc.isenabled()
    gc.disable()
    try:
        yield
    finally:
        if enabled:
            gc.enable()


def _expand(paths: Sequence[Path], problems: Problems, order: dict[str, int]) -> Iterable[Path]:
    for path in paths:
        if path.is_dir():
            found = sorted(p for p in path.rglob("*") if p.suffix in SCENARIO_SUFFIXES and p.is_file())
            if not found:
                order.setdefault(str(path), len(order))
                problems.report(ScenarioError(SourcePosition.whole(path), "no scenario files (*.yaml, *.yml) in it"))
            yield from found
        elif path.exists():
            yield path
        else:
            order.setdefault(str(path), len(order))
            problems.report(ScenarioError(SourcePosition.whole(path), "no such scenario file or folder"))


def load_file(path: Path) -> ScenarioSet:
    return load_paths([path])


def _load(path: Path, text: str | None, problems: Problems) -> ScenarioSet:
    """One file's scenarios; its problems go to `problems`, in the order of their positions."""
    start = len(problems.found)
    try:
        return _scenarios(path, text, problems)
    except ScenarioError as err:
        problems.report(err)
        return ScenarioSet(files=(str(path),))
    finally:
        problems.sort_from(start)


def _scenarios(path: Path, text: str | None, problems: Problems) -> ScenarioSet:
    root = yamlnodes.load(path, text, problems)
    if root is None:
        return ScenarioSet(files=(str(path),))
    top = root.mapping("a scenario file", FILE_KEYS)
    shared_faults = _opt(top, "faults", _faults, _NO_FAULTS)
    agents: list[Agent] = _opt(
        top, "agents", lambda n: problems.each(n.sequence("agents"), lambda a: _agent(a, shared_faults)), []
    )
    credentials: dict[PlatformKey, dict[str, Credential]] = _opt(top, "auth", _auth, {})
    declared: dict[str, frozenset[str]] = _opt(top, "states", _declared_states, {})
    found_stubs: list[stubs.Stub] = _opt(top, "stubs", lambda n: stubs.parse_stubs(n, _STUB_READERS), [])
    # combine() reports a duplicate id (or stub) within one file as well as across files.
    return ScenarioSet.combine(
        [ScenarioSet(agents={a.id: a}, files=()) for a in agents]
        + [ScenarioSet(stubs=(stub,), files=()) for stub in found_stubs]
        + [ScenarioSet(credentials=credentials, files=(str(path),), states=declared)]
    )


def _opt(fields: Fields, key: str, parse: Callable[[Node], T], default: T) -> T:
    """`parse` of the value at `key`: `default` when the key is absent, or when its value is wrong (that
    problem is reported, and the load goes on to find the others)."""
    if key not in fields:
        return default
    node = fields[key]
    try:
        return parse(node)
    except ScenarioError as err:
        node.problems.report(err)
        return default


# ── agents ───────────────────────────────────────────────────────────────────────────────────────

# The keys of each mapping the format has: the loader reads them, and the JSON Schema is built from them
# (mockagent/scenarios/schema.py), so that the two never disagree on what a file may say.
FILE_KEYS = {"agents", "auth", "faults", "states", "stubs"}
AGENT_KEYS = {
    "id",
    "aster_id",
    "name",
    "description",
    "platforms",
    "pace",
    "llm",
    "script",
    "default",
    "replies",
    "faults",
}
LAST_PRIORITY = 2**62  # the priority of an agent's default reply: after every other


def _agent(node: Node, shared_faults: tuple[FaultRule, ...] = ()) -> Agent:
    fields = node.mapping("an agent", AGENT_KEYS, required=frozenset({"id"}))
    agent_id = _opt(fields, "id", _agent_id, None)
    problems = node.problems
    if "script" not in fields and "replies" not in fields and "default" not in fields and not fields.misspelt:
        problems.report(node.error(f"agent {shown(agent_id or '?')} needs a 'script' (or 'replies')"))
    if "script" in fields and "default" in fields:
        problems.report(fields["default"].error("an agent's 'script' is its default reply: give one or the other"))
    replies: list[Reply] = _opt(fields, "replies", lambda n: problems.each(n.sequence("replies"), _reply), [])
    if (default := _opt(fields, "script" if "script" in fields else "default", _default, None)) is not None:
        replies.append(default)
    platforms = _opt(
        fields,
        "platforms",
        lambda n: frozenset(_enum(p, PlatformKey, "a platform") for p in n.sequence("platforms")),
        None,
    )
    aster_id = _opt(fields, "aster_id", lambda n: n.integer("aster_id", minimum=1), None)
    if agent_id is None:
        raise Reported(node.position, "an agent without a valid id is left out")
    return Agent(
        id=agent_id,
        aster_id=aster_id,
        name=_opt(fields, "name", lambda n: n.text("name"), agent_id),
        description=_opt(fields, "description", lambda n: n.text("description"), ""),
        platforms=platforms,
        pace=_opt(fields, "pace", _pace, Pace()),
        llm=_opt(fields, "llm", _llm, Llm()),
        replies=_in_order(replies, problems),
        source=node.position,
        # The agent's own rules come first: they are the more specific.
        faults=_opt(fields, "faults", _faults, _NO_FAULTS) + shared_faults,
    )


def _agent_id(node: Node) -> str:
    agent_id = node.text("the agent id")
    if not AGENT_ID.match(agent_id):
        raise node.error(
            f"agent id {shown(agent_id)} must be 1-128 letters, digits or . _ : - (starting with a letter or digit)"
        )
    return agent_id


ANSWER_KEYS = {"script", "sequence", "exhausted", "then"}  # what answers: a reply's, or a default's
REPLY_KEYS = ANSWER_KEYS | {"when", "priority"}


def _reply(node: Node) -> Reply:
    fields = node.mapping("a reply", REPLY_KEYS)
    when = _opt(fields, "when", _when, None)
    reply = _answering(node, fields, "a reply")
    if "when" in fields and when is None:
        raise Reported(node.position, "a reply with a wrong 'when' is left out")
    priority = _opt(fields, "priority", lambda n: n.integer("priority"), DEFAULT_PRIORITY)
    return replace(reply, when=when, priority=priority)


def _default(node: Node) -> Reply:
    """An agent's `default:` — what answers when none of its replies does: a script, or a reply without
    `when` (its own priority is ignored: the default comes last)."""
    if node.is_sequence:
        return Reply(script=_script(node), source=node.position, priority=LAST_PRIORITY, key=str(node.position))
    return replace(_answering(node, node.mapping("default", ANSWER_KEYS), "default"), priority=LAST_PRIORITY)


def _answering(node: Node, fields: Fields, what: str) -> Reply:
    """What a reply answers with — a `script`, or a `sequence` used call by call (and what it does once
    used up) — and the states it sets (`then`)."""
    if "script" in fields and "sequence" in fields:
        raise fields["sequence"].error(f"{what} answers with a 'script' or a 'sequence', not both")
    if "script" not in fields and "sequence" not in fields:
        if fields.misspelt:
            raise Reported(node.position, f"{what} with an unknown key is left out")
        raise node.error(f"{what} needs 'script' (or 'sequence')")
    if "exhausted" in fields and "sequence" not in fields:
        raise fields["exhausted"].error("'exhausted' says what a used-up sequence answers: this reply has none")
    reported = len(node.problems.found)
    sets = _opt(fields, "then", _then, _NO_CHANGES)
    script: tuple[Step, ...] = ()
    sequence: tuple[Answer, ...] = ()
    if "script" in fields:
        script = _script(fields["script"])
    else:
        sequence = _sequence(fields["sequence"])
        if len(node.problems.found) > reported:  # an item left out would shift every later call
            raise Reported(node.position, "a reply whose sequence has problems is left out")
    exhausted = _opt(fields, "exhausted", lambda n: _enum(n, Exhausted, "exhausted"), Exhausted.REPEAT_LAST)
    key = str(node.position)
    return Reply(script, source=node.position, key=key, sequence=sequence, exhausted=exhausted, sets=sets)


def _in_order(replies: list[Reply], problems: Problems) -> tuple[Reply, ...]:
    """Replies in the order they are tried — by priority, then as written — with each one a reply
    before it that answers anything (no `when`) makes unreachable reported at its place."""
    ordered = sorted(replies, key=lambda reply: reply.priority)  # stable: file order within a priority
    catch_all = next((reply for reply in ordered if reply.when is None), None)
    if catch_all is not None:
        for reply in ordered[ordered.index(catch_all) + 1 :]:
            assert reply.source is not None
            shadow = "the agent's script" if catch_all.priority == LAST_PRIORITY else catch_all.describe()
            problems.report(
                ScenarioError(reply.source, f"this reply is never tried: {shadow} (with no 'when') answers first")
            )
    return tuple(ordered)


# ── sequences and states ─────────────────────────────────────────────────────────────────────────

ITEM_KEYS = {"script", "fault", "retry_after", "then"}
_ITEM_SHAPE = "a sequence item is a script (`- script: [...]`, or a list of steps) or a fault (`- fault: 429`)"


def _sequence(node: Node) -> tuple[Answer, ...]:
    entries = node.sequence("sequence")
    if not entries:
        raise node.error("a sequence needs at least one item")
    return tuple(node.problems.each(entries, _sequence_item))


def _sequence_item(node: Node) -> Answer:
    if node.is_sequence:
        return Answer(script=_script(node), source=node.position)
    if not node.is_mapping:
        raise node.error(f"{_ITEM_SHAPE}, not {node.kind}")
    step = next((name for name in (*ACTIONS, "delay") if name != "fault" and node.has(name)), None)
    if step is not None and not node.has("script"):
        raise node.error(f"{_ITEM_SHAPE}; '{step}' is a step: write `- [{{{step}: …}}]` or `- script: [{{{step}: …}}]`")
    fields = node.mapping("a sequence item", ITEM_KEYS)
    if "script" not in fields and "fault" not in fields:
        if fields.misspelt:
            raise Reported(node.position, "a sequence item with an unknown key is left out")
        raise node.error(f"{_ITEM_SHAPE}: it needs 'script' or 'fault'")
    script = _script(fields["script"]) if "script" in fields else ()
    return Answer(
        script=script,
        fault=_item_fault(node, fields, "script" in fields),
        sets=_opt(fields, "then", _then, _NO_CHANGES),
        source=node.position,
    )


def _item_fault(node: Node, fields: Fields, scripted: bool) -> Fault | None:
    """A sequence item's fault (CHOSEN, docs/scenarios.md#sequences): a status fault answers in place of a
    script; a stream fault breaks the stream of the turn its item's script plays; nothing that waits (an
    item answers under the session's lock, where no request may wait)."""
    if "fault" not in fields:
        if "retry_after" in fields:
            raise fields["retry_after"].error("retry_after goes with a status fault (fault: 429)")
        return None
    at = fields["fault"]
    fault = _fault(at)
    if "retry_after" in fields:
        if fault.status is None:
            raise fields["retry_after"].error("retry_after goes with a status fault (fault: 429)")
        retry_after = fields["retry_after"].integer("retry_after", minimum=1)
        fault = replace(fault, retry_after=retry_after, source=f"{fault.source}, retry-after={retry_after}")
    if fault.is_empty:
        raise at.error("'ok' is no answer in a sequence: give the item the script that answers (- script: [...])")
    if fault.latency is not None:
        raise at.error(
            f"{shown(str(fault))}: a sequence item answers at once; for a wait, put `delay: S` first in its script"
        )
    if fault.status is not None:
        if not replace(fault, status=None, retry_after=None).is_empty:
            raise at.error(f"{shown(str(fault))}: a status fault answers in place of the turn, so no stream to break")
        if scripted:
            raise at.error(f"a {fault.status} answers in place of a script: give the item one or the other")
    elif not scripted:
        raise at.error(
            f"{shown(str(fault))} breaks a turn's stream: give the item the script it breaks (script: [...])"
        )
    return replace(fault, source=f"{fault.source} (sequence item at {node.position})")


def _then(node: Node) -> StateChanges:
    """`then: {state: {NAME: VALUE, …}}`: the states set when the reply (or the sequence item) answers."""
    fields = node.mapping("then", {"state"}, required=frozenset({"state"}))
    changes = tuple(
        (name, _state_value(value, f"then.state {name}")) for name, _, value in fields["state"].items("then.state")
    )
    if not changes:
        raise fields["state"].error("then.state needs at least one name and the value it is set to")
    return changes


def _state_value(node: Node, what: str) -> str:
    """A state's value: text (a plain number is its YAML text, as `when` reads it; an unquoted `yes` is an
    error, as in `when`, not the text "true")."""
    if node.is_scalar and isinstance(value := node.plain(), bool):
        raise node.error(f"{what}: {shown(value)} is a boolean to YAML, and a state is text (quote it)")
    return node.text(what)


def _declared_states(node: Node) -> dict[str, frozenset[str]]:
    """`states: {NAME: [VALUE, …]}`: values a state takes from outside the scenarios (the admin API, a
    test's fixture), which a `when` may then require."""
    declared: dict[str, frozenset[str]] = {}
    for name, _, value in node.items("states"):
        entries = value.sequence(f"states {name}") if value.is_sequence else [value]
        try:
            declared[name] = frozenset(_state_value(entry, f"a value of state {name}") for entry in entries)
        except ScenarioError as err:
            node.problems.report(err)
    return declared


# ── conditions ───────────────────────────────────────────────────────────────────────────────────

MESSAGE_TESTS = {"equals", "contains", "regex", "one_of", "ignore_case"}
WHEN_KEYS = {
    "message",
    "body",
    "headers",
    "query",
    "params",
    "platform",
    "turn",
    "matched",
    "state",
    "all",
    "any",
    "not",
}
TEST_KEYS = {"equals", "contains", "regex", "one_of", "exists", "gt", "gte", "lt", "lte", "ignore_case"}


def _when(node: Node) -> Condition:
    """A `when` mapping: every key is a condition, and all must hold. `equals`, `contains`, `regex`,
    `one_of` and `ignore_case` beside the others test the message (`message:` says it at length)."""
    fields = node.mapping("when", WHEN_KEYS | MESSAGE_TESTS)
    parts: list[Condition] = []
    shorthand = {key: value for key, value in fields.items() if key in MESSAGE_TESTS}
    if shorthand:
        if "message" in fields:
            raise node.error("test the message with 'message:' or with equals/contains/regex beside it, not both")
        parts.extend(_tests(node, shorthand, conditions.Message(), "when"))
    for key, value in fields.items():
        if key in MESSAGE_TESTS:
            continue
        try:
            parts.extend(_CONDITIONS[key](value))
        except ScenarioError as err:
            node.problems.report(err)
    if fields.misspelt or len(parts) < len(fields) - len(shorthand) + bool(shorthand):
        raise Reported(node.position, "a 'when' with problems is left out")
    if not parts:
        raise node.error("when needs at least one condition (leave 'when' out to answer anything)")
    return conditions.all_of(parts)


def _test_of(subject: conditions.Subject, what: str) -> Callable[[Node], list[Condition]]:
    """Read one subject's test: a value (equals), a list (one_of), or a mapping of tests."""

    def read(node: Node) -> list[Condition]:
        if node.is_mapping:
            fields = node.mapping(what, TEST_KEYS)
            if fields.misspelt:
                raise Reported(node.position, f"{what} with an unknown test is left out")
            if not fields:
                raise node.error(f"{what} needs a test: one of {', '.join(sorted(TEST_KEYS - {'ignore_case'}))}")
            return _tests(node, fields, subject, what)
        expected = _expected(subject, what)
        if node.is_sequence:
            return [conditions.Check(subject, conditions.OneOf(tuple(map(expected, node.sequence(what)))))]
        return [conditions.Check(subject, conditions.Equals(expected(node)))]

    return read


def _expected(subject: conditions.Subject, what: str) -> Callable[[Node], object]:
    """How a value to compare with is read: JSON data for a body field, text for what is always text (the
    message, headers, query parameters) — so that an unquoted `yes` is an error, not a boolean that never
    matches."""
    if not isinstance(subject, conditions.TEXT_SUBJECTS):
        return Node.json

    def text(node: Node) -> str:
        if node.is_scalar and isinstance(value := node.plain(), bool):
            raise node.error(f"{what}: {shown(value)} is a boolean to YAML, and {subject} is text (quote it)")
        return node.text(what)

    return text


def _tests(node: Node, fields: dict[str, Node], subject: conditions.Subject, what: str) -> list[Condition]:
    ignore_case = fields["ignore_case"].boolean(f"{what}.ignore_case") if "ignore_case" in fields else None
    expected = _expected(subject, what)
    checks: list[Condition] = []
    for key, value in fields.items():
        test: conditions.Test
        match key:
            case "ignore_case":
                continue
            case "equals":
                test = conditions.Equals(expected(value), bool(ignore_case))
            case "contains":
                test = conditions.Contains(expected(value), ignore_case is not False)
            case "one_of":
                test = conditions.OneOf(tuple(map(expected, value.sequence(f"{what}.one_of"))), bool(ignore_case))
            case "regex":
                test = _regex(value, f"{what}.regex", bool(ignore_case))
            case "exists":
                test = conditions.Exists(value.boolean(f"{what}.exists"))
            case _:
                test = conditions.Compare(key, value.number(f"{what}.{key}", minimum=None))
        checks.append(conditions.Check(subject, test))
    if not checks:
        raise node.error(f"ignore_case in {what} needs a test beside it")
    return checks


def _regex(node: Node, what: str, ignore_case: bool) -> conditions.Regex:
    source = node.string(what)
    try:
        pattern = regex.compile(source, regex.IGNORECASE if ignore_case else 0)
    except regex.error as err:
        raise node.error(f"invalid regular expression {shown(source)}: {err}") from None
    return conditions.Regex(pattern, node.position)


def _keyed(what: str, subject: Callable[[str, Node], conditions.Subject]) -> Callable[[Node], list[Condition]]:
    """`body`, `headers`, `query`, `state`: a mapping of names to tests."""

    def read(node: Node) -> list[Condition]:
        parts: list[Condition] = []
        for name, key_node, value in node.items(what):
            try:
                parts.extend(_test_of(subject(name, key_node), f"{what} {name}")(value))
            except ScenarioError as err:
                node.problems.report(err)
                raise Reported(node.position, f"'{what}' with problems is left out") from None
        if not parts:
            raise node.error(f"{what} needs at least one name and its test")
        return parts

    return read


def _body_field(name: str, node: Node) -> conditions.Subject:
    steps = conditions.parse_path(name)
    if steps is None:
        raise node.error(f"{shown(name)} is not a body path (fields by dots, list items by [N]: input.items[0].id)")
    return conditions.BodyField(name, steps)


def _state(name: str, node: Node) -> conditions.Subject:
    return conditions.State(name, node.position)


def _platforms(node: Node) -> list[Condition]:
    names = node.sequence("platform") if node.is_sequence else [node]
    if not names:
        raise node.error("platform needs at least one platform (a list of none never matches)")
    keys = tuple(_enum(n, PlatformKey, "platform").value for n in names)
    test = conditions.Equals(keys[0]) if len(keys) == 1 else conditions.OneOf(keys)
    return [conditions.Check(conditions.Platform(), test)]


def _combined(what: str) -> Callable[[Node], list[Condition]]:
    def read(node: Node) -> list[Condition]:
        parts = tuple(node.problems.each(node.sequence(what), _when))
        if len(parts) < len(node.sequence(what)):
            raise Reported(node.position, f"'{what}' with problems is left out")
        if not parts:
            raise node.error(f"{what} needs at least one condition")
        return [conditions.AllOf(parts) if what == "all" else conditions.AnyOf(parts)]

    return read


_CONDITIONS: dict[str, Callable[[Node], list[Condition]]] = {
    "message": _test_of(conditions.Message(), "message"),
    "body": _keyed("body", _body_field),
    "headers": _keyed("headers", lambda name, _: conditions.Header(name)),
    "query": _keyed("query", lambda name, _: conditions.Query(name)),
    "params": _keyed("params", lambda name, _: conditions.Param(name)),
    "platform": _platforms,
    "turn": _test_of(conditions.Turn(), "turn"),
    "matched": _test_of(conditions.Matched(), "matched"),
    "state": _keyed("state", _state),
    "all": _combined("all"),
    "any": _combined("any"),
    "not": lambda node: [conditions.Not(_when(node))],
}


def _faults(node: Node) -> tuple[FaultRule, ...]:
    return tuple(node.problems.each(node.sequence("faults"), _fault_rule))


RULE_KEYS = {"fault", "retry_after", "first", "sequence", "probability", "seed", "rate_limit", "per"}


def _fault_rule(node: Node) -> FaultRule:
    """One entry of ``faults:`` — e.g. ``{first: 1, fault: 429, retry_after: 1}`` or ``{rate_limit: 60/min}``."""
    fields = node.mapping("a fault rule", RULE_KEYS)
    kinds = [k for k in ("first", "sequence", "probability", "rate_limit") if k in fields]
    if len(kinds) > 1:
        raise node.error(f"a fault rule is one of first, sequence, probability or rate_limit; this one has {kinds}")
    needs_fault = not {"sequence", "rate_limit"} & fields.keys()
    if needs_fault and "fault" not in fields:
        if fields.misspelt:
            raise Reported(node.position, "a fault rule with an unknown key is left out")
        raise node.error("this fault rule needs 'fault' (e.g. fault: 429)")
    fault = _fault(fields["fault"]) if "fault" in fields else Fault()
    if "retry_after" in fields:
        fault = replace(fault, retry_after=fields["retry_after"].integer("retry_after", minimum=1))
    rule = FaultRule(fault=fault)
    if "first" in fields:
        rule = replace(rule, first=fields["first"].integer("first", minimum=1))
    if "sequence" in fields:
        rule = replace(rule, sequence=tuple(_fault(n) for n in fields["sequence"].sequence("sequence")))
    if "probability" in fields:
        probability = fields["probability"].number("probability")
        if probability > 1:
            raise fields["probability"].error(f"probability must be between 0 and 1, got {probability}")
        rule = replace(rule, probability=probability)
    if "seed" in fields:
        rule = replace(rule, seed=fields["seed"].integer("seed"))
    if "rate_limit" in fields:
        try:
            rule = replace(rule, rate_limit=RateLimit.parse(fields["rate_limit"].text("rate_limit")))
        except FaultSyntaxError as err:
            raise fields["rate_limit"].error(str(err)) from None
    if "per" in fields:
        rule = replace(rule, per=_enum(fields["per"], Per, "per"))
    return rule


def _fault(node: Node) -> Fault:
    try:
        return parse_fault(node.text("a fault"))
    except FaultSyntaxError as err:
        raise node.error(str(err)) from None


PACE_KEYS = {"queued", "first_frame", "interval", "jitter", "chunk", "chars", "seed"}


def _pace(node: Node) -> Pace:
    fields = node.mapping("pace", PACE_KEYS)
    chunking = _enum(fields["chunk"], Chunking, "pace.chunk") if "chunk" in fields else Chunking.WORDS
    chars = fields["chars"].integer("pace.chars", minimum=1) if "chars" in fields else 0
    if chunking is Chunking.CHARS and not chars:
        raise node.error("pace with chunk: chars needs 'chars' (how many characters a chunk holds)")
    return Pace(
        queued=_seconds(fields, "queued", "pace.queued"),
        first_frame=_seconds(fields, "first_frame", "pace.first_frame"),
        interval=_seconds(fields, "interval", "pace.interval"),
        jitter=_seconds(fields, "jitter", "pace.jitter"),
        chunking=chunking,
        chunk_chars=chars,
        seed=fields["seed"].integer("pace.seed") if "seed" in fields else 0,
    )


LLM_KEYS = {"provider", "model", "reasoning_effort"}


def _llm(node: Node) -> Llm:
    fields = node.mapping("llm", LLM_KEYS)
    default = Llm()
    return Llm(
        provider=fields["provider"].string("llm.provider") if "provider" in fields else default.provider,
        model=fields["model"].string("llm.model") if "model" in fields else default.model,
        reasoning_effort=(
            fields["reasoning_effort"].string("llm.reasoning_effort")
            if "reasoning_effort" in fields
            else default.reasoning_effort
        ),
    )


def _auth(node: Node) -> dict[PlatformKey, dict[str, Credential]]:
    result: dict[PlatformKey, dict[str, Credential]] = {}
    for _, key_node, value in node.items("auth"):
        try:
            platform = _enum(key_node, PlatformKey, "a platform in auth")
        except ScenarioError as err:
            node.problems.report(err)
            continue
        keys: dict[str, Credential] = {}
        for credential in node.problems.each(value.sequence(f"auth.{platform}"), _credential):
            keys[credential.key] = credential
        result[platform] = keys
    return result


CREDENTIAL_KEYS = {"key", "agent"}


def _credential(entry: Node) -> Credential:
    if entry.is_mapping:
        fields = entry.mapping("a credential", CREDENTIAL_KEYS, required=frozenset({"key"}))
        return Credential(
            key=fields["key"].string("key"),
            agent=fields["agent"].text("agent") if "agent" in fields else None,
        )
    return Credential(key=entry.string("a credential"))


# ── steps ────────────────────────────────────────────────────────────────────────────────────────


def _script(node: Node, *, on_reject: bool = False) -> tuple[Step, ...]:
    """A script's steps; `on_reject`: what plays after a rejected call, which may be empty and may give
    that call its result."""
    entries = node.sequence("a script")
    if not entries and not on_reject:
        raise node.error("a script needs at least one step")
    steps: list[Step] = []
    called = on_reject
    for entry in entries:
        try:
            played = _step(entry)
        except ScenarioError as err:
            node.problems.report(err)
            called = called or entry.has("tool_call")  # a wrong call is still the call a result follows
            continue
        for step in played:
            if isinstance(step, ToolResult) and not called:
                node.problems.report(entry.error("tool_result has no tool_call before it in its script"))
            called = called or isinstance(step, ToolCall)
        steps.extend(played)
    return tuple(steps)


def _step(node: Node) -> list[Step]:
    """One entry of a script: an action, optionally preceded by ``delay: seconds`` in the same entry."""
    fields = node.mapping("a step", set(ACTIONS) | {"delay"})
    actions = [name for name in fields if name != "delay"]
    if len(actions) > 1:
        raise node.error(f"a step does one thing; this one has {' and '.join(map(repr, actions))}")
    steps: list[Step] = []
    if "delay" in fields:
        steps.append(Delay(fields["delay"].number("delay")))
    if actions:
        steps.append(ACTIONS[actions[0]](fields[actions[0]]))
    elif fields.misspelt:
        raise Reported(node.position, "a step with an unknown key is left out")
    elif not steps:
        raise node.error(f"a step needs one of: {', '.join(sorted(ACTIONS))}")
    return steps


def _template(node: Node, what: str, *, whole: bool = False) -> Template:
    source = node.text(what)
    try:
        return Template(source, node.position, whole=whole)
    except TemplateError as err:
        line = f" (line {err.lineno} of the template)" if err.lineno > 1 else ""
        raise node.error(f"{what}: {err}{line}") from err


SAY_KEYS = {"text", "chunks", "chunk", "chars", "interval"}
TOOL_CALL_KEYS = {"name", "args", "id", "requires_approval", "on_reject"}
TOOL_RESULT_KEYS = {"output", "error"}
ASK_KEYS = {"question", "options"}
FAIL_KEYS = {"message", "code"}


def _templates(node: Node, what: str) -> tuple[Template, ...]:
    """A list of texts, each a template; every one that is wrong is reported."""
    entries = node.sequence(what)
    templates = tuple(node.problems.each(entries, lambda entry: _template(entry, what)))
    if len(templates) < len(entries):
        raise Reported(node.position, f"{what} with problems is left out")
    return templates


def _json(node: Node, what: str) -> JsonTemplate:
    """JSON data whose strings are templates (each problem reported at its string); a string that is exactly
    one ``{{ expression }}`` renders to the expression's value."""
    value = node.json()
    at: dict[tuple[object, ...], Node] = {}
    stack: list[tuple[tuple[object, ...], Node]] = [((), node)]
    while stack:
        where, child = stack.pop()
        at[where] = child
        stack.extend(((*where, key), item) for key, item in reversed(child.children()))
    reported = len(node.problems.found)

    def template(where: tuple[object, ...], text: str) -> Template:
        place = at.get(where, node)
        path = "".join(f"[{key}]" if isinstance(key, int) else f".{key}" for key in where)
        try:
            return _template(place, f"{what}{path}", whole=True)
        except ScenarioError as err:
            node.problems.report(err)
            return Template("")

    compiled = json_template(value, template)
    if len(node.problems.found) > reported:
        raise Reported(node.position, f"{what} with problems is left out")
    return compiled


def _say(node: Node) -> Say:
    if not node.is_mapping:
        return Say(text=_template(node, "say"))
    fields = node.mapping("say", SAY_KEYS)
    chunks = _templates(fields["chunks"], "say.chunks") if "chunks" in fields else None
    if "text" not in fields and chunks is None:
        if fields.misspelt:
            raise Reported(node.position, "a say with an unknown key is left out")
        raise node.error("say needs 'text' (or explicit 'chunks')")
    text = _template(fields["text"], "say.text") if "text" in fields else Template("")  # chunks win
    chunking = _enum(fields["chunk"], Chunking, "say.chunk") if "chunk" in fields else None
    chars = fields["chars"].integer("say.chars", minimum=1) if "chars" in fields else 0
    if chunking is Chunking.CHARS and not chars:
        raise node.error("say with chunk: chars needs 'chars'")
    return Say(
        text=text,
        chunks=chunks,
        chunking=chunking,
        chunk_chars=chars,
        interval=fields["interval"].number("say.interval") if "interval" in fields else None,
    )


def _reasoning(node: Node) -> Reasoning:
    return Reasoning(text=_template(node, "reasoning"))


def _tool_call(node: Node) -> ToolCall:
    fields = node.mapping("tool_call", TOOL_CALL_KEYS, required=frozenset({"name"}))
    args = _json(fields["args"], "tool_call.args") if "args" in fields else JsonTemplate({}, {})
    if not isinstance(args.value, dict):
        raise fields["args"].error(f"tool_call.args must be a mapping, got {shown(args.value)}")
    if "id" in fields:
        fields["id"].string("tool_call.id")
    return ToolCall(
        name=fields["name"].string("tool_call.name"),
        args=args,
        call_id=_template(fields["id"], "tool_call.id") if "id" in fields else None,
        requires_approval=fields["requires_approval"].boolean("requires_approval")
        if "requires_approval" in fields
        else False,
        on_reject=_script(fields["on_reject"], on_reject=True) if "on_reject" in fields else None,
    )


def _tool_result(node: Node) -> ToolResult:
    fields = node.mapping("tool_result", TOOL_RESULT_KEYS)
    if ("output" in fields) == ("error" in fields):
        if fields.misspelt and not fields:
            raise Reported(node.position, "a tool_result with an unknown key is left out")
        raise node.error("tool_result needs exactly one of 'output' or 'error'")
    if "error" in fields:
        return ToolResult(error=_template(fields["error"], "tool_result.error"))
    return ToolResult(output=_json(fields["output"], "tool_result.output"))


def _ask(node: Node) -> Ask:
    if not node.is_mapping:
        return Ask(question=_template(node, "ask"))
    fields = node.mapping("ask", ASK_KEYS, required=frozenset({"question"}))
    options = _templates(fields["options"], "ask.options") if "options" in fields else ()
    return Ask(question=_template(fields["question"], "ask.question"), options=options)


def _fail(node: Node) -> Fail:
    if not node.is_mapping:
        return Fail(message=_template(node, "fail"))
    fields = node.mapping("fail", FAIL_KEYS, required=frozenset({"message"}))
    return Fail(
        message=_template(fields["message"], "fail.message"),
        code=fields["code"].string("fail.code") if "code" in fields else "agent_error",
    )


def _delay(node: Node) -> Delay:
    return Delay(node.number("delay"))


def _glitch(node: Node) -> Glitch:
    fault = _fault(node)
    if fault.status is not None or fault.latency is not None:
        raise node.error(
            f"a fault at a step must be a stream fault (drop-after, stall, no-terminal, malformed), not {fault}"
        )
    if fault.stall is not None:
        raise node.error("a stall at a step is a pause: write `delay: S` instead")
    return Glitch(fault)


def _wait_polls(node: Node) -> WaitPolls:
    return WaitPolls(node.integer("wait_polls", minimum=1))


ACTIONS: dict[str, Callable[[Node], Step]] = {
    "say": _say,
    "reasoning": _reasoning,
    "tool_call": _tool_call,
    "tool_result": _tool_result,
    "ask": _ask,
    "fail": _fail,
    "wait_polls": _wait_polls,
    "fault": _glitch,
}


def _seconds(fields: dict[str, Node], key: str, what: str) -> float:
    return fields[key].number(what) if key in fields else 0.0


E = TypeVar("E", Chunking, PlatformKey, Per, Exhausted)


def _enum(node: Node, enum: type[E], what: str) -> E:
    value = node.text(what)
    try:
        return enum(value)
    except ValueError:
        valid = ", ".join(member.value for member in enum)
        raise node.error(f"{what} {shown(value)} is not one of: {valid}") from None


#: What a raw stub writes as a reply does, read the same way (mockagent/scenarios/stubs.py reads the rest).
_STUB_READERS = stubs.Readers(when=_when, then=_then, text=_template, json=_json)
