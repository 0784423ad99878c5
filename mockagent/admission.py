"""Admission: the one step where faults, rate limits and chaos answer instead of the agent.

Every platform route passes it once, after the request is authenticated, validated and its target found,
and before it changes anything (`Platform.admit`). What it decides stays on the request context: a status
fault is raised here as the platform's error; a stream fault (drop, stall, …) is applied by the stream.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import TYPE_CHECKING

from mockagent.context import RequestContext
from mockagent.errors import ApiError, ErrorKind
from mockagent.faults import CHAOS_CATALOGUE, AddedRule, Fault, FaultSyntaxError, Per, parse_fault
from mockagent.scenarios.model import Agent

if TYPE_CHECKING:
    from mockagent.engine import Engine

FAULT_HEADER = "X-Mockagent-Fault"

_STATUS_KINDS = {
    429: ErrorKind.RATE_LIMITED,
    500: ErrorKind.INTERNAL,
    502: ErrorKind.BAD_GATEWAY,
    503: ErrorKind.UNAVAILABLE,
    504: ErrorKind.TIMEOUT,
}
_STATUS_MESSAGES = {
    429: "Rate limit exceeded",
    500: "Internal server error",
    502: "Bad gateway",
    503: "Service unavailable",
    504: "Gateway timeout",
}


async def decide(engine: Engine, context: RequestContext, agent: Agent | None, scope: str | None) -> Fault | None:
    """The fault this request gets, if any (kept on the context); None: admitted as it is.

    `agent` is the agent the request reaches (its own fault rules apply), if any; `scope` the conversation
    id the client sent (None for a new conversation): per-conversation rules count on it, falling back to
    the credential. Decided once per request: a second call decides nothing.
    """
    if context.admitted:
        return None
    context.admitted = True
    if agent is not None:
        context.agent = agent
    forced = None
    if (header := context.headers.get(FAULT_HEADER)) is not None:
        try:
            forced = parse_fault(header)
        except FaultSyntaxError as err:
            raise ApiError.invalid(("header", FAULT_HEADER), str(err)) from None
    elif not (engine.fault_rules or engine.board.may_fault or (agent is not None and agent.faults)):
        return None  # most servers: nothing can fault
    fault = forced if forced is not None else await choose_fault(engine, context, agent, scope)
    if fault is None or fault.is_empty:
        return None
    context.fault = fault
    return fault


async def apply(context: RequestContext, fault: Fault) -> None:
    """A decided fault's latency, then its status as the platform's error (a stream fault stays on the
    context for the stream)."""
    session = context.session
    if fault.latency is not None:
        clock = session.clock
        await clock.sleep_until(clock.now() + fault.latency.sample(session.faults.latency_rng))
    if fault.status is not None:
        raise status_error(fault.status, fault.retry_after)


def status_error(status: int, retry_after: int | None) -> ApiError:
    """A status fault as the platform's own error (a 429's Retry-After is 1 s unless the fault says)."""
    retry_after = retry_after if retry_after else (1 if status == 429 else None)
    return ApiError(_STATUS_KINDS[status], _STATUS_MESSAGES[status], retry_after=retry_after)


async def choose_fault(engine: Engine, context: RequestContext, agent: Agent | None, scope: str | None) -> Fault | None:
    """The agent's rules, then the server's, then chaos. Every counted rule counts this call."""
    platform = context.platform
    credential = context.credential
    scopes = {
        Per.CONVERSATION: f"{platform}:c:{scope}" if scope else f"{platform}:k:{credential}",
        Per.CREDENTIAL: f"{platform}:k:{credential}",
        Per.AGENT: f"{platform}:a:{agent.id if agent else ''}",
    }
    session = context.session
    now = session.clock.now()
    speed = getattr(session.clock, "speed", 1.0)
    added, chaos = await engine.board.current() if engine.board.may_fault else ((), 0.0)
    if added:
        fault = await _added_fault(engine, context, added, scopes, now, speed)
        if fault is not None:
            return fault
    rules = [(f"{agent.id}#{i}", rule) for i, rule in enumerate(agent.faults)] if agent else []
    rules += [(f"*#{i}", rule) for i, rule in enumerate(engine.fault_rules)]
    # A conversation the client names already had its first call (the one that created it).
    known = session.conversation(platform, scope) if scope and platform is not None else None
    prior = known.turns if known else 0
    for rule_id, rule in rules:
        earlier = prior if rule.per is Per.CONVERSATION else 0
        fault = await session.faults.decide(rule, rule_id, scopes[rule.per], now, speed, earlier)
        if fault is not None and not fault.is_empty:
            return fault
    rng = session.faults.chaos_rng
    if chaos and rng.random() < chaos:
        return rng.choice(CHAOS_CATALOGUE)
    return None


async def _added_fault(
    engine: Engine,
    context: RequestContext,
    rules: Sequence[AddedRule],
    scopes: dict[Per, str],
    now: float,
    speed: float,
) -> Fault | None:
    """The first fault of the rules added over the admin API that applies (CHOSEN: they come before the
    agent's and the server's, so that a test's fault wins); a counted rule used up is dropped."""
    platform = context.platform.value if context.platform is not None else None
    session = context.session
    for added in list(rules):
        if not added.applies(platform, session.name, context.path):
            continue
        rule = added.rule
        if rule.rate_limit is not None:
            fault = await session.faults.decide(rule, f"admin#{added.id}", scopes[rule.per], now, speed)
        else:
            fault = rule.fault if await engine.board.take(added) else None
        if fault is not None and not fault.is_empty:
            return fault
    return None
