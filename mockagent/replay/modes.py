"""The choices a user makes about recording and replaying (kept apart, so that settings stay cheap to import)."""

from __future__ import annotations

from enum import StrEnum


class RecordMode(StrEnum):
    """What happens to a request, as vcrpy and pytest-recording name it."""

    ONCE = "once"  # a cassette that exists is replayed only; a new one is recorded whole
    NEW_EPISODES = "new_episodes"  # replay what matches, record what does not
    NONE = "none"  # replay only; never record
    ALL = "all"  # record everything, replaying nothing (the cassette is started afresh)


class Repeat(StrEnum):
    """What a request gets once its recorded answers are all used (identical requests replay in order)."""

    LAST = "last"  # the last recorded answer again (CHOSEN default)
    ERROR = "error"  # a miss
