"""Aster's request body for POST /api/chat, validated with zod's messages (the real route validates with zod)."""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Any

from mockagent.encoding import json_type
from mockagent.errors import ApiError, ErrorKind, FieldError
from mockagent.platforms.bodies import MESSAGE_LIMIT

_UUID = re.compile(r"^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$", re.IGNORECASE)
# Loose on purpose (CHOSEN): the shape of an IANA name, not a lookup in a tz database the host may lack.
_TIMEZONE = re.compile(r"^[A-Za-z][A-Za-z0-9_+\-]*(?:/[A-Za-z0-9_+\-]+){0,2}$")


@dataclass(frozen=True)
class ChatRequest:
    agent_id: int
    message: dict[str, Any] | None  # the UIMessage as sent; None on a continuation call
    thread_id: str | None
    timezone: str | None

    @property
    def text(self) -> str:
        parts = self.message["parts"] if self.message else []
        return "".join(p["text"] for p in parts if p["type"] == "text")


# ── request validation, with zod's messages (the real route validates with zod) ──────────────────


def _expect(expected: str, value: Any, loc: tuple[str | int, ...], errors: list[FieldError]) -> bool:
    got = json_type(value)
    if got != expected:
        errors.append(FieldError(loc, f"Expected {expected}, received {got}", "invalid_type"))
        return False
    return True


def parse_chat(body: dict[str, Any]) -> ChatRequest:
    errors: list[FieldError] = []
    agent_id: Any = body.get("agentId")
    if "agentId" not in body:
        errors.append(FieldError(("agentId",), "Required", "invalid_type"))
    elif _expect("number", agent_id, ("agentId",), errors) and agent_id != int(agent_id):
        # JSON has one number type: 3.0 is the integer 3 to a JavaScript server, 3.5 is not.
        errors.append(FieldError(("agentId",), "Expected integer, received float", "invalid_type"))

    message: Any = body.get("message")
    if "message" in body and _expect("object", message, ("message",), errors):
        _check_message(message, errors)

    thread_id: Any = body.get("threadId")
    if "threadId" in body and _expect("string", thread_id, ("threadId",), errors) and not _UUID.match(thread_id):
        errors.append(FieldError(("threadId",), "Invalid uuid", "invalid_string"))

    timezone: Any = body.get("timezone")
    if "timezone" in body and _expect("string", timezone, ("timezone",), errors) and not _TIMEZONE.match(timezone):
        errors.append(FieldError(("timezone",), "Invalid timezone", "custom"))

    if not errors and isinstance(message, dict):
        text = sum(len(p["text"]) for p in message["parts"] if p["type"] == "text")
        if text > MESSAGE_LIMIT:  # CHOSEN: the limit is on the message's text, however many parts carry it
            errors.append(
                FieldError(("message", "parts"), f"Text must contain at most {MESSAGE_LIMIT} character(s)", "too_big")
            )
    if errors:
        raise ApiError(ErrorKind.VALIDATION, f"{errors[0].field}: {errors[0].msg}", fields=errors)
    return ChatRequest(agent_id=int(agent_id), message=message, thread_id=thread_id, timezone=timezone)


def _check_message(message: dict[str, Any], errors: list[FieldError]) -> None:
    if "role" not in message:
        errors.append(FieldError(("message", "role"), "Required", "invalid_type"))
    elif message["role"] != "user":
        errors.append(FieldError(("message", "role"), 'Invalid literal value, expected "user"', "invalid_literal"))
    if "id" in message:
        _expect("string", message["id"], ("message", "id"), errors)
    if "parts" not in message:
        errors.append(FieldError(("message", "parts"), "Required", "invalid_type"))
        return
    if not _expect("array", message["parts"], ("message", "parts"), errors):
        return
    for index, part in enumerate(message["parts"]):
        loc: tuple[str | int, ...] = ("message", "parts", index)
        if not _expect("object", part, loc, errors):
            continue
        if "type" not in part:
            errors.append(FieldError((*loc, "type"), "Required", "invalid_type"))
        elif _expect("string", part["type"], (*loc, "type"), errors) and part["type"] == "text":
            if "text" not in part:
                errors.append(FieldError((*loc, "text"), "Required", "invalid_type"))
            else:
                _expect("string", part["text"], (*loc, "text"), errors)
