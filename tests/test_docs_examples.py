"""Every scenario example in the docs is a whole file that loads, and serves: each of its agents answers a
first message on a platform it is served on, never with a 5xx, and each of its raw stubs without a `when`
answers a request to its path with its own status (an example that only loads could still describe
behaviour the server no longer has)."""

from __future__ import annotations

import re
import textwrap
from pathlib import Path

import httpx
import pytest
import yaml
from credentials import JWT

from mockagent.scenarios import load_text
from mockagent.server import ThreadedMockServer
from mockagent.settings import Settings

ROOT = Path(__file__).resolve().parent.parent
PAGES = [ROOT / "README.md", ROOT / "docs" / "scenarios.md", ROOT / "docs" / "faults.md"]
BLOCK = re.compile(r"^```yaml\n(.*?)^```", re.DOTALL | re.MULTILINE)
OAG = "oag_0123456789abcdef0123456789abcdef0123456789abcdef0123456789abcdef"
#: A credential each platform accepts, for a stub on a call the platform authenticates first.
CREDENTIALS = {
    "beeos": {"Authorization": f"Bearer {OAG}"},
    "agentos": {"Authorization": "Bearer aos_ws_docs"},
    "xpander": {"x-api-key": "xp-docs"},
    "zeus": {"Authorization": f"Bearer {JWT}"},
    "aster": {"Authorization": f"Bearer {JWT}"},
}


def examples() -> list[tuple[str, str]]:
    found = []
    for page in PAGES:
        text = page.read_text()
        for block in BLOCK.finditer(text):
            line = text.count("\n", 0, block.start()) + 2
            found.append((f"{page.relative_to(ROOT)}:{line}", block[1]))
    return found


EXAMPLES = examples()


def test_the_pages_have_examples() -> None:
    assert len([name for name, _ in EXAMPLES if name.startswith("docs/scenarios.md")]) >= 2


@pytest.mark.parametrize(("where", "text"), EXAMPLES, ids=[where for where, _ in EXAMPLES])
def test_an_example_loads_and_each_agent_answers(tmp_path: Path, where: str, text: str) -> None:
    path = tmp_path / "example.yaml"
    path.write_text(text)
    scenarios = load_text(path, text)
    agents = (yaml.safe_load(text) or {}).get("agents", [])
    with ThreadedMockServer(Settings(scenario_paths=(path,))) as server:
        for agent in agents:
            served = scenarios.agents[agent["id"]].platforms
            if served is not None and "beeos" not in served:
                continue  # every example agent that BeeOS serves is called; the others only load
            key = OAG if "beeos" in text else "oag_" + "a" * 64
            response = httpx.post(
                f"{server.base_url('beeos')}/api/v1/agents/{agent['id']}/invoke",
                json={"message": "hello"},
                headers={"Authorization": f"Bearer {key}"},
                timeout=10,
            )
            assert response.status_code < 500, f"{where}: {agent['id']}: {response.text}"
        for stub in scenarios.stubs:
            platform = stub.platform.value if stub.platform is not None else None
            base = server.url if platform is None else f"{server.url}/{platform}"
            path = "/".join("x" if segment is None else segment for segment in stub.path.segments)
            headers = CREDENTIALS.get(platform or "", {})
            response = httpx.request(stub.method, base + path, headers=headers, timeout=10)
            # A stub with a `when` may not take this request (its route or the 404 answers): never a 5xx.
            took = response.status_code == stub.status if stub.when is None else response.status_code < 500
            assert took, f"{where}: {stub.source}: {response.status_code} {response.text}"


PYTHON = re.compile(r"^ *```python\n(.*?)^ *```", re.DOTALL | re.MULTILINE)


def test_the_readme_verdict_example_is_a_test_that_passes(pytester: pytest.Pytester) -> None:
    """The README's verdict example, run as the test file it is (a client that backs off after a 429)."""
    blocks = [textwrap.dedent(b[1]) for b in PYTHON.finditer((ROOT / "README.md").read_text()) if "verdict(" in b[1]]
    assert len(blocks) == 1
    pytester.makepyfile(test_readme=blocks[0])
    result = pytester.runpytest("-p", "no:cacheprovider", "-o", "asyncio_default_fixture_loop_scope=function")
    result.assert_outcomes(passed=1)
