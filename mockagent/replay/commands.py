"""The command line of record and replay: `mockagent record`, `mockagent cassette …`, and the cassette
options `mockagent serve` takes."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import Any, TypeVar

import click

from mockagent.model import PlatformKey
from mockagent.replay.modes import RecordMode, Repeat

F = TypeVar("F", bound=Callable[..., Any])


def upstream(value: str) -> tuple[PlatformKey, str]:
    """`beeos=https://openapi.beeos.ai` → (beeos, the URL)."""
    key, _, url = value.partition("=")
    try:
        platform = PlatformKey(key.strip())
    except ValueError:
        known = ", ".join(k.value for k in PlatformKey)
        raise click.BadParameter(f"{value!r}: expected PLATFORM=URL with PLATFORM one of {known}") from None
    if not url.startswith(("http://", "https://")):
        raise click.BadParameter(f"{value!r}: the URL must start with http:// or https://")
    return platform, url.strip()


def replay_options(default_mode: RecordMode) -> Callable[[F], F]:
    """The options of a server with cassettes (`serve` replays by default; `record` records)."""

    def decorate(command: F) -> F:
        options = [
            click.option(
                "--cassettes",
                type=click.Path(file_okay=False, path_type=Path),
                help="A folder of cassettes (docs/recording.md): replay what they hold.",
            ),
            click.option(
                "--record-mode",
                type=click.Choice([mode.value for mode in RecordMode]),
                default=default_mode.value,
                show_default=True,
                help="once, new_episodes, none or all, as in vcrpy.",
            ),
            click.option(
                "--upstream",
                "upstreams",
                multiple=True,
                metavar="PLATFORM=URL",
                help="The real API to record a platform from, e.g. beeos=https://openapi.beeos.ai. Repeatable.",
            ),
            click.option(
                "--repeat",
                type=click.Choice([repeat.value for repeat in Repeat]),
                default=Repeat.LAST.value,
                show_default=True,
                help="What a request gets once its recorded answers are used up.",
            ),
            click.option("--asap", is_flag=True, help="Replay streams at once, not at their recorded pace."),
            click.option(
                "--redaction",
                type=click.Path(exists=True, dir_okay=False, path_type=Path),
                help="A YAML file of more headers, fields and patterns to redact (docs/recording.md).",
            ),
            click.option(
                "--redact-header", "redact_headers", multiple=True, metavar="NAME", help="Also redact this header."
            ),
            click.option(
                "--redact-field",
                "redact_fields",
                multiple=True,
                metavar="NAME",
                help="Also redact this JSON field or path.",
            ),
            click.option(
                "--redact-pattern",
                "redact_patterns",
                multiple=True,
                metavar="NAME=REGEX",
                callback=_patterns,
                help="Also redact what this regular expression matches (placeholders name it). Repeatable.",
            ),
            click.option(
                "--prefer",
                type=click.Choice(["cassettes", "scenarios"]),
                default="cassettes",
                show_default=True,
                help="With scenarios too: which answers first.",
            ),
        ]
        for option in reversed(options):
            command = option(command)
        return command

    return decorate


def replay_settings(options: dict[str, Any]) -> dict[str, Any]:
    """Settings fields from the options above."""
    return {
        "cassettes": options["cassettes"],
        "record_mode": RecordMode(options["record_mode"]),
        "upstreams": tuple(upstream(value) for value in options["upstreams"]),
        "repeat": Repeat(options["repeat"]),
        "replay_asap": options["asap"],
        "prefer_scenarios": options["prefer"] == "scenarios",
        "redaction": options["redaction"],
        "redact_headers": tuple(options["redact_headers"]),
        "redact_fields": tuple(options["redact_fields"]),
        "redact_patterns": tuple(options["redact_patterns"]),
    }


def _patterns(_: click.Context, __: click.Parameter, values: tuple[str, ...]) -> tuple[tuple[str, str], ...]:
    from mockagent.replay.redaction import parse_pattern_option

    try:
        return tuple(parse_pattern_option(value) for value in values)
    except ValueError as err:
        raise click.BadParameter(str(err)) from None


@click.group("cassette")
def cassette() -> None:
    """Work with recorded cassettes."""


@cassette.command()
@click.argument("paths", nargs=-1, required=True, type=click.Path(path_type=Path))
@click.option(
    "--redaction", type=click.Path(exists=True, dir_okay=False, path_type=Path), help="More rules, as for record."
)
def audit(paths: tuple[Path, ...], redaction: Path | None) -> None:
    """Find anything secret-looking in cassettes (files or folders): one line per finding, path:line:col;
    exit 1 on findings, 2 for a path that cannot be read."""
    from mockagent.errors import MockAgentError
    from mockagent.replay import audit as auditing
    from mockagent.replay.redaction import Redactor, load_config

    try:
        redactor = Redactor.from_config(load_config(redaction)) if redaction is not None else None
    except MockAgentError as err:
        raise click.ClickException(str(err)) from err
    raise SystemExit(auditing.main(paths, redactor))


# ── the tools around cassettes (docs/recording-tools.md) ─────────────────────────────────────────────


class _Unusable(click.ClickException):
    """A cassette that cannot be read, or an upstream that cannot be reached: exit status 2."""

    exit_code = 2


def _load(path: Path) -> Any:
    """The cassette at `path`, or the command's error (exit 2) saying what is wrong and where."""
    from mockagent.replay.cassette import Cassette, CassetteError

    try:
        return Cassette.load(path)
    except (CassetteError, OSError, UnicodeDecodeError) as err:
        raise _Unusable(str(err)) from err


