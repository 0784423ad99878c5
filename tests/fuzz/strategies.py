"""What the fuzz sends. A probe is a valid request to its route — the ids the server holds in its path and
body — with one or two of its parts made hostile: the body (fields dropped, retyped or hostile; JSON broken
or not JSON at all), the path parameters, the query string, the headers, the credential or the method. A
framing probe breaks how the request is delimited instead.
"""

from __future__ import annotations

import base64
import gzip
import json
import re
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from typing import Any

from hypothesis import strategies as st
from test_hostile_input import AGENTOS, BEEOS, XPANDER, ZEUS, jwt

from fuzz.routes import Target
from mockagent.admission import FAULT_HEADER
from mockagent.sessions import SESSION_HEADER, SESSION_NAME


@dataclass
class Known:
    """Ids the server holds, by the name of the path parameter, field or query key that carries them, so
    that a probe gets past the 404s to what lies behind them."""

    pools: dict[str, list[str]] = field(default_factory=dict)
    agents: dict[str, str] = field(default_factory=dict)  # the agent a task (run …) belongs to, by its id

    def add(self, name: str, *values: str, agent: str | None = None) -> None:
        self.pools.setdefault(name, []).extend(values)
        if agent is not None:
            self.agents.update(dict.fromkeys(values, agent))

    def of(self, name: str) -> list[str]:
        return self.pools.get(name) or ["x1"]

    def __repr__(self) -> str:  # hypothesis shows it with every failing example
        return f"Known({', '.join(self.pools)})"


# ── hostile values ───────────────────────────────────────────────────────────────────────────────────

HOSTILE_SCALARS: list[Any] = [
    *(None, True, False, 0, -1, 2**31, 2**53 + 1, 2**63, 2**64, -(2**63) - 1, 10**40),
    *(1.5, -0.0, 1e308, -1e308, 5e-324, 1e-300),
    *("", " ", "0", "-1", "1e400", "NaN", "Infinity", "null", "\x00", "\x1b[31m", "\u202e\u2066", "\ufeff"),
    *("💥", "\ud800", "a\udfffb"),  # a lone surrogate: json.dumps writes its escape
    *("../../etc/passwd", "%s%n%x", "{{ 7*7 }}", "{% for x in range(99999999) %}x{% endfor %}"),
    *("<script>alert(1)</script>", "a\r\nX-Injected: 1", "00000000-0000-0000-0000-000000000000"),
    *("x" * 10_000, "é" * 3_000),
]
JSON_SCALARS = st.one_of(
    st.sampled_from(HOSTILE_SCALARS),
    st.integers(),
    st.floats(allow_nan=False, allow_infinity=False),
    st.text(max_size=24),
)
JSON_VALUES = st.recursive(
    JSON_SCALARS,
    lambda inner: st.lists(inner, max_size=4) | st.dictionaries(st.text(max_size=8), inner, max_size=4),
    max_leaves=10,
)


def _deep(levels: int) -> Any:
    value: Any = "bottom"
    for _ in range(levels):
        value = [value]
    return value


HOSTILE_VALUES = st.one_of(
    st.sampled_from(HOSTILE_SCALARS),
    JSON_VALUES,
    st.sampled_from(
        [
            [0] * 5_000,
            {f"k{i}": i for i in range(2_000)},
            _deep(127),
            _deep(128),
            "x" * 1_000_001,  # one past the message limit
        ]
    ),
)

# Raw text where a JSON value goes: what no JSON encoder writes.
RAW_TOKENS = [
    *("NaN", "-Infinity", "1e999", "-1e999", "1" + "0" * 5_000, "01", "0x10", ".5", "+1", "'single'"),
    *('"\x01raw control"', '"\\ud800"', '"\\uDC00\\uD800"', '"\\u12"', '"\\x41"', "undefined"),
    *("[" * 200 + "]" * 200, "{" * 50),
]
RAW = "\x00raw\x00"  # a value that is swapped for one of RAW_TOKENS once the body is encoded


# ── bodies ───────────────────────────────────────────────────────────────────────────────────────────

