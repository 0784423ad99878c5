"""AgentOS request bodies: hosted-agent invokes, human input, approvals, the RPC calls, and ingest."""

from __future__ import annotations

import uuid
from collections.abc import Mapping
from typing import Annotated, Any, Literal

from pydantic import AfterValidator, BaseModel, ConfigDict, Field
from pydantic_core import PydanticCustomError

from mockagent.encoding import dumps
from mockagent.errors import ApiError
from mockagent.platforms.bodies import MESSAGE_LIMIT


def _uuid(value: str) -> str:
    try:
        uuid.UUID(value)
    except ValueError:
        raise PydanticCustomError("uuid_parsing", "Input should be a valid UUID") from None
    return value


Uuid = Annotated[str, AfterValidator(_uuid)]
NonEmpty = Annotated[str, Field(min_length=1)]
Answer = Annotated[str, Field(min_length=1, max_length=MESSAGE_LIMIT)]


class _Body(BaseModel):
    # Unknown fields are dropped, not refused, as a zod-style API does by default (CHOSEN).
    # defer_build here and below: validators are built on a model's first use rather than at import,
    # which took a large share of the server's start-up.
    model_config = ConfigDict(extra="ignore", frozen=True, defer_build=True)


# ── hosted agents ───────────────────────────────────────────────────────────────────────────────────


class HistoryTurn(_Body):
    role: Literal["user", "assistant", "system"]
    content: str


class InvokeBody(_Body):
    input: dict[str, Any] = Field(default_factory=dict)
    prompt_variables: dict[str, str] | None = None
    session_id: Uuid | None = None
    start_session: bool = False
    external_user_id: NonEmpty | None = None
    history: list[HistoryTurn] | None = None
    parent_run_id: Uuid | None = None
    stream: bool = False
    test: bool = False

    def check(self) -> None:
        """The rules between fields, each naming the field at fault."""
        if self.session_id is not None and self.start_session:
            raise ApiError.invalid("start_session", "cannot be combined with session_id")
        if self.history is not None and (self.session_id is not None or self.start_session):
            other = "session_id" if self.session_id is not None else "start_session"
            raise ApiError.invalid("history", f"cannot be combined with {other}")
        if self.external_user_id is not None and self.session_id is None and not self.start_session:
            raise ApiError.invalid("external_user_id", "is only allowed with session_id or start_session")


MESSAGE_KEYS = ("query", "message", "text", "prompt")


def message_of(input_: Mapping[str, Any]) -> str:
    """The user's message: the first of input.query|message|text|prompt, else the whole input as JSON; an
    empty input says nothing (no message, not "{}")."""
    if not input_:
        return ""
    for key in MESSAGE_KEYS:
        if key in input_:
            value = input_[key]
            message = value if isinstance(value, str) else dumps(value)
            _check_length(message, ("input", key))
            return message
    message = dumps(input_)
    _check_length(message, ("input",))
    return message


def _check_length(message: str, loc: tuple[str, ...]) -> None:
    if len(message) > MESSAGE_LIMIT:
        raise ApiError.invalid(loc, f"String should have at most {MESSAGE_LIMIT} characters", "string_too_long")


class ReplyBody(_Body):
    request_id: NonEmpty
    response: Answer


class HumanInputBody(_Body):
    response: Answer


class DecideBody(_Body):
    decision: Literal["approve", "reject"]
    decision_note: str | None = None


class RpcDecideBody(_Body):
    approval_id: NonEmpty
    decision: Literal["approved", "rejected"]
    decision_note: str | None = None
    workspace: str | None = None


class RpcListBody(_Body):
    agent_id: str | None = None
    limit: Annotated[int, Field(ge=1, le=100)] = 20
    workspace: str | None = None


class RpcRunBody(_Body):
    run_id: NonEmpty
    workspace: str | None = None


#: CHOSEN: the most events `runs.events` returns (the latest ones), and how many by default.
EVENTS_LIMIT = 1_000
EVENTS_DEFAULT = 100


class RpcEventsBody(RpcRunBody):
    limit: Annotated[int, Field(ge=1, le=EVENTS_LIMIT)] = EVENTS_DEFAULT


WireStatus = Literal["running", "awaiting_approval", "awaiting_input", "completed", "failed", "cancelled"]


class RpcRunsBody(_Body):
    agent_id: str | None = None
    status: WireStatus | None = None
    limit: Annotated[int, Field(ge=1, le=100)] = 20
    workspace: str | None = None


class RpcInvokeBody(InvokeBody):
    """`runs.invoke`: an invoke with its agent in the body (it always answers as a blocking invoke)."""

    agent_id: NonEmpty
    workspace: str | None = None


class RpcConversationBody(_Body):
    conversation_id: NonEmpty
    workspace: str | None = None


class RpcConversationGetBody(RpcConversationBody):
    # Unbounded above: a conversation keeps at most TURNS_KEPT turns, two messages each.
    message_limit: Annotated[int, Field(ge=1)] | None = None


class RpcConversationsBody(_Body):
    agent_id: str | None = None
    external_user_id: str | None = None
    limit: Annotated[int, Field(ge=1, le=100)] = 20
    workspace: str | None = None


# ── ingest ──────────────────────────────────────────────────────────────────────────────────────────


class RunStartBody(_Body):
    agent_id: NonEmpty
    trigger_type: Literal["manual", "scheduled", "webhook", "sdk"] = "sdk"
    input: dict[str, Any] = Field(default_factory=dict)
    external_run_id: NonEmpty | None = None
    parent_run_id: str | None = None


class IngestEvent(BaseModel):
    # Spans carry extra keys (span_id, started_at, duration_ms …): kept as sent.
    model_config = ConfigDict(extra="allow", frozen=True, defer_build=True)
    type: NonEmpty
    level: Literal["debug", "info", "warn", "error"] = "info"
    payload: dict[str, Any] = Field(default_factory=dict)
    occurred_at: str | None = None


class RunRef(_Body):
    """An ingest call about one reported run."""

    run_id: NonEmpty


class EventsBody(RunRef):
    events: list[IngestEvent]


class CompleteBody(RunRef):
    output: dict[str, Any] | None = None
    input_tokens: int | None = None
    output_tokens: int | None = None
    cache_read_tokens: int | None = None
    cache_creation_tokens: int | None = None


class FailBody(RunRef):
    error_message: NonEmpty
    error_detail: dict[str, Any] | None = None


class CancelBody(RunRef):
    reason: str | None = None


class TaskReport(BaseModel):
    model_config = ConfigDict(extra="allow", frozen=True, defer_build=True)
    id: NonEmpty
    name: NonEmpty
    status: Literal["pending", "running", "completed", "failed", "skipped"]
    input: dict[str, Any] | None = None
    output: dict[str, Any] | None = None
    error_message: str | None = None


class TaskBody(RunRef):
    task: TaskReport
