"""The engine: scenarios in, decisions and runs out.

One question decides every answer: `resolve(context)` → the scenario `Reply` that answers the request, or
`Unmatched` with the nearest candidates and why each failed. Runs are made by `start_turn`, in the
request's session; the engine itself keeps no per-client state.
"""

from __future__ import annotations

from collections.abc import Collection, Mapping
from dataclasses import replace
from types import MappingProxyType
from typing import Any

from mockagent import admission
from mockagent.context import RequestContext
from mockagent.errors import ApiError, ErrorKind
from mockagent.faultboard import Board, FaultBoard
from mockagent.faults import Fault, FaultRule
from mockagent.feed import Feed
from mockagent.holding import touch
from mockagent.ids import uuid4
from mockagent.journal import Decided
from mockagent.model import PlatformKey
from mockagent.runs import DEFAULT_APPROVAL_TTL, TURNS_KEPT, Conversation, Decision, PauseStyle, Run, chat_decision
from mockagent.scenarios.model import Agent, Answer, Match, NearMiss, Reply, ScenarioSet, StateChanges, Unmatched
from mockagent.scenarios.stubs import Candidates, StubMatch, StubMiss, StubsUnmatched
from mockagent.sessions import MemorySessions, Session, SessionStore
from mockagent.variables import played_by
from mockagent.variables import turn_variables as variables_of

#: How many near misses an unmatched request's explanation lists.
NEAREST = 3
_NO_GROUPS: Mapping[str, str] = MappingProxyType({})
_NO_TOOLS: frozenset[str] = frozenset()


class Engine:
    """The loaded scenarios, the server-wide fault settings, and the session store."""

    __slots__ = (
        "approval_ttl",
        "board",
        "fault_rules",
        "feed",
        "in_flight",
        "runs_started",
        "scenarios",
        "sessions",
    )

    def __init__(
        self,
        scenarios: ScenarioSet,
        sessions: SessionStore,
        *,
        approval_ttl: float = DEFAULT_APPROVAL_TTL,
        fault_rules: tuple[FaultRule, ...] = (),
        board: FaultBoard | None = None,
    ) -> None:
        self.scenarios = scenarios
        self.sessions = sessions
        self.approval_ttl = approval_ttl
        self.fault_rules = fault_rules  # server-wide (CLI flags), after the agent's own
        self.board = board if board is not None else Board()  # added over the admin API; chaos
        self.runs_started = 0  # in every session, for the collector
        self.in_flight = 0  # requests being answered now (streams included), kept by the app
        self.feed = Feed()

    @property
    def default_sessions(self) -> MemorySessions:
        """The in-memory store (the default), for what only it offers (its default session)."""
        if not isinstance(self.sessions, MemorySessions):
            raise TypeError("the session store is not in memory")
        return self.sessions

    def agent(self, platform: PlatformKey, agent_id: str) -> Agent | None:
        return self.scenarios.agent(platform, agent_id)

    async def reset_session(self, name: str) -> bool:
        """Forget everything session `name` holds (its unfinished runs are cancelled); False if it had none."""
        existed = await self.sessions.reset(name)
        self.feed.publish("session.reset", name, None, existed=existed)
        return existed

    # ── the one decision ─────────────────────────────────────────────────────────────────────────

    def resolve(self, context: RequestContext) -> Match | Unmatched:
        """The reply that answers this request: the agent's first reply (by priority, then file order)
        whose `when` holds — a reply without `when` holds for anything — or `Unmatched` naming the
        nearest replies and why."""
        agent = context.agent
        if agent is None:
            raise ValueError("resolve needs the request's agent")
        for reply in agent.replies:
            when = reply.when
            if when is None:
                return Match(reply, _NO_GROUPS)
            groups: dict[str, str] = {}
            if when.holds(context, reply.key, groups):
                return Match(reply, groups)
        # Only now, for the explanation: which conditions failed, with the values they saw.
        misses = [
            NearMiss(reply, tuple(reply.when.explain(context, reply.key))) for reply in agent.replies if reply.when
        ]
        misses.sort(key=lambda miss: len(miss.failed))
        return Unmatched(agent.id, tuple(misses[:NEAREST]))

    def resolve_stub(self, context: RequestContext, candidates: Candidates, path: str) -> StubMatch | StubsUnmatched:
        """The raw stub that answers this request — the first of `candidates` (the stubs whose method and path
        match, in the order tried: `StubTable.candidates`) whose `when` holds — or `StubsUnmatched` naming
        the nearest and why (`path`: below the platform's mount). The stub's path parameters are left on
        `context.params` (for its `when` and templates)."""
        for stub, params in candidates:
            context.params = params
            when = stub.when
            if when is None:
                return StubMatch(stub, params, _NO_GROUPS)
            groups: dict[str, str] = {}
            if when.holds(context, stub.key, groups):
                return StubMatch(stub, params, groups)
        misses = []
        for stub, params in candidates:
            if stub.when is not None:
                context.params = params
                misses.append(StubMiss(stub, tuple(stub.when.explain(context, stub.key))))
        misses.sort(key=lambda miss: len(miss.failed))
        return StubsUnmatched(context.method, path, tuple(misses[:NEAREST]))

    # ── starting runs ────────────────────────────────────────────────────────────────────────────

    def start_turn(
        self,
        context: RequestContext,
        conversation: Conversation,
        *,
        pause_style: PauseStyle,
        run_id: str | None = None,
        variables: Mapping[str, Any] | None = None,
        require_approval: Collection[str] = (),
        agent: Agent | None = None,
    ) -> Run:
        """Start a turn of the context's agent in `conversation`, with the reply `resolve` picks (or, when
        the conversation's last turn asked in text, with the rest of that script).

        An unmatched message is the platform's 404, explained. `require_approval` names tools whose calls
        pause for approval even where the script does not say so (Zeus's tool_interrupt_config); `agent`
        plays the context's agent with other settings (a BeeOS task's dispatch delay).
        """
        if context.agent is None or context.message is None:
            raise ValueError("a turn needs the request's agent and message")
        context.conversation = conversation
        pending = conversation.pending
        reply: Reply | None = None
        item: Answer | None = None  # the sequence item that answers, for a reply with a sequence
        groups = _NO_GROUPS
        if pending is None:
            outcome = self.resolve(context)
            if isinstance(outcome, Unmatched):
                _forget_if_new(context.session, conversation)  # not a turn
                context.explanation = outcome.explain()
                raise ApiError(ErrorKind.NOT_FOUND, context.explanation)
            reply, groups = outcome
            context.decided, context.source = Decided.REPLY, str(reply.source)
            if reply.sequence:
                item = _sequence_answer(context, conversation, reply)
        else:
            context.decided = Decided.CONTINUATION
        session = context.session
        self.runs_started += 1
        session.runs_started += 1
        session.counter += 1
        played = agent or context.agent
        conversation.turns += 1
        message = context.message
        turn_variables = variables_of(
            context,
            played,
            conversation,
            counter=session.counter,
            groups=groups,
            answer=conversation.variables.get("answer", ""),
            turn=conversation.turns,
        )
        turn_variables.update(variables or {})
        run = Run(
            run_id=run_id or uuid4(),
            agent=played,
            conversation=conversation,
            message=message,
            clock=session.clock,
            pause_style=pause_style,
            approval_ttl=self.approval_ttl,
            variables=turn_variables,
            seed=f"{played.pace.seed}:{played.id}:{session.runs_started}",
            require_approval=frozenset(require_approval) if require_approval else _NO_TOOLS,
            reply=reply,
        )
        played_by(turn_variables, run)
        try:
            if pending is not None:
                # The previous turn asked in text; this message is the answer.
                conversation.pending = None
                if pending.decided is not None:  # decided through the admin API: the message only carries on
                    decision, answer, approved = pending.decided
                    answer = answer if decision is Decision.ANSWER else decision.value
                    if approved is not None:
                        run.variables["approved_args"] = approved
                else:
                    decision = chat_decision(pending, message)
                    answer = message if decision is Decision.ANSWER else decision.value
                run.variables["answer"] = answer
                run.continue_from(pending, decision)
                conversation.variables["answer"] = answer
            else:
                assert reply is not None
                run.start(item.script if item is not None else reply.script)
        except ApiError:
            # A template of the script failed to render (the platform's 500): the turn did not happen,
            # and no run is left behind without the record its platform keeps beside it.
            conversation.pending = pending
            conversation.turns -= 1
            session.counter -= 1
            _forget_if_new(context.session, conversation)
            raise
        turns = conversation.runs
        turns.append(run)
        if len(turns) > TURNS_KEPT:
            del turns[0]
        session.runs[run.id] = run
        touch(run)
        if reply is not None:
            session.sequences[reply.key] = session.sequences.get(reply.key, 0) + 1
            if reply.sets:
                _set_states(session, reply.sets)
            if item is not None:
                _set_states(session, item.sets)
                if item.fault is not None:
                    context.fault = _breaking_stream(context.fault, item.fault)
        context.run = run
        self.feed.run_started(session.name, run)
        return run


