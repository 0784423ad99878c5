// mockagent's web page (docs/ui.md): built only on the admin API (/__mockagent/…) and its event feed.
// Plain DOM, no framework: every value from the server goes in as text (never as HTML).

const API = "/__mockagent";
const PLATFORMS = ["beeos", "agentos", "xpander", "zeus", "aster"];
// The list stays quick to draw however long a demo runs (?rows=N sets another bound, for a test).
const MAX_ROWS = Number(new URLSearchParams(location.search).get("rows")) || 500;

const state = {
  session: "default",
  requests: new Map(), // journal id → entry summary
  runs: new Map(), // run id → run (brief or summary)
  selectedRequest: null,
  selectedRun: null,
  runDetail: null, // the selected run as GET /runs/ID answered, then grown by the feed
  sessions: new Set(["default"]),
  clock: null,
  online: false, // the event feed is connected: while it is not, nothing polls the server
  lost: false, // the feed was lost since the lists were read: read them again once it is back
  started: null, // the server's start time (/health): another one is another server
};

const $ = (id) => document.getElementById(id);

// h("td", {class: "x"}, "text", child…): an element; strings become text nodes.
function h(tag, attrs = {}, ...children) {
  const el = document.createElement(tag);
  for (const [key, value] of Object.entries(attrs)) {
    if (value === null || value === undefined || value === false) continue;
    if (key.startsWith("on")) el.addEventListener(key.slice(2), value);
    else if (key === "dataset") Object.assign(el.dataset, value);
    else el.setAttribute(key, value === true ? "" : String(value));
  }
  for (const child of children.flat()) {
    if (child === null || child === undefined || child === false) continue;
    el.append(child instanceof Node ? child : document.createTextNode(String(child)));
  }
  return el;
}

async function api(method, path, body) {
  const init = { method, headers: {} };
  if (body !== undefined) {
    init.body = JSON.stringify(body);
    init.headers["Content-Type"] = "application/json";
  }
  let response;
  try {
    response = await fetch(API + path, init);
  } catch {
    return { ok: false, status: 0, data: { error: "the server does not answer" } };
  }
  const text = await response.text();
  let data = null;
  try {
    data = text ? JSON.parse(text) : null;
  } catch {
    data = { error: text };
  }
  // A failure always carries a message to show, whatever the body was.
  if (!response.ok && !(data && typeof data === "object" && data.error)) data = { error: `the server answered ${response.status}${text ? ": " + text.slice(0, 200) : ""}` };
  return { ok: response.ok, status: response.status, data };
}

function withSession(path, session = state.session) {
  return path + (path.includes("?") ? "&" : "?") + "session=" + encodeURIComponent(session);
}

function toast(message, bad = false) {
  const el = $("toast");
  el.textContent = message;
  el.className = bad ? "toast bad" : "toast";
  el.hidden = false;
  clearTimeout(toast.timer);
  toast.timer = setTimeout(() => (el.hidden = true), 4000);
}

// A button's outcome: what went right, or the server's error (never a stale toast or `undefined`).
function told(answer, done) {
  if (answer.ok) toast(done(answer.data));
  else toast((answer.data && answer.data.error) || `failed: HTTP ${answer.status}`, true);
}

const seconds = (value) => (value === null || value === undefined ? "–" : `${Number(value).toFixed(3)} s`);
const json = (value) => (typeof value === "string" ? value : JSON.stringify(value, null, 2));
const short = (id) => (id && id.length > 10 ? id.slice(0, 8) + "…" : id || "");

function statusClass(status) {
  if (status === null || status === undefined) return "st-open";
  if (typeof status === "number") return status >= 500 ? "st-5" : status >= 400 ? "st-4" : "st-2";
  return "st-" + status;
}

// ── views and keyboard ───────────────────────────────────────────────────────────────────────────

function show(view) {
  for (const tab of document.querySelectorAll("[role=tab]")) {
    const on = tab.dataset.view === view;
    tab.setAttribute("aria-selected", String(on));
    tab.tabIndex = on ? 0 : -1; // one Tab stop for the strip: the arrows move within it
    $("view-" + tab.dataset.view).hidden = !on;
  }
  if (view === "controls") refreshControls();
  if (view === "scenarios") loadScenarios();
}

function rowKeys(event, open) {
  const row = event.currentTarget;
  const moves = {
    ArrowDown: row.nextElementSibling,
    ArrowUp: row.previousElementSibling,
    Home: row.parentElement.firstElementChild,
    End: row.parentElement.lastElementChild,
  };
  if (event.key === "Enter" || event.key === " ") {
    event.preventDefault();
    open();
  } else if (event.key in moves) {
    event.preventDefault();
    if (moves[event.key]) moves[event.key].focus(); // `rove` makes it the list's Tab stop
  }
}

