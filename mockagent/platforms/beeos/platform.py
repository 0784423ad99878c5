"""BeeOS — `https://openapi.beeos.ai`: invoke (blocking or SSE), async tasks, and presigned files.

Invoke runs with PauseStyle.CHAT (the agent asks in text; the next message on the same context_id
answers); a task is a NATIVE run that pauses as input_required / auth_required. Every error is
`{"success": false, "error": {type, code, message, param?, request_id}}` with an X-Request-Id header.
Where the official beeos-sdk 0.8.0 and platforms.md disagree, the SDK wins (docs/platforms/beeos.md).
"""

from __future__ import annotations

import asyncio
import base64
import binascii
import functools
import hashlib
import itertools
import json
import os
import re
import secrets
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, replace
from typing import Any, ClassVar, Generic, TypeVar

from aiohttp import web

from mockagent.engine import Engine
from mockagent.errors import RunStateError
from mockagent.ids import uuid4_hex
from mockagent.model import Paused, PauseKind, PlatformKey, ReasoningDelta, TextDelta
from mockagent.platforms.base import (
    ApiError,
    ErrorKind,
    EventStream,
    MiB,
    Platform,
    Route,
    bearer,
    hang_up_cancels,
    is_jwt,
    json_response,
    read_body,
    validate,
)
from mockagent.platforms.beeos.models import (
    DEFAULT_TIMEOUT_MS,
    MAX_ID,
    TIMEOUT_CAP_MS,
    AttachmentRef,
    CancelBody,
    ContinueBody,
    CreateTaskBody,
    InvokeBody,
    PresignBody,
    TurnBody,
)
from mockagent.platforms.beeos.tasks import DELTA_TYPE, Json, Task, compact
from mockagent.runs import Conversation, Decision, PauseStyle, Run, RunStatus
from mockagent.scenarios.model import Agent
from mockagent.store import Bounded

API_KEY = re.compile(r"oag_[0-9a-fA-F]{64}")
TIMEOUT_MESSAGE = "agent invocation timed out"
STORAGE = "/storage/{fileId}"  # CHOSEN: where presigned upload/download URLs point (served by the mock)


@dataclass
class StoredFile:
    id: str
    owner: str
    filename: str
    content_type: str
    upload_signature: str
    download_signature: str
    data: bytes | None = None


@dataclass(frozen=True)
class Outcome:
    """How a settled invoke run reads on the wire."""

    text: str
    error: str | None = None
    code: str | None = None
    status_code: int | None = None


