"""Credentials as the platforms carry them: bearer tokens, API-key headers, and JWT claims (never verified)."""

from __future__ import annotations

import base64
import binascii
import functools
import json
from collections.abc import Mapping
from typing import Any

_B64URL = frozenset("ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_=")


def bearer(headers: Mapping[str, str]) -> str | None:
    """The token of an ``Authorization: Bearer …`` header; "" when the header is malformed."""
    header = headers.get("Authorization")
    if header is None:
        return None
    scheme, _, token = header.partition(" ")
    return token.strip() if scheme.lower() == "bearer" else ""


def credential_of(headers: Mapping[str, str]) -> str:
    """The caller's credential, whatever the platform's scheme (for per-credential limits)."""
    return bearer(headers) or headers.get("x-api-key") or "anonymous"


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
