"""Templates checked and rendered without Jinja must behave exactly as Jinja does with them."""

from __future__ import annotations

import subprocess
import sys
from typing import Any

import jinja2
import pytest
from jinja2.sandbox import ImmutableSandboxedEnvironment

from mockagent.errors import SourcePosition
from mockagent.templating import (
    VARIABLES,
    Template,
    TemplateError,
    TemplateRenderError,
    compile_json,
    render_json,
)

JINJA = ImmutableSandboxedEnvironment(undefined=jinja2.StrictUndefined, autoescape=False)
VALUES: dict[str, Any] = {
    "message": "hi {{ there }} {% x %}",
    "answer": None,
    "turn": 2,
    "conversation_id": "c-1",
    "agent_id": "echo",
    "platform": "beeos",
    "groups": {},
}
KNOWN = ", ".join(VARIABLES)

# Plain text and `{{ name }}` substitutions: checked and rendered without Jinja.
SIMPLE = [
    "Echo: {{ message }}",
    "{{message}}",
    "{{ message }}{{ answer }}",
    "turn {{\tturn }} of {{ conversation_id\n}}",
    "{{ agent_id }} on {{ platform }}\n",
    "{{ message }}\n\n",
    "a { b } {{ message }} }",
    "{{ message }}}",
    "{ {{ message }}",
    "} {{ turn }} {",
    "100% {{ turn }} #1",
    "unicode ☃ {{ message }} é",
]

# Filters, expressions, statements, comments, whitespace control, odd braces: Jinja's to judge.
COMPLEX = [
    "{{ message | upper }}",
    "{{ turn + 1 }}",
    "{% if turn > 1 %}again: {% endif %}{{ message }}",
    "{# note #}{{ message }}",
    "{{- message -}} !",
    "{{ message }}\r\nline",
    "{{ '{{' }} {{ message }}",
    "{% raw %}{{ message }}{% endraw %}",
    "{{ answer if answer else 'none' }}",
]


def jinja_render(source: str) -> str:
    return JINJA.from_string(source).render(VALUES)


@pytest.mark.parametrize("source", SIMPLE)
def test_simple_templates_render_as_jinja_does_without_it(source: str) -> None:
    template = Template(source)
    assert template._parts is not None
    assert template._compiled is None  # no Jinja template behind it
    assert template.render(VALUES) == jinja_render(source)


@pytest.mark.parametrize("source", COMPLEX)
def test_complex_templates_render_as_jinja_does(source: str) -> None:
    assert Template(source).render(VALUES) == jinja_render(source)


def test_text_without_tags_is_kept_as_is() -> None:
    assert Template("no tags here\n").render(VALUES) == "no tags here\n"


@pytest.mark.parametrize(
    ("source", "unknown"),
    [
        ("{{ mesage }}", "'mesage' (did you mean 'message'?)"),
        ("Echo: {{ message }} {{ user }}", "'user'"),
        ("{{ zeta }} {{ alpha }}", "'alpha'"),  # the first in sorted order, as before
        ("{{ message | upper }} {{ nope }}", "'nope'"),
    ],
)
def test_unknown_variables_are_rejected_with_the_same_text(source: str, unknown: str) -> None:
    with pytest.raises(TemplateError) as caught:
        Template(source)
    assert str(caught.value) == f"unknown template variable {unknown}; known ones are: {KNOWN}"


@pytest.mark.parametrize(
    "source",
    ["{{ message ", "{{{ message }}", "a{{{ turn }}", "{% if %}", "{{ true }}{{ message }}{% endfor %}"],
)
def test_syntax_errors_are_jinjas(source: str) -> None:
    with pytest.raises(jinja2.TemplateSyntaxError) as expected:
        JINJA.parse(source)
    with pytest.raises(TemplateError) as caught:
        Template(source)
    assert str(caught.value) == f"template syntax error: {expected.value.message}"