class BeeOS(Platform):
    key: ClassVar[PlatformKey] = PlatformKey.BEEOS
    title: ClassVar[str] = "BeeOS"
    real_base_url: ClassVar[str] = "https://openapi.beeos.ai"
    client_base_path: ClassVar[str] = ""
    body_limit: ClassVar[int] = MiB  # 413 payload_too_large above 1 MiB on invoke and tasks
    # The cap on timeout_ms: the effective window is min(timeout_ms or 120 s, this), in clock seconds.
    gateway_timeout: ClassVar[float] = TIMEOUT_CAP_MS / 1000
    task_dispatch: ClassVar[float] = 0.5  # CHOSEN: clock seconds a new task waits in `queued`
    upload_limit: ClassVar[int] = 32 * MiB  # CHOSEN: the largest PUT to an upload_url
    download_expires_in: ClassVar[int] = 86_400  # CHOSEN (not enforced)
    default_list_limit: ClassVar[int] = 20  # CHOSEN

    def __init__(self, engine: Engine) -> None:
        super().__init__(engine)
        self._tasks: Bounded[str, Task] = Bounded(engine.store_limit)
        self._files: Bounded[str, StoredFile] = Bounded(engine.store_limit)
        # idempotency_key → what the first request started, per (caller, agent, key)
        self._invokes: Bounded[tuple[str, str, str], Run] = Bounded(engine.store_limit)
        self._task_keys: Bounded[tuple[str, str, str], Task] = Bounded(engine.store_limit)
        self._seq = itertools.count(1)

    def routes(self) -> Iterable[Route]:
        agent = "/api/v1/agents/{agentId}"
        task = agent + "/tasks/{taskId}"
        return [
            Route("POST", agent + "/invoke", self.invoke, "beeos-invoke"),
            Route("POST", agent + "/tasks", self.create_task, "beeos-create-task"),
            Route("GET", agent + "/tasks", self.list_agent_tasks, "beeos-list-tasks"),
            Route("GET", task, self.get_task, "beeos-get-task"),
            Route("POST", task + "/cancel", self.cancel_task, "beeos-cancel-task"),
            Route("POST", task + "/continue", self.continue_task, "beeos-continue-task"),
            Route("GET", task + "/events", self.task_events, "beeos-task-events"),
            Route("GET", task + "/messages", self.task_messages, "beeos-task-messages"),
            Route("GET", "/api/v1/tasks", self.list_user_tasks, "beeos-list-user-tasks"),
            Route("POST", "/api/v1/files/presign-upload", self.presign_upload, "beeos-presign-upload"),
            Route("GET", "/api/v1/files/{fileId}", self.get_file, "beeos-get-file"),
            Route("PUT", STORAGE, self.upload, "beeos-storage-put"),
            Route("GET", STORAGE, self.download, "beeos-storage-get"),
        ]

    # ── invoke ───────────────────────────────────────────────────────────────────────────────────

    async def invoke(self, request: web.Request) -> web.StreamResponse:
        turn = await self._admit_turn(request, InvokeBody)
        body, key = turn.body, turn.key
        run = self._invokes.get(key) if key else None
        if run is None:  # a repeated idempotency_key replays the first run instead of a new turn
            conversation = self._conversation(turn.agent, body.context_id)
            run = self.engine.start_run(turn.agent, body.message, conversation, pause_style=PauseStyle.CHAT)
            run.metadata.update(metadata=body.clean_metadata(), attachments=turn.attachments)
            if key:
                self._invokes[key] = run
        window = min((body.timeout_ms or DEFAULT_TIMEOUT_MS) / 1000, self.gateway_timeout)
        if "text/event-stream" in request.headers.get("Accept", ""):
            return await self._stream(request, run, window)
        return await self._blocking(run, window)

    async def _blocking(self, run: Run, window: float) -> web.Response:
        try:
            settled = await run.settled(timeout=window)
        except asyncio.CancelledError:
            run.cancel("client disconnected")
            raise
        if not settled:
            run.time_out(TIMEOUT_MESSAGE)
        outcome = _outcome(run)
        if outcome.status_code == 504:
            raise ApiError(ErrorKind.TIMEOUT, TIMEOUT_MESSAGE)
        # CHOSEN: a failed turn's text is the failure message (the blocking envelope has no error field).
        text = outcome.text if outcome.error is None else outcome.error
        return _ok({"text": text, "context_id": run.conversation.id, "is_error": outcome.error is not None})

    async def _stream(self, request: web.Request, run: Run, window: float) -> web.StreamResponse:
        """Bare `data:` frames as the run produces them; at most one `error`, then the terminal `done`."""
        run.time_out_at(self.engine.clock.now() + window, TIMEOUT_MESSAGE)
        stream = EventStream(request, headers={"X-Request-Id": _request_id(), "X-Accel-Buffering": "no"})
        with hang_up_cancels(run):
            await stream.open()
            async for _, timed in run.follow():
                match timed.event:
                    case ReasoningDelta(text=text):
                        await stream.send_json({"type": "reasoning", "text": text})
                    case TextDelta(text=text):
                        await stream.send_json({"type": "delta", "text": text})
            for frame in _ending(_outcome(run), run.conversation.id):
                await stream.send_json(frame, terminal=frame["type"] == "done")
        return await stream.close()

    # ── tasks ────────────────────────────────────────────────────────────────────────────────────

    async def create_task(self, request: web.Request) -> web.Response:
        turn = await self._admit_turn(request, CreateTaskBody)
        key = turn.key
        task = self._task_keys.get(key) if key else None
        if task is None:
            task = self._start_task(turn.agent, turn.body, turn.caller)
            task.run.metadata.update(attachments=turn.attachments)
            if key:
                self._task_keys[key] = task
        run = task.run
        data = {
            "task_id": task.id,
            "agent_id": task.agent_id,
            "status": task.status(),
            "created_at": self.timestamp(run.created_at),
        }
        return _ok(data, status=202)  # the SDK maps only 202: a 200 would make create_task return None

    def _start_task(self, agent: Agent, body: CreateTaskBody, caller: str) -> Task:
        task_id = f"ch-{uuid4_hex()}"
        conversation = self.engine.open_conversation(self.key, agent, body.context_id or task_id)
        # A task is dispatched to the agent asynchronously, so it is seen `queued` first.
        pace = replace(agent.pace, queued=max(agent.pace.queued, self.task_dispatch))
        run = self.engine.start_run(
            replace(agent, pace=pace), body.message, conversation, pause_style=PauseStyle.NATIVE, run_id=task_id
        )
        deadline = run.created_at + body.deadline_ms / 1000 if body.deadline_ms else None
        task = Task(task_id, run, caller, body.clean_metadata(), deadline, next(self._seq))
        self._tasks[task_id] = task
        if deadline is not None:
            run.time_out_at(deadline, "task deadline exceeded", through_pauses=True)
        return task

    async def get_task(self, request: web.Request) -> web.Response:
        task = self._task(request)
        task.run.poll()
        return _ok(task.view(self.timestamp, self.engine.clock.now()))

    async def cancel_task(self, request: web.Request) -> web.Response:
        task = self._task(request)
        body = validate(CancelBody, await self._optional_json(request))
        # Idempotent: a closed task stays as it closed.
        task.run.cancel(body.reason or "canceled by the caller")
        return _ok(task.view(self.timestamp, self.engine.clock.now()))

    async def continue_task(self, request: web.Request) -> web.Response:
        task = self._task(request)
        body = validate(ContinueBody, await self._optional_json(request))
        run = task.run
        pause = run.pause()
        if pause is None:
            raise ApiError(
                ErrorKind.CONFLICT,
                f"task is {task.status()}; only a paused task (input_required, auth_required) can continue",
            )
        decision, answer, shown = _decide(pause, body)
        await self.admit(request, agent=run.agent, scope=task.id)
        index = len(run.timeline)
        try:
            run.resume(decision, answer)
        except RunStateError as err:
            raise ApiError(ErrorKind.CONFLICT, f"task cannot continue: {err}") from None
        task.inputs[index] = shown
        return _ok(task.view(self.timestamp, self.engine.clock.now()))

    async def task_events(self, request: web.Request) -> web.StreamResponse:
        """`event: message` frames with `id: <offset>`, each at its moment; the stream stays open across
        pauses and closes after `event: end`. A hang-up does not cancel the task: it is only watched."""
        task = self._task(request)
        since = max(_query_int(request, "since", 0, 0, None), _last_event_id(request))
        stream = EventStream(request, headers={"X-Request-Id": _request_id(), "X-Accel-Buffering": "no"})

        async def send(message: Json) -> None:
            if message["offset"] > since:
                await stream.send_json(compact(message), event="message", event_id=str(message["offset"]))

        try:
            await stream.open()
            await send(task.opening(self.timestamp))
            async for _, timed in task.run.follow(max(0, since - 1), through_pauses=True):
                await send(task.message(timed, self.timestamp))
            if (closing := task.closing(self.timestamp)) is not None:
                await send(closing)
            await stream.send_json({"reason": "task_terminal"}, event="end", terminal=True)
            await stream.close()
        except ConnectionResetError:
            pass
        return stream.response

    async def task_messages(self, request: web.Request) -> web.Response:
        task = self._task(request)
        since = _query_int(request, "since", 0, 0, None)
        limit = _query_int(request, "limit", 100, 1, 500)
        deltas = _query_bool(request, "include_deltas", False)
        messages = task.messages(self.timestamp, self.engine.clock.now())
        shown = [m for m in messages if m["offset"] > since and (deltas or m["type"] != DELTA_TYPE)]
        page = shown[:limit]
        data = {
            "messages": page,
            "latest_offset": messages[-1]["offset"],
            "has_more": len(shown) > limit,
            "next_since": str(page[-1]["offset"] if page else since),
        }
        return _ok(data)

    async def list_agent_tasks(self, request: web.Request) -> web.Response:
        caller = self._authenticate(request)
        agent = self._agent(request, _path_id(request, "agentId"))
        return self._list(request, caller, agent.id)

    async def list_user_tasks(self, request: web.Request) -> web.Response:
        caller = self._authenticate(request)
        return self._list(request, caller, request.query.get("agent_id") or None)

    def _list(self, request: web.Request, caller: str, agent_id: str | None) -> web.Response:
        """Newest first; `since` is the cursor a previous page returned as next_since."""
        state = request.query.get("state") or "active"
        if state not in ("active", "closed", "all"):
            raise ApiError.invalid("state", "must be one of active, closed, all")
        limit = _query_int(request, "limit", self.default_list_limit, 1, 100)
        before = _query_int(request, "since", 0, 0, None) if request.query.get("since") else None
        now = self.engine.clock.now()
        tasks = [
            task
            for task in reversed(self._tasks.values())
            if task.owner == caller
            and (agent_id is None or task.agent_id == agent_id)
            and (before is None or task.seq < before)
            and state in ("all", "closed" if task.run.status(now).is_terminal else "active")
        ]
        page = tasks[:limit]
        next_since = str(page[-1].seq) if len(tasks) > limit else ""
        return _ok({"tasks": [t.summary(self.timestamp, now) for t in page], "next_since": next_since})

    def _task(self, request: web.Request) -> Task:
        caller = self._authenticate(request)
        agent = self._agent(request, _path_id(request, "agentId"))
        task_id = _path_id(request, "taskId")
        task = self._tasks.get(task_id)
        if task is None or task.agent_id != agent.id or task.owner != caller:
            raise ApiError(ErrorKind.NOT_FOUND, f"task {task_id} not found", code="task_not_found")
        return task

    # ── files ────────────────────────────────────────────────────────────────────────────────────

    async def presign_upload(self, request: web.Request) -> web.Response:
        caller = self._authenticate(request)
        body = validate(PresignBody, await self.read_json(request))
        await self.admit(request, agent=None)
        stored = StoredFile(
            id=f"file_{uuid4_hex()}",
            owner=caller,
            filename=body.filename,
            content_type=body.content_type,
            upload_signature=secrets.token_hex(16),
            download_signature=secrets.token_hex(16),
        )
        self._files[stored.id] = stored
        data = {
            "file_id": stored.id,
            "upload_url": self._storage_url(request, stored, stored.upload_signature),
            "download_url": self._storage_url(request, stored, stored.download_signature),
            "download_expires_in": self.download_expires_in,
        }
        return _ok(data)

    async def get_file(self, request: web.Request) -> web.Response:
        caller = self._authenticate(request)
        file_id = _path_id(request, "fileId")
        stored = self._files.get(file_id)
        if stored is None or stored.owner != caller:
            raise ApiError(ErrorKind.NOT_FOUND, f"file {file_id} not found", code="file_not_found")
        data: Json = {
            "file_id": stored.id,
            "filename": stored.filename,
            "content_type": stored.content_type,
            "download_url": self._storage_url(request, stored, stored.download_signature),
        }
        if stored.data is not None:
            data["size"] = len(stored.data)
        return _ok(data)

    async def upload(self, request: web.Request) -> web.Response:
        """The presigned PUT: no Authorization (the signature is the credential), single use."""
        stored = self._signed(request, upload=True)
        if stored.data is not None:
            raise ApiError(ErrorKind.CONFLICT, "this upload URL was already used (presigned uploads are single-use)")
        declared = request.headers.get("Content-Type")
        if declared is not None and _media(declared) != _media(stored.content_type):
            raise ApiError(
                ErrorKind.FORBIDDEN, f"Content-Type {declared} does not match the presigned {stored.content_type}"
            )
        data = await read_body(request, self.upload_limit, "upload")
        stored.data = data
        return web.Response(status=200, headers={"ETag": f'"{hashlib.md5(data).hexdigest()}"'})  # noqa: S324

    async def download(self, request: web.Request) -> web.Response:
        stored = self._signed(request, upload=False)
        if stored.data is None:
            raise ApiError(ErrorKind.NOT_FOUND, f"file {stored.id} has not been uploaded", code="file_not_found")
        headers = {
            "Content-Type": stored.content_type,
            "Content-Disposition": f'attachment; filename="{stored.filename}"',
        }
        return web.Response(body=stored.data, headers=headers)

    def _signed(self, request: web.Request, *, upload: bool) -> StoredFile:
        file_id = request.match_info["fileId"]
        stored = self._files.get(file_id)
        if stored is None:
            raise ApiError(ErrorKind.NOT_FOUND, f"file {file_id} not found", code="file_not_found")
        expected = stored.upload_signature if upload else stored.download_signature
        if not secrets.compare_digest(request.query.get("signature", ""), expected):
            raise ApiError(ErrorKind.FORBIDDEN, "the URL signature is missing or does not match")
        return stored

    def _storage_url(self, request: web.Request, stored: StoredFile, signature: str) -> str:
        return self.url(request, f"/storage/{stored.id}?signature={signature}")

    def _attachments(self, refs: list[AttachmentRef] | None, caller: str) -> list[Json]:
        out = []
        for index, ref in enumerate(refs or ()):
            stored = self._files.get(ref.file_id)
            if stored is None or stored.owner != caller:
                raise ApiError.invalid(
                    ("attachments", index, "file_id"),
                    f"unknown file_id {ref.file_id!r} (upload it with presign-upload)",
                )
            out.append(
                {"file_id": stored.id, "filename": ref.filename or stored.filename, "content_type": stored.content_type}
            )
        return out

    async def _admit_turn(self, request: web.Request, model: type[B]) -> _Turn[B]:
        """The gate invoke and create-task share, in the order their errors take precedence: auth, the
        body, the agent, its attachments and context, then faults and rate limits."""
        caller = self._authenticate(request)
        agent_id = _path_id(request, "agentId")
        body = validate(model, await self.read_json(request))
        agent = self._agent(request, agent_id)
        attachments = self._attachments(body.attachments, caller)
        self._check_context(agent, body.context_id)
        await self.admit(request, agent=agent, scope=body.context_id)
        key = (caller, agent.id, body.idempotency_key) if body.idempotency_key else None
        return _Turn(caller, body, agent, attachments, key)

    # ── auth, agents, conversations ──────────────────────────────────────────────────────────────

    def _authenticate(self, request: web.Request) -> str:
        """The caller id (the owner of tasks and files) for a valid bearer credential."""
        token = bearer(request)
        if token is None:
            raise ApiError(ErrorKind.MISSING_CREDENTIAL, "missing bearer token", code="missing_token")
        if not (is_jwt(token) or API_KEY.fullmatch(token)):
            raise ApiError(
                ErrorKind.INVALID_CREDENTIAL, "token is neither a user JWT nor an oag_ API key", code="invalid_token"
            )
        known = self.credentials()
        if known is not None and token not in known:
            raise ApiError(ErrorKind.INVALID_CREDENTIAL, "unknown credential", code="unauthorized")
        return _caller_id(token)

    def _agent(self, request: web.Request, agent_id: str) -> Agent:
        agent = self.engine.agent(self.key, agent_id)
        if agent is None:
            raise ApiError(ErrorKind.NOT_FOUND, f"agent {agent_id} not found", code="agent_not_found")
        known = self.credentials()
        credential = known.get(bearer(request) or "") if known is not None else None
        if credential is not None and credential.agent is not None and credential.agent != agent.id:
            raise ApiError(ErrorKind.FORBIDDEN, f"this credential may not use agent {agent.id}")
        return agent

    def _check_context(self, agent: Agent, context_id: str | None) -> None:
        found = self.engine.conversation(self.key, context_id) if context_id else None
        if found is not None and found.agent_id != agent.id:
            raise ApiError.invalid("context_id", f"context {context_id} belongs to another agent")

    def _conversation(self, agent: Agent, context_id: str | None) -> Conversation:
        # CHOSEN: an unknown context_id is adopted as a new conversation with that id.
        return self.engine.open_conversation(self.key, agent, context_id or f"ch-{uuid4_hex()}")

    async def _optional_json(self, request: web.Request) -> dict[str, Any]:
        """cancel/continue accept no body at all (the SDK sends Content-Length: 0)."""
        if not request.body_exists:
            return {}
        return await self.read_json(request)

    # ── errors ───────────────────────────────────────────────────────────────────────────────────

    def render_error(self, error: ApiError) -> web.Response:
        status, kind, code = _ERRORS[error.kind]
        if error.kind is ErrorKind.VALIDATION and error.fields and error.fields[0].type == "missing":
            code = "missing_param"
        request_id = _request_id()
        body: Json = {"type": kind, "code": error.code or code, "message": error.message}
        if error.field:
            body["param"] = error.field
        body["request_id"] = request_id
        headers = {"X-Request-Id": request_id}
        if error.kind is ErrorKind.RATE_LIMITED or error.retry_after is not None:
            headers["Retry-After"] = str(max(1, error.retry_after or 1))
        return json_response({"success": False, "error": body}, status=status, headers=headers)


