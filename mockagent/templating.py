"""Templates in scenario files: sandboxed Jinja2, with a fast path for plain strings.

Every text of a script is a `Template`, and every JSON value (tool arguments and outputs) a `JsonTemplate`
whose strings are templates. The variables a template may use are fixed (`VARIABLES`), so a typo such as
``{{ mesage }}`` is caught when the file loads, with its line and column, rather than rendering as an empty
string mid-demo. What Jinja renders is bounded in time and size (see `mockagent.sandbox`); a render that
fails or passes a bound is a `TemplateRenderError` naming where the template is written, and the template.

For other callers (stubs): `compile_json(value, position)` and `render_json(compiled, variables)`, and
`Template(source, position).render(variables)` for one text; `mockagent.variables` makes the variables of a
request.
"""

from __future__ import annotations

import contextlib
import difflib
import math
import random as _random
import re
import uuid as _uuid
from collections.abc import Callable, Mapping
from functools import cache
from typing import TYPE_CHECKING, Any

from mockagent.errors import MockAgentError, SourcePosition

if TYPE_CHECKING:
    import jinja2

    from mockagent.sandbox import Sandbox

#: What a template can see, with what each means (docs/scenarios.md, "Templates", says the same).
VARIABLES: Mapping[str, str] = {
    "message": "the user's message in this turn",
    "answer": "the human's answer to the last question (or the approval decision)",
    "approved_args": "the tool arguments approved in place of the call's own (admin API approve), else {}",
    "turn": "1 for the first turn of a conversation, 2 for the next …",
    "conversation_id": "the platform's id of the conversation",
    "agent_id": "the agent's id",
    "platform": "the platform key (beeos, agentos, xpander, zeus, aster)",
    "groups": "the named groups the regexes of the reply's `when` captured ({{ groups.order }})",
    "body": "the request's JSON body ({} when it has none)",
    "headers": "the request's headers, names in any case (headers['x-env']), without the secret ones",
    "query": "the request's query parameters, without the secret ones",
    "params": "the parameters of the request's path: the platform route's ({{ params.agentId }}), or a raw stub's",
    "method": "the request's method (GET, POST …)",
    "path": "the request's path, as sent (with the platform's mount)",
    "history": "the conversation's earlier turns, oldest first: a list of {message, reply}",
    "session": "the session's name (default when the request names none)",
    "agent": "the agent: {id, name, description}",
    "now": "the moment of the step on the session's clock, ISO-8601 UTC (2026-01-01T00:00:05.000Z)",
    "epoch": "the same moment in whole seconds since 1970-01-01 UTC",
    "counter": "the turn's number in its session: 1 for the session's first turn, 2 for the next …",
    "uuid": "uuid(): a UUID (version 4), drawn from the turn's seeded generator",
    "id": "id() or id('prefix'): 24 hex digits (prefix_ and 24 hex digits), seeded",
    "random": "random(): a number from 0 up to 1, seeded",
    "randint": "randint(a, b): a whole number from a to b, both included, seeded",
    "choice": "choice(items): one of the items, seeded",
}
#: The variables whose value is always a short text or a number: only these render without Jinja, whose
#: bounds the others (a body, the history) need.
TEXT_VARIABLES = frozenset(
    {
        "message",
        "answer",
        "turn",
        "conversation_id",
        "agent_id",
        "platform",
        "session",
        "now",
        "epoch",
        "counter",
        "method",
        "path",
    }
)
#: The seeded helpers (functions).
HELPERS = frozenset({"uuid", "id", "random", "randint", "choice"})
#: CHOSEN (docs/scenarios.md): characters one render may write (buffers included) and the size of the largest
#: value it may build, beyond the size of its variables (so a template that echoes a long message still can);
#: the templates of one JSON value share it. (Here, not in `sandbox`: JSON values without Jinja need it too.)
OUTPUT = 1024 * 1024

# Text with only `{{ name }}` substitutions (most scenario text) renders without Jinja: a render
# is a string join instead of a new Jinja context per call, which is most of an echo's cost.
_SIMPLE = re.compile(r"\{\{\s*([A-Za-z_][A-Za-z0-9_]*)\s*\}\}")
_WHOLE = re.compile(r"\{\{.*\}\}", re.DOTALL)
_SHOWN = 80  # characters of a template quoted in a render's error


