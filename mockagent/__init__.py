"""mockagent: a local mock and record-replay server for hosted AI-agent platforms."""

from __future__ import annotations

__version__ = "0.1.0"

__all__ = ["__version__"]
