"""Redaction (secrets never reach a cassette) and the cassette audit."""

from __future__ import annotations

import hashlib
import json
import random
import subprocess
import sys
import time
import uuid
from collections.abc import Callable
from pathlib import Path
from typing import Any

import httpx
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from vcr import serialize as vcr_serialize
from vcr.request import Request
from vcr.serializers import yamlserializer

from mockagent.replay.audit import Finding, audit, audit_text, main, mask
from mockagent.replay.redaction import (
    BUILTIN_RULES,
    PLACEHOLDER,
    Redacted,
    RedactionConfig,
    RedactionConfigError,
    Redactor,
    any_shape,
    is_key_like,
    load_config,
    looks_random,
    parse_pattern_option,
    shannon_entropy,
)
from mockagent.server import ThreadedMockServer

R = Redactor()

JWT = "eyJhbGciOiJIUzI1NiJ9.eyJzdWIiOiJ1c2VyXzEifQ.c2lnbmF0dXJlLW9mLXRoZS10b2tlbg"
OPENAI = "sk-proj-Ab12Cd34Ef56Gh78Ij90Kl12Mn34Op56Qr78"
ANTHROPIC = "sk-ant-api03-Zx98Yw76Vu54Ts32Rq10Po98Nm76Lk54"
TAVILY = "tvly-dev-Qw3rTy7uIo9pAs2dFg4hJk6l"
BEEOS = "oag_" + "0123456789abcdef" * 4
AGENTOS_WS = "aos_ws_live_7f3k2m9q"
AGENTOS_AGENT = "aos_agent_echo_4p8w1z"
GITHUB = "ghp_" + "aB3dE5gH7jK9mN1pQ3sT5vW7yZ9bC1dE3fG5"
AWS = "AKIAIOSFODNN7EXAMPLE"
GOOGLE = "AIza" + "SyA1b2C3d4E5f6G7h8I9j0K1l2M3n4O5p6Q"
SLACK = "xoxb-1234567890-0987654321-AbCdEfGhIjKl"
STRIPE = "sk_live_" + "4eC39HqLyjWDarjtT1zdp7dc"
PEM = "-----BEGIN RSA PRIVATE KEY-----\nMIIEpAIBAAKCAQEA1b2c3d4\nx9y8z7==\n-----END RSA PRIVATE KEY-----"

#: (label, secret): every shape of the rule table, each labelled by its own rule.
SHAPES = [
    ("jwt", JWT),
    ("openai", OPENAI),
    ("anthropic", ANTHROPIC),
    ("tavily", TAVILY),
    ("beeos", BEEOS),
    ("agentos_ws", AGENTOS_WS),
    ("agentos_agent", AGENTOS_AGENT),
    ("github", GITHUB),
    ("aws", AWS),
    ("google", GOOGLE),
    ("slack", SLACK),
    ("stripe", STRIPE),
]


def placeholder(label: str, secret: str) -> str:
    return f"<<secret:{label}:{hashlib.sha256(secret.encode()).hexdigest()[:8]}>>"


def sse(*payloads: Any) -> bytes:
    lines = [f"data: {p if isinstance(p, str) else json.dumps(p)}\n\n" for p in payloads]
    return ("event: message\n" + "".join(lines)).encode()


# ── every shape, everywhere ───────────────────────────────────────────────────────────────────────

# Where a secret can stand: each function puts it there, redacts, and gives back the redacted text.
PLACES: dict[str, Callable[[str], str]] = {
    "request header": lambda s: R.redact_headers({"X-Debug-Note": [f"used {s} today"]})["X-Debug-Note"][0],
    "response header": lambda s: R.redact_headers({"Location": [f"https://x.example/cb#{s}"]})["Location"][0],
    "Authorization header": lambda s: R.redact_headers({"Authorization": [f"Bearer {s}"]})["Authorization"][0],
    "JSON body, nested in a list": lambda s: R.redact_text(json.dumps({"a": [{"b": {"note": f"key {s}."}}]})),
    "JSON body, as a whole string": lambda s: R.redact_text(json.dumps({"messages": [{"content": s}]})),
    "query string": lambda s: R.redact_uri(f"https://api.example.com/v1/x?q={s}&page=2"),
    "SSE data line (JSON)": lambda s: R.redact_stream(sse({"delta": {"text": f"here: {s}"}})).data.decode(),
    "SSE data line (text)": lambda s: R.redact_stream(sse(f"raw {s} frame", "[DONE]")).data.decode(),
    "text body": lambda s: R.redact_text(f"line one\nthe key is {s}\n"),
}


@pytest.mark.parametrize("place", list(PLACES))
@pytest.mark.parametrize(("label", "secret"), SHAPES, ids=[label for label, _ in SHAPES])
def test_every_shape_is_redacted_everywhere(place: str, label: str, secret: str) -> None:
    redacted = PLACES[place](secret)
    assert secret not in redacted
    assert placeholder(label, secret) in redacted


def test_a_private_key_in_a_json_string_is_redacted_whole() -> None:
    body = json.dumps({"config": {"pem": PEM, "name": "deploy"}})
    redacted = R.redact_text(body)
    assert "MIIEpAIBAAKCAQEA" not in redacted
    assert json.loads(redacted) == {"config": {"pem": placeholder("private_key", PEM), "name": "deploy"}}


@pytest.mark.parametrize(
    "text",
    [
        "ask-me-anything-about-the-weather-2024",  # ends in "sk-" inside a word
        "task-0123456789abcdef0123456789abcdef",
        "see sk-learn-and-friends-for-details",  # no digit: prose
        "use Bearer authentication for this endpoint",
        "the bearer of this letter",
        "aos_ws_… and aos_agent_… are the two kinds of key",
        "http://127.0.0.1:8000/beeos/api/v1/agents/echo/invoke",
    ],
)
def test_look_alikes_in_prose_stay(text: str) -> None:
    assert R.redact_text(text) == text


# ── secrets by their place: headers, fields, paths, parameters, both directions ──────────────────


