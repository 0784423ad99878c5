"""The web page (docs/ui.md) in a real browser: headless Chromium driven by Playwright, against a real
server with a manual clock — a client's request shows up live, a stream's events fill the run's timeline as
they are sent, the page's buttons decide paused runs, force a 429, move the clock, and show a broken
reload's errors; the client sees each outcome. Also its token rule and its files, without a browser.

The browser waits on conditions (Playwright's `expect`), never on time; docs/ui/*.png are written here.
"""

from __future__ import annotations

import fnmatch
import re
import tomllib
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from html.parser import HTMLParser
from importlib import resources
from pathlib import Path
from typing import Any

import httpx
import pytest
from admin_contract import check_frames
from credentials import AGENTOS, BEEOS, JWT
from playwright.sync_api import Browser, Page, Route, expect
from sse import json_frames
from ui_browser import VIEWPORT, PageWatch, launch, missing_browser

from mockagent.admin.ui import ASSETS
from mockagent.model import PlatformKey
from mockagent.replay.modes import RecordMode
from mockagent.server import ThreadedMockServer
from mockagent.settings import Settings

UI_AGENTS = "tests/scenarios/ui.yaml"
pytestmark = pytest.mark.mockagent(manual_clock=True, with_builtin=True, scenarios=[UI_AGENTS])
SAFETY = 10.0  # real seconds: a bound on what should happen at once, never a measurement
TOKEN = "a-token-of-the-admin-0123456789"
PAGE = "/__mockagent/ui"
XPANDER = {"x-api-key": "key-1"}
XPANDER_BODY = {"input": {"text": "hi", "user": {"id": "u-1", "email": "ada@example.com"}}}
ZEUS_LLM = {"baseUrl": "https://api.openai.com/v1", "apiKey": "sk-x", "modelName": "gpt-4o"}
ROOT = Path(__file__).resolve().parent.parent


@pytest.fixture(scope="module")
def browser() -> Iterator[Browser]:
    yield from launch()


@pytest.fixture
def watch(browser: Browser) -> Iterator[PageWatch]:
    context = browser.new_context(viewport=VIEWPORT, color_scheme="light")
    try:
        yield PageWatch(context.new_page())
    finally:
        context.close()


def open_page(watch: PageWatch, server: ThreadedMockServer, path: str = PAGE) -> Page:
    """The page, once its event feed is connected (what it shows from then on is live)."""
    page = watch.page
    page.goto(server.url + path)
    expect(page.locator("#live")).to_have_text("live")
    return page


def agentos_invoke(server: ThreadedMockServer, agent: str) -> str:
    response = httpx.post(
        f"{server.base_url('agentos')}/api/v1/agents/{agent}/invoke", json={}, headers=AGENTOS, timeout=SAFETY
    )
    assert response.status_code == 202, response.text
    run_id: str = response.json()["data"]["run_id"]
    return run_id


def agentos_poll(server: ThreadedMockServer, run_id: str) -> dict[str, Any]:
    response = httpx.get(f"{server.base_url('agentos')}/api/v1/runs/{run_id}", headers=AGENTOS, timeout=SAFETY)
    assert response.status_code == 200, response.text
    data: dict[str, Any] = response.json()["data"]
    return data


def open_run(page: Page, agent: str) -> None:
    page.get_by_role("tab", name="Runs").click()
    page.locator("#runs tr", has_text=agent).click()
    expect(page.locator("#run-detail h2")).to_contain_text(agent)


# ── in the browser ───────────────────────────────────────────────────────────────────────────────────


