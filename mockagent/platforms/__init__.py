"""The impersonated platforms, one package each, listed in one place."""

from __future__ import annotations

from collections.abc import Iterable

from mockagent.model import PlatformKey
from mockagent.platforms.base import Platform
from mockagent.scenarios.stubs import ServedRoute


def platform_classes() -> dict[PlatformKey, type[Platform]]:
    """Every platform package, by key. Imported here, lazily, so `mockagent.platforms` stays cheap."""
    from mockagent.platforms.agentos import AgentOS
    from mockagent.platforms.aster import Aster
    from mockagent.platforms.beeos import BeeOS
    from mockagent.platforms.xpander import Xpander
    from mockagent.platforms.zeus import Zeus

    return registry([BeeOS, AgentOS, Xpander, Zeus, Aster])


def registry(classes: Iterable[type[Platform]]) -> dict[PlatformKey, type[Platform]]:
    """The classes by key; two claiming one key is an error naming both."""
    found: dict[PlatformKey, type[Platform]] = {}
    for cls in classes:
        if (twin := found.get(cls.key)) is not None:
            raise ValueError(f"platform key {cls.key.value!r} is claimed by both {twin.__name__} and {cls.__name__}")
        found[cls.key] = cls
    return found


def served_routes(keys: Iterable[PlatformKey]) -> list[ServedRoute]:
    """The routes of these platforms, for the check of raw stubs before anything serves (a stub a modelled
    route would answer must say `shadow: true`). A platform's routes are a declaration that reads nothing
    of the engine, so the platforms are made without one."""
    classes = platform_classes()
    found: list[ServedRoute] = []
    for key in keys:
        platform = object.__new__(classes[key])
        found.extend(ServedRoute(key, route.method, route.path, route.serves) for route in platform.routes())
    return found


__all__ = ["Platform", "PlatformKey", "platform_classes", "registry", "served_routes"]
