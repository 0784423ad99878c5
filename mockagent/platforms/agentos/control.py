"""The AgentOS control plane (`POST /api/v1/rpc/<method>`, `aos.<namespace>.<call>` in pyagentos-sdk).

mockagent serves the invocation surface — runs, conversations and approvals, read from the session's own
runs — and knows every other method of pyagentos-sdk 0.4.0 by name, to answer it as not modelled. A name
in neither set is an unknown method (404 NOT_FOUND, as AgentOS answers).
"""

from __future__ import annotations

from collections.abc import Mapping

from mockagent.errors import ApiError
from mockagent.platforms.unmodelled import not_modelled

#: The methods served (routes.py `on_call_rpc`).
SERVED = frozenset(
    {
        "approvals_decide",
        "approvals_list",
        "conversations_delete",
        "conversations_get",
        "conversations_list",
        "runs_cancel",
        "runs_get",
        "runs_get_events",
        "runs_invoke",
        "runs_list",
    }
)

#: The rest of pyagentos-sdk 0.4.0's control plane, by RPC name: the SDK call that makes it.
NOT_MODELLED: Mapping[str, str] = {
    "agents_create": "aos.agents.create",
    "agents_delete": "aos.agents.delete",
    "agents_get": "aos.agents.get",
    "agents_list": "aos.agents.list",
    "agents_set_status": "aos.agents.set_status",
    "agents_update": "aos.agents.update",
    "alerts_create": "aos.alerts.create",
    "alerts_delete": "aos.alerts.delete",
    "alerts_list": "aos.alerts.list",
    "alerts_update": "aos.alerts.update",
    "api_keys_create": "aos.api_keys.create",
    "api_keys_list": "aos.api_keys.list",
    "api_keys_revoke": "aos.api_keys.revoke",
    "evals_create_case": "aos.evals.create_case",
    "evals_delete_case": "aos.evals.delete_case",
    "evals_get_run": "aos.evals.get_run",
    "evals_list_cases": "aos.evals.list_cases",
    "evals_run_case": "aos.evals.run_case",
    "fleet_health": "aos.fleet.health",
    "folders_create": "aos.folders.create",
    "folders_delete": "aos.folders.delete",
    "folders_list": "aos.folders.list",
    "integrations_list": "aos.integrations.list",
    "marketplace_install_template": "aos.marketplace.install",
    "marketplace_list_templates": "aos.marketplace.list_templates",
    "members_invite": "aos.members.invite",
    "members_list": "aos.members.list",
    "members_remove": "aos.members.remove",
    "notifications_list": "aos.notifications.list",
    "notifications_mark_read": "aos.notifications.mark_read",
    "reports_delete": "aos.reports.delete",
    "reports_generate": "aos.reports.generate",
    "reports_get": "aos.reports.get",
    "reports_list": "aos.reports.list",
    "resources_create": "aos.resources.create",
    "resources_delete": "aos.resources.delete",
    "resources_list": "aos.resources.list",
    "schedules_delete": "aos.schedules.delete",
    "schedules_get": "aos.schedules.get",
    "schedules_upsert": "aos.schedules.upsert",
    "tools_create_workspace": "aos.tools.create",
    "tools_delete_workspace": "aos.tools.delete",
    "tools_list_builtin": "aos.tools.list_builtin",
    "tools_list_composio": "aos.tools.list_composio",
    "tools_list_workspace": "aos.tools.list_workspace",
    "workspaces_list": "aos.workspaces.list",
}

#: The other requests pyagentos-sdk 0.4.0 makes that mockagent does not model, by path.
NOT_MODELLED_PATHS: Mapping[str, str] = {
    "/api/ingest/v1/human-input/request": "run.request_human_input",
}

NOT_IMPLEMENTED = "NOT_IMPLEMENTED"


def rpc_not_modelled(method: str) -> ApiError:
    return not_modelled(f"{NOT_MODELLED[method]}() (POST /api/v1/rpc/{method})", NOT_IMPLEMENTED)


def path_not_modelled(path: str) -> ApiError:
    return not_modelled(f"{NOT_MODELLED_PATHS[path]}() (POST {path})", NOT_IMPLEMENTED)