// A list is one Tab stop (a roving tabindex): the row last focused, else the selected one, else the first.
function rove(body) {
  const current = body.querySelector('tr[tabindex="0"]');
  if (current && body.dataset.moved) return;
  const row = body.querySelector("tr.selected") || body.firstElementChild;
  if (current) current.tabIndex = -1;
  if (row) row.tabIndex = 0;
}

function roving(body) {
  body.addEventListener("focusin", (event) => {
    const row = event.target.closest("tr");
    if (!row || row.parentElement !== body) return;
    for (const other of body.querySelectorAll('tr[tabindex="0"]')) other.tabIndex = -1;
    row.tabIndex = 0;
    body.dataset.moved = "yes"; // from now on the stop stays where the person left it
  });
}

// The tab list as ARIA describes one: arrows move between the tabs.
function tabKeys(event) {
  if (event.key !== "ArrowLeft" && event.key !== "ArrowRight") return;
  const tabs = [...document.querySelectorAll("[role=tab]")];
  const step = event.key === "ArrowRight" ? 1 : tabs.length - 1;
  const next = tabs[(tabs.indexOf(event.currentTarget) + step) % tabs.length];
  show(next.dataset.view);
  next.focus();
}

document.addEventListener("keydown", (event) => {
  const typing = event.target.closest("input, select, textarea");
  if (typing || event.altKey || event.ctrlKey || event.metaKey) return;
  const tabs = [...document.querySelectorAll("[role=tab]")];
  const index = Number(event.key) - 1;
  if (index >= 0 && index < tabs.length) {
    show(tabs[index].dataset.view);
    tabs[index].focus();
  }
});

// ── theme ────────────────────────────────────────────────────────────────────────────────────────

function applyTheme(theme) {
  if (theme) document.documentElement.dataset.theme = theme;
  else delete document.documentElement.dataset.theme;
}

function currentTheme() {
  return document.documentElement.dataset.theme || (matchMedia("(prefers-color-scheme: dark)").matches ? "dark" : "light");
}

// ── requests ─────────────────────────────────────────────────────────────────────────────────────

function requestVisible(entry) {
  const session = $("req-session").value;
  const platform = $("req-platform").value;
  return (!session || entry.session === session) && (!platform || entry.platform === platform);
}

// The local time of day a request came in (the real one: sessions' clocks may be manual and differ).
function timeOfDay(epoch, millis = false) {
  const at = new Date(epoch * 1000);
  const time = [at.getHours(), at.getMinutes(), at.getSeconds()].map((n) => String(n).padStart(2, "0")).join(":");
  return millis ? `${time}.${String(at.getMilliseconds()).padStart(3, "0")}` : time;
}

// The path below the platform's prefix: the platform has a column of its own (the title tells it whole).
function localPath(entry) {
  const prefix = entry.platform ? `/${entry.platform}/` : null;
  return prefix && entry.path.startsWith(prefix) ? entry.path.slice(prefix.length - 1) : entry.path;
}

function requestRow(entry) {
  const took = entry.timings.ended !== null ? seconds(entry.timings.ended - entry.timings.received) : entry.state + "…";
  const decided = entry.decision.kind + (entry.decision.source ? ` ${entry.decision.source}` : "");
  const row = h(
    "tr",
    {
      tabindex: -1,
      dataset: { id: entry.id, state: entry.state },
      class: state.selectedRequest === entry.id ? "selected" : null,
      "aria-label": `request ${entry.id} ${entry.method} ${entry.path} ${entry.status ?? entry.state}`,
      onclick: () => selectRequest(entry.id),
      onkeydown: (event) => rowKeys(event, () => selectRequest(entry.id)),
    },
    h("td", { class: "num" }, entry.id),
    h("td", { class: "mono", title: `received at ${timeOfDay(entry.timings.real_received, true)}` }, timeOfDay(entry.timings.real_received)),
    h("td", { title: entry.session }, entry.session),
    h("td", {}, entry.platform ? h("span", { class: "chip p-" + entry.platform }, entry.platform) : "–"),
    h("td", { class: "path mono", title: `${entry.method} ${entry.path}${entry.endpoint ? " (" + entry.endpoint + ")" : ""}` }, h("bdi", {}, entry.method + " " + localPath(entry))),
    h("td", { title: entry.agent || "" }, entry.agent || "–"),
    h("td", { title: entry.explanation || decided }, entry.decision.kind, entry.fault ? h("span", { class: "chip fault" }, entry.fault) : null),
    h("td", {}, h("span", { class: "badge " + statusClass(entry.status) }, entry.status ?? entry.state)),
    h("td", { class: "num", title: took }, took),
  );
  return row;
}

