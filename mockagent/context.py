"""The request context: what a platform understood of one request, in neutral terms.

A platform parses its request (auth, body, path) into a `RequestContext` and asks the engine one question
about it — `Engine.resolve` — so that what decides an answer (scenario replies today; stubs and cassette
interactions later) sees the whole request and never its wire format.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from types import MappingProxyType
from typing import TYPE_CHECKING, Any

from mockagent.faults import Fault
from mockagent.journal import Decided, Entry
from mockagent.model import PlatformKey
from mockagent.runs import Conversation, Run
from mockagent.scenarios.model import Agent
from mockagent.sessions import Session

if TYPE_CHECKING:
    from mockagent.scenarios.stubs import Stub

_NO_PARAMS: Mapping[str, str] = MappingProxyType({})


def bearer(headers: Mapping[str, str]) -> str | None:
    """The token of an ``Authorization: Bearer …`` header; "" when the header is malformed."""
    header = headers.get("Authorization")
    if header is None:
        return None
    scheme, _, token = header.partition(" ")
    return token.strip() if scheme.lower() == "bearer" else ""


@dataclass(slots=True)
class RequestContext:
    platform: PlatformKey | None  # None: a raw stub's request at the server's root
    endpoint: str  # the route's name, e.g. "invoke", "get-task"
    method: str
    path: str
    session: Session
    headers: Mapping[str, str]
    query: Mapping[str, str]
    body: Mapping[str, Any] | None = None  # the parsed JSON body, once read
    agent: Agent | None = None
    message: str | None = None  # the user's message, on a route that starts a turn
    conversation: Conversation | None = None
    run: Run | None = None  # the run this request started or acted on
    fault: Fault | None = None  # what admission decided for this request (stream faults act on its stream)
    admitted: bool = False
    explanation: str | None = None  # why nothing answered it (an unmatched reply, a cassette miss)
    params: Mapping[str, str] = field(
        default_factory=lambda: _NO_PARAMS
    )  # the path's parameters (the platform route's, or a stub's)
    stub: Stub | None = None  # the raw stub that answered it
    # What decided the answer, for the journal (an explanation, when set, makes it unmatched):
    decided: Decided = Decided.PLATFORM
    source: str | None = None  # where the reply, stub or recording that answered is
    item: int | None = None  # which item of a reply's sequence
    entry: Entry | None = None  # its journal entry

    @property
    def credential(self) -> str:
        """The caller's credential, whatever the platform's scheme ("anonymous" if none): what
        per-credential fault rules count on."""
        return bearer(self.headers) or self.headers.get("x-api-key") or "anonymous"

    @property
    def turn(self) -> int:
        """The turn this message would be in its conversation (1 for a new one)."""
        return self.conversation.turns + 1 if self.conversation is not None else 1
