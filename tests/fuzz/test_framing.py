"""Requests whose framing is broken — lengths that lie, chunking gone wrong, odd request lines and header
lines, pipelining, the HTTP/2 preface, garbage — to any route, over a raw socket."""

from __future__ import annotations

from hypothesis import given, seed
from hypothesis import strategies as st

from fuzz.routes import FRAMING_BUDGET, SEED, TARGETS
from fuzz.strategies import Known, framed, requests
from fuzz.test_routes import fuzz_settings
from fuzz.wire import Fuzzed, Probe, check


def probes(known: Known, port: int) -> st.SearchStrategy[Probe]:
    @st.composite
    def probe(draw: st.DrawFn) -> Probe:
        request = draw(requests(draw(st.sampled_from(TARGETS)), known, port, hostile=False))
        broken = draw(framed(request))
        return Probe(
            broken.method,
            broken.target,
            tuple(request.headers),  # what the raw request carries too: its fault header, if any
            b"",
            raw=broken.raw,
            half_close=broken.half_close,
            line_broken=broken.line_broken,
        )

    return probe()


def test_broken_framing_is_answered_in_the_envelope_or_closed(fuzzed: Fuzzed) -> None:
    @seed(SEED + 7)
    @fuzz_settings(FRAMING_BUDGET)
    @given(probe=probes(fuzzed.known, fuzzed.port))
    def fuzz(probe: Probe) -> None:
        check(fuzzed, probe)

    fuzz()
