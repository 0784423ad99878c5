"""Cassettes: recorded interactions in vcrpy's YAML cassette format (``version: 1``).

Each interaction is vcrpy's `request` (method, uri, headers, body) and `response` (status, headers,
body.string). A response also carries mockagent's extension key *inside the response mapping* — stock
vcrpy keeps unknown keys there through load and save::

    response:
      body: {string: "data: {...}\\n\\n..."}      # the exact bytes the client got
      x_mockagent:
        ttfb: 0.012                               # seconds from the request to the response headers
        chunks: [{t: 0.013, n: 61}, ...]          # each piece as it arrived: seconds since the request, bytes
        complete: true                            # false: the client hung up before the end (replayed so)

Files are written whole and atomically (a temporary file, then a rename) as each interaction completes,
each interaction's YAML made once and kept, so a recorder killed mid-run leaves a valid cassette with
everything that had completed.
"""

from __future__ import annotations

import os
import re
import tempfile
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import yaml
from vcr.serializers import yamlserializer

from mockagent.errors import MockAgentError, ScenarioError, SourcePosition
from mockagent.replay.matching import PARTS, Matchers
from mockagent.scenarios import yamlnodes

FORMAT_VERSION = 1
EXTENSION = "x_mockagent"
Headers = dict[str, list[str]]


class CassetteError(MockAgentError):
    """Cassette files are wrong: one line per problem (`count` of them), each ``path:line:col: what``."""

    def __init__(self, message: str, count: int = 1) -> None:
        super().__init__(message)
        self.count = count


@dataclass(frozen=True, slots=True)
class Chunk:
    """One piece of a response body as it arrived: `t` seconds after the request, `n` bytes."""

    t: float
    n: int


@dataclass(slots=True)
class Response:
    status: int
    reason: str
    headers: Headers
    body: bytes
    ttfb: float = 0.0
    chunks: tuple[Chunk, ...] = ()  # empty: the body came (and replays) in one piece
    complete: bool = True

    def header(self, name: str) -> str | None:
        lowered = name.lower()
        for key, values in self.headers.items():
            if key.lower() == lowered and values:
                return values[0]
        return None

    @property
    def is_stream(self) -> bool:
        return (self.header("content-type") or "").startswith("text/event-stream")


@dataclass(slots=True)
class Interaction:
    method: str
    uri: str  # as recorded: the upstream's absolute URL
    headers: Headers
    body: bytes | None
    response: Response
    # The path and query the client asked of the mock, below the platform's base (`/api/v1/runs/R`);
    # kept in the response's extension key. A cassette recorded by other tools has the uri's path.
    client_path: str | None = None
    platform: str = ""  # the platform key it was recorded on ("" in a cassette recorded by other tools)
    _yaml: str | None = field(default=None, repr=False, compare=False)  # made once, for every later save

    @property
    def platform_path(self) -> str:
        if self.client_path is not None:
            return self.client_path
        match = _HOST.match(self.uri)
        return self.uri[match.end() :] if match else self.uri

    def to_vcr(self) -> dict[str, Any]:
        """The interaction as vcrpy writes it (bodies as text where they are UTF-8)."""
        response: dict[str, Any] = {
            "status": {"code": self.response.status, "message": self.response.reason},
            "headers": self.response.headers,
            "body": {"string": _text(self.response.body)},
        }
        extension: dict[str, Any] = {"ttfb": round(self.response.ttfb, 6)}
        if self.platform:
            extension["platform"] = self.platform
        if self.client_path is not None:
            extension["path"] = self.client_path
        if self.response.chunks:
            extension["chunks"] = [{"t": round(c.t, 6), "n": c.n} for c in self.response.chunks]
        if not self.response.complete:
            extension["complete"] = False
        response[EXTENSION] = extension
        request = {"method": self.method, "uri": self.uri, "headers": self.headers, "body": _text(self.body)}
        return {"request": request, "response": response}

    @classmethod
    def from_vcr(cls, data: Mapping[str, Any]) -> Interaction:
        """An interaction from vcrpy's shape (as `to_vcr` gives it)."""
        try:
            (interaction,) = _interactions({"version": FORMAT_VERSION, "interactions": [data]})
        except _Shape as err:
            raise CassetteError(f"<interaction>:1:1: {err}") from None
        return interaction

    def as_yaml(self) -> str:
        if self._yaml is None:
            # One list item, as the whole file lists them: the file is these items, joined.
            self._yaml = yamlserializer.serialize([self.to_vcr()])
        return self._yaml


