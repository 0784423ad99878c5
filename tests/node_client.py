"""The AI SDK's own UI-message stream client (ai@5.0.150, strict chunk schemas), run by node: it reads an
Aster POST /api/chat through tests/node/check_ui_stream.mjs and assembles the assistant message."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
from pathlib import Path
from typing import Any

REPO = Path(__file__).resolve().parents[1]
HARNESS = REPO / "tests" / "node"
AUTH = "Bearer eyJhbGciOiJSUzI1NiJ9.eyJzdWIiOiJ1c2VyX25vZGUifQ.c2ln"
NODE = shutil.which("node")


def installed() -> Path:
    """The checker, with its pinned npm packages installed on first use (as CI does)."""
    if not (HARNESS / "node_modules" / "ai").is_dir():
        npm = subprocess.run(
            ["npm", "ci", "--prefix", str(HARNESS)], cwd=REPO, capture_output=True, text=True, check=False
        )
        assert npm.returncode == 0, f"npm ci failed:\n{npm.stdout}\n{npm.stderr}"
    return HARNESS / "check_ui_stream.mjs"


def read_chat(harness: Path, base_url: str, body: dict[str, Any]) -> dict[str, Any]:
    """What the AI SDK's client made of `POST {base_url}/chat` with `body`."""
    env = {**os.environ, "REQUEST_HEADERS": json.dumps({"authorization": AUTH})}
    done = subprocess.run(
        [str(NODE), str(harness), f"{base_url}/chat"],
        input=json.dumps(body),
        env=env,
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    assert done.returncode == 0, done.stderr
    result: dict[str, Any] = json.loads(done.stdout)
    return result
