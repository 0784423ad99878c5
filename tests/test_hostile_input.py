"""Every request, however malformed, gets its platform's own error — never a 500 — and nothing a client
sends can be stored in a way that breaks a later read: strings that are not Unicode, JSON nested past the
depth limit, messages past the message limit (and a long one streams in a bounded number of chunks),
numbers that are not ASCII digits, bodies that lie about their encoding, JWT claims of the wrong type,
fault headers that would wait forever, and header values that would end up in a response's headers."""

from __future__ import annotations

import asyncio
import base64
import gzip
import json
from collections.abc import Callable
from typing import Any

import aiohttp
import httpx
import pytest
from credentials import AGENTOS, BEEOS

from mockagent.encoding import MAX_DEPTH
from mockagent.faults import MAX_WAIT
from mockagent.model import TextDelta
from mockagent.platforms.bodies import MESSAGE_LIMIT
from mockagent.runs import MAX_CHUNKS
from mockagent.server import MockServer, ThreadedMockServer

INSTANT = "tests/scenarios/instant.yaml"
BULKY = "tests/scenarios/bulky.yaml"
XPANDER = {"x-api-key": "k"}
SAFETY = 30.0  # real seconds: a bound on what should answer at once, never a measurement


def jwt(claims: Any) -> str:
    payload = base64.urlsafe_b64encode(json.dumps(claims).encode()).decode().rstrip("=")
    return f"eyJhbGciOiJIUzI1NiJ9.{payload}.c2ln"


ZEUS = {"Authorization": f"Bearer {jwt({'sub': 'u'})}"}
ASTER = {"Authorization": f"Bearer {jwt({'sub': 'u'})}"}


def _aster_body(text: Any) -> dict[str, Any]:
    return {"agentId": 1, "message": {"role": "user", "parts": [{"type": "text", "text": text}]}}


# Per platform: its turn endpoint, its credential, a valid body around a message, and where the message is.
TURNS: dict[str, tuple[str, dict[str, str], Callable[[Any], dict[str, Any]], str]] = {
    "beeos": ("/api/v1/agents/echo/invoke", BEEOS, lambda m: {"message": m}, "message"),
    "agentos": ("/api/v1/agents/echo/invoke", AGENTOS, lambda m: {"input": {"message": m}}, "input.message"),
    "xpander": (
        "/v1/agents/echo/invoke",
        XPANDER,
        lambda m: {"input": {"text": m, "user": {"id": "u1", "email": "u@example.com"}}},
        "input.text",
    ),
    "zeus": (
        "/api/agent/invoke",
        ZEUS,
        lambda m: {"message": m, "llm_config": {"baseUrl": "http://llm", "apiKey": "k", "modelName": "echo"}},
        "message",
    ),
    "aster": ("/chat", ASTER, _aster_body, "message.parts.0.text"),
}
VALIDATION_STATUS = {"beeos": 400, "agentos": 400, "xpander": 422, "zeus": 422, "aster": 400}


def post(server: ThreadedMockServer, platform: str, raw: str | bytes, headers: dict[str, str] | None = None) -> Any:
    path, credential, _, _ = TURNS[platform]
    sent = {**credential, "Content-Type": "application/json", **(headers or {})}
    return httpx.post(server.base_url(platform) + path, content=raw, headers=sent, timeout=SAFETY)


def field_named(platform: str, response: httpx.Response) -> str:
    """The field a platform's validation error names, in dotted form."""
    body = response.json()
    if platform == "beeos":
        return str(body["error"]["param"])
    if platform == "agentos":
        return str(body["error"]["message"].split(":", 1)[0])
    if platform == "aster":
        return ".".join(str(part) for part in body["details"][0]["path"])
    loc = body["detail"][0]["loc"]
    assert loc[0] == "body"
    return ".".join(str(part) for part in loc[1:])


# ── strings that are not Unicode ─────────────────────────────────────────────────────────────────────