def test_request_headers_by_name() -> None:
    headers = {
        "Authorization": [f"Bearer {JWT}"],
        "Proxy-Authorization": ["Basic dXNlcjpwYXNzd29yZA=="],
        "x-api-key": ["key-1"],  # xpander's test keys are short and shapeless: the name is enough
        "X-Goog-Api-Key": ["plain"],
        "Cookie": ["session=abc; theme=dark; empty="],
        "Content-Type": ["application/json"],
        "User-Agent": ["beeos-sdk/0.8.0"],
    }
    redacted = R.redact_headers(headers)
    assert redacted == {
        "Authorization": [f"Bearer {placeholder('jwt', JWT)}"],
        "Proxy-Authorization": [f"Basic {placeholder('opaque', 'dXNlcjpwYXNzd29yZA==')}"],
        "x-api-key": [placeholder("opaque", "key-1")],
        "X-Goog-Api-Key": [placeholder("opaque", "plain")],
        "Cookie": [f"session={placeholder('opaque', 'abc')}; theme={placeholder('opaque', 'dark')}; empty="],
        "Content-Type": ["application/json"],
        "User-Agent": ["beeos-sdk/0.8.0"],
    }


def test_response_headers_by_name_keep_cookie_attributes() -> None:
    headers = {
        "Set-Cookie": ["sid=s3cr3t; Path=/; Expires=Wed, 21 Oct 2026 07:28:00 GMT; HttpOnly", "lang=en; Path=/"],
        "X-CSRF-Token": ["Xk7pQ2mZ9wR4tY6uI8oP1aS3"],  # a key-like name, a random value: the entropy rule
        "X-Request-Id": ["req_0123456789abcdef01234567"],
        "X-Thread-ID": [str(uuid.UUID(int=7))],
        "ETag": ['"9a0364b9e99bb480dd25e1f0284c8555"'],
    }
    redacted = R.redact_headers(headers)
    assert redacted["Set-Cookie"] == [
        f"sid={placeholder('opaque', 's3cr3t')}; Path=/; Expires=Wed, 21 Oct 2026 07:28:00 GMT; HttpOnly",
        f"lang={placeholder('opaque', 'en')}; Path=/",
    ]
    assert redacted["X-CSRF-Token"] == [placeholder("opaque", "Xk7pQ2mZ9wR4tY6uI8oP1aS3")]
    for name in ("X-Request-Id", "X-Thread-ID", "ETag"):
        assert redacted[name] == headers[name]


def test_zeus_llm_config_and_tool_credentials() -> None:
    body = {
        "message": "hi",
        "llm_config": {"baseUrl": "https://api.openai.com/v1", "apiKey": "sk-zeus-very-secret", "modelName": "gpt-4o"},
        "tools": [
            {"type": "mcp", "name": "search", "base_url": "https://mcp.example.com", "api_key": "tool-cred-1"},
            {"type": "oauth", "name": "mail", "api_key": TAVILY},
        ],
        "session_id": "6f1c2b8e-3a47-4d2b-9c1e-5f6a7b8c9d0e",
    }
    expected = {
        **body,
        "llm_config": {**body["llm_config"], "apiKey": placeholder("opaque", "sk-zeus-very-secret")},
        "tools": [
            {**body["tools"][0], "api_key": placeholder("opaque", "tool-cred-1")},
            {**body["tools"][1], "api_key": placeholder("tavily", TAVILY)},
        ],
    }
    assert json.loads(R.redact_text(json.dumps(body))) == expected
    assert R.redact_json(body) == expected


def test_secret_fields_nested_and_in_lists_whatever_their_spelling() -> None:
    body = {
        "auth": {"password": "hunter2", "Client-Secret": "cs-1", "accessToken": "at-1", "REFRESH_TOKEN": "rt-1"},
        "accounts": [{"user": "ada", "secret": "s-1"}, {"user": "bob", "token": "t-1"}],
        "passwords": "not a secret name",
        "password": "",  # empty: nothing to hide
        "token_count": 12,
        "usage": {"input_tokens": 3, "output_tokens": 9},
        "secret": {"value": "inside an object: judged by its own name"},
        "api_key": ["k-1", ["k-2"]],  # a list under a secret name: every string in it
    }
    redacted = R.redact_json(body)
    assert redacted == {
        "auth": {
            "password": placeholder("opaque", "hunter2"),
            "Client-Secret": placeholder("opaque", "cs-1"),
            "accessToken": placeholder("opaque", "at-1"),
            "REFRESH_TOKEN": placeholder("opaque", "rt-1"),
        },
        "accounts": [
            {"user": "ada", "secret": placeholder("opaque", "s-1")},
            {"user": "bob", "token": placeholder("opaque", "t-1")},
        ],
        "passwords": "not a secret name",
        "password": "",
        "token_count": 12,
        "usage": {"input_tokens": 3, "output_tokens": 9},
        "secret": {"value": "inside an object: judged by its own name"},
        "api_key": [placeholder("opaque", "k-1"), [placeholder("opaque", "k-2")]],
    }
    assert json.loads(R.redact_text(json.dumps(body, indent=2))) == redacted


def test_fields_where_no_json_walk_reaches() -> None:
    # Tool-call arguments are JSON inside a JSON string; an SSE frame may spread its JSON over data: lines.
    body = json.dumps({"tool_calls": [{"arguments": json.dumps({"password": "hunter2", "city": "Paris"})}]})
    redacted = R.redact_text(body)
    arguments = json.loads(json.loads(redacted)["tool_calls"][0]["arguments"])
    assert arguments == {"password": placeholder("opaque", "hunter2"), "city": "Paris"}
    stream = b'data: {\ndata:   "apiKey": "k-9",\ndata:   "text": "hi"\ndata: }\n\n'
    assert R.redact_stream(stream).data == stream.replace(b"k-9", placeholder("opaque", "k-9").encode())
    for text in (body, stream.decode()):
        written = yamlserializer.serialize({"interactions": [{"response": {"body": {"string": text}}}]})
        assert [f.rule for f in audit_text(written)] == ["field"]
        cleaned = yamlserializer.serialize({"interactions": [{"response": {"body": {"string": R.redact_text(text)}}}]})
        assert audit_text(cleaned) == []