LLM = {"baseUrl": "http://llm", "apiKey": "k", "modelName": "echo", "temperature": 0.5}
_XPANDER_INVOKE = [
    {
        "input": {"text": "hi", "user": {"id": "u1", "email": "u@example.com", "first_name": "A"}, "files": ["f"]},
        "think_mode": "harder",
        "output_format": "json",
        "output_schema": {"type": "object"},
        "llm_reasoning_effort": "low",
        "source_node_type": "sdk",
    },
    {"input": {"text": "more", "user": {"id": "u1", "email": "u@example.com"}}, "id": "$task_id"},
]
# Valid bodies per route, each another way in (any other route takes an empty object); "$name" is one of
# the ids the server holds.
BODIES: dict[str, list[dict[str, Any]]] = {
    "POST /beeos/api/v1/agents/{agentId}/invoke": [
        {
            "message": "refund, please",
            "idempotency_key": "key-1",
            "metadata": {"k": "v", "protocol": "x"},
            "attachments": [{"file_id": "$fileId", "filename": "a.txt", "content_type": "text/plain"}],
            "timeout_ms": 1000,
        },
        {"message": "hi", "context_id": "$context"},
    ],
    "POST /beeos/api/v1/agents/{agentId}/tasks": [
        {
            "message": "refund, please",
            "idempotency_key": "key-2",
            "metadata": {"k": "v"},
            "attachments": [{"file_id": "$fileId"}],
            "deadline_ms": 60_000,
        },
        {"message": "hi", "context_id": "$context"},
    ],
    "POST /beeos/api/v1/agents/{agentId}/tasks/{taskId}/cancel": [{"reason": "no longer needed"}],
    "POST /beeos/api/v1/agents/{agentId}/tasks/{taskId}/continue": [
        {"input": {"text": "staging"}},
        {"auth_grant": True},
    ],
    "POST /beeos/api/v1/files/presign-upload": [{"filename": "a.txt", "content_type": "text/plain; charset=utf-8"}],
    "POST /agentos/api/v1/agents/{agentId}/invoke": [
        {
            "input": {"message": "refund, please", "extra": [1]},
            "prompt_variables": {"name": "Ada"},
            "start_session": True,
            "external_user_id": "user-1",
            "parent_run_id": "$uuid",
            "stream": False,
            "test": True,
        },
        {"input": {"query": {"nested": True}}, "session_id": "$sessionId"},
        {"input": {}, "history": [{"role": "user", "content": "earlier"}], "stream": True},
    ],
    "POST /agentos/api/v1/runs/{runId}/reply": [{"request_id": "$requestId", "response": "staging"}],
    "POST /agentos/api/v1/runs/{runId}/human-input": [{"response": "production"}],
    "POST /agentos/api/v1/approvals/{approvalId}/decide": [{"decision": "approve", "decision_note": "fine"}],
    # Every RPC's fields at once: each method reads its own and ignores the rest.
    "POST /agentos/api/v1/rpc/{method}": [
        {
            "run_id": "$runId",
            "approval_id": "$approvalId",
            "decision": "approved",
            "decision_note": "ok",
            "conversation_id": "$sessionId",
            "message_limit": 5,
            "agent_id": "$agentId",
            "status": "completed",
            "external_user_id": "user-1",
            "limit": 10,
            "input": {"message": "hi"},
            "workspace": "w",
        },
        {"run_id": "$runId", "agent_id": "$agentId", "input": {"text": "refund"}},
    ],
    "POST /agentos/api/ingest/v1/run/start": [
        {
            "agent_id": "$agentId",
            "trigger_type": "sdk",
            "input": {"q": 1},
            "external_run_id": "ext-1",
            "parent_run_id": "p-1",
        }
    ],
    "POST /agentos/api/ingest/v1/events": [
        {
            "run_id": "$ingestRunId",
            "events": [{"type": "step", "level": "info", "payload": {"n": 1}, "occurred_at": "2025-01-01T00:00:00Z"}],
        }
    ],
    "POST /agentos/api/ingest/v1/run/complete": [
        {
            "run_id": "$ingestRunId",
            "output": {"text": "done"},
            "input_tokens": 1,
            "output_tokens": 2,
            "cache_read_tokens": 0,
            "cache_creation_tokens": 0,
        }
    ],
    "POST /agentos/api/ingest/v1/run/fail": [{"run_id": "$ingestRunId", "error_message": "boom", "error_detail": {}}],
    "POST /agentos/api/ingest/v1/run/cancel": [{"run_id": "$ingestRunId", "reason": "stop"}],
    "POST /agentos/api/ingest/v1/tasks": [
        {
            "run_id": "$ingestRunId",
            "task": {"id": "t1", "name": "fetch", "status": "running", "input": {}, "output": {}, "error_message": "e"},
        }
    ],
    "POST /xpander/v1/agents/{agent_id}/invoke": _XPANDER_INVOKE,
    "POST /xpander/v1/agents/{agent_id}/invoke/async": _XPANDER_INVOKE,
    "POST /xpander/v1/agents/{agent_id}/invoke/stream": _XPANDER_INVOKE,
    "POST /xpander/v1/tasks/{task_id}/hitl": [{"decision": "approve"}, {"decision": "reject", "comment": "staging"}],
    "POST /zeus/api/agent/invoke": [
        {
            "message": "refund, please",
            "llm_config": LLM,
            "mode": "agent",
            "tools": [{"type": "mcp", "name": "search", "api_key": "secret"}],
            "chat_history": [{"role": "user", "content": "earlier", "timestamp": 1}],
            "tool_interrupt_config": {"get_weather": {"enabled": True, "requires_interrupt": True}},
            "skills": {"a": 1},
        },
        {"message": "hi", "llm_config": LLM, "session_id": "$zeusSession"},
    ],
    "POST /zeus/api/agent/resume": [
        {
            "session_id": "$zeusSession",
            "llm_config": LLM,
            "tool_call_results": [
                {"tool_call_id": "$toolCallId", "tool_name": "send_email", "decision": "modified", "modified_args": {}}
            ],
        },
        {"session_id": "$zeusSession", "llm_config": LLM, "tool_call_results": [], "human_order": "staging"},
    ],
    "POST /aster/api/chat": [
        {
            "agentId": 5,
            "message": {"id": "m1", "role": "user", "parts": [{"type": "text", "text": "refund"}, {"type": "file"}]},
            "timezone": "Europe/Paris",
        },
        {"agentId": 1, "threadId": "$threadId", "message": {"role": "user", "parts": [{"type": "text", "text": "hi"}]}},
    ],
    "POST /__mockagent/clock/advance": [{"seconds": 1}, {"seconds": 0.25}],
    "PUT /__mockagent/states/{name}": [{"state": "paid"}],
}
# The query a route reads, valid.
QUERIES: dict[str, dict[str, str]] = {
    "GET /beeos/storage/{fileId}": {"signature": "$signature"},
    "PUT /beeos/storage/{fileId}": {"signature": "$signature"},
    "GET /beeos/api/v1/tasks": {"state": "all", "limit": "5", "since": "3", "agent_id": "$agentId"},
    "GET /beeos/api/v1/agents/{agentId}/tasks": {"state": "closed", "limit": "100"},
    "GET /beeos/api/v1/agents/{agentId}/tasks/{taskId}/events": {"since": "1"},
    "GET /beeos/api/v1/agents/{agentId}/tasks/{taskId}/messages": {
        "since": "0",
        "limit": "500",
        "include_deltas": "true",
    },
    "GET /agentos/api/v1/approvals": {"limit": "5", "agent_id": "$agentId", "workspace": "w"},
    "POST /zeus/api/agent/invoke": {"agent": "$agent"},
    "GET /aster/api/getConversation": {"threadId": "$threadId"},
    "GET /__mockagent/journal": {"platform": "beeos", "path": "/invoke", "session": "$session"},
    "GET /__mockagent/runs": {"session": "$session"},
    "GET /__mockagent/clock": {"session": "$session"},
}

