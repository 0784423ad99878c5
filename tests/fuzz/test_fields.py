"""Every field of every body the fuzz knows (`fuzz.strategies.BODIES`), left out or given a value of every
JSON type in turn, the rest of the request valid. A table, not a draw: a random draw of places and values
would leave most pairs untried at any budget the suite can afford."""

from __future__ import annotations

import math

import pytest

from fuzz.routes import FIELD_BUDGET, TARGETS, Target
from fuzz.strategies import BODIES, field_cases, field_request
from fuzz.wire import Fuzzed, Probe, check

WITH_BODIES = [target for target in TARGETS if target.id in BODIES]
_ALL = sum(len(field_cases(target, 1)) for target in WITH_BODIES)
STRIDE = max(1, math.ceil(_ALL / FIELD_BUDGET))


def test_every_body_the_fuzz_knows_is_a_route() -> None:
    assert set(BODIES) <= {target.id for target in TARGETS}


@pytest.mark.parametrize("target", WITH_BODIES, ids=lambda target: target.id)
def test_every_field_takes_any_type_and_answers_in_the_envelope(fuzzed: Fuzzed, target: Target) -> None:
    known = fuzzed.fresh(target.owner)
    for turn, case in enumerate(field_cases(target, STRIDE)):
        request = field_request(target, case, known, fuzzed.port, turn)
        check(fuzzed, Probe(request.method, request.target, tuple(request.headers), request.body))
