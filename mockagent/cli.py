"""The `mockagent` command."""

from __future__ import annotations

import asyncio
import contextlib
import logging
import signal
import sys
from pathlib import Path
from typing import TYPE_CHECKING, Any

import click

from mockagent import __version__
from mockagent.errors import MockAgentError, ScenarioError, counted
from mockagent.faults import FaultRule, FaultSyntaxError, Per, RateLimit, parse_fault
from mockagent.loops import LOOPS
from mockagent.model import PlatformKey
from mockagent.replay.commands import cassette, replay_options, replay_settings
from mockagent.replay.modes import RecordMode
from mockagent.settings import Settings, load_scenarios

if TYPE_CHECKING:
    from mockagent.server import MockServer

DEFAULT_PORT = 8710
#: `--loop`, on every command that serves (see mockagent/loops.py).
loop_option = click.option(
    "--loop",
    "loop",
    type=click.Choice(LOOPS),
    default="auto",
    show_default=True,
    help="The event loop: uvloop where it is installed (auto), or asyncio's own.",
)
#: What `mockagent init` writes, each path relative to the project folder, from the package's own copy.
STARTER = {
    Path("scenarios", "agents.yaml"): Path(__file__).parent / "starter" / "agents.yaml",
    # Beside the scenario file, which names it by a relative path: an editor finds it offline.
    Path("scenarios", "scenario.schema.json"): Path(__file__).parent / "schema" / "scenario.schema.json",
    Path("tests", "test_agents.py"): Path(__file__).parent / "starter" / "test_agents.py",
}


@click.group()
@click.version_option(__version__, prog_name="mockagent")
def main() -> None:
    """A local mock of five hosted AI-agent platforms: BeeOS, AgentOS, xpander.ai, Zeus, Aster Agents."""


