"""JSON on the wire: one encoder for every body and frame, and a strict decoder for request bodies."""

from __future__ import annotations

import json
import math
import re
from collections.abc import Mapping
from typing import Any

from aiohttp import web


def json_type(value: Any) -> str:
    """The JSON type of a decoded value, by JSON's own names (as zod and JSON Schema say them)."""
    if value is None:
        return "null"
    if isinstance(value, bool):
        return "boolean"
    if isinstance(value, int | float):
        return "number"
    if isinstance(value, str):
        return "string"
    return "array" if isinstance(value, list) else "object"


def _not_json(value: object) -> Any:
    raise TypeError(f"Object of type {type(value).__name__} is not JSON serializable")


# One encoder for every body and frame. json.dumps (and JSONEncoder.encode) builds a fresh C encoder
# per call, which costs as much as encoding a frame; this one is built once. No circular-reference
# markers: bodies are built from fresh dicts, never cycles.
_c_make_encoder = getattr(json.encoder, "c_make_encoder", None)
if _c_make_encoder is not None:
    _encode = _c_make_encoder(None, _not_json, json.encoder.encode_basestring, None, ":", ",", False, False, True)

    def dumps(value: Any) -> str:
        return "".join(_encode(value, 0))

else:  # Pythons without the C accelerator
    _encoder = json.JSONEncoder(ensure_ascii=False, separators=(",", ":"))

    def dumps(value: Any) -> str:
        return _encoder.encode(value)


def _finite(text: str) -> float:
    value = float(text)
    if not math.isfinite(value):
        raise ValueError(f"the number {text} is out of range")
    return value


def _constant(name: str) -> Any:
    raise ValueError(f"{name} is not a JSON number")


# The platforms' own parsers take RFC 8259 JSON only: no NaN or Infinity, no number that overflows a double.
DECODER = json.JSONDecoder(parse_float=_finite, parse_constant=_constant)


#: CHOSEN: how deeply a request body may nest its arrays and objects (serde_json's limit). Deeper bodies are
#: refused at the door, so that nothing stored is too deep to encode again when a view shows it.
MAX_DEPTH = 128
Loc = tuple[str | int, ...]


def loads(text: str) -> Any:
    """Strict JSON; ValueError (with a reason a client can act on) for anything else."""
    try:
        value = DECODER.decode(text)
    except RecursionError:
        raise ValueError("the JSON is nested too deeply") from None
    if text.count("[") + text.count("{") > MAX_DEPTH and too_deep(value):
        raise ValueError(f"the JSON is nested more than {MAX_DEPTH} levels deep")
    return value


def too_deep(value: Any) -> bool:
    """Whether decoded JSON `value` nests more than MAX_DEPTH arrays and objects. (A caller first counts
    the brackets of its text: most bodies have too few to be that deep, and need no walk.)"""
    stack: list[tuple[Any, int]] = [(value, 0)]
    while stack:
        item, depth = stack.pop()
        if isinstance(item, dict | list):
            depth += 1
            if depth > MAX_DEPTH:
                return True
            stack.extend((child, depth) for child in (item.values() if isinstance(item, dict) else item))
    return False


_SURROGATE = re.compile("[\ud800-\udfff]")


def lone_surrogate(value: Any) -> Loc | None:
    """Where decoded JSON `value` holds a string that is not valid Unicode — a lone surrogate — if it does.
    JSON can carry one only as a ``\\u`` escape (a pair decodes to one character), so a body without
    ``\\u`` need not be walked."""
    stack: list[tuple[Any, Loc]] = [(value, ())]
    while stack:
        item, loc = stack.pop()
        if isinstance(item, str):
            if _SURROGATE.search(item):
                return loc
        elif isinstance(item, dict):
            for key in item:
                if _SURROGATE.search(key):
                    return (*loc, key)
            # Reversed onto the stack, so that the first such field in the body is the one named.
            stack.extend(reversed([(child, (*loc, key)) for key, child in item.items()]))
        elif isinstance(item, list):
            stack.extend(reversed([(child, (*loc, index)) for index, child in enumerate(item)]))
    return None


def json_response(body: Any, status: int = 200, headers: Mapping[str, str] | None = None) -> web.Response:
    # backslashreplace: a lone surrogate (a header's undecodable byte, echoed in a message) becomes its JSON
    # escape, so nothing a client sent can make an answer fail to encode. Valid text encodes as ever.
    return web.Response(
        body=dumps(body).encode("utf-8", "backslashreplace"),
        status=status,
        content_type="application/json",
        charset="utf-8",
        headers=headers,
    )