def test_names_jinja_treats_as_literals_still_go_to_jinja() -> None:
    # `true` is a literal to Jinja, not an unknown variable: the fast path must not judge it.
    assert Template("{{ true }} {{ message }}").render(VALUES) == jinja_render("{{ true }} {{ message }}")


def test_plain_templates_do_not_import_jinja() -> None:
    code = (
        "import sys\n"
        "from mockagent.templating import Template\n"
        "Template('Echo: {{ message }} on turn {{ turn }}').render({'message': 'hi', 'turn': 1})\n"
        "assert 'jinja2' not in sys.modules, 'jinja2 was imported'\n"
    )
    subprocess.run([sys.executable, "-c", code], check=True)


# ── JSON values ────────────────────────────────────────────────────────────────────────────────────


def test_a_json_value_without_templates_is_the_value_itself() -> None:
    value = {"city": "Paris", "days": [1, 2, {"note": "{ not a template }"}], "n": None}
    compiled = compile_json(value)
    assert compiled.is_plain
    assert compiled.render({}) is value  # no copy, nothing rendered


def test_a_json_value_rebuilds_only_what_holds_templates() -> None:
    fixed = {"a": [1, 2]}
    compiled = compile_json({"fixed": fixed, "said": ["{{ message }}", "x"]})
    rendered = render_json(compiled, VALUES)
    assert rendered == {"fixed": {"a": [1, 2]}, "said": [VALUES["message"], "x"]}
    assert rendered["fixed"] is fixed


@pytest.mark.parametrize(
    ("source", "value"),
    [
        ("{{ turn }}", 2),  # one {{ expression }}: its value
        ("{{ turn }}\n", 2),  # Jinja drops one trailing newline (a YAML block scalar's)
        ("{{ [turn] }}\n", [2]),
        ("{{ turn + 1 }}", 3),
        ("{{ [turn, platform] }}", [2, "beeos"]),
        ("{{ {'a': turn} }}", {"a": 2}),
        ("{{ answer }}", None),
        ("{{ turn | string }}", "2"),
        ("turn {{ turn }}", "turn 2"),  # text around it: text
        ("{{ turn }}{{ turn }}", "22"),
        ("{{ {'b': [1]} | tojson }}", '{"b": [1]}'),
        ("{{ range(3) | map('string') }}", ["0", "1", "2"]),  # a lazy sequence, gathered
    ],
)
def test_a_string_that_is_one_expression_keeps_its_type(source: str, value: Any) -> None:
    assert render_json(compile_json({"v": source}), VALUES) == {"v": value}


def test_text_variables_only_take_the_fast_path() -> None:
    assert Template("{{ message }}")._compiled is None
    assert Template("{{ groups }}")._compiled is not None  # not text: Jinja's bounds apply


def test_compile_json_says_where_a_string_is_wrong() -> None:
    with pytest.raises(TemplateError) as caught:
        compile_json({"a": [{"b": "{{ mesage }}"}]})
    assert str(caught.value).startswith("['a'][0]['b']: unknown template variable 'mesage'")


def test_a_render_error_in_a_json_value_names_and_quotes_the_template() -> None:
    position = SourcePosition("f.yaml", 3, 7)
    with pytest.raises(TemplateRenderError) as caught:
        render_json(compile_json({"a": "{{ 1 / 0 }}"}, position), VALUES)
    assert (
        str(caught.value)
        == "f.yaml:3:7: the template '{{ 1 / 0 }}' failed to render: ZeroDivisionError: division by zero"
    )


def test_json_values_with_text_substitutions_do_not_import_jinja() -> None:
    code = (
        "import sys\n"
        "from mockagent.templating import compile_json, render_json\n"
        "value = compile_json({'a': ['{{ message }}', 'x {{ turn }}'], 'n': '{{ turn }}'})\n"
        "assert render_json(value, {'message': 'hi', 'turn': 1}) == {'a': ['hi', 'x 1'], 'n': 1}\n"
        "assert 'jinja2' not in sys.modules, 'jinja2 was imported'\n"
    )
    subprocess.run([sys.executable, "-c", code], check=True)
