"""BeeOS: the platform module, split by concern (request models, task views, the handlers)."""

from mockagent.platforms.beeos.platform import BeeOS

__all__ = ["BeeOS"]
