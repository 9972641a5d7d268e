"""The files sent with a request: checked by what they contain, kept by their hash.

A file's type is read from its bytes, never from its name or the browser's word for it: a PDF
is one whose structure pypdf can read (catalogue, pages) and that holds no JavaScript, no
actions that start programs and no embedded files; a CSV is text (UTF-8 or Windows-1252, as
spreadsheet programs save it) with no NUL bytes and no HTML tags, split by `;` or `,`. A CSV
whose cells a spreadsheet would run as formulas (`=`, `+`, `-`, `@` before something that is
not a number) is kept as sent, because it is the practitioner's evidence, and staff see a
warning next to it. Files are not scanned for viruses: that is out of scope, staff open them
with their own protected software.

The bytes are kept by their hash (adapters/blobs.py); serving checks the hash again.
"""

from __future__ import annotations

import csv
import hashlib
import io
import re
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

from pypdf import PdfReader
from pypdf.errors import PyPdfError
from pypdf.generic import ArrayObject, DictionaryObject, IndirectObject, NameObject, PdfObject
from sqlmodel import Session

from adapters.blobs import BlobDamaged as BlobDamaged  # a file gone or changed in the store
from adapters.blobs import read_blob, store_blob
from adapters.papers import PDF as PDF
from domain import messages as m
from domain.errors import InvalidInput
from models.access_log import Looked
from models.case import Case
from models.certificate import get_certificate
from models.document import Document
from models.document import DocumentKind as DocumentKind
from models.invoice import case_invoices
from service.access_log import record_look
from service.actors import Actor
from settings import get_settings

CSV = "text/csv"
ACCEPTED = {DocumentKind.PORTFOLIO: (PDF,), DocumentKind.PATIENT_RECORDS: (PDF, CSV)}
REFUSED = {DocumentKind.PORTFOLIO: m.FILE_NOT_PDF,
           DocumentKind.PATIENT_RECORDS: m.FILE_NOT_PDF_OR_CSV}
_UNSAFE_NAME = re.compile(r"[^\w .,()-]")
_HTML_TAG = re.compile(r"<[!/?a-zA-Z]")
_NUMBER = re.compile(r"[-+]?\d+([.,]\d+)?")
_FORMULA_START = ("=", "+", "-", "@", "\t", "\r")
# Names that make a PDF run something or carry another file (PDF 2.0, 12.6 and 7.11).
_ACTIVE_KEYS = {"/JS", "/JavaScript", "/EmbeddedFiles", "/EmbeddedFile", "/XFA", "/RichMedia"}
_ACTIVE_ACTIONS = {"/JavaScript", "/Launch", "/ImportData", "/RichMediaExecute"}
_MAX_PDF_OBJECTS = 500_000


@dataclass(frozen=True)
class Upload:
    """A file that passed the checks; only `check_upload` makes one."""

    kind: DocumentKind
    filename: str
    media_type: str
    content: bytes
    formula_cells: bool = False

    @property
    def sha256(self) -> str:
        return hashlib.sha256(self.content).hexdigest()


def _objects(reader: PdfReader) -> Iterator[PdfObject]:
    """Every object reachable from the trailer, each once; streams are not decoded."""
    seen: set[tuple[int, int]] = set()
    todo: list[PdfObject | None] = [reader.trailer]
    while todo:
        item = todo.pop()
        if isinstance(item, IndirectObject):
            if (item.idnum, item.generation) in seen or len(seen) > _MAX_PDF_OBJECTS:
                continue
            seen.add((item.idnum, item.generation))
            item = item.get_object()
        if item is None:
            continue
        yield item
        if isinstance(item, DictionaryObject):
            todo.extend(item.values())
        elif isinstance(item, ArrayObject):
            todo.extend(item)


def _is_pdf(content: bytes) -> bool | None:
    """True for a readable PDF without active content, False for a PDF that runs or carries
    something, None for a file that is no PDF at all."""
    if not content.startswith(b"%PDF-") and b"%PDF-" not in content[:1024]:
        return None
    try:
        reader = PdfReader(io.BytesIO(content), strict=False)
        if reader.is_encrypted and not reader.decrypt(""):
            return False
        if len(reader.pages) < 1:
            return None
        for item in _objects(reader):
            if isinstance(item, DictionaryObject):
                if _ACTIVE_KEYS.intersection(item) or item.get("/S") in _ACTIVE_ACTIONS:
                    return False
                if item.get("/Type") == NameObject("/Filespec"):
                    return False
    except (PyPdfError, ValueError, KeyError, TypeError, AttributeError, RecursionError,
            OSError):
        return None
    return True


