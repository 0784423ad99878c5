"""Matching a live request to a recorded one: method, path and body, with what varies between a recording
and its replay normalised away the same way on both sides.

What varies (CHOSEN, per platform; see docs/recording.md):
- fields a client mints for itself — a BeeOS `context_id`, a Zeus `session_id`, an Aster `threadId` and
  message `id`, an AgentOS `external_run_id` — match any value; the first replay of such a value is
  threaded through: the replayed answer says the client's value where the recording said its own, and a
  later request that uses the client's value (in its path, query or body) is read as the recorded one;
- `idempotency_key` and timestamps match any value;
- secrets match any secret of the same kind: the recording holds `<<secret:RULE:HASH>>` and the live
  request is redacted with the same rules before it is compared.

The key of a request is a string made from the normalised parts, so finding its recorded interactions is
one dictionary look-up, whatever the size of the cassette.
"""

from __future__ import annotations

import json
import re
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass
from typing import Any
from urllib.parse import parse_qsl, urlencode

#: Fields a client may choose itself on some platform — BeeOS `context_id`, Zeus `session_id`, Aster
#: `threadId` and message `id`, AgentOS `external_run_id` — matched as wildcards and threaded through.
CLIENT_IDS = frozenset({"context_id", "session_id", "threadId", "id", "external_run_id"})
#: Fields whose value never decides a match, on every platform.
VOLATILE = frozenset({"idempotency_key", "timestamp", "created_at", "occurred_at", "sent_at"})
_SECRET = re.compile(r"<<secret:([a-z0-9_]+):[0-9a-f]{8}>>")
_WILD = "<<any>>"


PARTS = ("platform", "method", "path", "query", "body")


@dataclass(frozen=True, slots=True)
class Matchers:
    """What decides a match, per cassette (its `metadata.x_mockagent.match`): the parts compared, and more
    fields (body keys, query parameters) that match any value."""

    match_on: frozenset[str] = frozenset(PARTS)
    ignore: frozenset[str] = frozenset()


DEFAULT = Matchers()


@dataclass(frozen=True, slots=True)
class Shape:
    """A request as matching sees it: its key parts, and the client-chosen values it carried."""

    platform: str
    method: str
    path: str  # below the platform's base, with a normalised query
    body: Any  # parsed JSON with wildcards in place; or the raw text; or None
    chosen: tuple[tuple[str, str], ...]  # (field, value) of each client-chosen id, in body order
    match_on: frozenset[str] = frozenset(PARTS)

    @property
    def key(self) -> str:
        on = self.match_on
        base, _, query = self.path.partition("?")
        parts = [
            self.platform if "platform" in on else "*",
            self.method if "method" in on else "*",
            base if "path" in on else "*",
            query if "query" in on else "*",
            json.dumps(self.body, sort_keys=True, ensure_ascii=False) if "body" in on else "*",
        ]
        return " ".join(parts)


def shape(
    platform: str,
    method: str,
    path: str,
    body: bytes | None,
    *,
    redact: Callable[[str], str] = lambda text: text,
    aliases: Mapping[str, str] | None = None,
    matchers: Matchers = DEFAULT,
) -> Shape:
    """Normalise a request. `redact` is the recorder's text redaction (so a live secret meets its
    placeholder); `aliases` maps the client's ids to the recorded ones (threading)."""
    aliases = aliases or {}
    volatile = VOLATILE | matchers.ignore
    path = _swap(redact(path), aliases)
    base, _, query = path.partition("?")
    if query:
        pairs = [
            (name, _WILD if name in volatile else value) for name, value in parse_qsl(query, keep_blank_values=True)
        ]
        base = f"{base}?{urlencode(sorted(pairs))}"
    chosen: list[tuple[str, str]] = []
    parsed: Any = None
    if body:
        text = _swap(redact(body.decode("utf-8", errors="replace")), aliases)
        try:
            parsed = _normalise(json.loads(text), CLIENT_IDS, volatile, chosen)
        except (ValueError, RecursionError):
            parsed = _SECRET.sub(r"<<secret:\1>>", text)
    path = _SECRET.sub(r"<<secret:\1>>", base)
    return Shape(platform, method.upper(), path, parsed, tuple(chosen), matchers.match_on)


def _swap(text: str, aliases: Mapping[str, str]) -> str:
    for live, recorded in aliases.items():
        if live in text:
            text = text.replace(live, recorded)
    return text


def _normalise(value: Any, client_ids: frozenset[str], volatile: frozenset[str], chosen: list[tuple[str, str]]) -> Any:
    if isinstance(value, dict):
        out: dict[str, Any] = {}
        for name, item in value.items():
            if name in volatile:
                out[name] = _WILD
            elif name in client_ids and isinstance(item, str):
                chosen.append((name, item))
                out[name] = _WILD
            else:
                out[name] = _normalise(item, client_ids, volatile, chosen)
        return out
    if isinstance(value, list):
        return [_normalise(item, client_ids, volatile, chosen) for item in value]
    if isinstance(value, str):
        return _SECRET.sub(r"<<secret:\1>>", value)
    return value


# ── near misses ───────────────────────────────────────────────────────────────────────────────────────


def differences(recorded: Shape, live: Shape, limit: int = 4) -> list[str]:
    """What differs between a recorded request and a live one: the method, the path, and the body as
    JSON paths with both values (at most `limit`)."""
    found: list[str] = []
    if recorded.platform != live.platform:
        found.append(f"platform: recorded {recorded.platform or '(none)'}, got {live.platform}")
    if recorded.method != live.method:
        found.append(f"method: recorded {recorded.method}, got {live.method}")
    if recorded.path != live.path:
        found.append(f"path: recorded {recorded.path}, got {live.path}")
    found += _diff("$", recorded.body, live.body)
    return found[:limit] if len(found) <= limit else [*found[:limit], f"… {len(found) - limit} more"]


def _diff(at: str, recorded: Any, live: Any) -> Iterable[str]:
    if isinstance(recorded, dict) and isinstance(live, dict):
        for name in sorted(recorded.keys() | live.keys()):
            where = f"{at}.{name}"
            if name not in live:
                yield f"{where}: recorded {_short(recorded[name])}, missing now"
            elif name not in recorded:
                yield f"{where}: not recorded, got {_short(live[name])}"
            else:
                yield from _diff(where, recorded[name], live[name])
    elif isinstance(recorded, list) and isinstance(live, list) and len(recorded) == len(live):
        for index, (old, new) in enumerate(zip(recorded, live, strict=True)):
            yield from _diff(f"{at}[{index}]", old, new)
    elif recorded != live:
        yield f"{at}: recorded {_short(recorded)}, got {_short(live)}"


def _short(value: Any, limit: int = 40) -> str:
    text = json.dumps(value, ensure_ascii=False)
    return text if len(text) <= limit else text[:limit] + "…"
