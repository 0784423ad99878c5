"""The cassettes of one folder: opened by name on first use, indexed for matching, added to and saved.

A request's cassette is named after its session (`X-Mockagent-Session`, or the test's node id through the
pytest fixture), or else after its platform (`beeos.yaml` …). Names are made file-system safe.
"""

from __future__ import annotations

import asyncio
import hashlib
import re
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

    def entry(self, name: str) -> Entry:
        found = self._open.get(name)
        if found is None:
            path = self.folder / file_name(name)
            existed = path.exists()
            cassette = Cassette.load(path) if existed and self.mode is not RecordMode.ALL else Cassette(path)
            found = self._open[name] = Entry(cassette, existed)
            for interaction in cassette.interactions:
                self._index(found, interaction)
        return found

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
        """Keep a recorded interaction and write the cassette at once (atomically, off the event loop)."""
        entry = self.entry(name)
        entry.cassette.add(interaction)
        self._index(entry, interaction)
        async with entry.writing:
            await asyncio.to_thread(entry.cassette.save)

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
