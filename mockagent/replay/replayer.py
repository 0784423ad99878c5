"""The step a platform route takes when cassettes are on: replay the recorded answer, or record a new one
from the platform's upstream, or fall back to the scenarios — else the platform's own 404, saying which
recorded requests came nearest and what differed.

Which cassette: the session's name (`X-Mockagent-Session`), else the server's `cassette` (the pytest
fixture sets the test's node id), else the platform's key. Per session it remembers how far each
repeated request has replayed, and the client-chosen ids it has threaded through.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import aiohttp
from aiohttp import web

from mockagent.context import RequestContext
from mockagent.errors import ApiError, ErrorKind
from mockagent.journal import Decided
from mockagent.model import PlatformKey
from mockagent.platforms.base import Platform
from mockagent.platforms.bodies import read_body
from mockagent.replay.cassette import CassetteError, Interaction
from mockagent.replay.matching import Shape, shape
from mockagent.replay.modes import RecordMode, Repeat
from mockagent.replay.player import play
from mockagent.replay.proxy import forward
from mockagent.replay.recordings import Recordings, file_name, miss_message
from mockagent.replay.redaction import Redactor
from mockagent.runs import Run
from mockagent.sessions import DEFAULT_SESSION, Session
from mockagent.store import Bounded

log = logging.getLogger("mockagent.replay")

#: CHOSEN: the largest request body recorded or matched (larger ones are the platform's 413).
BODY_LIMIT = 32 * 1024 * 1024
#: CHOSEN: a client-chosen value shorter than this is not threaded (it would be replaced inside other text).
MIN_THREADED = 8


class ReplayRecords:
    """What replay remembers in a session: the next recorded answer of each request, and the ids threaded."""

    __slots__ = ("aliases", "cursors", "swaps")

    def __init__(self, session: Session) -> None:
        self.cursors: Bounded[tuple[str, str], int] = Bounded(session.store_limit)
        self.aliases: Bounded[str, str] = Bounded(session.store_limit)  # the client's id → the recorded one
        self.swaps: Bounded[str, str] = Bounded(session.store_limit)  # the recorded id → the client's

    def forget(self, run: Run) -> None:
        pass  # nothing here names a run

    def close(self) -> None:
        pass


@dataclass(frozen=True)
class ReplaySettings:
    folder: Path
    mode: RecordMode = RecordMode.NONE
    upstreams: tuple[tuple[PlatformKey, str], ...] = ()
    repeat: Repeat = Repeat.LAST
    asap: bool = False  # replay streams at once rather than at their recorded offsets
    fallback: bool = False  # scenarios answer what no cassette does
    prefer_scenarios: bool = False  # …and answer first, the cassettes only what they cannot
    cassette: str | None = None  # the default session's cassette name (else the platform's key)


class Replayer:
    def __init__(self, settings: ReplaySettings, redactor: Redactor | None = None) -> None:
        self.settings = settings
        self.redactor = redactor or Redactor()
        # The live request is redacted with the recorder's rules before it is compared, so that a live
        # secret meets its recorded placeholder.
        self.redact_text = self.redactor.redact_text
        self.recordings = Recordings(settings.folder, settings.mode, self.redact_text)
        self.upstreams = dict(settings.upstreams)
        self._client: aiohttp.ClientSession | None = None
        self._writes: set[asyncio.Task[None]] = set()
        #: Told of each interaction once written (the event feed's ``cassette.recorded``; the web page shows it).
        self.on_recorded: Callable[[Recorded], None] | None = None

    def cassette_name(self, ctx: RequestContext) -> str:
        if ctx.session.name != DEFAULT_SESSION:
            return ctx.session.name
        return self.settings.cassette or (ctx.platform.value if ctx.platform is not None else "root")

    async def answer(self, request: web.Request, ctx: RequestContext, platform: Platform) -> web.StreamResponse | None:
        """The recorded (or now recorded) answer; None: the scenarios answer instead."""
        body = await read_body(request, BODY_LIMIT, "request body")
        name = self.cassette_name(ctx)
        try:
            return await self._answer(request, ctx, platform, name, body)
        except CassetteError as err:
            # A broken cassette answers this request in the platform's shape, naming the place at fault;
            # the server goes on serving everything else.
            ctx.explanation = str(err)
            raise ApiError(ErrorKind.INTERNAL, str(err)) from None

    async def _answer(
        self, request: web.Request, ctx: RequestContext, platform: Platform, name: str, body: bytes
    ) -> web.StreamResponse | None:
        path = _client_path(request, platform)
        records = ctx.session.records(ReplayRecords)
        recordings = self.recordings
        live = shape(
            platform.key.value,
            request.method,
            path,
            body,
            redact=self.redact_text,
            aliases=records.aliases,
            matchers=recordings.entry(name).cassette.matchers,
        )
        if recordings.replays(name):
            found = self._pick(name, live, records)
            if found is not None:
                await platform.admit(ctx)
                interaction = recordings.entry(name).cassette.interactions[found]
                ctx.decided, ctx.source, ctx.item = Decided.CASSETTE, file_name(name), found
                self._thread(live, recordings.entry(name).shapes[found], records)
                return await play(
                    request, interaction, ctx.session.clock, swaps=dict(records.swaps), asap=self.settings.asap
                )
        upstream = self.upstreams.get(platform.key)
        if recordings.records(name) and upstream is not None:
            await platform.admit(ctx)
            ctx.decided, ctx.source = Decided.CASSETTE, f"{file_name(name)} (recording)"
            return await forward(
                request,
                self._session(),
                upstream.rstrip("/") + path,
                body,
                path,
                self._keeper(name, platform.key, ctx.session.name),
            )
        if self.settings.fallback:
            return None
        entry = recordings.entry(name)
        ctx.explanation = miss_message(name, live, recordings.nearest(name, live), entry)
        log.warning("%s %s: %s", request.method, request.path, ctx.explanation)
        raise ApiError(ErrorKind.NOT_FOUND, ctx.explanation)

    def _pick(self, name: str, live: Shape, records: ReplayRecords) -> int | None:
        """The recorded interaction that answers `live` now: identical requests replay in recorded order."""
        indexes = self.recordings.entry(name).index.get(live.key)
        if not indexes:
            return None
        cursor = records.cursors.get((name, live.key), 0)
        if cursor < len(indexes):
            records.cursors[(name, live.key)] = cursor + 1
            return indexes[cursor]
        return indexes[-1] if self.settings.repeat is Repeat.LAST else None

    @staticmethod
    def _thread(live: Shape, recorded: Shape, records: ReplayRecords) -> None:
        """A client-chosen id seen for the first time stands for the recorded one from now on."""
        for (field_name, mine), (recorded_name, theirs) in zip(live.chosen, recorded.chosen, strict=False):
            if field_name == recorded_name and mine != theirs and len(theirs) >= MIN_THREADED:
                records.aliases[mine] = theirs
                records.swaps[theirs] = mine

    def _keeper(self, name: str, platform: PlatformKey, session: str) -> Callable[[Interaction], None]:
        def keep(interaction: Interaction) -> None:
            interaction.platform = platform.value
            task = asyncio.ensure_future(self._keep(name, session, interaction))
            self._writes.add(task)
            task.add_done_callback(self._written)

        return keep

    async def _keep(self, name: str, session: str, interaction: Interaction) -> None:
        redacted = self.redact(interaction)
        await self.recordings.add(name, redacted)
        if self.on_recorded is not None:
            kept = self.recordings.entry(name).cassette.interactions
            # Found by identity from the end: another write may have been added while this one was saved.
            index = next((i for i in range(len(kept) - 1, -1, -1) if kept[i] is redacted), None)
            if index is not None:
                self.on_recorded(Recorded(session, interaction.platform, file_name(name), index, interaction, redacted))

    def redact(self, interaction: Interaction) -> Interaction:
        """The interaction as it may be written: secrets replaced in both directions, chunk sizes kept true."""
        redacted = Interaction.from_vcr(self.redactor.redact_interaction(interaction.to_vcr()))
        redacted.platform, redacted.client_path = interaction.platform, interaction.client_path
        if redacted.client_path is not None:
            redacted.client_path = self.redactor.redact_uri(redacted.client_path)
        return redacted

    def _written(self, task: asyncio.Task[None]) -> None:
        self._writes.discard(task)
        if not task.cancelled() and (error := task.exception()) is not None:
            log.error("a recorded interaction could not be written: %s", error)

    def _session(self) -> aiohttp.ClientSession:
        if self._client is None:
            # The upstream's bytes as they are: no decompression, no timeout of our own on a long stream.
            self._client = aiohttp.ClientSession(auto_decompress=False, timeout=aiohttp.ClientTimeout(total=None))
        return self._client

    async def close(self) -> None:
        if self._writes:
            await asyncio.gather(*self._writes, return_exceptions=True)
        if self._client is not None:
            await self._client.close()


def _client_path(request: web.Request, platform: Platform) -> str:
    """The path and query below the platform's client base URL (what is appended to an upstream)."""
    path = request.raw_path
    for prefix in (platform.prefix, platform.client_base_path):
        if prefix and path.startswith(prefix):
            path = path[len(prefix) :]
    return path or "/"


