"""A BeeOS invoke as the scenario-language tests make it: a message to an agent, with the headers, query and
conversation a test gives, and the text the agent said."""

from __future__ import annotations

from typing import Any

import httpx
from credentials import BEEOS

from mockagent.server import ThreadedMockServer

SAFETY = 30.0  # real seconds: a bound on a request that must be answered, never a measurement


def beeos(
    server: ThreadedMockServer,
    agent: str,
    message: str,
    headers: dict[str, str] | None = None,
    query: str = "",
    context_id: str | None = None,
) -> httpx.Response:
    body: dict[str, Any] = {"message": message}
    if context_id is not None:
        body["context_id"] = context_id
    url = f"{server.base_url('beeos')}/api/v1/agents/{agent}/invoke{query}"
    return httpx.post(url, json=body, headers={**BEEOS, **(headers or {})}, timeout=SAFETY)
