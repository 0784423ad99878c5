"""The JSON Schema of a scenario file, for editors (through a `# yaml-language-server: $schema=…` line).

It is built from the loader's own key sets and enumerations, so a key added to the loader cannot be
forgotten here: `_closed` refuses a key set that a fragment does not cover, or a fragment for a key the
loader does not read. What a schema cannot say (a regex that does not compile, a template's unknown
variable, a reply after a catch-all, a state nothing sets) stays the loader's: the schema catches the
shape, `mockagent validate` everything. The file committed at `mockagent/schema/scenario.schema.json`
is this module's output (`mockagent schema > mockagent/schema/scenario.schema.json`); a test keeps
them equal.
"""

from __future__ import annotations

import json
from collections.abc import Collection, Mapping
from enum import StrEnum
from itertools import combinations
from typing import Any

from mockagent.faults import Per
from mockagent.model import Chunking, PlatformKey
from mockagent.scenarios import loader, stubs
from mockagent.scenarios.model import Exhausted

Schema = dict[str, Any]

SCHEMA_ID = "https://mockagent.dev/schema/scenario.schema.json"


def build() -> Schema:
    """The whole schema: a scenario file, with each part it is made of under `$defs`."""
    return {
        "$schema": "https://json-schema.org/draft/2020-12/schema",
        "$id": SCHEMA_ID,
        "title": "mockagent scenario file",
        "description": "Agents, credentials and faults that mockagent serves (docs/scenarios.md).",
        **_closed(
            loader.FILE_KEYS,
            {
                "agents": {"type": "array", "items": _ref("agent")},
                "auth": {
                    "type": "object",
                    "propertyNames": _enum(PlatformKey),
                    "additionalProperties": {"type": "array", "items": _ref("credential")},
                },
                "faults": _ref("faults"),
                "states": {
                    "type": "object",
                    "description": "values a state takes from outside the scenarios (the admin API, tests)",
                    "additionalProperties": {"anyOf": [_ref("state"), {"type": "array", "items": _ref("state")}]},
                },
                "stubs": {"type": "array", "items": _ref("stub")},
            },
        ),
        "$defs": _definitions(),
    }


def text() -> str:
    """The schema as the committed file holds it."""
    return json.dumps(build(), indent=2, sort_keys=False) + "\n"


def _definitions() -> Schema:
    return {
        "agent": _agent(),
        "reply": _answering(loader.REPLY_KEYS, {"when": _ref("when"), "priority": {"type": "integer"}}),
        "sequenceItem": _sequence_item(),
        "then": _closed(
            {"state"},
            {"state": {"type": "object", "minProperties": 1, "additionalProperties": _ref("state")}},
            required=("state",),
        ),
        # A state's value is text, as `when` reads it: an unquoted yes is a boolean to YAML, and refused.
        "state": _ref("text"),
        "when": _when(),
        "stub": _stub(),
        "sseFrame": _closed(
            stubs.FRAME_KEYS,
            {"data": _ref("body"), "event": _ref("text"), "id": _ref("text"), "delay": _ref("seconds")},
            required=("data",),
        ),
        # A mapping or a list is sent as JSON; text (or a number, read as its text) as text.
        "body": {"anyOf": [{"type": "object"}, {"type": "array"}, _ref("text")]},
        "textTest": _test(_ref("text")),
        "valueTest": _test({}),
        "script": {"type": "array", "minItems": 1, "items": _ref("step")},
        "step": _step(),
        "faults": {"type": "array", "items": _ref("faultRule")},
        "faultRule": _fault_rule(),
        "pace": _pace(),
        "credential": {
            "anyOf": [
                {"type": "string"},
                _closed(loader.CREDENTIAL_KEYS, {"key": {"type": "string"}, "agent": _ref("text")}, required=("key",)),
            ]
        },
        # YAML reads `say: 42` as a number, and the loader takes it as the text "42".
        "text": {"type": ["string", "number"]},
        "seconds": {"type": "number", "minimum": 0},
    }


def _agent() -> Schema:
    agent = _closed(
        loader.AGENT_KEYS,
        {
            # YAML reads `id: 7` as a number, and the loader takes it as "7"; the pattern checks strings only.
            "id": {"type": ["string", "number"], "pattern": loader.AGENT_ID.pattern},
            "aster_id": {"type": "integer", "minimum": 1},
            "name": _ref("text"),
            "description": _ref("text"),
            "platforms": {"type": "array", "items": _enum(PlatformKey)},
            "pace": _ref("pace"),
            "llm": _closed(loader.LLM_KEYS, {key: {"type": "string"} for key in loader.LLM_KEYS}),
            "script": _ref("script"),
            "default": {"anyOf": [_ref("script"), _answering(loader.ANSWER_KEYS, {})]},
            "replies": {"type": "array", "items": _ref("reply")},
            "faults": _ref("faults"),
        },
        required=("id",),
    )
    agent["anyOf"] = [{"required": [key]} for key in ("script", "replies", "default")]
    agent["not"] = {"required": ["script", "default"]}
    return agent