def test_a_secret_headers_line_in_a_text_body() -> None:
    dump = "POST /v1/x HTTP/1.1\nAuthorization: Basic dXNlcjpwYXNz\n  Cookie: a=1; b=2\nHost: api.example.com\n"
    assert R.redact_text(dump) == (
        "POST /v1/x HTTP/1.1\n"
        f"Authorization: Basic {placeholder('opaque', 'dXNlcjpwYXNz')}\n"
        f"  Cookie: a={placeholder('opaque', '1')}; b={placeholder('opaque', '2')}\n"
        "Host: api.example.com\n"
    )
    prose = "set the Authorization: header, and the password: field"
    assert R.redact_text(prose) == prose
    # YAML quotes this body singly, its lines intact (a double-quoted one is all on escaped lines: the audit
    # does not see those lines begin, and leaves them to redaction).
    dump = dump.replace("  Cookie", "Cookie")
    written = yamlserializer.serialize({"body": {"string": dump}})
    assert [f.rule for f in audit_text(written)] == ["header", "header"]
    assert audit_text(yamlserializer.serialize({"body": {"string": R.redact_text(dump)}})) == []


def test_raw_json_keeps_every_other_byte() -> None:
    body = '{ "apiKey":"k-1" ,\n  "text": "caf\\u00e9 \\"quoted\\"", "n": 1.50e3, "x": [true, null] }'
    assert R.redact_text(body) == body.replace('"k-1"', f'"{placeholder("opaque", "k-1")}"')


def test_query_strings_and_form_bodies_by_parameter_name() -> None:
    uri = f"https://u:p4ssw0rd@api.example.com/v1/files/file_1?signature=0a1b2c3d&api_key=k%2B1&page=2&access_token={OPENAI}"
    assert R.redact_uri(uri) == (
        f"https://u:{placeholder('opaque', 'p4ssw0rd')}@api.example.com/v1/files/file_1"
        f"?signature={placeholder('opaque', '0a1b2c3d')}&api_key={placeholder('opaque', 'k+1')}&page=2"
        f"&access_token={placeholder('openai', OPENAI)}"
    )
    form = "grant_type=refresh_token&refresh_token=rt-123&client_id=app&client_secret=cs-9"
    assert R.redact_text(form) == (
        f"grant_type=refresh_token&refresh_token={placeholder('opaque', 'rt-123')}&client_id=app"
        f"&client_secret={placeholder('opaque', 'cs-9')}"
    )


def test_a_presigned_url_inside_a_reply_loses_its_signature() -> None:
    url = "http://127.0.0.1:8000/beeos/storage/file_0123456789abcdef0123456789abcdef?signature=9f86d081884c7d65"
    body = json.dumps({"file_id": "file_0123456789abcdef0123456789abcdef", "upload_url": url})
    redacted = json.loads(R.redact_text(body))
    assert redacted["file_id"] == "file_0123456789abcdef0123456789abcdef"
    assert redacted["upload_url"] == url.replace("9f86d081884c7d65", placeholder("opaque", "9f86d081884c7d65"))


def test_an_interaction_is_redacted_in_both_directions() -> None:
    stream = sse({"type": "delta", "text": f"your key {OPENAI} works"}, {"type": "done", "token": "t-42"})
    interaction = {
        "request": {
            "method": "POST",
            "uri": f"https://api.example.com/v1/invoke?api_key={BEEOS}",
            "body": json.dumps({"llm_config": {"apiKey": ANTHROPIC}, "message": "hi"}).encode(),
            "headers": {"Authorization": [f"Bearer {JWT}"], "x-api-key": ["key-1"]},
        },
        "response": {
            "status": {"code": 200, "message": "OK"},
            "headers": {
                "Content-Type": ["text/event-stream"],
                "Set-Cookie": ["sid=abc; Path=/"],
                "Content-Length": [str(len(stream))],
            },
            "body": {"string": stream},
            "x_mockagent": {"ttfb": 0.1, "chunks": [{"t": 0.1, "n": 40}, {"t": 0.2, "n": len(stream) - 40}]},
        },
    }
    redacted = R.redact_interaction(interaction)
    assert interaction["request"]["headers"]["x-api-key"] == ["key-1"]  # the caller's copy is left alone
    written = yamlserializer.serialize({"version": 1, "interactions": [redacted]})
    for secret in (OPENAI, BEEOS, ANTHROPIC, JWT, "key-1", "sid=abc", "t-42"):
        assert secret not in written
    assert audit_text(written) == []
    body = redacted["response"]["body"]["string"]
    assert redacted["response"]["headers"]["Content-Length"] == [str(len(body))]
    chunks = redacted["response"]["x_mockagent"]["chunks"]
    assert sum(c["n"] for c in chunks) == len(body)
    assert [c["t"] for c in chunks] == [0.1, 0.2]


# ── streams: frames and chunk sizes ───────────────────────────────────────────────────────────────


def test_each_sse_frame_is_redacted_as_json_or_as_text() -> None:
    body = (
        b"event: message\n"
        b'data: {"type":"delta","text":"ok","session_token":"Xk7pQ2mZ9wR4tY6uI8oP1aS3"}\r\n\r\n'
        b'data: {"apiKey": "plain"}\n\n'
        b": a comment with " + JWT.encode() + b"\n\n"
        b"id: 7\ndata: plain text with " + AGENTOS_AGENT.encode() + b"\n\n"
        b"data: [DONE]\n\n"
    )
    result = R.redact_stream(body).data
    assert result == (
        b"event: message\n"
        b'data: {"type":"delta","text":"ok","session_token":"'
        + placeholder("opaque", "Xk7pQ2mZ9wR4tY6uI8oP1aS3").encode()
        + b'"}\r\n\r\n'
        b'data: {"apiKey": "' + placeholder("opaque", "plain").encode() + b'"}\n\n'
        b": a comment with " + placeholder("jwt", JWT).encode() + b"\n\n"
        b"id: 7\ndata: plain text with " + placeholder("agentos_agent", AGENTOS_AGENT).encode() + b"\n\n"
        b"data: [DONE]\n\n"
    )