@main.command()
@click.argument("scenario_paths", nargs=-1, type=click.Path(exists=True, path_type=Path))
@click.option("--host", default="127.0.0.1", show_default=True, help="Address to bind (loopback by default).")
@click.option("--port", default=DEFAULT_PORT, show_default=True, type=click.IntRange(0, 65535), help="0: a free one.")
@click.option(
    "--platform",
    "platform",
    type=click.Choice([key.value for key in PlatformKey]),
    help="Serve only this platform, at the root, so clients with hard-coded paths work.",
)
@click.option("--with-builtin", is_flag=True, help="Serve the built-in demo agents as well as SCENARIO_PATHS.")
@click.option(
    "--watch",
    is_flag=True,
    help="Reload SCENARIO_PATHS whenever a file changes (all or nothing: a broken file keeps the previous ones).",
)
@click.option(
    "--speed",
    default=1.0,
    show_default=True,
    type=click.FloatRange(min=0.0, min_open=True),
    help="Divide every scripted delay by this factor (Retry-After values stay real seconds).",
)
@click.option(
    "--manual-clock",
    is_flag=True,
    help="Stop time: each session's clock moves only by POST /__mockagent/clock/advance (not with --speed).",
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
    "--admin-token",
    envvar="MOCKAGENT_ADMIN_TOKEN",
    show_envvar=True,
    metavar="TOKEN",
    help="Require `Authorization: Bearer TOKEN` on the admin API (/__mockagent); needed off loopback.",
)
@click.option(
    "--allowed-host",
    "allowed_hosts",
    multiple=True,
    metavar="NAME",
    help="A Host name the admin API answers for, besides loopback names, IP addresses and --host. Repeatable.",
)
@click.option("--no-admin", is_flag=True, help="Serve no admin API (/__mockagent) at all.")
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
@click.option(
    "--journal",
    "journal_file",
    type=click.Path(dir_okay=False, path_type=Path),
    metavar="FILE",
    help="Append each answered request to FILE as a JSON line (redacted, as the journal shows it).",
)
@click.option(
    "--journal-size",
    default=Settings.journal_size,
    show_default=True,
    type=click.IntRange(min=0),
    help="Requests each session's journal keeps (the oldest go first); 0 keeps none.",
)
@click.option(
    "--state",
    metavar="URL",
    help="Keep the sessions' state in Redis at URL (redis://HOST:6379/0), shared by every process pointed at "
    "it (docs/deploy.md). Default: in this process.",
)
@click.option(
    "--name",
    default="mockagent",
    show_default=True,
    help="The server's name in --state: its keys are mockagent:NAME:… (servers of other names share nothing).",
)
@click.option(
    "--workers",
    default=1,
    show_default=True,
    type=click.IntRange(1, 64),
    help="Serve with N processes on the one port (needs --state).",
)
@click.option("--worker", type=int, default=None, hidden=True)  # set by --workers on the processes it starts
@click.option("-v", "--verbose", is_flag=True, help="Log each request: method, path, status, duration, session, agent.")
@loop_option
@replay_options(RecordMode.NONE)
def serve(
    scenario_paths: tuple[Path, ...],
    host: str,
    port: int,
    platform: str | None,
    with_builtin: bool,
    watch: bool,
    speed: float,
    manual_clock: bool,
    faults: tuple[str, ...],
    rate_limit: str | None,
    chaos: float,
    seed: int,
    admin_token: str | None,
    allowed_hosts: tuple[str, ...],
    no_admin: bool,
    header_timeout: float,
    body_timeout: float,
    idle_timeout: float,
    write_timeout: float,
    max_connections: int,
    journal_file: Path | None,
    journal_size: int,
    state: str | None,
    name: str,
    workers: int,
    worker: int | None,
    verbose: bool,
    loop: str,
    **replay: Any,
) -> None:
    """Serve the platforms from SCENARIO_PATHS (files or folders), or from the demo agents; with
    --cassettes, from recordings (docs/recording.md)."""
    if manual_clock and speed != 1.0:
        raise click.BadParameter("a manual clock has no speed: give --speed or --manual-clock", param_hint="--speed")
    if watch and not scenario_paths:
        raise click.UsageError("--watch watches SCENARIO_PATHS: give the scenario files or folders to watch")
    try:
        rules = tuple(FaultRule(fault=parse_fault(spec)) for spec in faults)
        if rate_limit:
            rules += (FaultRule(rate_limit=RateLimit.parse(rate_limit), per=Per.CREDENTIAL),)
    except FaultSyntaxError as err:
        raise click.BadParameter(str(err)) from err
    settings = Settings(
        scenario_paths=scenario_paths,
        with_builtin=with_builtin,
        watch=watch,
        root_platform=PlatformKey(platform) if platform else None,
        speed=speed,
        manual_clock=manual_clock,
        fault_rules=rules,
        chaos=chaos,
        seed=seed,
        **replay_settings(replay),
        admin_api=not no_admin,
        admin_token=admin_token,
        allowed_hosts=(host, *allowed_hosts),
        header_timeout=header_timeout,
        body_timeout=body_timeout,
        idle_timeout=idle_timeout,
        write_timeout=write_timeout,
        max_connections=max_connections,
        journal_file=journal_file,
        journal_size=journal_size,
        state=state,
        name=name,
    )
    from mockagent.admin import is_loopback

    if no_admin and not is_loopback(host):
        click.echo(
            f"warning: serving on {host or 'every address'} to anyone who can reach it; the admin API is off, "
            "but the platform routes take any well-formed credential (unless a scenario file's auth: "
            "declares the keys)",
            err=True,
        )
    if workers > 1 and worker is None:
        _supervise(settings, host, port, workers)
    _run(settings, host, port, verbose, loop, worker)


def _supervise(settings: Settings, host: str, port: int, workers: int) -> None:
    """Start the workers of `--workers` (this process only watches them); exits with their code."""
    from mockagent.workers import free_port, supervise

    if settings.state is None:
        raise click.UsageError("--workers needs --state redis://…: the processes must share their sessions")
    from mockagent.shared import Agreement, SharedStateError, connect

    async def reachable() -> None:  # one clear error here, rather than one from each worker
        shared = await connect(settings.state or "", settings.name, Agreement(settings.speed, settings.manual_clock))
        await shared.close()

    try:
        asyncio.run(reachable())
        port = port or free_port(host)
    except (SharedStateError, OSError) as err:
        raise click.ClickException(str(err)) from err
    sys.exit(supervise(sys.argv[1:], workers, port))


@main.command()
@click.argument("scenario_paths", nargs=-1, type=click.Path(exists=True, path_type=Path))
@click.option("--host", default="127.0.0.1", show_default=True, help="Address to bind (loopback by default).")
@click.option("--port", default=DEFAULT_PORT, show_default=True, type=click.IntRange(0, 65535), help="0: a free one.")
@click.option("--with-builtin", is_flag=True, help="Answer what is not recorded from the demo agents too.")
@click.option("-v", "--verbose", is_flag=True, help="Log each request: method, path, status, duration, session, agent.")
@loop_option
@replay_options(RecordMode.ALL)
def record(
    scenario_paths: tuple[Path, ...],
    host: str,
    port: int,
    with_builtin: bool,
    verbose: bool,
    loop: str,
    **replay: Any,
) -> None:
    """Record: forward each request to its platform's --upstream, pass the answer back live, and write it
    to a cassette in --cassettes (secrets redacted)."""
    options = replay_settings(replay)
    if options["cassettes"] is None:
        raise click.UsageError("record needs --cassettes DIR")
    if not options["upstreams"]:
        raise click.UsageError("record needs at least one --upstream PLATFORM=URL")
    settings = Settings(scenario_paths=scenario_paths, with_builtin=with_builtin, allowed_hosts=(host,), **options)
    _run(settings, host, port, verbose, loop)


