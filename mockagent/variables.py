"""The variables a request's templates see (`templating.VARIABLES` says what each means).

The cheap ones are set when a turn starts; the others — the headers and query without their secrets, the
conversation's history, the agent, the clock's moment, the seeded helpers — are made when a template first
reads them (`Variables.__missing__`), so a turn whose templates never do pays nothing for them.
"""

from __future__ import annotations

import contextlib
import weakref
from collections.abc import Callable, Iterable, Mapping
from functools import cache
from typing import TYPE_CHECKING, Any

from mockagent.templating import HELPERS, VARIABLES, Draws

if TYPE_CHECKING:
    from mockagent.clock import Clock
    from mockagent.context import RequestContext
    from mockagent.runs import Conversation, Run
    from mockagent.scenarios.model import Agent

#: Variables read afresh each time: the moment of the step being played.
_MOMENTS = frozenset({"now", "epoch"})
_NO_AGENT: Mapping[str, str] = {"id": "", "name": "", "description": ""}


class Variables(dict[str, Any]):
    """A turn's variables: those set when it starts, and the others made (and kept) on first read.

    `at` is the clock time of the step being played, which `now` and `epoch` tell (None: the clock's now)."""

    __slots__ = ("_make", "at")

    def __init__(
        self, values: Mapping[str, Any] | None = None, make: Callable[[Variables, str], Any] | None = None
    ) -> None:
        super().__init__(values or {})
        self._make = make
        self.at: float | None = None

    def __missing__(self, name: str) -> Any:
        if self._make is None:
            raise KeyError(name)
        value = self._make(self, name)  # KeyError for a name it does not make
        if name not in _MOMENTS:
            self[name] = value
        return value

    def release(self) -> None:
        """Forget every value and where the rest would come from (the run is laid out to its end)."""
        self.clear()
        self._make = None

    def __reduce__(self) -> tuple[type[Variables], tuple[dict[str, Any]]]:
        # For another process (mockagent.shared): the variables a paused script's rest may read, made now
        # (the maker reads this request), so that it renders there as it would have here — the body without
        # its secrets (headers and query are made without them). The seeded helpers (uuid() …) are this
        # process's: a rest played elsewhere has none.
        if self._make is not None:
            for name in VARIABLES:
                if name not in _MOMENTS and name not in HELPERS and name not in self:
                    with contextlib.suppress(KeyError):
                        self[name]  # made and kept by __missing__
        kept = {name: value for name, value in self.items() if name not in HELPERS}
        if "body" in kept:
            kept["body"] = without_secrets(kept["body"])
        return Variables, (kept,)

    def copy(self) -> Variables:
        copied = Variables(self, self._make)
        copied.at = self.at
        return copied


class Headers(dict[str, str]):
    """Request headers by lower-case name, looked up in any case (``headers['X-Env']``, ``headers.host``)."""

    __slots__ = ()

    def __getitem__(self, name: str) -> str:
        return super().__getitem__(name.lower() if isinstance(name, str) else name)

    def get(self, name: str, default: Any = None) -> Any:
        return super().get(name.lower() if isinstance(name, str) else name, default)

    def __contains__(self, name: object) -> bool:
        return super().__contains__(name.lower() if isinstance(name, str) else name)