def test_the_page_loads_clean_and_a_clients_request_appears_live(
    mockagent_server: ThreadedMockServer, watch: PageWatch
) -> None:
    page = open_page(watch, mockagent_server)
    expect(page.locator("#requests-empty")).to_be_visible()
    agentos_invoke(mockagent_server, "approve-me")
    row = page.locator("#requests tr", has_text="POST /api/v1/agents/approve-me/invoke")  # below /agentos
    expect(row).to_contain_text("202")
    expect(row).to_contain_text("approve-me")
    expect(row).to_contain_text("reply")  # what decided the answer
    row.focus()
    page.keyboard.press("Enter")  # rows open from the keyboard too
    detail = page.locator("#request-detail")
    expect(detail).to_contain_text("decided by")
    expect(detail).to_contain_text("tests/scenarios/ui.yaml")
    expect(detail.locator("mark.secret").first).to_contain_text("<<secret:")  # the key, redacted and marked
    page.locator("#req-platform").select_option("beeos")
    expect(row).to_have_count(0)
    page.locator("#req-platform").select_option("")
    expect(row).to_have_count(1)
    watch.screenshot("requests")
    page.keyboard.press("3")
    expect(page.locator("#view-controls")).to_be_visible()
    expect(page.locator("#view-requests")).to_be_hidden()
    expect(page.get_by_role("tab", name="Controls")).to_be_focused()
    page.keyboard.press("ArrowLeft")  # the tab list, as ARIA describes one
    expect(page.locator("#view-runs")).to_be_visible()
    expect(page.locator("#runs tr", has_text="approve-me")).to_contain_text("paused")
    page.locator("#theme").click()
    expect(page.locator("html")).to_have_attribute("data-theme", "dark")
    assert watch.errors == []


def test_a_streams_events_fill_the_timeline_as_they_are_sent(
    mockagent_server: ThreadedMockServer, watch: PageWatch
) -> None:
    page = open_page(watch, mockagent_server)
    invoke = mockagent_server.base_url("zeus") + "/api/agent/invoke"
    body = {"message": "hello there", "llm_config": ZEUS_LLM}
    with ThreadPoolExecutor(1) as pool:
        pending = pool.submit(
            httpx.post, invoke, json=body, params={"agent": "echo"}, headers={"Authorization": "Bearer " + JWT}
        )
        open_run(page, "echo")
        texts = page.locator('#run-detail .tl-event[data-type="text"]')
        expect(texts).to_have_count(0)
        mockagent_server.until_waiting(1)  # the stream waits for its first frame
        for sent in (1, 2, 3):  # echo says it word by word, one every 0.03 s
            mockagent_server.advance(0.03)
            expect(texts).to_have_count(sent)
        mockagent_server.advance(1)
        expect(page.locator('#run-detail .tl-event[data-type="completed"]')).to_have_count(1)
        events = page.locator("#run-detail .tl-event").count()
        expect(page.locator("#run-detail .track .mark")).to_have_count(events)  # one mark per event
        response = pending.result(timeout=SAFETY)
    chunks = [frame["content"] for frame in json_frames(response.text) if frame["type"] == "message_chunk"]
    assert "".join(chunks) == "Echo: hello there"
    expect(page.locator("#run-status")).to_have_text("completed")
    expect(page.locator("#run-detail .facts")).not_to_contain_text("null")  # nothing absent drawn as a value
    expect(page.locator("#runs tr", has_text="echo").locator("td").last).to_have_text("hello there")  # its message
    frames = page.locator("#platform-frames .frames li")
    expect(frames.filter(has_text="message_chunk")).to_have_count(3)  # the same run, as Zeus sent it
    watch.screenshot("stream")
    page.get_by_role("tab", name="Requests").click()
    page.locator("#requests tr", has_text="/api/agent/invoke").click()
    detail = page.locator("#request-detail")
    # A stream's frames come first, in view; the request and the headers are folded below them.
    expect(detail.locator("h3").first).to_have_text(re.compile(r"^Response: \d+ frames$"))
    expect(detail.locator(".frames li").filter(has_text="message_chunk")).to_have_count(3)
    expect(detail.locator(".frames li").first).to_be_in_viewport()
    expect(detail.locator("details")).not_to_have_attribute("open", "")
    expect(detail.locator("details summary")).to_have_text("Request, and the response's headers")
    expect(detail).to_contain_text("session clock")  # the clock's time is in the detail; the list has the real one
    watch.screenshot("stream-request")
    assert watch.errors == []


