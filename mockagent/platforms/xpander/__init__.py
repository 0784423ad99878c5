"""xpander.ai — `https://api.xpander.ai`, impersonated."""

from mockagent.platforms.xpander.api import Xpander

__all__ = ["Xpander"]