function drawRequests() {
  const body = $("requests");
  const rows = [...state.requests.values()].filter(requestVisible).sort((a, b) => b.id - a.id);
  body.replaceChildren(...rows.map(requestRow));
  rove(body);
  $("requests-empty").hidden = rows.length > 0;
}

// The list holds at most MAX_ROWS requests: the oldest go, from the list and from the page.
function trimRequests() {
  while (state.requests.size > MAX_ROWS) {
    const oldest = Math.min(...state.requests.keys());
    state.requests.delete(oldest);
    $("requests").querySelector(`tr[data-id="${oldest}"]`)?.remove();
  }
}

function upsertRequest(entry) {
  state.requests.set(entry.id, entry);
  noteSession(entry.session);
  const body = $("requests");
  trimRequests();
  if (!state.requests.has(entry.id) || !requestVisible(entry)) return;
  const old = body.querySelector(`tr[data-id="${entry.id}"]`);
  const row = requestRow(entry);
  if (old) {
    const focused = document.activeElement === old;
    row.tabIndex = old.tabIndex;
    old.replaceWith(row);
    if (focused) row.focus();
  } else body.prepend(row);
  rove(body);
  $("requests-empty").hidden = true;
  if (state.selectedRequest === entry.id) loadRequest(entry.id);
}

async function selectRequest(id) {
  state.selectedRequest = id;
  for (const row of $("requests").children) row.classList.toggle("selected", Number(row.dataset.id) === id);
  await loadRequest(id);
}

function headersTable(headers) {
  return h(
    "table",
    { class: "kv" },
    Object.entries(headers || {}).map(([name, value]) => h("tr", {}, h("th", {}, name), h("td", { class: "mono" }, secretMarked(value)))),
  );
}

function secretMarked(text) {
  // Redacted values read <<secret:kind:hash>>: shown marked, so nobody takes them for the real thing.
  const parts = String(text).split(/(<<secret:[^>]*>>)/);
  return parts.map((part) => (part.startsWith("<<secret:") ? h("mark", { class: "secret", title: "redacted" }, part) : part));
}

async function loadRequest(id) {
  const { ok, data } = await api("GET", `/journal/${id}`);
  if (state.selectedRequest !== id) return;
  const pane = $("request-detail");
  if (!ok) {
    pane.replaceChildren(h("p", { class: "empty" }, data.error));
    return;
  }
  const response = data.response;
  const frames = response.frames
    ? h(
        "ol",
        { class: "frames", "aria-label": "frames" },
        response.frames.map((frame) => h("li", {}, h("span", { class: "at" }, seconds(frame.at - data.timings.received)), h("pre", {}, secretMarked(frame.data)))),
      )
    : h("pre", {}, secretMarked(response.body === null ? "(no body)" : json(response.body)));
  const request = [h("h3", {}, "Request"), headersTable(data.request.headers), h("pre", {}, secretMarked(data.request.body === null ? "(no body)" : json(data.request.body)))];
  // A stream's frames are the point of it: first, with the request and the response's headers folded below.
  const answer = response.frames
    ? [
        h("h3", {}, `Response: ${response.frames.length} frames`),
        frames,
        h("details", {}, h("summary", {}, "Request, and the response's headers"), request, h("h3", {}, "Response headers"), headersTable(response.headers)),
      ]
    : [...request, h("h3", {}, "Response"), headersTable(response.headers), frames];
  pane.replaceChildren(
    h("h2", { class: "clip", title: `${data.method} ${data.path}` }, `#${data.id} ${data.method} ${data.path}`),
    h(
      "dl",
      { class: "facts" },
      fact("session", data.session),
      fact("platform", data.platform || "–"),
      fact("endpoint", data.endpoint || "–"),
      fact("agent", data.agent || "–"),
      fact("run", data.run || "–"),
      fact("decided by", data.decision.kind + (data.decision.source ? " " + data.decision.source : "")),
      data.explanation ? fact("why", data.explanation) : null,
      data.fault ? fact("fault", data.fault) : null,
      fact("status", `${data.status ?? "–"} (${data.state})`),
      fact("took", data.timings.ended !== null ? seconds(data.timings.ended - data.timings.received) : "still open"),
      fact("received", `${timeOfDay(data.timings.real_received, true)} (session clock ${seconds(data.timings.received)})`),
    ),
    ...answer,
  );
}

function fact(name, value) {
  return [h("dt", {}, name), h("dd", {}, value)];
}

// ── runs ─────────────────────────────────────────────────────────────────────────────────────────

async function loadRuns() {
  const { ok, data } = await api("GET", withSession("/runs"));
  if (!ok) return;
  state.runs = new Map(data.map((run) => [run.id, run]));
  drawRuns();
}