def _write(text: str, output: Path | None) -> None:
    if output is None:
        click.echo(text, nl=False)
    else:
        output.write_text(text, encoding="utf-8")


@cassette.command("to-scenario")
@click.argument("cassette_path", metavar="CASSETTE", type=click.Path(exists=True, dir_okay=False, path_type=Path))
@click.option("-o", "--output", type=click.Path(dir_okay=False, path_type=Path), help="Write here, not to stdout.")
def to_scenario(cassette_path: Path, output: Path | None) -> None:
    """Turn a recording into an editable scenario file that gives the same replies."""
    from mockagent.replay.scenario_file import convert

    _write(convert(_load(cassette_path)).text(), output)


@cassette.command("check")
@click.argument("cassette_path", metavar="CASSETTE", type=click.Path(exists=True, dir_okay=False, path_type=Path))
@click.option(
    "--upstream",
    "upstreams",
    multiple=True,
    required=True,
    metavar="PLATFORM=URL",
    help="The live API to check a platform against, e.g. beeos=https://openapi.beeos.ai. Repeatable.",
)
@click.option(
    "--header",
    "headers",
    multiple=True,
    metavar="PLATFORM:Name=Value",
    help="A request header to send to PLATFORM in place of the recorded one (a credential the cassette holds "
    "redacted), e.g. beeos:Authorization='Bearer oag_…'. Repeatable.",
)
@click.option(
    "--timeout",
    default=300.0,
    show_default=True,
    type=click.FloatRange(min=0.0, min_open=True),
    help="Seconds each request may take, a stream to its end included.",
)
def check(cassette_path: Path, upstreams: tuple[str, ...], headers: tuple[str, ...], timeout: float) -> None:
    """Drift check: send the recorded requests to the live upstream and report, per interaction, changes of
    status, JSON shape and stream events. Exit 0: none; 1: drift; 2: upstream unreachable or cassette
    unreadable."""
    import asyncio

    from mockagent.replay.drift import Unreachable, parse_headers
    from mockagent.replay.drift import check as run_check

    bases = {key.value: url for key, url in (upstream(value) for value in upstreams)}
    try:
        given = parse_headers(headers)
    except ValueError as err:
        raise click.BadParameter(str(err), param_hint="--header") from None
    unknown = sorted(set(given) - {key.value for key in PlatformKey})
    if unknown:
        raise click.BadParameter(f"unknown platform {unknown[0]!r}", param_hint="--header")
    loaded = _load(cassette_path)
    try:
        report = asyncio.run(run_check(loaded, bases, given, timeout))
    except Unreachable as err:
        raise _Unusable(f"the upstream could not be reached: {err}") from err
    click.echo(report.text(), nl=False)
    click.get_current_context().exit(report.exit_code)


@cassette.command("export")
@click.argument("cassette_path", metavar="CASSETTE", type=click.Path(exists=True, dir_okay=False, path_type=Path))
@click.option("--har", "as_har", is_flag=True, help="As HAR 1.2, for a browser's dev tools (the only format so far).")
@click.option("-o", "--output", type=click.Path(dir_okay=False, path_type=Path), help="Write here, not to stdout.")
def export(cassette_path: Path, as_har: bool, output: Path | None) -> None:
    """Export a cassette for other tools: --har writes HAR 1.2, each stream's chunks and their moments in
    the entry's `_chunks`."""
    import json

    from mockagent.replay.har import har

    if not as_har:
        raise click.UsageError("choose a format: --har")
    _write(json.dumps(har(_load(cassette_path)), indent=2, ensure_ascii=False) + "\n", output)