def _csv_rows(content: bytes) -> list[list[str]] | None:
    """The rows of a CSV extract, or None if the bytes are no CSV (or are HTML)."""
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
    if _HTML_TAG.search(text):
        return None
    first = text.lstrip().split("\n", 1)[0]
    delimiter = ";" if first.count(";") >= first.count(",") else ","
    try:
        rows = list(csv.reader(io.StringIO(text), delimiter=delimiter, strict=True))
    except csv.Error:
        return None
    return rows if rows and max(len(row) for row in rows) >= 2 else None


def _is_formula(cell: str) -> bool:
    return cell.startswith(_FORMULA_START) and not _NUMBER.fullmatch(cell.strip())


def _clean_name(name: str, media_type: str) -> str:
    base = _UNSAFE_NAME.sub("_", Path(name.replace("\\", "/")).name).strip(" .")[:150]
    suffix = ".pdf" if media_type == PDF else ".csv"
    stem = base.rsplit(".", 1)[0] if "." in base else base
    return f"{stem or 'bestand'}{suffix}"


def check_upload(kind: DocumentKind, filename: str, content: bytes) -> Upload:
    """The file as an Upload, or InvalidInput naming the field (the kind) with a Dutch reason.
    Reads the whole file: call it off the event loop."""
    limit = get_settings().uploads.max_mb
    if not content:
        raise InvalidInput({kind.value: m.FILE_MISSING if not filename else m.FILE_EMPTY})
    if len(content) > limit * 1024 * 1024:
        raise InvalidInput({kind.value: m.FILE_TOO_LARGE.format(mb=limit)})
    pdf = _is_pdf(content)
    if pdf is False:
        raise InvalidInput({kind.value: m.FILE_PDF_ACTIVE})
    if pdf:
        media_type, rows = PDF, None
    else:
        rows = _csv_rows(content)
        media_type = CSV if rows is not None else ""
    if media_type not in ACCEPTED[kind]:
        raise InvalidInput({kind.value: REFUSED[kind]})
    formulas = rows is not None and any(_is_formula(cell) for row in rows for cell in row)
    return Upload(kind, _clean_name(filename, media_type), media_type, content, formulas)


def store(upload: Upload) -> str:
    """Writes the bytes (once per content); returns their hash."""
    return store_blob(upload.content)


def read_document(document: Document) -> bytes:
    """The bytes as sent; BlobDamaged if they are gone or changed."""
    return read_blob(document.sha256)


def case_document(session: Session, case: Case, document_id: int, *, actor: Actor,
                  client: str) -> tuple[Document, bytes]:
    """A file the practitioner sent for this case, with its bytes, for `actor`; LookupError if
    it is not one of this case's, BlobDamaged if its bytes are gone or changed. The look is
    recorded (who, when, from where) before the bytes are handed out."""
    document = session.get(Document, document_id)
    if document is None or document.case_id != case.id:
        raise LookupError(document_id)
    content = read_document(document)
    record_look(case, Looked.DOCUMENT, actor=actor, client=client, document_id=document_id)
    return document, content


def certificate_pdf(session: Session, case_id: int) -> tuple[str, bytes]:
    """The certificate's number and its PDF as it was mailed (kept by its hash); LookupError
    if none was issued, BlobDamaged if its bytes are gone or changed."""
    certificate = get_certificate(session=session, case_id=case_id)
    if certificate is None or certificate.pdf_sha256 is None:
        raise LookupError(case_id)
    return certificate.number, read_blob(certificate.pdf_sha256)


def case_papers(session: Session, case_id: int) -> list[tuple[str, bytes]]:
    """The PDFs a case produced (invoices, the certificate), under the names they were mailed
    with."""
    papers = [(f"factuur-{i.number}.pdf", i.pdf_sha256)
              for i in case_invoices(session=session, case_id=case_id)]
    certificate = get_certificate(session=session, case_id=case_id)
    if certificate is not None:
        papers.append((f"bewijs-van-herregistratie-{certificate.number}.pdf",
                       certificate.pdf_sha256))
    return [(name, read_blob(digest)) for name, digest in papers if digest]