class _Sources:
    """Where a turn's variables made on first read come from."""

    __slots__ = ("agent", "clock", "conversation", "headers", "method", "params", "path", "query", "run", "stub")

    def __init__(self, ctx: RequestContext, agent: Agent | None, conversation: Conversation | None) -> None:
        self.headers = ctx.headers
        self.query = ctx.query
        # Not the context itself: it holds the run, which holds these (reference counting must free a run).
        self.method, self.path, self.params = ctx.method, ctx.path, ctx.params
        self.stub = ctx.stub.key if ctx.stub is not None else ""  # a stub's answer: where the stub is declared
        self.agent = agent
        self.conversation = conversation
        self.clock: Clock = ctx.session.clock
        # The turn's run, once made: the history is what came before it. Weakly, or the run and its variables
        # would hold each other, and only a garbage collection would free a run the store forgot.
        self.run: weakref.ref[Run] | None = None

    def __call__(self, variables: Variables, name: str) -> Any:
        if name == "headers":
            headers = Headers()
            for key, value in self.headers.items():
                if not is_secret(key):
                    key = key.lower()
                    headers[key] = f"{headers[key]}, {value}" if key in headers else value
            return headers
        if name == "query":
            query: dict[str, str] = {}
            for key, value in self.query.items():
                if not is_secret(key):
                    query.setdefault(key, value)  # the first of a repeated parameter, as `when` reads it
            return query
        if name == "history":
            return self._history()
        if name == "params":
            return dict(self.params)
        if name == "method":
            return self.method
        if name == "path":
            return self.path
        if name == "agent":
            agent = self.agent
            return {"id": agent.id, "name": agent.name, "description": agent.description} if agent else _NO_AGENT
        if name in _MOMENTS:
            wall = self.clock.wall(variables.at)
            if name == "epoch":
                return int(wall.timestamp())
            return wall.isoformat(timespec="milliseconds").replace("+00:00", "Z")
        if name in HELPERS:
            # Seeded by the scenario (the agent's pace.seed and id), the session and the turn's number in it.
            agent = self.agent
            # A stub's, by where it is declared: two stubs' first answers in a session draw apart.
            scenario = f"{agent.pace.seed}:{agent.id}" if agent is not None else self.stub
            seed = f"{scenario}:{variables['session']}:{variables['counter']}"
            helpers = Draws(seed).helpers()
            variables.update(helpers)  # the five share the turn's generator
            return helpers[name]
        raise KeyError(name)

    def _history(self) -> list[dict[str, str]]:
        earlier: list[dict[str, str]] = []
        if self.conversation is None:
            return earlier
        this = self.run() if self.run is not None else None
        for run in self.conversation.runs:
            if run is this:
                break
            earlier.append({"message": run.message, "reply": run.text()})
        return earlier


def turn_variables(
    ctx: RequestContext,
    agent: Agent | None,
    conversation: Conversation | None,
    *,
    counter: int,
    groups: Mapping[str, str],
    answer: Any = "",
    turn: int = 1,
) -> Variables:
    """The variables of a turn of `agent` in `conversation`; or, with `conversation` (and `agent`) None, of a
    request that plays no turn (a stub's answer): its message, body, headers, query, method, path, path
    parameters, session, platform, clock and helpers (seeded by the stub, the session and `counter`) are the
    request's, the others empty."""
    session = ctx.session
    values = {
        "message": ctx.message if ctx.message is not None else "",
        "answer": answer,
        "approved_args": {},
        "turn": turn,
        "conversation_id": conversation.id if conversation is not None else "",
        "agent_id": agent.id if agent is not None else "",
        "platform": ctx.platform.value if ctx.platform is not None else "",  # "" at the root (a stub)
        "groups": groups,
        "body": ctx.body if ctx.body is not None else {},
        "session": session.name,
        "counter": counter,
    }
    return Variables(values, _Sources(ctx, agent, conversation))


def played_by(variables: Mapping[str, Any], run: Run) -> None:
    """Tell the variables the run that plays them (the history is the conversation's runs before it)."""
    if isinstance(variables, Variables) and isinstance(variables._make, _Sources):
        variables._make.run = weakref.ref(run)


def without_secrets(value: Any) -> Any:
    """A JSON value with the values of secret fields (apiKey, password …) replaced by ``<redacted>``."""
    if isinstance(value, dict):
        return {key: "<redacted>" if is_secret(key) else without_secrets(item) for key, item in value.items()}
    if isinstance(value, list):
        return [without_secrets(item) for item in value]
    return value


def is_secret(name: str) -> bool:
    """Whether a header or query parameter called `name` holds a secret, by the rules redaction uses for
    recordings: Authorization, Cookie, X-Api-Key and their kin, and key-like names (X-Session-Token)."""
    from mockagent.replay.redaction import is_key_like, normalize

    return normalize(name) in _secret_names() or is_key_like(name)


@cache
def _secret_names() -> frozenset[str]:
    from mockagent.replay.redaction import DEFAULT_FIELDS, DEFAULT_HEADERS, normalize

    names: Iterable[str] = (*DEFAULT_HEADERS, *DEFAULT_FIELDS)
    return frozenset(normalize(name) for name in names)