Loc = tuple[str | int, ...]


def _locs(value: Any, loc: Loc = ()) -> Iterator[Loc]:
    """Every place in a JSON value, the value itself first."""
    yield loc
    if isinstance(value, dict):
        for key, child in value.items():
            yield from _locs(child, (*loc, key))
    elif isinstance(value, list):
        for index, child in enumerate(value):
            yield from _locs(child, (*loc, index))


def _at(value: Any, loc: Loc) -> Any:
    for part in loc:
        value = value[part]
    return value


def _with(value: Any, loc: Loc, new: Any, *, drop: bool = False) -> Any:
    """`value` with the place `loc` set to `new` (or dropped, or made: a new key of an object)."""
    if not loc:
        return new
    head, rest = loc[0], loc[1:]
    if isinstance(value, dict):
        copy = dict(value)
        if drop and not rest:
            copy.pop(head, None)
        else:
            copy[head] = _with(value.get(head), rest, new, drop=drop)
        return copy
    assert isinstance(value, list)
    assert isinstance(head, int)
    items = list(value)
    if drop and not rest:
        del items[head]
    else:
        items[head] = _with(value[head], rest, new, drop=drop)
    return items


Pick = Callable[[list[str]], str]


def filled(value: Any, pick: Pick, known: Known) -> Any:
    """A template with each "$name" replaced by one of the ids the server holds, as `pick` picks."""
    if isinstance(value, str) and value.startswith("$"):
        return pick(known.of(value[1:]))
    if isinstance(value, dict):
        return {key: filled(child, pick, known) for key, child in value.items()}
    if isinstance(value, list):
        return [filled(child, pick, known) for child in value]
    return value


def drawn(draw: st.DrawFn) -> Pick:
    return lambda options: draw(st.sampled_from(options))


@st.composite
def json_bodies(draw: st.DrawFn, templates: list[dict[str, Any]], known: Known, *, hostile: bool) -> Any:
    """One of the route's valid bodies, at times without a field; hostile: with places dropped, retyped,
    made hostile or added, or any JSON value at all."""
    body: Any = filled(draw(st.sampled_from(templates)), drawn(draw), known)
    if not hostile:
        if body and draw(st.integers(0, 4)) == 0:
            body = _with(body, (draw(st.sampled_from(sorted(body))),), None, drop=True)
        return body
    if draw(st.integers(0, 9)) == 0:
        return draw(JSON_VALUES)
    for _ in range(draw(st.integers(1, 3))):
        loc = draw(st.sampled_from(list(_locs(body))))
        match draw(st.sampled_from(["drop", "hostile", "hostile", "add", "raw"])):
            case "drop" if loc:
                body = _with(body, loc, None, drop=True)
            case "add" if isinstance(_at(body, loc), dict):
                body = _with(body, (*loc, draw(st.text(max_size=12))), draw(HOSTILE_VALUES))
            case "raw":
                body = _with(body, loc, RAW)
            case _:
                body = _with(body, loc, draw(HOSTILE_VALUES))
    return body


