"""Text templates in scenario files: sandboxed Jinja2, with a fast path for plain strings.

The variables a template may use are fixed (`VARIABLES`), so a typo such as ``{{ mesage }}`` is caught
when the file loads, with its line and column, rather than rendering as an empty string mid-demo.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from functools import cache
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    import jinja2
    from jinja2.sandbox import ImmutableSandboxedEnvironment

#: What a template can see, with what each means.
VARIABLES: Mapping[str, str] = {
    "message": "the user's message in this turn",
    "answer": "the human's answer to the last question (or the approval decision)",
    "turn": "1 for the first turn of a conversation, 2 for the next …",
    "conversation_id": "the platform's id of the conversation",
    "agent_id": "the agent's id",
    "platform": "the platform key (beeos, agentos, xpander, zeus, aster)",
}

# Text with only `{{ name }}` substitutions (most scenario text) renders without Jinja: a render
# is a string join instead of a new Jinja context per call, which is most of an echo's cost.
_SIMPLE = re.compile(r"\{\{\s*([A-Za-z_][A-Za-z0-9_]*)\s*\}\}")


@cache
def _env() -> ImmutableSandboxedEnvironment:
    """The Jinja environment, built on first need: importing Jinja is a sizeable share of start-up,
    and most scenario sets only hold plain text and `{{ name }}` substitutions, which never need it."""
    import jinja2
    from jinja2.sandbox import ImmutableSandboxedEnvironment

    return ImmutableSandboxedEnvironment(undefined=jinja2.StrictUndefined, autoescape=False)


class TemplateError(ValueError):
    """The template does not compile or uses an unknown variable."""


class Template:
    """A piece of scenario text, rendered against a turn's variables."""

    __slots__ = ("_compiled", "_parts", "source")

    def __init__(self, source: str) -> None:
        self.source = source
        self._compiled: jinja2.Template | None = None
        self._parts: tuple[str, ...] | None = None  # literal, name, literal, name, …, literal
        if "{{" in source or "{%" in source or "{#" in source:
            parts = _simple_parts(source)
            # Jinja would parse such text into exactly these substitutions, and every name is known,
            # so it is valid: anything else (unknown names too, for Jinja's own error) goes to Jinja.
            if parts is not None and all(name in VARIABLES for name in parts[1::2]):
                self._parts = parts
            else:
                self._compile(source)

    def _compile(self, source: str) -> None:
        import jinja2
        import jinja2.meta

        env = _env()
        try:
            parsed = env.parse(source)
        except jinja2.TemplateSyntaxError as err:
            raise TemplateError(f"template syntax error: {err.message}") from err
        unknown = sorted(jinja2.meta.find_undeclared_variables(parsed) - VARIABLES.keys())
        if unknown:
            known = ", ".join(VARIABLES)
            raise TemplateError(f"unknown template variable {unknown[0]!r}; known ones are: {known}")
        # Names Jinja reads as literals (`{{ true }}`) pass the check above but are no variables, so
        # such text renders with Jinja too: a string join would look them up and fail.
        self._compiled = env.from_string(source)

    def render(self, variables: Mapping[str, Any]) -> str:
        parts = self._parts
        if parts is not None:
            out = list(parts)
            for i in range(1, len(out), 2):
                out[i] = str(variables[out[i]])
            return "".join(out)
        if self._compiled is None:
            return self.source
        return self._compiled.render(variables)

    def __repr__(self) -> str:
        return f"Template({self.source!r})"

    def __eq__(self, other: object) -> bool:
        return isinstance(other, Template) and other.source == self.source

    def __hash__(self) -> int:
        return hash(self.source)


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
