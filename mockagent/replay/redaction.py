"""Redaction: every secret in a request or a reply becomes a placeholder before a cassette is written.

Three things make a value a secret (docs/recording.md, "Redaction", gives the CHOSEN tables):

- its place: a header, JSON field, field path or query/form parameter that always holds one
  (``Authorization``, ``x-api-key``, cookies, ``apiKey``/``api_key``, ``llm_config.apiKey``, ``tools[].api_key`` …);
- its shape: the rule table (`BUILTIN_RULES`: Bearer tokens, JWTs, ``sk-…``, ``sk-ant-…``, ``tvly-…``, ``oag_…``,
  ``aos_ws_…``, ``aos_agent_…`` …), matched in every string: header values, URIs, JSON strings, text bodies and
  each line of a stream;
- a key-like name (``session_token``, ``X-CSRF-Token``, ``GITHUB_TOKEN`` …) holding a long high-entropy value
  (`looks_random`), which spares the ids the platforms mint: replies are full of UUIDs, ``ch-<hex>`` and
  ``req_<hex>``, and matching a replayed request depends on them staying as they are.

A secret becomes ``<<secret:LABEL:HASH8>>``: HASH8 is the first 8 hex digits of its sha256, LABEL the first
shape rule that matches the whole secret, or ``opaque``. The placeholder depends on the secret alone, not on
where it was found: a token a recorded reply handed out reads the same when the next request sends it back
in a header, so the replayed client's requests (which carry the placeholder) still match. A placeholder is
never redacted again, so redacting twice changes nothing.

Every function here is pure: text in, text out. Edits are computed first, as ``(start, end, replacement)``
on the original, so that a stream's chunk sizes can be carried over to the redacted bytes (`Redacted`).
"""

from __future__ import annotations

import bisect
import copy
import functools
import hashlib
import json
import math
import re
from collections import Counter
from collections.abc import Iterable, Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any, TypeAlias, TypeVar
from urllib.parse import unquote

from mockagent.errors import ScenarioError

if TYPE_CHECKING:
    from mockagent.scenarios.yamlnodes import Node

JsonValue: TypeAlias = bool | int | float | str | list["JsonValue"] | dict[str, "JsonValue"] | None
Edit: TypeAlias = tuple[int, int, str]  # (start, end, replacement) on the text it was found in
_Body = TypeVar("_Body", str, bytes, None)

PLACEHOLDER = re.compile(r"<<secret:[A-Za-z0-9_-]{1,40}:[0-9a-f]{8}>>")
OPAQUE = "opaque"  # the label of a secret no shape rule matches whole

# ── the rule table ─────────────────────────────────────────────────────────────────────────────────


@dataclass(frozen=True)
class Rule:
    """A shape of secret. The regex starts with a literal wherever it can: the audit scans megabytes with it."""

    name: str
    regex: re.Pattern[str]
    #: Names the secrets it matches whole (a placeholder's label); a context rule such as ``bearer`` only
    #: finds a secret, which is then labelled by its own shape.
    classifies: bool = True
    #: Must not start inside a longer token: ``task-…`` holds ``sk-…``.
    boundary: bool = False

    @functools.cached_property
    def group(self) -> int | str:
        """The part of a match that is the secret: the group named ``secret`` if there is one."""
        return "secret" if "secret" in self.regex.groupindex else 0


_B64URL = "A-Za-z0-9_-"

#: CHOSEN (docs/recording.md): the built-in shapes, most specific first (a secret's label is the first that
#: matches it whole, so ``sk-ant-…`` is ``anthropic`` although ``openai``'s regex matches it too).
BUILTIN_RULES: tuple[Rule, ...] = (
    Rule("anthropic", re.compile(rf"sk-ant-[{_B64URL}]{{20,}}"), boundary=True),
    # A digit is required: prose has "sk-learn-and-friends", real keys are random.
    Rule("openai", re.compile(rf"sk-(?=[{_B64URL}]*[0-9])[{_B64URL}]{{20,}}"), boundary=True),
    Rule("tavily", re.compile(rf"tvly-[{_B64URL}]{{16,}}"), boundary=True),
    Rule("beeos", re.compile(r"oag_[A-Za-z0-9]{16,}"), boundary=True),
    # The platform accepts any aos_ws_/aos_agent_ key, and test keys are short (aos_ws_test).
    Rule("agentos_ws", re.compile(rf"aos_ws_[{_B64URL}]{{4,}}"), boundary=True),
    Rule("agentos_agent", re.compile(rf"aos_agent_[{_B64URL}]{{4,}}"), boundary=True),
    # A JWT's header is base64url JSON, so it starts with eyJ ('{"'); an unsigned one has no third part.
    Rule("jwt", re.compile(rf"eyJ[{_B64URL}]{{4,}}\.[{_B64URL}]{{4,}}\.[{_B64URL}]*"), boundary=True),
    Rule("github", re.compile(r"gh[pousr]_[A-Za-z0-9]{36,}"), boundary=True),
    Rule("github_pat", re.compile(r"github_pat_[A-Za-z0-9_]{22,}"), boundary=True),
    Rule("aws", re.compile(r"A(?:KIA|SIA)[0-9A-Z]{16}(?![0-9A-Za-z])"), boundary=True),
    Rule("google", re.compile(rf"AIza[{_B64URL}]{{35}}"), boundary=True),
    Rule("slack", re.compile(r"xox[abposr]-[A-Za-z0-9-]{10,}"), boundary=True),
    Rule("stripe", re.compile(r"sk_(?:live|test)_[A-Za-z0-9]{16,}"), boundary=True),
    Rule("stripe_restricted", re.compile(r"rk_(?:live|test)_[A-Za-z0-9]{16,}"), boundary=True),
    # The body's alphabet (base64, whitespace, the backslash of a JSON \n) cannot cross a JSON string's end.
    Rule(
        "private_key",
        re.compile(
            r"-----BEGIN (?:[A-Z]+ )*PRIVATE KEY-----[A-Za-z0-9+/=\s\\]{0,16384}?-----END (?:[A-Z]+ )*PRIVATE KEY-----"
        ),
    ),
    # The token needs a digit: "Bearer authentication" is prose. The regex starts with the literal "earer"
    # (the B is checked behind it): a leading [Bb] would make the engine try every position of the text.
    Rule(
        "bearer",
        re.compile(r"earer(?<=[Bb]earer)\s{1,40}(?P<secret>(?=[A-Za-z0-9._~+/-]*[0-9])[A-Za-z0-9._~+/-]{8,}=*)"),
        classifies=False,
    ),
    Rule("url_password", re.compile(r"://[^\s/:@\"'<>\\]{1,256}:(?P<secret>[^\s/@\"'<>\\]{1,256})@"), classifies=False),
)
BUILTIN_RULE_NAMES = frozenset(rule.name for rule in BUILTIN_RULES) | {"entropy", "header", "field", OPAQUE}

