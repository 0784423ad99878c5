"""The Jinja environment scenario templates compile and render in: sandboxed, and bounded.

Jinja's sandbox keeps a template away from Python's internals, but not from working for minutes or
building gigabytes (``{{ message * 100000 }}``, loops in loops). So here:

- at load, `check` refuses what can be seen without running the template (names starting with ``_``,
  unknown filters and tests, ``{% include %}`` and its kin, ``range(10**9)``, ``'x' * 300000000``, a macro
  that calls itself), and nothing is evaluated: Jinja's optimizer is off, and the output finalizer takes
  the render's context, which stops the code generator from folding outputs into constants at compile time;
- at render, every loop turn, call, operator, filter and output is a step of the render's `Budget`
  (`STEPS`, and `SECONDS` on the wall clock); every value an operator, call, filter or literal makes is
  weighed against `OUTPUT`, and so is everything written, buffers included; and the operations that
  multiply a size (``*``, ``**``, ``%``, ``replace``, ``join``, ``indent`` …) are weighed before they run;
  macros called inside macros (a macro given itself) stop at `MACRO_DEPTH`.

Imported only when a template needs Jinja (importing Jinja is a sizeable share of start-up).
"""

from __future__ import annotations

import json
import re
import string
import sys
import time
from collections.abc import Callable, Iterable, Iterator, Mapping, Sized
from contextvars import ContextVar
from typing import Any

import jinja2
from jinja2 import nodes
from jinja2.runtime import Context, Macro
from jinja2.sandbox import MAX_RANGE, ImmutableSandboxedEnvironment
from jinja2.utils import Namespace, _PassArg, pass_context
from jinja2.visitor import NodeTransformer

from mockagent.templating import HELPERS, OUTPUT, Helper

#: CHOSEN (docs/scenarios.md): steps (loop turns, calls, operators, filters, outputs) of one render.
STEPS = 100_000
#: CHOSEN: wall-clock seconds one render may take (it holds the event loop meanwhile).
SECONDS = 0.25
#: CHOSEN: characters of a template that needs Jinja (compiling costs ~6 µs and ~0.5 KB per character).
SOURCE = 64 * 1024
#: CHOSEN: items of a list, tuple, dict or set a render builds, and items (characters of a string) a filter
#: goes through one by one in Python (``sort``, ``unique``, ``map`` …): one such step costs ~1 µs an item,
#: and the clock is only read between steps. As many as a range may have (Jinja's MAX_RANGE).
ITEMS = MAX_RANGE
#: CHOSEN: macros called one inside another (each level is about seven Python frames).
MACRO_DEPTH = 40

# The budget of the render under way: the sandbox's attribute and item look-ups, which the filters that
# take an attribute (groupby, sort, selectattr …) make once an item, have no render context to find it in.
_RENDERING: ContextVar[Budget | None] = ContextVar("mockagent_render_budget", default=None)
_EACH, _WEIGHED = "mockagent_each", "mockagent_weighed"  # the filters the loader's rewrite inserts


class LimitError(Exception):
    """A render passed one of its limits."""


class Budget:
    """What one render may still spend."""

    __slots__ = ("deadline", "depth", "left", "limit", "written")

    def __init__(self, limit: int) -> None:
        self.limit = limit
        self.depth = 0  # macros being called, one inside another
        self.left = STEPS
        self.deadline = time.perf_counter() + SECONDS
        self.written = 0

    def step(self) -> None:
        self.left -= 1
        if self.left < 0:
            raise LimitError(f"it took more than {STEPS:,} steps (loop turns, calls, operators and outputs)")
        if time.perf_counter() > self.deadline:
            raise LimitError(f"it took longer than {SECONDS} s")

    def weigh(self, value: Any) -> Any:
        weight = _weight(value, self.limit)
        if weight == _MANY:
            raise LimitError(f"it built a value of more than {ITEMS:,} items")
        if weight > self.limit:
            raise LimitError(f"it built a value of more than {self.allowed}")
        return value

    def allow(self, size: int, what: str) -> None:
        """Refuse an operation that would make `size` characters, before it runs."""
        if size > self.limit:
            raise LimitError(f"{what} would make {size:,} characters, more than {self.allowed}")

    def write(self, value: Any) -> str:
        self.step()
        text = value if type(value) is str else str(self.weigh(value))
        self.written += len(text)
        if self.written > self.limit:
            raise LimitError(f"its output passed {self.allowed}")
        return text

    @property
    def allowed(self) -> str:
        return f"{self.limit:,} characters ({OUTPUT:,} beyond the size of the variables)"


