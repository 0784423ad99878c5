"""Recording: a request forwarded to the platform's real API, its answer passed back to the client live —
each chunk as it arrives, a stream never held back until its end — and kept as an `Interaction`.

Timing is the machine's own (monotonic seconds since the request arrived), whatever the server's clock:
a recording says how the real API behaved.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Mapping

import aiohttp
from aiohttp import web

from mockagent.errors import ApiError, ErrorKind
from mockagent.replay.cassette import Chunk, Headers, Interaction, Response

#: Headers that describe one hop, not the message (RFC 9110 §7.6.1), and those aiohttp writes itself.
HOP_BY_HOP = frozenset(
    {
        "connection",
        "keep-alive",
        "proxy-authenticate",
        "proxy-authorization",
        "te",
        "trailer",
        "transfer-encoding",
        "upgrade",
        "host",
        "content-length",
        "date",
        "server",
    }
)


def forwardable(headers: Mapping[str, str]) -> Headers:
    """The request headers the upstream gets (not mockagent's own `X-Mockagent-*`), as vcrpy lists them.

    The upstream is asked for an uncompressed answer: only readable bytes can be redacted before they are
    written (the client, which may have asked for gzip, takes identity just as well)."""
    out: Headers = {}
    for name, value in headers.items():
        lowered = name.lower()
        if lowered in HOP_BY_HOP or lowered.startswith("x-mockagent-") or lowered == "accept-encoding":
            continue
        out.setdefault(str(name), []).append(str(value))  # plain strings: multidict's are not YAML
    out["Accept-Encoding"] = ["identity"]
    return out


def replayable(headers: Mapping[str, str] | Headers) -> Headers:
    """The response headers a client gets back (and a cassette keeps), as vcrpy lists them."""
    out: Headers = {}
    for name, value in headers.items():
        if name.lower() in HOP_BY_HOP:
            continue
        values = value if isinstance(value, list) else [value]
        out.setdefault(str(name), []).extend(str(v) for v in values)
    return out


async def forward(
    request: web.Request,
    client: aiohttp.ClientSession,
    url: str,
    body: bytes,
    client_path: str,
    keep: Callable[[Interaction], None],
) -> web.StreamResponse:
    """Send the request upstream and pass the answer back as it comes; `keep` gets the interaction as it
    went — also when the client hangs up midway (then marked incomplete), so it is called synchronously."""
    started = time.monotonic()
    headers = forwardable(request.headers)
    flat = [(name, value) for name, values in headers.items() for value in values]
    try:
        upstream = await client.request(request.method, url, headers=flat, data=body or None)
    except (TimeoutError, aiohttp.ClientError, OSError) as err:
        raise ApiError(ErrorKind.BAD_GATEWAY, f"the upstream {url} could not be reached: {err}") from None
    chunks: list[Chunk] = []
    received = bytearray()
    complete = False
    async with upstream:
        ttfb = time.monotonic() - started
        answer_headers = replayable(upstream.headers)
        response = web.StreamResponse(status=upstream.status, reason=upstream.reason)
        for name, values in answer_headers.items():
            for value in values:
                response.headers.add(name, value)
        if upstream.content_length is not None:
            response.content_length = upstream.content_length  # framed as the upstream framed it
        # A stream's chunks are kept with their times; any other body is one piece (it is of use whole).
        streamed = (upstream.content_type or "").startswith("text/event-stream")
        try:
            await response.prepare(request)
            async for piece in upstream.content.iter_any():
                if streamed:
                    chunks.append(Chunk(time.monotonic() - started, len(piece)))
                received += piece
                await response.write(piece)
            await response.write_eof()
            complete = True
        except (ConnectionResetError, aiohttp.ClientPayloadError):
            pass  # the client (or the upstream) went away mid-answer: kept as a cut interaction
        finally:
            keep(
                Interaction(
                    method=request.method,
                    uri=url,
                    headers=headers,
                    body=body or None,
                    response=Response(
                        status=upstream.status,
                        reason=upstream.reason or "",
                        headers=answer_headers,
                        body=bytes(received),
                        ttfb=ttfb,
                        chunks=tuple(chunks),
                        complete=complete,
                    ),
                    client_path=client_path,
                )
            )
    return response