def test_offsets_move_with_the_edits_and_snap_to_a_placeholders_end() -> None:
    body = b'data: {"t": "' + OPENAI.encode() + b'"}\n\n'
    result = R.redact_stream(body)
    start = body.index(OPENAI.encode())
    end = start + len(OPENAI)
    new = placeholder("openai", OPENAI).encode()
    assert result.edits == ((start, end, len(new)),)
    shift = len(new) - len(OPENAI)
    assert result.offset(0) == 0
    assert result.offset(start) == start  # a boundary just before the secret stays before it
    assert result.offset(start + 1) == start + len(new)  # inside: after the placeholder
    assert result.offset(end - 1) == start + len(new)
    assert result.offset(end) == end + shift
    assert result.offset(len(body)) == len(result.data)
    # A chunk that ends inside the secret now ends after the placeholder; one wholly inside it is empty.
    sizes = [start + 3, 5, len(body) - start - 8]
    assert result.chunk_sizes(sizes) == [start + len(new), 0, len(body) - end + 0]


def test_chunk_sizes_always_add_up_and_keep_the_bytes_outside_secrets() -> None:
    rng = random.Random(11)
    frames = [{"delta": {"text": f"part {i} {OPENAI if i % 3 == 0 else 'plain'} é"}, "apiKey": "k"} for i in range(30)]
    body = sse(*frames)
    result = R.redact_stream(body)
    for _ in range(200):
        cuts = sorted(rng.sample(range(1, len(body)), 12))
        sizes = [b - a for a, b in zip([0, *cuts], [*cuts, len(body)], strict=True)]
        mapped = result.chunk_sizes(sizes)
        assert sum(mapped) == len(result.data)
        assert all(n >= 0 for n in mapped)
        # Replaying the chunks gives the redacted body, and a chunk boundary outside a secret splits the
        # redacted body at the same text.
        pos = 0
        for original_end, size in zip(cuts, mapped, strict=False):
            pos += size
            if not any(s < original_end and original_end - 3 < e for s, e, _ in result.edits):
                assert result.data[:pos].endswith(body[original_end - 3 : original_end])


def test_bytes_that_are_not_utf8_pass_untouched() -> None:
    gzipped = bytes(range(256)) * 4
    assert R.redact_stream(gzipped) == Redacted(gzipped)
    mixed = b"data: \xff\xfe not text " + OPENAI.encode() + b"\n\ndata: text " + OPENAI.encode() + b"\n\n"
    result = R.redact_stream(mixed)
    assert result.data == (
        b"data: \xff\xfe not text "
        + OPENAI.encode()
        + b"\n\ndata: text "
        + placeholder("openai", OPENAI).encode()
        + b"\n\n"
    )
    assert R.redact_body(gzipped) == gzipped
    assert R.redact_body(None) is None


def test_non_ascii_text_maps_to_byte_offsets() -> None:
    body = ('data: {"t": "héllo ✓ ' + OPENAI + ' ✓"}\n\n').encode()
    result = R.redact_stream(body)
    (start, end, new_length) = result.edits[0]
    assert body[start:end] == OPENAI.encode()
    assert result.data[start : start + new_length] == placeholder("openai", OPENAI).encode()


# ── placeholders: deterministic, the same wherever the secret stands, never redacted again ───────


def test_placeholders_are_deterministic_across_instances_and_processes() -> None:
    here = R.placeholder(JWT)
    assert here == placeholder("jwt", JWT) == Redactor().placeholder(JWT)
    code = "from mockagent.replay.redaction import Redactor; print(Redactor().placeholder(__import__('sys').argv[1]))"
    there = subprocess.run([sys.executable, "-c", code, JWT], capture_output=True, text=True, check=True).stdout
    assert there.strip() == here
    assert PLACEHOLDER.fullmatch(here)


def test_the_same_secret_reads_the_same_in_a_header_a_body_and_a_query() -> None:
    token = "opaque-session-1234"
    in_header = R.redact_header_value("Authorization", f"Bearer {token}")
    in_body = R.redact_text(json.dumps({"access_token": token}))
    in_query = R.redact_uri(f"https://x.example/cb?token={token}")
    mark = placeholder("opaque", token)
    assert in_header == f"Bearer {mark}"
    assert json.loads(in_body) == {"access_token": mark}
    assert in_query == f"https://x.example/cb?token={mark}"
    # A replayed client sends back what the recording gave it: that request redacts to the recorded one.
    assert R.redact_header_value("Authorization", f"Bearer {mark}") == in_header


def test_redacting_twice_changes_nothing() -> None:
    texts = [
        json.dumps({"llm_config": {"apiKey": OPENAI}, "tools": [{"api_key": "t"}], "note": f"{JWT} {TAVILY} {PEM}"}),
        sse({"text": f"{BEEOS} and Bearer abc123def456"}, f"{AGENTOS_WS}:{AGENTOS_AGENT}", "[DONE]").decode(),
        f"https://u:pw1@h.example/p?signature=abc&sig=x%3D&q={GITHUB}&token=%3C%3Csecret%3Aopaque%3A12345678%3E%3E",
        "grant_type=password&password=p&username=ada",
        f"{SLACK}{AWS} {GOOGLE}-{STRIPE}",
    ]
    for text in texts:
        once = R.redact_text(text)
        assert once != text
        assert R.redact_text(once) == once
        assert R.redact_uri(R.redact_uri(text)) == R.redact_uri(text)
    headers = {
        "Authorization": [f"Bearer {JWT}"],
        "Cookie": ["a=1; b=2"],
        "X-Api-Key": ["k"],
        "X-CSRF-Token": ["Xk7pQ2mZ9wR4tY6uI8oP1aS3"],
    }
    once_headers = R.redact_headers(headers)
    assert R.redact_headers(once_headers) == once_headers
    user = Redactor(patterns={"acme": r"acme_[0-9a-f]{6}", "greedy": r"secret:[a-z]+"})
    once = user.redact_text("ids acme_12ab34 and secret:abc")
    assert user.redact_text(once) == once
    assert "acme_12ab34" not in once


def test_an_encoded_placeholder_in_a_query_is_written_plain() -> None:
    mark = placeholder("opaque", "k")
    encoded = mark.replace("<", "%3C").replace(">", "%3E").replace(":", "%3A")
    assert R.redact_uri(f"https://x.example/?api_key={encoded}&q={encoded}") == (
        f"https://x.example/?api_key={mark}&q={mark}"
    )


