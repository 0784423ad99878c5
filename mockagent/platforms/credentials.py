"""JWTs as the platforms carry them: their shape, and their claims (never verified). Bearer tokens are read
by `mockagent.context.bearer`."""

from __future__ import annotations

import base64
import binascii
import functools
import json
from typing import Any

_B64URL = frozenset("ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_=")


def is_jwt(token: str) -> bool:
    parts = token.split(".")
    return len(parts) == 3 and all(parts[:2]) and all(_B64URL.issuperset(p) for p in parts)


@functools.lru_cache(maxsize=1024)  # a client sends the same token on every call
def _decoded_claims(token: str) -> str:
    payload = token.split(".")[1]
    try:
        return base64.urlsafe_b64decode(payload + "=" * (-len(payload) % 4)).decode("utf-8")
    except (ValueError, binascii.Error):
        return ""


def jwt_claims(token: str) -> dict[str, Any]:
    """A JWT's payload, if it decodes to a JSON object (the signature is never checked); {} otherwise."""
    try:
        value = json.loads(_decoded_claims(token))
    except (ValueError, RecursionError):
        return {}
    return value if isinstance(value, dict) else {}
