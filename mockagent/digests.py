"""Digests that name a secret without holding it: what goes to Redis in a credential's place (a rate-limit
bucket's name, the client of a shared journal entry), the same in every process of a server."""

from __future__ import annotations

import hashlib

_MAX_KEY = 64  # blake2b's longest key, in bytes


def digest(text: str, key: str = "") -> str:
    """A 128-bit BLAKE2b digest of `text`, in hex, keyed by `key` (none: the plain digest). CHOSEN: keyed by
    something every process of the server shares but another server does not (its name), so that a digest is
    no table entry for the same credential elsewhere; a key is a salt here, not a secret."""
    raw = key.encode("utf-8", "surrogatepass")
    if len(raw) > _MAX_KEY:
        raw = hashlib.blake2b(raw).digest()  # a name longer than a key may be: its own digest, 64 bytes
    return hashlib.blake2b(text.encode("utf-8", "surrogatepass"), key=raw, digest_size=16).hexdigest()
