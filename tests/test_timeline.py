"""A run's timeline read as the list of events it stands for: a `say` step's chunks kept as one text with
their moments, and made into events only when read — by index, slice, iteration, time or text."""

from __future__ import annotations

import pytest

from mockagent.model import Completed, TextDelta, Timed, ToolCalled
from mockagent.timeline import Timeline


def laid_out() -> tuple[Timeline, list[Timed]]:
    """The same events, as a timeline and as the plain list of Timed that it stands for."""
    call = ToolCalled("c1", "search", {"q": "x"})
    timeline = Timeline()
    timeline.say(["Hello ", "there, ", "friend."], [1.0, 1.5, 2.0], 1)
    timeline.append(Timed(2.0, call, 3))
    timeline.say(["Done."], [3.0], 2)
    timeline.append(Timed(3.0, Completed(), 5))
    expected = [
        Timed(1.0, TextDelta("Hello ", 1), 0),
        Timed(1.5, TextDelta("there, ", 1), 1),
        Timed(2.0, TextDelta("friend.", 1), 2),
        Timed(2.0, call, 3),
        Timed(3.0, TextDelta("Done.", 2), 4),
        Timed(3.0, Completed(), 5),
    ]
    return timeline, expected


def test_it_reads_as_the_list_of_its_events() -> None:
    timeline, expected = laid_out()
    assert len(timeline) == 6
    assert list(timeline) == expected
    assert timeline == expected
    assert [timeline[i] for i in range(-6, 6)] == expected + expected
    assert [timed.seq for timed in timeline] == list(range(6))  # each event's index, as offsets count them
    assert timeline[1:4] == expected[1:4]
    assert list(reversed(timeline)) == expected[::-1]
    assert timeline.last_at == 3.0
    with pytest.raises(IndexError):
        timeline[6]


@pytest.mark.parametrize("at", [0.0, 1.0, 1.2, 1.5, 2.0, 2.5, 3.0, 9.0])
def test_what_has_happened_by_a_moment(at: float) -> None:
    timeline, expected = laid_out()
    assert timeline.until(at) == [t for t in expected if t.at <= at]
    said = "".join(t.event.text for t in expected if t.at <= at and isinstance(t.event, TextDelta))
    assert timeline.text(at) == said


@pytest.mark.parametrize("length", range(7))
def test_truncating_keeps_the_first_events_even_within_a_say(length: int) -> None:
    timeline, expected = laid_out()
    timeline.truncate(length)
    assert list(timeline) == expected[:length]
    assert timeline.text(9.0) == "".join(t.event.text for t in expected[:length] if isinstance(t.event, TextDelta))
    timeline.append(Timed(9.0, Completed(), length))  # and it goes on from there
    assert timeline[-1] == Timed(9.0, Completed(), length)


@pytest.mark.parametrize("at", [0.5, 1.0, 1.7, 2.0, 3.0])
def test_an_end_cuts_what_comes_after_it(at: float) -> None:
    timeline, expected = laid_out()
    timeline.cut_after(at)
    assert list(timeline) == [t for t in expected if t.at <= at]
