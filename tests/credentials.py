"""Credentials the platforms accept when no scenario file restricts them, shared by the tests: well-formed,
and nobody's secret."""

from __future__ import annotations

JWT = "eyJhbGciOiJIUzI1NiJ9.eyJzdWIiOiJ1c2VyXzEifQ.c2lnbmF0dXJl"  # {"sub": "user_1"}, unsigned as far as we check
BEEOS = {"Authorization": "Bearer oag_" + "a" * 64}
AGENTOS = {"Authorization": "Bearer aos_ws_t"}  # a workspace key: any agent
