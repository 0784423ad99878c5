"""What a scenario file cannot do to the server, seen when it loads (`mockagent validate`, start-up, and
`POST /__mockagent/reload`): every problem of every file is reported as path:line:col, nothing in a
template is evaluated, and a file that is too large, too deep or expands too far is refused before
anything walks it; a reload loads off the event loop, so clients are served meanwhile."""

from __future__ import annotations

import contextlib
import errno
import os
import textwrap
import time
import tracemalloc
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import httpx
import pytest
from click.testing import CliRunner
from credentials import BEEOS

from mockagent.cli import main
from mockagent.scenarios import load_text
from mockagent.scenarios.yamlnodes import MAX_ALIAS_NODES, MAX_DEPTH, MAX_FILE_BYTES, MAX_PROBLEMS
from mockagent.server import ThreadedMockServer
from mockagent.settings import Settings
from mockagent.templating import VARIABLES

SAFETY = 30.0  # real seconds: a bound on what must happen, never a measurement


def validate(*paths: Path) -> tuple[int, list[str]]:
    """`mockagent validate PATHS`: its exit code and the lines it wrote."""
    result = CliRunner().invoke(main, ["validate", *map(str, paths)])
    return result.exit_code, result.output.splitlines()


def write(folder: Path, text: str, name: str = "agents.yaml") -> Path:
    path = folder / name
    path.write_text(textwrap.dedent(text), encoding="utf-8")
    return path


def agent(say: str) -> str:
    return f"agents:\n  - id: a\n    script:\n      - say: {say}\n"


# ── templates: refused at load, with their position ───────────────────────────────────────────────────


@pytest.mark.parametrize(
    ("template", "problem"),
    [
        ("{{ ''.__class__.__mro__ }}", "'__mro__': names starting with _ are not available in templates"),
        ("{{ message.__class__ }}", "'__class__': names starting with _ are not available in templates"),
        ("{{ message['__class__'] }}", "'__class__': names starting with _ are not available in templates"),
        ("{{ message | attr('__class__') }}", "'__class__': names starting with _ are not available in templates"),
        ("{{ lipsum.__globals__ }}", "'__globals__': names starting with _ are not available in templates"),
        ("{{ lipsum(100) }}", "unknown template variable 'lipsum'"),
        ("{{ range(10**9) }}", "a range of 1,000,000,000 numbers; a range in a template has at most 100,000"),
        ("{{ 'x' * 300000000 }}", "'x' * 3e+08 would make more than 1,048,576 characters"),
        ("{{ message | center(10**9) }}", "the number 1e+09 is larger than 1,048,576"),
        ("{{ 7 ** 1000000000 }}", "7 ** 1e+09 would be a number of more than 1,048,576 digits"),
        ("{{ message | frobnicate }}", "unknown filter 'frobnicate'"),
        ("{{ message is frobnicated }}", "unknown test 'frobnicated'"),
        ("{% include 'other' %}", "{% include %} is not available in scenario templates"),
        ("{% extends 'base' %}", "{% extends %} is not available in scenario templates"),
        ("{{ " + "9" * 5000 + " }}", "template error: ValueError: Exceeds the limit (4300 digits)"),
        ("{{ " + "(" * 2000 + "1" + ")" * 2000 + " }}", "the template nests too deeply"),
    ],
)
def test_what_a_template_would_do_wrong_is_a_problem_at_its_position(
    tmp_path: Path, template: str, problem: str
) -> None:
    path = write(tmp_path, agent(f'"{template}"'))
    code, lines = validate(path)
    assert code == 1
    assert lines[0].startswith(f"{path}:4:14: say: {problem}"), lines
    assert lines[-1] == "Error: 1 problem in the scenario files"


def test_a_problem_on_a_later_line_of_a_template_says_which(tmp_path: Path) -> None:
    path = write(tmp_path, agent("|\n          first line\n          {{ message | frobnicate }}"))
    assert validate(path)[1][0] == f"{path}:4:14: say: unknown filter 'frobnicate' (line 2 of the template)"


def test_a_template_too_long_for_jinja_is_refused_but_plain_text_is_not(tmp_path: Path) -> None:
    long_jinja = write(tmp_path, agent('"{{ message | upper }}' + "x" * 70_000 + '"'), "jinja.yaml")
    assert "a template that needs Jinja may be at most 65,536 characters" in validate(long_jinja)[1][0]
    long_plain = write(tmp_path, agent('"{{ message }}' + "x" * 500_000 + '"'), "plain.yaml")
    assert validate(long_plain) == (0, ["ok: 1 agent in 1 file"])


