"""The documentation stands on its own: every relative link and every repository path it names is in the
repository, and every example uses the default port."""

from __future__ import annotations

import re
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
PAGES = [ROOT / "README.md", *sorted((ROOT / "docs").rglob("*.md"))]
LINK = re.compile(r"\]\(([^)#\s]+)(?:#[^)]*)?\)")  # [text](target#anchor)
# A path written in code quotes that names a folder of the repository: `tests/…`, `docs/…`, `shared/…` …
NAMED_PATH = re.compile(r"`((?:[\w.-]+/)+[\w.-]+\.(?:md|py|yaml|yml|json|toml))`")
# mockagent's own addresses (a Redis URL names Redis's port, not ours).
ADDRESS = re.compile(r"(?<!redis://)(?:127\.0\.0\.1|localhost|0\.0\.0\.0):(\w+|<\w+>)")
DEFAULT_PORT = "8710"


def ids(pages: list[Path]) -> list[str]:
    return [str(page.relative_to(ROOT)) for page in pages]


@pytest.mark.parametrize("page", PAGES, ids=ids(PAGES))
def test_every_relative_link_is_in_the_repository(page: Path) -> None:
    targets = [t for t in LINK.findall(page.read_text()) if not re.match(r"[a-z]+:", t)]
    missing = [
        t for t in targets if not (page.parent / t).resolve().is_relative_to(ROOT) or not (page.parent / t).exists()
    ]
    assert missing == []


@pytest.mark.parametrize("page", PAGES, ids=ids(PAGES))
def test_every_file_named_is_in_the_repository(page: Path) -> None:
    # A module may be named from the package (`platforms/base.py`), anything else from the repository root.
    bases = (ROOT, ROOT / "mockagent", page.parent)
    missing = [path for path in NAMED_PATH.findall(page.read_text()) if not any((b / path).exists() for b in bases)]
    assert missing == []


@pytest.mark.parametrize("page", PAGES, ids=ids(PAGES))
def test_every_example_uses_the_default_port(page: Path) -> None:
    ports = set(ADDRESS.findall(page.read_text()))
    assert ports <= {DEFAULT_PORT}
