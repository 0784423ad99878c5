"""Every route the router serves, fuzzed: each probe valid but for one or two hostile parts (see
`fuzz.strategies`), each answer checked by `fuzz.wire.check`."""

from __future__ import annotations

import zlib

import pytest
from hypothesis import HealthCheck, given, seed, settings
from hypothesis import strategies as st

from fuzz.routes import ADMIN, ROUTE_BUDGET, SEED, TARGETS, Target, examples_for
from fuzz.strategies import Known, Request, requests
from fuzz.wire import Fuzzed, Probe, check


def fuzz_settings(examples: int) -> settings:
    return settings(
        max_examples=examples,
        database=None,
        deadline=None,
        print_blob=True,
        suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large, HealthCheck.large_base_example],
    )


def test_the_fuzz_reaches_every_platform_and_the_admin_api() -> None:
    per_owner: dict[str, int] = {}
    for target in TARGETS:
        per_owner[target.owner] = per_owner.get(target.owner, 0) + 1
    # Well below today's counts (73, 14, 11, 2, 2, 12): the enumeration cannot quietly come back short.
    floors = {"beeos": 60, "agentos": 10, "xpander": 8, "zeus": 2, "aster": 2, ADMIN: 10}
    assert set(per_owner) == set(floors)
    assert {owner for owner, floor in floors.items() if per_owner[owner] < floor} == set()
    assert sum(examples_for(target) for target in TARGETS) >= ROUTE_BUDGET * 0.9


def test_the_fuzz_covers_every_route_the_running_server_serves(fuzzed: Fuzzed) -> None:
    app = fuzzed.server.server.app
    assert app is not None
    served = {(route.method, route.resource.canonical) for route in app.router.routes() if route.resource}
    assert served == {(target.method, target.path) for target in TARGETS}


def probes(target: Target, known: Known, port: int) -> st.SearchStrategy[Probe]:
    def probe(request: Request) -> Probe:
        return Probe(request.method, request.target, tuple(request.headers), request.body)

    return requests(target, known, port).map(probe)


@pytest.mark.parametrize("target", TARGETS, ids=lambda target: target.id)
def test_every_route_answers_hostile_requests_in_its_platforms_envelope(fuzzed: Fuzzed, target: Target) -> None:
    @seed(SEED + zlib.crc32(target.id.encode()))
    @fuzz_settings(examples_for(target))
    @given(probe=probes(target, fuzzed.fresh(target.owner) if target.weight > 1 else fuzzed.known, fuzzed.port))
    def fuzz(probe: Probe) -> None:
        check(fuzzed, probe)

    fuzz()