CONTENT_TYPES = st.sampled_from(
    [
        *("application/json; charset=utf-8", "application/json; charset=latin-1", "application/vnd.api+json"),
        *("APPLICATION/JSON", "text/plain", "application/x-www-form-urlencoded", "multipart/form-data; boundary=x"),
        *("application/json; boundary=x", "", ";", "json", "*/*"),
    ]
)


@st.composite
def encoded(draw: st.DrawFn, value: Any, *, hostile: bool) -> tuple[bytes, list[tuple[str, str]]]:
    """JSON text for `value` as an encoder writes it — hostile: or broken the way a client breaks it — and
    the headers that go with it."""
    text = json.dumps(value, ensure_ascii=draw(st.booleans()))
    text = text.replace(json.dumps(RAW), draw(st.sampled_from(RAW_TOKENS)))
    raw = text.encode("utf-8", "surrogatepass")  # a lone surrogate unescaped: bytes that are no UTF-8
    headers = [("Content-Type", "application/json")]
    if not hostile:
        if draw(st.integers(0, 9)) == 0:
            raw, headers = gzip.compress(raw), [*headers, ("Content-Encoding", "gzip")]
        return raw, headers
    match draw(st.integers(0, 13)):
        case 0:
            raw = raw[: draw(st.integers(0, max(0, len(raw) - 1)))]
        case 1:
            raw += draw(st.sampled_from([b"}", b",", b"\x00", b" garbage", b'{"a": 1}', b"\xff\xfe"]))
        case 2:
            raw = draw(st.sampled_from([b"\xef\xbb\xbf", b"\xff\xfe", b"\xfe\xff"])) + raw
        case 3:
            raw = text.encode(draw(st.sampled_from(["utf-16", "utf-32", "latin-1"])), "replace")
        case 4:
            at = draw(st.integers(0, len(raw)))
            raw = raw[:at] + draw(st.sampled_from([b"\x01", b"\x7f", b"\xc3", b"\xed\xa0\x80", b"\r\n"])) + raw[at:]
        case 5:
            levels = draw(st.sampled_from([129, 1_000, 100_000]))
            raw = b"[" * levels + b"]" * levels if draw(st.booleans()) else b'{"a":' * levels
        case 6:
            raw = draw(st.sampled_from([b"", b" ", b"\n", b"null", b"[]", b'"text"', b"0", b"true", b"{}"]))
        case 7:
            raw = draw(st.binary(max_size=64))
        case 8:
            encoding = draw(st.sampled_from(["gzip", "deflate", "br", "zstd", "gzip, gzip", "x-unknown", "identity"]))
            headers.append(("Content-Encoding", encoding))
        case 9:
            raw = b"message=hi&agentId=1"
        case 10 | 11:
            headers = [("Content-Type", draw(CONTENT_TYPES))]
        case _:
            headers = []  # no Content-Type at all
    return raw, headers


# ── paths and query strings ──────────────────────────────────────────────────────────────────────────

# Written into the path as they are: already percent-encoded, or meant raw.
RAW_SEGMENTS = [
    *("", ".", "..", "%2e%2e", "a%2Fb", "%2F", "%00", "%ff", "%c3%28", "%", "%zz", "%25", "%20", "%0d%0a"),
    *(";", "a;b=c", "{taskId}", "*", "~", "@", "+", "x" * 200, "x" * 9_000),  # the last past aiohttp's limit
]
# Percent-encoded before they go in.
TEXT_SEGMENTS = st.one_of(
    st.sampled_from(["é", "\u202e", "💥", "a b", "a/b", "../..", "-1", "0", "99999999999999999999", "c" * 129]),
    st.text(min_size=1, max_size=16),
)
QUERY_NAMES = ["limit", "since", "state", "agent_id", "include_deltas", "threadId", "agent", "session", "signature"]
QUERY_VALUES = st.one_of(
    st.sampled_from(["", "0", "-1", "1", "101", "²", "1.5", "--5", "1" * 40, "true", "TRUE", "yes", "all", "%"]),
    st.text(max_size=16),
)
RAW_QUERIES = ["%zz", "&&", "=", "a=%", "a=1&a=2", "a", "%00=%00", "a=b=c", "limit=1&limit=x", "threadId="]


def quote(text: str) -> str:
    return "".join(
        c
        if c.isascii() and (c.isalnum() or c in "-._~")
        else "".join(f"%{b:02X}" for b in c.encode("utf-8", "surrogatepass"))
        for c in text
    )


