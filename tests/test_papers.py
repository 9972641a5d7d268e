"""The papers the register hands out (issue 10): the certificate (R12) and the invoices (R9,
and VvOCM's intake fee of R7) as PDF, checked by text extraction for every field, one page of
each kept as a PNG under test-artifacts/papers/ for a person to look at; the same bytes in the
mail and behind the download links. Offline database, real SMTP server, no Prefect server.
"""

from __future__ import annotations

import io
import re
from decimal import Decimal
from email.message import EmailMessage
from pathlib import Path
from typing import Any

import pypdfium2
import pytest
from dateutil.relativedelta import relativedelta
from pypdf import PdfReader

from domain.formatting import format_date, format_euro, format_iban
from models.certificate import get_certificate
from models.db import read_session, session_scope
from models.invoice import case_invoices
from models.practitioner import Practitioner
from service.actions import act, open_case
from settings import get_settings
from tests.conftest import ASSOCIATION, PRACTITIONER, TODAY, Mailbox, case_row, herreg_env
from tests.factories import request
from tests.replay import close, run_case
from tests.test_step_plan import REQUEST_DATE, TO_PAYMENT, TO_REVIEW, reviewer, walk
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


def flat(text: str) -> str:
    """As text_of_pdf has it: any run of white space (a no-break space too) one space."""
    return " ".join(text.split())


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


def set_address(case_id: int, address: str) -> None:
    with session_scope() as session:
        practitioner = session.get(Practitioner, case_row(case_id).practitioner_id)
        assert practitioner is not None
        practitioner.address = address
        session.add(practitioner)


@pytest.mark.parametrize("vat_rate", ["", "21"])  # "": not set, the exemption line
async def test_the_invoice_is_a_pdf_meeting_the_dutch_invoice_rules(
        mailbox: Mailbox, vat_rate: str) -> None:
    with herreg_env(**{"papers__register_office__vat_rate": vat_rate} if vat_rate else {}):
        opened = await open_case(request(REQUEST_DATE), actor=ASSOCIATION)
        set_address(opened.case_id, "Hoofdstraat 12, 1234 AB Ergens")
        assert await walk(opened.number, opened.case_id, TO_PAYMENT) == "payment"
    with read_session() as session:
        (invoice,) = case_invoices(session=session, case_id=opened.case_id)
    (mail,) = [m for m in mailbox.for_case(opened.case_id)
               if str(m["X-Herregistratie-Key"]).endswith(":invoice_issued")]
    filename, pdf = attachment(mail)
    assert filename == f"factuur-{invoice.number}.pdf"
    text = text_of_pdf(pdf)
    papers = get_settings().papers.register_office
    practitioner = practitioner_of(case_row(opened.case_id))
    submitted = TODAY - relativedelta(days=5)
    for field in ("Factuur", invoice.number, f"Factuurdatum {format_date(TODAY)}",
                  f"Datum van de dienst {format_date(submitted)}",
                  papers.name, papers.address, f"KvK {papers.kvk}",
                  f"Btw-nummer {papers.vat_number}", practitioner.name,
                  "Hoofdstraat 12, 1234 AB Ergens", practitioner.kp_number, opened.number,
                  "Herregistratie specialisatie Kinderoefentherapie",
                  f"Totaal te betalen {format_euro(invoice.amount)}",
                  f"uiterlijk {format_date(invoice.due_on)}", format_iban(
                      get_settings().payment.register_iban), "betalingskenmerk"):
        assert flat(field) in text, f"{field!r} not in the invoice: {text}"
    assert invoice.due_on == case_row(opened.case_id).due_on  # the payment pause's due date
    if vat_rate:
        net = (invoice.amount * 100 / 121).quantize(Decimal("0.01"))
        assert flat(f"Btw 21% {format_euro(invoice.amount - net)}") in text
        assert flat(format_euro(net)) in text
    else:
        assert papers.vat_exemption in text
        keep_as_png(pdf, "invoice")


async def test_the_intake_fee_is_invoiced_by_vvocm_in_a_series_of_its_own(
        mailbox: Mailbox) -> None:
    opened = await open_case(request(REQUEST_DATE, member=False), actor=ASSOCIATION)
    assert await walk(opened.number, opened.case_id, [
        ("association-decision", "association_decision", {"outcome": "intake_call"},
         ASSOCIATION)]) == "intake-outcome"
    (mail,) = [m for m in mailbox.for_case(opened.case_id)
               if str(m["X-Herregistratie-Key"]).endswith(":intake_call_invited")]
    filename, pdf = attachment(mail)
    assert re.fullmatch(r"factuur-VF-2026-\d{5}\.pdf", filename)
    text = text_of_pdf(pdf)
    vvocm = get_settings().papers.association
    assert vvocm.name in text and f"KvK {vvocm.kvk}" in text and "startgesprek" in text
    assert flat(format_euro(Decimal("50"))) in text
    assert format_iban(get_settings().payment.association_iban) in text
    assert "R7" not in text and "tarief voor niet-leden van de VvOCM" in text
    assert "Datum van de dienst de dag van het startgesprek" in text  # not the invoice day
    assert f"Mail {get_settings().addresses.association}" in text


@pytest.mark.parametrize("paid", [True, False])
async def test_a_paid_case_withdrawn_before_its_review_gets_a_credit_note(
        mailbox: Mailbox, paid: bool) -> None:
    opened = await open_case(request(REQUEST_DATE), actor=ASSOCIATION)
    steps = TO_REVIEW[:len(TO_PAYMENT) + 1] if paid else TO_PAYMENT
    assert await walk(opened.number, opened.case_id, steps) == (
        "completeness-1" if paid else "payment")
    await act(opened.number, "withdraw", {"reason": "Ik stop met de specialisatie."},
              actor=PRACTITIONER)
    assert await close(opened.case_id, "withdrawn")
    (mail,) = [m for m in mailbox.for_case(opened.case_id)
               if str(m["X-Herregistratie-Key"]).endswith(":withdrawn")]
    if not paid:
        assert list(mail.iter_attachments()) == []
        assert "creditnota" not in mail.get_body(("plain",)).get_content()  # type: ignore[union-attr]
        return
    with read_session() as session:
        (invoice,) = case_invoices(session=session, case_id=opened.case_id)
    filename, pdf = attachment(mail)
    assert re.fullmatch(r"creditnota-CF-2026-\d{5}\.pdf", filename)
    text = text_of_pdf(pdf)
    for field in ("Creditnota", filename.removeprefix("creditnota-").removesuffix(".pdf"),
                  f"Crediteert factuur {invoice.number} van {format_date(invoice.issued_on)}",
                  "Totaal terug te betalen", flat(format_euro(-invoice.amount)),
                  get_settings().papers.register_office.name):
        assert flat(field) in text, f"{field!r} not in the credit note: {text}"
    body = mail.get_body(("plain",)).get_content()  # type: ignore[union-attr]
    assert "Wij betalen" in body and "creditnota CF-2026-" in body
    keep_as_png(pdf, "credit-note")