@cache
def _env() -> Sandbox:
    """The Jinja environment, built on first need: importing Jinja is a sizeable share of start-up,
    and most scenario sets only hold plain text and `{{ name }}` substitutions, which never need it."""
    from mockagent.sandbox import environment

    return environment()


class TemplateError(ValueError):
    """The template does not compile, uses an unknown variable, or would fail a bound whatever it is
    given; `lineno` is the line of the template (1 for its first)."""

    def __init__(self, message: str, lineno: int = 1) -> None:
        super().__init__(message)
        self.lineno = lineno


class TemplateRenderError(MockAgentError):
    """A template failed as it rendered, or passed a bound: the message starts with where it is written,
    and quotes the template."""

    def __init__(self, position: SourcePosition | None, reason: str, source: str = "") -> None:
        where = position or "a scenario template"
        quoted = f" {_quote(source)}" if source else ""
        super().__init__(f"{where}: the template{quoted} failed to render: {reason}")
        self.position = position
        self.reason = reason


def _quote(source: str) -> str:
    source = source if len(source) <= _SHOWN else source[: _SHOWN - 1] + "…"
    return repr(source)


class Template:
    """A piece of scenario text, rendered against a turn's variables.

    With `whole=True` (a string in a JSON value), a template that is exactly one ``{{ expression }}`` renders
    to the expression's value — a number, a list, a mapping — as JSON data (`render_value`)."""

    __slots__ = ("_compiled", "_names", "_native", "_parts", "position", "source")

    def __init__(self, source: str, position: SourcePosition | None = None, *, whole: bool = False) -> None:
        self.source = source
        self.position = position  # where the scenario file writes it, for a render's errors
        self._compiled: jinja2.Template | None = None
        self._parts: tuple[str, ...] | None = None  # literal, name, literal, name, …, literal
        self._names: tuple[str, ...] = ()  # the variables a Jinja template reads
        self._native = False  # renders to a value, not to text
        if "{{" in source or "{%" in source or "{#" in source:
            parts = _simple_parts(source)
            # Jinja would parse such text into exactly these substitutions, and every name is known and
            # text, so it is valid: anything else (unknown names too, for Jinja's own error) goes to Jinja.
            if parts is not None and all(name in TEXT_VARIABLES for name in parts[1::2]):
                self._parts = parts
                self._native = whole and len(parts) == 3 and not parts[0] and not parts[2]
            else:
                # Jinja drops one trailing newline (a YAML block scalar has one): `{{ body }}` with it is whole.
                self._compile(source, whole=whole and _WHOLE.fullmatch(source.removesuffix("\n")) is not None)

    @property
    def is_plain(self) -> bool:
        """Plain text: it renders to itself, whatever the variables."""
        return self._parts is None and self._compiled is None

    def __reduce__(self) -> tuple[Callable[..., Template], tuple[str, SourcePosition | None, bool]]:
        # A paused run's script, shared with other processes (mockagent.shared): compiled again from its text.
        return _rebuilt, (self.source, self.position, self._native)

    def _compile(self, source: str, *, whole: bool) -> None:
        import jinja2
        import jinja2.meta

        from mockagent import sandbox

        if len(source) > sandbox.SOURCE:
            raise TemplateError(
                f"a template that needs Jinja may be at most {sandbox.SOURCE:,} characters, this one has "
                f"{len(source):,} (plain text and {{{{ name }}}} substitutions have no such limit)"
            )
        env = _env()
        try:
            parsed = env.parse(source)
        except jinja2.TemplateSyntaxError as err:
            raise TemplateError(f"template syntax error: {err.message}", err.lineno) from err
        except RecursionError:
            raise TemplateError("the template nests too deeply") from None
        except Exception as err:  # e.g. an integer literal with thousands of digits
            raise TemplateError(f"template error: {_reason(err)}") from None
        try:
            sandbox.check(env, parsed)
        except sandbox.TemplateProblem as problem:
            raise TemplateError(problem.message, problem.lineno) from None
        try:
            used = jinja2.meta.find_undeclared_variables(parsed)
        except jinja2.TemplateError as err:
            raise TemplateError(f"template error: {err.message}", getattr(err, "lineno", 1)) from err
        except RecursionError:
            raise TemplateError("the template nests too deeply") from None
        except Exception as err:
            raise TemplateError(f"template error: {_reason(err)}") from None
        unknown = sorted(used - VARIABLES.keys())
        if unknown:
            near = difflib.get_close_matches(unknown[0], VARIABLES, n=1, cutoff=0.75)
            hint = f" (did you mean {near[0]!r}?)" if near else ""
            known = ", ".join(VARIABLES)
            raise TemplateError(f"unknown template variable {unknown[0]!r}{hint}; known ones are: {known}")
        self._names = tuple(sorted(used))
        expression = sandbox.whole_expression(parsed) if whole else None
        # Names Jinja reads as literals (`{{ true }}`) pass the check above but are no variables, so
        # such text renders with Jinja too: a string join would look them up and fail.
        try:
            if expression is not None:
                self._compiled = env.from_string(sandbox.bound(sandbox.assigning(expression)))
                self._native = True
            else:
                self._compiled = env.from_string(sandbox.bound(parsed))
        except RecursionError:
            raise TemplateError("the template nests too deeply") from None
        except Exception as err:  # Python's compiler refuses some shapes (20 loops nested in one another)
            raise TemplateError(f"template error: {_reason(err)}") from None

    def render(self, variables: Mapping[str, Any]) -> str:
        parts = self._parts
        if parts is not None:
            out = list(parts)
            for i in range(1, len(out), 2):
                out[i] = str(variables[out[i]])
            return "".join(out)
        if self._compiled is None:
            return self.source
        if self._native:
            return str(self.render_value(variables))
        from mockagent import sandbox

        try:
            return sandbox.render(self._compiled, self._used(variables))
        except Exception as err:  # whatever the template does wrong is the scenario file's error
            raise TemplateRenderError(self.position, _reason(err), self.source) from None

    def render_value(self, variables: Mapping[str, Any]) -> Any:
        """What the template makes as JSON data: the value of a whole ``{{ expression }}`` (made with
        `whole=True`), else its text."""
        if not self._native:
            return self.render(variables)
        try:
            parts = self._parts
            if parts is not None:
                return json_data(variables[parts[1]])
            from mockagent import sandbox

            assert self._compiled is not None
            return json_data(sandbox.evaluate(self._compiled, self._used(variables)))
        except Exception as err:
            raise TemplateRenderError(self.position, _reason(err), self.source) from None

    def names(self) -> tuple[str, ...]:
        """The variables the template reads."""
        return self._parts[1::2] if self._parts is not None else self._names

    def _used(self, variables: Mapping[str, Any]) -> dict[str, Any]:
        """The variables the template reads (each made now, when it is made on first use)."""
        used = {}
        for name in self._names:
            # A caller that has no such variable leaves it out: the render says it is undefined.
            with contextlib.suppress(KeyError):
                used[name] = variables[name]
        return used

    def __repr__(self) -> str:
        return f"Template({self.source!r})"

    def __eq__(self, other: object) -> bool:
        return isinstance(other, Template) and other.source == self.source

    def __hash__(self) -> int:
        return hash(self.source)


