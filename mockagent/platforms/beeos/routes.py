"""BeeOS — `https://openapi.beeos.ai`: invoke (blocking or SSE), async tasks, and presigned files.

Invoke runs with PauseStyle.CHAT (the agent asks in text; the next message on the same context_id
answers); a task is a NATIVE run that pauses as input_required / auth_required. Where the official
beeos-sdk 0.8.0 and platforms.md disagree, the SDK wins (docs/platforms/beeos.md).
"""

from __future__ import annotations

import asyncio
import functools
import hashlib
import re
import secrets
from collections.abc import Iterable
from dataclasses import dataclass, replace
from typing import Any, ClassVar, Generic, TypeVar
from urllib.parse import quote

from aiohttp import web

from mockagent.context import RequestContext, bearer
from mockagent.errors import ApiError, ErrorKind
from mockagent.holding import let_go
from mockagent.ids import uuid4_hex
from mockagent.model import Paused, PauseKind, PlatformKey
from mockagent.platforms.base import MiB, Platform, Route, stream_run
from mockagent.platforms.beeos.files import StoredFile
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
from mockagent.platforms.beeos.records import BeeOSRecords, IdempotencyKey
from mockagent.platforms.beeos.render import (
    TIMEOUT_MESSAGE,
    InvokeFrames,
    TaskEventFrames,
    ok,
    outcome,
    render_error,
    stream_headers,
)
from mockagent.platforms.beeos.tasks import DELTA_TYPE, Json, Task
from mockagent.platforms.beeos.unmodelled import UNMODELLED, unmodelled
from mockagent.platforms.bodies import MESSAGE_LIMIT, read_body, validate
from mockagent.platforms.credentials import is_jwt, jwt_claims
from mockagent.platforms.unmodelled import serves_nothing
from mockagent.runs import Decision, Limit, PauseStyle, Run
from mockagent.scenarios.model import Agent
from mockagent.sessions import Session

API_KEY = re.compile(r"oag_[0-9a-fA-F]{64}")
_INTEGER = re.compile(r"-?[0-9]{1,18}")  # ASCII digits only (str.isdigit takes "²"), within an int64
STORAGE = "/storage/{fileId}"  # CHOSEN: where presigned upload/download URLs point (served by the mock)

B = TypeVar("B", bound=TurnBody)


@dataclass(slots=True)
class _Turn(Generic[B]):
    """A turn through the gate (`BeeOS._admit_turn`)."""

    caller: str
    body: B
    agent: Agent
    attachments: list[Json]
    key: IdempotencyKey | None  # (caller, agent, idempotency_key), when the client sent one