function drawRuns() {
  const runs = [...state.runs.values()].reverse();
  $("runs").replaceChildren(
    ...runs.map((run) =>
      h(
        "tr",
        {
          tabindex: -1,
          dataset: { id: run.id, status: run.status },
          class: state.selectedRun === run.id ? "selected" : null,
          "aria-label": `run ${run.agent} on ${run.platform}: ${run.status}`,
          onclick: () => selectRun(run.id),
          onkeydown: (event) => rowKeys(event, () => selectRun(run.id)),
        },
        h("td", { class: "mono", title: run.id }, short(run.id)),
        h("td", {}, h("span", { class: "chip p-" + run.platform }, run.platform)),
        h("td", {}, run.agent),
        h("td", {}, h("span", { class: "badge st-" + run.status }, run.status)),
        h("td", { class: "num" }, run.created_at !== undefined ? seconds(run.created_at) : "–"),
        h("td", { title: run.message || "" }, run.message || ""),
      ),
    ),
  );
  rove($("runs"));
  $("runs-empty").hidden = runs.length > 0;
  const paused = runs.filter((run) => run.status === "paused").length;
  $("paused-count").hidden = paused === 0;
  $("paused-count").textContent = paused;
}

async function selectRun(id) {
  state.selectedRun = id;
  for (const row of $("runs").children) row.classList.toggle("selected", row.dataset.id === id);
  await loadRun(id);
}

async function loadRun(id) {
  const { ok, data } = await api("GET", withSession(`/runs/${encodeURIComponent(id)}`));
  if (state.selectedRun !== id) return;
  if (!ok) {
    $("run-detail").replaceChildren(h("p", { class: "empty" }, data.error));
    return;
  }
  state.runDetail = data;
  state.runs.set(id, { ...state.runs.get(id), ...data });
  drawRun();
  loadPlatformFrames(data);
}

const EVENT_LABEL = {
  text: (e) => e.text,
  reasoning: (e) => e.text,
  tool_call: (e) => `${e.name}(${JSON.stringify(e.args)})${e.requires_approval ? " needs approval" : ""}`,
  tool_result: (e) => `${e.name || e.call_id} → ${JSON.stringify(e.error ?? e.output)}`,
  paused: (e) => (e.kind === "approval" ? "waits for approval" : `asks: ${e.question}`),
  resumed: (e) => e.decision + (e.args ? " " + JSON.stringify(e.args) : ""),
  failed: (e) => `${e.message}${e.code ? " (" + e.code + ")" : ""}`,
  glitch: (e) => e.fault,
};

function drawRun() {
  const run = state.runDetail;
  const events = run.events;
  const start = run.created_at;
  const last = events.length ? events[events.length - 1].at : start;
  const span = Math.max(last - start, 0.001);
  const track = h(
    "div",
    { class: "track", role: "img", "aria-label": `timeline: ${events.length} events over ${seconds(last - start)}` },
    events.map((event) =>
      h("span", {
        class: "mark ev-" + event.type,
        style: null,
        title: `${seconds(event.at - start)} ${event.type}`,
        dataset: { left: Math.round(((event.at - start) / span) * 1000) / 10 },
      }),
    ),
  );
  // CSP allows no inline style attribute: place the marks through CSSOM, which it does allow.
  for (const mark of track.children) mark.style.left = mark.dataset.left + "%";
  const list = h(
    "ol",
    { class: "timeline", "aria-label": "events" },
    events.map((event) =>
      h(
        "li",
        { class: "tl-event ev-" + event.type, dataset: { type: event.type } },
        h("span", { class: "at" }, "+" + seconds(event.at - start)),
        h("span", { class: "what" }, h("span", { class: "chip ev-" + event.type }, event.type), " ", (EVENT_LABEL[event.type] || ((e) => e.reason || ""))(event)),
      ),
    ),
  );
  const pane = $("run-detail");
  const keepFrames = pane.querySelector("#platform-frames");
  // The run is drawn again as it moves; a decision being typed (changed arguments, an answer) must survive.
  const shown = pane.querySelector(".decide");
  const panel = run.pause ? (shown && shown.dataset.pause === pauseKey(run) ? shown : decisionPanel(run)) : null;
  const focused = document.activeElement;
  const parts = [
    h("h2", {}, `${run.agent} on ${run.platform} `, h("span", { class: "badge st-" + run.status, id: "run-status" }, run.status)),
    h("dl", { class: "facts" }, fact("run", run.id), fact("conversation", run.conversation), fact("reply", run.reply || "–"), run.message ? fact("message", run.message) : null),
    panel,
    !run.pause && (run.status === "running" || run.status === "queued")
      ? h("div", { class: "row" }, h("button", { type: "button", class: "danger", onclick: () => cancelRun(run.id) }, "Cancel run"))
      : null,
    h("h3", {}, "Timeline"),
    track,
    h("div", { class: "sides" }, h("section", {}, h("h3", {}, "Neutral events"), list), keepFrames || h("section", { id: "platform-frames" }, h("h3", {}, `${run.platform} frames`))),
  ];
  pane.replaceChildren(...parts.filter(Boolean));
  if (panel && panel.contains(focused)) focused.focus();
}

