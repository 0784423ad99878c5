"""The routes the fuzz covers — every one the router serves — and how the budget is spread over them."""

from __future__ import annotations

import os
import re
from dataclasses import dataclass
from pathlib import Path

from mockagent.app import build_app
from mockagent.appkeys import PLATFORMS
from mockagent.platforms.agentos.control import SERVED
from mockagent.settings import Settings

SCENARIOS = Path(__file__).resolve().parent.parent / "scenarios" / "fuzz.yaml"
ADMIN = "admin"  # the owner of /__mockagent/… (answered in mockagent's own envelope)

DEFAULT_BUDGET = 2_500
BUDGET = int(os.environ.get("MOCKAGENT_FUZZ_EXAMPLES", DEFAULT_BUDGET))
# Added to every test's seed: another value is another run (to look for more), the same value the same run.
SEED = int(os.environ.get("MOCKAGENT_FUZZ_SEED", 0))
# Shares of the budget: the framing probes, the table of fields and types; the rest for the routes.
FRAMING_SHARE = 0.15
FIELD_SHARE = 0.35


@dataclass(frozen=True)
class Target:
    """One route as the router serves it."""

    method: str
    path: str  # with its {params}, e.g. /beeos/api/v1/agents/{agentId}/invoke
    owner: str  # the platform's key, or ADMIN
    weight: int  # its share of the budget

    @property
    def id(self) -> str:
        return f"{self.method} {self.path}"

    @property
    def params(self) -> list[str]:
        return [name.split(":", 1)[0] for name in re.findall(r"\{([^}]+)\}", self.path)]


def _targets() -> list[Target]:
    app = build_app(Settings(scenario_paths=(SCENARIOS,), manual_clock=True))
    # The SDK calls mockagent only names (each answers 404 not_implemented, whatever it is sent) get a
    # small share each; the modelled routes the rest.
    unmodelled = {
        (route.method, platform.prefix + route.path)
        for platform in app[PLATFORMS].values()
        for route in platform.routes()
        if route.endpoint == "call_unmodelled"
    }
    found = []
    for route in app.router.routes():
        resource = route.resource
        assert resource is not None
        path = resource.canonical
        owner = ADMIN if path.startswith("/__mockagent") else path.split("/")[1]
        weight = 1 if (route.method, path) in unmodelled else 4
        if path.endswith("/rpc/{method}"):  # one route, a method per RPC served
            weight *= len(SERVED) // 2
        found.append(Target(route.method, path, owner, weight))
    return found


TARGETS = _targets()
ROUTE_BUDGET = BUDGET * (1 - FRAMING_SHARE - FIELD_SHARE)
FRAMING_BUDGET = max(10, round(BUDGET * FRAMING_SHARE))
FIELD_BUDGET = max(10, round(BUDGET * FIELD_SHARE))
_UNIT = ROUTE_BUDGET / sum(target.weight for target in TARGETS)


def examples_for(target: Target) -> int:
    return max(2, round(target.weight * _UNIT))