@pytest.mark.parametrize(
    "template",
    [
        "{{ 'x' * 300000000 }}",  # caught before anything runs
        # Nothing to catch here, but Jinja's code generator would compute it while compiling (it folds
        # constant output): 1,000,000 characters joined with ten each. It is left to the render.
        "{{ 'x' | center(1000000) | list | join('xxxxxxxxxx') }}",
        "{% autoescape ('x' | center(1000000) | list | join('xxxxxxxxxx')) != '' %}{% endautoescape %}",
    ],
)
def test_nothing_in_a_template_is_evaluated_at_load(tmp_path: Path, template: str) -> None:
    path = tmp_path / "agents.yaml"
    load_text(path, agent('"{{ message | upper }}"'))  # Jinja imported and its environment made beforehand
    text = agent(f'"{template}"')
    tracemalloc.start()
    try:
        with contextlib.suppress(Exception):
            load_text(path, text)
        peak = tracemalloc.get_traced_memory()[1]
    finally:
        tracemalloc.stop()
    assert peak < 4_000_000, f"loading allocated {peak:,} bytes"


# ── YAML: size, depth and aliases ─────────────────────────────────────────────────────────────────────


def nested(levels: int) -> str:
    """A scenario whose tool arguments hold lists nested so that mappings and lists nest `levels` deep (the
    file, agents, the agent, its script, the step, tool_call and args are 7 levels; the lists start at
    column 40 of line 4)."""
    lists = levels - 7
    return agent("hi").replace("say: hi", "tool_call: {name: t, args: {x: " + "[" * lists + "]" * lists + "}}")


def test_nesting_at_the_bound_loads_and_past_it_is_a_problem_where_it_passes(tmp_path: Path) -> None:
    assert validate(write(tmp_path, nested(MAX_DEPTH), "deep.yaml"))[0] == 0
    path = write(tmp_path, nested(MAX_DEPTH + 1), "deeper.yaml")
    code, lines = validate(path)
    assert code == 1
    assert lines[0] == f"{path}:4:{40 + MAX_DEPTH - 7}: nested more than 64 levels deep"


def test_deep_block_nesting_is_a_problem_not_a_recursion_error(tmp_path: Path) -> None:
    text = "agents:\n" + "".join("  " * (i + 1) + f"k{i}:\n" for i in range(1200))  # past libyaml's limit too
    path = write(tmp_path, text)
    code, lines = validate(path)
    assert code == 1
    assert lines[0] == f"{path}:{MAX_DEPTH + 1}:{2 * MAX_DEPTH + 1}: nested more than 64 levels deep"
    flow = write(tmp_path, "agents: " + "[" * 100_000 + "]" * 100_000 + "\n", "flow.yaml")  # past libyaml's own limit
    assert validate(flow)[1][0] == f"{flow}:1:{MAX_DEPTH + 8}: nested more than 64 levels deep"


BILLION_LAUGHS = """\
agents:
  - id: a
    script:
      - tool_call:
          name: t
          args:
            a: &a ["lol", "lol", "lol", "lol", "lol", "lol", "lol", "lol", "lol"]
            b: &b [*a, *a, *a, *a, *a, *a, *a, *a, *a]
            c: &c [*b, *b, *b, *b, *b, *b, *b, *b, *b]
            d: &d [*c, *c, *c, *c, *c, *c, *c, *c, *c]
            e: &e [*d, *d, *d, *d, *d, *d, *d, *d, *d]
            f: &f [*e, *e, *e, *e, *e, *e, *e, *e, *e]
            g: &g [*f, *f, *f, *f, *f, *f, *f, *f, *f]
            h: &h [*g, *g, *g, *g, *g, *g, *g, *g, *g]
            i: &i [*h, *h, *h, *h, *h, *h, *h, *h, *h]
"""


