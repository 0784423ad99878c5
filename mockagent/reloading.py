"""Reloading the scenario files while serving: on demand (``POST /__mockagent/reload``) and, with
``serve --watch``, whenever one of them changes. Both go through `reload`, so both are all or nothing: the
new scenarios are swapped in whole, or — if any file has a problem — every problem is logged and the
previous scenarios keep serving. A run holds the reply it started with, so runs in flight and paused runs
finish with the script they began; only new turns see the new files.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import weakref
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING

from aiohttp import web

from mockagent.appkeys import ENGINE, SETTINGS
from mockagent.errors import MockAgentError, counted
from mockagent.scenarios.loader import SCENARIO_SUFFIXES, load_text
from mockagent.scenarios.model import ScenarioSet
from mockagent.settings import load_scenarios

if TYPE_CHECKING:
    from watchfiles import Change

#: The outcome of every reload: INFO when it worked, WARNING (one line per problem) when it did not.
log = logging.getLogger("mockagent.reload")
#: CHOSEN: once a change is seen, how long (ms) the watcher waits for the rest of its burst before it
#: reloads — an editor's save is several events (a temporary file written, renamed over the old one) a few
#: milliseconds apart, and one save should be one reload, of the finished file.
SETTLE_MS = 100
#: CHOSEN: the longest (ms) a steady stream of changes (a checkout, a generator) postpones the reload.
MAX_SETTLE_MS = 1600

# One reload at a time per server, so that the last one asked for is the last one swapped in.
_RELOADS: weakref.WeakKeyDictionary[web.Application, asyncio.Lock] = weakref.WeakKeyDictionary()
_WATCHERS = web.AppKey("watchers", tuple[list[asyncio.Task[None]], asyncio.Event])


async def reload(app: web.Application) -> ScenarioSet:
    """Load the scenario files again, in a worker thread (a big file must not hold up every client), and
    swap them in once loaded. On a problem the previous scenarios stay: every problem is logged, then
    raised (`MockAgentError` or `OSError`)."""
    async with _RELOADS.setdefault(app, asyncio.Lock()):
        try:
            scenarios = await asyncio.to_thread(load_scenarios, app[SETTINGS])
        except (MockAgentError, OSError) as err:
            lines = str(err).splitlines() or [repr(err)]
            for line in lines:
                log.warning("%s", line)
            log.warning("reload failed (%s): keeping the previous scenarios", counted(len(lines), "problem"))
            raise
        app[ENGINE].scenarios = scenarios
    log.info("reloaded: %s from %s", counted(len(scenarios.agents), "agent"), counted(len(scenarios.files), "file"))
    return scenarios


async def replace(app: web.Application, path: Path, text: str) -> ScenarioSet:
    """Serve the scenario document `text` in place of every scenario loaded (`PUT /__mockagent/scenarios`),
    checked as a file is, all or nothing; its problems are named at `path` (a pseudo path). Taken in turn
    with reloads: the last one asked for is the last one swapped in."""
    from mockagent.platforms import served_routes  # as load_scenarios: the stubs are checked against them

    served = app[SETTINGS].served()
    async with _RELOADS.setdefault(app, asyncio.Lock()):
        scenarios = await asyncio.to_thread(load_text, path, text, lambda: served_routes(served))
        app[ENGINE].scenarios = scenarios
    log.info("replaced over the admin API: %s", counted(len(scenarios.agents), "agent"))
    return scenarios


# ── --watch ──────────────────────────────────────────────────────────────────────────────────────────


def watch(app: web.Application) -> None:
    """Have `app` reload whenever one of its scenario files changes, from its startup to its shutdown."""
    app.on_startup.append(_start_watching)
    app.on_shutdown.append(_stop_watching)


@dataclass(frozen=True)
class Targets:
    """What to watch for the scenario paths given (the built-in scenarios never change), and which changes
    matter."""

    files: frozenset[Path]  # each file given, as given and with its links resolved (absolute)
    folders: tuple[Path, ...]  # each folder given (absolute): every scenario file below it is loaded

    @classmethod
    def of(cls, paths: Iterable[Path]) -> Targets:
        given = [path.absolute() for path in paths]
        folders = tuple(path for path in given if path.is_dir())
        files = frozenset(form for path in given if path not in folders for form in (path, path.resolve()))
        return cls(files, folders)

    @property
    def parents(self) -> tuple[Path, ...]:
        """The folders holding the files given. A file is watched through its folder, not by itself: an
        editor that saves by renaming a new file over the old one would end a watch on the file itself."""
        found = {path.parent for path in self.files}
        return tuple(sorted(p for p in found if not any(p.is_relative_to(folder) for folder in self.folders)))

    def matter(self, change: Change, name: str) -> bool:
        """Whether a change can change what is loaded: a file given, or below a folder given a scenario
        file — or anything that is no file (a folder moved away takes its scenario files with it)."""
        path = Path(name)
        if path in self.files:
            return True
        return any(path.is_relative_to(folder) for folder in self.folders) and (
            path.suffix in SCENARIO_SUFFIXES or not path.is_file()
        )


async def _start_watching(app: web.Application) -> None:
    targets = Targets.of(app[SETTINGS].scenario_paths)
    stop = asyncio.Event()
    # watchfiles takes one `recursive` for all its paths: folders given are watched with everything below
    # them, the folders of files given by themselves (a project's root must not mean its whole tree).
    tasks = [
        asyncio.create_task(_follow(app, roots, recursive, targets, stop), name="mockagent watch")
        for roots, recursive in ((targets.folders, True), (targets.parents, False))
        if roots
    ]
    app[_WATCHERS] = (tasks, stop)
    # Each task's first step places its watches (watchfiles does so before its first wait), and those steps
    # come before this one resumes: any change made once the server has started is seen.
    await asyncio.sleep(0)


async def _stop_watching(app: web.Application) -> None:
    """Stop at once, whatever the watchers are doing: a reload under way is dropped (the server is going),
    and watchfiles' threads see the stop within `SETTLE_MS`."""
    tasks, stop = app[_WATCHERS]
    stop.set()
    for task in tasks:
        task.cancel()
    if tasks:
        await asyncio.wait(tasks)  # not `gather`: the cancellations are ours, not the caller's


async def _follow(
    app: web.Application, roots: Sequence[Path], recursive: bool, targets: Targets, stop: asyncio.Event
) -> None:
    from watchfiles import DefaultFilter, awatch  # only a server that watches needs it

    ignored = DefaultFilter()  # editors' swap and backup files, version-control folders

    def matter(change: Change, name: str) -> bool:
        return ignored(change, name) and targets.matter(change, name)

    try:
        async for _ in awatch(
            *roots,
            watch_filter=matter,
            debounce=MAX_SETTLE_MS,
            step=SETTLE_MS,
            stop_event=stop,
            recursive=recursive,
        ):
            # A problem is logged by reload, and the previous scenarios serve on.
            with contextlib.suppress(MockAgentError, OSError):
                await reload(app)
    except Exception as err:  # a folder that cannot be watched (removed, unreadable, too many watches)
        log.error("no longer watching %s: %s", ", ".join(map(str, roots)), err)