def _budget() -> Budget:
    budget = _RENDERING.get()
    if budget is None:  # only templates of ours render with this environment, and always through render()
        raise RuntimeError("a scenario template is rendering outside sandbox.render")
    return budget


_MANY = sys.maxsize  # the weight of a value of more than ITEMS items


def weight(value: Any, cap: int) -> int:
    """About how many characters `value` takes as text, counted no further than about `cap`."""
    return min(_weight(value, cap), cap)


def _weight(value: Any, cap: int) -> int:
    """About how many characters `value` takes as text (its str() or JSON), each repeated reference
    counted again, as printing repeats it. Stops counting past `cap`, and at `_MANY` past `ITEMS` items
    (so cycles end too, and the walk stays short)."""
    if type(value) is str:
        return len(value)
    total = visited = 0
    stack = [value]
    while stack and total <= cap:
        item = stack.pop()
        total += 1
        visited += 1
        if visited > ITEMS + 1:  # the value itself, and its items
            return _MANY
        if isinstance(item, str | bytes):
            total += len(item)
        elif isinstance(item, int):
            total += item.bit_length() // 3  # about its decimal digits
        elif isinstance(item, dict):
            total += len(item)
            if total <= cap:  # a container larger than the cap is not copied onto the stack
                stack.extend(item.keys())
                stack.extend(item.values())
        elif isinstance(item, list | tuple | set | frozenset):
            total += len(item)
            if total <= cap:
                stack.extend(item)
        elif isinstance(item, Namespace):
            stack.append(object.__getattribute__(item, "_Namespace__attrs"))
    return total


def _depth(value: Any, cap: int) -> int:
    """How deep containers nest in `value` (for indented JSON), looking at no more than `cap` items."""
    deepest, seen = 0, 0
    stack = [(value, 1)]
    while stack and seen <= cap:
        item, depth = stack.pop()
        seen += 1
        if isinstance(item, dict):
            item = list(item.values())
        if isinstance(item, list | tuple):
            deepest = max(deepest, depth)
            stack.extend((child, depth + 1) for child in item)
    return deepest


def _numbers(budget: Budget, args: Iterable[Any]) -> None:
    """A number given to a call or filter sizes what it makes (``center(n)``, ``to_bytes(n)``, ``batch(n)``)."""
    for arg in args:
        if isinstance(arg, int) and not isinstance(arg, bool) and abs(arg) > budget.limit:
            raise LimitError(f"the number {arg:.3g} is larger than {budget.limit:,}")


_PRINTF = re.compile(r"%(?:\([^)]*\))?[-#0 +]*(\*|\d+)?(?:\.(\*|\d+))?")


def _printf_width(fmt: str, args: Any) -> int:
    """How many characters the widths and precisions of a ``%`` format ask for (``'%999999999d'``);
    with a ``*``, the width comes from the arguments, and each of their numbers is counted."""
    total, starred = 0, False
    for match in _PRINTF.finditer(fmt):
        for group in match.groups():
            if group == "*":
                starred = True
            elif group:
                total += int(group)
    if starred:
        values = args if isinstance(args, tuple) else (args,)
        total += sum(abs(v) for v in values if isinstance(v, int) and not isinstance(v, bool))
    return total


def _braced_width(fmt: str, args: Iterable[Any]) -> int:
    """The same for ``str.format``: numbers in the fields' specs, or the arguments' when a spec nests one."""
    total, nested = 0, False
    try:
        fields = list(string.Formatter().parse(fmt))
    except ValueError:
        return 0  # str.format refuses it itself
    for _, _, spec, _ in fields:
        if spec:
            nested = nested or "{" in spec
            total += sum(int(digits) for digits in re.findall(r"\d+", spec))
    if nested:
        total += sum(abs(v) for v in args if isinstance(v, int) and not isinstance(v, bool))
    return total