def test_approve_on_a_paused_agentos_run_lets_the_clients_poll_complete(
    mockagent_server: ThreadedMockServer, watch: PageWatch
) -> None:
    page = open_page(watch, mockagent_server)
    run_id = agentos_invoke(mockagent_server, "approve-me")
    open_run(page, "approve-me")
    expect(page.locator("#paused-count")).to_have_text("1")
    decide = page.locator(".decide")
    expect(decide).to_contain_text("Waiting for approval")
    changed = '{"to": "dev@example.com"}'
    page.locator("#approve-args").fill(changed)
    # The client polls meanwhile: the page draws the run again, and the arguments being changed stay.
    assert agentos_poll(mockagent_server, run_id)["status"] == "awaiting_approval"
    expect(page.locator("#requests tr", has_text=f"/runs/{run_id}")).to_have_count(1)
    expect(page.locator("#approve-args")).to_have_value(changed)
    watch.screenshot("paused")
    page.get_by_role("button", name="Approve").click()
    expect(page.locator("#run-status")).to_have_text("completed")
    expect(decide).to_have_count(0)
    polled = agentos_poll(mockagent_server, run_id)
    assert (polled["status"], polled["output"]) == ("completed", {"text": "Email sent to dev@example.com."})
    assert watch.errors == []


def test_answer_on_a_paused_xpander_task_lets_the_clients_poll_complete(
    mockagent_server: ThreadedMockServer, watch: PageWatch
) -> None:
    page = open_page(watch, mockagent_server)
    base = mockagent_server.base_url("xpander") + "/v1"
    created = httpx.post(f"{base}/agents/ask-me/invoke/async", json=XPANDER_BODY, headers=XPANDER, timeout=SAFETY)
    assert created.status_code in (200, 201), created.text
    task_id = created.json()["id"]
    open_run(page, "ask-me")
    expect(page.locator(".decide .question")).to_have_text("Which environment?")
    assert httpx.get(f"{base}/tasks/{task_id}", headers=XPANDER).json()["status"] == "paused"
    page.get_by_role("button", name="staging").click()
    expect(page.locator("#run-status")).to_have_text("completed")
    done = httpx.get(f"{base}/tasks/{task_id}", headers=XPANDER).json()
    assert (done["status"], done["result"]) == ("completed", "Deploying to staging.")
    assert watch.errors == []


def test_a_429_forced_from_the_page_is_the_clients_next_answer(
    mockagent_server: ThreadedMockServer, watch: PageWatch
) -> None:
    page = open_page(watch, mockagent_server)
    page.get_by_role("tab", name="Controls").click()
    page.locator("#fault-spec").select_option("429, retry-after=5")
    page.locator("#fault-times").fill("1")
    page.locator("#fault-platform").select_option("agentos")
    page.get_by_role("button", name="Fail next").click()
    expect(page.locator("#fault-rules")).to_contain_text("429")
    url = f"{mockagent_server.base_url('agentos')}/api/v1/agents/approve-me/invoke"
    failed = httpx.post(url, json={}, headers=AGENTOS, timeout=SAFETY)
    assert failed.status_code == 429
    assert failed.headers["Retry-After"] == "5"
    assert httpx.post(url, json={}, headers=AGENTOS, timeout=SAFETY).status_code == 202  # only the next one
    page.get_by_role("tab", name="Requests").click()
    expect(page.locator("#requests .badge", has_text=re.compile(r"^429$"))).to_have_count(1)
    assert watch.errors == []


def test_advancing_the_manual_clock_from_the_page_completes_the_slow_agent(
    mockagent_server: ThreadedMockServer, watch: PageWatch
) -> None:
    page = open_page(watch, mockagent_server)
    page.get_by_role("tab", name="Controls").click()
    expect(page.locator("#clock-facts")).to_contain_text("manual")
    url = f"{mockagent_server.base_url('agentos')}/api/v1/agents/slow/invoke"
    with ThreadPoolExecutor(1) as pool:
        waiting = pool.submit(httpx.post, url, json={}, headers=AGENTOS, timeout=SAFETY)
        mockagent_server.until_waiting()  # the client blocks on the run, the run on the clock
        expect(page.locator("#clock-facts")).to_contain_text(re.compile(r"timers waiting[1-9]"))
        page.locator("#advance-seconds").fill("3")
        page.get_by_role("button", name="Advance", exact=True).click()
        answered = waiting.result(timeout=SAFETY)
    assert answered.status_code == 200, answered.text
    assert answered.json()["data"]["output"] == {"text": "Done after a while."}
    expect(page.locator("#clock")).to_contain_text("3.000 s")
    watch.screenshot("controls")
    assert watch.errors == []


