"""The engine: scenarios in, runs out. Platforms ask it to start, find and resume runs."""

from __future__ import annotations

import random
from collections.abc import Collection, Mapping
from typing import Any

from mockagent.clock import Clock
from mockagent.faults import CHAOS_CATALOGUE, Fault, FaultRule, FaultState, Per
from mockagent.ids import uuid4
from mockagent.journal import Journal
from mockagent.model import PlatformKey
from mockagent.runs import (
    DEFAULT_APPROVAL_TTL,
    Conversation,
    Decision,
    PauseStyle,
    Run,
    chat_decision,
)
from mockagent.scenarios.model import Agent, ScenarioSet
from mockagent.store import STORE_LIMIT, Bounded


class Engine:
    """Owns the clock, the loaded scenarios, and every run and conversation."""

    def __init__(
        self,
        scenarios: ScenarioSet,
        clock: Clock,
        *,
        approval_ttl: float = DEFAULT_APPROVAL_TTL,
        fault_rules: tuple[FaultRule, ...] = (),
        chaos: float = 0.0,
        chaos_seed: int = 0,
        store_limit: int = STORE_LIMIT,
    ) -> None:
        self.scenarios = scenarios
        self.clock = clock
        self.approval_ttl = approval_ttl
        self.fault_rules = fault_rules  # server-wide (CLI flags), after the agent's own
        self.fault_state = FaultState()
        self.chaos = chaos
        self._chaos_rng = random.Random(chaos_seed)
        self.journal = Journal()
        self.store_limit = store_limit  # runs, conversations, and each platform's own records
        self._runs: Bounded[str, Run] = Bounded(store_limit)
        self._conversations: Bounded[tuple[PlatformKey, str], Conversation] = Bounded(store_limit, _forget)
        self._counter = 0
        self.in_flight = 0  # requests being answered now (streams included), kept by the app

    @property
    def runs_started(self) -> int:
        return self._counter

    # ── look-ups ─────────────────────────────────────────────────────────────────────────────────

    def agent(self, platform: PlatformKey, agent_id: str) -> Agent | None:
        return self.scenarios.agent(platform, agent_id)

    def run(self, run_id: str) -> Run | None:
        return self._runs.get(run_id)

    def runs(self, platform: PlatformKey | None = None) -> list[Run]:
        return [r for r in self._runs.values() if platform is None or r.conversation.platform is platform]

    def conversation(self, platform: PlatformKey, conversation_id: str) -> Conversation | None:
        return self._conversations.get((platform, conversation_id))

    # ── faults ───────────────────────────────────────────────────────────────────────────────────

    def may_fault(self, agent: Agent | None) -> bool:
        """Whether any rule or chaos could fault a request to `agent` (most servers have none)."""
        return bool(self.fault_rules or self.chaos or (agent is not None and agent.faults))

    def choose_fault(
        self,
        platform: PlatformKey,
        agent: Agent | None,
        *,
        forced: Fault | None,
        conversation_id: str | None,
        credential: str,
    ) -> Fault | None:
        """The fault this request gets, if any: a forced one (the request header) first, then the
        agent's rules, then the server's, then chaos. Every counted rule counts this call."""
        if forced is not None:
            return forced
        if not self.may_fault(agent):
            return None
        scopes = {
            Per.CONVERSATION: f"{platform}:c:{conversation_id}" if conversation_id else f"{platform}:k:{credential}",
            Per.CREDENTIAL: f"{platform}:k:{credential}",
            Per.AGENT: f"{platform}:a:{agent.id if agent else ''}",
        }
        now = self.clock.now()
        speed = getattr(self.clock, "speed", 1.0)
        rules = [(f"{agent.id}#{i}", rule) for i, rule in enumerate(agent.faults)] if agent else []
        rules += [(f"*#{i}", rule) for i, rule in enumerate(self.fault_rules)]
        # A conversation the client names already had its first call (the one that created it).
        known = self._conversations.get((platform, conversation_id)) if conversation_id else None
        prior = len(known.runs) if known else 0
        for rule_id, rule in rules:
            earlier = prior if rule.per is Per.CONVERSATION else 0
            fault = self.fault_state.decide(rule, rule_id, scopes[rule.per], now, speed, earlier)
            if fault is not None and not fault.is_empty:
                return fault
        if self.chaos and self._chaos_rng.random() < self.chaos:
            return self._chaos_rng.choice(CHAOS_CATALOGUE)
        return None

    # ── starting runs ────────────────────────────────────────────────────────────────────────────

    def open_conversation(
        self, platform: PlatformKey, agent: Agent, conversation_id: str | None = None
    ) -> Conversation:
        """The conversation with this id, created if new (a fresh UUID when no id is given)."""
        conversation_id = conversation_id or uuid4()
        key = (platform, conversation_id)
        found = self._conversations.get(key)
        if found is not None:
            return found
        conversation = Conversation(
            id=conversation_id, platform=platform, agent_id=agent.id, created_at=self.clock.now()
        )
        self._conversations[key] = conversation
        return conversation

    def start_run(
        self,
        agent: Agent,
        message: str,
        conversation: Conversation,
        *,
        pause_style: PauseStyle,
        run_id: str | None = None,
        variables: Mapping[str, Any] | None = None,
        require_approval: Collection[str] = (),
    ) -> Run:
        """Start a turn: pick the agent's reply for this message and lay out its timeline.

        `require_approval` names tools whose calls pause for approval even where the script does not
        say so (Zeus's per-request tool_interrupt_config).
        """
        self._counter += 1
        turn = len(conversation.runs) + 1
        run = Run(
            run_id=run_id or uuid4(),
            agent=agent,
            conversation=conversation,
            message=message,
            clock=self.clock,
            pause_style=pause_style,
            approval_ttl=self.approval_ttl,
            variables={
                "message": message,
                "answer": conversation.variables.get("answer", ""),
                "turn": turn,
                "conversation_id": conversation.id,
                "agent_id": agent.id,
                "platform": conversation.platform.value,
                **(variables or {}),
            },
            seed=f"{agent.pace.seed}:{agent.id}:{self._counter}",
            require_approval=frozenset(require_approval),
        )
        conversation.runs.append(run)
        self._runs[run.id] = run
        pending, conversation.pending = conversation.pending, None
        if pending is not None:
            # The previous turn asked in text; this message is the answer.
            decision = chat_decision(pending, message)
            answer = message if decision is Decision.ANSWER else decision.value
            run.variables["answer"] = conversation.variables["answer"] = answer
            run.continue_from(pending, decision)
        else:
            run.start(agent.script_for(message, turn))
        return run


def _forget(conversation: Conversation) -> None:
    # A conversation and its runs point at each other; cutting the link lets reference counting free
    # them as soon as the run store forgets the runs too, without waiting for a full garbage collection.
    conversation.runs.clear()