def _items(value: Any) -> list[Any]:
    return value if isinstance(value, list) else list(value)


def _str_method(budget: Budget, func: Any, args: tuple[Any, ...]) -> tuple[Any, ...]:
    """The methods of str and bytes whose result can be the product of their inputs' sizes."""
    owner: Any = getattr(func, "__self__", None)
    if not isinstance(owner, str | bytes) or not args:
        return args
    name = getattr(func, "__name__", "")
    if name == "replace" and len(args) >= 2:
        old, new = args[0], args[1]
        if isinstance(old, str | bytes) and isinstance(new, str | bytes) and type(old) is type(owner):
            count: int = owner.count(old)  # type: ignore[arg-type]  # same type, as checked
            budget.allow(len(owner) + count * max(0, len(new) - len(old)), "replace")
    elif name == "join":
        items = _items(args[0])
        budget.allow(_weight(items, budget.limit) + len(items) * len(owner), "join")
        return (items, *args[1:])
    elif name == "expandtabs" and isinstance(args[0], int):
        tab: Any = "\t" if isinstance(owner, str) else b"\t"
        budget.allow(len(owner) + owner.count(tab) * args[0], "expandtabs")
    elif name == "translate":
        table = args[0]
        widest = max((_weight(v, budget.limit) for v in table.values()), default=1) if isinstance(table, dict) else 1
        budget.allow(len(owner) * max(1, widest), "translate")
    return args


# ── filters whose result can be the product of their inputs' sizes: weighed before they run ──────────


def _check_join(budget: Budget, value: Any, args: list[Any], kwargs: dict[str, Any]) -> Any:
    items = _items(value)
    glue = args[0] if args else kwargs.get("d", "")
    budget.allow(_weight(items, budget.limit) + len(items) * len(str(glue)), "join")
    return items


def _check_replace(budget: Budget, value: Any, args: list[Any], kwargs: dict[str, Any]) -> Any:
    text, old = str(value), str(args[0] if args else kwargs.get("old", ""))
    new = str(args[1] if len(args) > 1 else kwargs.get("new", ""))
    budget.allow(len(text) + text.count(old) * max(0, len(new) - len(old)), "replace")
    return value


def _check_indent(budget: Budget, value: Any, args: list[Any], kwargs: dict[str, Any]) -> Any:
    text = str(value)
    width = args[0] if args else kwargs.get("width", 4)
    per_line = width if isinstance(width, int) else len(str(width))
    budget.allow(len(text) + (text.count("\n") + 1) * per_line, "indent")
    return value


def _check_wordwrap(budget: Budget, value: Any, args: list[Any], kwargs: dict[str, Any]) -> Any:
    text = str(value)
    width = args[0] if args else kwargs.get("width", 79)
    wrap = args[2] if len(args) > 2 else kwargs.get("wrapstring")
    lines = 2 * len(text) // max(1, width if isinstance(width, int) else 1) + text.count("\n") + 1
    budget.allow(len(text) + lines * len(str(wrap or "\n")), "wordwrap")
    return value


def _check_format(budget: Budget, value: Any, args: list[Any], kwargs: dict[str, Any]) -> Any:
    budget.allow(_printf_width(str(value), tuple(args)), "format")
    return value


def _check_tojson(budget: Budget, value: Any, args: list[Any], kwargs: dict[str, Any]) -> Any:
    indent = args[0] if args else kwargs.get("indent")
    if isinstance(indent, int) and indent > 0:
        weight = _weight(value, budget.limit)
        budget.allow(weight, "tojson")  # so that the depth is looked for among few enough items
        budget.allow(weight * (1 + indent * _depth(value, budget.limit)), "tojson with indent")
    return value


_FILTER_CHECKS: Mapping[str, Callable[[Budget, Any, list[Any], dict[str, Any]], Any]] = {
    "join": _check_join,
    "replace": _check_replace,
    "indent": _check_indent,
    "wordwrap": _check_wordwrap,
    "format": _check_format,
    "tojson": _check_tojson,
}


