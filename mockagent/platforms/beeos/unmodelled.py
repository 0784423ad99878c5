"""The calls of beeos-sdk 0.8.0 that mockagent does not model: agents, conversations, webhooks, instances
(computer, mobile, runtime) and deploy catalogues. Each is a declared route that answers 404
`not_implemented` saying so (docs/platforms/beeos.md), so that a client of the SDK never meets a bare 404.
"""

from __future__ import annotations

from typing import NamedTuple

from mockagent.errors import ApiError
from mockagent.platforms.unmodelled import not_modelled


class Endpoint(NamedTuple):
    method: str
    path: str  # as the SDK's OpenAPI document spells it
    call: str  # the SDK method that makes it


UNMODELLED = (
    Endpoint("DELETE", "/api/v1/agents/{agentId}", "AgentsApi.delete_agent"),
    Endpoint("GET", "/api/v1/agents/{agentId}", "AgentsApi.get_agent"),
    Endpoint("GET", "/api/v1/agents", "AgentsApi.list_agents"),
    Endpoint("PATCH", "/api/v1/agents/{agentId}", "AgentsApi.update_agent"),
    Endpoint("POST", "/api/v1/instances/{id}/computer/click", "ComputerApi.computer_click"),
    Endpoint("POST", "/api/v1/instances/{id}/computer/key", "ComputerApi.computer_key"),
    Endpoint("POST", "/api/v1/instances/{id}/computer/move", "ComputerApi.computer_move"),
    Endpoint("POST", "/api/v1/instances/{id}/computer/screenshot", "ComputerApi.computer_screenshot"),
    Endpoint("POST", "/api/v1/instances/{id}/computer/scroll", "ComputerApi.computer_scroll"),
    Endpoint("POST", "/api/v1/instances/{id}/computer/type", "ComputerApi.computer_type"),
    Endpoint("GET", "/api/v1/instances/{id}/computer", "ComputerApi.get_computer_info"),
    Endpoint(
        "POST", "/api/v1/agents/{agentId}/conversations/{conversationId}/cancel", "ConversationsApi.cancel_conversation"
    ),
    Endpoint(
        "POST", "/api/v1/agents/{agentId}/conversations/{conversationId}/clear", "ConversationsApi.clear_conversation"
    ),
    Endpoint("POST", "/api/v1/agents/{agentId}/conversations", "ConversationsApi.create_conversation"),
    Endpoint("DELETE", "/api/v1/agents/{agentId}/conversations/{convId}", "ConversationsApi.delete_conversation"),
    Endpoint("GET", "/api/v1/agents/{agentId}/conversations/{convId}", "ConversationsApi.get_conversation"),
    Endpoint(
        "GET", "/api/v1/agents/{agentId}/conversations/{convId}/messages", "ConversationsApi.list_conversation_messages"
    ),
    Endpoint("GET", "/api/v1/agents/{agentId}/conversations", "ConversationsApi.list_conversations"),
    Endpoint("PATCH", "/api/v1/agents/{agentId}/conversations/{convId}", "ConversationsApi.rename_conversation"),
    Endpoint(
        "POST", "/api/v1/agents/{agentId}/conversations/{convId}/messages", "ConversationsApi.send_conversation_message"
    ),
    Endpoint(
        "PUT",
        "/api/v1/agents/{agentId}/conversations/{conversationId}/model",
        "ConversationsApi.set_conversation_model",
    ),
    Endpoint(
        "GET", "/api/v1/agents/{agentId}/conversations/{convId}/events", "ConversationsApi.stream_conversation_events"
    ),
    Endpoint(
        "POST", "/api/v1/instances/{instanceId}/operations/{operationId}/cancel", "DefaultApi.cancel_runtime_operation"
    ),
    Endpoint("POST", "/api/v1/instances/{instanceId}/canvas-sessions", "DefaultApi.create_canvas_session"),
    Endpoint("POST", "/api/v1/instances/{instanceId}/terminal-sessions", "DefaultApi.create_terminal_session"),
    Endpoint("GET", "/api/v1/instances/{instanceId}/runtime-capabilities", "DefaultApi.get_runtime_capabilities"),
    Endpoint("GET", "/api/v1/instances/{instanceId}/operations/{operationId}", "DefaultApi.get_runtime_operation"),
    Endpoint("POST", "/api/v1/instances/{instanceId}/methods", "DefaultApi.invoke_runtime_method"),
    Endpoint("GET", "/api/v1/instances/{instanceId}/operations", "DefaultApi.list_runtime_operations"),
    Endpoint(
        "GET",
        "/api/v1/instances/{instanceId}/operations/{operationId}/events",
        "DefaultApi.stream_runtime_operation_events",
    ),
    Endpoint("GET", "/api/v1/deploy/models", "DeployApi.list_deploy_models"),
    Endpoint("GET", "/api/v1/deploy/regions", "DeployApi.list_deploy_regions"),
    Endpoint("GET", "/api/v1/providers", "DeployApi.list_providers"),
    Endpoint("POST", "/api/v1/instances", "InstancesApi.deploy_instance"),
    Endpoint("DELETE", "/api/v1/instances/{id}", "InstancesApi.destroy_instance"),
    Endpoint("GET", "/api/v1/instances/{id}/device/info", "InstancesApi.get_device_info"),
    Endpoint("GET", "/api/v1/instances/{id}", "InstancesApi.get_instance"),
    Endpoint("GET", "/api/v1/instances", "InstancesApi.list_instances"),
    Endpoint("POST", "/api/v1/instances/{id}/restart", "InstancesApi.restart_instance"),
    Endpoint("POST", "/api/v1/instances/{id}/start", "InstancesApi.start_instance"),
    Endpoint("POST", "/api/v1/instances/{id}/stop", "InstancesApi.stop_instance"),
    Endpoint("GET", "/api/v1/instances/{id}/mobile", "MobileApi.get_mobile_info"),
    Endpoint("POST", "/api/v1/instances/{id}/mobile/double_tap", "MobileApi.mobile_double_tap"),
    Endpoint("POST", "/api/v1/instances/{id}/mobile/drag", "MobileApi.mobile_drag"),
    Endpoint("GET", "/api/v1/instances/{id}/mobile/ui_tree", "MobileApi.mobile_get_ui_tree"),
    Endpoint("POST", "/api/v1/instances/{id}/mobile/key", "MobileApi.mobile_key"),
    Endpoint("GET", "/api/v1/instances/{id}/mobile/apps", "MobileApi.mobile_list_apps"),
    Endpoint("POST", "/api/v1/instances/{id}/mobile/long_press", "MobileApi.mobile_long_press"),
    Endpoint("POST", "/api/v1/instances/{id}/mobile/open_app", "MobileApi.mobile_open_app"),
    Endpoint("POST", "/api/v1/instances/{id}/mobile/press_button", "MobileApi.mobile_press_button"),
    Endpoint("POST", "/api/v1/instances/{id}/mobile/screenshot", "MobileApi.mobile_screenshot"),
    Endpoint("POST", "/api/v1/instances/{id}/mobile/scroll", "MobileApi.mobile_scroll"),
    Endpoint("POST", "/api/v1/instances/{id}/mobile/swipe", "MobileApi.mobile_swipe"),
    Endpoint("POST", "/api/v1/instances/{id}/mobile/tap", "MobileApi.mobile_tap"),
    Endpoint("POST", "/api/v1/instances/{id}/mobile/type", "MobileApi.mobile_type"),
    Endpoint("DELETE", "/api/v1/agents/{agentId}/tasks/{taskId}/webhooks/{webhookId}", "TasksApi.delete_task_webhook"),
    Endpoint("GET", "/api/v1/agents/{agentId}/tasks/{taskId}/webhooks", "TasksApi.list_task_webhooks"),
    Endpoint(
        "GET",
        "/api/v1/agents/{agentId}/tasks/{taskId}/webhooks/{webhookId}/deliveries",
        "TasksApi.list_webhook_deliveries",
    ),
    Endpoint(
        "POST",
        "/api/v1/agents/{agentId}/tasks/{taskId}/webhooks/{webhookId}/deliveries/{deliveryId}/redeliver",
        "TasksApi.redeliver_webhook",
    ),
    Endpoint("POST", "/api/v1/agents/{agentId}/tasks/{taskId}/webhooks", "TasksApi.register_task_webhook"),
)
BY_ROUTE = {(e.method, e.path): e for e in UNMODELLED}


def unmodelled(method: str, path: str) -> ApiError:
    endpoint = BY_ROUTE[(method, path)]
    return not_modelled(f"{endpoint.call}() ({method} {path})", "not_implemented")
