"""Ids minted per request keep uuid4's format, so clients that parse them as UUIDs accept them."""

from __future__ import annotations

import uuid

from mockagent.ids import uuid4, uuid4_hex


def test_uuid4_is_a_version_4_rfc_uuid_and_random() -> None:
    minted = [uuid4() for _ in range(1_000)]
    assert len(set(minted)) == len(minted)
    for text in minted:
        parsed = uuid.UUID(text)
        assert str(parsed) == text
        assert (parsed.version, parsed.variant) == (4, uuid.RFC_4122)


def test_uuid4_hex_is_the_same_without_dashes() -> None:
    for _ in range(1_000):
        text = uuid4_hex()
        parsed = uuid.UUID(hex=text)
        assert parsed.hex == text
        assert (parsed.version, parsed.variant) == (4, uuid.RFC_4122)


def test_a_forked_child_mints_other_ids() -> None:
    import os

    read, write = os.pipe()
    pid = os.fork()
    if pid == 0:  # the child: its first id, then leave at once
        os.write(write, uuid4().encode())
        os._exit(0)
    os.close(write)
    os.waitpid(pid, 0)
    child = os.read(read, 64).decode()
    os.close(read)
    assert child != uuid4()
    assert uuid.UUID(child).version == 4