def _reason(err: BaseException) -> str:
    """An error as a short line: the messages of some errors quote a value, which may be long."""
    text = str(err) or type(err).__name__
    if type(err).__module__ not in ("mockagent.sandbox", "jinja2.exceptions", __name__):
        text = f"{type(err).__name__}: {text}"
    return text if len(text) <= 200 else text[:199] + "…"


def _simple_parts(source: str) -> tuple[str, ...] | None:
    """Split `Echo: {{ message }}` into ("Echo: ", "message", ""), or None when Jinja is needed."""
    if "{%" in source or "{#" in source or "\r" in source:
        return None  # statements, comments, and Jinja's newline normalisation
    parts = _SIMPLE.split(source)
    if any("{{" in literal or "}}" in literal for literal in parts[::2]):
        return None  # filters, expressions, or escapes: leave them to Jinja
    # Jinja opens a tag at the first `{{` it meets, so in `{{{ message }}` it reads `{ message }` as an
    # expression where the pattern above found a name one brace later: only Jinja can judge that text.
    if any(literal.endswith("{") for literal in parts[:-1:2]):
        return None
    # Jinja drops one trailing newline from a template (keep_trailing_newline=False); so does this.
    if parts[-1].endswith("\n"):
        parts[-1] = parts[-1][:-1]
    return tuple(parts)


