"""A bounded store for what clients may come back for (runs, tasks, approvals): the oldest entries are
forgotten past a limit, so a long benchmark or demo cannot grow the process without bound."""

from __future__ import annotations

from collections import OrderedDict
from collections.abc import Callable
from typing import Any, TypeVar

K = TypeVar("K")
V = TypeVar("V")

#: CHOSEN: how many runs (and conversations, tasks, approvals) each store keeps. A client polling a run
#: older than the last 10,000 gets the platform's 404, as it would for an expired run on the real API.
STORE_LIMIT = 10_000


class Bounded(OrderedDict[K, V]):
    """An insertion-ordered dict that drops its oldest entry once it holds more than `limit`."""

    def __init__(self, limit: int = STORE_LIMIT, on_evict: Callable[[V], None] | None = None) -> None:
        super().__init__()
        self.limit = limit
        self._on_evict = on_evict

    def __reduce__(self) -> tuple[Any, ...]:
        # As data (another process's copy, mockagent.shared): the limit and the items, not the callback, which
        # is this process's (the copy it is merged into keeps its own).
        return Bounded, (self.limit,), None, None, iter(self.items())

    def __setitem__(self, key: K, value: V) -> None:
        super().__setitem__(key, value)
        if len(self) > self.limit:
            _, evicted = self.popitem(last=False)
            if self._on_evict is not None:
                self._on_evict(evicted)
