"""AgentOS conversations: the sessions hosted runs continue (`start_session`, then `session_id`), as the
control plane's `conversations.*` shows them.

A session is a mockagent `Conversation` whose record is a `HostedSession`; an invoke without a session
runs in a conversation of its own that no client can name, and is not listed.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from mockagent.clock import Clock
from mockagent.model import TextDelta
from mockagent.platforms.base import iso
from mockagent.runs import Conversation, Run


@dataclass(frozen=True)
class HostedSession:
    """What a session keeps beside its runs (the record of its Conversation)."""

    external_user_id: str | None = None  # recorded when the session starts, as AgentOS does


def hosted_session(conversation: Conversation | None) -> HostedSession | None:
    record = conversation.record if conversation is not None else None
    return record if isinstance(record, HostedSession) else None


def summary(conversation: Conversation, session: HostedSession, clock: Clock) -> dict[str, Any]:
    """A conversation as `conversations.list` shows it (`get` adds its messages)."""
    last = conversation.last
    return {
        "id": conversation.id,
        "session_id": conversation.id,
        "agent_id": conversation.agent_id,
        "external_user_id": session.external_user_id,
        "turn_count": conversation.turns,
        "last_run_id": last.id if last is not None else None,
        "created_at": iso(clock, conversation.created_at),
        "updated_at": iso(clock, _updated(conversation)),
    }


def detail(
    conversation: Conversation, session: HostedSession, clock: Clock, message_limit: int | None
) -> dict[str, Any]:
    """A conversation with its messages, the latest `message_limit` of them (all by default)."""
    found = [message for run in conversation.runs for message in _messages(run)]
    if message_limit is not None:
        found = found[-message_limit:]
    return {**summary(conversation, session, clock), "messages": found}


def _updated(conversation: Conversation) -> float:
    last = conversation.last
    if last is None:
        return conversation.created_at
    seen = last.visible()
    return max(last.created_at, seen[-1].at) if seen else last.created_at


def _messages(run: Run) -> list[dict[str, Any]]:
    """The turn's user message, then the agent's text once it has some (CHOSEN: text only; an answer
    given through `reply` resumes the run and is no message of its own)."""
    clock = run.clock
    messages = [{"role": "user", "content": run.message, "run_id": run.id, "created_at": iso(clock, run.created_at)}]
    said = [timed for timed in run.visible() if isinstance(timed.event, TextDelta)]
    if said:
        text = run.text()
        messages.append({"role": "assistant", "content": text, "run_id": run.id, "created_at": iso(clock, said[-1].at)})
    return messages
