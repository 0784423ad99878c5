"""Zeus request bodies: the invoke and the resume, as its FastAPI service validates them."""

from __future__ import annotations

from typing import Annotated, Any, Literal

from pydantic import BaseModel, ConfigDict, Field

from mockagent.platforms.bodies import MESSAGE_LIMIT

# ── request models ─────────────────────────────────────────────────────────────────────────────────
# Each builds its validator on first use (defer_build), not at import: building them all took a
# large share of the server's start-up.


class LlmConfig(BaseModel):
    model_config = ConfigDict(defer_build=True)
    baseUrl: str  # the wire spells these in camelCase
    apiKey: str
    modelName: str
    temperature: Annotated[float, Field(ge=0, le=2)] | None = None  # CHOSEN range (OpenAI's)


class Tool(BaseModel):
    # Other keys (base_url, api_key, …) are accepted and dropped, so a tool's secret is never kept.
    model_config = ConfigDict(defer_build=True)
    type: Literal["mcp", "oauth"]
    name: str


class ChatMessage(BaseModel):
    model_config = ConfigDict(defer_build=True)
    role: Literal["user", "assistant", "system"]
    content: str
    timestamp: str | int | float | None = None


class InterruptConfig(BaseModel):
    model_config = ConfigDict(defer_build=True)
    enabled: bool = True
    requires_interrupt: bool = False


class InvokeBody(BaseModel):
    model_config = ConfigDict(defer_build=True)
    message: Annotated[str, Field(min_length=1, max_length=MESSAGE_LIMIT)]
    llm_config: LlmConfig
    session_id: Annotated[str, Field(min_length=1, max_length=256)] | None = None
    mode: Literal["agent", "ask", "plan"] = "agent"
    tools: list[Tool] = []
    enable_sandbox: bool = True
    enable_web_search: bool = False
    knowledge_base_ids: list[str] = []
    enable_memory: bool = False
    skills: dict[str, Any] | None = None
    chat_history: list[ChatMessage] = []
    resource_files: list[dict[str, Any]] = []
    sandbox_files: list[dict[str, Any]] = []
    chat_attachments: list[dict[str, Any]] = []
    tool_interrupt_config: dict[str, InterruptConfig] | None = None


class ToolCallResult(BaseModel):
    model_config = ConfigDict(defer_build=True)
    tool_call_id: str
    tool_name: str
    decision: Literal["approved", "rejected", "modified", "timeout"]
    modified_args: dict[str, Any] | None = None


class ResumeBody(BaseModel):
    model_config = ConfigDict(defer_build=True)
    session_id: Annotated[str, Field(min_length=1)]
    llm_config: LlmConfig
    tool_call_results: list[ToolCallResult]
    human_order: Annotated[str, Field(max_length=MESSAGE_LIMIT)] | None = None
    tool_interrupt_config: dict[str, InterruptConfig] | None = None