def paired(values: dict[str, str], known: Known) -> dict[str, str]:
    """Path parameters whose agentId is that of the task the path names, if it names one."""
    for value in list(values.values()):
        if "agentId" in values and value in known.agents:
            values["agentId"] = known.agents[value]
    return values


def with_segments(target: Target, segments: dict[str, str]) -> str:
    """The route's path with each {param} replaced by its segment, as it is (already percent-encoded)."""
    path = target.path
    for name, segment in segments.items():
        path = re.sub(r"\{" + re.escape(name) + r"(:[^}]*)?\}", lambda _, s=segment: s, path, count=1)
    return path


@st.composite
def paths(draw: st.DrawFn, target: Target, known: Known, *, hostile_path: bool, hostile_query: bool) -> str:
    values = paired({name: drawn(draw)(known.of(name)) for name in target.params}, known)
    segments = {name: quote(value) for name, value in values.items()}
    for name in segments:
        if hostile_path and draw(st.booleans()):
            raw = draw(st.booleans())
            segments[name] = draw(st.sampled_from(RAW_SEGMENTS)) if raw else quote(draw(TEXT_SEGMENTS))
    path = with_segments(target, segments)
    query = filled(QUERIES.get(target.id, {}), drawn(draw), known)
    pairs = [f"{quote(key)}={quote(value)}" for key, value in query.items() if draw(st.integers(0, 4))]
    if hostile_query:
        for _ in range(draw(st.integers(1, 3))):
            name = draw(st.one_of(st.sampled_from(QUERY_NAMES), st.text(max_size=6)))
            pairs.append(f"{quote(name)}={quote(draw(QUERY_VALUES))}")
        if draw(st.booleans()):
            pairs.append(draw(st.sampled_from(RAW_QUERIES)))
    return path + ("?" + "&".join(pairs) if pairs else "")


# ── headers ──────────────────────────────────────────────────────────────────────────────────────────


@st.composite
def _header_text(draw: st.DrawFn) -> str:
    # Printable ASCII mostly: a control character anywhere has the whole head refused before a route sees it.
    if draw(st.integers(0, 9)) == 0:
        return draw(st.text(max_size=8))
    return draw(st.text(st.characters(min_codepoint=0x20, max_codepoint=0x7E), max_size=32))


HEADER_TEXT = _header_text()
CREDENTIALS = {"beeos": BEEOS, "agentos": AGENTOS, "xpander": XPANDER, "zeus": ZEUS, "aster": ZEUS}


def _jwt_with(payload: bytes) -> str:
    return "eyJhbGciOiJIUzI1NiJ9." + base64.urlsafe_b64encode(payload).decode().rstrip("=") + ".c2ln"


BAD_AUTHORIZATIONS = st.one_of(
    st.sampled_from(
        [
            *(
                "",
                "Bearer",
                "Bearer ",
                "Bearer  ",
                "Basic dXNlcjpwYXNz",
                "Bearer a.b.c",
                "Bearer ..",
                "Bearer eyJ!.e.s",
            ),
            *("bearer oag_" + "a" * 64, "Bearer oag_" + "g" * 64, "Bearer oag_" + "a" * 63, "Bearer " + "a" * 8_000),
            *("BEARER aos_ws_t", "Bearer aos_ws_", "Bearer aos_agent_x"),
            "Bearer " + jwt({"org_role": ["org:admin"]}),
            "Bearer " + jwt({"org_role": "member"}),
            "Bearer " + jwt({"o": "org", "sub": 5}),
            "Bearer " + jwt({"o": {"rol": {"x": 1}, "id": [1]}, "org_id": 7}),
            "Bearer " + jwt([1, 2]),
            "Bearer " + jwt(None),
            "Bearer " + jwt({"sub": "x" * 10_000}),
            "Bearer " + _jwt_with(b"not json"),
            "Bearer " + _jwt_with(b"\xff\xfe"),
            "Bearer " + _jwt_with(b"[" * 50_000),
            "Bearer " + _jwt_with(b'{"sub": "\\ud800"}'),
            "Bearer " + _jwt_with(b'{"sub": 1e999}'),
        ]
    ),
    HEADER_TEXT.map(lambda token: "Bearer " + token),
)


@st.composite
def credentials(draw: st.DrawFn, owner: str, *, hostile: bool) -> list[tuple[str, str]]:
    own = list(CREDENTIALS.get(owner, {}).items())
    if not hostile:
        return own
    match draw(st.integers(0, 3)):
        case 0:
            return []
        case 1:
            return [("x-api-key", draw(st.sampled_from(["", " ", "k" * 5_000, "é", "\t"])))]
        case 2:
            return [*own, ("Authorization", draw(BAD_AUTHORIZATIONS))]  # two: the platform reads the first
        case _:
            return [("Authorization", draw(BAD_AUTHORIZATIONS))]


