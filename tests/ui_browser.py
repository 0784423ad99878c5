"""A real browser for the web page's tests (tests/test_ui.py): the system's Chromium (the Debian `chromium`
package), driven by Playwright for Python. No browser is ever downloaded: `playwright install` is not how
this project gets one (.ci/run installs the package when it is missing).

    from ui_browser import PageWatch, launch

A missing browser skips the tests, except under CI (``CI`` set), where it fails them: CI must run them.
"""

from __future__ import annotations

import os
import shutil
import tempfile
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path

import pytest
from playwright.sync_api import Browser, ConsoleMessage, Page, sync_playwright

CANDIDATES = ("/usr/bin/chromium", "/usr/bin/chromium-browser")
# Chromium's own background traffic (updates, sync, QUIC probes) would go nowhere on a closed network and
# slow every start; the page needs none of it.
ARGS = [
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
]
VIEWPORT = {"width": 1280, "height": 800}  # a projector's resolution, and the screenshots' size
DOCS_SCREENSHOTS = Path(__file__).resolve().parent.parent / "docs" / "ui"
#: Set to 1 to rewrite docs/ui/*.png (docs/ui.md); otherwise the views are still shot, into a scratch folder,
#: so that a test run leaves the checkout as it was (times and ids differ from run to run).
UPDATE_SCREENSHOTS = os.environ.get("MOCKAGENT_UPDATE_SCREENSHOTS") == "1"


def chromium_path() -> str | None:
    for candidate in (os.environ.get("MOCKAGENT_CHROMIUM"), *CANDIDATES, shutil.which("chromium")):
        if candidate and Path(candidate).is_file() and os.access(candidate, os.X_OK):
            return candidate
    return None


def missing_browser(ci: bool) -> None:
    """What a test does without a browser: skip, or under CI fail (a skipped browser test hides nothing)."""
    reason = "no Chromium at /usr/bin/chromium (apt-get install chromium; .ci/run does)"
    if ci:
        pytest.fail(f"{reason}: under CI the browser tests must run")
    pytest.skip(reason)


def launch() -> Iterator[Browser]:
    path = chromium_path()
    if path is None:
        missing_browser(bool(os.environ.get("CI")))
    with sync_playwright() as playwright:
        browser = playwright.chromium.launch(executable_path=path, args=ARGS)
        try:
            yield browser
        finally:
            browser.close()


@dataclass
class PageWatch:
    """A page whose console errors and uncaught exceptions are kept: a test asserts there were none."""

    page: Page
    errors: list[str] = field(default_factory=list)

    def __post_init__(self) -> None:
        self.page.on("console", self._console)
        self.page.on("pageerror", lambda error: self.errors.append(f"page error: {error}"))

    def _console(self, message: ConsoleMessage) -> None:
        if message.type == "error":
            self.errors.append(f"console {message.type}: {message.text}")

    def screenshot(self, name: str) -> None:
        """docs/ui/NAME.png, as docs/ui.md shows it (with MOCKAGENT_UPDATE_SCREENSHOTS=1; else a scratch copy)."""
        folder = DOCS_SCREENSHOTS if UPDATE_SCREENSHOTS else Path(tempfile.gettempdir()) / "mockagent-ui"
        folder.mkdir(exist_ok=True)
        self.page.screenshot(path=str(folder / f"{name}.png"))