@pytest.mark.mockagent(scenarios=[INSTANT])
@pytest.mark.parametrize("platform", list(TURNS))
def test_a_lone_surrogate_is_the_platforms_validation_error_naming_its_field(
    mockagent_server: ThreadedMockServer, platform: str
) -> None:
    _, _, body, field = TURNS[platform]
    raw = json.dumps(body("PLACEHOLDER")).replace("PLACEHOLDER", "hi \\ud800 there")
    response = post(mockagent_server, platform, raw)
    assert response.status_code == VALIDATION_STATUS[platform], response.text
    assert field_named(platform, response) == field
    assert mockagent_server.session().runs_of() == []  # refused at the door: nothing was started


@pytest.mark.mockagent(scenarios=[INSTANT])
def test_nothing_a_client_sends_breaks_a_later_view(mockagent_server: ThreadedMockServer) -> None:
    ingest = mockagent_server.base_url("agentos") + "/api/ingest/v1"
    run_id = httpx.post(f"{ingest}/run/start", json={"agent_id": "echo"}, headers=AGENTOS).json()["data"]["run_id"]
    events = [{"type": "step", "payload": {"note": "NOTE"}}]
    bad = json.dumps({"run_id": run_id, "events": events}).replace("NOTE", "\\udfff")
    refused = httpx.post(f"{ingest}/events", content=bad, headers={**AGENTOS, "Content-Type": "application/json"})
    assert refused.status_code == 400
    assert refused.json()["error"]["message"].startswith("events.0.payload.note:")
    # A key, not only a value; and a valid pair of escapes is one character, taken as it is.
    key = post(mockagent_server, "beeos", '{"message": "x", "metadata": {"\\ud800": "v"}}')
    assert (key.status_code, field_named("beeos", key)) == (400, "metadata.\ud800")
    emoji = post(mockagent_server, "beeos", '{"message": "\\ud83d\\ude00"}')
    assert emoji.json()["data"]["text"] == "Echo: \U0001f600"
    thread = post(mockagent_server, "aster", json.dumps(_aster_body("hello"))).headers["X-Thread-ID"]

    views = [
        httpx.get(f"{mockagent_server.url}/__mockagent/runs", timeout=SAFETY),
        httpx.get(f"{mockagent_server.url}/__mockagent/agentos/ingest/runs", timeout=SAFETY),
        httpx.get(mockagent_server.base_url("aster") + "/getConversation", params={"threadId": thread}, headers=ASTER),
    ]
    assert [view.status_code for view in views] == [200, 200, 200]


@pytest.mark.mockagent(scenarios=[INSTANT])
def test_an_undecodable_header_echoed_in_an_error_is_no_500(mockagent_server: ThreadedMockServer) -> None:
    base = mockagent_server.base_url("beeos")
    body = {"filename": "a.txt", "content_type": "text/plain"}
    presigned = httpx.post(f"{base}/api/v1/files/presign-upload", json=body, headers=BEEOS).json()["data"]
    # The byte 0xff is no UTF-8: aiohttp reads it as a lone surrogate, which the 403's message quotes.
    response = httpx.put(presigned["upload_url"], content=b"hi", headers={"Content-Type": b"text/\xff"})
    assert response.status_code == 403
    assert response.json()["error"]["message"].startswith("Content-Type text/\udcff does not match")


@pytest.mark.mockagent(scenarios=[INSTANT])
@pytest.mark.parametrize("signature", ["%C3%A9", "%C2%80", "%FF"])  # é, a C1 control, a byte that is no UTF-8
def test_a_presigned_signature_beyond_ascii_is_a_mismatch_not_a_500(
    mockagent_server: ThreadedMockServer, signature: str
) -> None:
    base = mockagent_server.base_url("beeos")
    body = {"filename": "a.txt", "content_type": "text/plain"}
    file_id = httpx.post(f"{base}/api/v1/files/presign-upload", json=body, headers=BEEOS).json()["data"]["file_id"]
    url = f"{base}/storage/{file_id}?signature={signature}"
    upload = httpx.put(url, content=b"hi", headers={"Content-Type": "text/plain"})
    download = httpx.get(url)
    for response in (upload, download):
        assert response.status_code == 403, response.text
        assert response.json()["error"]["message"] == "the URL signature is missing or does not match"


