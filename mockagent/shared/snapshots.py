"""A session's objects as bytes in Redis, and back: runs, conversations, a platform's records, the session's
own counters. Each is one pickle; what it points at that has a home of its own is written as a reference
(another run, a conversation, the session, its clock, an agent or reply of the loaded scenarios), so that
each object is written alone and read back pointing at this process's copies of the rest.

Only mockagent's own types (and a few of the standard library's) are read back: a pickle can name any
callable, and Redis is a store that other programs may write to.
"""

from __future__ import annotations

import copyreg
import dataclasses
import enum
import io
import itertools
import pickle
from collections.abc import Callable
from types import MappingProxyType
from typing import Any

from mockagent.clock import RealClock
from mockagent.model import PlatformKey
from mockagent.platforms.beeos.files import Uploads
from mockagent.runs import Conversation, Run
from mockagent.scenarios.model import Agent, Reply, ScenarioSet
from mockagent.sessions import Session

# What a snapshot may name, exactly (module, qualified name): the standard library's few …
_STANDARD = {
    ("builtins", "dict"),
    ("builtins", "frozenset"),
    ("builtins", "set"),
    ("collections", "OrderedDict"),
    ("collections", "deque"),
    ("array", "_array_reconstructor"),
    ("array", "array"),
    ("datetime", "datetime"),
    ("datetime", "timezone"),
    ("datetime", "timedelta"),
    ("random", "Random"),
    ("itertools", "count"),
}
# … and mockagent's own classes: those whose making only stores what it is given (dataclasses, enums, named
# tuples), and these, whose state is set as data. No function, module or other class: a pickle can call what
# it names, and Redis is a store other programs may write to.
_OWN = frozenset(
    {
        "mockagent.runs.Run",
        "mockagent.timeline.Timeline",
        "mockagent.timeline.Said",
        "mockagent.store.Bounded",
        "mockagent.variables.Variables",
        "mockagent.variables.Headers",
        "mockagent.templating.JsonTemplate",
        "mockagent.templating._Items",
        "mockagent.templating._rebuilt",  # a Template, compiled again from its text
        "mockagent.platforms.beeos.records.BeeOSRecords",
        "mockagent.platforms.beeos.files.Uploads",
        "mockagent.platforms.agentos.records.AgentOSRecords",
        "mockagent.platforms.agentos.approvals.Approvals",
        "mockagent.platforms.agentos.ingest.IngestRecords",
        "mockagent.platforms.xpander.records.XpanderRecords",
        "mockagent.replay.replayer.ReplayRecords",
    }
)


#: The types a snapshot names rather than holds (each has a home of its own), by the reference's kind.
_REFERENCED: dict[type, str] = {
    Run: "run",
    Conversation: "conversation",
    Session: "session",
    Agent: "agent",
    Reply: "reply",
    RealClock: "clock",
    Uploads: "uploads",  # the bytes of uploaded files stay in the process that took them
}


class SnapshotError(Exception):
    """A snapshot that cannot be read here (another scenario set, a type this process does not know)."""


class Shells:
    """The runs and conversations a batch of snapshots points at, found here or made empty to be filled."""

    def __init__(self, session: Session) -> None:
        self.session = session
        self.made: dict[tuple[str, ...], object] = {}

    def run(self, run_id: str) -> Run:
        found = self.session.runs.get(run_id)
        if found is None:
            key = ("run", run_id)
            found = self.made.get(key)  # type: ignore[assignment]
            if found is None:
                found = Run.__new__(Run)
                found._waiters = None
                self.made[key] = found
        return found

    def uploads(self) -> Uploads:
        """This process's uploads of the session (the BeeOS records' it has), or new ones."""
        for _, records in self.session.record_kinds():
            found = getattr(records, "uploads", None)
            if isinstance(found, Uploads):
                return found
        return Uploads(self.session.scratch)

    def conversation(self, platform: str, conversation_id: str) -> Conversation:
        found = self.session.conversations.get((PlatformKey(platform), conversation_id))
        if found is None:
            key = ("conversation", platform, conversation_id)
            found = self.made.get(key)  # type: ignore[assignment]
            if found is None:
                found = Conversation(conversation_id, PlatformKey(platform), "", 0.0)
                self.made[key] = found
        return found


