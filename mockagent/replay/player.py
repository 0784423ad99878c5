"""Replaying: a recorded answer written back byte for byte — status, the headers that matter, the body —
and a stream chunk by chunk at its recorded offsets on the session's clock (so `--speed`, the manual clock,
and `asap` all apply). An interaction recorded as cut (the client hung up) is cut again at the same byte.
"""

from __future__ import annotations

from collections.abc import Mapping

from aiohttp import web

from mockagent.clock import Clock
from mockagent.replay.cassette import Interaction


def substitute(data: bytes, swaps: Mapping[bytes, bytes]) -> bytes:
    for recorded, live in swaps.items():
        if recorded in data:
            data = data.replace(recorded, live)
    return data


async def play(
    request: web.Request,
    interaction: Interaction,
    clock: Clock,
    *,
    swaps: Mapping[str, str],
    asap: bool,
) -> web.StreamResponse:
    """Write `interaction`'s answer; `swaps` turns recorded client-chosen ids into this client's."""
    recorded = interaction.response
    raw = {k.encode(): v.encode() for k, v in swaps.items()}
    started = clock.now()
    if not asap and recorded.ttfb > 0:
        await clock.sleep_until(started + recorded.ttfb)
    headers = [
        (name, substitute(value.encode(), raw).decode())
        for name, values in recorded.headers.items()
        for value in values
    ]
    if not recorded.chunks and recorded.complete:
        whole = web.Response(
            status=recorded.status, reason=recorded.reason or None, body=substitute(recorded.body, raw)
        )
        for name, value in headers:
            if name.lower() == "content-type":
                whole.headers[name] = value  # in place of aiohttp's default
            else:
                whole.headers.add(name, value)
        return whole
    response = web.StreamResponse(status=recorded.status, reason=recorded.reason or None)
    for name, value in headers:
        response.headers.add(name, value)
    await response.prepare(request)
    offset = 0
    body = recorded.body
    for chunk in recorded.chunks or ():
        if not asap:
            await clock.sleep_until(started + chunk.t)
        await response.write(substitute(body[offset : offset + chunk.n], raw))
        offset += chunk.n
    if offset < len(body):  # bytes no chunk accounts for (a cassette edited by hand): sent last
        await response.write(substitute(body[offset:], raw))
    if not recorded.complete:
        transport = request.transport
        if transport is not None:
            transport.close()  # cut where the recording was cut
        return response
    await response.write_eof()
    return response
