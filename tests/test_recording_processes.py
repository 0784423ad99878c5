"""Record and replay as a user does it, every part its own process: `mockagent serve --manual-clock` as the
"real API", `mockagent record` in front of it, then `mockagent serve --cassettes` with nothing else — and the
client sees the same bytes on all five platforms: blocking replies, streams in every dialect, and a
human-in-the-loop pause and its decision."""

from __future__ import annotations

import asyncio
from pathlib import Path

import aiohttp
from serving import SAFETY, mockagent

BEEOS = {"Authorization": "Bearer oag_" + "0123456789abcdef" * 4}
AGENTOS = {"Authorization": "Bearer aos_ws_team"}
XPANDER = {"x-api-key": "xp-key"}
JWT = {"Authorization": "Bearer eyJhbGciOiJIUzI1NiJ9.eyJzdWIiOiJ1c2VyXzEifQ.c2lnbmF0dXJl"}
LLM = {"baseUrl": "http://llm.invalid", "apiKey": "sk-test-1234567890", "modelName": "m"}


async def moving(http: aiohttp.ClientSession, upstream: str | None, method: str, url: str, **kwargs: object) -> bytes:
    """A request that waits on the upstream's manual clock: once it waits (the admin API says so), one
    second of clock time passes."""
    sent = asyncio.ensure_future(http.request(method, url, **kwargs))  # type: ignore[arg-type]
    if upstream is not None:
        loop = asyncio.get_running_loop()
        deadline = loop.time() + SAFETY
        while loop.time() < deadline:  # another process: watched through its admin API, within a bound
            async with http.get(f"{upstream}/__mockagent/clock") as clock:
                if (await clock.json())["waiting"] >= 1:
                    break
            await asyncio.sleep(0.01)
        async with http.post(f"{upstream}/__mockagent/clock/advance", json={"seconds": 1}) as advanced:
            assert advanced.status == 200
    response = await asyncio.wait_for(sent, SAFETY)
    body = await response.read()
    return f"{response.status} {response.headers.get('Content-Type')}\n".encode() + body


async def conversation(http: aiohttp.ClientSession, base: str, upstream: str | None) -> list[bytes]:
    beeos, agentos = f"{base}/beeos/api/v1/agents", f"{base}/agentos/api/v1"
    seen = [
        await moving(http, upstream, "POST", f"{beeos}/echo/invoke", json={"message": "hi"}, headers=BEEOS),
        await moving(
            http,
            upstream,
            "POST",
            f"{beeos}/tools/invoke",
            json={"message": "w"},
            headers={**BEEOS, "Accept": "text/event-stream"},
        ),
        await moving(http, upstream, "POST", f"{agentos}/agents/approval/invoke", json={}, headers=AGENTOS),
    ]
    approval = seen[-1].split(b"\n", 1)[1].split(b'"approval_id":"')[1].split(b'"')[0].decode()
    decide = f"{agentos}/approvals/{approval}/decide"
    seen.append(await moving(http, None, "POST", decide, json={"decision": "approve"}, headers=AGENTOS))
    ask = {"input": {"text": "hi", "user": {"id": "u1", "email": "u1@example.com"}}}
    seen.append(
        await moving(http, upstream, "POST", f"{base}/xpander/v1/agents/echo/invoke", json=ask, headers=XPANDER)
    )
    zeus = {"message": "w", "session_id": "s-process-0001", "llm_config": LLM}
    seen.append(
        await moving(http, upstream, "POST", f"{base}/zeus/api/agent/invoke?agent=tools", json=zeus, headers=JWT)
    )
    message = {"role": "user", "parts": [{"type": "text", "text": "weather?"}]}
    chat = {"agentId": 2, "message": message}
    seen.append(await moving(http, upstream, "POST", f"{base}/aster/api/chat", json=chat, headers=JWT))
    return seen


async def test_record_then_replay_every_part_its_own_process(tmp_path: Path) -> None:
    async with mockagent("serve", "--manual-clock") as upstream:
        urls = [f"--upstream={key}={upstream}/{key}" for key in ("beeos", "agentos", "xpander", "zeus")]
        urls.append(f"--upstream=aster={upstream}/aster/api")
        async with (
            mockagent("record", "--cassettes", str(tmp_path), *urls) as recorder,
            aiohttp.ClientSession() as http,
        ):
            live = await conversation(http, recorder, upstream)
    assert sorted(p.name for p in tmp_path.iterdir()) == [
        f"{k}.yaml" for k in ("agentos", "aster", "beeos", "xpander", "zeus")
    ]
    async with mockagent("serve", "--cassettes", str(tmp_path), "--asap") as replaying, aiohttp.ClientSession() as http:
        replayed = await conversation(http, replaying, None)
    assert replayed == live
    assert live[0].startswith(b"200 application/json")
    assert live[1].startswith(b"200 text/event-stream")
    assert live[2].startswith(b"202 ")
    assert live[3].startswith(b"200 ")
    assert [answer.split(b" ", 1)[0] for answer in live[4:]] == [b"200", b"200", b"200"]


async def test_two_recorders_on_one_folder_keep_each_others_interactions(tmp_path: Path) -> None:
    """Two `mockagent record` processes (replicas) writing one cassette: each reads back what the other
    wrote before adding its own, so the file holds every interaction (in the order each was written: a
    recorder writes after it has answered, so two close together may land either way)."""
    async with mockagent("serve") as upstream:
        upstreams = f"--upstream=beeos={upstream}/beeos"
        async with (
            mockagent("record", "--cassettes", str(tmp_path), upstreams) as one,
            mockagent("record", "--cassettes", str(tmp_path), upstreams) as two,
            aiohttp.ClientSession() as http,
        ):
            for n, base in enumerate((one, two, one, two)):
                url = f"{base}/beeos/api/v1/agents/echo/invoke"
                async with http.post(url, json={"message": f"m{n}"}, headers=BEEOS) as response:
                    assert response.status == 200
    text = (tmp_path / "beeos.yaml").read_text()
    assert [n for n in range(4) if text.count(f"Echo: m{n}") == 1] == [0, 1, 2, 3]
    assert sorted(p.name for p in tmp_path.iterdir()) == ["beeos.yaml"]
    async with mockagent("serve", "--cassettes", str(tmp_path)) as replaying, aiohttp.ClientSession() as http:
        for n in range(4):
            url = f"{replaying}/beeos/api/v1/agents/echo/invoke"
            async with http.post(url, json={"message": f"m{n}"}, headers=BEEOS) as response:
                assert (await response.json())["data"]["text"] == f"Echo: m{n}"