#: CHOSEN: headers whose values are always secrets. They count as field names too (a tool's `headers` map).
DEFAULT_HEADERS: tuple[str, ...] = (
    "authorization",
    "proxy-authorization",
    "x-api-key",
    "api-key",
    "x-auth-token",
    "x-access-token",
    "x-goog-api-key",
    "x-amz-security-token",
    "cookie",
    "set-cookie",
)

#: CHOSEN: JSON fields and query/form parameters whose values are always secrets (names match whatever their
#: case, `-` and `_`: apiKey = api_key = API-KEY), and paths (``a.b``, ``[]`` for any item of a list) that
#: match at any depth.
DEFAULT_FIELDS: tuple[str, ...] = (
    "apiKey",
    "password",
    "passwd",
    "secret",
    "token",
    "access_token",
    "refresh_token",
    "id_token",
    "auth_token",
    "session_token",
    "client_secret",
    "private_key",
    "secret_key",
    "secret_access_key",
    "user_oidc_token",  # xpander: the end user's token, passed through to tools
    "signature",  # BeeOS presigned URLs: "the signature is the credential"
    "sig",
    "X-Amz-Signature",
    "X-Amz-Credential",
    "X-Amz-Security-Token",
    "llm_config.apiKey",  # Zeus: the customer's own LLM key
    "tools[].api_key",  # Zeus: a tool's credential
)

#: CHOSEN (`is_key_like`): words that make a name key-like, and words that make it not key-like even so
#: (``token_type``, ``next_page_token``, ``api_key_id`` name things that are not secrets).
SECRET_WORDS = frozenset(
    [
        "token",
        "secret",
        "secrets",
        "password",
        "passwd",
        "pwd",
        "passphrase",
        "credential",
        "credentials",
        "apikey",
        "auth",
        "authorization",
        "bearer",
        "jwt",
        "cookie",
        "signature",
        "privatekey",
        "secretkey",
        "accesskey",
    ]
)
#: "key" alone is ambiguous (cache_key, idempotency_key, object key): it counts after one of these.
KEY_QUALIFIERS = frozenset(
    [
        "api",
        "secret",
        "private",
        "access",
        "auth",
        "signing",
        "encryption",
        "client",
        "master",
        "license",
        "service",
        "account",
        "app",
        "session",
        "webhook",
        "admin",
        "bot",
        "personal",
        "deploy",
        "ssh",
    ]
)
NOT_SECRET_WORDS = frozenset(
    [
        "id",
        "ids",
        "type",
        "kind",
        "name",
        "count",
        "page",
        "next",
        "cursor",
        "continuation",
        "url",
        "uri",
        "prefix",
        "hint",
        "path",
        "format",
        "version",
        "expires",
        "expiry",
        "ttl",
        "usage",
    ]
)

#: CHOSEN (`looks_random`): the shortest value the entropy rule judges, and its thresholds in bits per
#: character of the value's own character frequencies. 20 characters: real keys are 32 and more, and below
#: 20 random strings and words overlap. Hex (0-9a-f in one case, with a letter and a digit): 3.0 bits. Else
#: upper case, lower case and a digit, and 3.5 bits: model names, words and dates lack upper case
#: ("claude-3-5-sonnet-20241022"). Measured on 40,000 random values each, the rule misses 2.9 % of 20-hex
#: values, 0.5 % of 24-hex, 1.6 % of 32-hex (those looking like a uuid4), none from 40; 3 % of 20-character
#: base62, 0.4 % of 32, 0.1 % of 40 (docs/recording.md).
MIN_ENTROPY_LENGTH = 20
HEX_ENTROPY_BITS = 3.0
MIXED_ENTROPY_BITS = 3.5

#: Auth schemes kept in front of their redacted token: "Bearer <<secret:jwt:…>>".
AUTH_SCHEMES = frozenset({"bearer", "basic", "token", "bot", "digest", "negotiate", "apikey", "key", "dpop", "oauth"})

# ── judging names and values ───────────────────────────────────────────────────────────────────────

