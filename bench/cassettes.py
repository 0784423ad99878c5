"""The cassette the replay benchmark serves, generated into bench/.work/cassettes/.

`beeos.yaml` holds 10,000 recorded JSON invokes of `echo` (one per message, so matching has that many
keys to tell apart), the invoke the load sends, and the paced stream, its 20 chunks at their scripted
offsets, as a recorder would have kept them.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from mockagent.replay.cassette import Cassette, Chunk, Interaction, Response

import scenarios
import wire

INTERACTIONS = 10_000
UPSTREAM = "https://openapi.beeos.ai"


def _interaction(
    agent: str, message: str, status: int, body: bytes, *, stream: bool, chunks: tuple[Chunk, ...] = ()
) -> Interaction:
    path = f"/api/v1/agents/{agent}/invoke"
    headers = {"Authorization": ["<<secret:beeos:00000000>>"], "Content-Type": ["application/json"]}
    if stream:
        headers["Accept"] = ["text/event-stream"]
    kind = "text/event-stream" if stream else "application/json; charset=utf-8"
    return Interaction(
        method="POST",
        uri=UPSTREAM + path,
        headers=headers,
        body=json.dumps({"message": message}).encode(),
        response=Response(status, "OK", {"Content-Type": [kind]}, body, ttfb=0.0, chunks=chunks),
        client_path=path,
        platform="beeos",
    )


def write(work: Path, captured: dict[str, Any]) -> Path:
    """The cassette folder, from the wire captured from the mock (the same bytes the baseline sends)."""
    folder = work / "cassettes"
    folder.mkdir(parents=True, exist_ok=True)
    cassette = Cassette(folder / "beeos.yaml")
    echo = captured["agents"][scenarios.ECHO]["json"].encode()
    for n in range(INTERACTIONS):
        cassette.add(
            _interaction(
                scenarios.ECHO, f"m{n:05d}", 200, echo.replace(b"Echo: hi", f"Echo: m{n:05d}".encode()), stream=False
            )
        )
    cassette.add(_interaction(scenarios.ECHO, wire.MESSAGE, 200, echo, stream=False))
    paced = captured["agents"][scenarios.PACED.id]
    frames = [frame.encode() for frame in paced["frames"]]
    chunks = tuple(Chunk(at, len(frame)) for at, frame in zip(paced["schedule"], frames, strict=True))
    cassette.add(_interaction(scenarios.PACED.id, wire.MESSAGE, 200, b"".join(frames), stream=True, chunks=chunks))
    cassette.save()
    return folder