# ── JSON nested past the depth limit ────────────────────────────────────────────────────────────────


@pytest.mark.mockagent(scenarios=[INSTANT])
@pytest.mark.parametrize("platform", list(TURNS))
def test_json_nested_past_the_depth_limit_is_the_platforms_invalid_json(
    mockagent_server: ThreadedMockServer, platform: str
) -> None:
    _, _, body, _ = TURNS[platform]
    deep = "[" * (MAX_DEPTH + 1) + "]" * (MAX_DEPTH + 1)  # well within what Python's parser can take
    raw = json.dumps({**body("hi"), "extra": "DEEP"}).replace('"DEEP"', deep)
    response = post(mockagent_server, platform, raw)
    assert response.status_code == VALIDATION_STATUS[platform], response.text
    if platform in ("xpander", "zeus"):
        assert response.json()["detail"][0]["type"] == "json_invalid"  # FastAPI's, which gives no reason
    else:
        assert "nested more than 128 levels deep" in response.text
    at_the_limit = json.dumps({**body("hi"), "extra": "DEEP"}).replace('"DEEP"', deep[2:-2])
    assert post(mockagent_server, platform, at_the_limit).status_code == 200


# ── the message limit, and how a long message streams ───────────────────────────────────────────────


@pytest.mark.mockagent(scenarios=[INSTANT])
@pytest.mark.parametrize("platform", list(TURNS))
def test_a_message_past_the_limit_is_the_platforms_validation_error_naming_its_field(
    mockagent_server: ThreadedMockServer, platform: str
) -> None:
    _, _, body, field = TURNS[platform]
    response = post(mockagent_server, platform, json.dumps(body("x" * (MESSAGE_LIMIT + 1))))
    assert response.status_code == VALIDATION_STATUS[platform], response.text
    # Aster checks the message's text as a whole, however many parts carry it.
    assert field_named(platform, response) == ("message.parts" if platform == "aster" else field)
    assert mockagent_server.session().runs_of() == []