def test_aliases_that_expand_too_far_are_a_problem_at_the_alias(tmp_path: Path) -> None:
    # a is 10 nodes, b 91, c 820, d 7,381, e 66,430: through e, aliases repeat 74,718 nodes, within the bound;
    # the f list's first *e passes it.
    within = write(tmp_path, BILLION_LAUGHS.split("            f:")[0], "within.yaml")
    assert validate(within) == (0, ["ok: 1 agent in 1 file"])
    path = write(tmp_path, BILLION_LAUGHS)
    tracemalloc.start()
    try:
        code, lines = validate(path)
        peak = tracemalloc.get_traced_memory()[1]
    finally:
        tracemalloc.stop()
    assert code == 1
    assert lines[0] == f"{path}:12:20: aliases repeat more than {MAX_ALIAS_NODES:,} nodes in all"
    assert peak < 10_000_000


def test_an_alias_inside_the_node_it_names_is_a_problem(tmp_path: Path) -> None:
    path = write(tmp_path, "agents:\n  - id: a\n    script:\n      - tool_call: {name: t, args: &loop {x: [*loop]}}\n")
    assert validate(path)[1][0] == f"{path}:4:47: the alias *loop is inside the node it names"


def test_a_file_past_the_size_bound_is_refused_without_reading_it_whole() -> None:
    code, lines = validate(Path("/dev/zero"))  # endless: only MAX_FILE_BYTES + 1 bytes of it are read
    assert code == 1
    assert lines[0] == "/dev/zero: the file is larger than 4 MiB, the limit for a scenario file"
    assert MAX_FILE_BYTES == 4 * 1024 * 1024


def test_a_file_that_is_not_utf8_is_a_problem_at_the_byte(tmp_path: Path) -> None:
    path = tmp_path / "agents.yaml"
    path.write_bytes(b"agents:\n  - id: caf\xe9\n")
    assert validate(path)[1][0] == f"{path}:2:12: not UTF-8 text: invalid continuation byte"


def test_tool_data_that_json_cannot_carry_is_a_problem_at_each_value(tmp_path: Path) -> None:
    path = write(
        tmp_path,
        """\
        agents:
          - id: a
            script:
              - tool_call: {name: t, args: {when: 2024-01-01, ratio: .nan, tags: !!set {a, b}}}
              - tool_result: {output: {blob: !!binary aGk=}}
        """,
    )
    code, lines = validate(path)
    assert code == 1
    assert lines[:4] == [
        f"{path}:4:43: '2024-01-01' is a timestamp to YAML, which JSON cannot carry (quote it)",
        f"{path}:4:62: '.nan': JSON has no NaN or infinity",
        f"{path}:4:74: a set is not JSON data (mappings and lists are)",
        f"{path}:5:38: 'aGk=' is a binary to YAML, which JSON cannot carry (quote it)",
    ]


# ── validate: every problem of every file ─────────────────────────────────────────────────────────────

SEVERAL = """\
agents:
  - id: a
    scirpt:
      - say: hi
  - id: b
    aster_id: zero
    pace: {chunk: lines}
    script:
      - say: "{{ mesage }}"
      - delay: soon
      - tool_result: {output: 1}
  - id: c
    script: []
  - id: d
    replies:
      - when: {contains: x}
        script:
          - tool_call: {name: t, args: {}, on_reject: [{tool_result: {error: refused}}]}
          - tool_result: {output: done}
"""


def test_validate_reports_every_problem_of_every_file_in_order(tmp_path: Path) -> None:
    first = write(tmp_path, SEVERAL, "first.yaml")
    second = write(tmp_path, "agents:\n  - id: b\n    script: [{say: hi}]\n  - {id: e}\n", "second.yaml")
    code, lines = validate(first, second)
    assert code == 1
    assert lines == [
        f"{first}:3:5: unknown key 'scirpt' in an agent (did you mean 'script'?); expected one of: aster_id, "
        "default, description, faults, id, llm, name, pace, platforms, replies, script",
        f"{first}:6:15: aster_id must be a whole number, got 'zero'",
        f"{first}:7:19: pace.chunk 'lines' is not one of: whole, words, chars",
        f"{first}:9:14: say: unknown template variable 'mesage' (did you mean 'message'?); known ones are: "
        f"{', '.join(VARIABLES)}",
        f"{first}:10:16: delay must be a number, got 'soon'",
        f"{first}:11:9: tool_result has no tool_call before it in its script",
        f"{first}:13:13: a script needs at least one step",
        f"{second}:2:5: agent 'b' is already declared at {first}:5:5",
        f"{second}:4:5: agent 'e' needs a 'script' (or 'replies')",
        "Error: 9 problems in the scenario files",
    ]