_ERRORS: Mapping[ErrorKind, tuple[int, str, str]] = {
    ErrorKind.INVALID_JSON: (400, "invalid_request_error", "invalid_json"),
    ErrorKind.INVALID_BODY: (400, "invalid_request_error", "invalid_body"),
    # CHOSEN: the documented 400 vocabulary has no media-type code; a non-JSON body is an invalid body.
    ErrorKind.UNSUPPORTED_MEDIA_TYPE: (400, "invalid_request_error", "invalid_body"),
    ErrorKind.VALIDATION: (400, "invalid_request_error", "invalid_param"),
    ErrorKind.MISSING_CREDENTIAL: (401, "authentication_error", "missing_token"),
    ErrorKind.INVALID_CREDENTIAL: (401, "authentication_error", "invalid_token"),
    ErrorKind.FORBIDDEN: (403, "permission_error", "forbidden"),
    ErrorKind.NOT_FOUND: (404, "not_found_error", "not_found"),
    ErrorKind.METHOD_NOT_ALLOWED: (405, "invalid_request_error", "method_not_allowed"),
    ErrorKind.CONFLICT: (409, "conflict_error", "conflict"),
    ErrorKind.PAYLOAD_TOO_LARGE: (413, "invalid_request_error", "payload_too_large"),
    ErrorKind.RATE_LIMITED: (429, "rate_limit_error", "rate_limited"),
    ErrorKind.INTERNAL: (500, "api_error", "internal_error"),
    ErrorKind.BAD_GATEWAY: (502, "api_error", "bad_gateway"),
    ErrorKind.UNAVAILABLE: (503, "api_error", "agent_service_unavailable"),
    ErrorKind.TIMEOUT: (504, "api_error", "service_timeout"),
}


