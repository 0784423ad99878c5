"""The `mockagent` command."""

from __future__ import annotations

import asyncio
import contextlib
import logging
import sys
from pathlib import Path
from typing import TYPE_CHECKING

import click

from mockagent import __version__
from mockagent.errors import MockAgentError
from mockagent.faults import FaultRule, FaultSyntaxError, Per, RateLimit, parse_fault
from mockagent.model import PlatformKey
from mockagent.settings import Settings, load_scenarios

if TYPE_CHECKING:
    from mockagent.server import MockServer

DEFAULT_PORT = 8710


@click.group()
@click.version_option(__version__, prog_name="mockagent")
def main() -> None:
    """A local mock of five hosted AI-agent platforms: BeeOS, AgentOS, xpander.ai, Zeus, Aster Agents."""


@main.command()
@click.argument("scenario_paths", nargs=-1, type=click.Path(exists=True, path_type=Path))
@click.option("--host", default="127.0.0.1", show_default=True, help="Address to bind (loopback by default).")
@click.option("--port", default=DEFAULT_PORT, show_default=True, type=int)
@click.option(
    "--platform",
    "platform",
    type=click.Choice([key.value for key in PlatformKey]),
    help="Serve only this platform, at the root, so clients with hard-coded paths work.",
)
@click.option("--with-builtin", is_flag=True, help="Serve the built-in demo agents as well as SCENARIO_PATHS.")
@click.option(
    "--speed",
    default=1.0,
    show_default=True,
    type=click.FloatRange(min=0.0, min_open=True),
    help="Divide every scripted delay by this factor (Retry-After values stay real seconds).",
)
@click.option(
    "--fault",
    "faults",
    multiple=True,
    metavar="SPEC",
    help='Apply a fault to every request, e.g. "503" or "latency=0.2" (see docs/faults.md). Repeatable.',
)
@click.option("--rate-limit", metavar="N/WINDOW", help="A token bucket per credential, e.g. 60/min.")
@click.option(
    "--chaos",
    default=0.0,
    type=click.FloatRange(0.0, 1.0),
    metavar="RATE",
    help="Inject a fault from the catalogue into this share of requests (0..1).",
)
@click.option("--seed", default=0, show_default=True, help="Seed for --chaos and latency samples.")
@click.option(
    "--header-timeout",
    default=Settings.header_timeout,
    show_default=True,
    type=click.FloatRange(min=0.0, min_open=True),
    metavar="SECONDS",
    help="Close a connection whose request head has not arrived whole in this time (real seconds).",
)
@click.option(
    "--body-timeout",
    default=Settings.body_timeout,
    show_default=True,
    type=click.FloatRange(min=0.0, min_open=True),
    metavar="SECONDS",
    help="Answer 400 to a request whose body has not arrived whole in this time (real seconds).",
)
@click.option(
    "--idle-timeout",
    default=Settings.idle_timeout,
    show_default=True,
    type=click.FloatRange(min=0.0, min_open=True),
    metavar="SECONDS",
    help="Close a keep-alive connection idle this long (real seconds).",
)
@click.option(
    "--write-timeout",
    default=Settings.write_timeout,
    show_default=True,
    type=click.FloatRange(min=0.0, min_open=True),
    metavar="SECONDS",
    help="Cut off a client that takes nothing of its response for this long (real seconds).",
)
@click.option(
    "--max-connections",
    default=Settings.max_connections,
    show_default=True,
    type=click.IntRange(min=1),
    help="Refuse connections past this many open at once (lowered to what ulimit -n allows).",
)
@click.option("-v", "--verbose", is_flag=True, help="Log each request.")
def serve(
    scenario_paths: tuple[Path, ...],
    host: str,
    port: int,
    platform: str | None,
    with_builtin: bool,
    speed: float,
    faults: tuple[str, ...],
    rate_limit: str | None,
    chaos: float,
    seed: int,
    header_timeout: float,
    body_timeout: float,
    idle_timeout: float,
    write_timeout: float,
    max_connections: int,
    verbose: bool,
) -> None:
    """Serve the platforms from SCENARIO_PATHS (files or folders), or from the demo agents."""
    logging.basicConfig(level=logging.INFO if verbose else logging.WARNING, format="%(levelname)s %(message)s")
    try:
        rules = tuple(FaultRule(fault=parse_fault(spec)) for spec in faults)
        if rate_limit:
            rules += (FaultRule(rate_limit=RateLimit.parse(rate_limit), per=Per.CREDENTIAL),)
    except FaultSyntaxError as err:
        raise click.BadParameter(str(err)) from err
    settings = Settings(
        scenario_paths=scenario_paths,
        with_builtin=with_builtin,
        root_platform=PlatformKey(platform) if platform else None,
        speed=speed,
        fault_rules=rules,
        chaos=chaos,
        seed=seed,
        header_timeout=header_timeout,
        body_timeout=body_timeout,
        idle_timeout=idle_timeout,
        write_timeout=write_timeout,
        max_connections=max_connections,
    )
    try:
        scenarios = load_scenarios(settings)  # fail before binding, with the file's own position
    except (MockAgentError, OSError) as err:
        raise click.ClickException(str(err)) from err
    # The server, aiohttp and the platforms are imported only by the commands that serve: `validate`
    # and `--help` would otherwise spend most of their time importing them.
    from mockagent.server import MockServer

    with contextlib.suppress(KeyboardInterrupt):
        asyncio.run(_serve(MockServer(settings, host, port, scenarios=scenarios)))
    click.echo("mockagent stopped.")


async def _serve(server: MockServer) -> None:
    from mockagent.collector import Collector
    from mockagent.connections import Throttle, log, throttle_accept_errors
    from mockagent.platforms import platform_classes

    settings = server.settings
    throttle_accept_errors(Throttle(log))
    try:
        await server.start()
    except OSError as err:
        raise click.ClickException(f"cannot listen on {server.host}:{server.port}: {err.strerror or err}") from err
    collector = Collector(server.engine)
    collector.start()
    agents = sorted(server.engine.scenarios.agents)
    click.echo(f"mockagent {__version__} listening on {server.url}  (speed {settings.speed:g}x)")
    classes = platform_classes()
    for key in settings.served():
        click.echo(f"  {classes[key].title:<14} {server.base_url(key)}")
    click.echo(f"  agents: {', '.join(agents) or '(none)'}")
    click.echo(f"  health: {server.url}/__mockagent/health   — Ctrl-C to stop")
    sys.stdout.flush()
    try:
        await asyncio.Event().wait()
    finally:
        await collector.stop()
        await server.stop()


@main.command()
@click.argument("scenario_paths", nargs=-1, required=True, type=click.Path(exists=True, path_type=Path))
def validate(scenario_paths: tuple[Path, ...]) -> None:
    """Check scenario files; print each problem as path:line:col: message."""
    try:
        scenarios = load_scenarios(Settings(scenario_paths=scenario_paths))
    except (MockAgentError, OSError) as err:
        raise click.ClickException(str(err)) from err
    click.echo(f"ok: {len(scenarios.agents)} agents in {len(scenarios.files)} files")


@main.command("platforms")
def list_platforms() -> None:
    """List the impersonated platforms and the real base URL each stands in for."""
    from mockagent.platforms import platform_classes

    for key, cls in platform_classes().items():
        click.echo(f"{key.value:<8} {cls.title:<14} {cls.real_base_url}")