def _answering(keys: Collection[str], others: Mapping[str, Schema]) -> Schema:
    """A reply or a default: a `script`, or a `sequence` answering call by call, and the states it sets."""
    answering = _closed(
        keys,
        {
            **others,
            "script": _ref("script"),
            "sequence": {"type": "array", "minItems": 1, "items": _ref("sequenceItem")},
            "exhausted": _enum(Exhausted),
            "then": _ref("then"),
        },
    )
    answering["oneOf"] = [{"required": ["script"]}, {"required": ["sequence"]}]
    answering["dependentRequired"] = {"exhausted": ["sequence"]}
    return answering


def _sequence_item() -> Schema:
    """A script (a list of steps, or `script:`) or a status fault answered in its place."""
    item = _closed(
        loader.ITEM_KEYS,
        {
            "script": _ref("script"),
            "fault": {"type": ["string", "integer"], "description": "e.g. 429, 503, or drop-after:N with a script"},
            "retry_after": {"type": "integer", "minimum": 1},
            "then": _ref("then"),
        },
    )
    item["anyOf"] = [{"required": ["script"]}, {"required": ["fault"]}]
    item["dependentRequired"] = {"retry_after": ["fault"]}
    return {"anyOf": [_ref("script"), item]}


def _stub() -> Schema:
    """A raw stub (docs/scenarios.md#raw-stubs): where, which requests, and the answer."""
    stub = _closed(
        stubs.STUB_KEYS,
        {
            "platform": {"anyOf": [_enum(PlatformKey), {"type": "null"}]},
            "method": {"enum": list(stubs.METHODS)},
            "path": {"type": "string", "pattern": "^/[^?#]*$"},
            "when": _ref("when"),
            "then": _ref("then"),
            "priority": {"type": "integer"},
            "status": {"type": "integer", "minimum": 200, "maximum": 599},
            "headers": {
                "type": "object",
                "propertyNames": {"pattern": "^[!#$%&'*+.^_`|~0-9A-Za-z-]+$"},
                "additionalProperties": _ref("text"),
            },
            "body": _ref("body"),
            "sse": {"type": "array", "minItems": 1, "items": _ref("sseFrame")},
            "shadow": {"type": "boolean"},
        },
        required=("method", "path"),
    )
    stub["not"] = {"required": ["body", "sse"]}
    return stub


def _when() -> Schema:
    keyed = {"type": "object", "minProperties": 1}
    when = _closed(
        loader.WHEN_KEYS | loader.MESSAGE_TESTS,
        {
            "message": _ref("textTest"),
            "body": keyed | {"additionalProperties": _ref("valueTest")},
            "headers": keyed | {"additionalProperties": _ref("textTest")},
            "query": keyed | {"additionalProperties": _ref("textTest")},
            "params": keyed | {"additionalProperties": _ref("textTest")},
            "state": keyed | {"additionalProperties": _ref("textTest")},
            "platform": {"anyOf": [_enum(PlatformKey), {"type": "array", "minItems": 1, "items": _enum(PlatformKey)}]},
            "turn": _ref("valueTest"),
            "matched": _ref("valueTest"),
            "all": {"type": "array", "minItems": 1, "items": _ref("when")},
            "any": {"type": "array", "minItems": 1, "items": _ref("when")},
            "not": _ref("when"),
            # Beside the others, the message tests test the message.
            **_message_tests(_ref("text")),
        },
    )
    shorthand = [{"required": [key]} for key in sorted(loader.MESSAGE_TESTS - {"ignore_case"})]
    when["minProperties"] = 1
    when["not"] = {"required": ["message"], "anyOf": shorthand}
    when["dependentSchemas"] = {"ignore_case": {"anyOf": shorthand}}
    return when


def _test(expected: Schema) -> Schema:
    """What a subject is tested with: a value (equals), a list (one of), or a mapping of tests."""
    tests = _closed(
        loader.TEST_KEYS,
        {
            **_message_tests(expected),
            "exists": {"type": "boolean"},
            **{key: {"type": "number"} for key in ("gt", "gte", "lt", "lte")},
        },
    )
    tests["minProperties"] = 1
    tests["not"] = {"required": ["ignore_case"], "maxProperties": 1}
    return {"anyOf": [tests, {"type": "array", "items": expected}, _scalar(expected)]}


def _message_tests(expected: Schema) -> Schema:
    return {
        "equals": expected,
        "contains": expected,
        "regex": {"type": "string"},
        "one_of": {"type": "array", "items": expected},
        "ignore_case": {"type": "boolean"},
    }