def _forget_if_new(session: Session, conversation: Conversation) -> None:
    """A request that turned out to be no turn keeps no conversation it opened."""
    if conversation.turns == 0:
        session.conversations.pop((conversation.platform, conversation.id), None)


def _sequence_answer(context: RequestContext, conversation: Conversation, reply: Reply) -> Answer:
    """The item of `reply`'s sequence that answers this call of the session. A status fault answers here
    (the platform's error: no turn, but the item is used and its states set); a used-up sequence with
    `exhausted: error` is the platform's 404 and changes nothing (CHOSEN, docs/scenarios.md#sequences)."""
    session = context.session
    calls = session.sequences.get(reply.key, 0)
    answer = reply.answer(calls)
    context.decided, context.item = Decided.SEQUENCE, reply.item_index(calls)
    if answer is None:
        _forget_if_new(session, conversation)
        context.explanation = (
            f"the sequence at {reply.source} is used up: its {len(reply.sequence)} answers were given "
            "(exhausted: error)"
        )
        raise ApiError(ErrorKind.NOT_FOUND, context.explanation)
    if answer.fault is not None and answer.fault.status is not None:
        _forget_if_new(session, conversation)
        session.sequences[reply.key] = calls + 1
        _set_states(session, reply.sets)
        _set_states(session, answer.sets)
        context.fault = answer.fault  # the journal shows it
        raise admission.status_error(answer.fault.status, answer.fault.retry_after)
    return answer


def _set_states(session: Session, changes: StateChanges) -> None:
    for name, value in changes:
        session.states[name] = value


def _breaking_stream(current: Fault | None, added: Fault) -> Fault:
    """A sequence item's stream fault on the request's stream, in place of any stream fault admission
    gave it (whose latency is already served); the journal names both."""
    return added if current is None else replace(added, source=f"{current}; {added}")
