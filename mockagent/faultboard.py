"""The fault board: the rules added over the admin API (`POST /__mockagent/faults`) and the chaos rate —
server-wide state every request reads. In this process by default (`Board`); in Redis when several
processes serve together (`mockagent.shared.board`), so that a fault added through one is met by the next
request whichever process it reaches."""

from __future__ import annotations

import itertools
from collections.abc import Sequence
from typing import Protocol

from mockagent.errors import ApiError, ErrorKind
from mockagent.faults import AddedRule, FaultRule

#: CHOSEN: the most rules the API may add (each is checked on every request).
MAX_ADDED = 1_000
_IDS = itertools.count(1)  # ids never reused, across servers of one process: a stale id names nothing


class FaultBoard(Protocol):
    @property
    def may_fault(self) -> bool:
        """False when the board surely adds nothing (checked without waiting, on every request)."""
        ...

    async def current(self) -> tuple[Sequence[AddedRule], float]:
        """The added rules, in the order they were added, and the chaos rate, as they are now."""
        ...

    async def take(self, added: AddedRule) -> bool:
        """Whether this request gets `added`'s fault, counting a counted rule down (a used-up one goes)."""
        ...

    async def add(self, rule: FaultRule, times: int | None, scope: dict[str, str | None]) -> AddedRule:
        """Add a rule; past `MAX_ADDED` rules, the API's 409."""
        ...

    async def clear(self) -> int:
        """Drop every added rule and put chaos back to the server's setting; how many rules went."""
        ...

    async def set_chaos(self, chaos: float) -> None: ...


def too_many() -> ApiError:
    return ApiError(ErrorKind.CONFLICT, f"at most {MAX_ADDED} rules may be added; DELETE /faults clears them")


class Board:
    """The fault board of one process."""

    def __init__(self, chaos: float = 0.0) -> None:
        self.rules: list[AddedRule] = []
        self.chaos = chaos
        self._configured = chaos  # the server's own setting, which `clear` puts back

    @property
    def may_fault(self) -> bool:
        return bool(self.rules) or bool(self.chaos)

    async def current(self) -> tuple[Sequence[AddedRule], float]:
        return self.rules, self.chaos

    async def take(self, added: AddedRule) -> bool:
        # No await between the check and the count: concurrent requests on the loop are counted exactly.
        times = added.times
        if times is None:
            return True
        if times <= 0:
            return False
        added.times = times - 1
        if added.times == 0 and added in self.rules:
            self.rules.remove(added)
        return True

    async def add(self, rule: FaultRule, times: int | None, scope: dict[str, str | None]) -> AddedRule:
        if len(self.rules) >= MAX_ADDED:
            raise too_many()
        added = AddedRule(next(_IDS), rule, times, **scope)
        self.rules.append(added)
        return added

    async def clear(self) -> int:
        cleared = len(self.rules)
        self.rules.clear()
        self.chaos = self._configured
        return cleared

    async def set_chaos(self, chaos: float) -> None:
        self.chaos = chaos