class Cassette:
    """A cassette file and its interactions, in recorded order, and its `metadata` (vcrpy keeps that
    top-level mapping; mockagent reads `metadata.x_mockagent.match`: see `matchers`)."""

    def __init__(
        self, path: Path, interactions: Iterable[Interaction] = (), metadata: Mapping[str, Any] | None = None
    ) -> None:
        self.path = path
        self.interactions = list(interactions)
        self.metadata = dict(metadata or {})
        self.matchers = _matchers(self.metadata)

    @classmethod
    def load(cls, path: Path) -> Cassette:
        """The cassette at `path`; a `CassetteError` at the position of whatever is wrong."""
        text = path.read_text(encoding="utf-8")
        try:
            data = yamlserializer.deserialize(text)
            metadata = data.get("metadata") if isinstance(data, Mapping) else None
            if metadata is not None and not isinstance(metadata, Mapping):
                raise _Shape("metadata must be a mapping")
            return cls(path, _interactions(data), metadata)
        except (yaml.YAMLError, _Shape):
            pass  # read it again, slowly, to say where (most cassettes never get here)
        raise _locate(path, text)

    def add(self, interaction: Interaction) -> None:
        self.interactions.append(interaction)

    def save(self) -> None:
        """Write the whole file atomically (a reader sees the old file or the new one, never a part)."""
        parts = ["interactions:\n"] if self.interactions else ["interactions: []\n"]
        parts += [interaction.as_yaml() for interaction in self.interactions]
        if self.metadata:
            parts.append(yamlserializer.serialize({"metadata": self.metadata}))
        parts.append(f"version: {FORMAT_VERSION}\n")
        self.path.parent.mkdir(parents=True, exist_ok=True)
        handle, temporary = tempfile.mkstemp(prefix=f".{self.path.name}.", dir=self.path.parent)
        try:
            with os.fdopen(handle, "w", encoding="utf-8") as out:
                out.write("".join(parts))
            os.replace(temporary, self.path)
        except BaseException:
            Path(temporary).unlink(missing_ok=True)
            raise


_HOST = re.compile(r"^[a-zA-Z][a-zA-Z0-9+.-]*://[^/?#]*")


def _matchers(metadata: Mapping[str, Any]) -> Matchers:
    """`metadata.x_mockagent.match: {match_on: [...], ignore: [...]}`, checked (a `_Shape` if wrong)."""
    extension = metadata.get(EXTENSION) or {}
    match = extension.get("match") or {} if isinstance(extension, Mapping) else None
    if not isinstance(match, Mapping) or set(match) - {"match_on", "ignore"}:
        raise _Shape(f"metadata.{EXTENSION}.match takes match_on and ignore")
    match_on = match.get("match_on", list(PARTS))
    ignore = match.get("ignore", [])
    if not isinstance(match_on, list) or not set(match_on) <= set(PARTS) or "method" not in match_on:
        raise _Shape(f"match_on is a list of {', '.join(PARTS)} (with method)")
    if not isinstance(ignore, list) or not all(isinstance(name, str) for name in ignore):
        raise _Shape("ignore is a list of field or query parameter names")
    return Matchers(frozenset(match_on), frozenset(ignore))


def check_folder(folder: Path) -> int:
    """Load every cassette in `folder`; how many there are. A `CassetteError` naming every broken one."""
    paths = sorted(folder.glob("*.yaml")) if folder.is_dir() else []
    problems = []
    for path in paths:
        try:
            Cassette.load(path)
        except CassetteError as err:
            problems.append(str(err))
    if problems:
        raise CassetteError("\n".join(problems), count=len(problems))
    return len(paths)


def _text(body: bytes | None) -> str | bytes | None:
    """UTF-8 bodies as text (readable cassettes); anything else stays bytes (YAML `!!binary`)."""
    if body is None:
        return None
    try:
        return body.decode("utf-8")
    except UnicodeDecodeError:
        return body


def _bytes(value: object, what: str) -> bytes | None:
    if value is None:
        return None
    if isinstance(value, bytes):
        return value
    if isinstance(value, str):
        return value.encode("utf-8")
    raise _Shape(f"{what} must be text or binary, got {type(value).__name__}")


class _Shape(Exception):
    pass


def _headers(value: object, what: str) -> Headers:
    if value is None:
        return {}
    if not isinstance(value, Mapping):
        raise _Shape(f"{what} must be a mapping of header names to lists of values")
    out: Headers = {}
    for name, values in value.items():
        if not isinstance(name, str):
            raise _Shape(f"header names in {what} must be text")
        listed = values if isinstance(values, list) else [values]
        out[name] = [str(v) for v in listed]
    return out


