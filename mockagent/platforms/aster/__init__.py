"""Aster Agents (https://www.asteragents.com/api): an AI SDK v5 chat stream (or 202 + poll) per thread."""

from mockagent.platforms.aster.routes import Aster

__all__ = ["Aster"]
