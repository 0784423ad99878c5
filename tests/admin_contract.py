"""The admin API's contract as tests hold it: every answer of a /__mockagent route checked against the
OpenAPI document the server ships (mockagent/admin/openapi.json), with jsonschema (Draft 2020-12, `$ref`s
resolved into the document through `referencing`).

    from admin_contract import AdminClient, check, check_response

    with AdminClient(server.url) as client:           # every answer it receives is checked
        client.get("/runs", headers={"X-Mockagent-Session": "alice"})
    check("GET", "/__mockagent/runs/{id}", 404, {"error": "…"})   # a template or a URL, a status, a body
    check_frames(text)                                 # each SSE frame's data of GET /events, as a FeedEvent
    await check_aiohttp(response)                      # an aiohttp.ClientResponse: read, checked, decoded

A failure is a `ContractError` (an AssertionError) naming the operation, the status and what is wrong.
"""

from __future__ import annotations

import json
import re
from collections.abc import Iterator
from functools import cache
from importlib import resources
from types import TracebackType
from typing import Any
from urllib.parse import urlsplit

import httpx
from jsonschema import Draft202012Validator
from jsonschema.exceptions import ValidationError
from referencing import Registry
from referencing.jsonschema import DRAFT202012

PREFIX = "/__mockagent"
DOCUMENT_URI = "urn:mockagent:admin-openapi"
DOCUMENT: dict[str, Any] = json.loads(resources.files("mockagent.admin").joinpath("openapi.json").read_text("utf-8"))
METHODS = ("get", "put", "post", "delete", "patch", "head", "options")
_TEXT = ("text/html", "text/javascript", "text/css")  # answers checked as text, not JSON


class ContractError(AssertionError):
    """An answer (or a request body) that the document does not allow."""


def operations() -> set[tuple[str, str]]:
    """Every (METHOD, path template) the document describes, e.g. ("GET", "/__mockagent/runs/{id}")."""
    return {(method.upper(), path) for path, item in DOCUMENT["paths"].items() for method in item if method in METHODS}


def find(method: str, path_or_url: str) -> tuple[str, dict[str, Any]]:
    """The path template and operation of a request: a template itself, or a URL (or path) it matches —
    the most literal template when several do (/runs/{id}/approve before /runs/{id})."""
    path = urlsplit(path_or_url).path if "://" in path_or_url else path_or_url.split("?", 1)[0]
    method = method.lower()
    item = DOCUMENT["paths"].get(path)
    if item is not None and method in item:
        return path, item[method]
    found = [
        template for template, item in DOCUMENT["paths"].items() if method in item and _pattern(template).match(path)
    ]
    if not found:
        raise ContractError(f"{method.upper()} {path}: no operation of the admin API's document")
    template = max(found, key=lambda t: len(re.sub(r"\{[^}]*\}", "", t)))
    return template, DOCUMENT["paths"][template][method]


def check(method: str, path_or_url: str, status: int, body: Any, content_type: str = "application/json") -> None:
    """`body` (decoded JSON; for text/event-stream, one frame's data) is what the document allows `method
    path` to answer with `status` and `content_type`."""
    template, operation = find(method, path_or_url)
    where = f"{method.upper()} {template} → {status}"
    response = operation["responses"].get(str(status))
    if response is None:
        raise ContractError(f"{where}: status not documented (documented: {', '.join(operation['responses'])})")
    pointer = f"/paths/{_escape(template)}/{method.lower()}/responses/{status}"
    if "$ref" in response:
        pointer = response["$ref"].removeprefix("#")
        response = _at(pointer)
    if "content" not in response:  # an answer documented without a body (a redirect)
        if body not in (None, ""):
            raise ContractError(f"{where}: a body where none is documented: {body!r:.200}")
        return
    media = content_type.split(";", 1)[0].strip().lower()
    if media not in response["content"]:
        raise ContractError(f"{where}: Content-Type {media!r} not documented")
    _validate(f"{pointer}/content/{_escape(media)}/schema", body, where)


def check_request(method: str, path_or_url: str, body: Any, content_type: str = "application/json") -> None:
    """`body` is a request body the document describes for `method path`."""
    template, operation = find(method, path_or_url)
    where = f"{method.upper()} {template} request body"
    media = content_type.split(";", 1)[0].strip().lower()
    if media not in operation.get("requestBody", {}).get("content", {}):
        raise ContractError(f"{where}: Content-Type {media!r} not documented")
    _validate(f"/paths/{_escape(template)}/{method.lower()}/requestBody/content/{_escape(media)}/schema", body, where)


def check_schema(name: str, value: Any) -> None:
    """`value` is valid as the document's components/schemas/`name` (an Entry, a FeedEvent …)."""
    _validate(f"/components/schemas/{_escape(name)}", value, name)


def check_response(response: httpx.Response) -> httpx.Response:
    """An httpx response of an admin route, checked (its body read); returned for chaining."""
    response.read()
    media = response.headers.get("content-type", "")
    method, url = response.request.method, str(response.request.url)
    if media.startswith("text/event-stream"):
        check_frames(response.text, method, url)
    elif media.startswith(_TEXT) or not response.content:  # the web page's files, a redirect
        check(method, url, response.status_code, response.text, media)
    else:
        check(method, url, response.status_code, _json(response.content, method, url), media)
    return response


