"""JSON on the wire: one encoder for every body and frame, and a strict decoder for request bodies."""

from __future__ import annotations

import json
import math
from collections.abc import Mapping
from typing import Any

from aiohttp import web


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


def loads(text: str) -> Any:
    """Strict JSON; ValueError (with a reason a client can act on) for anything else."""
    try:
        return DECODER.decode(text)
    except RecursionError:
        raise ValueError("the JSON is nested too deeply") from None


def json_response(body: Any, status: int = 200, headers: Mapping[str, str] | None = None) -> web.Response:
    return web.Response(text=dumps(body), status=status, content_type="application/json", headers=headers)