# ── ids the platforms mint stay as they are ──────────────────────────────────────────────────────

#: Ids the mock platforms mint (and the real ones do), and values like them: never random-looking.
IDS = [
    str(uuid.uuid4()),
    uuid.uuid4().hex,
    "ch-" + uuid.uuid4().hex,
    "msg-" + uuid.uuid4().hex + "-12",
    "req_0123456789abcdef01234567",
    "file_" + uuid.uuid4().hex,
    "run_" + uuid.uuid4().hex[:24],
    "call_3",
    "user:3f2a9c4e1b7d8a60",
    "2026-11-29T19:20:37.123Z",
]
#: Vendors' ids are mixed-case base62, as random as a key: their names (id, …_id) spare them.
VENDOR_IDS = ["msg_01XFDUDYJgAACzvnptvVoYEL", "toolu_01A09q90qw90lq917835lq9", "chatcmpl-9pXzRmKw3u7QbFJt8YcL1aVh2ZkN"]


def test_looks_random_spares_ids_and_catches_keys() -> None:
    for value in IDS:
        assert not looks_random(value), value
    for value in ("Xk7pQ2mZ9wR4tY6uI8oP1aS3", "9f86d081884c7d659a2feaa0c55ad015a3bf4f1b", "Ab3dEf9hIj2lMn8pQr5tUv7xYz"):
        assert looks_random(value), value
    for value in ("claude-3-5-sonnet-20241022", "my-configuration-value-name", "a" * 40, "0" * 40, "short7Ab"):
        assert not looks_random(value), value
    assert shannon_entropy("abab") == 1.0


def test_key_like_names() -> None:
    for name in ("apiKey", "session_token", "X-CSRF-Token", "GITHUB_TOKEN", "clientSecret", "db_password", "x-api-key"):
        assert is_key_like(name), name
    for name in ("author", "tokens", "max_tokens", "token_type", "api_key_id", "next_page_token", "cache_key", "key"):
        assert not is_key_like(name), name


def test_replies_full_of_ids_are_left_as_they_are() -> None:
    reply = {
        "id": IDS[0],
        "task_id": IDS[2],
        "context_id": IDS[2],
        "request_id": IDS[4],
        "messages": [{"id": IDS[3], "file_id": IDS[5], "run_id": IDS[6], "call_id": IDS[7]}],
        "anthropic": {"id": VENDOR_IDS[0], "tool_use_id": VENDOR_IDS[1], "completion": VENDOR_IDS[2]},
        # Key-like names holding ids: ids are not secrets there either.
        "idempotency_key": IDS[0],
        "session_key": IDS[2],
        "auth_request": IDS[1],
        "caller_id": IDS[8],
        "created_at": IDS[9],
        "usage": {"input_tokens": 12, "output_tokens": 80, "total_tokens": 92},
        "text": "Echo: hello there",
    }
    text = json.dumps(reply)
    assert R.redact_text(text) == text
    stream = sse(*({**reply, "index": i} for i in range(5)))
    assert R.redact_stream(stream).data == stream
    headers = {"X-Request-Id": [IDS[4]], "X-Thread-ID": [IDS[0]], "Last-Event-ID": ["17"]}
    assert R.redact_headers(headers) == headers
    uri = f"https://api.example.com/v1/agents/echo/tasks/{IDS[2]}/events?since=3&context_id={IDS[2]}"
    assert R.redact_uri(uri) == uri


JWT_USER = "eyJhbGciOiJIUzI1NiJ9.eyJzdWIiOiJ1c2VyXzEifQ.c2lnbmF0dXJl"


def _exchange(method: str, url: str, **kwargs: Any) -> tuple[dict[str, Any], httpx.Response]:
    response = httpx.request(method, url, timeout=10, **kwargs)
    request = response.request
    sent = {
        "method": request.method,
        "uri": str(request.url),
        "body": request.content,
        "headers": {k: [v] for k, v in request.headers.items()},
    }
    return sent, response


@pytest.mark.mockagent(with_builtin=True)
def test_real_replies_of_every_platform_pass_unchanged(mockagent_server: ThreadedMockServer) -> None:
    """The mock's own replies (full of the ids each platform mints) lose nothing; the requests lose their keys."""
    base = mockagent_server.base_url
    beeos = {"Authorization": f"Bearer {BEEOS}"}
    zeus_body = {"message": "hi", "llm_config": {"baseUrl": "https://a.example", "apiKey": OPENAI, "modelName": "m"}}
    calls = [
        ("POST", f"{base('beeos')}/api/v1/agents/echo/invoke", {"headers": beeos, "json": {"message": "hello"}}),
        (
            "POST",
            f"{base('beeos')}/api/v1/agents/tools/invoke",
            {"headers": {**beeos, "Accept": "text/event-stream"}, "json": {"message": "weather?"}},
        ),
        ("POST", f"{base('beeos')}/api/v1/agents/echo/tasks", {"headers": beeos, "json": {"message": "x"}}),
        ("GET", f"{base('beeos')}/api/v1/tasks", {"headers": beeos}),
        (
            "POST",
            f"{base('agentos')}/api/v1/agents/echo/invoke",
            {"headers": {"Authorization": f"Bearer {AGENTOS_WS}"}, "json": {"input": {"query": "hi"}, "stream": True}},
        ),
        (
            "POST",
            f"{base('xpander')}/v1/agents/echo/invoke",
            {
                "headers": {"x-api-key": "key-1"},
                "json": {"input": {"text": "hi", "user": {"id": "u-1", "email": "ada@example.com"}}},
            },
        ),
        (
            "POST",
            f"{base('zeus')}/api/agent/invoke",
            {"headers": {"Authorization": f"Bearer {JWT_USER}"}, "json": zeus_body},
        ),
        (
            "POST",
            f"{base('aster')}/chat",
            {
                "headers": {"Authorization": f"Bearer {JWT_USER}"},
                "json": {"agentId": 1, "message": {"role": "user", "parts": [{"type": "text", "text": "hi"}]}},
            },
        ),
    ]
    for method, url, kwargs in calls:
        request, response = _exchange(method, url, **kwargs)
        assert response.status_code < 300, (url, response.text)
        headers = {k: [v] for k, v in response.headers.items()}
        assert R.redact_headers(headers) == headers, url
        assert R.redact_stream(response.content).data == response.content, url
        redacted = R.redact_interaction(
            {"request": request, "response": {"headers": headers, "body": {"string": response.content}}}
        )
        sent = (
            json.dumps({k: v for k, v in redacted["request"].items() if k != "body"})
            + redacted["request"]["body"].decode()
        )
        for secret in (BEEOS, AGENTOS_WS, "key-1", JWT_USER, OPENAI):
            assert secret not in sent, url
    # The one thing a reply carries that is a credential: a presigned URL's signature.
    _, presigned = _exchange(
        "POST",
        f"{base('beeos')}/api/v1/files/presign-upload",
        headers=beeos,
        json={"filename": "a.txt", "content_type": "text/plain"},
    )
    data = presigned.json()["data"]
    redacted = json.loads(R.redact_text(presigned.text))["data"]
    assert redacted["file_id"] == data["file_id"]
    assert "signature=<<secret:opaque:" in redacted["upload_url"]
    assert data["upload_url"].split("signature=")[1] not in json.dumps(redacted)


