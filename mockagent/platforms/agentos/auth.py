"""AgentOS keys: workspace keys (aos_ws_…) reach everything, agent keys (aos_agent_…) one agent."""

from __future__ import annotations

from dataclasses import dataclass

from aiohttp import web

from mockagent.context import bearer
from mockagent.errors import ApiError, ErrorKind
from mockagent.platforms.base import Platform

WORKSPACE_PREFIX = "aos_ws_"
AGENT_PREFIX = "aos_agent_"


@dataclass(frozen=True)
class Key:
    token: str
    workspace: bool
    agent: str | None = None  # the agent an agent key belongs to, when a scenario declared it

    def require_workspace(self, what: str) -> None:
        if not self.workspace:
            raise ApiError(ErrorKind.FORBIDDEN, f"{what} needs a workspace key (aos_ws_…), not an agent key.")

    def require_agent(self, agent_id: str) -> None:
        """An agent key scoped to another agent is refused; without a declared scope it cannot be told."""
        if self.agent is not None and self.agent != agent_id:
            raise ApiError(ErrorKind.FORBIDDEN, f"This key is scoped to a different agent than {agent_id!r}.")


def authenticate(platform: Platform, request: web.Request) -> Key:
    token = bearer(request.headers)
    if token is None:
        raise ApiError(ErrorKind.MISSING_CREDENTIAL, "Missing API key: send Authorization: Bearer <key>.")
    declared = platform.credentials()
    if declared is not None:
        credential = declared.get(token)
        if credential is None:
            raise ApiError(ErrorKind.INVALID_CREDENTIAL, "Invalid or revoked key.")
        is_agent_key = credential.agent is not None or token.startswith(AGENT_PREFIX)
        return Key(token, workspace=not is_agent_key, agent=credential.agent)
    for prefix in (WORKSPACE_PREFIX, AGENT_PREFIX):
        if token.startswith(prefix) and len(token) > len(prefix):
            return Key(token, workspace=prefix == WORKSPACE_PREFIX)
    raise ApiError(ErrorKind.INVALID_CREDENTIAL, "Invalid or revoked key.")