def _scalar(expected: Schema) -> Schema:
    """`expected`, as a single value: a mapping or a list is read as tests."""
    return expected if expected else {"type": ["string", "number", "boolean", "null"]}


def _step() -> Schema:
    text = _ref("text")
    actions = {
        "say": {
            "anyOf": [
                text,
                _chunked(
                    _closed(
                        loader.SAY_KEYS,
                        {
                            "text": text,
                            "chunks": {"type": "array", "items": text},
                            "chunk": _enum(Chunking),
                            "chars": {"type": "integer", "minimum": 1},
                            "interval": _ref("seconds"),
                        },
                    )
                )
                | {"anyOf": [{"required": ["text"]}, {"required": ["chunks"]}]},
            ]
        },
        "reasoning": text,
        "tool_call": _closed(
            loader.TOOL_CALL_KEYS,
            {
                "name": {"type": "string"},
                "args": {"type": "object"},
                "id": {"type": "string"},
                "requires_approval": {"type": "boolean"},
                "on_reject": {"type": "array", "items": _ref("step")},
            },
            required=("name",),
        ),
        "tool_result": _closed(loader.TOOL_RESULT_KEYS, {"output": {}, "error": text})
        | {"oneOf": [{"required": ["output"]}, {"required": ["error"]}]},
        "ask": {
            "anyOf": [
                text,
                _closed(
                    loader.ASK_KEYS,
                    {"question": text, "options": {"type": "array", "items": text}},
                    required=("question",),
                ),
            ]
        },
        "fail": {
            "anyOf": [
                text,
                _closed(loader.FAIL_KEYS, {"message": text, "code": {"type": "string"}}, required=("message",)),
            ]
        },
        "wait_polls": {"type": "integer", "minimum": 1},
        "fault": {"type": "string", "description": "a stream fault: drop-after, no-terminal, malformed"},
    }
    step = _closed(set(loader.ACTIONS) | {"delay"}, actions | {"delay": _ref("seconds")})
    step["minProperties"] = 1
    # One action a step, with perhaps a delay before it.
    step["anyOf"] = [{"maxProperties": 1}, {"required": ["delay"], "maxProperties": 2}]
    return step


def _fault_rule() -> Schema:
    kinds = ("first", "sequence", "probability", "rate_limit")
    rule = _closed(
        loader.RULE_KEYS,
        {
            "fault": {"type": ["string", "integer"], "description": "e.g. 429, 503, timeout, drop-after:3"},
            "retry_after": {"type": "integer", "minimum": 1},
            "first": {"type": "integer", "minimum": 1},
            "sequence": {"type": "array", "items": {"type": ["string", "integer"]}},
            "probability": {"type": "number", "minimum": 0, "maximum": 1},
            "seed": {"type": "integer"},
            "rate_limit": {"type": "string", "description": "e.g. 60/min"},
            "per": _enum(Per),
        },
    )
    rule["not"] = {"anyOf": [{"required": list(pair)} for pair in combinations(kinds, 2)]}
    rule["if"] = {"not": {"anyOf": [{"required": ["sequence"]}, {"required": ["rate_limit"]}]}}
    rule["then"] = {"required": ["fault"]}
    return rule


def _pace() -> Schema:
    seconds = _ref("seconds")
    return _chunked(
        _closed(
            loader.PACE_KEYS,
            {
                "queued": seconds,
                "first_frame": seconds,
                "interval": seconds,
                "jitter": seconds,
                "chunk": _enum(Chunking),
                "chars": {"type": "integer", "minimum": 1},
                "seed": {"type": "integer"},
            },
        )
    )


def _chunked(schema: Schema) -> Schema:
    """`chunk: chars` needs `chars` beside it."""
    return schema | {
        "if": {"required": ["chunk"], "properties": {"chunk": {"const": Chunking.CHARS.value}}},
        "then": {"required": ["chars"]},
    }


def _closed(keys: Collection[str], properties: Mapping[str, Schema], required: tuple[str, ...] = ()) -> Schema:
    """A mapping with exactly the loader's `keys`: a key one side knows and the other does not is a bug here,
    found when the schema is built (and so by the tests), not by a user's editor."""
    if set(keys) != set(properties):
        missing, extra = sorted(set(keys) - set(properties)), sorted(set(properties) - set(keys))
        raise AssertionError(f"the schema and the loader disagree: no schema for {missing}, no loader for {extra}")
    schema: Schema = {
        "type": "object",
        "properties": {key: properties[key] for key in sorted(properties)},
        "additionalProperties": False,
    }
    if required:
        schema["required"] = list(required)
    return schema


def _enum(enum: type[StrEnum]) -> Schema:
    return {"enum": [member.value for member in enum]}


def _ref(name: str) -> Schema:
    return {"$ref": f"#/$defs/{name}"}