@dataclass(slots=True)
class InvokeRecord:
    """What an invoke asked for beside its message (kept with its run)."""

    metadata: dict[str, str]
    attachments: list[Json]


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

    def routes(self) -> Iterable[Route]:
        agent = "/api/v1/agents/{agentId}"
        task = agent + "/tasks/{taskId}"
        return [
            Route("POST", agent + "/invoke", self.on_invoke_agent),
            Route("POST", agent + "/tasks", self.on_create_task),
            Route("GET", agent + "/tasks", self.on_list_agent_tasks),
            Route("GET", task, self.on_get_task),
            Route("POST", task + "/cancel", self.on_cancel_task),
            Route("POST", task + "/continue", self.on_continue_task),
            Route("GET", task + "/events", self.on_stream_task_events),
            Route("GET", task + "/messages", self.on_list_task_messages),
            Route("GET", "/api/v1/tasks", self.on_list_tasks),
            Route("POST", "/api/v1/files/presign-upload", self.on_presign_upload),
            Route("GET", "/api/v1/files/{fileId}", self.on_get_file),
            Route("PUT", STORAGE, self.on_put_object),
            Route("GET", STORAGE, self.on_get_object),
            *(
                Route(endpoint.method, endpoint.path, self.on_call_unmodelled, serves=serves_nothing)
                for endpoint in UNMODELLED
            ),
        ]

    def decide(
        self,
        session: Session,
        run: Run,
        decision: Decision,
        answer: str = "",
        args: dict[str, Any] | None = None,
    ) -> None:
        """As a task's continue: its channel shows what was sent (an invoke's chat pause: the base's)."""
        task = session.records(BeeOSRecords).tasks.get(run.id)
        if task is None or task.run is not run:
            super().decide(session, run, decision, answer, args)
            return
        index = len(run.timeline)
        run.resume(decision, answer, args=args)
        shown: Json = {"text": answer} if decision is Decision.ANSWER else {"auth_grant": decision is Decision.APPROVE}
        task.inputs[index] = shown

    def render_error(self, error: ApiError) -> web.Response:
        return render_error(error)

    # ── invoke ───────────────────────────────────────────────────────────────────────────────────

    async def on_invoke_agent(self, request: web.Request, ctx: RequestContext) -> web.StreamResponse:
        turn = await self._admit_turn(request, ctx, InvokeBody)
        body, key = turn.body, turn.key
        records = ctx.session.records(BeeOSRecords)
        run_id = records.invokes.get(key) if key else None
        run = ctx.session.run(run_id) if run_id is not None else None
        replay = run is not None  # a repeated idempotency_key watches the first run instead of a new turn
        if run is None:
            # CHOSEN: an unknown context_id is adopted as a new conversation with that id.
            conversation_id = body.context_id or f"ch-{uuid4_hex()}"
            conversation = ctx.session.open_conversation(self.key, turn.agent.id, conversation_id)
            run = self.start_turn(ctx, conversation, pause_style=PauseStyle.CHAT)
            run.record = InvokeRecord(body.clean_metadata(), turn.attachments)
            if key:
                records.invokes[key] = run.id
        ctx.run = run
        # Each request's own window. A replay only watches: its window passing, or its client leaving,
        # ends the replay and leaves the first request's turn alone.
        window = min((body.timeout_ms or DEFAULT_TIMEOUT_MS) / 1000, self.gateway_timeout)
        limit = Limit(run.clock.now() + window, TIMEOUT_MESSAGE, ends_run=not replay)
        if "text/event-stream" in request.headers.get("Accept", ""):
            frames = InvokeFrames(run)
            return await stream_run(request, ctx, run, frames, headers=stream_headers(), limit=limit, watch_only=replay)
        try:
            settled = await run.settled(limit)
        except asyncio.CancelledError:
            if not replay:  # the client hung up on its own turn; a replay only watched
                run.cancel("client disconnected")
            raise
        result = outcome(run)
        if not settled or result.status_code == 504:
            raise ApiError(ErrorKind.TIMEOUT, TIMEOUT_MESSAGE)
        # CHOSEN: a failed turn's text is the failure message (the blocking envelope has no error field).
        text = result.text if result.error is None else result.error
        return ok({"text": text, "context_id": run.conversation.id, "is_error": result.error is not None})

    # ── tasks ────────────────────────────────────────────────────────────────────────────────────

    async def on_create_task(self, request: web.Request, ctx: RequestContext) -> web.StreamResponse:
        turn = await self._admit_turn(request, ctx, CreateTaskBody)
        records = ctx.session.records(BeeOSRecords)
        key = turn.key
        task_id = records.task_keys.get(key) if key else None
        task = records.tasks.get(task_id) if task_id is not None else None
        if task is None:
            task = self._start_task(ctx, turn, records)
            if key:
                records.task_keys[key] = task.id
        run = ctx.run = task.run
        data = {
            "task_id": task.id,
            "agent_id": task.agent_id,
            "status": task.status(),
            "created_at": task.stamp(run.created_at),
        }
        return ok(data, status=202)  # the SDK maps only 202: a 200 would make create_task return None

    def _start_task(self, ctx: RequestContext, turn: _Turn[CreateTaskBody], records: BeeOSRecords) -> Task:
        agent, body = turn.agent, turn.body
        task_id = f"ch-{uuid4_hex()}"
        conversation = ctx.session.open_conversation(self.key, agent.id, body.context_id or task_id)
        # A task is dispatched to the agent asynchronously, so it is seen `queued` first.
        pace = replace(agent.pace, queued=max(agent.pace.queued, self.task_dispatch))
        run = self.start_turn(ctx, conversation, run_id=task_id, agent=replace(agent, pace=pace))
        run.record = InvokeRecord(body.clean_metadata(), turn.attachments)
        deadline = run.created_at + body.deadline_ms / 1000 if body.deadline_ms else None
        task = Task(task_id, run, turn.caller, body.clean_metadata(), deadline, next(records.seq))
        records.tasks[task_id] = task
        if deadline is not None:
            run.set_deadline(Limit(deadline, "task deadline exceeded"))
        return task

    async def on_get_task(self, request: web.Request, ctx: RequestContext) -> web.StreamResponse:
        task = await self._admit_task(request, ctx)
        task.run.poll()
        return ok(task.view(task.run.clock.now()))

    async def on_cancel_task(self, request: web.Request, ctx: RequestContext) -> web.StreamResponse:
        task = self._task(request, ctx)
        body = validate(CancelBody, await self._optional_json(request))
        await self.admit(ctx, agent=task.run.agent, scope=task.run.conversation.id)
        # Idempotent: a closed task stays as it closed.
        task.run.cancel(body.reason or "canceled by the caller")
        return ok(task.view(task.run.clock.now()))

    async def on_continue_task(self, request: web.Request, ctx: RequestContext) -> web.StreamResponse:
        task = self._task(request, ctx)
        body = validate(ContinueBody, await self._optional_json(request))
        run = task.run
        await self.admit(ctx, agent=run.agent, scope=run.conversation.id)
        async with ctx.session.lock:
            pause = run.pause()
            if pause is None:
                raise ApiError(
                    ErrorKind.CONFLICT,
                    f"task is {task.status()}; only a paused task (input_required, auth_required) can continue",
                )
            decision, answer, shown = _decide(pause, body)
            index = len(run.timeline)
            run.resume(decision, answer)
            task.inputs[index] = shown
        return ok(task.view(run.clock.now()))

    async def on_stream_task_events(self, request: web.Request, ctx: RequestContext) -> web.StreamResponse:
        """`event: message` frames with `id: <offset>`, each at its moment; the stream stays open across
        pauses and closes after `event: end`. A hang-up does not cancel the task: it is only watched."""
        task = await self._admit_task(request, ctx)
        since = max(_query_int(request, "since", 0, 0, None), _last_event_id(request))
        return await stream_run(
            request,
            ctx,
            task.run,
            TaskEventFrames(task, since),
            headers=stream_headers(),
            start=max(0, since - 1),
            through_pauses=True,
            watch_only=True,
        )

    async def on_list_task_messages(self, request: web.Request, ctx: RequestContext) -> web.StreamResponse:
        task = self._task(request, ctx)
        since = _query_int(request, "since", 0, 0, None)
        limit = _query_int(request, "limit", 100, 1, 500)
        deltas = _query_bool(request, "include_deltas", False)
        await self.admit(ctx, agent=task.run.agent, scope=task.run.conversation.id)
        messages = task.messages(task.run.clock.now())
        shown = [m for m in messages if m["offset"] > since and (deltas or m["type"] != DELTA_TYPE)]
        page = shown[:limit]
        data = {
            "messages": page,
            "latest_offset": messages[-1]["offset"],
            "has_more": len(shown) > limit,
            "next_since": str(page[-1]["offset"] if page else since),
        }
        return ok(data)

    async def on_list_agent_tasks(self, request: web.Request, ctx: RequestContext) -> web.StreamResponse:
        caller = self._authenticate(request)
        agent = self._agent(request, ctx, _path_id(request, "agentId"))
        return await self._list(request, ctx, caller, agent.id)

    async def on_list_tasks(self, request: web.Request, ctx: RequestContext) -> web.StreamResponse:
        caller = self._authenticate(request)
        return await self._list(request, ctx, caller, request.query.get("agent_id") or None)

    async def _list(self, request: web.Request, ctx: RequestContext, caller: str, agent_id: str | None) -> web.Response:
        """Newest first; `since` is the cursor a previous page returned as next_since."""
        state = request.query.get("state") or "active"
        if state not in ("active", "closed", "all"):
            raise ApiError.invalid("state", "must be one of active, closed, all")
        limit = _query_int(request, "limit", self.default_list_limit, 1, 100)
        before = _query_int(request, "since", 0, 0, None) if request.query.get("since") else None
        await self.admit(ctx)
        now = ctx.session.clock.now()
        tasks = [
            task
            for task in reversed(ctx.session.records(BeeOSRecords).tasks.values())
            if task.owner == caller
            and (agent_id is None or task.agent_id == agent_id)
            and (before is None or task.seq < before)
            and state in ("all", "closed" if task.run.status(now).is_terminal else "active")
        ]
        page = tasks[:limit]
        next_since = str(page[-1].seq) if len(tasks) > limit else ""
        return ok({"tasks": [t.summary(now) for t in page], "next_since": next_since})

    def _task(self, request: web.Request, ctx: RequestContext) -> Task:
        caller = self._authenticate(request)
        agent = self._agent(request, ctx, _path_id(request, "agentId"))
        task_id = _path_id(request, "taskId")
        task = ctx.session.records(BeeOSRecords).tasks.get(task_id)
        if task is None or task.agent_id != agent.id or task.owner != caller:
            raise ApiError(ErrorKind.NOT_FOUND, f"task {task_id} not found", code="task_not_found")
        ctx.run = task.run
        return task

    async def _admit_task(self, request: web.Request, ctx: RequestContext) -> Task:
        task = self._task(request, ctx)
        await self.admit(ctx, agent=task.run.agent, scope=task.run.conversation.id)
        return task

    # ── files ────────────────────────────────────────────────────────────────────────────────────

    async def on_presign_upload(self, request: web.Request, ctx: RequestContext) -> web.StreamResponse:
        caller = self._authenticate(request)
        body = validate(PresignBody, await self.read_json(request))
        await self.admit(ctx)
        stored = StoredFile.presigned(f"file_{uuid4_hex()}", caller, body.filename, body.content_type)
        ctx.session.records(BeeOSRecords).files[stored.id] = stored
        data = {
            "file_id": stored.id,
            "upload_url": self._storage_url(request, stored, stored.upload_signature),
            "download_url": self._storage_url(request, stored, stored.download_signature),
            "download_expires_in": self.download_expires_in,
        }
        return ok(data)

    async def on_get_file(self, request: web.Request, ctx: RequestContext) -> web.StreamResponse:
        caller = self._authenticate(request)
        file_id = _path_id(request, "fileId")
        stored = ctx.session.records(BeeOSRecords).files.get(file_id)
        if stored is None or stored.owner != caller:
            raise ApiError(ErrorKind.NOT_FOUND, f"file {file_id} not found", code="file_not_found")
        await self.admit(ctx)
        data: Json = {
            "file_id": stored.id,
            "filename": stored.filename,
            "content_type": stored.content_type,
            "download_url": self._storage_url(request, stored, stored.download_signature),
        }
        if stored.size is not None:
            data["size"] = stored.size
        return ok(data)

    async def on_put_object(self, request: web.Request, ctx: RequestContext) -> web.StreamResponse:
        """The presigned PUT: no Authorization (the signature is the credential), single use."""
        stored = self._signed(request, ctx, upload=True)
        declared = request.headers.get("Content-Type")
        if declared is not None and _media(declared) != _media(stored.content_type):
            raise ApiError(
                ErrorKind.FORBIDDEN, f"Content-Type {declared} does not match the presigned {stored.content_type}"
            )
        await self.admit(ctx)
        if stored.used:  # checked and claimed with no wait between: two PUTs cannot both pass
            raise ApiError(ErrorKind.CONFLICT, "this upload URL was already used (presigned uploads are single-use)")
        stored.uploading = True
        await let_go()  # the claim is made: a session shared with other processes is not held while bytes come
        try:
            data = await read_body(request, self.upload_limit, "upload")
            etag = await ctx.session.records(BeeOSRecords).uploads.store(stored, data)
        finally:
            stored.uploading = False
        return web.Response(status=200, headers={"ETag": f'"{etag}"'})

    async def on_get_object(self, request: web.Request, ctx: RequestContext) -> web.StreamResponse:
        stored = self._signed(request, ctx, upload=False)
        await self.admit(ctx)
        if stored.size is None:
            why = "was forgotten to make room for newer uploads" if stored.forgotten else "has not been uploaded"
            raise ApiError(ErrorKind.NOT_FOUND, f"file {stored.id} {why}", code="file_not_found")
        headers = {"Content-Type": stored.content_type, "Content-Disposition": _attachment(stored.filename)}
        return web.Response(body=await ctx.session.records(BeeOSRecords).uploads.read(stored), headers=headers)

    def _signed(self, request: web.Request, ctx: RequestContext, *, upload: bool) -> StoredFile:
        file_id = request.match_info["fileId"]
        stored = ctx.session.records(BeeOSRecords).files.get(file_id)
        if stored is None:
            raise ApiError(ErrorKind.NOT_FOUND, f"file {file_id} not found", code="file_not_found")
        expected = stored.upload_signature if upload else stored.download_signature
        given = request.query.get("signature", "")
        # As bytes: compare_digest takes no text beyond ASCII, and a signature of any characters is a mismatch.
        if not secrets.compare_digest(given.encode("utf-8", "surrogatepass"), expected.encode()):
            raise ApiError(ErrorKind.FORBIDDEN, "the URL signature is missing or does not match")
        return stored

    def _storage_url(self, request: web.Request, stored: StoredFile, signature: str) -> str:
        return self.url(request, f"/storage/{stored.id}?signature={signature}")

    def _attachments(self, ctx: RequestContext, refs: list[AttachmentRef] | None, caller: str) -> list[Json]:
        if not refs:
            return []
        files = ctx.session.records(BeeOSRecords).files
        out = []
        for index, ref in enumerate(refs):
            stored = files.get(ref.file_id)
            if stored is None or stored.owner != caller:
                raise ApiError.invalid(
                    ("attachments", index, "file_id"),
                    f"unknown file_id {ref.file_id!r} (upload it with presign-upload)",
                )
            out.append(
                {"file_id": stored.id, "filename": ref.filename or stored.filename, "content_type": stored.content_type}
            )
        return out

    async def _admit_turn(self, request: web.Request, ctx: RequestContext, model: type[B]) -> _Turn[B]:
        """The gate invoke and create-task share, in the order their errors take precedence: auth, the
        body, the agent, its attachments and context, then faults and rate limits."""
        caller = self._authenticate(request)
        agent_id = _path_id(request, "agentId")
        raw = await self.read_json(request)
        body = validate(model, raw)
        agent = self._agent(request, ctx, agent_id)
        attachments = self._attachments(ctx, body.attachments, caller)
        found = ctx.session.conversation(self.key, body.context_id) if body.context_id else None
        if found is not None and found.agent_id != agent.id:
            raise ApiError.invalid("context_id", f"context {body.context_id} belongs to another agent")
        ctx.body, ctx.agent, ctx.message = raw, agent, body.message
        await self.admit(ctx, agent=agent, scope=body.context_id)
        key = (caller, agent.id, body.idempotency_key) if body.idempotency_key else None
        return _Turn(caller, body, agent, attachments, key)

    # ── the rest of the SDK ──────────────────────────────────────────────────────────────────────

    async def on_call_unmodelled(self, request: web.Request, ctx: RequestContext) -> web.StreamResponse:
        """A call of the SDK that mockagent does not model (unmodelled.UNMODELLED): authenticated and
        admitted like any other, then answered 404 `not_implemented`."""
        self._authenticate(request)
        await self.admit(ctx)
        resource = request.match_info.route.resource
        assert resource is not None  # a declared route always has its resource
        raise unmodelled(request.method, resource.canonical.removeprefix(self.prefix))

    # ── auth and agents ──────────────────────────────────────────────────────────────────────────

    def _authenticate(self, request: web.Request) -> str:
        """The caller id (the owner of tasks and files) for a valid bearer credential."""
        token = bearer(request.headers)
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

    def _agent(self, request: web.Request, ctx: RequestContext, agent_id: str) -> Agent:
        agent = self.engine.agent(self.key, agent_id)
        if agent is None:
            raise ApiError(ErrorKind.NOT_FOUND, f"agent {agent_id} not found", code="agent_not_found")
        self.check_scope(request.headers, agent.id, f"this credential may not use agent {agent.id}")
        ctx.agent = agent
        return agent

    async def _optional_json(self, request: web.Request) -> dict[str, Any]:
        """cancel/continue accept no body at all (the SDK sends Content-Length: 0)."""
        if not request.body_exists:
            return {}
        return await self.read_json(request)


@functools.lru_cache(maxsize=1024)  # a client sends the same token on every call
def _caller_id(token: str) -> str:
    """`user:<sub>` from a JWT's claims where it has one; otherwise a stable id derived from the token."""
    if is_jwt(token):
        sub = jwt_claims(token).get("sub")
        if isinstance(sub, str) and sub:
            return f"user:{sub}"
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
    if not _INTEGER.fullmatch(raw):
        raise ApiError.invalid(name, "must be an integer")
    value = int(raw)
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
    return int(raw) if _INTEGER.fullmatch(raw) and not raw.startswith("-") else 0


def _attachment(filename: str) -> str:
    """Content-Disposition for a download (RFC 6266): a quoted ASCII fallback, and the exact name as
    RFC 5987 UTF-8 where the fallback had to change it."""
    fallback = "".join(c if c.isascii() and c.isprintable() and c not in '"\\' else "_" for c in filename)
    if fallback == filename:
        return f'attachment; filename="{filename}"'
    return f"attachment; filename=\"{fallback}\"; filename*=UTF-8''{quote(filename, safe='')}"


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
    if len(answer) > MESSAGE_LIMIT:
        raise ApiError.invalid("input", f"String should have at most {MESSAGE_LIMIT} characters", "string_too_long")
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