def test_a_broken_scenario_reload_shows_its_errors(watch: PageWatch, tmp_path: Path) -> None:
    agents = tmp_path / "agents.yaml"  # a server of its own, below: its scenario file is the test's to break
    agents.write_text("agents:\n  - id: greeter\n    script:\n      - say: hi\n", encoding="utf-8")
    with ThreadedMockServer(Settings(scenario_paths=(agents,))) as server:
        page = open_page(watch, server)
        page.get_by_role("tab", name="Scenarios").click()
        expect(page.locator("#scenarios")).to_contain_text("greeter")
        expect(page.locator("#scenarios")).not_to_contain_text("null")  # nothing absent drawn as a value
        agents.write_text("agents:\n  - id: greeter\n    script:\n      - sya: hi\n", encoding="utf-8")
        page.get_by_role("button", name="Reload scenarios").click()
        errors = page.locator("#reload-errors")
        expect(errors).to_be_visible()
        expect(errors).to_contain_text(re.compile(re.escape(str(agents)) + r":4:\d+: "))
        expect(page.locator("#scenarios")).to_contain_text("greeter")  # the previous scenarios keep serving
        watch.screenshot("reload-error")
        # The browser reports the 422 itself; nothing else may go wrong.
        assert all("status of 422" in error for error in watch.errors), watch.errors
        agents.write_text("agents:\n  - id: welcomer\n    script:\n      - say: hi\n", encoding="utf-8")
        page.get_by_role("button", name="Reload scenarios").click()
        expect(errors).to_be_hidden()
        expect(page.locator("#scenarios")).to_contain_text("welcomer")


def test_the_token_is_given_once_and_kept_as_a_cookie(watch: PageWatch) -> None:
    with ThreadedMockServer(Settings(admin_token=TOKEN)) as server:
        page = open_page(watch, server, f"{PAGE}?token={TOKEN}")
        assert page.url == server.url + PAGE  # the token is not left in the address bar
        invoke = f"{server.base_url('beeos')}/api/v1/agents/echo/invoke"
        httpx.post(invoke, json={"message": "hi"}, headers=BEEOS, timeout=SAFETY)
        expect(page.locator("#requests tr", has_text="/api/v1/agents/echo/invoke")).to_have_count(1)
        assert watch.errors == []


def recorder(folder: Path, upstream: ThreadedMockServer) -> ThreadedMockServer:
    """A server recording AgentOS from `upstream` into `folder`."""
    agentos = ((PlatformKey.AGENTOS, upstream.base_url("agentos")),)
    return ThreadedMockServer(Settings(cassettes=folder, record_mode=RecordMode.ALL, upstreams=agentos))


def test_recorded_interactions_appear_with_their_redactions_marked(
    mockagent_server: ThreadedMockServer, watch: PageWatch, tmp_path: Path
) -> None:
    with recorder(tmp_path, mockagent_server) as server:
        page = open_page(watch, server)
        page.get_by_role("tab", name="Recording").click()
        expect(page.locator("#recorded-empty")).to_be_visible()
        agentos_invoke(server, "approve-me")
        recorded = page.locator("#recorded li")
        expect(recorded).to_contain_text("agentos POST /api/v1/agents/approve-me/invoke → 202")
        expect(recorded.locator("mark.secret")).to_contain_text(["request header Authorization"])
        watch.screenshot("recording")
        assert "approve-me/invoke" in (tmp_path / "agentos.yaml").read_text("utf-8")
        assert AGENTOS["Authorization"] not in (tmp_path / "agentos.yaml").read_text("utf-8")
        assert watch.errors == []