const pauseKey = (run) => `${run.id} ${run.pause.request_id || run.pause.kind}`;

function decisionPanel(run) {
  const pause = run.pause;
  const panel = h("section", { class: "decide", "aria-label": "decide the paused run", dataset: { pause: pauseKey(run) } });
  const decide = async (verb, body) => {
    const { ok, data } = await api("POST", withSession(`/runs/${encodeURIComponent(run.id)}/${verb}`), body);
    if (!ok) toast(data.error, true);
    else toast(`${verb}: done`);
    await loadRun(run.id);
  };
  if (pause.kind === "approval") {
    const call = pause.tool_call;
    const original = call ? JSON.stringify(call.args, null, 2) : "{}";
    const args = h("textarea", { id: "approve-args", rows: 4, "aria-label": "tool arguments as approved" }, original);
    panel.append(
      h("h3", {}, "Waiting for approval"),
      h("p", {}, pause.question || (call ? `May I call ${call.name}?` : "")),
      h("label", { class: "field column" }, "Arguments (change them to approve a modified call)", args),
      h(
        "div",
        { class: "row" },
        h(
          "button",
          {
            type: "button",
            class: "primary",
            onclick: () => {
              let changed;
              if (args.value.trim() !== original.trim()) {
                try {
                  changed = JSON.parse(args.value);
                } catch {
                  toast("The arguments are not JSON", true);
                  return;
                }
              }
              decide("approve", changed === undefined ? undefined : { args: changed });
            },
          },
          "Approve",
        ),
        h("button", { type: "button", class: "danger", onclick: () => decide("reject") }, "Reject"),
        h("button", { type: "button", class: "ghost", onclick: () => decide("cancel") }, "Cancel run"),
      ),
    );
  } else {
    const input = h("input", { id: "answer-text", "aria-label": "answer" });
    panel.append(
      h("h3", {}, "Waiting for an answer"),
      h("p", { class: "question" }, pause.question || ""),
      h("div", { class: "row" }, pause.options.map((option) => h("button", { type: "button", class: "primary option", onclick: () => decide("answer", { answer: option }) }, option))),
      h(
        "form",
        {
          class: "row",
          onsubmit: (event) => {
            event.preventDefault();
            decide("answer", { answer: input.value });
          },
        },
        input,
        h("button", { type: "submit" }, "Answer"),
        h("button", { type: "button", class: "ghost", onclick: () => decide("cancel") }, "Cancel run"),
      ),
    );
  }
  return panel;
}

async function cancelRun(id) {
  const { ok, data } = await api("POST", withSession(`/runs/${encodeURIComponent(id)}/cancel`));
  toast(ok ? "run cancelled" : data.error, !ok);
  await loadRun(id);
}

async function loadPlatformFrames(run) {
  // The same run in its platform's own frames: the journal's entries that served it.
  const { ok, data } = await api("GET", withSession(`/journal?run=${encodeURIComponent(run.id)}&limit=50`, run.session || state.session));
  if (!ok || state.selectedRun !== run.id) return;
  // An entry already read in full and ended does not change: only the others are read again.
  const cache = (loadPlatformFrames.cache ??= new Map());
  if (cache.size > 200) cache.clear();
  const full = await Promise.all(
    data.entries.map(async (entry) => {
      const known = cache.get(entry.id);
      if (known && known.data.timings.ended !== null) return known;
      const answer = await api("GET", `/journal/${entry.id}`);
      if (answer.ok) cache.set(entry.id, answer);
      return answer;
    }),
  );
  if (state.selectedRun !== run.id) return;
  const section = h(
    "section",
    { id: "platform-frames" },
    h("h3", {}, `${run.platform} frames`),
    full
      .filter((answer) => answer.ok)
      .map(({ data: entry }) =>
        h(
          "div",
          { class: "entry" },
          h("h4", {}, `#${entry.id} ${entry.method} ${entry.path} → ${entry.status ?? entry.state}`),
          entry.response.frames
            ? h("ol", { class: "frames" }, entry.response.frames.map((frame) => h("li", {}, h("span", { class: "at" }, seconds(frame.at - run.created_at)), h("pre", {}, secretMarked(frame.data)))))
            : h("pre", {}, secretMarked(entry.response.body === null ? "(no body)" : json(entry.response.body))),
        ),
      ),
  );
  const old = $("platform-frames");
  if (old) old.replaceWith(section);
}