def _interactions(data: object) -> list[Interaction]:
    if not isinstance(data, Mapping) or not isinstance(data.get("interactions"), list):
        raise _Shape("a cassette is a mapping with `interactions` (a list) and `version: 1`")
    if data.get("version") != FORMAT_VERSION:
        raise _Shape(f"only cassette format version {FORMAT_VERSION} is understood")
    out = []
    for item in data["interactions"]:
        if not isinstance(item, Mapping) or not isinstance(item.get("request"), Mapping):
            raise _Shape("each interaction needs a `request` and a `response` mapping")
        request, response = item["request"], item.get("response")
        if not isinstance(response, Mapping):
            raise _Shape("each interaction needs a `request` and a `response` mapping")
        status = response.get("status")
        body = response.get("body")
        if not isinstance(status, Mapping) or not isinstance(status.get("code"), int):
            raise _Shape("response.status needs a whole-number `code`")
        if not isinstance(body, Mapping):
            raise _Shape("response.body needs `string`")
        extension = response.get(EXTENSION) or {}
        if not isinstance(extension, Mapping):
            raise _Shape(f"response.{EXTENSION} must be a mapping")
        chunks = extension.get("chunks") or []
        if not isinstance(chunks, list) or not all(
            isinstance(c, Mapping) and isinstance(c.get("n"), int) and isinstance(c.get("t"), int | float)
            for c in chunks
        ):
            raise _Shape(f"response.{EXTENSION}.chunks must be a list of {{t: seconds, n: bytes}}")
        method, uri = request.get("method"), request.get("uri")
        if not isinstance(method, str) or not isinstance(uri, str):
            raise _Shape("request needs `method` and `uri`")
        out.append(
            Interaction(
                method=method.upper(),
                uri=uri,
                headers=_headers(request.get("headers"), "request.headers"),
                body=_bytes(request.get("body"), "request.body"),
                response=Response(
                    status=status["code"],
                    reason=str(status.get("message") or ""),
                    headers=_headers(response.get("headers"), "response.headers"),
                    body=_bytes(body.get("string"), "response.body.string") or b"",
                    ttfb=float(extension.get("ttfb") or 0.0),
                    chunks=tuple(Chunk(float(c["t"]), c["n"]) for c in chunks),
                    complete=bool(extension.get("complete", True)),
                ),
                client_path=str(extension["path"]) if extension.get("path") is not None else None,
                platform=str(extension.get("platform") or ""),
            )
        )
    return out


def _locate(path: Path, text: str) -> CassetteError:
    """Walk the cassette with positions to say where it is wrong."""
    try:
        root = yamlnodes.load(path, text)
        if root is None:
            return CassetteError(f"{path}:1:1: the cassette is empty")
        fields = root.mapping(
            "a cassette", {"interactions", "version", "metadata"}, required=frozenset({"interactions"})
        )
        if "metadata" in fields:
            metadata = fields["metadata"].mapping("metadata", set(_names(fields["metadata"])))
            if EXTENSION in metadata:
                _check_match(metadata[EXTENSION])
        if "version" in fields and fields["version"].scalar("version") != FORMAT_VERSION:
            return CassetteError(f"{fields['version'].position}: only cassette format version 1 is understood")
        for item in fields["interactions"].sequence("interactions"):
            parts = item.mapping("an interaction", {"request", "response"}, frozenset({"request", "response"}))
            _check_request(parts["request"])
            _check_response(parts["response"])
        root.problems.check()  # what was reported along the way (an unknown key …)
    except ScenarioError as err:
        return CassetteError(f"{err.position}: {err.reason}")
    return CassetteError(f"{SourcePosition(str(path), 1, 1)}: not a cassette this version of mockagent reads")


def _check_request(node: yamlnodes.Node) -> None:
    fields = node.mapping("a request", {"method", "uri", "headers", "body"}, frozenset({"method", "uri"}))
    fields["method"].string("request.method")
    fields["uri"].string("request.uri")
    if "headers" in fields and not fields["headers"].is_null:
        fields["headers"].mapping("request.headers", set(_names(fields["headers"])))


def _check_response(node: yamlnodes.Node) -> None:
    fields = node.mapping("a response", {"status", "headers", "body", EXTENSION}, frozenset({"status", "body"}))
    status = fields["status"].mapping("response.status", {"code", "message"}, frozenset({"code"}))
    status["code"].integer("response.status.code", minimum=100)
    fields["body"].mapping("response.body", {"string"}, frozenset({"string"}))
    if EXTENSION in fields:
        extension = fields[EXTENSION].mapping(
            f"response.{EXTENSION}", {"ttfb", "chunks", "complete", "path", "platform"}
        )
        if "ttfb" in extension:
            extension["ttfb"].number(f"response.{EXTENSION}.ttfb")
        for chunk in extension["chunks"].sequence(f"response.{EXTENSION}.chunks") if "chunks" in extension else ():
            parts = chunk.mapping("a chunk", {"t", "n"}, frozenset({"t", "n"}))
            parts["t"].number("chunk.t")
            parts["n"].integer("chunk.n", minimum=0)


def _check_match(node: yamlnodes.Node) -> None:
    extension = node.mapping(f"metadata.{EXTENSION}", {"match"})
    if "match" not in extension:
        return
    match = extension["match"].mapping(f"metadata.{EXTENSION}.match", {"match_on", "ignore"})
    for part in match["match_on"].sequence("match_on") if "match_on" in match else ():
        if part.string("a part to match on") not in PARTS:
            raise part.error(f"match_on takes {', '.join(PARTS)}, not {part.string('a part')!r}")
    for name in match["ignore"].sequence("ignore") if "ignore" in match else ():
        name.string("a field or query parameter name")
    if "match_on" in match and "method" not in [p.string("a part") for p in match["match_on"].sequence("match_on")]:
        raise match["match_on"].error("match_on must include method")


def _names(node: yamlnodes.Node) -> Iterable[str]:
    return [name for name, _, _ in node.items("headers")]