B = TypeVar("B", bound=TurnBody)


@dataclass(frozen=True)
class _Turn(Generic[B]):
    """A turn through the gate (`BeeOS._admit_turn`)."""

    caller: str
    body: B
    agent: Agent
    attachments: list[Json]
    key: tuple[str, str, str] | None  # (caller, agent, idempotency_key), when the client sent one


def _ok(data: Any, status: int = 200) -> web.Response:
    return json_response({"success": True, "data": data}, status=status, headers={"X-Request-Id": _request_id()})


def _request_id() -> str:
    return f"req_{os.urandom(12).hex()}"


@functools.lru_cache(maxsize=1024)  # a client sends the same token on every call
def _caller_id(token: str) -> str:
    """`user:<sub>` from a JWT's claims where it has one; otherwise a stable id derived from the token."""
    if is_jwt(token):
        part = token.split(".")[1]
        try:
            claims = json.loads(base64.urlsafe_b64decode(part + "=" * (-len(part) % 4)))
        except (ValueError, binascii.Error):
            claims = None
        if isinstance(claims, dict) and isinstance(claims.get("sub"), str) and claims["sub"]:
            return f"user:{claims['sub']}"
    return f"user:{hashlib.sha256(token.encode()).hexdigest()[:16]}"


def _path_id(request: web.Request, name: str) -> str:
    value = request.match_info[name]
    if len(value) > MAX_ID:
        raise ApiError.invalid(name, f"must be at most {MAX_ID} characters")
    return value


