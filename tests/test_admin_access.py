"""The admin API is no way in (mockagent/admin.py `guarded`, docs/admin.md), over loopback HTTP: a foreign
Host is refused (DNS rebinding), so is a state-changing request from a page of another origin (a cross-site
"simple" request), and with a token every admin route but health needs it. The platform routes are not
the admin API and answer as before."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest

from mockagent.errors import MockAgentError
from mockagent.server import MockServer, ThreadedMockServer
from mockagent.settings import Settings

TOKEN = "t0ken-of-the-admin-api"
BEEOS_AUTH = {"Authorization": "Bearer oag_" + "0123456789abcdef" * 4}
INSTANT = Path(__file__).parent / "scenarios" / "instant.yaml"  # echo, answered at once even on a manual clock
SAFETY = 10.0  # real seconds: a bound on what should happen at once, never a measurement
# One route of each kind: the server's own (a read, a change) and a platform's inspection route.
ADMIN_ROUTES = [
    ("GET", "/journal"),
    ("POST", "/clock/advance"),
    ("DELETE", "/sessions/alice"),
    ("GET", "/agentos/ingest/runs"),
]


def admin(server: ThreadedMockServer, path: str) -> str:
    return f"{server.url}/__mockagent{path}"


def refusal(response: httpx.Response, status: int) -> str:
    assert response.status_code == status, response.text
    assert response.headers["content-type"].startswith("application/json")
    message: str = response.json()["error"]
    return message


def advance(server: ThreadedMockServer, headers: dict[str, str]) -> httpx.Response:
    """A state change sent the way a web page can send it cross-site: a "simple" POST of text/plain."""
    return httpx.post(
        admin(server, "/clock/advance"),
        content=b'{"seconds": 30}',
        headers={"Content-Type": "text/plain", **headers},
        timeout=SAFETY,
    )


# ── Host ─────────────────────────────────────────────────────────────────────────────────────────────


@pytest.mark.parametrize(("method", "path"), ADMIN_ROUTES)
@pytest.mark.parametrize("host", ["rebind.attacker.example:8710", "rebind.attacker.example", "localhost.evil"])
def test_a_foreign_host_is_refused_on_every_admin_route(
    mockagent_server: ThreadedMockServer, method: str, path: str, host: str
) -> None:
    # A page of the attacker's domain, rebound to 127.0.0.1, sends its own domain as Host.
    response = httpx.request(method, admin(mockagent_server, path), headers={"Host": host}, timeout=SAFETY)
    assert "Host" in refusal(response, 403)


@pytest.mark.mockagent(manual_clock=True)
def test_a_refused_request_changes_nothing(mockagent_server: ThreadedMockServer) -> None:
    refusal(advance(mockagent_server, {"Host": "rebind.attacker.example"}), 403)
    refusal(advance(mockagent_server, {"Origin": "https://attacker.example"}), 403)
    assert mockagent_server.clock.now() == 0
    assert httpx.get(admin(mockagent_server, "/journal")).json() == {"entries": [], "next": None}


@pytest.mark.parametrize(
    "host", ["localhost", "LOCALHOST.:8710", "app.localhost:8710", "127.0.0.1", "[::1]:8710", "192.168.1.20:8710"]
)
def test_loopback_names_and_ip_addresses_are_served(mockagent_server: ThreadedMockServer, host: str) -> None:
    response = httpx.get(admin(mockagent_server, "/journal"), headers={"Host": host}, timeout=SAFETY)
    assert response.status_code == 200, response.text


def test_the_host_check_is_the_admin_apis_only(mockagent_server: ThreadedMockServer) -> None:
    response = httpx.post(
        f"{mockagent_server.base_url('beeos')}/api/v1/agents/echo/invoke",
        json={"message": "hi"},
        headers={**BEEOS_AUTH, "Host": "rebind.attacker.example", "Origin": "https://attacker.example"},
        timeout=SAFETY,
    )
    assert response.json()["data"]["text"] == "Echo: hi"


@pytest.fixture
def named_server() -> Iterator[ThreadedMockServer]:
    with ThreadedMockServer(Settings(allowed_hosts=("mockagent", "Mock.Internal."))) as server:
        yield server


@pytest.mark.parametrize("host", ["mockagent:8710", "mock.internal"])
def test_an_allowed_host_name_is_served(named_server: ThreadedMockServer, host: str) -> None:
    response = httpx.get(admin(named_server, "/journal"), headers={"Host": host}, timeout=SAFETY)
    assert response.status_code == 200, response.text
    refusal(httpx.get(admin(named_server, "/journal"), headers={"Host": "other:8710"}, timeout=SAFETY), 403)


# ── Origin ───────────────────────────────────────────────────────────────────────────────────────────


@pytest.mark.parametrize("origin", ["https://attacker.example", "http://localhost:3000", "null"])
def test_a_state_change_from_another_origin_is_refused(mockagent_server: ThreadedMockServer, origin: str) -> None:
    for method, path in ADMIN_ROUTES:
        response = httpx.request(method, admin(mockagent_server, path), headers={"Origin": origin}, timeout=SAFETY)
        if method == "GET":
            assert response.status_code == 200, response.text  # a read: the browser keeps it from the page
        else:
            assert "origin" in refusal(response, 403)


@pytest.mark.mockagent(manual_clock=True)
def test_a_state_change_from_the_servers_own_origin_or_no_browser_is_served(
    mockagent_server: ThreadedMockServer,
) -> None:
    own = mockagent_server.url  # http://127.0.0.1:PORT
    assert advance(mockagent_server, {"Origin": own}).json()["now"] == 30
    assert advance(mockagent_server, {}).json()["now"] == 60


# ── the token ────────────────────────────────────────────────────────────────────────────────────────


@pytest.fixture
def token_server() -> Iterator[ThreadedMockServer]:
    with ThreadedMockServer(Settings(scenario_paths=(INSTANT,), admin_token=TOKEN, manual_clock=True)) as server:
        yield server


@pytest.mark.parametrize(("method", "path"), ADMIN_ROUTES)
@pytest.mark.parametrize(
    "authorization", [None, "Bearer wrong-token-of-the-admin", f"Basic {TOKEN}", f"Bearer {TOKEN}x", "Bearer"]
)
def test_with_a_token_every_admin_route_needs_it(
    token_server: ThreadedMockServer, method: str, path: str, authorization: str | None
) -> None:
    headers = {"Authorization": authorization} if authorization is not None else {}
    response = httpx.request(method, admin(token_server, path), headers=headers, timeout=SAFETY)
    assert "token" in refusal(response, 401)
    assert response.headers["WWW-Authenticate"].startswith("Bearer")
    assert TOKEN not in response.text


def test_with_the_token_the_admin_api_answers(token_server: ThreadedMockServer) -> None:
    headers = {"Authorization": f"Bearer {TOKEN}"}
    assert advance(token_server, headers).json()["now"] == 30
    assert httpx.get(admin(token_server, "/journal"), headers=headers, timeout=SAFETY).status_code == 200


def test_with_a_token_health_and_the_platforms_need_none(token_server: ThreadedMockServer) -> None:
    assert httpx.get(admin(token_server, "/health"), timeout=SAFETY).json()["status"] == "ok"
    response = httpx.post(
        f"{token_server.base_url('beeos')}/api/v1/agents/echo/invoke",
        json={"message": "hi"},
        headers=BEEOS_AUTH,
        timeout=SAFETY,
    )
    assert response.status_code == 200, response.text
    # Health still checks the Host: the token is no reason to answer a rebinding page.
    refusal(httpx.get(admin(token_server, "/health"), headers={"Host": "rebind.attacker.example"}), 403)


# ── exposure ─────────────────────────────────────────────────────────────────────────────────────────


@pytest.mark.parametrize("host", ["0.0.0.0", "::", "192.0.2.1", "mockagent.example"])  # refused before binding
async def test_a_server_beyond_loopback_without_a_token_refuses_to_start(host: str) -> None:
    server = MockServer(Settings(), host, 0)
    with pytest.raises(MockAgentError, match="admin API"):
        await server.start()
    assert server.app is None  # refused before anything was built or bound


async def test_a_short_token_is_refused() -> None:
    with pytest.raises(MockAgentError, match="at least 16 characters"):
        await MockServer(Settings(admin_token="short"), "127.0.0.1", 0).start()


def test_without_the_admin_api_only_the_platforms_are_served() -> None:
    with ThreadedMockServer(Settings(admin_api=False)) as server:
        refusal(httpx.get(admin(server, "/health"), timeout=SAFETY), 404)
        refusal(httpx.get(admin(server, "/agentos/ingest/runs"), timeout=SAFETY), 404)
        response = httpx.post(
            f"{server.base_url('beeos')}/api/v1/agents/echo/invoke",
            json={"message": "hi"},
            headers=BEEOS_AUTH,
            timeout=SAFETY,
        )
        assert response.json()["data"]["text"] == "Echo: hi"
