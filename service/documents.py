"""The files sent with a request: checked by what they contain, kept by their hash.

A file's type is read from its bytes, never from its name or the browser's word for it: a PDF
starts with `%PDF-` and ends with `%%EOF`; a CSV is text (UTF-8 or Windows-1252, as
spreadsheet programs save it) with no NUL bytes, split by `;` or `,`. Files are not scanned for
viruses: that is out of scope, staff open them with their own protected software.

Bytes are stored under `documents_dir` (outside the web root) as `ab/abcdef...`, the SHA-256
of the content, written to a temporary name and renamed, so a crash leaves no half file and
the same file sent twice is stored once. Serving checks the hash again.
"""

from __future__ import annotations

import csv
import hashlib
import io
import os
import re
import tempfile
from dataclasses import dataclass
from pathlib import Path

from domain import messages as m
from domain.errors import InvalidInput
from models.document import Document, DocumentKind
from settings import get_settings

PDF = "application/pdf"
CSV = "text/csv"
ACCEPTED = {DocumentKind.PORTFOLIO: (PDF,), DocumentKind.PATIENT_RECORDS: (PDF, CSV)}
REFUSED = {DocumentKind.PORTFOLIO: m.FILE_NOT_PDF,
           DocumentKind.PATIENT_RECORDS: m.FILE_NOT_PDF_OR_CSV}
_UNSAFE_NAME = re.compile(r"[^\w .,()-]")


@dataclass(frozen=True)
class Upload:
    """A file that passed the checks; only `check_upload` makes one."""

    kind: DocumentKind
    filename: str
    media_type: str
    content: bytes

    @property
    def sha256(self) -> str:
        return hashlib.sha256(self.content).hexdigest()


class DocumentDamaged(Exception):
    """A stored file no longer matches its hash."""


def _media_type(content: bytes) -> str | None:
    if b"%PDF-" in content[:1024] and b"%%EOF" in content[-2048:]:
        return PDF
    if b"\x00" in content:
        return None
    for encoding in ("utf-8-sig", "cp1252"):
        try:
            text = content.decode(encoding)
            break
        except UnicodeDecodeError:
            continue
    else:
        return None
    first = text.lstrip().split("\n", 1)[0]
    delimiter = ";" if first.count(";") >= first.count(",") else ","
    try:
        sample = text if len(text) <= 65536 else text[:65536].rsplit("\n", 1)[0]
        rows = list(csv.reader(io.StringIO(sample), delimiter=delimiter, strict=True))
    except csv.Error:
        return None
    return CSV if rows and max(len(row) for row in rows) >= 2 else None


def _clean_name(name: str, media_type: str) -> str:
    base = _UNSAFE_NAME.sub("_", Path(name.replace("\\", "/")).name).strip(" .")[:150]
    suffix = ".pdf" if media_type == PDF else ".csv"
    stem = base.rsplit(".", 1)[0] if "." in base else base
    return f"{stem or 'bestand'}{suffix}"


def check_upload(kind: DocumentKind, filename: str, content: bytes) -> Upload:
    """The file as an Upload, or InvalidInput naming the field (the kind) with a Dutch reason."""
    limit = get_settings().uploads.max_mb
    if not content:
        raise InvalidInput({kind.value: m.FILE_MISSING if not filename else m.FILE_EMPTY})
    if len(content) > limit * 1024 * 1024:
        raise InvalidInput({kind.value: m.FILE_TOO_LARGE.format(mb=limit)})
    media_type = _media_type(content)
    if media_type not in ACCEPTED[kind]:
        raise InvalidInput({kind.value: REFUSED[kind]})
    assert media_type is not None
    return Upload(kind, _clean_name(filename, media_type), media_type, content)


def _path(sha256: str) -> Path:
    return get_settings().documents_dir / sha256[:2] / sha256


def store(upload: Upload) -> str:
    """Writes the bytes (once per content); returns their hash."""
    digest = upload.sha256
    target = _path(digest)
    if target.exists():
        return digest
    target.parent.mkdir(parents=True, exist_ok=True)
    handle, temporary = tempfile.mkstemp(dir=target.parent, prefix=".upload-")
    try:
        with os.fdopen(handle, "wb") as out:
            out.write(upload.content)
            out.flush()
            os.fsync(out.fileno())
        os.replace(temporary, target)
    except BaseException:
        Path(temporary).unlink(missing_ok=True)
        raise
    return digest


def read_document(document: Document) -> bytes:
    content = _path(document.sha256).read_bytes()
    if hashlib.sha256(content).hexdigest() != document.sha256:
        raise DocumentDamaged(f"document {document.id}: hash differs from {document.sha256}")
    return content
