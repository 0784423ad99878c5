"""The journal: what each session was asked and answered (docs/admin.md#journal)."""

from __future__ import annotations

import re
from dataclasses import replace
from typing import Any

from aiohttp import web

from mockagent.admin.sessions import named_session, sessions_of
from mockagent.appkeys import ENGINE, redactor_of
from mockagent.encoding import json_response
from mockagent.errors import ApiError, ErrorKind
from mockagent.journal import Entry, Kept, Query, in_order
from mockagent.sessions import Session

#: CHOSEN: entries one page holds unless `limit` says otherwise, and the most it may say; a page also stops
#: once its entries hold this many bytes of bodies and frames (`next` goes on from there).
PAGE = 100
MAX_PAGE = 1_000
PAGE_BYTES = 16 * 1024 * 1024
_STATUS = re.compile(r"[1-5](?:[0-9]{2}|[xX]{2})")  # 429, or a class: 4xx


async def on_get_journal(request: web.Request) -> web.Response:
    """Entries oldest first, across sessions (or one: ``?session=``), filtered, a page at a time: ``next`` is
    the ``since`` of the following page (null: this was the last)."""
    sessions = await sessions_of(request)
    query = query_of(request)
    limit = _int(request, "limit", PAGE, 1, MAX_PAGE)
    kept = await request.app[ENGINE].sessions.kept(await _names(request))
    if kept is not None:
        return json_response(_kept_page(kept, query, limit))
    selected = in_order(s.journal.select(query) for s in sessions)
    page: list[tuple[Session, Entry]] = []
    more = False
    by_name = {s.name: s for s in sessions}
    size = 0
    for entry in selected:
        if len(page) == limit or (page and size + entry.size > PAGE_BYTES):
            more = True
            break
        page.append((by_name[entry.session], entry))
        size += entry.size
    redactor = redactor_of(request.app)
    return json_response(
        {
            "entries": [entry.as_json(session.clock, redactor) for session, entry in page],
            "next": page[-1][1].id if more else None,
        }
    )


async def on_get_entry(request: web.Request) -> web.Response:
    try:
        entry_id = int(request.match_info["id"])
    except ValueError:
        raise ApiError.invalid(("path", "id"), "an entry id is an integer") from None
    for kept in await request.app[ENGINE].sessions.kept(None) or ():
        if kept.id == entry_id:
            return json_response(kept.json)
    for session in request.app[ENGINE].sessions.sessions():
        entry = session.journal.get(entry_id)
        if entry is not None:
            return json_response(entry.as_json(session.clock, redactor_of(request.app)))
    raise ApiError(ErrorKind.NOT_FOUND, f"no journal entry {entry_id} (never made, or dropped past the bound)")


async def on_clear_journal(request: web.Request) -> web.Response:
    """Forget the entries of every session (or of ``?session=``); answers how many were forgotten."""
    cleared = sum(session.journal.clear() for session in await sessions_of(request))
    cleared = await request.app[ENGINE].sessions.forget_kept(await _names(request)) or cleared
    return json_response({"cleared": cleared})


async def _names(request: web.Request) -> list[str] | None:
    """The session a journal request names (as `sessions_of` reads it), or None: every session."""
    named = await named_session(request)
    return [named.name] if named is not None else None


def _kept_page(kept: list[Kept], query: Query, limit: int) -> dict[str, Any]:
    """A page of the journal every process keeps (in the order they answered). `since` is an entry's id: the
    page starts after that entry (after none, if it is no longer kept)."""
    selected = [entry for entry in kept if replace(query, since=0).holds(entry)]
    if query.since:
        after = next((i for i, entry in enumerate(selected) if entry.id == query.since), None)
        selected = selected[after + 1 :] if after is not None else selected
    page: list[Kept] = []
    size = 0
    for entry in selected:
        if len(page) == limit or (page and size + entry.size > PAGE_BYTES):
            break
        page.append(entry)
        size += entry.size
    more = len(page) < len(selected)
    return {"entries": [entry.json for entry in page], "next": page[-1].id if more else None}


def query_of(request: web.Request) -> Query:
    """The journal filters of a request's query string."""
    q = request.query
    unmatched = q.get("unmatched")
    if unmatched is not None and unmatched not in ("true", "false"):
        raise ApiError.invalid(("query", "unmatched"), "unmatched is true or false")
    status = q.get("status")
    if status is not None and not _STATUS.fullmatch(status):
        raise ApiError.invalid(("query", "status"), "status is a status code (429) or a class (4xx)")
    return Query(
        platform=q.get("platform"),
        agent=q.get("agent"),
        method=q.get("method"),
        path=q.get("path"),
        status=status,
        unmatched=None if unmatched is None else unmatched == "true",
        run=q.get("run"),
        since=_int(request, "since", 0, 0, None),
    )


def _int(request: web.Request, name: str, default: int, low: int, high: int | None) -> int:
    raw = request.query.get(name)
    if raw is None:
        return default
    try:
        value = int(raw)
    except ValueError:
        value = low - 1
    if value < low or (high is not None and value > high):
        bound = f"{low}..{high}" if high is not None else f"at least {low}"
        raise ApiError.invalid(("query", name), f"{name} is an integer, {bound}")
    return value
