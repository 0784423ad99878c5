"""The ingest API: runs that a customer's own code executes and reports, kept for inspection.

Nothing here plays a script: the client says what happened and the mock remembers it, so a test can
read back (through /__mockagent/agentos/ingest/…) exactly what its instrumented agent reported.
"""

from __future__ import annotations

import uuid
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from typing import Any, TypeVar

from aiohttp import web

from mockagent.platforms.agentos.auth import Key, authenticate
from mockagent.platforms.agentos.wire import (
    CancelBody,
    CompleteBody,
    EventsBody,
    FailBody,
    RunRef,
    RunStartBody,
    TaskBody,
    ok,
)
from mockagent.platforms.base import ApiError, ErrorKind, Platform, Route, json_response, validate
from mockagent.store import Bounded

R = TypeVar("R", bound=RunRef)
_OK = {"ok": True}
_USAGE_KEYS = ("input_tokens", "output_tokens", "cache_read_tokens", "cache_creation_tokens")


@dataclass
class IngestRun:
    id: str
    agent_id: str
    trigger_type: str
    input: dict[str, Any]
    external_run_id: str | None
    parent_run_id: str | None
    started_at: float
    status: str = "running"  # running | completed | failed | cancelled
    ended_at: float | None = None
    output: dict[str, Any] | None = None
    error: dict[str, Any] | None = None
    cancel_reason: str | None = None
    usage: dict[str, int] = field(default_factory=dict)
    events: list[dict[str, Any]] = field(default_factory=list)
    tasks: dict[str, dict[str, Any]] = field(default_factory=dict)

    def end(self, status: str, at: float) -> bool:
        """Move to a terminal status; False when it is already there (a retried call, CHOSEN: fine)."""
        if self.status == status:
            return False
        if self.status != "running":
            raise ApiError(ErrorKind.CONFLICT, f"Run {self.id} is already {self.status}; it cannot become {status}.")
        self.status, self.ended_at = status, at
        return True


class Ingest:
    """The ingest endpoints and everything reported through them."""

    def __init__(self, platform: Platform) -> None:
        self.platform = platform
        self.runs: Bounded[str, IngestRun] = Bounded(platform.engine.store_limit)
        self._external: Bounded[tuple[str, str], str] = Bounded(platform.engine.store_limit)

    def routes(self) -> Iterable[Route]:
        base = "/api/ingest/v1"
        return [
            Route("POST", f"{base}/run/start", self.on_run_start),
            Route("POST", f"{base}/events", self.on_events),
            Route("POST", f"{base}/run/complete", self.on_run_complete),
            Route("POST", f"{base}/run/fail", self.on_run_fail),
            Route("POST", f"{base}/run/cancel", self.on_run_cancel),
            Route("POST", f"{base}/tasks", self.on_tasks),
        ]

    def admin_routes(self) -> Iterable[Route]:
        return [
            Route("GET", "/ingest/runs", self.on_admin_runs),
            Route("GET", "/ingest/runs/{runId}", self.on_admin_run),
        ]

    # ── handlers ─────────────────────────────────────────────────────────────────────────────────

    async def on_run_start(self, request: web.Request) -> web.Response:
        key = authenticate(self.platform, request)
        body = validate(RunStartBody, await self.platform.read_json(request))
        key.require_agent(body.agent_id)
        if body.external_run_id is not None:
            known = self._external.get((body.agent_id, body.external_run_id))
            if known is not None:
                return ok({"run_id": known})
        run = IngestRun(
            id=str(uuid.uuid4()),
            agent_id=body.agent_id,
            trigger_type=body.trigger_type,
            input=body.input,
            external_run_id=body.external_run_id,
            parent_run_id=body.parent_run_id,
            started_at=self._now(),
        )
        self.runs[run.id] = run
        if body.external_run_id is not None:
            self._external[(body.agent_id, body.external_run_id)] = run.id
        return ok({"run_id": run.id})

    async def on_events(self, request: web.Request) -> web.Response:
        body, run = await self._read(request, EventsBody)
        received = self.platform.timestamp(self._now())
        run.events.extend({**event.model_dump(), "received_at": received} for event in body.events)
        return ok(_OK)

    async def on_run_complete(self, request: web.Request) -> web.Response:
        body, run = await self._read(request, CompleteBody)
        if run.end("completed", self._now()):
            run.output = body.output
            run.usage = {k: v for k in _USAGE_KEYS if (v := getattr(body, k)) is not None}
        return ok(_OK)

    async def on_run_fail(self, request: web.Request) -> web.Response:
        body, run = await self._read(request, FailBody)
        if run.end("failed", self._now()):
            run.error = {"message": body.error_message, "detail": body.error_detail}
        return ok(_OK)

    async def on_run_cancel(self, request: web.Request) -> web.Response:
        body, run = await self._read(request, CancelBody)
        if run.end("cancelled", self._now()):
            run.cancel_reason = body.reason
        return ok(_OK)

    async def on_tasks(self, request: web.Request) -> web.Response:
        body, run = await self._read(request, TaskBody)
        report = body.task.model_dump(exclude_none=True)
        now = self.platform.timestamp(self._now())
        task = run.tasks.setdefault(body.task.id, {"created_at": now, "history": []})
        # A later report updates the task (the docs: "call again with a terminal status").
        task.update(report, updated_at=now)
        task["history"].append({"status": body.task.status, "at": now})
        return ok(_OK)

    async def on_admin_runs(self, request: web.Request) -> web.Response:
        return json_response([self.view(run) for run in self.runs.values()])

    async def on_admin_run(self, request: web.Request) -> web.Response:
        run = self.runs.get(request.match_info["runId"])
        if run is None:
            raise ApiError(ErrorKind.NOT_FOUND, f"no ingest run {request.match_info['runId']!r}")
        return json_response(self.view(run))

    # ── helpers ──────────────────────────────────────────────────────────────────────────────────

    def view(self, run: IngestRun) -> dict[str, Any]:
        stamp: Callable[[float | None], str | None] = self.platform.timestamp
        return {
            "run_id": run.id,
            "agent_id": run.agent_id,
            "trigger_type": run.trigger_type,
            "input": run.input,
            "external_run_id": run.external_run_id,
            "parent_run_id": run.parent_run_id,
            "status": run.status,
            "started_at": stamp(run.started_at),
            "ended_at": stamp(run.ended_at),
            "output": run.output,
            "error": run.error,
            "cancel_reason": run.cancel_reason,
            "usage": run.usage,
            "events": run.events,
            "tasks": list(run.tasks.values()),
        }

    async def _read(self, request: web.Request, model: type[R]) -> tuple[R, IngestRun]:
        key: Key = authenticate(self.platform, request)
        body = validate(model, await self.platform.read_json(request))
        run = self.runs.get(body.run_id)
        if run is None:
            raise ApiError(ErrorKind.NOT_FOUND, f"Run {body.run_id} not found.")
        key.require_agent(run.agent_id)
        return body, run

    def _now(self) -> float:
        return self.platform.engine.clock.now()