// GET /runs/ID and the feed may both tell of the same moment: an event already shown is not added again.
function alreadyShown(events, event) {
  const text = JSON.stringify(event);
  for (let i = events.length - 1; i >= 0 && events[i].at === event.at; i--) if (JSON.stringify(events[i]) === text) return true;
  return false;
}

// A stream's frames and a burst of runs come fast: read them again at most a few times a second.
const soon = (work) => {
  let timer = null;
  return (...args) => {
    if (timer) return;
    timer = setTimeout(() => {
      timer = null;
      work(...args);
    }, 250);
  };
};
const loadRunsSoon = soon(() => loadRuns());
const refreshRequestSoon = soon((id) => {
  if (state.selectedRequest === id) loadRequest(id);
});

let framesTimer = null;
function refreshFramesSoon() {
  // A stream sends many frames: read the journal again at most a few times a second.
  if (framesTimer) return;
  framesTimer = setTimeout(() => {
    framesTimer = null;
    if (state.runDetail) loadPlatformFrames(state.runDetail);
  }, 500);
}

// ── the feed ─────────────────────────────────────────────────────────────────────────────────────

function onRunEvent(data) {
  if (data.session !== state.session) return;
  const run = data.run;
  state.runs.set(run.id, { ...state.runs.get(run.id), ...run });
  if (data.type === "run.started") {
    drawRuns();
    loadRunsSoon(); // the feed names the run; the listing has when it started and its message
  } else {
    const row = $("runs").querySelector(`tr[data-id="${CSS.escape(run.id)}"]`);
    if (!row || row.dataset.status !== run.status) drawRuns();
  }
  const selected = state.requests.get(state.selectedRequest);
  if (selected && selected.run === run.id && data.type === "run.event") refreshRequestSoon(selected.id);
  if (state.selectedRun !== run.id || !state.runDetail || state.runDetail.id !== run.id) return;
  if (data.type === "run.event" || data.type === "run.paused") {
    if (!alreadyShown(state.runDetail.events, data.event)) state.runDetail.events.push(data.event);
    state.runDetail.status = run.status;
    if (data.type === "run.paused") {
      loadRun(run.id); // its pause, with the decision panel
      return;
    }
    drawRun();
    refreshFramesSoon();
  } else if (data.type === "run.ended") loadRun(run.id);
}

function connect() {
  const feed = new EventSource(API + "/events");
  const live = $("live");
  feed.onopen = async () => {
    live.textContent = "live";
    live.className = "live on";
    $("down").hidden = true;
    state.online = true;
    const { ok, data } = await api("GET", "/health");
    const started = ok ? data.started : null;
    const restarted = state.started !== null && started !== state.started;
    state.started = started;
    if (state.lost || restarted) {
      // What the page holds may be another server's (its ids start again at 1): read everything again.
      state.lost = false;
      readAll();
      toast(restarted ? "The server restarted: the lists were read again." : "Back in touch: the lists were read again.");
    }
  };
  feed.onerror = () => {
    // The browser tries again by itself; meanwhile nothing polls the server.
    live.textContent = "reconnecting…";
    live.className = "live off";
    $("down").hidden = false;
    state.online = false;
    state.lost = true;
  };
  const request = (event) => upsertRequest(JSON.parse(event.data).entry);
  feed.addEventListener("request.received", request);
  feed.addEventListener("request.answered", (event) => {
    const data = JSON.parse(event.data);
    upsertRequest(data.entry);
    if (data.entry.run && data.entry.run === state.selectedRun) loadRun(state.selectedRun);
  });
  for (const kind of ["run.started", "run.event", "run.paused", "run.ended"]) feed.addEventListener(kind, (event) => onRunEvent(JSON.parse(event.data)));
  feed.addEventListener("session.reset", (event) => {
    const data = JSON.parse(event.data);
    if (data.session === state.session) {
      state.selectedRun = null;
      state.runDetail = null;
      $("run-detail").replaceChildren(h("p", { class: "empty" }, "The session was reset."));
      loadRuns();
    }
  });
  feed.addEventListener("cassette.recorded", (event) => onRecorded(JSON.parse(event.data)));
}

// ── recording ────────────────────────────────────────────────────────────────────────────────────

function onRecorded(data) {
  const item = data.interaction;
  $("recorded").prepend(
    h(
      "li",
      {},
      h("h4", {}, h("span", { class: "chip p-" + item.platform }, item.platform), ` ${item.method} ${item.path} → ${item.status}`, h("small", {}, ` ${data.cassette} #${data.index}`)),
      item.redacted.length ? h("p", {}, "redacted: ", item.redacted.map((where) => h("mark", { class: "secret" }, where))) : h("p", { class: "hint" }, "nothing to redact"),
    ),
  );
  $("recorded-empty").hidden = true;
}

// ── sessions and the clock ───────────────────────────────────────────────────────────────────────

