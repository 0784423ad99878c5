"""Faults over the admin API: the server's rules (command line, settings) and those added here, rate
limits, and chaos. What the API adds it can clear; the command line's rules stay."""

from __future__ import annotations

from typing import Any

from aiohttp import web

from mockagent.admin.bodies import json_object, unknown_fields
from mockagent.appkeys import ENGINE
from mockagent.encoding import json_response
from mockagent.errors import ApiError, ErrorKind
from mockagent.faults import FaultRule, FaultSyntaxError, Per, RateLimit, describe, parse_fault
from mockagent.model import PlatformKey
from mockagent.sessions import SESSION_NAME

_SCOPES = {"platform", "session", "path"}


async def _listing(request: web.Request) -> dict[str, Any]:
    engine = request.app[ENGINE]
    added, chaos = await engine.board.current()
    return {
        "server": [describe(rule) for rule in engine.fault_rules],
        "added": [rule.as_json() for rule in added],
        "chaos": chaos,
    }


async def on_list_faults(request: web.Request) -> web.Response:
    return json_response(await _listing(request))


async def on_add_fault(request: web.Request) -> web.Response:
    """``{"fault": "429, retry-after=5", "times": 1}`` or ``{"rate_limit": "60/min", "per": "credential"}``,
    either with an optional scope: ``platform``, ``session``, ``path`` (a glob)."""
    body = await json_object(request)
    engine = request.app[ENGINE]
    if ("fault" in body) == ("rate_limit" in body):
        raise ApiError(ErrorKind.INVALID_BODY, 'fault: give either "fault" or "rate_limit" (one of them)')
    if "fault" in body:
        unknown_fields(body, {"fault", "times", *_SCOPES})
        rule, times = _fault_rule(body)
    else:
        unknown_fields(body, {"rate_limit", "per", *_SCOPES})
        rule, times = _rate_limit_rule(body), None
    added = await engine.board.add(rule, times, _scope(body))
    return json_response(added.as_json(), status=201)


async def on_set_chaos(request: web.Request) -> web.Response:
    body = await json_object(request)
    unknown_fields(body, {"chaos"})
    chaos = body.get("chaos")
    if isinstance(chaos, bool) or not isinstance(chaos, int | float) or not 0 <= chaos <= 1:
        raise ApiError(ErrorKind.INVALID_BODY, "chaos: a number from 0 (off) to 1 (every request)")
    await request.app[ENGINE].board.set_chaos(float(chaos))
    return json_response({"chaos": float(chaos)})


async def on_clear_faults(request: web.Request) -> web.Response:
    """Drop the rules the API added and put chaos back to the server's setting (CHOSEN)."""
    cleared = await request.app[ENGINE].board.clear()
    return json_response({"cleared": cleared, **await _listing(request)})


def _fault_rule(body: dict[str, Any]) -> tuple[FaultRule, int | None]:
    spec = body["fault"]
    if not isinstance(spec, str):
        raise ApiError(ErrorKind.INVALID_BODY, 'fault: a fault spec, e.g. "429, retry-after=5"')
    try:
        fault = parse_fault(spec)
    except FaultSyntaxError as err:
        raise ApiError(ErrorKind.INVALID_BODY, f"fault: {err}") from None
    times = body.get("times")
    if times is not None and (isinstance(times, bool) or not isinstance(times, int) or times < 1):
        raise ApiError(ErrorKind.INVALID_BODY, "times: a whole number of requests, at least 1 (omit it: every one)")
    return FaultRule(fault=fault), times


def _rate_limit_rule(body: dict[str, Any]) -> FaultRule:
    text = body["rate_limit"]
    if not isinstance(text, str):
        raise ApiError(ErrorKind.INVALID_BODY, 'rate_limit: e.g. "60/min"')
    try:
        limit = RateLimit.parse(text)
    except FaultSyntaxError as err:
        raise ApiError(ErrorKind.INVALID_BODY, f"rate_limit: {err}") from None
    per = body.get("per", Per.CREDENTIAL.value)  # CHOSEN: a rate limit counts per credential by default
    if per not in {p.value for p in Per}:
        raise ApiError(ErrorKind.INVALID_BODY, f"per: one of {', '.join(p.value for p in Per)}")
    return FaultRule(rate_limit=limit, per=Per(per))


def _scope(body: dict[str, Any]) -> dict[str, str | None]:
    platform, session, path = body.get("platform"), body.get("session"), body.get("path")
    if platform is not None and platform not in {key.value for key in PlatformKey}:
        raise ApiError(ErrorKind.INVALID_BODY, f"platform: one of {', '.join(key.value for key in PlatformKey)}")
    if session is not None and not (isinstance(session, str) and SESSION_NAME.match(session)):
        raise ApiError(ErrorKind.INVALID_BODY, "session: a session name (1-128 letters, digits or . _ : @ / + -)")
    if path is not None and not (isinstance(path, str) and path.startswith("/") and len(path) <= 1024):
        raise ApiError(ErrorKind.INVALID_BODY, "path: a glob of request paths starting with /, e.g. /beeos/*")
    return {"platform": platform, "session": session, "path": path}
