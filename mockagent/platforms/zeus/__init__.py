"""Zeus (https://zeus-api.agentspro.cn): an SSE invoke and an SSE resume, FastAPI-style errors."""

from mockagent.platforms.zeus.routes import Zeus

__all__ = ["Zeus"]
