"""BeeOS: the platform package (routes, request models, the wire rendering, tasks, files, records)."""

from mockagent.platforms.beeos.routes import BeeOS

__all__ = ["BeeOS"]