# Filters that go through a string or a sequence at C speed, or look at a few of its items: the others go
# through it item by item in Python, so their input is held to `ITEMS`.
_FAST_FILTERS = frozenset(
    {
        "abs", "attr", "capitalize", "center", "count", "d", "default", "e", "escape", "filesizeformat", "first",
        "float", "forceescape", "format", "indent", "int", "last", "length", "list", "lower", "random", "replace",
        "reverse", "round", "safe", "string", "striptags", "title", "tojson", "trim", "truncate", "upper",
        "urlencode", "wordcount",
    }
)  # fmt: skip


def _bounded_filter(name: str, func: Callable[..., Any]) -> Callable[..., Any]:
    """`func`, counted and weighed. Like every filter the rewrite inserts, and the finalizer, it takes the
    render's context: Jinja never runs such a function at compile time, whatever it would fold."""
    pass_arg = _PassArg.from_obj(func)
    check = _FILTER_CHECKS.get(name)
    item_by_item = name not in _FAST_FILTERS

    @pass_context
    def bounded(context: Context, value: Any, *args: Any, **kwargs: Any) -> Any:
        budget = _budget()
        budget.step()
        if item_by_item and isinstance(value, Sized) and len(value) > ITEMS:
            raise LimitError(f"{name} over {len(value):,} items; a filter goes through at most {ITEMS:,}")
        _numbers(budget, args)
        _numbers(budget, kwargs.values())
        if check is not None:
            value = check(budget, value, list(args), kwargs)
        if pass_arg is _PassArg.context:
            result = func(context, value, *args, **kwargs)
        elif pass_arg is _PassArg.eval_context:
            result = func(context.eval_ctx, value, *args, **kwargs)
        elif pass_arg is _PassArg.environment:
            result = func(context.environment, value, *args, **kwargs)
        else:
            result = func(value, *args, **kwargs)
        if isinstance(result, Iterator):  # map, select, batch …: lazy, so weighed item by item
            return _weighed_items(budget, result)
        return budget.weigh(result)

    return bounded


def _weighed_items(budget: Budget, items: Iterator[Any]) -> Iterator[Any]:
    """`items`, a step each, refused once together they weigh more than the bound: whatever gathers them
    (``list``, ``join``, ``sort``) holds no more than that."""
    total = 0
    for item in items:
        budget.step()
        total += _weight(item, budget.limit)
        if total > budget.limit:
            raise LimitError(f"it built a sequence of more than {budget.allowed}")
        yield item


@pass_context
def _each(context: Context, iterable: Any) -> Any:
    """What a ``{% for %}`` loops over, a step per turn."""
    budget = _budget()
    for item in iterable:
        budget.step()
        yield item


@pass_context
def _weighed(context: Context, value: Any) -> Any:
    budget = _budget()
    budget.step()
    return budget.weigh(value)


@pass_context
def _finalize(context: Context, value: Any) -> str:
    """Every output, literal text included (the rewrite makes it a constant), is counted as it is written.
    Taking the context is what stops the code generator from folding outputs into constants."""
    return _budget().write(value)


