"""A run's timeline: its events in order, each at a clock time — kept at the cost of its script, not of its
chunks.

A `say` step is cut into chunks (words, characters, a script's own list), one event each: what a stream sends
as one frame. A server keeps thousands of runs for polling, and a long message echoed word by word would be
thousands of event objects per run. So the chunks of one `say` are kept as one `Said`: its text once, where
each chunk ends, and each chunk's moment (8 bytes each) — and the `Timed` text events are made when a view
reads them. Every other event is kept as it is. Reading is by index, as from a list: the index of an event is
what the platforms' offsets and `Last-Event-ID`s count.
"""

from __future__ import annotations

import bisect
import itertools
from array import array
from collections.abc import Iterator, Sequence
from typing import overload

from mockagent.model import TextDelta, Timed


class Said:
    """The chunks of one `say` step: `text` cut at `ends`, each at its moment in `ats`."""

    __slots__ = ("ats", "block", "ends", "first", "text")

    def __init__(self, first: int, text: str, ends: array[int], ats: array[float], block: int) -> None:
        self.first = first  # the timeline index of its first chunk
        self.text = text
        self.ends = ends
        self.ats = ats
        self.block = block

    def __len__(self) -> int:
        return len(self.ats)

    def timed(self, index: int) -> Timed:
        """The event of the timeline's `index` (which this holds)."""
        k = index - self.first
        start = self.ends[k - 1] if k else 0
        return Timed(self.ats[k], TextDelta(self.text[start : self.ends[k]], self.block), index)


class Timeline(Sequence[Timed]):
    __slots__ = ("_items", "_len")

    def __init__(self) -> None:
        self._items: list[Timed | Said] = []
        self._len = 0

    def __len__(self) -> int:
        return self._len

    @overload
    def __getitem__(self, index: int) -> Timed: ...

    @overload
    def __getitem__(self, index: slice) -> list[Timed]: ...

    def __getitem__(self, index: int | slice) -> Timed | list[Timed]:
        if isinstance(index, slice):
            return [self._at(i) for i in range(*index.indices(self._len))]
        if index < 0:
            index += self._len
        if not 0 <= index < self._len:
            raise IndexError("timeline index out of range")
        return self._at(index)

    def _at(self, index: int) -> Timed:
        item = self._items[bisect.bisect_right(self._items, index, key=_first) - 1]
        return item if isinstance(item, Timed) else item.timed(index)

    def __eq__(self, other: object) -> bool:
        """Equal to a timeline or a list of the same events, in the same order."""
        if isinstance(other, Timeline | list | tuple):
            return len(self) == len(other) and all(a == b for a, b in zip(self, other, strict=True))
        return NotImplemented

    __hash__ = None  # type: ignore[assignment]  # mutable, as a list is

    def __iter__(self) -> Iterator[Timed]:
        for item in self._items:
            if isinstance(item, Timed):
                yield item
            else:
                for index in range(item.first, item.first + len(item)):
                    yield item.timed(index)

    @property
    def last_at(self) -> float | None:
        if not self._items:
            return None
        item = self._items[-1]
        return item.at if isinstance(item, Timed) else item.ats[-1]

    def append(self, timed: Timed) -> None:
        self._items.append(timed)
        self._len += 1

    def say(self, chunks: Sequence[str], ats: Sequence[float], block: int) -> None:
        """The chunks of a `say` step, each at its moment (never before the timeline's last)."""
        ends = array("q", itertools.accumulate(map(len, chunks)))
        self._items.append(Said(self._len, "".join(chunks), ends, array("d", ats), block))
        self._len += len(chunks)

    def until(self, at: float) -> list[Timed]:
        """The events at or before clock time `at` (the timeline is in time order)."""
        shown: list[Timed] = []
        for item in self._items:
            if isinstance(item, Timed):
                if item.at > at:
                    break
                shown.append(item)
                continue
            ats = item.ats
            count = bisect.bisect_right(ats, at)
            shown.extend(item.timed(item.first + k) for k in range(count))
            if count < len(ats):
                break
        return shown

    def text(self, at: float) -> str:
        """The text said by clock time `at`: what a blocking reply or a poll shows, made without an event
        per chunk."""
        said: list[str] = []
        for item in self._items:
            if isinstance(item, Timed):
                if item.at > at:
                    break
                if isinstance(item.event, TextDelta):
                    said.append(item.event.text)
                continue
            count = bisect.bisect_right(item.ats, at)
            if count:
                said.append(item.text[: item.ends[count - 1]])
            if count < len(item.ats):
                break
        return "".join(said)

    def truncate(self, length: int) -> None:
        """Keep the first `length` events."""
        if length >= self._len:
            return
        # The item that holds the last event kept (-1: none is kept).
        position = bisect.bisect_right(self._items, length - 1, key=_first) - 1 if length else -1
        if position >= 0:
            item = self._items[position]
            kept = length - item.first if isinstance(item, Said) else 1
            if isinstance(item, Said) and kept < len(item):
                text = item.text[: item.ends[kept - 1]]
                self._items[position] = Said(item.first, text, item.ends[:kept], item.ats[:kept], item.block)
        del self._items[position + 1 :]
        self._len = length

    def cut_after(self, at: float) -> None:
        """Forget every event after clock time `at` (the run ended then)."""
        count = 0
        for item in self._items:
            if isinstance(item, Timed):
                if item.at > at:
                    break
                count += 1
                continue
            seen = bisect.bisect_right(item.ats, at)
            count += seen
            if seen < len(item.ats):
                break
        self.truncate(count)


def _first(item: Timed | Said) -> int:
    """The timeline index of an item's (first) event."""
    return item.seq if isinstance(item, Timed) else item.first