# Faults that answer at once. (A wait of any length would hang on the manual clock: none is valid here.)
VALID_FAULTS = [
    *("429", "429, retry-after=5", "500", "502", "503", "504", "latency=0", "latency=0..0", "ok"),
    *("drop-after=0", "drop-after=1", "malformed", "malformed=1", "no-terminal", "stall=0", "stall=0, stall-after=0"),
]
BAD_FAULTS = st.one_of(
    st.sampled_from(
        [
            *("", ",", "600", "200", "4290", "²", "429, retry-after=-1", "429, retry-after=1e3"),
            *("latency=inf", "latency=nan", "latency=-1", "latency=1e309", "latency=" + "9" * 400),
            *("latency=lognormal:0:1", "latency=lognormal:-1:1", "latency=0..inf", "latency=5..1"),
            *("drop-after=-1", "drop-after=1e3", "stall=nan", "stall-after=-1", "malformed=0", "no-terminal=1"),
            *("429, retry-after=" + "9" * 30, "drop-after=" + "9" * 30, "malformed=" + "9" * 30),
        ]
    ),
    st.text(max_size=16),
)
SESSIONS = ["fuzz", "default", "a.b:c@d/e+f-g"]
BAD_SESSIONS = ["", " ", "../x", "x" * 129, "é", "a b", "\t", "-x", "a\x7f", "\ud800"]
ACCEPTS = ["text/event-stream", "application/json", "*/*", "text/event-stream, application/json"]


@st.composite
def headers(draw: st.DrawFn, known: Known, port: int, *, hostile: bool) -> list[tuple[str, str]]:
    """The headers that steer a request (stream or not, its session, a fault, Zeus's agent …), valid;
    hostile: with values no client should send, and the odd header more."""
    options: list[tuple[str, st.SearchStrategy[str]]] = [
        (FAULT_HEADER, st.sampled_from(VALID_FAULTS)),
        (SESSION_HEADER, st.one_of(st.sampled_from(SESSIONS), st.from_regex(SESSION_NAME, fullmatch=True))),
        ("Accept", st.sampled_from(ACCEPTS)),
        ("X-Mockagent-Agent", st.sampled_from(known.of("agent"))),
        ("X-Stream-Response", st.sampled_from(["false", " FALSE ", "true"])),
        ("Last-Event-ID", st.sampled_from(["0", "1", "5"])),
    ]
    if hostile:
        options = [
            (FAULT_HEADER, BAD_FAULTS),
            (SESSION_HEADER, st.sampled_from(BAD_SESSIONS)),
            ("Accept", st.sampled_from(["", "text/event-stream;q=0", "*/*;q=x", "\x00"])),
            ("X-Mockagent-Agent", HEADER_TEXT),
            ("X-Stream-Response", HEADER_TEXT),
            ("Last-Event-ID", st.sampled_from(["-1", "9" * 30, "abc", "²", "1.5"])),
            ("Host", st.sampled_from(["", "localhost", "evil.example", "[::1]", "a b", "127.0.0.1:99999", "xn--"])),
            ("Origin", st.sampled_from(["http://evil.example", "null", f"http://127.0.0.1:{port}"])),
            ("Content-Type", CONTENT_TYPES),
            ("X-" + draw(st.from_regex(r"[A-Za-z0-9-]{1,12}", fullmatch=True)), HEADER_TEXT),
        ]
    # Each at times; a fault seldom, as a forced 429 or 5xx answers before the rest of the request is read.
    found = [
        (name, draw(values)) for name, values in options if draw(st.integers(0, 7 if name == FAULT_HEADER else 3)) == 0
    ]
    if hostile and not found:
        name, values = draw(st.sampled_from(options))
        found.append((name, draw(values)))
    return found


# ── probes ───────────────────────────────────────────────────────────────────────────────────────────

PARTS = ("body", "body", "body", "path", "query", "headers", "credential", "method")  # the body most often
OTHER_METHODS = ["GET", "POST", "PUT", "DELETE", "PATCH", "HEAD", "OPTIONS", "TRACE", "PROPFIND"]


@dataclass(frozen=True)
class Request:
    """What a probe sends, before it is put on the wire."""

    method: str
    target: str
    headers: list[tuple[str, str]]
    body: bytes


