"""The five platforms' calls as the soak sends them: each a `RequestSpec` with its platform's credential,
path (under the platform's mount) and body, and the readers of what comes back. Stdlib only.

The agents are the built-in demo agents (`echo`, `tools`, `approval`, `question`, `slow`, `error`) and the
soak's own (bench/scenarios.py: `soak-long`, `soak-gate`, `soak-flood`).
"""

from __future__ import annotations

import base64
import json
from typing import Any

from rawhttp import RequestSpec

BEEOS_KEY = "oag_" + "50a6" * 16
AGENTOS_KEY = "aos_ws_soak"
XPANDER_KEY = "soak-key"


def _jwt(claims: dict[str, str]) -> str:
    """A JWT-shaped token (the mock never checks the signature)."""

    def part(data: dict[str, str]) -> str:
        return base64.urlsafe_b64encode(json.dumps(data).encode()).rstrip(b"=").decode()

    return f"{part({'alg': 'RS256', 'typ': 'JWT'})}.{part(claims)}.c2ln"


JWT = _jwt({"sub": "user_soak", "org_id": "org_soak", "org_role": "org:admin"})  # Zeus and Aster (an org admin)
USER = {"id": "u-soak", "email": "soak@example.com"}
LLM = {"baseUrl": "https://llm.example", "apiKey": "sk-soak", "modelName": "soak"}
ASTER_IDS = {"echo": 1, "tools": 2, "approval": 3, "question": 4, "slow": 5, "error": 8}
ASTER_IDS |= {"soak-long": 101, "soak-gate": 102, "soak-flood": 103}
SSE = {"Accept": "text/event-stream"}


def _post(path: str, body: object, headers: dict[str, str]) -> RequestSpec:
    return RequestSpec("POST", path, {"Content-Type": "application/json", **headers}, json.dumps(body))


def _get(path: str, headers: dict[str, str]) -> RequestSpec:
    return RequestSpec("GET", path, headers, "")


# ── BeeOS ────────────────────────────────────────────────────────────────────────────────────────────

_BEEOS = {"Authorization": f"Bearer {BEEOS_KEY}"}


def beeos_invoke(agent: str, message: str, *, stream: bool = False, context: str | None = None) -> RequestSpec:
    body: dict[str, Any] = {"message": message} | ({"context_id": context} if context else {})
    return _post(f"/beeos/api/v1/agents/{agent}/invoke", body, _BEEOS | (SSE if stream else {}))


def beeos_create_task(agent: str, message: str) -> RequestSpec:
    return _post(f"/beeos/api/v1/agents/{agent}/tasks", {"message": message}, _BEEOS)


def beeos_task(agent: str, task_id: str, what: str = "") -> RequestSpec:
    """The task (`what` empty), or its `events` (the channel as SSE)."""
    return _get(f"/beeos/api/v1/agents/{agent}/tasks/{task_id}" + (f"/{what}" if what else ""), _BEEOS)


def beeos_continue(agent: str, task_id: str, body: dict[str, Any]) -> RequestSpec:
    return _post(f"/beeos/api/v1/agents/{agent}/tasks/{task_id}/continue", body, _BEEOS)


def beeos_presign(filename: str) -> RequestSpec:
    return _post("/beeos/api/v1/files/presign-upload", {"filename": filename, "content_type": "text/plain"}, _BEEOS)


def beeos_upload(upload_url: str, content: str) -> RequestSpec:
    """The presigned PUT: the path and query of `upload_url` (it names the mock itself), no Authorization."""
    path = "/" + upload_url.split("://", 1)[1].split("/", 1)[1]
    return RequestSpec("PUT", path, {"Content-Type": "text/plain"}, content)


# ── AgentOS ──────────────────────────────────────────────────────────────────────────────────────────

_AGENTOS = {"Authorization": f"Bearer {AGENTOS_KEY}"}


def agentos_invoke(agent: str, message: str, *, stream: bool = False) -> RequestSpec:
    return _post(f"/agentos/api/v1/agents/{agent}/invoke", {"input": {"query": message}, "stream": stream}, _AGENTOS)


