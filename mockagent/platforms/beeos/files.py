"""BeeOS files: presigned uploads and downloads, their bytes on disk in the session's scratch folder.

The bytes of a session's uploads are kept up to `UPLOAD_BUDGET` in all (CHOSEN): past it the oldest
uploads are forgotten (their download answers 404, as an expired object would), so memory holds none of
them and the disk a bounded amount.
"""

from __future__ import annotations

import asyncio
import hashlib
import secrets
from collections import OrderedDict
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

from mockagent.platforms.base import MiB

UPLOAD_BUDGET = 256 * MiB


@dataclass
class StoredFile:
    id: str
    owner: str
    filename: str
    content_type: str
    upload_signature: str
    download_signature: str
    size: int | None = None  # None until uploaded
    uploading: bool = False  # a PUT is reading its body: the URL is single-use, so a second one is refused
    forgotten: bool = False  # its bytes went to make room for newer uploads

    @classmethod
    def presigned(cls, file_id: str, owner: str, filename: str, content_type: str) -> StoredFile:
        return cls(file_id, owner, filename, content_type, secrets.token_hex(16), secrets.token_hex(16))

    @property
    def used(self) -> bool:
        return self.uploading or self.size is not None or self.forgotten


class Uploads:
    """The bytes of uploaded files, in a folder of the session's, oldest forgotten past the budget."""

    def __init__(self, folder: Callable[[], Path], budget: int = UPLOAD_BUDGET) -> None:
        self.folder = folder  # made on the first upload
        self.budget = budget
        self.total = 0
        self._kept: OrderedDict[str, StoredFile] = OrderedDict()

    async def store(self, stored: StoredFile, data: bytes) -> str:
        """Keep `data` as the file's bytes; its ETag (the MD5 S3 gives a single-part upload)."""
        await asyncio.to_thread(self._path(stored).write_bytes, data)
        stored.size = len(data)
        self._kept[stored.id] = stored
        self.total += len(data)
        while self.total > self.budget and len(self._kept) > 1:
            _, old = self._kept.popitem(last=False)
            self.forget(old)
        return hashlib.md5(data).hexdigest()  # noqa: S324 (an ETag, not a secret)

    async def read(self, stored: StoredFile) -> bytes:
        return await asyncio.to_thread(self._path(stored).read_bytes)

    def forget(self, stored: StoredFile) -> None:
        if stored.size is not None:
            self._kept.pop(stored.id, None)
            self.total -= stored.size
            self._path(stored).unlink(missing_ok=True)
            stored.size, stored.forgotten = None, True

    def _path(self, stored: StoredFile) -> Path:
        return self.folder() / stored.id
