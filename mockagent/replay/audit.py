"""``mockagent cassette audit PATH...``: anything secret-looking left in cassette files, by file, line and rule.

The audit reads each file as text and does not parse the YAML: CI runs it on thousands of interactions, and
loading them with libyaml alone takes about 25 times as long as the whole audit (docs/recording.md gives the
figures). Two scans, both on the whole text:

- the redactor's shape rules (`Redactor.rules`, built-in and the user's), which start with literals that the
  regex engine skips to;
- the names: each keyword of a secret or key-like name (``key``, ``token``, ``auth``…, lower-cased text) is
  widened to its name, and what follows the name says what it names: a JSON field (``"apiKey": "…"``, in any of
  the quotings YAML gives a body), a YAML header (``Authorization:`` then ``- value`` lines, vcrpy's shape), a
  query or form parameter (``signature=…``), or a secret header's line in a text body (``Cookie: …``). The
  value is judged exactly as redaction judges it, so an audit of a redacted cassette finds nothing.

Placeholders (``<<secret:…>>``) are never findings. What it cannot see: bodies stored as ``!!binary`` (bytes
that are not UTF-8, compressed ones among them), and fields the user named by a path (``deploy.hooks[].url``):
the text does not say where a field stands, so only its redaction knows them.
"""

from __future__ import annotations

import bisect
import re
import sys
from collections.abc import Iterable, Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import TextIO

import yaml

from mockagent.replay.redaction import _PARAM as _PARAM_VALUE
from mockagent.replay.redaction import (
    _PARAM_BEFORE,
    BUILTIN_RULES,
    PLACEHOLDER,
    Redactor,
    starts_token,
)

CASSETTE_SUFFIXES = (".yaml", ".yml")

_YAML_BLOCK = re.compile(r"['\"]?:[ \t]*\r?\n")  # a key whose value is on the next lines (vcrpy's header lists)
_YAML_INLINE = re.compile(r"['\"]?:[ \t]+([^\r\n]+)")
_YAML_ITEM = re.compile(r"([ \t]*)- ([^\r\n]*)")
_YAML_MORE = re.compile(r"([ \t]+)([^\s-][^\r\n]*|-[^ \r\n][^\r\n]*)")  # a folded scalar's next line
_FAST_LOADER = getattr(yaml, "CSafeLoader", yaml.SafeLoader)


@dataclass(frozen=True)
class Finding:
    path: str
    line: int  # 1-based
    column: int  # 1-based
    rule: str
    excerpt: str  # the secret masked: its first quarter (at most 8 characters) and its length

    def __str__(self) -> str:
        return f"{self.path}:{self.line}:{self.column}: {self.rule}: {self.excerpt}"