class Sandbox(ImmutableSandboxedEnvironment):
    """Jinja's immutable sandbox, with every call and the sizing operators counted and weighed."""

    intercepted_binops = frozenset({"+", "*", "**", "%"})

    def call_binop(self, context: Context, operator: str, left: Any, right: Any) -> Any:
        budget = _budget()
        budget.step()
        if operator == "*":
            for seq, times in ((left, right), (right, left)):
                if isinstance(times, int) and not isinstance(times, bool):
                    if isinstance(seq, str | bytes | list | tuple):
                        budget.allow(_weight(seq, budget.limit) * times, "*")
                    elif isinstance(seq, int) and not isinstance(seq, bool):
                        budget.allow((seq.bit_length() + times.bit_length()) // 3, "*")
        elif operator == "**" and isinstance(left, int) and isinstance(right, int) and right > 0:
            budget.allow(left.bit_length() * right // 3, "**")
        elif operator == "%" and isinstance(left, str):
            budget.allow(_printf_width(left, right), "%")
        return budget.weigh(super().call_binop(context, operator, left, right))

    def call(self, context: Context, obj: Any, /, *args: Any, **kwargs: Any) -> Any:
        budget = _budget()
        budget.step()
        if type(obj) is not Helper:  # a helper's numbers size nothing: randint(1, 10**12)
            _numbers(budget, args)
            _numbers(budget, kwargs.values())
        args = _str_method(budget, obj, args)
        if not isinstance(obj, Macro):
            return budget.weigh(super().call(context, obj, *args, **kwargs))
        if budget.depth >= MACRO_DEPTH:
            raise LimitError(f"macros called one inside another more than {MACRO_DEPTH} deep")
        budget.depth += 1
        try:
            return budget.weigh(super().call(context, obj, *args, **kwargs))
        finally:
            budget.depth -= 1

    def getattr(self, obj: Any, attribute: str) -> Any:
        if (budget := _RENDERING.get()) is not None:
            budget.step()
        return super().getattr(obj, attribute)

    def getitem(self, obj: Any, argument: Any) -> Any:
        if (budget := _RENDERING.get()) is not None:
            budget.step()
        return super().getitem(obj, argument)

    def wrap_str_format(self, value: Any) -> Callable[..., str] | None:
        wrapped = super().wrap_str_format(value)
        if wrapped is None:
            return None
        fmt: str = value.__self__

        def checked(*args: Any, **kwargs: Any) -> str:
            _budget().allow(_braced_width(fmt, [*args, *kwargs.values()]), "format")
            return wrapped(*args, **kwargs)

        return checked


def environment() -> Sandbox:
    env = Sandbox(
        undefined=jinja2.StrictUndefined,
        autoescape=False,
        optimized=False,  # the optimizer folds constants, i.e. runs template code, at compile time
        finalize=_finalize,
    )
    # lipsum(n) makes n paragraphs in one call; scenario text has no use for it.
    del env.globals["lipsum"]
    env.filters["tojson"] = _tojson
    env.filters = {name: _bounded_filter(name, func) for name, func in env.filters.items()}
    env.filters[_EACH] = _each
    env.filters[_WEIGHED] = _weighed
    return env


def _tojson(value: Any, indent: int | None = None) -> str:
    """JSON text, as written on the wire: no HTML escapes (Jinja's own writes ``<`` as ``\\u003c``), keys in
    their order."""
    return json.dumps(value, ensure_ascii=False, indent=indent, allow_nan=False, default=_as_json)


def _as_json(value: Any) -> Any:
    if isinstance(value, Mapping):
        return dict(value)
    if isinstance(value, Iterator):
        return list(value)
    kind = "a helper: call it" if isinstance(value, Helper) else f"a {type(value).__name__}"
    raise TypeError(f"the value is {kind}, which is not JSON data")


def _limit(variables: Mapping[str, Any]) -> int:
    """`OUTPUT` characters beyond the size of the variables (each counted up to `OUTPUT`)."""
    return OUTPUT + sum(len(v) if type(v) is str else weight(v, OUTPUT) for v in variables.values())


def render(template: jinja2.Template, variables: Mapping[str, Any]) -> str:
    """Render within a fresh budget: `OUTPUT` characters beyond what the variables hold themselves."""
    token = _RENDERING.set(Budget(_limit(variables)))
    try:
        return "".join(template.root_render_func(template.new_context(dict(variables))))
    finally:
        _RENDERING.reset(token)


_RESULT = "mockagent_result"


def evaluate(template: jinja2.Template, variables: Mapping[str, Any]) -> Any:
    """The value of a template made by `assigning`, within a fresh budget as `render`'s: a lazy sequence is
    gathered into a list, and the value weighed."""
    budget = Budget(_limit(variables))
    token = _RENDERING.set(budget)
    try:
        context = template.new_context(dict(variables))
        for _ in template.root_render_func(context):
            pass  # an assignment writes nothing
        value = context.vars[_RESULT]
        if isinstance(value, jinja2.Undefined):
            str(value)  # raises: StrictUndefined says what is undefined
        if isinstance(value, Iterator):
            value = list(_weighed_items(budget, value))
        return budget.weigh(value)
    finally:
        _RENDERING.reset(token)


def whole_expression(tree: nodes.Template) -> nodes.Expr | None:
    """The expression of a template that is exactly one ``{{ expression }}``, else None."""
    if len(tree.body) == 1 and isinstance(output := tree.body[0], nodes.Output) and len(output.nodes) == 1:
        expression = output.nodes[0]
        if not isinstance(expression, nodes.TemplateData):
            return expression
    return None


def assigning(expression: nodes.Expr) -> nodes.Template:
    """A template that sets its result to `expression` (read back by `evaluate`)."""
    target = nodes.Name(_RESULT, "store", lineno=expression.lineno)
    return nodes.Template([nodes.Assign(target, expression, lineno=expression.lineno)], lineno=1)


# ── at load: what can be seen without running the template, and the rewrite that bounds it ─────────


class TemplateProblem(Exception):
    """What `check` found, with the template's own line."""

    def __init__(self, message: str, lineno: int) -> None:
        super().__init__(message)
        self.message = message
        self.lineno = lineno


_NOT_AVAILABLE: Mapping[type[nodes.Node], str] = {
    nodes.Include: "{% include %}",
    nodes.Import: "{% import %}",
    nodes.FromImport: "{% from … import %}",
    nodes.Extends: "{% extends %}",
    nodes.ScopedEvalContextModifier: "{% autoescape %}",
    nodes.EvalContextModifier: "{% autoescape %}",
}


def check(env: Sandbox, tree: nodes.Template) -> None:
    """Raise `TemplateProblem` for the first thing in `tree` that would fail (or pass a limit) at render."""
    for node in tree.find_all(nodes.Node):
        problem = _problem(env, node)
        if problem is not None:
            raise TemplateProblem(problem, node.lineno)
    _recursion(tree)


def _recursion(tree: nodes.Template) -> None:
    """Refuse a macro that calls itself, directly or through other macros (by name: a macro handed itself
    as an argument stops at `MACRO_DEPTH` as it renders)."""
    macros = {macro.name: macro for macro in tree.find_all(nodes.Macro)}
    if not macros:
        return
    calls = {
        name: {n.name for n in macro.find_all(nodes.Name) if n.ctx == "load" and n.name in macros}
        for name, macro in macros.items()
    }
    for name, macro in macros.items():
        seen, stack = set(), list(calls[name])
        while stack:
            callee = stack.pop()
            if callee == name:
                raise TemplateProblem(
                    f"the macro {name!r} calls itself (directly or through another macro): "
                    "a template's macros may not recurse",
                    macro.lineno,
                )
            if callee not in seen:
                seen.add(callee)
                stack.extend(calls[callee])


def _problem(env: Sandbox, node: nodes.Node) -> str | None:
    if (statement := _NOT_AVAILABLE.get(type(node))) is not None:
        return f"{statement} is not available in scenario templates (a template is one piece of text)"
    if isinstance(node, nodes.Getattr) and node.attr.startswith("_"):
        return f"{node.attr!r}: names starting with _ are not available in templates"
    if isinstance(node, nodes.Getitem) and _const_str(node.arg, "_"):
        return f"{_const(node.arg)!r}: names starting with _ are not available in templates"
    if isinstance(node, nodes.Filter | nodes.Test):
        kind, known = ("filter", env.filters) if isinstance(node, nodes.Filter) else ("test", env.tests)
        if node.name not in known:
            return f"unknown {kind} {node.name!r}"
        if node.name == "attr" and node.args and _const_str(node.args[0], "_"):
            return f"{_const(node.args[0])!r}: names starting with _ are not available in templates"
    if isinstance(node, nodes.Call) and isinstance(node.node, nodes.Name) and node.node.name == "range":
        bounds = [_static_int(arg) for arg in node.args]
        if node.args and not node.kwargs and all(b is not None for b in bounds):
            try:
                length = len(range(*[b for b in bounds if b is not None]))
            except (TypeError, ValueError):
                length = 0  # range() refuses it itself
            if length > MAX_RANGE:
                return f"a range of {length:,} numbers; a range in a template has at most {MAX_RANGE:,}"
    helper = isinstance(node, nodes.Call) and isinstance(node.node, nodes.Name) and node.node.name in HELPERS
    if isinstance(node, nodes.Call | nodes.Filter) and not helper:
        for arg in [*node.args, *(kw.value for kw in node.kwargs)]:
            number = _static_int(arg)
            if number is not None and abs(number) > OUTPUT:
                return f"the number {number:.3g} is larger than {OUTPUT:,}"
    if isinstance(node, nodes.Mul):
        for seq, times in ((node.left, node.right), (node.right, node.left)):
            text, count = _const(seq), _static_int(times)
            if isinstance(text, str) and count is not None and len(text) * count > OUTPUT:
                return f"{text[:20]!r} * {count:.3g} would make more than {OUTPUT:,} characters"
    if isinstance(node, nodes.Pow):
        base, exponent = _static_int(node.left), _static_int(node.right)
        if base is not None and exponent is not None and abs(base) > 1 and base.bit_length() * exponent // 3 > OUTPUT:
            return f"{base:.3g} ** {exponent:.3g} would be a number of more than {OUTPUT:,} digits"
    return None


def _const(node: nodes.Node) -> Any:
    return node.value if isinstance(node, nodes.Const) else None


def _const_str(node: nodes.Node, prefix: str) -> bool:
    value = _const(node)
    return isinstance(value, str) and value.startswith(prefix)


_HUGE = 2**64  # static arithmetic saturates here: past it, a number is too large for any use in a template


def _static_int(node: nodes.Node) -> int | None:
    """The value of a whole-number expression written with literals only (``10**9``), or None. Computed
    without running anything large: past ±2**64 it saturates."""
    if isinstance(node, nodes.Const):
        value = node.value
        return max(-_HUGE, min(_HUGE, value)) if isinstance(value, int) and not isinstance(value, bool) else None
    if isinstance(node, nodes.Neg):
        inner = _static_int(node.node)
        return None if inner is None else -inner
    if not isinstance(node, nodes.Add | nodes.Sub | nodes.Mul | nodes.Pow):
        return None
    left, right = _static_int(node.left), _static_int(node.right)
    if left is None or right is None:
        return None
    if isinstance(node, nodes.Pow):
        if right < 0:
            return None
        if abs(left) <= 1:
            return 1 if right == 0 or left == 1 or (left == -1 and right % 2 == 0) else left
        if left.bit_length() * right <= 64:
            return int(left**right)
        return _HUGE if left > 0 or right % 2 == 0 else -_HUGE
    if isinstance(node, nodes.Mul):
        product = left * right  # both within ±2**64: small
    else:
        product = left + right if isinstance(node, nodes.Add) else left - right
    return max(-_HUGE, min(_HUGE, product))


class _Bounded(NodeTransformer):
    """The rewrite every compiled template goes through: loops count their turns, concatenations and
    literal containers are weighed, and literal text is written through the finalizer (and counted)."""

    def visit_For(self, node: nodes.For) -> nodes.Node:
        self.generic_visit(node)
        node.iter = _filter(node.iter, _EACH)
        return node

    def visit_Concat(self, node: nodes.Concat) -> nodes.Node:
        self.generic_visit(node)
        node.nodes = [_filter(piece, _WEIGHED) for piece in node.nodes]
        return _filter(node, _WEIGHED)

    def visit_List(self, node: nodes.List) -> nodes.Node:
        self.generic_visit(node)
        return _filter(node, _WEIGHED)

    def visit_Dict(self, node: nodes.Dict) -> nodes.Node:
        self.generic_visit(node)
        return _filter(node, _WEIGHED)

    def visit_Tuple(self, node: nodes.Tuple) -> nodes.Node:
        self.generic_visit(node)
        return node if node.ctx != "load" else _filter(node, _WEIGHED)

    def visit_TemplateData(self, node: nodes.TemplateData) -> nodes.Node:
        return nodes.Const(node.data, lineno=node.lineno)


def _filter(node: nodes.Node, name: str) -> nodes.Filter:
    return nodes.Filter(node, name, [], [], None, None, lineno=node.lineno)


def bound(tree: nodes.Template) -> nodes.Template:
    rewritten = _Bounded().visit(tree)
    assert isinstance(rewritten, nodes.Template)
    return rewritten
