"""What goes over the wire: the BeeOS invoke request, and the mock's answers captured for the baseline."""

from __future__ import annotations

import http.client
import json
from pathlib import Path
from typing import Any

from analysis import frame_schedule
from procs import HOST
from rawhttp import RequestSpec, frame_token
from scenarios import DELAYED, ECHO, PACED, ROUTED, UNPACED, StreamAgent

TOKEN = "oag_" + "0123456789abcdef" * 4  # BeeOS: oag_ and 64 hex characters
MESSAGE = "hi"
INVOKE_PATH = "/beeos/api/v1/agents/{agent}/invoke"
STREAM_AGENTS = (UNPACED, PACED, DELAYED)


def invoke_spec(agent: str, *, stream: bool = False) -> RequestSpec:
    headers = {"Authorization": f"Bearer {TOKEN}", "Content-Type": "application/json"}
    if stream:
        headers["Accept"] = "text/event-stream"
    return RequestSpec("POST", INVOKE_PATH.format(agent=agent), headers, json.dumps({"message": MESSAGE}))


def routed_spec() -> RequestSpec:
    """The JSON invoke of `routed`: what its conditions read, in the body and the headers."""
    spec = invoke_spec(ROUTED)
    body = {"message": MESSAGE, "metadata": {"tier": "gold", "channel": "web"}}
    return RequestSpec(spec.method, spec.path, {**spec.headers, "X-Bench": "yes"}, json.dumps(body))


def fetch(port: int, spec: RequestSpec) -> tuple[int, str]:
    connection = http.client.HTTPConnection(HOST, port, timeout=30)
    try:
        connection.request(spec.method, spec.path, body=spec.body, headers=spec.headers)
        response = connection.getresponse()
        return response.status, response.read().decode()
    finally:
        connection.close()


def _frames(body: str) -> list[str]:
    return [part + "\n\n" for part in body.split("\n\n") if part.strip()]


def check_echo(port: int, spec: RequestSpec | None = None) -> str:
    """The BeeOS invoke answers as the issue says, or the reason it does not."""
    spec = spec or invoke_spec(ECHO)
    status, body = fetch(port, spec)
    try:
        data = json.loads(body)
        text = data["data"]["text"]
    except (ValueError, KeyError, TypeError):
        return f"POST {spec.path} answered {status}: {body[:300]}"
    if status != 200 or data.get("success") is not True or text != f"Echo: {MESSAGE}":
        return f"POST {spec.path} answered {status}: {body[:300]}"
    return ""


def _capture_stream(port: int, agent: StreamAgent) -> dict[str, Any]:
    status, body = fetch(port, invoke_spec(agent.id, stream=True))
    frames = _frames(body)
    seen: set[int] = set()
    tokens = [frame_token(frame.encode(), seen) for frame in frames]
    if status != 200 or sorted(t for t in tokens if t >= 0) != list(range(len(agent.schedule))):
        raise RuntimeError(f"the {agent.id} stream is not as scripted ({status}):\n{body[:1000]}")
    status, json_body = fetch(port, invoke_spec(agent.id))
    if status != 200:
        raise RuntimeError(f"the {agent.id} JSON invoke answered {status}: {json_body[:300]}")
    return {
        "json": json_body,
        "json_delay": agent.scripted,
        "frames": frames,
        "schedule": frame_schedule(tokens, agent.schedule),
    }


def capture(port: int, path: Path) -> dict[str, Any]:
    """Record the mock's JSON bodies and SSE frames, for the baseline to send the same bytes."""
    problem = check_echo(port)
    if problem:
        raise RuntimeError(f"BeeOS invoke is not served as expected (is mockagent/platforms/beeos done?): {problem}")
    problem = check_echo(port, routed_spec())
    if problem:
        raise RuntimeError(f"the routed agent does not answer by its conditions: {problem}")
    _, echo = fetch(port, invoke_spec(ECHO))
    _, routed = fetch(port, routed_spec())
    agents: dict[str, Any] = {
        ECHO: {"json": echo, "json_delay": 0.0, "frames": [], "schedule": []},
        ROUTED: {"json": routed, "json_delay": 0.0, "frames": [], "schedule": []},
    }
    for agent in STREAM_AGENTS:
        agents[agent.id] = _capture_stream(port, agent)
    wire = {"agents": agents}
    path.write_text(json.dumps(wire, indent=1), encoding="utf-8")
    return wire
