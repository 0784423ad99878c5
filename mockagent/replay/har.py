"""A cassette as HAR 1.2 (http://www.softwareishard.com/blog/har-12-spec/), to open in a browser's dev
tools: one entry per interaction, in recorded order, with its request, response and timings; a stream's
chunks and their moments in the `_chunks` extension field (HAR allows custom fields starting with `_`).

CHOSEN: a cassette keeps no wall-clock times, only each answer's own timing, so `startedDateTime` counts
from the cassette file's modification time, each entry starting where the one before ended.
"""

from __future__ import annotations

import base64
from datetime import UTC, datetime, timedelta
from typing import Any
from urllib.parse import parse_qsl, urlsplit

from mockagent import __version__
from mockagent.replay.cassette import Cassette, Headers, Interaction

HAR_VERSION = "1.2"


def _ms(seconds: float) -> float:
    return round(seconds * 1000, 3)


def _headers(headers: Headers) -> list[dict[str, str]]:
    return [{"name": name, "value": value} for name, values in headers.items() for value in values]


def _header(headers: Headers, wanted: str) -> str | None:
    for name, values in headers.items():
        if name.lower() == wanted and values:
            return values[0]
    return None


def _text(body: bytes) -> dict[str, str]:
    """HAR's `text`, with `encoding: base64` where the bytes are not UTF-8."""
    try:
        return {"text": body.decode("utf-8")}
    except UnicodeDecodeError:
        return {"text": base64.b64encode(body).decode("ascii"), "encoding": "base64"}


def entry(interaction: Interaction, started: datetime) -> dict[str, Any]:
    """One HAR entry. Timings (ms): `send` 0 (not recorded), `wait` the time to the response headers,
    `receive` from there to the last chunk."""
    answer = interaction.response
    last = answer.chunks[-1].t if answer.chunks else answer.ttfb
    wait, receive = _ms(answer.ttfb), _ms(max(0.0, last - answer.ttfb))
    request: dict[str, Any] = {
        "method": interaction.method,
        "url": interaction.uri,
        "httpVersion": "HTTP/1.1",
        "cookies": [],
        "headers": _headers(interaction.headers),
        "queryString": [{"name": k, "value": v} for k, v in parse_qsl(urlsplit(interaction.uri).query, True)],
        "headersSize": -1,
        "bodySize": len(interaction.body or b""),
    }
    if interaction.body is not None:
        mime = _header(interaction.headers, "content-type") or "application/octet-stream"
        request["postData"] = {"mimeType": mime, **_text(interaction.body)}
    content: dict[str, Any] = {
        "size": len(answer.body),
        "mimeType": answer.header("content-type") or "application/octet-stream",
        **_text(answer.body),
    }
    out: dict[str, Any] = {
        "startedDateTime": started.isoformat(timespec="milliseconds").replace("+00:00", "Z"),
        "time": round(wait + receive, 3),
        "request": request,
        "response": {
            "status": answer.status,
            "statusText": answer.reason,
            "httpVersion": "HTTP/1.1",
            "cookies": [],
            "headers": _headers(answer.headers),
            "content": content,
            "redirectURL": answer.header("location") or "",
            "headersSize": -1,
            "bodySize": len(answer.body),
        },
        "cache": {},
        "timings": {"blocked": -1, "dns": -1, "connect": -1, "ssl": -1, "send": 0, "wait": wait, "receive": receive},
    }
    if answer.chunks:
        chunks = []
        offset = 0
        for chunk in answer.chunks:
            piece = answer.body[offset : offset + chunk.n]
            offset += chunk.n
            chunks.append({"time": _ms(chunk.t), "size": chunk.n, **_text(piece)})
        out["_chunks"] = chunks
    extension: dict[str, Any] = {"platform": interaction.platform, "path": interaction.platform_path}
    if not answer.complete:
        extension["complete"] = False  # the client hung up: the body ends where the recording does
    out["_mockagent"] = extension
    return out


def har(cassette: Cassette, start: datetime | None = None) -> dict[str, Any]:
    """The whole cassette as a HAR document (`start`: the first entry's time; default the file's mtime)."""
    if start is None:
        start = (
            datetime.fromtimestamp(cassette.path.stat().st_mtime, UTC) if cassette.path.exists() else datetime.now(UTC)
        )
    entries = []
    moment = start
    for interaction in cassette.interactions:
        made = entry(interaction, moment)
        entries.append(made)
        moment += timedelta(milliseconds=made["time"])
    return {
        "log": {
            "version": HAR_VERSION,
            "creator": {"name": "mockagent", "version": __version__},
            "pages": [],
            "entries": entries,
            "comment": f"exported from {cassette.path.name}",
        }
    }
