"""xpander.ai (https://api.xpander.ai): sync, async and streamed invocations, tasks per thread, HITL."""

from mockagent.platforms.xpander.routes import Xpander

__all__ = ["Xpander"]
