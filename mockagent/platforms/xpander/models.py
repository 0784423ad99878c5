"""What xpander's invoke endpoints accept, as FastAPI/pydantic would validate it, and the LLM catalog."""

from __future__ import annotations

from enum import StrEnum
from typing import Annotated, Any, TypeVar

import pydantic
from pydantic import BaseModel, ConfigDict, Field

from mockagent.errors import ApiError, ErrorKind, FieldError
from mockagent.platforms.bodies import MESSAGE_LIMIT


class ThinkMode(StrEnum):
    DEFAULT = "default"
    HARDER = "harder"


class OutputFormat(StrEnum):
    TEXT = "text"
    MARKDOWN = "markdown"
    JSON = "json"
    VOICE = "voice"


class ReasoningEffort(StrEnum):
    LOW = "low"
    MEDIUM = "medium"
    HIGH = "high"
    XHIGH = "xhigh"


class SourceNodeType(StrEnum):
    WORKBENCH = "workbench"
    SDK = "sdk"
    TASK = "task"
    ASSISTANT = "assistant"
    WEBHOOK = "webhook"
    MCP = "mcp"
    A2A = "a2a"
    TELEGRAM = "telegram"
    SLACK = "slack"


# Each model builds its validator on first use (defer_build), not at import: building them all took
# a large share of the server's start-up, and most runs touch only a few of them.
class _UserBase(BaseModel):
    # The user object is free-form context for the agent: unknown keys are kept, not rejected.
    model_config = ConfigDict(extra="allow", defer_build=True)
    first_name: str | None = None
    last_name: str | None = None


class User(_UserBase):
    id: str
    email: str


class StreamUser(_UserBase):
    id: str | None = None
    email: str | None = None


class _InputBase(BaseModel):
    model_config = ConfigDict(defer_build=True)
    text: Annotated[str, Field(max_length=MESSAGE_LIMIT)]
    files: list[str] | None = None


class SyncInput(_InputBase):
    user: User


class StreamInput(_InputBase):
    user: StreamUser | None = None


class InvokeBody(BaseModel):
    """What every invoke body has; `SyncBody` and `StreamBody` add their `input`.

    Two subclasses rather than a generic model: parametrising a generic builds its validator at import,
    whatever `defer_build` says, and that was a tenth of the server's start-up."""

    model_config = ConfigDict(defer_build=True)
    input: _InputBase  # narrowed by each subclass; declared here to keep it first in errors
    id: str | None = None
    disable_attachment_injection: bool = False
    think_mode: ThinkMode = ThinkMode.DEFAULT
    instructions_override: str | None = None
    additional_context: str | None = None
    expected_output: str | None = None
    output_format: OutputFormat = OutputFormat.TEXT
    output_schema: dict[str, Any] | None = None
    llm_model_provider: str | None = None
    llm_model_name: str | None = None
    llm_reasoning_effort: ReasoningEffort | None = None
    user_oidc_token: str | None = None
    source_node_type: SourceNodeType | None = None


class SyncBody(InvokeBody):
    input: SyncInput  # sync and async invoke: input.user.id and .email are required


class StreamBody(InvokeBody):
    input: StreamInput


class Decision(StrEnum):
    APPROVE = "approve"
    REJECT = "reject"


class HitlBody(BaseModel):
    model_config = ConfigDict(defer_build=True)
    decision: Decision
    comment: Annotated[str, Field(max_length=MESSAGE_LIMIT)] | None = None


M = TypeVar("M", bound=BaseModel)


def validate_body(model: type[M], data: dict[str, Any]) -> M:
    """Validate in pydantic's lax mode, as FastAPI does ("true" is a bool, 1 is not a str), and
    report every invalid field with FastAPI's ``body`` prefix on its loc."""
    try:
        return model.model_validate(data)
    except pydantic.ValidationError as err:
        fields = [
            FieldError(("body", *e["loc"]), e["msg"], e["type"])
            for e in err.errors(include_url=False, include_context=False, include_input=False)
        ]
        raise ApiError(ErrorKind.VALIDATION, f"{fields[0].field}: {fields[0].msg}", fields=fields) from None


# CHOSEN: a small static catalog; item keys follow xpander's documented LLMProviderItem.
LLM_CATALOG: dict[str, tuple[str, str, dict[str, str]]] = {
    "openai": (
        "OpenAI",
        "GPT models by OpenAI",
        {"gpt-5": "GPT-5", "gpt-5-mini": "GPT-5 Mini", "gpt-4.1": "GPT-4.1", "gpt-4o": "GPT-4o"},
    ),
    "anthropic": (
        "Anthropic",
        "Claude models by Anthropic",
        {
            "claude-opus-4-6": "Claude Opus 4.6",
            "claude-sonnet-4-6": "Claude Sonnet 4.6",
            "claude-sonnet-4-5": "Claude Sonnet 4.5",
        },
    ),
    "bedrock": (
        "Amazon Bedrock",
        "Models served by AWS Bedrock",
        {
            "anthropic.claude-sonnet-4-5": "Claude Sonnet 4.5 (Bedrock)",
            "amazon.titan-text-express-v1": "Amazon Titan Text Express",
        },
    ),
    "gemini": (
        "Google AI Studio",
        "Gemini models by Google",
        {"gemini-2.5-pro": "Gemini 2.5 Pro", "gemini-2.0-flash": "Gemini 2.0 Flash"},
    ),
}