def test_raw_and_parsed_json_agree() -> None:
    rng = random.Random(3)
    values: list[Any] = [OPENAI, "plain", "k-1", IDS[2], "Xk7pQ2mZ9wR4tY6uI8oP1aS3", f"Bearer {JWT}", 3, None, True]
    names = ["apiKey", "text", "session_token", "id", "tools", "token", "note", "authorization", "items"]

    def make(depth: int) -> Any:
        if depth == 0 or rng.random() < 0.3:
            return rng.choice(values)
        if rng.random() < 0.5:
            return [make(depth - 1) for _ in range(rng.randint(0, 3))]
        return {rng.choice(names): make(depth - 1) for _ in range(rng.randint(0, 4))}

    for _ in range(300):
        value = {"tools": [make(3)], "llm_config": make(2), "x": make(4)}
        assert json.loads(R.redact_text(json.dumps(value))) == R.redact_json(value)


# ── the user's additions ─────────────────────────────────────────────────────────────────────────


def test_user_headers_fields_and_patterns(tmp_path: Path) -> None:
    config = tmp_path / "redaction.yaml"
    config.write_text(
        "redaction:\n"
        "  headers: [X-Acme-Auth]\n"
        "  fields: [acme_blob, 'deploy.hooks[].url']\n"
        "  patterns:\n"
        "    acme: 'acme_[0-9a-f]{12}'\n"
        "    acme_pin: 'pin=(?P<secret>[0-9]{4})'\n",
        encoding="utf-8",
    )
    loaded = load_config(config)
    assert loaded == RedactionConfig(
        headers=("X-Acme-Auth",),
        fields=("acme_blob", "deploy.hooks[].url"),
        patterns=(("acme", "acme_[0-9a-f]{12}"), ("acme_pin", "pin=(?P<secret>[0-9]{4})")),
    )
    user = Redactor.from_config(loaded)
    assert user.redact_headers({"x-acme-auth": ["v1"]}) == {"x-acme-auth": [placeholder("opaque", "v1")]}
    body = {
        "acmeBlob": "b",
        "deploy": {"hooks": [{"url": "https://hook.example/1"}], "url": "https://kept.example"},
        "note": "id acme_0123456789ab, pin=1234",
    }
    assert user.redact_json(body) == {
        "acmeBlob": placeholder("opaque", "b"),
        "deploy": {"hooks": [{"url": placeholder("opaque", "https://hook.example/1")}], "url": "https://kept.example"},
        "note": f"id {placeholder('acme', 'acme_0123456789ab')}, pin={placeholder('opaque', '1234')}",
    }
    assert json.loads(user.redact_text(json.dumps(body))) == user.redact_json(body)
    assert R.redact_json(body) == body  # the defaults know none of these
    # Flags add the same things.
    assert parse_pattern_option("acme=acme_[0-9a-f]{12}") == ("acme", "acme_[0-9a-f]{12}")
    flagged = Redactor(headers=["X-Acme-Auth"], patterns=[parse_pattern_option("acme=acme_[0-9a-f]{12}")])
    assert flagged.redact_text("acme_0123456789ab") == placeholder("acme", "acme_0123456789ab")


@pytest.mark.parametrize(
    ("text", "where", "message"),
    [
        (
            "redaction:\n  patterns:\n    acme: 'acme_[0-9'\n",
            "3:11",
            "pattern 'acme' is not a valid regular expression",
        ),
        ("redaction:\n  headerz: [a]\n", "2:3", "unknown key 'headerz' in redaction"),
        ("redaction:\n  patterns:\n    Bad-Name: x\n", "3:5", "pattern name 'Bad-Name'"),
        ("redaction:\n  patterns:\n    jwt: x\n", "3:5", "is a built-in rule's"),
        ("redaction:\n  patterns:\n    empty: 'a*'\n", "3:12", "matches the empty string"),
        ("redaction:\n  fields: ['a..b']\n", "2:12", "is not a field name or path"),
        ("redaction:\n  headers: ['bad header']\n", "2:13", "is not a header name"),
        ("redactions: {}\n", "1:1", "unknown key 'redactions'"),
        ("redaction: [\n", "2:1", "YAML syntax error"),
    ],
)
def test_a_bad_config_names_its_path_line_and_column(tmp_path: Path, text: str, where: str, message: str) -> None:
    config = tmp_path / "redaction.yaml"
    config.write_text(text, encoding="utf-8")
    with pytest.raises(RedactionConfigError) as raised:
        load_config(config)
    assert str(raised.value).startswith(f"{config}:{where}: ")
    assert message in str(raised.value)


def test_bad_flags_say_what_is_wrong() -> None:
    for spec, message in [("nameless", "NAME=REGEX"), ("x=(", "not a valid regular expression"), ("jwt=x", "built-in")]:
        with pytest.raises(ValueError, match=message):
            parse_pattern_option(spec)
    with pytest.raises(ValueError, match="must end with a field name"):
        Redactor(fields=["tools[]"])
    with pytest.raises(ValueError, match="not a field name or path"):
        Redactor(fields=["a..b"])