def missing(server: ThreadedMockServer, run: str = "nope") -> None:
    """A cheap journaled request: a poll of a run AgentOS does not know (404)."""
    url = f"{server.base_url('agentos')}/api/v1/runs/{run}"
    assert httpx.get(url, headers=AGENTOS, timeout=SAFETY).status_code == 404


def test_the_request_list_stays_bounded(mockagent_server: ThreadedMockServer, watch: PageWatch) -> None:
    page = open_page(watch, mockagent_server, PAGE + "?rows=5")  # the bound, lowered for the test (500)
    for n in range(8):
        missing(mockagent_server, f"r-{n}")
    rows = page.locator("#requests tr")
    expect(rows.first).to_contain_text("/runs/r-7")
    expect(rows).to_have_count(5)  # the oldest went, from the page too
    expect(page.locator("#requests")).not_to_contain_text("/runs/r-2")
    expect(rows.last).to_contain_text("/runs/r-3")
    assert watch.errors == []


def test_one_tab_stop_per_list_and_per_tab_strip(mockagent_server: ThreadedMockServer, watch: PageWatch) -> None:
    page = open_page(watch, mockagent_server)
    for n in range(3):
        missing(mockagent_server, f"r-{n}")
    rows = page.locator("#requests tr")
    expect(rows).to_have_count(3)
    stops = page.locator('#requests tr[tabindex="0"]')
    expect(stops).to_have_count(1)
    expect(page.locator('[role=tab][tabindex="0"]')).to_have_count(1)
    page.locator("#req-clear").focus()
    page.keyboard.press("Tab")  # from the button before it, into the list: its one stop
    expect(rows.first).to_be_focused()
    page.keyboard.press("ArrowDown")
    expect(rows.nth(1)).to_be_focused()
    expect(stops).to_have_count(1)
    expect(rows.nth(1)).to_have_attribute("tabindex", "0")  # Tab comes back to where the arrows left it
    page.keyboard.press("End")
    expect(rows.last).to_be_focused()
    page.keyboard.press("Tab")  # out of the list at once, not through every row
    expect(rows.last).not_to_be_focused()
    expect(page.locator("#requests tr:focus")).to_have_count(0)
    page.get_by_role("tab", name="Requests").focus()
    page.keyboard.press("ArrowRight")
    expect(page.get_by_role("tab", name="Runs")).to_be_focused()
    expect(page.get_by_role("tab", name="Runs")).to_have_attribute("tabindex", "0")
    expect(page.locator('[role=tab][tabindex="0"]')).to_have_count(1)
    assert watch.errors == []


def test_the_header_fits_one_line_and_the_lists_their_panes(
    mockagent_server: ThreadedMockServer, watch: PageWatch
) -> None:
    page = open_page(watch, mockagent_server)
    agentos_invoke(mockagent_server, "approve-me")
    row = page.locator("#requests tr", has_text="approve-me")
    expect(row).to_contain_text("202")
    bar = page.locator(".bar").bounding_box()
    theme = page.locator("#theme").bounding_box()
    title = page.locator(".bar h1").bounding_box()
    assert bar is not None
    assert theme is not None
    assert title is not None
    assert theme["y"] < title["y"] + title["height"]  # the theme button on the title's line
    assert bar["height"] < 80
    detail = page.locator("#request-detail").bounding_box()
    assert detail is not None
    assert detail["y"] >= bar["y"] + bar["height"]  # below the header
    overflows = "el => el.scrollWidth - el.clientWidth"
    assert page.locator("#view-requests .list").evaluate(overflows) <= 0  # no sideways scrolling
    assert re.fullmatch(r"\d\d:\d\d:\d\d", row.locator("td").nth(1).inner_text())  # the time of day
    path = row.locator(".path")
    assert path.get_attribute("title") == "POST /agentos/api/v1/agents/approve-me/invoke (invoke_agent)"
    page.get_by_role("tab", name="Runs").click()
    run = page.locator("#runs tr", has_text="approve-me")
    expect(run).to_contain_text("paused")
    expect(run.locator("td").last).to_have_text("")  # an empty input: no message, not "{}"
    assert page.locator("#view-runs .list").evaluate(overflows) <= 0
    assert watch.errors == []