@st.composite
def requests(draw: st.DrawFn, target: Target, known: Known, port: int, *, hostile: bool = True) -> Request:
    """A request to `target`: valid, with one or two of its parts hostile (none when not `hostile`)."""
    bad = draw(st.sets(st.sampled_from(PARTS), min_size=1, max_size=2)) if hostile else set()
    method = draw(st.sampled_from(OTHER_METHODS)) if "method" in bad else target.method
    sent = [("Host", f"127.0.0.1:{port}"), *draw(credentials(target.owner, hostile="credential" in bad))]
    body = b""
    if method in ("POST", "PUT", "PATCH") or "body" in bad:
        if target.path.startswith("/beeos/storage/"):  # an upload: any bytes
            body = draw(st.binary(max_size=256))
            sent.append(("Content-Type", "text/plain" if "body" not in bad else draw(CONTENT_TYPES)))
        else:
            value = draw(json_bodies(BODIES.get(target.id, [{}]), known, hostile="body" in bad))
            body, body_headers = draw(encoded(value, hostile="body" in bad))
            sent += body_headers
    for name, value in draw(headers(known, port, hostile="headers" in bad)):
        # A second Host or Content-Type has aiohttp refuse the whole head: now and then, not every time.
        if name in ("Host", "Content-Type") and draw(st.integers(0, 4)):
            sent = [(old, kept) for old, kept in sent if old != name]
        sent.append((name, value))
    path = draw(paths(target, known, hostile_path="path" in bad, hostile_query="query" in bad))
    return Request(method, path, sent, body)


# ── every field of every body, with a value of every type ────────────────────────────────────────────

DROPPED = object()  # the field left out
CONFUSIONS: list[Any] = [
    *(DROPPED, None, True, -1, 2**64, 1e308, 1.5, "", "\ud800", "x" * 100_000),
    *([], [None], {}, {"": {"": None}}, _deep(120)),
]


@dataclass(frozen=True)
class FieldCase:
    template: dict[str, Any]
    loc: Loc
    value: Any

    def __repr__(self) -> str:
        shown = "(dropped)" if self.value is DROPPED else repr(self.value)[:80]
        return f"{'.'.join(map(str, self.loc))} = {shown}"


def field_cases(target: Target, stride: int) -> list[FieldCase]:
    """Each place in each of the route's bodies with each of CONFUSIONS — or, when `stride` is more than 1,
    one pair in `stride`, chosen so that each place still gets values of several kinds."""
    cases = []
    places = [(template, loc) for template in BODIES.get(target.id, []) for loc in list(_locs(template))[1:]]
    for n, (template, loc) in enumerate(places):
        cases += [FieldCase(template, loc, value) for m, value in enumerate(CONFUSIONS) if (n + m) % stride == 0]
    return cases


def field_request(target: Target, case: FieldCase, known: Known, port: int, turn: int) -> Request:
    """A valid request to `target` but for one field of its body (the `turn`th of each id the server holds
    where it names one, so that one probe's act on an id does not decide every later probe's answer)."""

    def _first(options: list[str]) -> str:
        return options[turn % len(options)]

    values = paired({name: _first(known.of(name)) for name in target.params}, known)
    path = with_segments(target, {name: quote(value) for name, value in values.items()})
    query = filled(QUERIES.get(target.id, {}), _first, known)
    if query:
        path += "?" + "&".join(f"{quote(key)}={quote(value)}" for key, value in query.items())
    body = filled(case.template, _first, known)
    body = _with(body, case.loc, None, drop=True) if case.value is DROPPED else _with(body, case.loc, case.value)
    sent = [("Host", f"127.0.0.1:{port}"), *CREDENTIALS.get(target.owner, {}).items()]
    sent.append(("Content-Type", "application/json"))
    return Request(target.method, path, sent, json.dumps(body).encode())


# ── framing ──────────────────────────────────────────────────────────────────────────────────────────

BAD_LENGTHS = ["-1", "+5", "0x10", "1e3", "5 5", "5,5", "", "99999999999999999999", "٣", "5\t"]
TRANSFER_ENCODINGS = ["gzip, chunked", "chunked, gzip", "identity", "xchunked", "chunked, chunked", "Chunked", "gzip"]
BAD_HEADER_LINES = [
    *("NoColon", "Space : x", ": empty-name", "X-Nul: a\x00b", "X-Del: a\x7fb", "X-Ctl: a\x01b", "Bad\tName: x"),
    *("X-Bare-Cr: a\rb", "(): x", "X-Long: " + "x" * 9_000, "Héader: x", "X-Utf8: é", "X-Latin1: \udcff"),
]
METHODS = ["get", "G ET", "GET\t", "X" * 20, "", "CONNECT", "PRI", "M-SEARCH", "GET /"]
TARGETS = ["http://127.0.0.1/beeos/api/v1/tasks", "*", "//beeos//api", "/a b", "/é", "/%", "#frag", "x" * 9_000, ""]
VERSIONS = ["HTTP/1.0", "HTTP/1.2", "HTTP/3.0", "HTTP/1", "HTTPS/1.1", "http/1.1", "HTTP/01.1", ""]
FRAMINGS = [
    *("long-length", "short-length", "bad-length", "two-lengths", "chunked", "bad-chunks", "chunked-and-length"),
    *("transfer-encoding", "version", "line-ends", "folded", "bad-header", "many-headers", "method", "target"),
    *("expect", "pipelined", "preface", "garbage"),
]