def test_an_empty_config_is_the_defaults(tmp_path: Path) -> None:
    for text in ("", "redaction:\n", "redaction: {}\n"):
        config = tmp_path / "c.yaml"
        config.write_text(text, encoding="utf-8")
        assert load_config(config) == RedactionConfig()


# ── the audit ────────────────────────────────────────────────────────────────────────────────────


def _cassette(interactions: list[dict[str, Any]]) -> str:
    requests = [Request._from_dict(i["request"]) for i in interactions]
    responses = [i["response"] for i in interactions]
    return str(vcr_serialize.serialize({"requests": requests, "responses": responses}, yamlserializer))


def _interaction(
    n: int, *, header_key: str = "<<secret:opaque:0a1b2c3d>>", body_key: str = "", sse_key: str = ""
) -> dict[str, Any]:
    task = f"ch-{uuid.UUID(int=n).hex}"
    frames = [
        {"type": "delta", "text": f"word {k} caf\u00e9", "task_id": task, "id": f"msg-{task[3:]}-{k}"} for k in range(5)
    ]
    body = "".join(f"data: {json.dumps(f)}\n\n" for f in frames)
    if sse_key:
        body += f"data: {json.dumps({'type': 'delta', 'text': 'the key is ' + sse_key})}\n\n"
    body += 'data: {"type": "done", "usage": {"input_tokens": 3, "output_tokens": 9}}\n\n'
    reply = {"success": True, "data": {"context_id": task, "request_id": f"req_{uuid.UUID(int=n).hex[:24]}"}}
    if body_key:
        reply["data"]["api_key"] = body_key
    return {
        "request": {
            "method": "POST",
            "uri": f"https://api.example.com/v1/agents/echo/invoke?context_id={task}",
            "body": json.dumps({"message": "hello", "idempotency_key": str(uuid.UUID(int=n))}).encode(),
            "headers": {"Authorization": ["Bearer <<secret:jwt:1a2b3c4d>>"], "x-api-key": [header_key]},
        },
        "response": {
            "status": {"code": 200, "message": "OK"},
            "headers": {"Content-Type": ["text/event-stream"], "X-Request-Id": [reply["data"]["request_id"]]},
            "body": {"string": body + json.dumps(reply)},
            "x_mockagent": {"ttfb": 0.05, "chunks": [{"t": 0.05, "n": len(body)}]},
        },
    }


def _line_of(text: str, needle: str) -> int:
    return text[: text.index(needle)].count("\n") + 1