def _query_int(request: web.Request, name: str, default: int, low: int, high: int | None) -> int:
    raw = request.query.get(name)
    if raw is None or raw == "":
        return default
    try:
        value = int(raw)
    except ValueError:
        raise ApiError.invalid(name, "must be an integer") from None
    if value < low or (high is not None and value > high):
        bounds = f"between {low} and {high}" if high is not None else f"at least {low}"
        raise ApiError.invalid(name, f"must be {bounds}")
    return value


def _query_bool(request: web.Request, name: str, default: bool) -> bool:
    raw = request.query.get(name)
    if raw is None or raw == "":
        return default
    if raw.lower() not in ("true", "false"):
        raise ApiError.invalid(name, "must be true or false")
    return raw.lower() == "true"


def _last_event_id(request: web.Request) -> int:
    """The offset an EventSource reconnect resumes after (an unreadable one is ignored)."""
    raw = request.headers.get("Last-Event-ID", "")
    return int(raw) if raw.isdigit() else 0


def _media(content_type: str) -> str:
    return content_type.split(";", 1)[0].strip().lower()


def _decide(pause: Paused, body: ContinueBody) -> tuple[Decision, str, Json]:
    """The engine decision for a continue body, and what the channel shows the caller sent."""
    if pause.kind is PauseKind.APPROVAL:
        if body.auth_grant is None:
            raise ApiError.missing("auth_grant")
        decision = Decision.APPROVE if body.auth_grant else Decision.REJECT
        return decision, "", {"auth_grant": body.auth_grant}
    answer = _answer(body.input)
    if answer is None:
        if body.input is None:
            raise ApiError.missing("input")
        raise ApiError.invalid("input", "must be a string, {text}, or an object with exactly one string value")
    return Decision.ANSWER, answer, {"text": answer}