@dataclass(frozen=True)
class Recorded:
    """An interaction written to a cassette: where, and what redaction changed in it."""

    session: str
    platform: str
    cassette: str  # the file name
    index: int  # its position in the cassette
    original: Interaction  # as it went by, secrets and all: never shown, only compared
    interaction: Interaction  # as written (redacted)

    def as_json(self) -> dict[str, object]:
        """What the event feed tells of it (no secret: the places redaction changed, not what was there)."""
        interaction = self.interaction
        return {
            "cassette": self.cassette,
            "index": self.index,
            "interaction": {
                "platform": self.platform,
                "method": interaction.method,
                "path": interaction.platform_path,
                "status": interaction.response.status,
                "redacted": redactions(self.original, interaction),
            },
        }


def redactions(original: Interaction, redacted: Interaction) -> list[str]:
    """The places where `redacted` differs from `original`: which headers, the query, the bodies."""
    before, after = original.to_vcr(), redacted.to_vcr()
    places: list[str] = []
    if before["request"]["uri"] != after["request"]["uri"]:
        places.append("request query")
    for side in ("request", "response"):
        old_headers, new_headers = before[side]["headers"], after[side]["headers"]
        places += [f"{side} header {name}" for name in old_headers if old_headers[name] != new_headers.get(name)]
    if before["request"]["body"] != after["request"]["body"]:
        places.append("request body")
    if before["response"]["body"] != after["response"]["body"]:
        places.append("response body")
    return places