_WORD = re.compile(r"[A-Z]+(?![a-z])|[A-Z]?[a-z]+|[0-9]+")
_TOKEN_ALPHABET = re.compile(r"[A-Za-z0-9+/=_.~-]+")
_HEX = re.compile(r"[0-9a-f]+|[0-9A-F]+")
_UUID = r"[0-9a-fA-F]{8}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{12}"
# uuid4().hex: its version (4) and variant (8, 9, a or b) digits. Only version 4, what the platforms mint: a
# random 32-hex key looks like one once in 64 times, like any version once in 8.
_UUID_HEX = r"[0-9a-f]{12}4[0-9a-f]{3}[89ab][0-9a-f]{15}"
_ID_PREFIX = r"[a-z][a-z0-9]{0,15}[-_]"
#: Ids the platforms mint: a UUID (dashed or not), or lowercase words then lowercase hex of at most 32 digits
#: (ch-<32 hex>, req_<24 hex>, file_<32 hex>), with an optional -N (msg-<hex>-3). Vendors' secrets are longer
#: or mixed case (oag_<64 hex>, sk_live_<base62>).
_ID_SHAPE = re.compile(
    rf"(?:{_ID_PREFIX})*(?:{_UUID}|{_UUID_HEX})(?:[-_][0-9]{{1,9}})?|(?:{_ID_PREFIX})+[0-9a-f]{{8,32}}(?:[-_][0-9]{{1,9}})?"
)
_SCHEME_VALUE = re.compile(r"([A-Za-z][A-Za-z0-9-]{0,19})([ \t]+)(\S+)")
_TOKEN_CHARS = frozenset("ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789_-")
_ESCAPE_BEFORE = re.compile(r"\\(?:[nrtbf]|x[0-9A-Fa-f]{2}|u[0-9A-Fa-f]{4})\Z")


def normalize(name: str) -> str:
    """A name as the field and header tables compare it: lower case, without `-` and `_`."""
    return name.lower().replace("-", "").replace("_", "")


@functools.lru_cache(maxsize=4096)
def _words(name: str) -> tuple[str, ...]:
    return tuple(word.lower() for word in _WORD.findall(name))


@functools.lru_cache(maxsize=4096)
def is_key_like(name: str) -> bool:
    """A name under which a long high-entropy value is a secret: apiKey, session_token, X-CSRF-Token."""
    words = _words(name)
    if not words or not NOT_SECRET_WORDS.isdisjoint(words):
        return False
    if not SECRET_WORDS.isdisjoint(words):
        return True
    return any(word == "key" and i and words[i - 1] in KEY_QUALIFIERS for i, word in enumerate(words))


def shannon_entropy(value: str) -> float:
    """Bits per character of the value's own character frequencies."""
    n = len(value)
    return -sum(count / n * math.log2(count / n) for count in Counter(value).values())


def looks_random(value: str) -> bool:
    """A long high-entropy token that is not an id the platforms mint (the `entropy` rule)."""
    if len(value) < MIN_ENTROPY_LENGTH or not _TOKEN_ALPHABET.fullmatch(value) or _ID_SHAPE.fullmatch(value):
        return False
    has_digit = any(c.isdigit() for c in value)
    if _HEX.fullmatch(value):
        return has_digit and not value.isdigit() and shannon_entropy(value) >= HEX_ENTROPY_BITS
    has_lower = any(c.islower() for c in value)
    has_upper = any(c.isupper() for c in value)
    return has_digit and has_lower and has_upper and shannon_entropy(value) >= MIXED_ENTROPY_BITS


def starts_token(text: str, index: int) -> bool:
    """Whether a match at `index` begins a token, not the middle of one (``task-…`` does not begin ``sk-…``).
    A JSON or YAML escape just before (``\\nsk-…``, ``caf\\u00e9sk-…``) counts as a separator."""
    if index == 0 or text[index - 1] not in _TOKEN_CHARS:
        return True
    return _ESCAPE_BEFORE.search(text, max(0, index - 6), index) is not None


def is_placeholder(value: str) -> bool:
    return PLACEHOLDER.fullmatch(value) is not None


# ── configuration ──────────────────────────────────────────────────────────────────────────────────


class RedactionConfigError(ScenarioError):
    """A redaction config file is wrong: the message starts with ``path:line:col:``."""


@dataclass(frozen=True)
class RedactionConfig:
    """What a user adds to the defaults: header names, field names or paths, and named regexes."""

    headers: tuple[str, ...] = ()
    fields: tuple[str, ...] = ()
    patterns: tuple[tuple[str, str], ...] = ()  # (name, regex)


_HEADER_NAME = re.compile(r"[!#$%&'*+.^_`|~0-9A-Za-z-]+")
_PATTERN_NAME = re.compile(r"[a-z][a-z0-9_]{0,39}")
_PATH_SEGMENT = re.compile(r"([^.\[\]]*)((?:\[\])*)")