main.add_command(cassette)


def _run(settings: Settings, host: str, port: int, verbose: bool, loop: str, worker: int | None = None) -> None:
    from mockagent.admin import exposure
    from mockagent.loops import LoopUnavailable, loop_factory

    try:
        _, new_loop = loop_factory(loop)
    except LoopUnavailable as err:
        raise click.BadParameter(str(err), param_hint="--loop") from err

    logging.basicConfig(level=logging.INFO if verbose else logging.WARNING, format="%(levelname)s %(message)s")
    # A reload (--watch, POST /__mockagent/reload) is rare and worth a line even without -v.
    logging.getLogger("mockagent.reload").setLevel(logging.INFO)
    if (problem := exposure(host, settings)) is not None:
        raise click.UsageError(problem)
    try:
        scenarios = load_scenarios(settings)  # fail before binding, with the file's own position
        if settings.cassettes is not None and settings.record_mode is not RecordMode.ALL:
            from mockagent.replay.cassette import check_folder

            check_folder(settings.cassettes)  # so do cassettes
        if settings.journal_file is not None:
            _check_writable(settings.journal_file)
    except (MockAgentError, OSError) as err:
        raise click.ClickException(str(err)) from err
    # The server, aiohttp and the platforms are imported only by the commands that serve: `validate`
    # and `--help` would otherwise spend most of their time importing them.
    from mockagent.server import MockServer

    server = MockServer(settings, host, port, scenarios=scenarios, log_requests=verbose, reuse_port=worker is not None)
    with contextlib.suppress(KeyboardInterrupt), asyncio.Runner(loop_factory=new_loop) as runner:
        runner.run(_serve(server, quiet=bool(worker)))
    if not worker:
        click.echo("mockagent stopped.")


def _check_writable(path: Path) -> None:
    """A journal file that cannot be written is refused before the server binds."""
    try:
        path.open("a").close()
    except OSError as err:
        raise MockAgentError(f"cannot write the journal file {path}: {err.strerror or err}") from err


async def _serve(server: MockServer, quiet: bool = False) -> None:
    """Serve until a signal; `quiet`: a worker of --workers but the first, which prints no banner."""
    from mockagent.collector import Collector
    from mockagent.connections import Throttle, log, throttle_accept_errors

    throttle_accept_errors(Throttle(log))
    try:
        await server.start()
    except OSError as err:
        raise click.ClickException(f"cannot listen on {server.host}:{server.port}: {err.strerror or err}") from err
    except MockAgentError as err:  # the state in Redis cannot be used
        raise click.ClickException(str(err)) from err
    collector = Collector(server.engine)
    collector.start()
    stopped = _stop_on_signals()  # before the banner: whoever reads it may signal at once
    if not quiet:
        _banner(server)
    sys.stdout.flush()
    try:
        await stopped.wait()
    finally:
        await collector.stop()
        await server.stop()


def _banner(server: MockServer) -> None:
    from mockagent.loops import running_loop_name
    from mockagent.platforms import platform_classes

    settings = server.settings
    agents = sorted(server.engine.scenarios.agents)
    clock = "manual clock" if settings.manual_clock else f"speed {settings.speed:g}x"
    click.echo(f"mockagent {__version__} listening on {server.url}  ({clock}, {running_loop_name()} loop)")
    classes = platform_classes()
    for key in settings.served():
        click.echo(f"  {classes[key].title:<14} {server.base_url(key)}")
    click.echo(f"  agents: {', '.join(agents) or '(none)'}")
    if settings.watch:
        click.echo(f"  watching: {', '.join(map(str, settings.scenario_paths))} (a change reloads them)")
    if settings.state is not None:
        click.echo(f"  state: Redis at {settings.state}, as server {settings.name!r} (shared with its other processes)")
    if settings.journal_file is not None:
        click.echo(f"  journal: appended to {settings.journal_file}")
    if settings.cassettes is not None:
        upstreams = ", ".join(f"{key.value} → {url}" for key, url in settings.upstreams) or "none"
        click.echo(f"  cassettes: {settings.cassettes} (record mode {settings.record_mode}; upstreams: {upstreams})")
    if not settings.admin_api:
        click.echo("  admin API: off   — Ctrl-C to stop")
    else:
        # With a token, the page asks for it once as ?token= (docs/ui.md); the token itself is never printed.
        click.echo(f"  web page: {server.url}/__mockagent/ui")
        if settings.admin_token is not None:
            click.echo("  admin API: token required (Authorization: Bearer …), health excepted")
        click.echo(f"  health: {server.url}/__mockagent/health   — Ctrl-C to stop")