def agentos_run(run_id: str) -> RequestSpec:
    return _get(f"/agentos/api/v1/runs/{run_id}", _AGENTOS)


def agentos_reply(run_id: str, request_id: str, response: str) -> RequestSpec:
    body = {"request_id": request_id, "response": response}
    return _post(f"/agentos/api/v1/runs/{run_id}/reply", body, _AGENTOS)


def agentos_decide(approval_id: str, decision: str) -> RequestSpec:
    return _post(f"/agentos/api/v1/approvals/{approval_id}/decide", {"decision": decision}, _AGENTOS)


def agentos_ingest(call: str, body: dict[str, Any]) -> RequestSpec:
    return _post(f"/agentos/api/ingest/v1/{call}", body, _AGENTOS)


# ── xpander.ai ───────────────────────────────────────────────────────────────────────────────────────

_XPANDER = {"x-api-key": XPANDER_KEY}


def xpander_invoke(agent: str, message: str, form: str = "") -> RequestSpec:
    """The sync invoke (`form` empty), `async` or `stream`."""
    path = f"/xpander/v1/agents/{agent}/invoke" + (f"/{form}" if form else "")
    return _post(path, {"input": {"text": message, "user": USER}}, _XPANDER)


def xpander_task(task_id: str) -> RequestSpec:
    return _get(f"/xpander/v1/tasks/{task_id}", _XPANDER)


def xpander_hitl(task_id: str, decision: str) -> RequestSpec:
    return _post(f"/xpander/v1/tasks/{task_id}/hitl", {"decision": decision}, _XPANDER)


# ── Zeus ─────────────────────────────────────────────────────────────────────────────────────────────

_ZEUS = {"Authorization": f"Bearer {JWT}"}


def zeus_invoke(agent: str, message: str) -> RequestSpec:
    return _post(f"/zeus/api/agent/invoke?agent={agent}", {"message": message, "llm_config": LLM}, _ZEUS)


def zeus_resume(interrupt: dict[str, Any], *, answer: str | None = None) -> RequestSpec:
    """Resume from an `interrupt` frame: approve its tool calls, or answer its question."""
    results = [
        {"tool_call_id": call["tool_call_id"], "tool_name": call["tool_name"], "decision": "approved"}
        for call in interrupt["tool_calls"]
    ]
    body: dict[str, Any] = {"session_id": interrupt["session_id"], "llm_config": LLM, "tool_call_results": results}
    if answer is not None:
        body["human_order"] = answer
    return _post("/zeus/api/agent/resume", body, _ZEUS)


# ── Aster Agents ─────────────────────────────────────────────────────────────────────────────────────

_ASTER = {"Authorization": f"Bearer {JWT}"}


def aster_chat(agent: str, message: str, *, thread: str | None = None, background: bool = False) -> RequestSpec:
    body: dict[str, Any] = {
        "agentId": ASTER_IDS[agent],
        "message": {"role": "user", "parts": [{"type": "text", "text": message}]},
    }
    if thread is not None:
        body["threadId"] = thread
    return _post("/aster/api/chat", body, _ASTER | ({"X-Stream-Response": "false"} if background else {}))


def aster_conversation(thread: str) -> RequestSpec:
    return _get(f"/aster/api/getConversation?threadId={thread}", _ASTER)


# ── reading the answers ──────────────────────────────────────────────────────────────────────────────


def with_headers(spec: RequestSpec, headers: dict[str, str]) -> RequestSpec:
    return RequestSpec(spec.method, spec.path, spec.headers | headers, spec.body)


def data(body: bytes) -> Any:
    """A JSON body's `data` where the platform wraps its answers in one (BeeOS, AgentOS), else the body."""
    answer = json.loads(body)
    return answer["data"] if isinstance(answer, dict) and "data" in answer else answer


def frames(body: bytes) -> list[Any]:
    """The JSON `data:` payloads of an SSE body, in order (`[DONE]` and other non-JSON lines left out)."""
    found = []
    for line in body.split(b"\n"):
        if line.startswith(b"data:"):
            try:
                found.append(json.loads(line[5:]))
            except ValueError:
                continue
    return found
