"""Verification shared between processes through a real Redis: an entry's verdict-relevant fields survive
the trip through the journal kept there, and its client is told there by a digest of its credential, the
credential itself never written."""

from __future__ import annotations

from credentials import BEEOS
from multidict import CIMultiDict

from mockagent.appkeys import make_redactor
from mockagent.clock import ManualClock
from mockagent.digests import digest
from mockagent.encoding import dumps, loads
from mockagent.journal import Decided, Entry, Journal, counter
from mockagent.settings import Settings
from mockagent.verdicts import credential, frame_ids, resume_point, retry_after

BEE = "/beeos/api/v1/agents"


# ── the round trip: what an entry keeps of itself in Redis ─────────────────────────────────────────


def test_an_entrys_verdict_fields_survive_the_trip_through_redis() -> None:
    clock, redactor = ManualClock(), make_redactor(Settings())
    journal = Journal(counter(2))
    token = BEEOS["Authorization"]
    headers = CIMultiDict({"Authorization": token, "last-event-id": "4", "Idempotency-Key": "k1"})
    stream = journal.add(
        Entry("ci", "GET", f"{BEE}/echo/tasks/t1/events", 1.5, platform="beeos", endpoint="stream_task_events",
              query={"since": "3"}, headers=headers)
    )  # fmt: skip
    stream.agent, stream.run, stream.run_status, stream.conversation = "echo", "t1", "running", "c1"
    stream.keep_request_body(b'{"message": "hi", "idempotency_key": "k1", "apiKey": "sk-live-0123456789abcdef"}')
    stream.started(2.0, 200, True)
    stream.frame(2.0, b"id: 5\nevent: message\ndata: {}\n\n")
    stream.frame(3.25, b"id: 6\nevent: end\ndata: {}\n\n")
    stream.keep_response(CIMultiDict({"Retry-After": "7", "Content-Type": "text/event-stream"}), None)
    stream.end(4.0, 200, closed=True)
    refused = journal.add(Entry("ci", "POST", "/beeos/api/v1/nobody", 5.0, platform="beeos", headers={}))
    refused.decided, refused.explanation = Decided.UNMATCHED, "no agent nobody"
    refused.keep_request_body(b"not json")
    refused.end(5.0, 404)

    for entry in (stream, refused):
        shown = loads(dumps(entry.as_kept(clock, redactor, "server")))  # as Redis holds it
        back = Entry.from_json(shown)
        for field in ("id", "session", "method", "path", "platform", "endpoint", "agent", "status", "state",
                      "run", "run_status", "conversation", "decided", "explanation", "unmatched", "done",
                      "received", "real_received", "first_byte", "real_first_byte", "ended", "real_ended",
                      "request_truncated", "response_truncated"):  # fmt: skip
            assert getattr(back, field) == getattr(entry, field), field
        assert back.as_json(clock, redactor) | {"client": shown["client"]} == shown  # nothing lost, nothing added
    assert shown["client"] is None  # `refused` carried no credential

    back = Entry.from_json(loads(dumps(stream.as_kept(clock, redactor, "server"))))
    sent = back.body_json()
    assert sent["message"] == "hi"
    assert sent["idempotency_key"] == "k1"
    assert sent["apiKey"].startswith("<<secret:")  # what Redis holds: the redacted body
    assert resume_point(back) == resume_point(stream) == "4"  # the header, read whatever its case
    assert back.request_headers is not None
    assert back.request_headers.get("Idempotency-Key") == "k1"
    assert retry_after(back) == retry_after(stream) == 7
    assert back.query == {"since": "3"}
    assert frame_ids(back) == frame_ids(stream) == ["5", "6"]
    assert [at for at, _ in back.frames or ()] == [2.0, 3.25]
    # The client: the credential itself inside the process, its digest keyed by the server's name through Redis.
    assert credential(stream) == token
    assert credential(back) == digest(token, "server") != digest(token, "another server")
    assert token not in dumps(stream.as_kept(clock, redactor, "server"))
