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
    }


@click.group("cassette")
def cassette() -> None:
    """Work with recorded cassettes."""