@pytest.mark.mockagent(scenarios=[INSTANT, BULKY])
@pytest.mark.parametrize(
    ("agent", "message"),
    [
        ("echo", "one two three"),  # a message of a few words: a chunk per word, as ever
        ("echo", "w " * 5_000),  # 5,000 words: grouped, five to a chunk
        ("echo", "a " * (MESSAGE_LIMIT // 2)),  # the longest message, half a million words
        ("bulky", "y" * MESSAGE_LIMIT),  # cut by characters, 64 to a chunk, until past the cap
    ],
    ids=["short", "words", "longest", "chars"],
)
def test_a_long_message_echoed_keeps_its_text_in_a_bounded_number_of_chunks(
    mockagent_server: ThreadedMockServer, agent: str, message: str
) -> None:
    url = mockagent_server.base_url("beeos") + f"/api/v1/agents/{agent}/invoke"
    reply = httpx.post(url, json={"message": message}, headers=BEEOS, timeout=SAFETY)
    assert reply.status_code == 200, reply.text[:200]
    expected = ("Echo: " if agent == "echo" else "") + message
    assert reply.json()["data"]["text"] == expected
    (run,) = mockagent_server.session().runs_of()
    chunks = [timed.event.text for timed in run.timeline if isinstance(timed.event, TextDelta)]
    assert "".join(chunks) == expected
    if len(message) < 100:
        assert chunks == ["Echo: ", "one ", "two ", "three"]
    else:  # not one event per word (or per 64 characters): at most the cap
        assert len(chunks) <= MAX_CHUNKS


# ── numbers in query strings and headers ────────────────────────────────────────────────────────────


@pytest.mark.mockagent(scenarios=[INSTANT])
@pytest.mark.parametrize("value", ["--5", "²", "1" * 5_000, "-", "1.5"])
def test_a_query_number_that_is_no_integer_is_the_platforms_validation_error(
    mockagent_server: ThreadedMockServer, value: str
) -> None:
    beeos = httpx.get(
        mockagent_server.base_url("beeos") + "/api/v1/tasks", params={"limit": value}, headers=BEEOS, timeout=SAFETY
    )
    assert beeos.status_code == 400, beeos.text
    assert beeos.json()["error"]["param"] == "limit"
    agentos = httpx.get(
        mockagent_server.base_url("agentos") + "/api/v1/approvals",
        params={"limit": value},
        headers=AGENTOS,
        timeout=SAFETY,
    )
    assert agentos.status_code == 400, agentos.text
    assert agentos.json()["error"]["message"].startswith("limit:")


# ── bodies that lie about their encoding ────────────────────────────────────────────────────────────


@pytest.mark.mockagent(scenarios=[INSTANT])
@pytest.mark.parametrize("platform", ["beeos", "xpander"])
def test_a_body_that_is_not_its_content_encoding_is_the_platforms_400(
    mockagent_server: ThreadedMockServer, platform: str
) -> None:
    _, _, body, _ = TURNS[platform]
    raw = json.dumps(body("hello compressed world")).encode()
    plain = post(mockagent_server, platform, raw, {"Content-Encoding": "gzip"})
    assert plain.status_code == 400, plain.text
    message = plain.json()["error"]["message"] if platform == "beeos" else plain.json()["detail"]
    assert message == "request body is not valid for its Content-Encoding (gzip)"
    # A real gzip body is read whole (its Content-Length counts the compressed bytes).
    packed = post(mockagent_server, platform, gzip.compress(raw), {"Content-Encoding": "gzip"})
    assert packed.status_code == 200, packed.text


# ── JWT claims of the wrong type ────────────────────────────────────────────────────────────────────


@pytest.mark.parametrize(
    "claims",
    [{"org_role": ["org:admin"]}, {"org_role": {"role": "admin"}}, {"org_role": 7}, {"o": {"rol": ["admin"]}}],
    ids=["list", "object", "number", "nested-list"],
)
def test_an_aster_role_claim_that_is_no_string_is_forbidden(
    mockagent_server: ThreadedMockServer, claims: dict[str, Any]
) -> None:
    response = httpx.post(
        mockagent_server.base_url("aster") + "/chat",
        json=_aster_body("hi"),
        headers={"Authorization": f"Bearer {jwt(claims)}"},
        timeout=SAFETY,
    )
    assert response.status_code == 403, response.text
    assert response.json() == {"error": "Unauthorized: User is not an admin in this organization"}


# ── fault headers that would wait forever ───────────────────────────────────────────────────────────


@pytest.mark.mockagent(scenarios=[INSTANT])
@pytest.mark.parametrize(
    "spec",
    ["latency=lognormal:0:1", "latency=inf", "latency=nan", "stall=inf", f"latency={MAX_WAIT + 1:g}", "latency=0..inf"],
)
def test_a_fault_that_cannot_be_waited_out_is_the_platforms_validation_error(
    mockagent_server: ThreadedMockServer, spec: str
) -> None:
    response = post(mockagent_server, "beeos", '{"message": "hi"}', {"X-Mockagent-Fault": spec})
    assert response.status_code == 400, response.text
    assert response.json()["error"]["param"] == "header.X-Mockagent-Fault"


@pytest.mark.mockagent(scenarios=[INSTANT], manual_clock=True)
async def test_a_wild_log_normal_latency_waits_at_most_the_cap(mockagent_aserver: MockServer) -> None:
    url = mockagent_aserver.base_url("beeos") + "/api/v1/agents/echo/invoke"
    headers = {**BEEOS, "X-Mockagent-Fault": "latency=lognormal:1:5000"}  # e^(±thousands): 0 or "forever"
    waited = 0
    async with aiohttp.ClientSession(headers=headers) as http:
        for _ in range(8):
            call = asyncio.ensure_future(http.post(url, json={"message": "hi"}))
            waiting = asyncio.ensure_future(mockagent_aserver.until_waiting())
            await asyncio.wait([call, waiting], return_when=asyncio.FIRST_COMPLETED)
            if waiting.done():  # a long draw: it is cut at the cap
                waited += 1
                await mockagent_aserver.advance(MAX_WAIT)
            waiting.cancel()
            async with await call as response:
                assert response.status == 200, await response.text()
    assert waited > 0  # the seeded draws include long ones


# ── header values that would end up in a response's headers ────────────────────────────────────────


@pytest.mark.mockagent(scenarios=[INSTANT])
@pytest.mark.parametrize(
    ("body", "field"),
    [
        ({"filename": "a.txt\r\nX-Injected: 1", "content_type": "text/plain"}, "filename"),
        ({"filename": "a.txt", "content_type": "text/plain\r\nX-Injected: 1"}, "content_type"),
        ({"filename": "a.txt", "content_type": "plain text"}, "content_type"),
    ],
)
def test_a_presigned_name_or_type_that_would_break_a_header_is_refused(
    mockagent_server: ThreadedMockServer, body: dict[str, str], field: str
) -> None:
    url = mockagent_server.base_url("beeos") + "/api/v1/files/presign-upload"
    response = httpx.post(url, json=body, headers=BEEOS, timeout=SAFETY)
    assert response.status_code == 400, response.text
    assert response.json()["error"]["param"] == field


@pytest.mark.mockagent(scenarios=[INSTANT])
def test_a_download_names_its_file_safely(mockagent_server: ThreadedMockServer) -> None:
    url = mockagent_server.base_url("beeos") + "/api/v1/files/presign-upload"
    body = {"filename": 'résumé "final".txt', "content_type": "text/plain"}
    presigned = httpx.post(url, json=body, headers=BEEOS, timeout=SAFETY).json()["data"]
    assert httpx.put(presigned["upload_url"], content=b"hi", headers={"Content-Type": "text/plain"}).status_code == 200
    download = httpx.get(presigned["download_url"], timeout=SAFETY)
    assert download.content == b"hi"
    assert download.headers["Content-Disposition"] == (
        "attachment; filename=\"r_sum_ _final_.txt\"; filename*=UTF-8''r%C3%A9sum%C3%A9%20%22final%22.txt"
    )


@pytest.mark.mockagent(scenarios=[INSTANT])
def test_presigned_urls_point_at_this_server_whatever_the_host_header_says(
    mockagent_server: ThreadedMockServer,
) -> None:
    url = mockagent_server.base_url("beeos") + "/api/v1/files/presign-upload"
    body = {"filename": "a.txt", "content_type": "text/plain"}
    port = mockagent_server.server.port

    def presign(host: str) -> dict[str, str]:
        data: dict[str, str] = httpx.post(url, json=body, headers={**BEEOS, "Host": host}).json()["data"]
        return data

    for host in ("attacker.example", "attacker.example:80", "10.1.2.3:8710", "not a host"):
        presigned = presign(host)
        assert presigned["upload_url"].startswith(f"http://127.0.0.1:{port}/beeos/storage/")
        assert presigned["download_url"].startswith(f"http://127.0.0.1:{port}/beeos/storage/")
    # A loopback name is kept: a client that reached the server through a port mapping can use it.
    assert presign("localhost:9999")["upload_url"].startswith("http://localhost:9999/beeos/storage/")
    assert presign("[::1]:9999")["upload_url"].startswith("http://[::1]:9999/beeos/storage/")