# ── JSON values whose strings are templates ─────────────────────────────────────────────────────────

#: CHOSEN: how deep a value a template makes may nest (as deep as the JSON mockagent reads).
JSON_DEPTH = 128


class NotJsonData(ValueError):
    """A template made a value JSON cannot carry."""


def json_data(value: Any, depth: int = 0) -> Any:
    """`value` as JSON data (mappings as dicts, tuples as lists), or `NotJsonData`. The value was weighed
    by the render that made it (or is a variable), so the walk is short."""
    if value is None or isinstance(value, bool | int):
        return value
    if isinstance(value, str):
        return value if type(value) is str else str(value)
    if isinstance(value, float):
        if not math.isfinite(value):
            raise NotJsonData(f"{value} is not JSON data (JSON has no NaN or infinity)")
        return value
    if depth >= JSON_DEPTH:
        raise NotJsonData(f"the value nests more than {JSON_DEPTH} levels deep")
    if isinstance(value, Mapping):
        data = {}
        for key, item in value.items():
            if not isinstance(key, str):
                raise NotJsonData(f"a mapping with the key {key!r}: the keys of JSON data are text")
            data[str(key)] = json_data(item, depth + 1)
        return data
    if isinstance(value, list | tuple):
        return [json_data(item, depth + 1) for item in value]
    kind = "a helper: call it" if isinstance(value, Helper) else f"a {type(value).__name__}"
    raise NotJsonData(f"the value is {kind}, which is not JSON data")


class _Items:
    """A list or mapping of a JSON value holding templates (the parts without one are kept as they are)."""

    __slots__ = ("items", "mapping")

    def __init__(self, items: tuple[tuple[Any, Any], ...], mapping: bool) -> None:
        self.items = items  # (key or index, part)
        self.mapping = mapping


def _rebuilt(source: str, position: SourcePosition | None, whole: bool) -> Template:
    return Template(source, position, whole=whole)


class JsonTemplate:
    """A JSON value from a scenario file whose strings are templates. One without any renders to the
    value itself, shared, at no cost; the others build only the lists and mappings that hold templates."""

    __slots__ = ("_names", "_part", "value")

    def __init__(self, part: Any, value: Any) -> None:
        self._part = part
        self.value = value  # as written
        self._names = tuple(sorted({name for template in _templates(part) for name in template.names()}))

    @property
    def is_plain(self) -> bool:
        return not isinstance(self._part, Template | _Items)

    def render(self, variables: Mapping[str, Any]) -> Any:
        part = self._part
        if not isinstance(part, Template | _Items):
            return part
        size = _Size(variables, self._names)
        return _render_part(part, variables, size)

    def __repr__(self) -> str:
        return f"JsonTemplate({self.value!r})"

    def __eq__(self, other: object) -> bool:
        return isinstance(other, JsonTemplate) and other.value == self.value

    def __hash__(self) -> int:
        return id(self)


def _templates(part: Any) -> list[Template]:
    if isinstance(part, Template):
        return [part]
    if isinstance(part, _Items):
        return [template for _, item in part.items for template in _templates(item)]
    return []


class _Size:
    """What the templates of one JSON value have made so far, against the bound of one render: together
    they make at most `sandbox.OUTPUT` characters beyond the size of the variables they use (each
    template is bounded on its own too)."""

    __slots__ = ("left",)

    def __init__(self, variables: Mapping[str, Any], names: tuple[str, ...]) -> None:
        self.left = OUTPUT + sum(_weight(variables[name]) for name in names if name in variables)

    def spend(self, template: Template, value: Any) -> Any:
        self.left -= _weight(value)
        if self.left < 0:
            raise TemplateRenderError(
                template.position,
                "the templates of the value together made more than the output bound allows",
                template.source,
            )
        return value


