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
