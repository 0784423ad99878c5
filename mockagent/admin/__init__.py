"""mockagent's own API under /__mockagent (docs/admin.md): health, stats, sessions, the clock, runs, the
journal, scenario states and sequence counters, scenarios, faults, verification, and the API's own OpenAPI
document (openapi.json), and the web page (ui) — one module per noun, each route behind the access rules of `access`.

Everything but health, stats, sessions, scenarios, faults and reload is about one session: the one named
by ``X-Mockagent-Session`` (or ``?session=``), else the default session.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass

from mockagent.admin import (
    clock,
    events,
    faults,
    health,
    journal,
    openapi,
    runs,
    scenarios,
    sessions,
    states,
    ui,
    verification,
)
from mockagent.admin.access import ADMIN_PREFIX, MIN_TOKEN_LENGTH, Handler, exposure, guarded, is_loopback
from mockagent.admin.sessions import default_session, session_named, session_of


@dataclass(frozen=True)
class AdminRoute:
    method: str
    path: str
    handler: Handler


def admin_routes() -> Iterable[AdminRoute]:
    return [
        AdminRoute("GET", "/health", health.on_get_health),
        AdminRoute("GET", "/stats", health.on_get_stats),
        AdminRoute("GET", "/openapi.json", openapi.on_get_openapi),
        AdminRoute("GET", "/sessions", sessions.on_list_sessions),
        AdminRoute("DELETE", "/sessions", sessions.on_reset_sessions),
        AdminRoute("GET", "/sessions/{name:.+}", sessions.on_get_session),
        AdminRoute("DELETE", "/sessions/{name:.+}", sessions.on_reset_session),
        AdminRoute("GET", "/clock", clock.on_get_clock),
        AdminRoute("POST", "/clock/advance", clock.on_advance_clock),
        AdminRoute("GET", "/runs", runs.on_list_runs),
        AdminRoute("GET", "/runs/{id}", runs.on_get_run),
        AdminRoute("POST", "/runs/{id}/approve", runs.on_approve_run),
        AdminRoute("POST", "/runs/{id}/reject", runs.on_reject_run),
        AdminRoute("POST", "/runs/{id}/answer", runs.on_answer_run),
        AdminRoute("POST", "/runs/{id}/cancel", runs.on_cancel_run),
        AdminRoute("POST", "/reload", scenarios.on_reload),
        AdminRoute("GET", "/scenarios", scenarios.on_list_scenarios),
        AdminRoute("PUT", "/scenarios", scenarios.on_replace_scenarios),
        AdminRoute("GET", "/faults", faults.on_list_faults),
        AdminRoute("POST", "/faults", faults.on_add_fault),
        AdminRoute("DELETE", "/faults", faults.on_clear_faults),
        AdminRoute("PUT", "/faults/chaos", faults.on_set_chaos),
        AdminRoute("GET", "/journal", journal.on_get_journal),
        AdminRoute("GET", "/journal/{id}", journal.on_get_entry),
        AdminRoute("DELETE", "/journal", journal.on_clear_journal),
        AdminRoute("GET", "/events", events.on_get_events),
        AdminRoute("GET", "/states", states.on_get_states),
        AdminRoute("DELETE", "/states", states.on_reset_states),
        AdminRoute("PUT", "/states/{name:.+}", states.on_set_state),
        AdminRoute("DELETE", "/states/{name:.+}", states.on_reset_state),
        AdminRoute("GET", "/sequences", states.on_get_sequences),
        AdminRoute("DELETE", "/sequences", states.on_reset_sequences),
        AdminRoute("POST", "/verify", verification.on_verify),
        AdminRoute("GET", "/verdicts/{name}", verification.on_get_verdict),
        AdminRoute("GET", "/ui", ui.on_get_page),
        AdminRoute("GET", "/ui/{name}", ui.on_get_asset),
    ]


__all__ = [
    "ADMIN_PREFIX",
    "MIN_TOKEN_LENGTH",
    "AdminRoute",
    "admin_routes",
    "default_session",
    "exposure",
    "guarded",
    "is_loopback",
    "session_named",
    "session_of",
]
