"""AgentOS (https://agentos-ai.dev): hosted-agent invoke, human-in-the-loop resumes, and run ingest."""

from __future__ import annotations

from mockagent.platforms.agentos.platform import AgentOS

__all__ = ["AgentOS"]
