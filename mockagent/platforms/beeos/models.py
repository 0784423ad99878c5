"""BeeOS request bodies and wire constants.

Bodies validate strictly (a JSON int for `timeout_ms`, a string for every metadata value), as the
gateway's typed decoder and the official SDK's pydantic models do. Unknown keys are ignored.
"""

from __future__ import annotations

import re
from typing import Annotated, Any

from pydantic import AfterValidator, BaseModel, ConfigDict, Field
from pydantic_core import PydanticCustomError

from mockagent.platforms.bodies import MESSAGE_LIMIT

MAX_ID = 128  # agentId, taskId, file id, context_id, attachment file_id
MAX_ATTACHMENTS = 16
TIMEOUT_CAP_MS = 115_000  # the gateway's hard cap, so a reply always flushes before its 120 s WriteTimeout
DEFAULT_TIMEOUT_MS = 120_000
MAX_DEADLINE_MS = 604_800_000  # 7 days, the SDK's client-side bound
RESERVED_METADATA = frozenset({"protocol", "caller_owner_id", "target_agent_id", "delivery_principal"})

Id = Annotated[str, Field(min_length=1, max_length=MAX_ID)]


# Each model builds its validator on first use, not at import: building them all took a large share
# of the server's start-up, and most runs touch only a few of them.
class AttachmentRef(BaseModel):
    model_config = ConfigDict(defer_build=True)
    file_id: Id
    filename: str | None = None
    content_type: str | None = None


class TurnBody(BaseModel):
    """What invoke and create-task share: one user message into a conversation (channel)."""

    model_config = ConfigDict(defer_build=True)
    # The gateway's `required` binding rejects the zero value, so "" is as good as missing.
    message: Annotated[str, Field(min_length=1, max_length=MESSAGE_LIMIT)]
    context_id: Id | None = None
    idempotency_key: Annotated[str, Field(min_length=1, max_length=256)] | None = None
    metadata: dict[str, str] | None = None
    attachments: Annotated[list[AttachmentRef], Field(max_length=MAX_ATTACHMENTS)] | None = None

    def clean_metadata(self) -> dict[str, str]:
        """The caller's metadata without the routing keys the gateway scrubs."""
        return {k: v for k, v in (self.metadata or {}).items() if k not in RESERVED_METADATA}


class InvokeBody(TurnBody):
    # No upper bound here: values above the cap are clamped, not rejected.
    timeout_ms: Annotated[int, Field(ge=0)] | None = None


class CreateTaskBody(TurnBody):
    deadline_ms: Annotated[int, Field(ge=0, le=MAX_DEADLINE_MS)] | None = None


class CancelBody(BaseModel):
    model_config = ConfigDict(defer_build=True)
    reason: Annotated[str, Field(max_length=1024)] | None = None


class ContinueBody(BaseModel):
    model_config = ConfigDict(defer_build=True)
    input: Any = None
    auth_grant: bool | None = None


def _no_controls(value: str) -> str:
    if _CONTROL.search(value):
        raise PydanticCustomError("string_control", "must not contain control characters (CR, LF, …)")
    return value


def _media_type(value: str) -> str:
    if not _MEDIA_TYPE.fullmatch(value):
        raise PydanticCustomError("media_type", "must be a media type such as text/plain")
    return value


# Both come back as headers of the download (Content-Disposition, Content-Type): CHOSEN, a filename with
# a control character and a content_type that is not a media type are refused when presigned.
_CONTROL = re.compile(r"[\x00-\x1f\x7f-\x9f]")
_NAME = r"[!#$%&'*+.^_`|~0-9A-Za-z-]+"
_MEDIA_TYPE = re.compile(rf"{_NAME}/{_NAME}(?:[ \t]*;[\x20-\x7e\t]*)?")


class PresignBody(BaseModel):
    model_config = ConfigDict(defer_build=True)
    filename: Annotated[str, Field(min_length=1, max_length=512), AfterValidator(_no_controls)]
    content_type: Annotated[str, Field(min_length=1, max_length=255), AfterValidator(_media_type)]
