"""The loaded scenarios: what is served (agents per platform, their replies, raw stubs), a whole new set
from the request body, and the files loaded again."""

from __future__ import annotations

import json
from collections.abc import Iterable
from pathlib import Path
from typing import Any

from aiohttp import hdrs, web

from mockagent.appkeys import ENGINE, PLATFORMS
from mockagent.encoding import json_response
from mockagent.errors import ApiError, ErrorKind, MockAgentError, ScenarioError
from mockagent.model import PlatformKey
from mockagent.platforms.bodies import read_body
from mockagent.reloading import reload, replace
from mockagent.scenarios.loader import LAST_PRIORITY
from mockagent.scenarios.model import Reply, ScenarioSet

#: CHOSEN: the pseudo path a scenario set sent over the admin API is named by in its problems.
ADMIN_PATH = "<admin>"
#: CHOSEN: the largest scenario document PUT /scenarios takes.
MAX_DOCUMENT = 10 * 1024 * 1024
_YAML_TYPES = frozenset({"", "application/yaml", "application/x-yaml", "text/yaml", "text/x-yaml", "text/plain"})


def _priority(priority: int) -> int | None:
    return None if priority == LAST_PRIORITY else priority  # null: the agent's default reply, tried last


def _reply(reply: Reply) -> dict[str, Any]:
    return {
        "key": reply.key,
        "source": str(reply.source) if reply.source is not None else None,
        "priority": _priority(reply.priority),
        "when": reply.when is not None,
        "sequence": len(reply.sequence),
    }


def listing(scenarios: ScenarioSet, platforms: Iterable[PlatformKey]) -> dict[str, Any]:
    return {
        "files": list(scenarios.files),
        "agents": {
            platform.value: [
                {
                    "id": agent.id,
                    "source": str(agent.source),
                    "description": agent.description,
                    "replies": [_reply(reply) for reply in agent.replies],
                }
                for agent in scenarios.agents.values()
                if agent.serves(platform)
            ]
            for platform in platforms
        },
        "stubs": [
            {
                "source": str(stub.source),
                "platform": stub.platform.value if stub.platform is not None else None,
                "method": stub.method,
                "path": stub.path.text,
                "priority": stub.priority,
                "when": stub.when is not None,
                "status": stub.status,
                "shadow": stub.shadow,
            }
            for stub in scenarios.stubs
        ],
    }


async def on_list_scenarios(request: web.Request) -> web.Response:
    return json_response(listing(request.app[ENGINE].scenarios, request.app[PLATFORMS].keys()))


async def on_replace_scenarios(request: web.Request) -> web.Response:
    """Serve the body (YAML, or JSON by its Content-Type) in place of every scenario loaded, checked as a
    file is: 200 with what is served now, or 422 with every problem while the previous set keeps serving."""
    media = request.headers.get(hdrs.CONTENT_TYPE, "").split(";", 1)[0].strip().lower()
    if media != "application/json" and media not in _YAML_TYPES:
        raise ApiError(
            ErrorKind.UNSUPPORTED_MEDIA_TYPE, f"Content-Type {media[:64]!r}: send application/yaml or application/json"
        )
    raw = await read_body(request, MAX_DOCUMENT, "scenario document")
    try:
        text = raw.decode("utf-8")
    except UnicodeDecodeError:
        return _unloadable([f"{ADMIN_PATH}: the document is not UTF-8"])
    if media == "application/json":
        try:
            json.loads(text)  # YAML reads JSON too, but must not take what JSON would refuse
        except json.JSONDecodeError as err:
            return _unloadable([f"{ADMIN_PATH}:{err.lineno}:{err.colno}: not JSON: {err.msg}"])
        except RecursionError:
            pass  # the loader reports how deep it nests, at its position
    try:
        scenarios = await replace(request.app, Path(ADMIN_PATH), text)
    except ScenarioError as err:
        return _unloadable([str(p) for p in err.problems])
    return json_response({"replaced": True, **listing(scenarios, request.app[PLATFORMS].keys())})


def _unloadable(problems: list[str]) -> web.Response:
    return json_response(
        {"replaced": False, "error": "\n".join(problems), "errors": problems},
        status=422,
    )


async def on_reload(request: web.Request) -> web.Response:
    """Load the scenario files again (`reloading.reload`): 200 with the agents now served, or 422 with every
    problem while the previous scenarios keep serving."""
    try:
        scenarios = await reload(request.app)
    except (MockAgentError, OSError) as err:
        problems = [str(p) for p in err.problems] if isinstance(err, ScenarioError) else [str(err)]
        return json_response({"reloaded": False, "error": str(err), "errors": problems}, status=422)
    return json_response({"reloaded": True, "agents": sorted(scenarios.agents)})
