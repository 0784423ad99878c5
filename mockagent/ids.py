"""Random ids, minted per request, in uuid4's format — without a system call each.

Ids name runs, tasks and requests; they are not secrets (presigned URLs sign with `secrets`). So they
come from a generator seeded once from the OS (and again in a forked child, so that two worker processes
never mint the same ids), which costs a fraction of `os.urandom` per id.
"""

from __future__ import annotations

import os
import random

_random = random.Random(os.urandom(32))
os.register_at_fork(after_in_child=lambda: _random.seed(os.urandom(32)))

# The variant bits (10xx) of a UUID's 17th hex digit: 8, 9, a or b.
_VARIANT = {digit: "89ab"[int(digit, 16) & 3] for digit in "0123456789abcdef"}


def token_hex(nbytes: int) -> str:
    """`nbytes` random bytes as hex digits (an id, not a secret)."""
    return _random.getrandbits(nbytes * 8).to_bytes(nbytes).hex()


def uuid4() -> str:
    """A random (version 4, RFC 9562) UUID, e.g. 'f47ac10b-58cc-4372-a567-0e02b2c3d479'."""
    h = _random.getrandbits(128).to_bytes(16).hex()  # a third of the cost of a format spec
    return f"{h[:8]}-{h[8:12]}-4{h[13:16]}-{_VARIANT[h[16]]}{h[17:20]}-{h[20:]}"


def uuid4_hex() -> str:
    """The same, as 32 hex digits without dashes (uuid.uuid4().hex)."""
    h = _random.getrandbits(128).to_bytes(16).hex()
    return f"{h[:12]}4{h[13:16]}{_VARIANT[h[16]]}{h[17:]}"