@dataclass(frozen=True)
class Framed:
    """A request with its framing broken: its bytes, whether the client then says it is done sending (for a
    request the server would otherwise wait on: it may then close without an answer), and whether its
    request line is broken (then no platform can be told from it: mockagent's envelope answers)."""

    method: str
    target: str
    raw: bytes
    half_close: bool
    line_broken: bool = False


def _chunked(body: bytes, sizes: list[int]) -> bytes:
    out, at = b"", 0
    for size in sizes:
        piece = body[at : at + size]
        if not piece:
            break
        out += f"{len(piece):x}\r\n".encode() + piece + b"\r\n"
        at += len(piece)
    if at < len(body):
        out += f"{len(body) - at:x}\r\n".encode() + body[at:] + b"\r\n"
    return out + b"0\r\n\r\n"


@st.composite
def framed(draw: st.DrawFn, request: Request) -> Framed:
    method, target, body = request.method, request.target, request.body
    lines = [f"{name}: {value}" for name, value in request.headers]
    version, end, half_close, tail, line_broken = "HTTP/1.1", "\r\n", False, b"", False
    length = [f"Content-Length: {len(body)}"] if body or method in ("POST", "PUT", "PATCH") else []
    sizes = draw(st.lists(st.integers(1, 64), max_size=4))
    match draw(st.sampled_from(FRAMINGS)):
        case "long-length":  # more than it sends
            length, half_close = [f"Content-Length: {len(body) + draw(st.integers(1, 1_000))}"], True
        case "short-length":  # less than it sends: the rest reads as a request of its own
            body = body or b"{}"
            length = [f"Content-Length: {draw(st.integers(0, len(body) - 1))}"]
        case "bad-length":
            length, half_close = [f"Content-Length: {draw(st.sampled_from(BAD_LENGTHS))}"], True
        case "two-lengths":
            length = [f"Content-Length: {len(body)}", f"Content-Length: {draw(st.sampled_from([0, 1, len(body)]))}"]
        case "chunked":
            length, body = ["Transfer-Encoding: chunked"], _chunked(body, sizes)
        case "bad-chunks":
            chunked = _chunked(body, sizes)
            body = draw(
                st.sampled_from(
                    [
                        b"zz\r\n" + body + b"\r\n0\r\n\r\n",
                        b"f" * 20 + b"\r\n" + body + b"\r\n0\r\n\r\n",
                        b"1\r\n" + (body or b"{}") + b"\r\n0\r\n\r\n",
                        b"-1\r\n\r\n",
                        chunked.replace(b"\r\n", b"\n"),
                        chunked[:-5] + b"0\r\nX-Trailer: 1\r\n\r\n",
                        chunked.replace(b"\r\n", b";ext=1\r\n", 1),
                        chunked[:-5],  # no last chunk
                    ]
                )
            )
            length, half_close = ["Transfer-Encoding: chunked"], True
        case "chunked-and-length":
            length = ["Transfer-Encoding: chunked", f"Content-Length: {len(body)}"]
            body = _chunked(body, sizes)
        case "transfer-encoding":
            length = [f"Transfer-Encoding: {draw(st.sampled_from(TRANSFER_ENCODINGS))}"]
            body, half_close = _chunked(body, sizes), True
        case "version":
            version, line_broken = draw(st.sampled_from(VERSIONS)), True
        case "line-ends":
            end, half_close, line_broken = draw(st.sampled_from(["\n", "\r", "\r\r\n", "\n\r"])), True, True
        case "folded":
            lines += ["X-Folded: a", draw(st.sampled_from([" b", "\tb", " "]))]
        case "bad-header":
            lines.insert(draw(st.integers(0, len(lines))), draw(st.sampled_from(BAD_HEADER_LINES)))
        case "many-headers":
            lines += [f"X-H{i}: {i}" for i in range(draw(st.sampled_from([100, 500, 2_000])))]
        case "method":
            method, line_broken = draw(st.sampled_from(METHODS)), True
        case "target":
            target, line_broken = draw(st.sampled_from(TARGETS)), True
        case "expect":
            lines.append(f"Expect: {draw(st.sampled_from(['100-continue', '200-ok', '', '100-continue, x']))}")
        case "pipelined":
            tail = f"GET {request.target} HTTP/1.1{end}Host: x{end}{end}".encode()
        case "preface":
            return Framed("GET", "*", b"PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n", True, line_broken=True)
        case _:
            return Framed("GET", "", draw(st.binary(max_size=64)) + b"\r\n\r\n", True, line_broken=True)
    head = end.join([f"{method} {target} {version}".rstrip(), *lines, *length]) + end + end
    shown = method if method in ("GET", "POST", "PUT", "PATCH", "DELETE", "HEAD") else "GET"
    return Framed(shown, target, head.encode("utf-8", "surrogatepass") + body + tail, half_close, line_broken)