function noteSession(name) {
  if (state.sessions.has(name)) return;
  state.sessions.add(name);
  for (const select of [$("session"), $("req-session")]) select.append(h("option", { value: name }, name));
}

async function refreshClock() {
  if (!state.online) return; // the server is not answering: no request until the feed is back
  const { ok, data } = await api("GET", withSession("/clock"));
  if (!ok) return;
  state.clock = data;
  $("clock").textContent = `${seconds(data.now)}${data.manual ? " manual" : data.speed !== 1 ? ` ×${data.speed}` : ""}`;
  const facts = [
    fact("now", seconds(data.now)),
    fact("wall", data.wall.replace("T", " ").slice(0, 23)),
    fact("kind", data.manual ? "manual: it moves only when advanced" : `real time × ${data.speed}`),
    data.manual ? fact("timers waiting", data.waiting) : [],
  ];
  $("clock-facts").replaceChildren(...facts.flat());
  for (const button of document.querySelectorAll("#clock-card button")) button.disabled = !data.manual;
  $("clock-hint").textContent = data.manual ? "" : "Advancing needs a manual clock: mockagent serve --manual-clock.";
}

async function advance(by) {
  const { ok, data } = await api("POST", withSession("/clock/advance"), { seconds: by });
  if (!ok) toast(data.error, true);
  await refreshClock();
  if (state.selectedRun) loadRun(state.selectedRun);
}

async function refreshSessions() {
  const { ok, data } = await api("GET", "/sessions");
  if (!ok) return;
  for (const session of data) noteSession(session.name);
  $("sessions").replaceChildren(
    ...data.map((session) =>
      h(
        "tr",
        {},
        h("td", {}, session.name),
        h("td", { class: "num" }, session.runs),
        h("td", { class: "num" }, session.conversations),
        h("td", { class: "num" }, session.in_flight),
        h(
          "td",
          {},
          h(
            "button",
            {
              type: "button",
              class: "ghost",
              "aria-label": `reset session ${session.name}`,
              onclick: async () => {
                told(await api("DELETE", `/sessions/${encodeURIComponent(session.name)}`), () => `session ${session.name} reset`);
                refreshSessions();
              },
            },
            "Reset",
          ),
        ),
      ),
    ),
  );
}

// ── faults ───────────────────────────────────────────────────────────────────────────────────────

async function refreshFaults() {
  const { ok, data } = await api("GET", "/faults");
  if (!ok) return;
  const rules = [
    ...data.server.map((rule) => h("li", {}, h("span", { class: "chip" }, "server"), " ", json(rule))),
    ...data.added.map((rule) => h("li", {}, h("span", { class: "chip fault" }, `#${rule.id}`), " ", json(rule))),
  ];
  $("fault-rules").replaceChildren(...(rules.length ? rules : [h("li", { class: "hint" }, "No fault rules.")]));
  $("chaos-on").checked = data.chaos > 0;
  if (data.chaos > 0) $("chaos-rate").value = data.chaos;
}

async function addFault(body) {
  const { ok, data } = await api("POST", "/faults", body);
  if (!ok) toast(data.error, true);
  else toast("fault added");
  refreshFaults();
}

function refreshControls() {
  refreshClock();
  refreshFaults();
  refreshSessions();
}

// ── scenarios ────────────────────────────────────────────────────────────────────────────────────

async function loadScenarios() {
  const { ok, data } = await api("GET", "/scenarios");
  if (!ok) return;
  const agents = new Map();
  for (const [platform, list] of Object.entries(data.agents)) {
    for (const agent of list) {
      const known = agents.get(agent.id) || { ...agent, platforms: [] };
      known.platforms.push(platform);
      agents.set(agent.id, known);
    }
  }
  $("scenarios").replaceChildren(
    h("p", { class: "hint" }, `Files: ${data.files.join(", ") || "(built-in demo agents)"}`),
    h(
      "table",
      { class: "grid", "aria-label": "Agents" },
      h("thead", {}, h("tr", {}, h("th", {}, "agent"), h("th", {}, "platforms"), h("th", {}, "description"), h("th", {}, "replies"))),
      h(
        "tbody",
        {},
        [...agents.values()].map((agent) =>
          h(
            "tr",
            {},
            h("td", { class: "mono" }, agent.id),
            h("td", {}, agent.platforms.map((p) => h("span", { class: "chip p-" + p }, p))),
            h("td", {}, agent.description || ""),
            h("td", {}, h("ul", { class: "replies" }, agent.replies.map((reply) => h("li", {}, h("span", { class: "mono" }, reply.source || ""), reply.when ? " when…" : "", reply.sequence ? ` sequence of ${reply.sequence}` : "")))),
          ),
        ),
      ),
    ),
    data.stubs.length ? h("p", { class: "hint" }, `${data.stubs.length} raw stubs`) : "",
  );
}