def test_failing_buttons_tell_the_servers_error(mockagent_server: ThreadedMockServer, watch: PageWatch) -> None:
    page = open_page(watch, mockagent_server)
    page.get_by_role("tab", name="Controls").click()
    toast = page.locator("#toast")
    reset_one = page.get_by_role("button", name="reset session default")
    expect(reset_one).to_have_count(1)

    def refuse(route: Route) -> None:
        if route.request.method == "DELETE":
            route.fulfill(status=503, json={"error": "busy: try again"})
        else:
            route.continue_()

    page.route("**/__mockagent/sessions**", refuse)
    page.route("**/__mockagent/faults", refuse)
    for button in (page.get_by_role("button", name="Reset every session"), reset_one):
        button.click()
        expect(toast).to_have_text("busy: try again")
        expect(toast).to_have_class(re.compile(r"\bbad\b"))
        page.locator("#toast").evaluate("el => (el.hidden = true)")  # the next one shows afresh
    page.get_by_role("button", name="Clear added faults").click()
    expect(toast).to_have_text("busy: try again")
    page.unroute("**/__mockagent/sessions**")
    page.unroute("**/__mockagent/faults")
    reset_one.click()
    expect(toast).to_have_text("session default reset")
    expect(toast).not_to_have_class(re.compile(r"\bbad\b"))
    page.get_by_role("button", name="Clear added faults").click()
    expect(toast).to_have_text("0 rules cleared")
    page.get_by_role("button", name="Reset every session").click()
    expect(toast).to_have_text(re.compile(r"^reset: "))
    # The browser reports the 503s itself; nothing else may go wrong.
    assert watch.errors
    assert all("status of 503" in error for error in watch.errors), watch.errors


def test_after_a_server_restart_the_page_reads_everything_again(watch: PageWatch) -> None:
    failed: list[str] = []
    watch.page.on("requestfailed", lambda request: failed.append(request.url))
    first = ThreadedMockServer(Settings()).start()
    port = first.server.port
    try:
        page = open_page(watch, first)
        missing(first, "before")
        expect(page.locator("#requests tr", has_text="/runs/before")).to_have_count(1)
    finally:
        first.stop()
    expect(page.locator("#down")).to_be_visible()  # the server is not answering, and the page says so
    expect(page.locator("#live")).to_have_text("reconnecting…")
    down = len(failed)
    with ThreadedMockServer(Settings(), port=port) as second:
        missing(second, "after")  # its id is 1 again, as the old one's was
        # The browser tries the feed again by itself (after about 3 s): a bound, never a measure.
        expect(page.locator("#toast")).to_contain_text("restarted", timeout=SAFETY * 1000)
        expect(page.locator("#down")).to_be_hidden()
        expect(page.locator("#requests tr", has_text="/runs/after")).to_have_count(1)
        expect(page.locator("#requests tr", has_text="/runs/before")).to_have_count(0)
    # While the server was away, the page polled nothing (the browser's own retries of the feed aside).
    assert [url for url in failed[down:] if "/__mockagent/events" not in url] == []
    assert all("ERR_CONNECTION_REFUSED" in error for error in watch.errors), watch.errors


# ── without a browser ────────────────────────────────────────────────────────────────────────────────


def test_without_a_browser_the_tests_skip_but_fail_under_ci() -> None:
    with pytest.raises(pytest.skip.Exception):
        missing_browser(ci=False)
    with pytest.raises(pytest.fail.Exception, match="under CI"):
        missing_browser(ci=True)


