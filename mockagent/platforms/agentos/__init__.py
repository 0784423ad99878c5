"""AgentOS (https://agentos-ai.dev): hosted-agent invoke, human-in-the-loop resumes, approvals, and ingest."""

from __future__ import annotations

from mockagent.platforms.agentos.routes import AgentOS

__all__ = ["AgentOS"]