async function reload() {
  $("reload-status").textContent = "reloading…";
  const { ok, data } = await api("POST", "/reload");
  const errors = $("reload-errors");
  if (ok) {
    errors.hidden = true;
    $("reload-status").textContent = `reloaded: ${data.agents.length} agents`;
    loadScenarios();
  } else {
    $("reload-status").textContent = "the scenarios did not load; the previous ones keep serving";
    errors.replaceChildren(h("h3", {}, "Load errors"), h("ul", {}, (data.errors || [data.error]).map((line) => h("li", { class: "mono" }, line))));
    errors.hidden = false;
  }
}

// ── start ────────────────────────────────────────────────────────────────────────────────────────

function start() {
  applyTheme(localStorage.getItem("mockagent-theme"));
  $("theme").addEventListener("click", () => {
    const next = currentTheme() === "dark" ? "light" : "dark";
    localStorage.setItem("mockagent-theme", next);
    applyTheme(next);
  });
  for (const tab of document.querySelectorAll("[role=tab]")) {
    tab.addEventListener("click", () => show(tab.dataset.view));
    tab.addEventListener("keydown", tabKeys);
  }
  for (const select of document.querySelectorAll("select.platforms")) select.append(...PLATFORMS.map((p) => h("option", { value: p }, p)));
  $("req-session").addEventListener("change", drawRequests);
  $("req-platform").addEventListener("change", drawRequests);
  $("req-clear").addEventListener("click", () => {
    state.requests.clear();
    drawRequests();
  });
  $("session").addEventListener("change", () => {
    state.session = $("session").value;
    state.selectedRun = null;
    state.runDetail = null;
    $("run-detail").replaceChildren(h("p", { class: "empty" }, "Select a run to see its timeline."));
    loadRuns();
    refreshClock();
  });
  for (const button of document.querySelectorAll("[data-advance]")) button.addEventListener("click", () => advance(Number(button.dataset.advance)));
  $("advance-form").addEventListener("submit", (event) => {
    event.preventDefault();
    advance(Number($("advance-seconds").value));
  });
  $("fault-form").addEventListener("submit", (event) => {
    event.preventDefault();
    const body = { fault: $("fault-spec").value, times: Number($("fault-times").value) };
    if ($("fault-platform").value) body.platform = $("fault-platform").value;
    addFault(body);
  });
  $("rate-form").addEventListener("submit", (event) => {
    event.preventDefault();
    addFault({ rate_limit: $("rate-limit").value, per: $("rate-per").value });
  });
  $("chaos-form").addEventListener("submit", async (event) => {
    event.preventDefault();
    const chaos = $("chaos-on").checked ? Number($("chaos-rate").value) : 0;
    const { ok, data } = await api("PUT", "/faults/chaos", { chaos });
    toast(ok ? (chaos ? `chaos on: ${chaos}` : "chaos off") : data.error, !ok);
    refreshFaults();
  });
  $("faults-clear").addEventListener("click", async () => {
    told(await api("DELETE", "/faults"), (data) => `${data.cleared} rules cleared`);
    refreshFaults();
  });
  $("sessions-reset").addEventListener("click", async () => {
    told(await api("DELETE", "/sessions"), (data) => `reset: ${data.reset.join(", ") || "nothing to reset"}`);
    refreshSessions();
  });
  $("reload").addEventListener("click", reload);
  roving($("requests"));
  roving($("runs"));
  show("requests");
  // The header's height, for the detail panes that stay below it as the list scrolls.
  new ResizeObserver(([bar]) => document.documentElement.style.setProperty("--bar", bar.target.offsetHeight + "px")).observe(document.querySelector(".bar"));
  connect();
  readAll();
  setInterval(refreshClock, 1000);
}

// Everything the page shows, read afresh (at the start, and when the server is back after it was lost).
function readAll() {
  state.requests.clear();
  loadPlatformFrames.cache = null; // a restarted server numbers its entries from 1 again
  state.selectedRequest = null;
  state.selectedRun = null;
  state.runDetail = null;
  $("request-detail").replaceChildren(h("p", { class: "empty" }, "Select a request to see it and its answer."));
  $("run-detail").replaceChildren(h("p", { class: "empty" }, "Select a run to see its timeline."));
  drawRequests();
  api("GET", "/journal?limit=1000").then(({ ok, data }) => {
    if (!ok) return;
    for (const entry of data.entries.slice(-MAX_ROWS)) if (!state.requests.has(entry.id)) state.requests.set(entry.id, entry);
    for (const entry of data.entries) noteSession(entry.session);
    trimRequests();
    drawRequests();
  });
  refreshSessions();
  loadRuns();
  state.online = true;
  refreshClock();
}

start();
