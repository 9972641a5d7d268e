"""The papers the register hands out (issue 10): the certificate as a PDF (R12), checked by
text extraction for every field, one page kept as a PNG under test-artifacts/papers/ for a
person to look at; the same bytes in the mail and behind both download links. Offline
database, real SMTP server, no Prefect server."""

from __future__ import annotations

import io
import re
from email.message import EmailMessage
from pathlib import Path
from typing import Any

import pypdfium2
import pytest
from dateutil.relativedelta import relativedelta
from pypdf import PdfReader

from models.certificate import get_certificate
from models.db import read_session
from service.actions import act, open_case
from tasks.rendering import format_date
from tests.conftest import ASSOCIATION, TODAY, Mailbox, case_row
from tests.factories import request
from tests.replay import run_case
from tests.test_step_plan import REQUEST_DATE, TO_REVIEW, reviewer, walk
from tests.test_way_in import staff_session
from tests.test_web_links import link_from_mail, practitioner_of

pytestmark = pytest.mark.usefixtures("offline")
ARTIFACTS = Path(__file__).resolve().parent.parent / "test-artifacts" / "papers"


def attachment(message: EmailMessage) -> tuple[str, bytes]:
    (part,) = list(message.iter_attachments())
    payload = part.get_payload(decode=True)
    assert isinstance(payload, bytes)
    return str(part.get_filename()), payload


def text_of_pdf(content: bytes) -> str:
    return " ".join(" ".join(page.extract_text().split()) for page in PdfReader(
        io.BytesIO(content)).pages)


def keep_as_png(content: bytes, name: str) -> Path:
    ARTIFACTS.mkdir(parents=True, exist_ok=True)
    target = ARTIFACTS / f"{name}.png"
    pypdfium2.PdfDocument(content)[0].render(scale=1.5).to_pil().save(target)
    return target


async def test_the_certificate_is_a_pdf_with_every_field_mailed_and_downloadable(
        mailbox: Mailbox, offline_client: Any) -> None:
    opened = await open_case(request(REQUEST_DATE), actor=ASSOCIATION)
    ref, case_id = opened.number, opened.case_id
    assert await walk(ref, case_id, TO_REVIEW) == "findings-1"
    await act(ref, "findings", {"outcome": "positive"}, actor=reviewer(case_id))
    assert await run_case(case_id) == "certified"
    practitioner = practitioner_of(case_row(case_id))
    with read_session() as session:
        certificate = get_certificate(session=session, case_id=case_id)
    assert certificate is not None

    (mail,) = [m for m in mailbox.for_case(case_id)
               if str(m["X-Herregistratie-Key"]).endswith(":certificate_issued")]
    filename, pdf = attachment(mail)
    assert filename == f"bewijs-van-herregistratie-{certificate.number}.pdf"
    assert pdf.startswith(b"%PDF-")
    text = text_of_pdf(pdf)
    submitted = TODAY - relativedelta(days=5)
    for field in ("Bewijs van herregistratie", practitioner.name, practitioner.kp_number,
                  "Kinderoefentherapie", "Kwaliteitsregister Paramedici",
                  f"{format_date(submitted)} tot en met "
                  f"{format_date(submitted + relativedelta(years=5, days=-1))}",
                  certificate.number, ref, format_date(TODAY),
                  f"/register?kp={practitioner.kp_number}&specialisatie=KOT"):
        assert field in text, f"{field!r} not in the certificate: {text}"
    assert keep_as_png(pdf, "certificate").stat().st_size > 10_000

    verify = re.search(r"http://\S+/register\?\S+", text)
    assert verify is not None
    listed = offline_client.get("/register" + verify.group(0).split("/register", 1)[1])
    assert f"<td>{practitioner.name}</td>" in listed.text

    status = await link_from_mail(mailbox, case_id, "certificate_issued", "status")
    page = offline_client.get(status)
    assert "Download uw bewijs van herregistratie (PDF)" in page.text
    assert offline_client.get(f"{status}/bewijs").content == pdf
    assert offline_client.get(f"{status[:-3]}xyz/bewijs").status_code == 403
    with staff_session("register_staff") as staff:
        assert "Bewijs als PDF" in staff.get(f"/zaken/{ref}").text
        download = staff.get(f"/zaken/{ref}/bewijs")
        assert download.content == pdf and download.headers["content-type"] == "application/pdf"
    mailbox.assert_each_once()
