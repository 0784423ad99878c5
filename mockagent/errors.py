"""The exception root of mockagent: every error we raise on purpose is a `MockAgentError`."""

from __future__ import annotations

from dataclasses import dataclass


class MockAgentError(Exception):
    """Base of every error mockagent raises on purpose."""


@dataclass(frozen=True)
class SourcePosition:
    path: str
    line: int  # 1-based
    column: int  # 1-based

    def __str__(self) -> str:
        return f"{self.path}:{self.line}:{self.column}"


class ScenarioError(MockAgentError):
    """A scenario file is wrong: the message starts with ``path:line:col:``."""

    def __init__(self, position: SourcePosition, message: str) -> None:
        super().__init__(f"{position}: {message}")
        self.position = position
        self.reason = message


class RunStateError(MockAgentError):
    """An action does not fit the run's state (deciding twice, continuing a closed task …)."""