def test_validate_flags_a_folder_without_scenario_files(tmp_path: Path) -> None:
    (tmp_path / "empty").mkdir()
    (tmp_path / "notes").mkdir()
    (tmp_path / "notes" / "README.md").write_text("not a scenario")
    assert validate(tmp_path / "empty", tmp_path / "notes")[1] == [
        f"{tmp_path / 'empty'}: no scenario files (*.yaml, *.yml) in it",
        f"{tmp_path / 'notes'}: no scenario files (*.yaml, *.yml) in it",
        "Error: 2 problems in the scenario files",
    ]


def test_validate_stops_after_so_many_problems(tmp_path: Path) -> None:
    path = write(tmp_path, "agents:\n" + "".join(f"  - {{id: a{i}, scirpt: []}}\n" for i in range(3 * MAX_PROBLEMS)))
    code, lines = validate(path)
    assert code == 1
    assert len(lines) == MAX_PROBLEMS + 2
    assert lines[-2:] == [
        f"(stopped after {MAX_PROBLEMS:,} problems)",
        f"Error: {MAX_PROBLEMS} problems in the scenario files",
    ]


# ── reload ────────────────────────────────────────────────────────────────────────────────────────────

GOOD = "agents:\n  - id: alpha\n    script: [{say: alpha here}]\n"
GROWN = GOOD + "  - id: beta\n    script: [{say: beta here}]\n"


def say(server: ThreadedMockServer, agent_id: str) -> httpx.Response:
    url = f"{server.base_url('beeos')}/api/v1/agents/{agent_id}/invoke"
    return httpx.post(url, json={"message": "hi"}, headers=BEEOS, timeout=SAFETY)


def reload(server: ThreadedMockServer) -> httpx.Response:
    return httpx.post(f"{server.url}/__mockagent/reload", timeout=SAFETY)


@contextlib.contextmanager
def serving(path: Path) -> Iterator[ThreadedMockServer]:
    with ThreadedMockServer(Settings(scenario_paths=(path,))) as server:
        yield server


def test_reload_reports_every_problem_and_keeps_the_old_scenarios(tmp_path: Path) -> None:
    path = write(tmp_path, GOOD)
    with serving(path) as server:
        path.write_text(BILLION_LAUGHS)
        response = reload(server)
        assert response.status_code == 422
        body = response.json()
        assert body["reloaded"] is False
        assert body["errors"] == [f"{path}:12:20: aliases repeat more than {MAX_ALIAS_NODES:,} nodes in all"]
        path.write_text(nested(MAX_DEPTH + 1))
        body = reload(server).json()
        assert body["errors"] == [f"{path}:4:{40 + MAX_DEPTH - 7}: nested more than 64 levels deep"]
        path.write_text(SEVERAL)
        body = reload(server).json()
        assert len(body["errors"]) == 7
        assert body["error"] == "\n".join(body["errors"])
        assert say(server, "alpha").json()["data"]["text"] == "alpha here"


def open_for_writing(fifo: Path) -> int:
    """The write end of `fifo`, once a reader has opened it (a reload has started reading the file)."""
    deadline = time.monotonic() + SAFETY
    while True:
        try:
            return os.open(fifo, os.O_WRONLY | os.O_NONBLOCK)
        except OSError as err:
            if err.errno != errno.ENXIO or time.monotonic() > deadline:
                raise
            time.sleep(0.01)


def test_reload_reads_and_loads_off_the_event_loop(tmp_path: Path) -> None:
    path = write(tmp_path, GOOD)
    with serving(path) as server, ThreadPoolExecutor(1) as pool:
        # The scenario file becomes a pipe: the reload reads it until the test has written it and closed it.
        path.unlink()
        os.mkfifo(path)
        reloading = pool.submit(reload, server)
        writer = open_for_writing(path)
        try:
            # The reload is reading the file now. The server answers meanwhile, from the old scenarios.
            assert httpx.get(f"{server.url}/__mockagent/health", timeout=5).status_code == 200
            assert say(server, "alpha").json()["data"]["text"] == "alpha here"
            assert say(server, "beta").status_code == 404
            assert not reloading.done()
            os.write(writer, GROWN.encode())
        finally:
            os.close(writer)
        assert reloading.result(timeout=SAFETY).json() == {"reloaded": True, "agents": ["alpha", "beta"]}
        assert say(server, "beta").json()["data"]["text"] == "beta here"
