"""Scenario states, as the loaded scenarios name them: the values replies set (`then: {state: …}`), the
values a file declares (`states:`), and the load check that no `when` waits for a value nothing sets.

The check needs every file at once (one file's reply may set what another's requires), so it runs on the
combined `ScenarioSet`."""

from __future__ import annotations

from collections.abc import Iterator

from mockagent.errors import ScenarioError, SourcePosition
from mockagent.scenarios import conditions
from mockagent.scenarios.conditions import INITIAL_STATE, Equals, OneOf
from mockagent.scenarios.model import ScenarioSet


def values_set(scenarios: ScenarioSet) -> dict[str, set[str]]:
    """Each state's possible values: its initial one, those a reply, a sequence item or a raw stub sets,
    and those declared under `states:`."""
    found: dict[str, set[str]] = {}
    for agent in scenarios.agents.values():
        for reply in agent.replies:
            for changes in (reply.sets, *(item.sets for item in reply.sequence)):
                for name, value in changes:
                    found.setdefault(name, {INITIAL_STATE}).add(value)
    for stub in scenarios.stubs:
        for name, value in stub.sets:
            found.setdefault(name, {INITIAL_STATE}).add(value)
    for name, values in scenarios.states.items():
        found.setdefault(name, {INITIAL_STATE}).update(values)
    return found


def problems(scenarios: ScenarioSet) -> list[ScenarioError]:
    """Each `when` that requires a state to equal a value it can never have, at the place it names the
    state: most likely a typo in the state or its value."""
    possible = values_set(scenarios)
    found = []
    for name, expected, ignore_case, where in _required(scenarios):
        values = possible.get(name, {INITIAL_STATE})
        if any(Equals(expected, ignore_case).passes(value, {}) for value in values):
            continue
        if name in possible:
            known = ", ".join(repr(value) for value in sorted(values))
            reason = f"state {name!r} is never set to {expected!r} by any reply (values set: {known})"
        else:
            reason = f"state {name!r} is never set by any reply (it stays {INITIAL_STATE!r})"
        found.append(ScenarioError(where, f"{reason}; values set from outside are declared under 'states:'"))
    return found


def _required(scenarios: ScenarioSet) -> Iterator[tuple[str, object, bool, SourcePosition]]:
    """(state, a value a `when` compares it to, ignoring case?, where) for every equals and one_of test of
    a state, under `not` and `any` too — in replies and in raw stubs."""
    whens = [reply.when for agent in scenarios.agents.values() for reply in agent.replies]
    whens += [stub.when for stub in scenarios.stubs]
    for when in whens:
        for check in conditions.checks(when) if when is not None else ():
            subject, test = check.subject, check.test
            if not isinstance(subject, conditions.State) or subject.source is None:
                continue
            if isinstance(test, Equals):
                yield subject.name, test.expected, test.ignore_case, subject.source
            elif isinstance(test, OneOf):
                for option in test.expected:
                    yield subject.name, option, test.ignore_case, subject.source
