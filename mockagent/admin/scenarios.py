"""The loaded scenarios: load the files again."""

from __future__ import annotations

from aiohttp import web

from mockagent.encoding import json_response
from mockagent.errors import MockAgentError, ScenarioError
from mockagent.reloading import reload


async def on_reload(request: web.Request) -> web.Response:
    """Load the scenario files again (`reloading.reload`): 200 with the agents now served, or 422 with every
    problem while the previous scenarios keep serving."""
    try:
        scenarios = await reload(request.app)
    except (MockAgentError, OSError) as err:
        problems = [str(p) for p in err.problems] if isinstance(err, ScenarioError) else [str(err)]
        return json_response({"reloaded": False, "error": str(err), "errors": problems}, status=422)
    return json_response({"reloaded": True, "agents": sorted(scenarios.agents)})