def test_a_redacted_cassette_is_clean(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    raw = [_interaction(1, header_key="key-1", body_key=OPENAI, sse_key=TAVILY), _interaction(2)]
    clean = _cassette([R.redact_interaction(i) for i in raw])
    (tmp_path / "clean.yaml").write_text(clean, encoding="utf-8")
    assert audit([tmp_path]) == []
    assert main([str(tmp_path)]) == 0
    assert capsys.readouterr().out == ""


def test_the_audit_catches_a_planted_key_in_a_header_a_body_and_an_sse_line(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    text = _cassette(
        [
            _interaction(1),
            _interaction(2, header_key="planted-key-1"),
            _interaction(3, body_key=BEEOS),
            _interaction(4, sse_key=ANTHROPIC),
        ]
    )
    folder = tmp_path / "cassettes" / "beeos"
    folder.mkdir(parents=True)
    path = folder / "invoke.yaml"
    path.write_text(text, encoding="utf-8")
    (tmp_path / "cassettes" / "notes.txt").write_text(f"not a cassette: {OPENAI}", encoding="utf-8")

    findings = audit([tmp_path / "cassettes"])
    assert [(f.path, f.line, f.rule) for f in findings] == [
        (str(path), _line_of(text, "planted-key-1"), "header"),
        (str(path), _line_of(text, BEEOS), "beeos"),
        (str(path), _line_of(text, ANTHROPIC), "anthropic"),
    ]
    header, body, _ = findings
    assert header.column == text.splitlines()[header.line - 1].index("planted-key-1") + 1
    assert body.column == text.splitlines()[body.line - 1].index(BEEOS) + 1

    assert main([str(path)]) == 1
    out = capsys.readouterr().out
    assert out.splitlines() == [str(f) for f in findings]
    assert out.splitlines()[0] == f"{path}:{header.line}:{header.column}: header: x-api-key: pla… (13 chars)"
    for secret in ("planted-key-1", BEEOS, ANTHROPIC):
        assert secret not in out
    # The same key by its field name alone (no shape): a body's "api_key".
    named = audit_text(_cassette([_interaction(5, body_key="shapeless")]))
    assert [(f.rule, f.excerpt) for f in named] == [("field", "api_key: sh… (9 chars)")]


def test_the_audit_reads_every_quoting_yaml_gives_a_body() -> None:
    # Single-quoted and folded at spaces, double-quoted with escaped quotes and \u escapes, block style.
    long_text = " ".join(["word"] * 30)
    cases = {
        "single": {"string": json.dumps({"note": long_text, "password": "pw-1", "x": long_text})},
        "double": {"string": json.dumps({"note": "caf\u00e9\n", "password": "pw-1"}, ensure_ascii=False)},
        "entropy": {"string": json.dumps({"session_secret": "Xk7pQ2mZ9wR4tY6uI8oP1aS3", "id": IDS[0]})},
    }
    for name, body in cases.items():
        text = yamlserializer.serialize({"interactions": [{"response": {"body": body}}]})
        findings = audit_text(text)
        assert len(findings) == 1, (name, text, findings)
        assert findings[0].rule == ("entropy" if name == "entropy" else "field")
        redacted = yamlserializer.serialize(
            {"interactions": [{"response": {"body": {"string": R.redact_text(body["string"])}}}]}
        )
        assert audit_text(redacted) == [], name


def test_the_audit_exit_statuses(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    (tmp_path / "ok.yml").write_text(_cassette([R.redact_interaction(_interaction(1))]), encoding="utf-8")
    assert main([str(tmp_path)]) == 0
    assert main([str(tmp_path / "missing")]) == 2
    (tmp_path / "bad.yaml").write_bytes(b"\xff\xfe")
    assert main([str(tmp_path)]) == 2
    (tmp_path / "leak.yaml").write_text(f"uri: https://x.example/?token={JWT}\n", encoding="utf-8")
    assert main([str(tmp_path / "leak.yaml")]) == 1
    assert main([str(tmp_path / "leak.yaml"), str(tmp_path / "missing")]) == 2
    err = capsys.readouterr().err
    assert "missing: cannot read" in err
    assert "bad.yaml: cannot read" in err


def test_the_audit_leaves_a_field_kept_beside_a_users_path() -> None:
    user = Redactor(fields=["deploy.hooks[].url"])
    body = json.dumps({"deploy": {"hooks": [{"url": "https://hook.example/1"}], "url": "https://kept.example"}})
    redacted = user.redact_text(body)
    assert "hook.example" not in redacted
    assert "https://kept.example" in redacted
    assert audit_text(yamlserializer.serialize({"body": {"string": redacted}}), redactor=user) == []


def test_the_audit_knows_the_users_patterns_and_never_flags_placeholders() -> None:
    user = Redactor(fields=["acme_blob"], patterns={"acme": r"acme_[0-9a-f]{12}", "loose": r"secret:[a-z]+"})
    text = 'a: "acme_0123456789ab"\nb: \'{"acme_blob": "x1"}\'\nc: <<secret:opaque:0a1b2c3d>>\n'
    assert [(f.line, f.rule) for f in audit_text(text, redactor=user)] == [(1, "acme"), (2, "field")]
    assert audit_text(text) == []


def test_mask_never_shows_more_than_a_quarter() -> None:
    assert mask(OPENAI) == f"{OPENAI[:8]}… ({len(OPENAI)} chars)"
    assert mask("abc") == "… (3 chars)"
    assert mask("k") == "… (1 char)"
    assert mask("\n-----BEGIN") == "\\n-… (11 chars)"


def test_a_finding_prints_as_path_line_col_rule_excerpt() -> None:
    assert str(Finding("c.yaml", 3, 9, "jwt", "eyJhbGci… (80 chars)")) == "c.yaml:3:9: jwt: eyJhbGci… (80 chars)"


def test_the_audit_runs_as_a_module(tmp_path: Path) -> None:
    path = tmp_path / "c.yaml"
    path.write_text(f"headers:\n  Authorization:\n  - Bearer {JWT}\n", encoding="utf-8")
    run = subprocess.run(
        [sys.executable, "-m", "mockagent.replay.audit", str(path)], capture_output=True, text=True, check=False
    )
    assert run.returncode == 1
    assert run.stdout == f"{path}:3:12: jwt: {JWT[:8]}… ({len(JWT)} chars)\n"


def test_audit_speed_on_ten_thousand_interactions(
    record_property: Callable[[str, object], None], capsys: pytest.CaptureFixture[str]
) -> None:
    """Not a timing assertion: the figure is computed and reported (docs/recording.md states it)."""
    block = _cassette([R.redact_interaction(_interaction(n)) for n in range(100)])
    items = block[block.index("interactions:\n") + len("interactions:\n") : block.index("version: 1")]
    text = "interactions:\n" + items * 100 + "version: 1\n"
    assert text.count("- request:") == 10_000
    started = time.perf_counter()
    findings = audit_text(text, "big.yaml")
    elapsed = time.perf_counter() - started
    assert findings == []
    rate = 10_000 / elapsed
    record_property("audit_interactions_per_second", round(rate))
    with capsys.disabled():
        print(f"\naudit: 10,000 interactions ({len(text) / 1e6:.1f} MB) in {elapsed:.2f} s: {rate:,.0f} interactions/s")


def test_the_rule_table_starts_with_literals() -> None:
    """The audit's speed rests on it: a rule starting with a class or a lookbehind is tried at every position."""
    for rule in BUILTIN_RULES:
        assert rule.regex.pattern[0].isalnum() or rule.regex.pattern.startswith(("-----", "://")), rule.name


# ── one scan for every shape ──────────────────────────────────────────────────────────────────────

# Pieces that start, end or break each built-in shape, and a whole secret of each: joined at random, they make
# texts on both sides of every rule's edge.
_PIECES = (
    "sk-ant-",
    "sk-",
    "tvly-",
    "oag_",
    "aos_ws_",
    "aos_agent_",
    "eyJ",
    ".",
    "ghp_",
    "github_pat_",
    "AKIA",
    "AIza",
    "xoxb-",
    "sk_live_",
    "rk_test_",
    "-----BEGIN RSA PRIVATE KEY-----",
    "-----END RSA PRIVATE KEY-----",
    "Bearer ",
    "bearer\t",
    "https://",
    "user:",
    "@",
    "abcdefghij",
    "0123456789",
    "ABCDEFGHIJKLMNOP",
    "_-",
    " ",
    "\n",
    "task-",
    '"',
    "=",
)


_WHOLE = (*(secret for _, secret in SHAPES), PEM, "https://user:pw@host", "Bearer tok12345678")


@given(st.lists(st.sampled_from(_PIECES + _WHOLE), max_size=12))
@settings(max_examples=400, deadline=None)
def test_one_scan_finds_a_text_wherever_a_shape_would(pieces: list[str]) -> None:
    text = "".join(pieces)
    joined = any_shape(BUILTIN_RULES)
    assert joined is not None
    assert (joined.search(text) is not None) == any(rule.regex.search(text) for rule in BUILTIN_RULES)


def test_shapes_that_cannot_be_joined_are_each_scanned() -> None:
    """A user's pattern with a backreference would mean something else joined with the others: the
    redactor scans each rule alone, and still finds it."""
    assert any_shape((*BUILTIN_RULES, *Redactor(patterns={"twice": r"(zz[0-9]{4})-\1"}).rules[-1:])) is None
    redactor = Redactor(patterns={"twice": r"(zz[0-9]{4})-\1"})
    assert "zz1234-zz1234" not in redactor.redact_text("code zz1234-zz1234 here")
    assert redactor.redact_text("code zz1234-zz9999 here") == "code zz1234-zz9999 here"
