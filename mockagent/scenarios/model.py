"""What a loaded scenario set is: agents with scripts, and the credentials each platform accepts."""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from enum import StrEnum
from functools import cached_property
from typing import NamedTuple

from mockagent.errors import ScenarioError, ScenarioErrors, SourcePosition
from mockagent.faults import Fault, FaultRule
from mockagent.model import Pace, PlatformKey, Step
from mockagent.scenarios.conditions import Condition
from mockagent.scenarios.stubs import Stub, StubTable

#: CHOSEN (as WireMock): a reply without `priority` has 5; lower numbers are tried first.
DEFAULT_PRIORITY = 5


#: States a reply (or a sequence item) sets when it answers: (name, value) pairs, in the order written.
StateChanges = tuple[tuple[str, str], ...]


class Exhausted(StrEnum):
    """What a sequence answers once each of its items was used (docs/scenarios.md#sequences)."""

    REPEAT_LAST = "repeat_last"
    CYCLE = "cycle"
    ERROR = "error"


@dataclass(frozen=True)
class Answer:
    """One item of a reply's sequence: a script to play (its stream broken by `fault`, if one is given),
    or a status fault answered in its place (`script` empty)."""

    script: tuple[Step, ...] = ()
    fault: Fault | None = None
    sets: StateChanges = ()
    source: SourcePosition | None = None


@dataclass(frozen=True)
class Reply:
    script: tuple[Step, ...]
    when: Condition | None = None  # None: any request
    source: SourcePosition | None = None  # where the reply is declared
    priority: int = DEFAULT_PRIORITY
    key: str = ""  # what its matches are counted under in a session (where it is declared)
    sequence: tuple[Answer, ...] = ()  # answers call by call in place of `script`
    exhausted: Exhausted = Exhausted.REPEAT_LAST
    sets: StateChanges = ()  # `then: {state: …}`

    def describe(self) -> str:
        return f"the reply at {self.source}" if self.source is not None else "a reply"

    def item_index(self, calls: int) -> int | None:
        """Which item of the sequence answers after `calls` earlier calls (None: it is used up)."""
        count = len(self.sequence)
        if calls < count:
            return calls
        if self.exhausted is Exhausted.CYCLE:
            return calls % count
        if self.exhausted is Exhausted.REPEAT_LAST:
            return count - 1
        return None

    def answer(self, calls: int) -> Answer | None:
        """The sequence item that answers after `calls` earlier calls of this reply in a session; None when
        the sequence is used up and `exhausted` is `error`. Only for a reply with a sequence."""
        index = self.item_index(calls)
        return self.sequence[index] if index is not None else None


class Match(NamedTuple):
    """The reply that answers a request, and the named groups its regexes captured."""

    reply: Reply
    groups: Mapping[str, str]


@dataclass(frozen=True)
class NearMiss:
    """A reply that did not match, and why."""

    reply: Reply
    failed: tuple[str, ...]


@dataclass(frozen=True)
class Unmatched:
    """No reply of the agent answers this request: the nearest candidates, each with what failed."""

    agent_id: str
    nearest: tuple[NearMiss, ...]

    def explain(self) -> str:
        reasons = "; ".join(
            f"{miss.reply.describe()} did not match ({', '.join(miss.failed)})" for miss in self.nearest
        )
        return f"agent {self.agent_id!r} has no reply for this request: {reasons}"


@dataclass(frozen=True)
class Llm:
    """The model an agent is configured with (xpander echoes it in its task objects)."""

    provider: str = "openai"
    model: str = "gpt-5"
    reasoning_effort: str = "medium"


@dataclass(frozen=True)
class Agent:
    id: str
    replies: tuple[Reply, ...]
    source: SourcePosition
    aster_id: int | None = None
    name: str = ""
    description: str = ""
    platforms: frozenset[PlatformKey] | None = None  # None: served on every platform
    pace: Pace = field(default_factory=Pace)
    llm: Llm = field(default_factory=Llm)
    faults: tuple[FaultRule, ...] = ()

    def serves(self, platform: PlatformKey) -> bool:
        return self.platforms is None or platform in self.platforms


@dataclass(frozen=True)
class Credential:
    key: str
    agent: str | None = None  # an agent-scoped key (AgentOS aos_agent_…) may use only this agent


@dataclass(frozen=True)
class ScenarioSet:
    """Everything the loaded files declare. Immutable: a reload builds a new one and swaps it in."""

    agents: Mapping[str, Agent] = field(default_factory=dict)
    aster_ids: Mapping[int, Agent] = field(default_factory=dict)
    # Per platform, the accepted credentials; a platform absent here accepts any well-formed one.
    credentials: Mapping[PlatformKey, Mapping[str, Credential]] = field(default_factory=dict)
    files: tuple[str, ...] = ()
    # The values each scenario state is declared to take from outside (`states:`: the admin API, tests).
    states: Mapping[str, frozenset[str]] = field(default_factory=dict)
    stubs: tuple[Stub, ...] = ()  # raw stubs (docs/scenarios.md#raw-stubs), in file order

    @cached_property
    def stub_table(self) -> StubTable:
        return StubTable(self.stubs)

    def agent(self, platform: PlatformKey, agent_id: str) -> Agent | None:
        agent = self.agents.get(agent_id)
        return agent if agent is not None and agent.serves(platform) else None

    @classmethod
    def combine(cls, parts: Iterable[ScenarioSet]) -> ScenarioSet:
        """Merge sets loaded from several files; an agent id or Aster id declared twice, or two stubs that
        answer the same requests, is an error (each one is reported, in one `ScenarioErrors`)."""
        agents: dict[str, Agent] = {}
        aster_ids: dict[int, Agent] = {}
        credentials: dict[PlatformKey, dict[str, Credential]] = {}
        files: list[str] = []
        stubs: dict[tuple[object, ...], Stub] = {}
        states: dict[str, frozenset[str]] = {}
        twice: list[ScenarioError] = []
        for part in parts:
            files.extend(part.files)
            for name, values in part.states.items():
                states[name] = states.get(name, frozenset()) | values
            for stub in part.stubs:
                same = (stub.platform, stub.method, stub.path.shape, str(stub.when) if stub.when else None)
                if (first := stubs.get(same)) is not None:
                    message = f"this stub answers the same requests as {first.describe()}: give it another 'when'"
                    twice.append(ScenarioError(stub.source, message))
                    continue
                stubs[same] = stub
            for agent in part.agents.values():
                if (twin := agents.get(agent.id)) is not None:
                    message = f"agent {agent.id!r} is already declared at {twin.source}"
                    twice.append(ScenarioError(agent.source, message))
                    continue
                if agent.aster_id is not None and (twin := aster_ids.get(agent.aster_id)) is not None:
                    twice.append(
                        ScenarioError(
                            agent.source,
                            f"aster_id {agent.aster_id} of agent {agent.id!r} is already used by "
                            f"agent {twin.id!r} at {twin.source}",
                        )
                    )
                    continue
                agents[agent.id] = agent
                if agent.aster_id is not None:
                    aster_ids[agent.aster_id] = agent
            for platform, keys in part.credentials.items():
                credentials.setdefault(platform, {}).update(keys)
        if twice:
            raise ScenarioErrors(twice)
        return cls(
            agents=agents,
            aster_ids=aster_ids,
            credentials=credentials,
            files=tuple(files),
            states=states,
            stubs=tuple(stubs.values()),
        )
