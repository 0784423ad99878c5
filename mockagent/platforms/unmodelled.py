"""A call of a platform's official SDK that mockagent does not model: its route is declared (so a client of
the SDK never meets a bare 404), and it answers the platform's 404 with a code of its own, saying so and
how to script the answer instead (docs/platforms/<key>.md).

CHOSEN: a 404 rather than a 501, because the SDKs treat a 5xx as transient — pyagentos-sdk retries a read
with backoff (about 8 s at its defaults) and raises it as a transient error that client code tends to swallow.
"""

from __future__ import annotations

from collections.abc import Mapping

from mockagent.errors import ApiError, ErrorKind

HOW_TO_SCRIPT = "script its answer with a raw stub (see docs/scenarios.md#raw-stubs)"


class NotModelled(ApiError):
    """The answer to a call mockagent does not model; the route frame lets a raw stub answer it instead."""


def not_modelled(what: str, code: str) -> NotModelled:
    """The answer to `what` (the SDK call and its HTTP request), with the platform's spelling of `code`."""
    return NotModelled(ErrorKind.NOT_FOUND, f"mockagent does not model {what}; {HOW_TO_SCRIPT}.", code=code)


def serves_nothing(params: Mapping[str, str]) -> bool:
    """`Route.serves` of a route declared only to answer as not modelled."""
    return False
