"""A generic Server-Sent Events parser for the tests: independent of mockagent's own writer."""

from __future__ import annotations

import json
from dataclasses import dataclass
from typing import Any


@dataclass(frozen=True)
class Frame:
    data: str
    event: str | None = None
    id: str | None = None

    def json(self) -> Any:
        return json.loads(self.data)


def parse(text: str) -> list[Frame]:
    """Parse an SSE body per the WHATWG rules we rely on: fields, blank-line dispatch, comments."""
    frames: list[Frame] = []
    data: list[str] = []
    event: str | None = None
    event_id: str | None = None
    for line in text.replace("\r\n", "\n").split("\n"):
        if line == "":
            if data:
                frames.append(Frame("\n".join(data), event, event_id))
            data, event = [], None
            continue
        if line.startswith(":"):
            continue
        name, _, value = line.partition(":")
        value = value.removeprefix(" ")
        if name == "data":
            data.append(value)
        elif name == "event":
            event = value
        elif name == "id":
            event_id = value
    if data:
        raise AssertionError(f"stream ended inside a frame (no blank line after): {data!r}")
    return frames


def json_frames(text: str) -> list[dict[str, Any]]:
    """Every frame's data as a JSON object (asserting each one is)."""
    out = []
    for frame in parse(text):
        value = frame.json()
        assert isinstance(value, dict), f"frame data is not a JSON object: {frame.data!r}"
        out.append(value)
    return out


def check_vocabulary(frames: list[dict[str, Any]], allowed: dict[str, set[str]], terminal: set[str]) -> None:
    """Every frame has a documented type and only that type's keys; exactly one terminal frame, last."""
    for index, frame in enumerate(frames):
        kind = frame.get("type")
        assert kind in allowed, f"frame {index} has undocumented type {kind!r}: {frame}"
        extra = set(frame) - allowed[kind] - {"type"}
        assert not extra, f"frame {index} ({kind}) has undocumented keys {sorted(extra)}: {frame}"
    terminals = [i for i, f in enumerate(frames) if f.get("type") in terminal]
    assert terminals == [len(frames) - 1], f"terminal frames at {terminals} of {len(frames)}: {frames}"
