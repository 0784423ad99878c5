"""The cassettes of one folder: opened by name on first use, indexed for matching, added to and saved.

A request's cassette is named after its session (`X-Mockagent-Session`, or the test's node id through the
pytest fixture), or else after its platform (`beeos.yaml` …). Names are made file-system safe.
"""

from __future__ import annotations

import asyncio
import fcntl
import hashlib
import os
import re
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

from mockagent.replay.cassette import Cassette, Interaction
from mockagent.replay.matching import Shape, differences, shape
from mockagent.replay.modes import RecordMode


@dataclass
class Entry:
    """An open cassette, its matching index, and whether it existed before this server opened it."""

    cassette: Cassette
    existed: bool
    index: dict[str, list[int]] = field(default_factory=dict)
    shapes: list[Shape] = field(default_factory=list)
    writing: asyncio.Lock = field(default_factory=asyncio.Lock)
    # The file as this process last read or wrote it: another process's write since shows as a change.
    seen: tuple[int, int, int] | None = None


_UNSAFE = re.compile(r"[^A-Za-z0-9._-]+")


def file_name(name: str) -> str:
    """A cassette file name for a session or test name: safe characters kept, the rest folded, and a
    short hash when anything was folded (so two names never share a file)."""
    safe = _UNSAFE.sub("_", name).strip("._") or "cassette"
    if safe != name:
        safe = f"{safe[:100]}-{hashlib.sha256(name.encode()).hexdigest()[:8]}"
    return f"{safe}.yaml"


class Recordings:
    """The cassettes of `folder`, opened as requests need them."""

    def __init__(self, folder: Path, mode: RecordMode, redact_text: Callable[[str], str]) -> None:
        self.folder = folder
        self.mode = mode
        self.redact_text = redact_text
        self._open: dict[str, Entry] = {}
        self._since = time.time_ns()  # a cassette written after this was written by another process

    def entry(self, name: str) -> Entry:
        found = self._open.get(name)
        if found is None:
            path = self.folder / file_name(name)
            existed = path.exists()
            cassette = Cassette.load(path) if existed and self.mode is not RecordMode.ALL else Cassette(path)
            # Recording all, a file from before this server is replaced; one another process wrote since it
            # started (a replica recording into the same folder) is added to (see `add`).
            seen = _stat(path)
            if seen is not None and self.mode is RecordMode.ALL and seen[1] >= self._since:
                seen = None
            found = self._open[name] = Entry(cassette, existed, seen=seen)
            for interaction in cassette.interactions:
                self._index(found, interaction)
        return found

    def _reindex(self, entry: Entry) -> None:
        entry.index.clear()
        entry.shapes.clear()
        for interaction in entry.cassette.interactions:
            self._index(entry, interaction)

    def shape_of(self, entry: Entry, interaction: Interaction) -> Shape:
        return shape(
            interaction.platform,
            interaction.method,
            interaction.platform_path,
            interaction.body,
            redact=self.redact_text,
            matchers=entry.cassette.matchers,
        )

    def _index(self, entry: Entry, interaction: Interaction) -> None:
        recorded = self.shape_of(entry, interaction)
        entry.shapes.append(recorded)
        entry.index.setdefault(recorded.key, []).append(len(entry.shapes) - 1)

    def replays(self, name: str) -> bool:
        """Whether the cassette `name` answers from what it holds (rather than recording)."""
        if self.mode is RecordMode.ALL:
            return False
        return not (self.mode is RecordMode.ONCE and not self.entry(name).existed)

    def records(self, name: str) -> bool:
        if self.mode is RecordMode.NONE:
            return False
        return self.mode is not RecordMode.ONCE or not self.entry(name).existed

    async def add(self, name: str, interaction: Interaction) -> None:
        """Keep a recorded interaction and write the cassette at once (atomically, off the event loop).

        CHOSEN: processes recording into one folder (`serve --workers`, replicas on a shared disk) share each
        cassette file. Under an exclusive lock on the cassettes' folder (flock), what another process wrote since
        this one last read or wrote the file is read back first, and the interaction is added after it: no
        process clobbers another's recordings, and each file stays one valid cassette. (Recording all, a
        file last written before this server started is an old cassette, replaced as by one process.)"""
        entry = self.entry(name)
        async with entry.writing:
            merged, entry.seen = await asyncio.to_thread(_append, entry.cassette, interaction, entry.seen)
        if merged is None:
            entry.cassette.add(interaction)
            self._index(entry, interaction)
        else:
            entry.cassette.interactions = merged
            self._reindex(entry)

    def nearest(self, name: str, live: Shape, count: int = 3) -> list[tuple[int, list[str]]]:
        """The recorded requests most like `live` (fewest differences first), each with what differs."""
        entry = self.entry(name)
        scored = [(index, differences(recorded, live)) for index, recorded in enumerate(entry.shapes)]
        # Another platform or method is farther than any difference of path or body.
        scored.sort(key=lambda pair: (any(d.startswith(("platform", "method")) for d in pair[1]), len(pair[1])))
        return scored[:count]


def miss_message(name: str, live: Shape, nearest: list[tuple[int, list[str]]], entry: Entry) -> str:
    """Why a request matched nothing, naming the nearest recorded requests and what differed."""
    head = f"no recorded interaction in cassette {entry.cassette.path.name!r} matches {live.method} {live.path}"
    if not nearest:
        return f"{head} (the cassette is empty)"
    parts = []
    for index, found in nearest:
        recorded = entry.shapes[index]
        what = "; ".join(found) if found else "the same request, but its recorded answers are used up"
        parts.append(f"#{index + 1} {recorded.method} {recorded.path}: {what}")
    return f"{head}; nearest: " + " | ".join(parts)


def _stat(path: Path) -> tuple[int, int, int] | None:
    """What tells one write of a cassette from the next: each is a new file renamed into place (a new inode),
    even when two come within one tick of the file system's clock with the same size."""
    try:
        found = path.stat()
    except FileNotFoundError:
        return None
    return found.st_ino, found.st_mtime_ns, found.st_size


def _append(
    cassette: Cassette, interaction: Interaction, seen: tuple[int, int, int] | None
) -> tuple[list[Interaction] | None, tuple[int, int, int] | None]:
    """Write `cassette` with `interaction` added, under the file's lock, after what another process wrote
    since `seen`; the interactions read back from the file (None when it had not changed), and how the
    file is now."""
    folder = cassette.path.parent
    folder.mkdir(parents=True, exist_ok=True)
    # The folder is the lock: no lock file is left beside the cassettes.
    held = os.open(folder, os.O_RDONLY)
    try:
        fcntl.flock(held, fcntl.LOCK_EX)  # released as the descriptor closes
        merged = None
        if _stat(cassette.path) not in (seen, None):
            merged = [*Cassette.load(cassette.path).interactions, interaction]
        written = Cassette(cassette.path, merged or [*cassette.interactions, interaction], cassette.metadata)
        written.save()
        return merged, _stat(cassette.path)
    finally:
        os.close(held)