async def check_aiohttp(response: Any) -> Any:
    """An aiohttp.ClientResponse of an admin route: read, checked, and its JSON returned."""
    raw = await response.read()
    method, url = response.method, str(response.url)
    body = _json(raw, method, url)
    check(method, url, response.status, body, response.headers.get("Content-Type", ""))
    return body


def check_frames(text: str, method: str = "GET", path_or_url: str = PREFIX + "/events") -> list[dict[str, Any]]:
    """Every frame of an event stream: `id:` an increasing integer, `event:` the data's type, and `data:` as
    the document describes (a FeedEvent for GET /events). Returns the frames' data."""
    seen: list[dict[str, Any]] = []
    last_id = -1
    for frame in _frames(text):
        if "data" not in frame:
            continue  # a comment (keep-alive)
        data = _json(frame["data"].encode(), method, path_or_url)
        check(method, path_or_url, 200, data, "text/event-stream")
        if not frame.get("id", "").isdigit() or int(frame["id"]) <= last_id:
            raise ContractError(f"frame id {frame.get('id')!r} is not an integer above {last_id}")
        last_id = int(frame["id"])
        if isinstance(data, dict) and frame.get("event") != data.get("type"):
            raise ContractError(f"frame event {frame.get('event')!r} is not its data's type {data.get('type')!r}")
        seen.append(data)
    return seen


class AdminClient:
    """An httpx client of one server's admin API whose every answer is checked against the document, and
    which remembers the (METHOD, template, status) it saw (`seen`: what a test exercised)."""

    def __init__(self, base_url: str, **kwargs: Any) -> None:
        self._client = httpx.Client(base_url=base_url, timeout=kwargs.pop("timeout", 10.0), **kwargs)
        self.seen: set[tuple[str, str, int]] = set()

    def request(self, method: str, path: str, **kwargs: Any) -> httpx.Response:
        """`path` below /__mockagent (or beginning with it)."""
        url = path if path.startswith(PREFIX) else PREFIX + path
        response = check_response(self._client.request(method, url, **kwargs))
        template, _ = find(method, url)
        self.seen.add((method.upper(), template, response.status_code))
        return response

    def get(self, path: str, **kwargs: Any) -> httpx.Response:
        return self.request("GET", path, **kwargs)

    def post(self, path: str, **kwargs: Any) -> httpx.Response:
        return self.request("POST", path, **kwargs)

    def put(self, path: str, **kwargs: Any) -> httpx.Response:
        return self.request("PUT", path, **kwargs)

    def delete(self, path: str, **kwargs: Any) -> httpx.Response:
        return self.request("DELETE", path, **kwargs)

    def close(self) -> None:
        self._client.close()

    def __enter__(self) -> AdminClient:
        return self

    def __exit__(self, kind: type[BaseException] | None, error: BaseException | None, tb: TracebackType | None) -> None:
        self.close()


# ── the machinery ────────────────────────────────────────────────────────────────────────────────────


@cache
def _registry() -> Registry[Any]:
    registry: Registry[Any] = Registry().with_resource(DOCUMENT_URI, DRAFT202012.create_resource(DOCUMENT))
    return registry


@cache
def _validator(pointer: str) -> Draft202012Validator:
    _at(pointer)  # a pointer into nothing is the test's mistake: say so now, not as a reference error later
    return Draft202012Validator({"$ref": f"{DOCUMENT_URI}#{pointer}"}, registry=_registry())


def _validate(pointer: str, value: Any, where: str) -> None:
    errors = sorted(_validator(pointer).iter_errors(value), key=lambda e: list(e.absolute_path))
    if errors:
        raise ContractError(f"{where}: " + "; ".join(_describe(e) for e in errors[:5]) + f"\nbody: {value!r:.2000}")


def _describe(error: ValidationError) -> str:
    at = "/".join(map(str, error.absolute_path)) or "(the body)"
    return f"at {at}: {error.message}"


def _at(pointer: str) -> Any:
    node: Any = DOCUMENT
    for part in pointer.lstrip("/").split("/"):
        node = node[part.replace("~1", "/").replace("~0", "~")]
    return node


def _escape(part: str) -> str:
    return part.replace("~", "~0").replace("/", "~1")


@cache
def _pattern(template: str) -> re.Pattern[str]:
    parts = re.split(r"(\{[^}]*\})", template)
    return re.compile("".join(".+" if p.startswith("{") else re.escape(p) for p in parts) + "$")


def _json(raw: bytes, method: str, url: str) -> Any:
    try:
        return json.loads(raw)
    except ValueError:
        raise ContractError(f"{method} {url}: the body is not JSON: {raw[:200]!r}") from None


def _frames(text: str) -> Iterator[dict[str, str]]:
    for block in re.split(r"\r?\n\r?\n", text):
        fields: dict[str, str] = {}
        for line in block.splitlines():
            if not line or line.startswith(":"):
                continue
            name, _, value = line.partition(":")
            value = value.removeprefix(" ")
            fields[name] = fields[name] + "\n" + value if name == "data" and name in fields else value
        if fields:
            yield fields