def dump(root: object, session: Session) -> bytes:
    """`root` as a snapshot of its own: other runs and conversations it reaches become references."""
    buffer = io.BytesIO()
    _Pickler(buffer, root, session).dump(root)
    return buffer.getvalue()


def load(data: bytes, shells: Shells, scenarios: Callable[[], ScenarioSet]) -> Any:
    try:
        return _Unpickler(io.BytesIO(data), shells, scenarios).load()
    except (pickle.UnpicklingError, AttributeError, EOFError, ImportError, IndexError, KeyError, TypeError) as err:
        raise SnapshotError(str(err)) from None


# By exact type, looked up by the pickler itself: a hook called for every object would cost a call each.
_REDUCERS: dict[type, Callable[[Any], Any]] = {
    **copyreg.dispatch_table,
    # Pickling a count is deprecated: it is rebuilt from where it stands.
    itertools.count: lambda count: (itertools.count, (int(repr(count)[len("count(") : -1]),)),
    # A read-only view (no groups, no parameters): read back a copy.
    MappingProxyType: lambda view: (dict, (dict(view),)),
}


class _Pickler(pickle.Pickler):
    def __init__(self, file: io.BytesIO, root: object, session: Session) -> None:
        self.dispatch_table = _REDUCERS  # read as the pickler is made
        super().__init__(file, protocol=pickle.HIGHEST_PROTOCOL)
        self._root = root
        self._session = session

    def persistent_id(self, obj: Any) -> Any:
        # Called for every object of the snapshot: one lookup by exact type for the many that are plain.
        name = _REFERENCED.get(type(obj))
        if name is None:
            return ("clock",) if obj is self._session.clock else None
        if obj is self._root:
            return None
        match obj:
            case Run():
                return ("run", obj.id)
            case Conversation():
                return ("conversation", obj.platform.value, obj.id)
            case Agent():
                return ("agent", obj.id)
            case Reply():
                return ("reply", obj.key)
        return (name,)


class _Unpickler(pickle.Unpickler):
    def __init__(self, file: io.BytesIO, shells: Shells, scenarios: Callable[[], ScenarioSet]) -> None:
        super().__init__(file)
        self._shells = shells
        self._scenarios = scenarios

    def find_class(self, module: str, name: str) -> Any:
        if (module, name) in _STANDARD:
            return super().find_class(module, name)
        if module.startswith("mockagent.") and "." not in name:
            found = super().find_class(module, name)
            if f"{module}.{name}" in _OWN or _plain_data(found, module, name):
                return found
        raise pickle.UnpicklingError(f"a snapshot may not name {module}.{name}")

    def persistent_load(self, pid: Any) -> Any:
        match pid:
            case ("run", str(run_id)):
                return self._shells.run(run_id)
            case ("conversation", str(platform), str(conversation_id)):
                return self._shells.conversation(platform, conversation_id)
            case ("session",):
                return self._shells.session
            case ("clock",):
                return self._shells.session.clock
            case ("uploads",):
                return self._shells.uploads()
            case ("agent", str(agent_id)):
                agent = self._scenarios().agents.get(agent_id)
                if agent is None:
                    raise KeyError(f"agent {agent_id!r} is not loaded in this process")
                return agent
            case ("reply", str(key)):
                for agent in self._scenarios().agents.values():
                    for reply in agent.replies:
                        if reply.key == key:
                            return reply
                raise KeyError(f"the reply {key!r} is not loaded in this process")
        raise pickle.UnpicklingError(f"unknown reference {pid!r}")


def _plain_data(found: object, module: str, name: str) -> bool:
    """A class of mockagent's own (not one it imports) that only stores what it is made with."""
    if not isinstance(found, type) or found.__module__ != module or found.__qualname__ != name:
        return False
    is_named_tuple = issubclass(found, tuple) and hasattr(found, "_fields")
    return dataclasses.is_dataclass(found) or issubclass(found, enum.Enum) or is_named_tuple
