"""The impersonated platforms, one module each, listed in one place."""

from __future__ import annotations

from mockagent.model import PlatformKey
from mockagent.platforms.base import Platform


def platform_classes() -> dict[PlatformKey, type[Platform]]:
    """Every platform module, by key. Imported here, lazily, so `mockagent.platforms` stays cheap."""
    from mockagent.platforms.agentos import AgentOS
    from mockagent.platforms.aster import Aster
    from mockagent.platforms.beeos import BeeOS
    from mockagent.platforms.xpander import Xpander
    from mockagent.platforms.zeus import Zeus

    classes: list[type[Platform]] = [BeeOS, AgentOS, Xpander, Zeus, Aster]
    return {cls.key: cls for cls in classes}


__all__ = ["Platform", "PlatformKey", "platform_classes"]