def _stop_on_signals() -> asyncio.Event:
    """An event set on SIGINT (Ctrl-C) or SIGTERM (what a container runtime or a process manager sends): both
    stop the server the same way, within its grace period. A second signal while stopping is ignored."""
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for signum in (signal.SIGINT, signal.SIGTERM):
        # Without signal handlers in the loop (Windows), Ctrl-C still cancels the wait through the runner.
        with contextlib.suppress(NotImplementedError):
            loop.add_signal_handler(signum, stop.set)
    return stop


@main.command()
@click.argument("scenario_paths", nargs=-1, type=click.Path(exists=True, path_type=Path))
@click.option(
    "--cassettes",
    type=click.Path(exists=True, file_okay=False, path_type=Path),
    help="Check the cassettes in this folder too (as serve --cassettes reads them).",
)
def validate(scenario_paths: tuple[Path, ...], cassettes: Path | None) -> None:
    """Check scenario files (and cassettes); print every problem, each as path:line:col: message."""
    from mockagent.replay.cassette import CassetteError, check_folder

    if not scenario_paths and cassettes is None:
        raise click.UsageError("give scenario files or folders, --cassettes DIR, or both")
    problems, found = 0, []
    if scenario_paths:
        try:
            scenarios = load_scenarios(Settings(scenario_paths=scenario_paths))
            stubs = f" and {counted(len(scenarios.stubs), 'stub')}" if scenarios.stubs else ""
            agents = counted(len(scenarios.agents), "agent")
            found.append(f"{agents}{stubs} in {counted(len(scenarios.files), 'file')}")
        except ScenarioError as err:
            click.echo(str(err), err=True)
            problems += len(err.problems)
        except (MockAgentError, OSError) as err:
            raise click.ClickException(str(err)) from err
    if cassettes is not None:
        try:
            found.append(counted(check_folder(cassettes), "cassette"))
        except CassetteError as err:
            click.echo(str(err), err=True)
            problems += err.count
    if problems:
        where = " and ".join(
            name for name, given in (("scenario files", scenario_paths), ("cassettes", cassettes)) if given
        )
        raise click.ClickException(f"{counted(problems, 'problem')} in the {where}")
    click.echo(f"ok: {', '.join(found)}")


@main.command()
@click.argument("directory", default=".", type=click.Path(file_okay=False, path_type=Path))
@click.option("--force", is_flag=True, help="Overwrite the files that are already there.")
def init(directory: Path, force: bool) -> None:
    """Start a project in DIRECTORY (default: here): a commented scenario file, scenarios/agents.yaml (with
    its JSON Schema beside it, for editors), and a pytest test that serves it, tests/test_agents.py."""
    there = [str(directory / name) for name in STARTER if (directory / name).exists()]
    if there and not force:
        raise click.ClickException(f"not overwriting {', '.join(there)} (--force overwrites)")
    try:
        for name, source in STARTER.items():
            target = directory / name
            target.parent.mkdir(parents=True, exist_ok=True)
            target.write_bytes(source.read_bytes())
            click.echo(f"wrote {target}")
    except OSError as err:
        raise click.ClickException(str(err)) from err
    where = "" if directory == Path() else f" (in {directory})"
    click.echo(f"next{where}:")
    click.echo("  mockagent serve scenarios/ --watch   # serve the agents; each save reloads them")
    click.echo("  pytest                               # run tests/test_agents.py against them")


@main.command()
def schema() -> None:
    """Print the JSON Schema of scenario files (the copy `init` writes beside scenarios/agents.yaml)."""
    from mockagent.scenarios.schema import text

    click.echo(text(), nl=False)


@main.command("platforms")
def list_platforms() -> None:
    """List the impersonated platforms and the real base URL each stands in for."""
    from mockagent.platforms import platform_classes

    for key, cls in platform_classes().items():
        click.echo(f"{key.value:<8} {cls.title:<14} {cls.real_base_url}")
