"""The bare aiohttp server every figure is compared with: the same path, the same JSON body and the same
SSE frames as the mock (captured from it by run.py into a wire file), with none of the mock's work.

    python bench/baseline.py --wire bench/.work/wire.json --port 8799

Per agent of the wire file: a JSON answer (after `json_delay` seconds), or with `Accept: text/event-stream`
the captured frames, each written at its scheduled offset (asyncio.sleep) or at once when unpaced.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import resource
import signal
from dataclasses import dataclass
from pathlib import Path

from aiohttp import web

INVOKE_PATH = "/beeos/api/v1/agents/{agent}/invoke"
HEALTH_PATH = "/__mockagent/health"


@dataclass(frozen=True)
class WireAgent:
    json_body: bytes
    json_delay: float
    frames: tuple[bytes, ...]
    schedule: tuple[float, ...]  # seconds after the stream opens, one per frame


def load_wire(path: Path) -> dict[str, WireAgent]:
    data = json.loads(path.read_text(encoding="utf-8"))
    return {
        agent_id: WireAgent(
            json_body=entry["json"].encode(),
            json_delay=float(entry["json_delay"]),
            frames=tuple(frame.encode() for frame in entry["frames"]),
            schedule=tuple(float(at) for at in entry["schedule"]),
        )
        for agent_id, entry in data["agents"].items()
    }


WIRE = web.AppKey("wire", dict[str, WireAgent])


async def invoke(request: web.Request) -> web.StreamResponse:
    agent = request.app[WIRE].get(request.match_info["agent"])
    if agent is None:
        return web.json_response({"success": False}, status=404)
    if not request.headers.get("Authorization", "").startswith("Bearer "):
        return web.json_response({"success": False}, status=401)
    json.loads(await request.read())
    if "text/event-stream" in request.headers.get("Accept", ""):
        return await stream(request, agent)
    if agent.json_delay > 0:
        await asyncio.sleep(agent.json_delay)
    return web.Response(body=agent.json_body, content_type="application/json")


async def stream(request: web.Request, agent: WireAgent) -> web.StreamResponse:
    response = web.StreamResponse(headers={"Content-Type": "text/event-stream", "Cache-Control": "no-cache"})
    await response.prepare(request)
    loop = asyncio.get_running_loop()
    opened = loop.time()
    for frame, at in zip(agent.frames, agent.schedule, strict=True):
        wait = opened + at - loop.time()
        if wait > 0:
            await asyncio.sleep(wait)
        await response.write(frame)
    await response.write_eof()
    return response


async def health(_: web.Request) -> web.Response:
    return web.json_response({"status": "ok"})


def build_app(wire: dict[str, WireAgent]) -> web.Application:
    app = web.Application()
    app[WIRE] = wire
    app.router.add_post(INVOKE_PATH, invoke)
    app.router.add_get(HEALTH_PATH, health)
    return app


async def serve(app: web.Application, port: int) -> None:
    runner = web.AppRunner(app, handler_cancellation=True, access_log=None)
    await runner.setup()
    await web.TCPSite(runner, "127.0.0.1", port).start()
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGINT, signal.SIGTERM):
        loop.add_signal_handler(sig, stop.set)
    try:
        await stop.wait()
    finally:
        await runner.cleanup()


def main() -> None:
    parser = argparse.ArgumentParser(description="The bare aiohttp baseline server.")
    parser.add_argument("--wire", type=Path, help="the wire file run.py captured from the mock")
    parser.add_argument("--port", type=int, required=True)
    args = parser.parse_args()
    _, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    resource.setrlimit(resource.RLIMIT_NOFILE, (hard if hard != resource.RLIM_INFINITY else 65536, hard))
    wire = load_wire(args.wire) if args.wire else {}
    asyncio.run(serve(build_app(wire), args.port))


if __name__ == "__main__":
    main()