def _parse_field(entry: str) -> tuple[str, ...]:
    """``tools[].api_key`` → ("tools", "[]", "apikey"); a plain name → (its normalized form,)."""
    parts: list[str] = []
    for segment in entry.split("."):
        match = _PATH_SEGMENT.fullmatch(segment)
        if match is None or not (match.group(1) or match.group(2)):
            raise ValueError(f"{entry!r} is not a field name or path (names joined by '.', '[]' for a list's items)")
        if match.group(1):
            parts.append(normalize(match.group(1)))
        parts.extend("[]" for _ in range(len(match.group(2)) // 2))
    if parts[-1] == "[]":
        raise ValueError(f"{entry!r} must end with a field name")
    return tuple(parts)


def compile_pattern(name: str, regex: str) -> re.Pattern[str]:
    """A user's pattern, checked: a ValueError says what is wrong with it."""
    if not _PATTERN_NAME.fullmatch(name):
        raise ValueError(f"pattern name {name!r} must be 1-40 lower-case letters, digits or _, starting with a letter")
    if name in BUILTIN_RULE_NAMES:
        raise ValueError(f"pattern name {name!r} is a built-in rule's")
    try:
        compiled = re.compile(regex)
    except re.error as err:
        raise ValueError(f"pattern {name!r} is not a valid regular expression: {err}") from None
    if compiled.fullmatch(""):
        raise ValueError(f"pattern {name!r} matches the empty string")
    return compiled


def parse_pattern_option(spec: str) -> tuple[str, str]:
    """A ``--redact-pattern NAME=REGEX`` option: (name, regex), checked; a ValueError otherwise."""
    name, sep, regex = spec.partition("=")
    if not sep:
        raise ValueError(f"{spec!r} must be NAME=REGEX")
    compile_pattern(name, regex)
    return name, regex


def load_config(path: Path) -> RedactionConfig:
    """A config file ``redaction: {headers: [...], fields: [...], patterns: {name: regex}}``.

    Anything wrong is a `RedactionConfigError` at its ``path:line:col:``.
    """
    from mockagent.scenarios import yamlnodes  # only a config needs the YAML machinery

    try:
        root = yamlnodes.load(path)
        if root is None:
            return RedactionConfig()
        top = root.mapping("a redaction config file", {"redaction"})
        config = config_from_node(top["redaction"]) if "redaction" in top else RedactionConfig()
        root.problems.check()  # what was reported along the way (an unknown key …) and left out
        return config
    except RedactionConfigError:
        raise
    except ScenarioError as err:
        raise RedactionConfigError(err.position, err.reason) from None


def config_from_node(node: Node) -> RedactionConfig:
    """The ``redaction:`` section of a YAML file (for a loader that reads a larger file)."""
    try:
        if node.is_null:
            return RedactionConfig()
        parts = node.mapping("redaction", {"headers", "fields", "patterns"})
        headers: list[str] = []
        for item in parts["headers"].sequence("redaction.headers") if "headers" in parts else ():
            header = item.string("a header name")
            if not _HEADER_NAME.fullmatch(header):
                raise item.error(f"{header!r} is not a header name")
            headers.append(header)
        fields: list[str] = []
        for item in parts["fields"].sequence("redaction.fields") if "fields" in parts else ():
            entry = item.string("a field name or path")
            try:
                _parse_field(entry)
            except ValueError as err:
                raise item.error(str(err)) from None
            fields.append(entry)
        patterns: list[tuple[str, str]] = []
        for name, key, value in parts["patterns"].items("redaction.patterns") if "patterns" in parts else ():
            if not _PATTERN_NAME.fullmatch(name) or name in BUILTIN_RULE_NAMES:
                try:
                    compile_pattern(name, "x")
                except ValueError as err:
                    raise key.error(str(err)) from None
            regex = value.string(f"pattern {name!r}")
            try:
                compile_pattern(name, regex)
            except ValueError as err:
                raise value.error(str(err)) from None
            patterns.append((name, regex))
    except RedactionConfigError:
        raise
    except ScenarioError as err:
        raise RedactionConfigError(err.position, err.reason) from None
    return RedactionConfig(tuple(headers), tuple(fields), tuple(patterns))


# ── results ────────────────────────────────────────────────────────────────────────────────────────


@dataclass(frozen=True)
class Redacted:
    """Redacted bytes, and where they moved: `edits` are ``(start, end, new_length)`` in the original's bytes,
    sorted and disjoint. A secret's placeholder is seldom as long as the secret, so a stream's chunk sizes
    are carried over with `chunk_sizes`."""

    data: bytes
    edits: tuple[tuple[int, int, int], ...] = ()
    _shift: tuple[int, ...] = field(default=(), repr=False, compare=False)  # length change before edit i

    def __post_init__(self) -> None:
        shift, total = [], 0
        for start, end, new_length in self.edits:
            shift.append(total)
            total += new_length - (end - start)
        object.__setattr__(self, "_shift", tuple(shift))

    @property
    def changed(self) -> bool:
        return bool(self.edits)

    def offset(self, original: int) -> int:
        """Where an offset of the original lands; inside a secret, at the end of its placeholder."""
        i = bisect.bisect_left(self.edits, (original,)) - 1  # the last edit that starts before `original`
        if i < 0:
            return original
        start, end, new_length = self.edits[i]
        if original < end:
            return start + self._shift[i] + new_length
        return original + self._shift[i] + new_length - (end - start)

    def chunk_sizes(self, sizes: Iterable[int]) -> list[int]:
        """The original chunks' byte counts, as counts of the redacted bytes: each boundary moves with
        `offset`, so a chunk that ended inside a secret now ends after its placeholder (and a chunk wholly
        inside one is empty). When the sizes add up to the original's length they add up to the new one."""
        result, before, boundary = [], 0, 0
        for size in sizes:
            boundary += size
            after = self.offset(boundary)
            result.append(after - before)
            before = after
        return result


# ── the redactor ───────────────────────────────────────────────────────────────────────────────────

_JSON_TOKEN = re.compile(r'"[^"\\]*(?:\\.[^"\\]*)*"|[{}\[\]:,]')
_PARAM = re.compile(r"=([^&#\s\"'<>\\;,]+)")
_PARAM_NAME = re.compile(r"[A-Za-z_][A-Za-z0-9_.-]{0,63}\Z")
_PARAM_BEFORE = frozenset("?&;\"'({[,\t\n\r ")
_COOKIE_PAIR = re.compile(r"(?:^|;)[ \t]*[^=;\s]+[ \t]*=[ \t]*([^;]*)")
_NAME_REST = re.compile(r"[A-Za-z0-9_-]*")
_HEADER_VALUE = re.compile(r":[ \t]+([^\r\n]*[^\s])")
# A JSON key's string value, quotes bare or escaped; the value without escapes (secrets have none).
_QUOTED_VALUE = re.compile(r'\\?"[ \t]*:\s*\\?"([^"\\]*)\\?"')
_KEYWORDS = (
    "key",
    "token",
    "secret",
    "passw",
    "pwd",
    "passphrase",
    "credential",
    "auth",
    "bearer",
    "jwt",
    "cookie",
    "sig",
)


@dataclass(slots=True)
class _Frame:
    """A JSON container being walked: what its direct string items are, and the current key of an object."""

    is_object: bool
    path: tuple[str, ...]
    secret: bool  # a list under a secret name: its strings are secrets
    key_like: bool  # a list under a key-like name: its strings are judged by entropy
    key: str = ""
    expect_key: bool = True


def _json_string(token: str) -> str:
    if "\\" not in token:
        return token[1:-1]
    value: str = json.loads(token)
    return value


def _unescaped(secret: str) -> str:
    """A secret as it reads, when it was found inside a JSON string (only a private key's alphabet has the
    backslash of a \\n): its placeholder is then the one of the decoded value, as the walk over JSON gives."""
    if "\\" not in secret:
        return secret
    try:
        value: str = json.loads(f'"{secret}"')
    except ValueError:
        return secret
    return value


def _apply(text: str, edits: Sequence[Edit]) -> str:
    if not edits:
        return text
    parts: list[str] = []
    pos = 0
    for start, end, replacement in edits:
        parts += (text[pos:start], replacement)
        pos = end
    parts.append(text[pos:])
    return "".join(parts)


def _lines(text: str) -> Iterator[tuple[int, int]]:
    """(start, end) of each line, without its \\n or \\r."""
    start = 0
    while start <= len(text):
        end = text.find("\n", start)
        if end < 0:
            end = len(text)
        stop = end - 1 if end > start and text[end - 1] == "\r" else end
        yield start, stop
        start = end + 1


_NAMED_GROUP = re.compile(r"\(\?P<[A-Za-z_][A-Za-z0-9_]*>")


def any_shape(rules: Sequence[Rule]) -> re.Pattern[str] | None:
    """One regex that matches a text wherever any of `rules` does (and maybe elsewhere), or None where they
    cannot be joined without changing one's meaning: a backreference, flags of its own, a group's name
    written where it is no group."""
    parts: list[str] = []
    for rule in rules:
        pattern = rule.regex.pattern
        backreference = re.search(r"\\[1-9]|\(\?P=", pattern)
        named = len(_NAMED_GROUP.findall(pattern))
        if rule.regex.flags != re.UNICODE or backreference or named != len(rule.regex.groupindex):
            return None
        parts.append(f"(?:{_NAMED_GROUP.sub('(?:', pattern)})")
    try:
        return re.compile("|".join(parts))
    except re.error:
        return None


class Redactor:
    """The defaults plus a user's headers, fields and patterns. Build one per recording and reuse it."""

    def __init__(
        self,
        headers: Iterable[str] = (),
        fields: Iterable[str] = (),
        patterns: Mapping[str, str] | Iterable[tuple[str, str]] = (),
    ) -> None:
        pairs = list(patterns.items() if isinstance(patterns, Mapping) else patterns)
        user_rules = tuple(Rule(name, compile_pattern(name, regex)) for name, regex in pairs)
        if len({name for name, _ in pairs}) != len(pairs):
            raise ValueError("two patterns have the same name")
        self.rules: tuple[Rule, ...] = BUILTIN_RULES + user_rules
        self._classifying = tuple(rule for rule in self.rules if rule.classifies)
        self._any_shape = any_shape(self.rules)
        self.header_names = frozenset(normalize(h) for h in (*DEFAULT_HEADERS, *headers))
        names, paths = set(self.header_names), set()
        for entry in (*DEFAULT_FIELDS, *fields):
            parsed = _parse_field(entry)
            if len(parsed) == 1:
                names.add(parsed[0])
            else:
                paths.add(parsed)
        self.field_names = frozenset(names)
        self.field_paths = frozenset(paths)
        # A quick test that a text may hold a name the walk over JSON would act on (run on the lowered text):
        # every default name and key-like word holds one of _KEYWORDS, and a user's name holds its longest word.
        words = set(_KEYWORDS)
        for entry in (*headers, *fields):
            last = _words(entry.rsplit(".", 1)[-1])
            if last:
                words.add(max(last, key=len))
        self.keywords = re.compile("|".join(sorted(map(re.escape, words), key=len, reverse=True)))
        self._keywords_anycase = re.compile(self.keywords.pattern, re.IGNORECASE)
        self._placeholders: dict[str, str] = {}
        self._names: dict[str, bool] = {}

    @classmethod
    def from_config(cls, config: RedactionConfig) -> Redactor:
        return cls(config.headers, config.fields, config.patterns)

    # ── placeholders ──

    def classify(self, secret: str) -> str:
        """The label of a secret: the first shape rule matching it whole, else ``opaque``."""
        for rule in self._classifying:
            if rule.regex.fullmatch(secret):
                return rule.name
        return OPAQUE

    def placeholder(self, secret: str) -> str:
        """``<<secret:LABEL:HASH8>>``, the same for the same secret in every process."""
        known = self._placeholders.get(secret)
        if known is None:
            digest = hashlib.sha256(secret.encode("utf-8", "surrogatepass")).hexdigest()[:8]
            known = f"<<secret:{self.classify(secret)}:{digest}>>"
            if len(self._placeholders) < 100_000:  # a bound, not a policy: secrets are few
                self._placeholders[secret] = known
        return known

    def redact_value(self, value: str) -> str:
        """A value that is a secret as a whole (its place says so). An auth scheme stays in front: ``Bearer x``
        → ``Bearer <<secret:…>>``. Empty values and placeholders stay as they are."""
        if not value or is_placeholder(value):
            return value
        match = _SCHEME_VALUE.fullmatch(value)
        if match and match.group(1).lower() in AUTH_SCHEMES:
            return match.group(1) + match.group(2) + self.redact_value(match.group(3))
        return self.placeholder(value)

    # ── what a name makes of a value ──

    def is_secret_name(self, name: str) -> bool:
        return normalize(name) in self.field_names

    def names_secret(self, name: str) -> bool:
        """Whether a value under `name` may be a secret by its name alone: a secret name, or a key-like one
        (then by its entropy). Paths are not names: only the walk over parsed JSON knows where a field stands."""
        known = self._names.get(name)
        if known is None:
            known = self.is_secret_name(name) or is_key_like(name)
            if len(self._names) < 100_000:
                self._names[name] = known
        return known

    def field_value(self, name: str, value: str) -> str | None:
        """The redacted value of a string under a JSON field `name`, or None when its name does not make it a
        secret (its shape still may)."""
        if self.is_secret_name(name):
            new = self.redact_value(value)
            return new if new != value else None
        if is_key_like(name) and looks_random(value):
            return self.placeholder(value)
        return None

    def param_value(self, name: str, raw: str) -> str | None:
        """The redacted form of a query or form parameter's raw value, or None. An encoded placeholder
        (``%3C%3Csecret…``) is written plain, as any placeholder is."""
        value = unquote(raw)
        if self.is_secret_name(name):
            new = self.redact_value(value)
            return new if new != raw else None
        if is_key_like(name) and looks_random(value):
            return self.placeholder(value)
        if value != raw and is_placeholder(value):
            return value
        return None

    def names(self, text: str) -> Iterator[tuple[int, int]]:
        """(start, end) of each name in `text` that holds a keyword of a secret or key-like name, once each:
        what the text pass and the audit look at (a name's own judgement is `names_secret`)."""
        # lower() may change a non-ASCII text's length, and with it every offset: that text is matched any case.
        hits = self.keywords.finditer(text.lower()) if text.isascii() else self._keywords_anycase.finditer(text)
        seen = -1
        for hit in hits:
            start = hit.start()
            while start and text[start - 1] in _TOKEN_CHARS:
                start -= 1
            if start <= seen:
                continue  # the same name again (secret_token holds two keywords)
            seen = start
            rest = _NAME_REST.match(text, hit.end())
            yield start, rest.end() if rest else hit.end()

    def quoted_field(self, text: str, start: int, end: int) -> re.Match[str] | None:
        """The string value after a name at `text[start:end]` quoted as a JSON key, its quotes bare or escaped
        (JSON inside a JSON string, as tool-call arguments are; or a body YAML double-quoted): group 1."""
        if not start or text[start - 1] != '"':
            return None
        return _QUOTED_VALUE.match(text, end)

    def header_line(self, text: str, start: int, end: int) -> re.Match[str] | None:
        """The value after a secret header's name that begins a line (``Authorization: Basic …``): group 1."""
        if normalize(text[start:end]) not in self.header_names or text[text.rfind("\n", 0, start) + 1 : start].strip(
            " \t"
        ):
            return None
        return _HEADER_VALUE.match(text, end)

    # ── headers ──

    def header_edits(self, name: str, value: str) -> list[Edit]:
        key = normalize(name)
        if key in ("cookie", "setcookie"):
            edits = []
            for match in _COOKIE_PAIR.finditer(value):
                start, end = match.span(1)
                while end > start and value[end - 1] in " \t":
                    end -= 1
                new = self.redact_value(value[start:end])
                if new != value[start:end]:
                    edits.append((start, end, new))
                if key == "setcookie":
                    break  # the rest are attributes: Path, Expires, HttpOnly…
            return edits
        if key in self.header_names or key in self.field_names:
            new = self.redact_value(value)
            return [(0, len(value), new)] if new != value else []
        if is_key_like(name) and looks_random(value):
            return [(0, len(value), self.placeholder(value))]
        return self.text_edits(value)

    def redact_header_value(self, name: str, value: str) -> str:
        return _apply(value, self.header_edits(name, value))

    def redact_headers(self, headers: Mapping[str, Sequence[str]]) -> dict[str, list[str]]:
        """Headers in vcrpy's shape, ``{name: [values]}``, names matched whatever their case."""
        result: dict[str, list[str]] = {}
        for name, values in headers.items():
            items = [values] if isinstance(values, str) else values
            result[name] = [self.redact_header_value(name, value) for value in items]
        return result

    # ── URIs, JSON, text ──

    def redact_uri(self, uri: str) -> str:
        """Query parameters by name, a password in the authority, and the shapes anywhere in the URI."""
        return _apply(uri, self._pattern_edits(uri, []))

    def redact_json(self, value: JsonValue) -> JsonValue:
        """A parsed JSON value: strings under secret names and paths, long random strings under key-like
        names, and the shapes in every other string (and key)."""
        return self._walk(value, (), secret=False, key_like=False)

    def redact_text(self, text: str) -> str:
        """A body: as JSON if it parses, else line by line (an SSE ``data:`` line, or an NDJSON line, that
        parses is walked as JSON), with the shapes matched everywhere."""
        return _apply(text, self.text_edits(text))

    def redact_body(self, body: _Body) -> _Body:
        """A body as vcrpy keeps it: text, bytes (not UTF-8: left as it is, line by line) or None."""
        if body is None or not body:
            return body
        if isinstance(body, str):
            return self.redact_text(body)
        return self.redact_stream(body).data

    def redact_stream(self, body: bytes) -> Redacted:
        """An SSE (or any) body's bytes, with the edits in bytes so that chunk sizes can follow (`Redacted`).
        Each ``data:`` line is walked as JSON when it parses; lines that are not UTF-8 pass untouched."""
        try:
            text = body.decode("utf-8")
        except UnicodeDecodeError:
            return self._redact_undecodable(body)
        return _redacted(body, text, self.text_edits(text), 0)

    def redact_interaction(self, interaction: Mapping[str, Any]) -> dict[str, Any]:
        """A vcrpy interaction ``{request: {uri, headers, body}, response: {headers, body: {string}, …}}``,
        redacted in a copy. A stream's ``response.x_mockagent.chunks[].n`` follow the redacted bytes, and a
        ``Content-Length`` that gave the old body's length gives the new one's."""
        result = copy.deepcopy(dict(interaction))
        request = result.get("request")
        if isinstance(request, dict):
            if isinstance(request.get("uri"), str):
                request["uri"] = self.redact_uri(request["uri"])
            if isinstance(request.get("headers"), Mapping):
                request["headers"] = self.redact_headers(request["headers"])
            body = request.get("body")
            if isinstance(body, str | bytes):
                request["body"] = self._redact_body_keeping_length(body, request)
        response = result.get("response")
        if isinstance(response, dict):
            if isinstance(response.get("headers"), Mapping):
                response["headers"] = self.redact_headers(response["headers"])
            body = response.get("body")
            if isinstance(body, dict) and isinstance(body.get("string"), str | bytes):
                body["string"] = self._redact_body_keeping_length(body["string"], response)
        return result

    # ── the machinery ──

    def text_edits(self, text: str) -> list[Edit]:
        """Every edit redaction makes to a text, sorted and disjoint."""
        structured = self._structure_edits(text)
        found = self._pattern_edits(text, structured)
        if not structured:
            return found
        return sorted(structured + found)

    def _structure_edits(self, text: str) -> list[Edit]:
        if not self.keywords.search(text.lower()):
            return []  # no name in it that the walk could act on
        if text.lstrip()[:1] in ("{", "["):
            try:
                json.loads(text)
            except (ValueError, RecursionError):
                pass
            else:
                return self._json_edits(text, 0, len(text))
        edits: list[Edit] = []
        for start, end in _lines(text):
            payload = start + 5 if text.startswith("data:", start) else start
            while payload < end and text[payload] in " \t":
                payload += 1
            if payload < end and text[payload] in "{[":
                try:
                    json.loads(text[payload:end])
                except (ValueError, RecursionError):
                    continue
                edits += self._json_edits(text, payload, end)
        return edits

    def _json_edits(self, text: str, start: int, end: int) -> list[Edit]:
        """Walk one JSON document of `text[start:end]` (known to parse) token by token, so that a secret
        under a secret name is replaced where it stands and nothing else in the text moves."""
        edits: list[Edit] = []
        stack: list[_Frame] = []
        for match in _JSON_TOKEN.finditer(text, start, end):
            token = match.group()
            first = token[0]
            top = stack[-1] if stack else None
            if first == '"':
                if top is not None and top.is_object and top.expect_key:
                    top.key = _json_string(token)
                    continue
                _, secret, key_like = self._child(top)
                if secret or key_like:
                    value = _json_string(token)
                    new = self._string_value(value, secret, key_like)
                    if new is not None:
                        edits.append((match.start(), match.end(), json.dumps(new)))
            elif first in "{[":
                path, secret, key_like = self._child(top)
                stack.append(_Frame(first == "{", path, secret, key_like))
            elif first in "}]":
                stack.pop()
            elif top is not None and top.is_object:
                top.expect_key = first == ","
        return edits

    def _child(self, parent: _Frame | None) -> tuple[tuple[str, ...], bool, bool]:
        """(path, secret, key-like) of a value inside `parent`."""
        if parent is None:
            return (), False, False
        if not parent.is_object:
            path = (*parent.path, "[]")
            return path, parent.secret or self._path_matches(path), parent.key_like
        path = (*parent.path, normalize(parent.key))
        if path[-1] in self.field_names or self._path_matches(path):
            return path, True, False
        return path, False, is_key_like(parent.key)

    def _path_matches(self, path: tuple[str, ...]) -> bool:
        return any(path[-len(p) :] == p for p in self.field_paths if len(p) <= len(path))

    def _string_value(self, value: str, secret: bool, key_like: bool) -> str | None:
        if secret:
            new = self.redact_value(value)
            return new if new != value else None
        if key_like and looks_random(value):
            return self.placeholder(value)
        return None

    def _walk(self, value: JsonValue, path: tuple[str, ...], *, secret: bool, key_like: bool) -> JsonValue:
        if isinstance(value, str):
            new = self._string_value(value, secret, key_like)
            return new if new is not None else _apply(value, self._pattern_edits(value, []))
        if isinstance(value, list):
            item_path = (*path, "[]")
            item_secret = secret or self._path_matches(item_path)
            return [self._walk(item, item_path, secret=item_secret, key_like=key_like) for item in value]
        if isinstance(value, dict):
            result: dict[str, JsonValue] = {}
            for key, item in value.items():
                child = (*path, normalize(key))
                child_secret = child[-1] in self.field_names or self._path_matches(child)
                new_key = _apply(key, self._pattern_edits(key, []))
                result[new_key] = self._walk(
                    item, child, secret=child_secret, key_like=not child_secret and is_key_like(key)
                )
            return result
        return value

    def _pattern_edits(self, text: str, blocked: Sequence[Edit]) -> list[Edit]:
        """Edits for the shapes and for ``name=value`` parameters, outside `blocked` spans and placeholders."""
        candidates: list[tuple[int, int, int, str]] = []  # (start, end, rule order, replacement)
        # Most texts hold no secret of any shape: one scan tells, where a scan a rule would cost each.
        if self._any_shape is None or self._any_shape.search(text) is not None:
            for order, rule in enumerate(self.rules):
                group = rule.group
                for match in rule.regex.finditer(text):
                    start, end = match.span(group)
                    if start == end or (rule.boundary and not starts_token(text, match.start())):
                        continue
                    candidates.append((start, end, order, self.placeholder(_unescaped(text[start:end]))))
        # Fields by name where no walk over JSON reached: JSON that does not parse (a pretty-printed SSE frame
        # over several data: lines) and JSON inside a JSON string (tool-call arguments); and a line of text
        # that reads as a secret header (a request dumped into a reply: "Authorization: Basic …").
        for start, end in self.names(text):
            field_name = text[start:end]
            if not self.names_secret(field_name):
                continue
            quoted = self.quoted_field(text, start, end)
            if quoted is not None and "\n" not in quoted.group(1):
                new = self.field_value(field_name, quoted.group(1))
                if new is not None:
                    candidates.append((quoted.start(1), quoted.end(1), len(self.rules), new))
            header = self.header_line(text, start, end)
            if header is not None:
                at = header.start(1)
                for s, e, new in self.header_edits(field_name, header.group(1)):
                    candidates.append((at + s, at + e, len(self.rules), new))
        if "=" in text:
            for match in _PARAM.finditer(text):
                name = _PARAM_NAME.search(text, max(0, match.start() - 64), match.start())
                if name is None or (name.start() and text[name.start() - 1] not in _PARAM_BEFORE):
                    continue
                new = self.param_value(name.group(), match.group(1))
                if new is not None:
                    candidates.append((match.start(1), match.end(1), len(self.rules), new))
        if not candidates:
            return []
        taken = sorted([(s, e) for s, e, _ in blocked] + [m.span() for m in PLACEHOLDER.finditer(text)])
        candidates.sort(key=lambda c: (c[0], c[0] - c[1], c[2]))
        edits: list[Edit] = []
        last_end, t = 0, 0
        for start, end, _, replacement in candidates:
            while t < len(taken) and taken[t][1] <= start:
                t += 1
            if start < last_end or (t < len(taken) and taken[t][0] < end):
                continue
            edits.append((start, end, replacement))
            last_end = end
        return edits

    def _redact_undecodable(self, body: bytes) -> Redacted:
        edits: list[tuple[int, int, bytes]] = []
        offset = 0
        for line in body.split(b"\n"):
            try:
                text = line.decode("utf-8")
            except UnicodeDecodeError:
                pass
            else:
                edits += _byte_edits(text, self.text_edits(text), offset)
            offset += len(line) + 1
        return _build(body, edits)

    def _redact_body_keeping_length(self, body: str | bytes, message: dict[str, Any]) -> str | bytes:
        data = body.encode("utf-8", "surrogateescape") if isinstance(body, str) else body
        redacted = self.redact_stream(data)
        if not redacted.changed:
            return body
        extra = message.get("x_mockagent")
        if isinstance(extra, dict) and isinstance(extra.get("chunks"), list):
            chunks = [c for c in extra["chunks"] if isinstance(c, dict) and isinstance(c.get("n"), int)]
            for chunk, size in zip(chunks, redacted.chunk_sizes(c["n"] for c in chunks), strict=True):
                chunk["n"] = size
        headers = message.get("headers")
        if isinstance(headers, dict):
            for name, values in headers.items():
                if name.lower() == "content-length" and values in ([str(len(data))], str(len(data))):
                    headers[name] = [str(len(redacted.data))] if isinstance(values, list) else str(len(redacted.data))
        return redacted.data.decode("utf-8", "surrogateescape") if isinstance(body, str) else redacted.data


def _byte_edits(text: str, edits: Sequence[Edit], offset: int) -> list[tuple[int, int, bytes]]:
    """Edits on a decoded text, as edits on its UTF-8 bytes (shifted by `offset`)."""
    if text.isascii():
        return [(offset + s, offset + e, r.encode("utf-8")) for s, e, r in edits]
    result, char, byte = [], 0, offset
    for start, end, replacement in edits:
        byte += len(text[char:start].encode("utf-8"))
        secret_bytes = len(text[start:end].encode("utf-8"))
        result.append((byte, byte + secret_bytes, replacement.encode("utf-8")))
        byte += secret_bytes
        char = end
    return result


def _redacted(body: bytes, text: str, edits: Sequence[Edit], offset: int) -> Redacted:
    return _build(body, _byte_edits(text, edits, offset)) if edits else Redacted(body)


def _build(body: bytes, edits: Sequence[tuple[int, int, bytes]]) -> Redacted:
    if not edits:
        return Redacted(body)
    parts: list[bytes] = []
    pos = 0
    for start, end, replacement in edits:
        parts += (body[pos:start], replacement)
        pos = end
    parts.append(body[pos:])
    return Redacted(b"".join(parts), tuple((s, e, len(r)) for s, e, r in edits))
