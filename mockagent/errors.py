"""The exception root of mockagent: every error we raise on purpose is a `MockAgentError`.

`ApiError` is a request that fails, in neutral terms (`ErrorKind`); each platform renders it in its own
envelope and status.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from enum import StrEnum


def counted(number: int, noun: str) -> str:
    """`number` `noun`s, in the singular for one: "1 problem", "3 agents"."""
    return f"{number} {noun}{'' if number == 1 else 's'}"


class MockAgentError(Exception):
    """Base of every error mockagent raises on purpose."""


@dataclass(frozen=True)
class SourcePosition:
    path: str
    line: int  # 1-based
    column: int  # 1-based

    def __str__(self) -> str:
        return f"{self.path}:{self.line}:{self.column}" if self.line else self.path  # line 0: the whole file

    @classmethod
    def whole(cls, path: object) -> SourcePosition:
        """A file (or folder) as a whole: a problem of no particular line."""
        return cls(str(path), 0, 0)


class ScenarioError(MockAgentError):
    """A scenario file is wrong: the message starts with ``path:line:col:``."""

    def __init__(self, position: SourcePosition, message: str) -> None:
        super().__init__(f"{position}: {message}")
        self.position = position
        self.reason = message

    @property
    def problems(self) -> tuple[ScenarioError, ...]:
        return (self,)


class ScenarioErrors(ScenarioError):
    """Every problem found in the scenario files, one ``path:line:col: …`` per line (`position` and
    `reason` are the first one's)."""

    def __init__(self, errors: Sequence[ScenarioError], note: str = "") -> None:
        first = errors[0]
        super().__init__(first.position, first.reason)
        self.args = ("\n".join([*map(str, errors), *([note] if note else [])]),)
        self.errors = tuple(errors)

    @property
    def problems(self) -> tuple[ScenarioError, ...]:
        return self.errors


class RunStateError(MockAgentError):
    """An action does not fit the run's state (deciding twice, continuing a closed task …)."""


class ErrorKind(StrEnum):
    """Neutral error classes; each platform maps them to its own code, status and envelope."""

    BAD_REQUEST = "bad_request"  # the HTTP itself: a malformed head, a body that cannot be read or never came
    INVALID_JSON = "invalid_json"
    INVALID_BODY = "invalid_body"  # JSON, but not an object
    UNSUPPORTED_MEDIA_TYPE = "unsupported_media_type"
    VALIDATION = "validation"  # see ApiError.fields
    MISSING_CREDENTIAL = "missing_credential"
    INVALID_CREDENTIAL = "invalid_credential"
    FORBIDDEN = "forbidden"
    NOT_FOUND = "not_found"
    METHOD_NOT_ALLOWED = "method_not_allowed"
    CONFLICT = "conflict"
    PAYLOAD_TOO_LARGE = "payload_too_large"
    RATE_LIMITED = "rate_limited"
    INTERNAL = "internal"
    BAD_GATEWAY = "bad_gateway"
    UNAVAILABLE = "unavailable"
    TIMEOUT = "timeout"


#: The HTTP status each kind means on most platforms; a platform changes only what differs.
HTTP_STATUS: Mapping[ErrorKind, int] = {
    ErrorKind.BAD_REQUEST: 400,
    ErrorKind.INVALID_JSON: 400,
    ErrorKind.INVALID_BODY: 400,
    ErrorKind.VALIDATION: 400,
    ErrorKind.MISSING_CREDENTIAL: 401,
    ErrorKind.INVALID_CREDENTIAL: 401,
    ErrorKind.FORBIDDEN: 403,
    ErrorKind.NOT_FOUND: 404,
    ErrorKind.METHOD_NOT_ALLOWED: 405,
    ErrorKind.CONFLICT: 409,
    ErrorKind.PAYLOAD_TOO_LARGE: 413,
    ErrorKind.UNSUPPORTED_MEDIA_TYPE: 415,
    ErrorKind.RATE_LIMITED: 429,
    ErrorKind.INTERNAL: 500,
    ErrorKind.BAD_GATEWAY: 502,
    ErrorKind.UNAVAILABLE: 503,
    ErrorKind.TIMEOUT: 504,
}


@dataclass(frozen=True)
class FieldError:
    """One invalid field: `loc` is its path inside the body, e.g. ("input", "user", "email")."""

    loc: tuple[str | int, ...]
    msg: str
    type: str = "value_error"  # pydantic's error types: missing, string_type, enum, …

    @property
    def field(self) -> str:
        return ".".join(str(part) for part in self.loc)


class ApiError(MockAgentError):
    """A request fails; its platform's `render_error` gives it the platform's shape and status."""

    def __init__(
        self,
        kind: ErrorKind,
        message: str,
        *,
        fields: Sequence[FieldError] = (),
        code: str | None = None,
        retry_after: int | None = None,
    ) -> None:
        super().__init__(message)
        self.kind = kind
        self.message = message
        self.fields = tuple(fields)
        self.code = code  # a platform-specific code to use instead of the kind's default
        self.retry_after = retry_after

    @classmethod
    def invalid(cls, loc: str | tuple[str | int, ...], msg: str, type_: str = "value_error") -> ApiError:
        loc_tuple = tuple(loc.split(".")) if isinstance(loc, str) else loc
        error = FieldError(loc_tuple, msg, type_)
        return cls(ErrorKind.VALIDATION, f"{error.field}: {msg}", fields=[error])

    @classmethod
    def missing(cls, loc: str | tuple[str | int, ...]) -> ApiError:
        return cls.invalid(loc, "Field required", "missing")

    @property
    def field(self) -> str | None:
        return self.fields[0].field if self.fields else None

    def retry_after_header(self) -> dict[str, str]:
        """`Retry-After` in whole real seconds (at least 1) for a 429, or for any error that carries one."""
        if self.kind is ErrorKind.RATE_LIMITED or self.retry_after is not None:
            return {"Retry-After": str(max(1, self.retry_after or 1))}
        return {}
