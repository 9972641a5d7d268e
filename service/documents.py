"""The files sent with a request: checked by what they contain, kept by their hash.

A file's type is read from its bytes, never from its name or the browser's word for it: a PDF
starts with `%PDF-` and ends with `%%EOF`; a CSV is text (UTF-8 or Windows-1252, as
spreadsheet programs save it) with no NUL bytes, split by `;` or `,`. Files are not scanned for
viruses: that is out of scope, staff open them with their own protected software.

The bytes are kept by their hash (tasks/blobs.py); serving checks the hash again.
"""

from __future__ import annotations

import csv
import hashlib
import io
import re
from dataclasses import dataclass
from pathlib import Path

from domain import messages as m
from domain.errors import InvalidInput
from models.document import Document, DocumentKind
from settings import get_settings
from tasks.blobs import read_blob, store_blob
from tasks.papers import PDF

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


def store(upload: Upload) -> str:
    """Writes the bytes (once per content); returns their hash."""
    return store_blob(upload.content)


def read_document(document: Document) -> bytes:
    """The bytes as sent; BlobDamaged if they are gone or changed."""
    return read_blob(document.sha256)
