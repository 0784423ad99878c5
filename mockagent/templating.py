"""Text templates in scenario files: sandboxed Jinja2, with a fast path for plain strings.

The variables a template may use are fixed (`VARIABLES`), so a typo such as ``{{ mesage }}`` is caught
when the file loads, with its line and column, rather than rendering as an empty string mid-demo. What
Jinja renders is bounded in time and size (see `mockagent.sandbox`); a render that fails or passes a
bound is a `TemplateRenderError` naming where the template is written.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from functools import cache
from typing import TYPE_CHECKING, Any

from mockagent.errors import MockAgentError, SourcePosition

if TYPE_CHECKING:
    import jinja2

    from mockagent.sandbox import Sandbox

#: What a template can see, with what each means.
VARIABLES: Mapping[str, str] = {
    "message": "the user's message in this turn",
    "answer": "the human's answer to the last question (or the approval decision)",
    "turn": "1 for the first turn of a conversation, 2 for the next …",
    "conversation_id": "the platform's id of the conversation",
    "agent_id": "the agent's id",
    "platform": "the platform key (beeos, agentos, xpander, zeus, aster)",
    "groups": "the named groups the regexes of the reply's `when` captured ({{ groups.order }})",
}

# Text with only `{{ name }}` substitutions (most scenario text) renders without Jinja: a render
# is a string join instead of a new Jinja context per call, which is most of an echo's cost.
_SIMPLE = re.compile(r"\{\{\s*([A-Za-z_][A-Za-z0-9_]*)\s*\}\}")


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
    """A template failed as it rendered, or passed a bound: the message starts with where it is written."""

    def __init__(self, position: SourcePosition | None, reason: str) -> None:
        super().__init__(f"{position or 'a scenario template'}: the template failed to render: {reason}")
        self.position = position
        self.reason = reason


class Template:
    """A piece of scenario text, rendered against a turn's variables."""

    __slots__ = ("_compiled", "_parts", "position", "source")

    def __init__(
        self, source: str, position: SourcePosition | None = None, known: Mapping[str, str] = VARIABLES
    ) -> None:
        """`known`: the variables it may use (a reply's `VARIABLES`; a raw stub's are its own)."""
        self.source = source
        self.position = position  # where the scenario file writes it, for a render's errors
        self._compiled: jinja2.Template | None = None
        self._parts: tuple[str, ...] | None = None  # literal, name, literal, name, …, literal
        if "{{" in source or "{%" in source or "{#" in source:
            parts = _simple_parts(source)
            # Jinja would parse such text into exactly these substitutions, and every name is known,
            # so it is valid: anything else (unknown names too, for Jinja's own error) goes to Jinja.
            if parts is not None and all(name in known for name in parts[1::2]):
                self._parts = parts
            else:
                self._compile(source, known)

    def _compile(self, source: str, known: Mapping[str, str]) -> None:
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
            unknown = sorted(jinja2.meta.find_undeclared_variables(parsed) - known.keys())
        except jinja2.TemplateError as err:
            raise TemplateError(f"template error: {err.message}", getattr(err, "lineno", 1)) from err
        except RecursionError:
            raise TemplateError("the template nests too deeply") from None
        except Exception as err:
            raise TemplateError(f"template error: {_reason(err)}") from None
        if unknown:
            names = ", ".join(known)
            raise TemplateError(f"unknown template variable {unknown[0]!r}; known ones are: {names}")
        # Names Jinja reads as literals (`{{ true }}`) pass the check above but are no variables, so
        # such text renders with Jinja too: a string join would look them up and fail.
        try:
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
        from mockagent import sandbox

        try:
            return sandbox.render(self._compiled, variables)
        except Exception as err:  # whatever the template does wrong is the scenario file's error
            raise TemplateRenderError(self.position, _reason(err)) from None

    def __repr__(self) -> str:
        return f"Template({self.source!r})"

    def __eq__(self, other: object) -> bool:
        return isinstance(other, Template) and other.source == self.source

    def __hash__(self) -> int:
        return hash(self.source)


def _reason(err: BaseException) -> str:
    """An error as a short line: the messages of some errors quote a value, which may be long."""
    text = str(err) or type(err).__name__
    if type(err).__module__ not in ("mockagent.sandbox", "jinja2.exceptions"):
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
