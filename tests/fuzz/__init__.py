"""A seeded, bounded fuzz of every route the server serves — each platform's and the admin API's, enumerated
from the router, so that a new route is fuzzed without a word here — with hostile bodies, paths, query
strings, headers and framing, sent over raw loopback sockets (no client library tidies them up first).

Whatever arrives, the server answers: never a 5xx it was not asked for (a 5xx fault header is the only
deliberate one), every error in the envelope of the platform its path belongs to (mockagent's own
``{"error": …}`` for the admin API and unknown paths), every JSON answer valid JSON, and no traceback, no
unhandled exception and no error in its log; and it answers its health check afterwards.

- `routes`: the routes, and how the budget is spread over them.
- `strategies`: what is sent — bodies, paths, query strings, headers, framing — and the ids the server holds.
- `wire`: a request on a raw socket, its answer, and what makes an answer wrong.
- `conftest`: the server every test of the package fuzzes, and its log.

The budget is the number of requests: ``MOCKAGENT_FUZZ_EXAMPLES`` (default `routes.DEFAULT_BUDGET`), e.g.
``MOCKAGENT_FUZZ_EXAMPLES=20000 pytest tests/fuzz``. Each route's examples come from a seed of its own, so a
run is the same run every time; ``MOCKAGENT_FUZZ_SEED=N`` (default 0) is another run, to look for more.
"""
