"""The xpander task object. A task is a thread (a conversation); what it shows is its latest execution (run),
read at a clock moment, so a poll, a sync reply and a stream frame of the same moment agree."""

from __future__ import annotations

import json
from dataclasses import dataclass
from typing import Any

from mockagent.clock import Clock
from mockagent.encoding import dumps
from mockagent.model import Paused, PauseKind
from mockagent.platforms.base import iso
from mockagent.platforms.xpander.models import OutputFormat, StreamBody, SyncBody
from mockagent.runs import Conversation, Run, RunStatus
from mockagent.scenarios.model import Agent

STATUS = {
    RunStatus.QUEUED: "pending",
    RunStatus.RUNNING: "executing",
    RunStatus.PAUSED: "paused",
    RunStatus.COMPLETED: "completed",
    RunStatus.FAILED: "failed",
    RunStatus.CANCELLED: "stopped",
    RunStatus.EXPIRED: "failed",  # an undecided approval counts as rejected
    RunStatus.TIMED_OUT: "error",
}
QUESTION_REJECTED = "The question was rejected."
APPROVAL_EXPIRED = "The approval expired."
TIMED_OUT = "The task timed out."


@dataclass
class TaskRequest:
    """What one invocation asked for, echoed by every view of its task (never the OIDC token); the record
    of its run."""

    input: dict[str, Any]
    output_format: OutputFormat
    think_mode: str
    instructions_override: str | None
    additional_context: str | None
    expected_output: str | None
    llm_model_provider: str
    llm_model_name: str
    llm_reasoning_effort: str
    rejected: bool = False  # a question refused through /hitl (the run was ended)

    @classmethod
    def of(cls, body: SyncBody | StreamBody, agent: Agent) -> TaskRequest:
        user = body.input.user
        return cls(
            input={
                "text": body.input.text,
                "files": body.input.files or [],
                "user": user.model_dump(exclude_unset=True) if user is not None else None,
            },
            output_format=body.output_format,
            think_mode=body.think_mode.value,
            instructions_override=body.instructions_override,
            additional_context=body.additional_context,
            expected_output=body.expected_output,
            llm_model_provider=body.llm_model_provider or agent.llm.provider,
            llm_model_name=body.llm_model_name or agent.llm.model,
            llm_reasoning_effort=(
                body.llm_reasoning_effort.value if body.llm_reasoning_effort else agent.llm.reasoning_effort
            ),
        )


def request_of(run: Run) -> TaskRequest:
    return run.record_of(TaskRequest)


def status_of(run: Run, now: float) -> str:
    status = run.status(now)
    if status is RunStatus.CANCELLED and request_of(run).rejected:
        return "failed"
    return STATUS[status]


def format_result(text: str, output_format: OutputFormat) -> str:
    """CHOSEN: with output_format json, text that is not JSON already is wrapped as {"result": text}."""
    if output_format is not OutputFormat.JSON:
        return text
    try:
        json.loads(text)
    except ValueError:
        return dumps({"result": text})
    return text


def _result(run: Run, now: float) -> str | None:
    status = run.status(now)
    if status is RunStatus.COMPLETED:
        return format_result(run.text(now), request_of(run).output_format)
    if status is RunStatus.FAILED:
        failure = run.failure(now)
        return failure.message if failure else None
    if status is RunStatus.EXPIRED:
        return APPROVAL_EXPIRED
    if status is RunStatus.TIMED_OUT:
        return TIMED_OUT
    if status is RunStatus.CANCELLED:
        return QUESTION_REJECTED if request_of(run).rejected else (run.text(now) or None)
    return None


def hitl_request(pause: Paused) -> dict[str, Any]:
    """CHOSEN: how a neutral pause fills xpander's HITL record."""
    call = pause.tool_call
    if pause.kind is PauseKind.APPROVAL and call is not None:
        wait_node, title = call.call_id, f"Approve {call.name}"
        content = dumps({"tool_name": call.name, "payload": call.args})
    else:
        wait_node, title = "question", "Input required"
        content = pause.question + (f"\nOptions: {', '.join(pause.options)}" if pause.options else "")
    return {
        "wait_node_id": wait_node,
        "operation_id": pause.request_id,
        "title": title,
        "description": pause.question,
        "content": content,
        "approved_by": None,
        "rejected_by": None,
    }


def _tokens(request: TaskRequest | None, completion: str) -> dict[str, int]:
    """CHOSEN: a finished task counts words as tokens (input text, and the text the agent wrote)."""
    prompt = len(request.input["text"].split()) if request is not None else 0
    written = len(completion.split())
    return {"completion_tokens": written, "prompt_tokens": prompt, "total_tokens": prompt + written}


class TaskView:
    """Renders tasks, thread messages and stream frames for one organization (CHOSEN: one per session, with
    an id fresh for each)."""

    def __init__(self, organization_id: str, clock: Clock) -> None:
        self.organization_id = organization_id
        self.clock = clock

    def stamp(self, at: float | None) -> str | None:
        return iso(self.clock, at)

    def task(self, run: Run, now: float, *, created: bool = False) -> dict[str, Any]:
        """The task at clock time `now`; `created`: the snapshot of its creation (pending, not started)."""
        request = request_of(run)
        status = "pending" if created else status_of(run, now)
        pause = run.pause(now)
        pauses = [t.at for t in run.visible(now) if isinstance(t.event, Paused)]
        paused_at = pauses[-1] if pauses and not created else None
        run_status = run.status(now)
        finished = run.moment(run_status) if run_status.is_terminal and not created else None
        result = None if created else _result(run, now)
        return {
            "id": run.conversation.id,
            "agent_id": run.conversation.agent_id,
            "organization_id": self.organization_id,
            "input": request.input,
            "status": status,
            "created_at": self.stamp(run.created_at),
            "started_at": None if status == "pending" or not _started(run, now) else self.stamp(run.started_at),
            "paused_at": self.stamp(paused_at),
            "finished_at": self.stamp(finished),
            "result": result,
            "hitl_request": hitl_request(pause) if pause is not None and not created else None,
            "source": "api",
            "output_format": request.output_format.value,
            "think_mode": request.think_mode,
            "instructions_override": request.instructions_override,
            "additional_context": request.additional_context,
            "expected_output": request.expected_output,
            "llm_model_provider": request.llm_model_provider,
            "llm_model_name": request.llm_model_name,
            "llm_reasoning_effort": request.llm_reasoning_effort,
            "tokens": _tokens(request, run.text(now)) if finished is not None else _tokens(None, ""),
        }

    def thread(self, conversation: Conversation, now: float) -> list[dict[str, Any]]:
        """Every turn's user message, and the assistant's text once that turn has ended."""
        messages: list[dict[str, Any]] = []
        for run in conversation.runs:
            messages.append({"role": "user", "content": run.message, "created_at": self.stamp(run.created_at)})
            status = run.status(now)
            text = run.text(now)
            if status.is_terminal and text:
                messages.append({"role": "assistant", "content": text, "created_at": self.stamp(run.moment(status))})
        return messages

    def frame(self, run: Run, kind: str, at: float, data: Any) -> dict[str, Any]:
        return {
            "type": kind,
            "task_id": run.conversation.id,
            "organization_id": self.organization_id,
            "time": self.stamp(at),
            "data": data,
        }


def _started(run: Run, now: float) -> bool:
    """Whether the run had started by `now` (one stopped while still pending never did)."""
    if now < run.started_at:
        return False
    status = run.status(now)
    ended = run.moment(status) if status.is_terminal else None
    return ended is None or ended >= run.started_at