def _answer(value: Any) -> str | None:
    """CHOSEN: input.text, else the only string value in input (a bare string is taken as is)."""
    if isinstance(value, str):
        return value
    if not isinstance(value, dict):
        return None
    if isinstance(value.get("text"), str):
        return str(value["text"])
    strings = [v for v in value.values() if isinstance(v, str)]
    return strings[0] if len(strings) == 1 else None


def _outcome(run: Run) -> Outcome:
    match run.status():
        case RunStatus.COMPLETED:
            return Outcome(run.text())
        case RunStatus.FAILED:
            failure = run.failure()
            message = failure.message if failure else "the agent failed"
            # CHOSEN: a script's own code is kept; the engine's default becomes BeeOS's agent_reply_error.
            code = failure.code if failure and failure.code != "agent_error" else "agent_reply_error"
            return Outcome(run.text(), message, code, 502)
        case RunStatus.TIMED_OUT:
            return Outcome("", TIMEOUT_MESSAGE, "service_timeout", 504)
    return Outcome(run.text(), "agent invocation canceled", "canceled", 499)


def _ending(outcome: Outcome, context_id: str) -> list[Json]:
    done: Json = {"type": "done", "text": outcome.text, "context_id": context_id, "is_error": outcome.error is not None}
    if outcome.error is None:
        return [done]
    error = {"type": "error", "code": outcome.code, "status_code": outcome.status_code, "message": outcome.error}
    return [error, {**done, "error": outcome.error, "code": outcome.code}]