def mask(secret: str) -> str:
    """Enough to find the secret again, never enough to use it."""
    shown = secret[: min(8, len(secret) // 4)]
    return f"{shown.encode('unicode_escape').decode('ascii')}… ({len(secret)} char{'' if len(secret) == 1 else 's'})"


def cassette_files(paths: Iterable[Path]) -> Iterator[Path]:
    """Files as given, and the cassettes (.yaml, .yml) inside folders, sorted; a missing path raises."""
    for path in paths:
        if path.is_dir():
            yield from sorted(p for p in path.rglob("*") if p.suffix in CASSETTE_SUFFIXES and p.is_file())
        elif path.is_file():
            yield path
        else:
            raise FileNotFoundError(f"{path}: no such file or folder")


def audit(paths: Iterable[Path | str], redactor: Redactor | None = None) -> list[Finding]:
    """Every finding in the cassettes at `paths`; an unreadable path raises (OSError, UnicodeDecodeError)."""
    redactor = redactor or Redactor()
    findings: list[Finding] = []
    for file in cassette_files(Path(p) for p in paths):
        findings += audit_file(file, redactor)
    return findings


def audit_file(path: Path, redactor: Redactor | None = None) -> list[Finding]:
    return audit_text(path.read_text(encoding="utf-8"), str(path), redactor)


def audit_text(text: str, path: str = "<text>", redactor: Redactor | None = None) -> list[Finding]:
    redactor = redactor or Redactor()
    shapes = _shape_findings(text, redactor)
    starts = [span[0] for span in shapes]
    named = [f for f in _name_findings(text, redactor) if not _overlaps(f, shapes, starts)]
    found = sorted(shapes + named)
    if not found:
        return []
    newlines = [m.start() for m in re.finditer("\n", text)]
    findings = []
    for start, _, rule, excerpt in found:
        line = bisect.bisect_left(newlines, start)
        column = start - (newlines[line - 1] + 1 if line else 0) + 1
        findings.append(Finding(path, line + 1, column, rule, excerpt))
    return findings


_Span = tuple[int, int, str, str]  # (start, end, rule, excerpt)


def _overlaps(span: _Span, shapes: list[_Span], starts: list[int]) -> bool:
    """Whether `span` overlaps one of `shapes` (sorted, disjoint): only the last one starting before its end can."""
    i = bisect.bisect_left(starts, span[1]) - 1
    return i >= 0 and shapes[i][1] > span[0]


def _shape_findings(text: str, redactor: Redactor) -> list[_Span]:
    found: list[tuple[int, int, int, str, str]] = []  # (start, order, end, rule, excerpt)
    for order, rule in enumerate(redactor.rules):
        group = rule.group
        for match in rule.regex.finditer(text):
            start, end = match.span(group)
            if start == end or (rule.boundary and not starts_token(text, match.start())):
                continue
            # A user's pattern may match inside a placeholder; the built-in ones cannot.
            if order >= len(BUILTIN_RULES) and _in_placeholder(text, start, end):
                continue
            found.append((start, order, end, rule.name, mask(text[start:end])))
    found.sort()
    kept: list[_Span] = []
    last_end = -1
    for start, _, end, name, excerpt in found:  # one finding a secret: the first rule (the more specific) there
        if start >= last_end:
            kept.append((start, end, name, excerpt))
            last_end = end
    return kept


def _in_placeholder(text: str, start: int, end: int) -> bool:
    lo = max(0, start - 64)
    return any(m.start() < end and start < m.end() for m in PLACEHOLDER.finditer(text, lo, end + 64))


def _name_findings(text: str, redactor: Redactor) -> Iterator[_Span]:
    for start, end in redactor.names(text):
        name = text[start:end]
        if redactor.names_secret(name):
            finding = _after_name(text, redactor, name, start, end)
            if finding is not None:
                yield finding


def _after_name(text: str, redactor: Redactor, name: str, start: int, end: int) -> _Span | None:
    quoted = redactor.quoted_field(text, start, end)
    if quoted is not None:
        value = quoted.group(1)
        if "\n" in value:  # YAML folded a long line at a space: the break stands for the space
            value = re.sub(r"\r?\n[ \t]*", " ", value)
        # In a single-quoted YAML scalar a quote is doubled.
        return _judged(redactor.field_value(name, value.replace("''", "'")), name, value, quoted.start(1), redactor)
    before = text[start - 1] if start else "\n"
    if end < len(text) and text[end] == "=":
        if before not in _PARAM_BEFORE:
            return None
        param = _PARAM_VALUE.match(text, end)
        if param is None:
            return None
        return _judged(redactor.param_value(name, param.group(1)), name, param.group(1), param.start(1), redactor)
    line_start = text.rfind("\n", 0, start) + 1
    indent = text[line_start:start]
    if indent.strip(" \t'\""):
        return None
    block = _YAML_BLOCK.match(text, end)
    if block is not None:
        return _yaml_items(text, redactor, name, block.end(), len(indent.rstrip("'\"")))
    # A secret header's value on its own line: what redaction does to such a line of a text body.
    inline = _YAML_INLINE.match(text, end) if redactor.header_line(text, start, end) else None
    if inline is not None:
        return _header_value(redactor, name, inline.group(1), inline.start(1))
    return None


def _yaml_items(text: str, redactor: Redactor, name: str, pos: int, indent: int) -> _Span | None:
    """The ``- value`` lines of a YAML list under a header name (and the lines a long value folded onto)."""
    while True:
        item = _YAML_ITEM.match(text, pos)
        if item is None or len(item.group(1)) < indent:
            return None
        raw, value_start, pos = item.group(2), item.start(2), item.end() + 1
        while (more := _YAML_MORE.match(text, pos)) is not None and len(more.group(1)) > len(item.group(1)):
            raw += " " + more.group(2)
            pos = more.end() + 1
        finding = _header_value(redactor, name, raw, value_start)
        if finding is not None:
            return finding


def _header_value(redactor: Redactor, name: str, raw: str, start: int) -> _Span | None:
    value = _yaml_scalar(raw)
    if value is None:
        return None
    edits = redactor.header_edits(name, value)
    if not edits:
        return None
    secret = value[edits[0][0] : edits[0][1]]
    rule = "header" if redactor.is_secret_name(name) else "entropy"
    return start, start + len(raw), rule, f"{name}: {mask(secret)}"


def _yaml_scalar(raw: str) -> str | None:
    raw = raw.strip()
    if raw.startswith("'") and raw.endswith("'") and len(raw) > 1:
        return raw[1:-1].replace("''", "'")
    if raw.startswith('"'):
        try:
            value = yaml.load(raw, Loader=_FAST_LOADER)  # noqa: S506 (a safe loader)
        except yaml.YAMLError:
            return None
        return value if isinstance(value, str) else None
    return raw.split(" #", 1)[0]


def _judged(new: str | None, name: str, value: str, start: int, redactor: Redactor) -> _Span | None:
    if new is None:
        return None
    rule = "field" if redactor.is_secret_name(name) else "entropy"
    return start, start + len(value), rule, f"{name}: {mask(value)}"


def main(paths: Sequence[Path | str], redactor: Redactor | None = None, out: TextIO | None = None) -> int:
    """Print ``path:line:col: rule: excerpt`` for each finding; 0 clean, 1 findings, 2 an unreadable path."""
    out = out or sys.stdout
    redactor = redactor or Redactor()
    unreadable = False
    count = 0
    for target in paths:
        try:
            files = list(cassette_files([Path(target)]))
        except OSError as err:
            print(f"{target}: cannot read: {err}", file=sys.stderr)
            unreadable = True
            continue
        for file in files:
            try:
                findings = audit_file(file, redactor)
            except (OSError, UnicodeDecodeError) as err:
                print(f"{file}: cannot read: {err}", file=sys.stderr)
                unreadable = True
                continue
            for finding in findings:
                print(finding, file=out)
            count += len(findings)
    if count:
        print(f"{count} secret-looking value{'s' if count > 1 else ''} found", file=sys.stderr)
    return 2 if unreadable else 1 if count else 0


if __name__ == "__main__":
    raise SystemExit(main(sys.argv[1:]))