def test_the_token_rule() -> None:
    with ThreadedMockServer(Settings(admin_token=TOKEN)) as server, httpx.Client(base_url=server.url) as client:
        assert client.get(PAGE, headers={"Host": "rebound.example"}).status_code == 403  # the Host rule first
        asked = client.get(PAGE)
        assert asked.status_code == 401
        assert asked.headers["Content-Type"].startswith("text/html")
        assert f"{PAGE}?token=" in asked.text
        wrong = client.get(PAGE, params={"token": TOKEN[:-1] + "x"})
        assert (wrong.status_code, "not the admin token" in wrong.text) == (401, True)
        assert "Set-Cookie" not in wrong.headers
        assert client.get("/__mockagent/ui/app.js").status_code == 401
        given = client.get(PAGE, params={"token": TOKEN})
        assert given.status_code == 303
        assert given.headers["Location"] == PAGE
        cookie = given.headers["Set-Cookie"]
        assert cookie.startswith(f"mockagent_admin={TOKEN};")
        assert {"HttpOnly", "SameSite=Strict", "Path=/__mockagent"} <= {part.strip() for part in cookie.split(";")}
        # The cookie is the token for every admin route, the event feed included.
        assert client.get(PAGE).status_code == 200
        assert client.get("/__mockagent/stats").status_code == 200
        with client.stream("GET", "/__mockagent/events") as feed:
            assert feed.status_code == 200
            assert next(feed.iter_bytes()).startswith(b": mockagent events")
        # … and still no way in for another origin's page.
        foreign = client.post("/__mockagent/faults", json={"fault": "500"}, headers={"Origin": "http://evil.example"})
        assert foreign.status_code == 403
        client.cookies.set("mockagent_admin", "not-the-token-at-all", path="/__mockagent")
        assert client.get("/__mockagent/stats").status_code == 401


def test_the_feed_tells_of_each_recorded_interaction(mockagent_server: ThreadedMockServer, tmp_path: Path) -> None:
    with (
        recorder(tmp_path, mockagent_server) as server,
        httpx.Client(base_url=server.url, timeout=SAFETY) as client,
        client.stream("GET", "/__mockagent/events", params={"platform": "agentos"}) as feed,
    ):
        lines = feed.iter_lines()
        assert next(lines).startswith(": mockagent events")  # subscribed: what follows is told
        agentos_invoke(server, "approve-me")
        text = ""
        while "event: cassette.recorded" not in text:
            text += next(lines) + "\n"
        text += next(lines) + "\n"  # its data
    (event,) = [e for e in check_frames(text) if e["type"] == "cassette.recorded"]
    assert event["cassette"] == "agentos.yaml"
    assert event["index"] == 0
    assert (event["interaction"]["platform"], event["interaction"]["status"]) == ("agentos", 202)
    assert "request header Authorization" in event["interaction"]["redacted"]
    assert "aos_ws_t" not in text  # the places redaction changed, never what was there


def test_no_admin_api_no_page() -> None:
    with ThreadedMockServer(Settings(admin_api=False)) as server:
        assert httpx.get(server.url + PAGE).status_code == 404


class _Tags(HTMLParser):
    def __init__(self) -> None:
        super().__init__()
        self.inline: list[str] = []  # inline script, inline style, handlers: what the policy would block

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        names = {name for name, _ in attrs}
        if (tag == "script" and "src" not in names) or tag == "style" or "style" in names:
            self.inline.append(tag)
        self.inline += [name for name in names if name.startswith("on")]


def test_the_page_is_served_uncached_under_a_strict_policy(mockagent_server: ThreadedMockServer) -> None:
    for name in ("", "/app.js", "/style.css"):
        response = httpx.get(mockagent_server.url + PAGE + name)
        assert response.status_code == 200
        assert response.headers["Cache-Control"] == "no-store"
        policy = response.headers["Content-Security-Policy"]
        assert "default-src 'self'" in policy
        assert "script-src 'self';" in policy  # no 'unsafe-inline', nothing from elsewhere
    page = httpx.get(mockagent_server.url + PAGE).text
    tags = _Tags()
    tags.feed(page)
    assert tags.inline == []
    assert re.search(r"https?://", page) is None  # nothing from a CDN: it works offline


def test_the_package_carries_the_page() -> None:
    package_data = tomllib.loads((ROOT / "pyproject.toml").read_text("utf-8"))["tool"]["setuptools"]["package-data"]
    for name in ASSETS:
        assert resources.files("mockagent").joinpath("ui", name).is_file()
        assert any(fnmatch.fnmatch(f"ui/{name}", pattern) for pattern in package_data["mockagent"]), name
