"""Answering with a raw stub: the request's body read for its `when` and templates, the stub found by
`Engine.resolve_stub`, admission (faults and rate limits apply to stubs as to any request), and the answer
written — a status, headers and a body, or SSE frames each at its moment on the session's clock (so the
manual clock and `--speed` apply, as to every scripted delay).

The route frame (`app.py`) asks it at three places: before a modelled route's handler, for stubs that say
`shadow: true`; after a handler answered "not modelled"; and for a path no route serves.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from typing import Any

from aiohttp import web

from mockagent import admission
from mockagent.appkeys import ENGINE
from mockagent.context import RequestContext
from mockagent.encoding import dumps, loads
from mockagent.errors import ApiError, ErrorKind
from mockagent.model import PlatformKey
from mockagent.platforms.bodies import read_body
from mockagent.platforms.sse import EventStream, Frame, Out, hang_up_cancels
from mockagent.scenarios.stubs import Candidates, Stub, StubMatch, StubsUnmatched
from mockagent.templating import JsonTemplate, Template, TemplateRenderError, render_json
from mockagent.variables import turn_variables

#: CHOSEN: the largest request body a stub's `when` and templates read (a larger one is the 413 of the
#: platform the path is under, or mockagent's own at the root).
BODY_LIMIT = 10 * 1024 * 1024


async def answer(
    request: web.Request,
    ctx: RequestContext,
    places: Iterable[PlatformKey | None],
    path: str,
    *,
    shadowing: bool = False,
    candidates: Candidates | None = None,
) -> web.StreamResponse | StubsUnmatched | None:
    """The answer of the stub (mounted at `places`) that takes this request: its response; `StubsUnmatched`
    when stubs take its method and path but no `when` held; None when no stub takes them. `path` is the
    request's path below the platform's mount. `shadowing`: only stubs that say `shadow: true` (a miss
    leaves the request as it was, for the route's own handler). `candidates`: those stubs, when the caller
    has already found them."""
    engine = request.app[ENGINE]
    if candidates is None:
        candidates = engine.scenarios.stub_table.candidates(places, request.method, path, shadowing=shadowing)
    if not candidates:
        return None
    params, body = ctx.params, ctx.body
    raw = await read_body(request, BODY_LIMIT, "request body")
    data = _json(raw.decode("utf-8", errors="replace"))
    ctx.body = data if isinstance(data, dict) else None
    outcome = engine.resolve_stub(ctx, candidates, path)
    if not isinstance(outcome, StubMatch):
        ctx.params, ctx.body = params, body  # as the route's handler expects them
        return outcome
    stub = outcome.stub
    ctx.stub = stub  # the journal names it, whether it answers or a fault does in its place
    fault = await admission.decide(engine, ctx, None, None)
    if fault is not None:
        await admission.apply(ctx, fault)
    if engine.sessions.synced:
        await engine.sessions.hold(ctx.session)
    # Everything is rendered before anything changes or is sent: a template that fails is a whole 500, and
    # the request counts for nothing and sets no state (as a reply whose template fails).
    session = ctx.session
    answered = session.sequences.get(stub.key, 0) + 1
    # A stub's answer is no turn: the request's own variables, its path parameters, and helpers seeded by the
    # session and how many times the stub answered in it (`counter`).
    variables = turn_variables(ctx, None, None, counter=answered, groups=outcome.groups)
    frames: list[Out] | None = None
    response: web.Response | None = None
    try:
        headers = {name: _header(name, value.render(variables)) for name, value in stub.headers}
        if stub.sse is not None:
            frames = [_sse_frame(frame.data, frame.event, frame.id, variables) for frame in stub.sse]
        else:
            response = _response(stub, headers, variables)
    except TemplateRenderError as err:
        raise ApiError(ErrorKind.INTERNAL, str(err)) from None
    session.sequences[stub.key] = answered  # what `matched` counts
    for name, value in stub.sets:
        session.states[name] = value
    if frames is not None:
        return await _stream(request, ctx, stub, headers, frames)
    assert response is not None
    return response


def _json(text: str) -> Any:
    """The body as JSON, or None when it is none — or nests deeper than any platform accepts (a stub's
    `when` sees its fields as missing)."""
    if text.lstrip()[:1] not in ("{", "["):
        return None
    try:
        return loads(text)
    except ValueError:
        return None


def _header(name: str, value: str) -> str:
    if "\n" in value or "\r" in value:
        raise ApiError(ErrorKind.INTERNAL, f"the stub's header {name} rendered a line break, which no header may hold")
    return value


def _response(stub: Stub, headers: dict[str, str], variables: Mapping[str, Any]) -> web.Response:
    default_type = None
    content: bytes | None = None
    if isinstance(stub.body, JsonTemplate):
        content = dumps(render_json(stub.body, variables)).encode("utf-8", "backslashreplace")
        default_type = "application/json"
    elif isinstance(stub.body, Template):
        content = stub.body.render(variables).encode("utf-8", "backslashreplace")
        default_type = "text/plain; charset=utf-8"
    if default_type is not None and not any(name.lower() == "content-type" for name in headers):
        headers = {"Content-Type": default_type, **headers}
    return web.Response(status=stub.status, body=content, headers=headers)


def _sse_frame(
    data: JsonTemplate | Template, event: Template | None, frame_id: Template | None, variables: Mapping[str, Any]
) -> Out:
    text = dumps(render_json(data, variables)) if isinstance(data, JsonTemplate) else data.render(variables)
    # Text of several lines is several `data:` lines of one frame, as SSE carries it.
    text = text.replace("\r\n", "\n").replace("\r", "\n").replace("\n", "\ndata: ")
    name = _one_line(event.render(variables), "event") if event is not None else None
    ident = _one_line(frame_id.render(variables), "id") if frame_id is not None else None
    return text if name is None and ident is None else Frame(text, name, ident)


def _one_line(value: str, what: str) -> str:
    if "\n" in value or "\r" in value:
        raise ApiError(ErrorKind.INTERNAL, f"the stub's SSE {what} rendered a line break")
    return value


async def _stream(
    request: web.Request, ctx: RequestContext, stub: Stub, headers: dict[str, str], frames: list[Out]
) -> web.StreamResponse:
    """The frames, each after its delay on the session's clock; stream faults strike here as on any
    stream."""
    assert stub.sse is not None
    clock = ctx.session.clock
    stream = EventStream(request, clock=clock, fault=ctx.fault, headers=headers)
    stream.response.set_status(stub.status)
    with hang_up_cancels(None):
        await stream.open()
        at = clock.now()
        for frame, out in zip(stub.sse, frames, strict=True):
            if frame.delay:
                at += frame.delay
                await stream.flush()  # what is due leaves before the wait
                await clock.sleep_until(at)
            await stream.send(out)
    return await stream.close()