def _weight(value: Any) -> int:
    if type(value) is str:
        return len(value)
    if value is None or isinstance(value, bool | int | float):
        return 20
    from mockagent.sandbox import weight  # a value other than text is only reachable through Jinja

    return weight(value, OUTPUT)


def _render_part(part: Any, variables: Mapping[str, Any], size: _Size) -> Any:
    if isinstance(part, Template):
        return size.spend(part, part.render_value(variables))
    if isinstance(part, _Items):
        if part.mapping:
            return {key: _render_part(item, variables, size) for key, item in part.items}
        return [_render_part(item, variables, size) for _, item in part.items]
    return part


def json_template(value: Any, template: Callable[[Any, str], Template]) -> JsonTemplate:
    """A JSON value whose strings are templates: `template(where, text)` compiles each string (`where` is
    the key or index path of the string, for the caller to find its position)."""
    return JsonTemplate(_compile_part(value, (), template), value)


def _compile_part(value: Any, where: tuple[Any, ...], template: Callable[[Any, str], Template]) -> Any:
    if isinstance(value, str):
        compiled = template(where, value)
        return value if compiled.is_plain else compiled
    if isinstance(value, dict | list):
        pairs = value.items() if isinstance(value, dict) else enumerate(value)
        items = tuple((key, _compile_part(item, (*where, key), template)) for key, item in pairs)
        if any(isinstance(item, Template | _Items) for _, item in items):
            return _Items(items, isinstance(value, dict))
    return value


def compile_json(value: Any, position: SourcePosition | None = None) -> JsonTemplate:
    """`value` (JSON data) with each of its strings a template written at `position`; a string that is
    exactly one ``{{ expression }}`` renders to the expression's value. `TemplateError` for the first
    string that does not compile (its message says where in the value)."""

    def template(where: tuple[Any, ...], text: str) -> Template:
        try:
            return Template(text, position, whole=True)
        except TemplateError as err:
            path = "".join(f"[{key!r}]" for key in where) or "the value"
            raise TemplateError(f"{path}: {err}", err.lineno) from None

    return json_template(value, template)


def render_json(value: JsonTemplate, variables: Mapping[str, Any]) -> Any:
    """`value` rendered against `variables` (`TemplateRenderError` if a template fails)."""
    return value.render(variables)


# ── the seeded helpers ──────────────────────────────────────────────────────────────────────────────


class Draws:
    """A turn's seeded generator, made on first use: the same scenario, session and turn draw the same
    values in every run, and two sessions draw their own."""

    __slots__ = ("_generator", "_seed")

    def __init__(self, seed: str) -> None:
        self._seed = seed
        self._generator: _random.Random | None = None

    @property
    def generator(self) -> _random.Random:
        if self._generator is None:
            self._generator = _random.Random(self._seed)  # a str seed is hashed with SHA-512: stable
        return self._generator

    def helpers(self) -> dict[str, Helper]:
        # Bound methods, not closures: a run keeps its turn's variables, and a run shared between
        # processes is pickled with them (a bound method pickles as its object and its name).
        return {name: Helper(getattr(self, f"_{name}"), name) for name in HELPERS}

    def _uuid(self) -> str:
        return str(_uuid.UUID(int=self.generator.getrandbits(128), version=4))

    def _id(self, prefix: str = "") -> str:
        digits = f"{self.generator.getrandbits(96):024x}"
        return f"{prefix}_{digits}" if prefix else digits

    def _random(self) -> float:
        return self.generator.random()

    def _randint(self, low: int, high: int) -> int:
        return self.generator.randint(low, high)

    def _choice(self, items: Any) -> Any:
        return self.generator.choice(items)


class Helper:
    """A function a template may call. The sandbox knows it: its numbers size nothing (``randint(1,
    10**12)`` is fine, where ``center(10**12)`` is refused)."""

    __slots__ = ("_function", "_name")

    def __init__(self, function: Callable[..., Any], name: str) -> None:
        self._function = function
        self._name = name

    def __call__(self, *args: Any, **kwargs: Any) -> Any:
        return self._function(*args, **kwargs)

    def __repr__(self) -> str:
        return f"<the helper {self._name}()>"
