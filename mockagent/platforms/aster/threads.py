"""Aster threads: who asked what in each turn, and the conversation as getConversation shows it."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from mockagent.model import TextDelta, ToolCalled
from mockagent.runs import Run
from mockagent.scenarios.model import Agent


@dataclass(frozen=True)
class Caller:
    user_id: str
    org_id: str
    agent: str | None  # a scenario credential may be limited to one agent


@dataclass(frozen=True)
class Thread:
    """What the thread's first turn said of it (the record of its conversation)."""

    caller: Caller
    agent_id: int
    title: str


@dataclass(frozen=True)
class Turn:
    """What Aster remembers of one turn (the record of its run)."""

    user_message: dict[str, Any] | None
    assistant_id: str
    timezone: str
    carried_call: ToolCalled | None  # the approved call of the previous turn, shown again with its output


def transcript(run: Run) -> list[dict[str, Any]]:
    """The run's user message, then its assistant message once it has text (CHOSEN: text parts only,
    one per `say` block, as the blocking forms of every platform show only the agent's text)."""
    turn = run.record_of(Turn)
    blocks: dict[int, str] = {}
    for timed in run.visible():
        if isinstance(timed.event, TextDelta):
            blocks[timed.event.block] = blocks.get(timed.event.block, "") + timed.event.text
    messages = [turn.user_message] if turn.user_message is not None else []
    if blocks:
        parts = [{"type": "text", "text": text} for text in blocks.values()]
        messages.append({"id": turn.assistant_id, "role": "assistant", "parts": parts})
    return messages


def title(user_message: dict[str, Any] | None) -> str:
    parts = user_message["parts"] if user_message else []
    text = "".join(p["text"] for p in parts if p["type"] == "text")
    text = " ".join(text.split())
    return text[:60] if text else "New conversation"


def system_prompt(agent: Agent | None, timezone: str) -> str:
    if agent is None:  # the scenarios were reloaded without this thread's agent
        return f"Current timezone: {timezone}"
    about = agent.description or f"You are {agent.name or agent.id}."
    return f"{about}\nCurrent timezone: {timezone}"
