"""Files by content: uploads, and the PDFs the register hands out. Kept under `documents_dir`
(outside the web root) as `ab/abcdef...`, the SHA-256 of the bytes, written to a temporary
name and renamed, so a crash leaves no half file and the same bytes are stored once. Reading
checks the hash again."""

from __future__ import annotations

import hashlib
import os
import tempfile
from pathlib import Path

from settings import get_settings


class BlobDamaged(OSError):
    """A stored file no longer matches its hash, or is gone (a disk not mounted): as any
    other I/O error, a mail that needs it waits and is retried, then becomes a dead letter."""


def _path(sha256: str) -> Path:
    return get_settings().documents_dir / sha256[:2] / sha256


def store_blob(content: bytes) -> str:
    """Writes the bytes (once per content); returns their hash."""
    digest = hashlib.sha256(content).hexdigest()
    target = _path(digest)
    if target.exists():
        return digest
    target.parent.mkdir(parents=True, exist_ok=True)
    handle, temporary = tempfile.mkstemp(dir=target.parent, prefix=".upload-")
    try:
        with os.fdopen(handle, "wb") as out:
            out.write(content)
            out.flush()
            os.fsync(out.fileno())
        os.replace(temporary, target)
    except BaseException:
        Path(temporary).unlink(missing_ok=True)
        raise
    return digest


def read_blob(sha256: str) -> bytes:
    try:
        content = _path(sha256).read_bytes()
    except OSError as err:
        raise BlobDamaged(f"{sha256}: {err}") from err
    if hashlib.sha256(content).hexdigest() != sha256:
        raise BlobDamaged(f"{sha256}: the stored bytes have another hash")
    return content
