"""Bank statements that cannot freeze or break anything (issue 21): a line that cannot be
booked (another account, a date before the submission, an unreadable amount or date) goes to
KP's worklist with the reason, never into an exception, and the rest of the statement is read;
the next upload of the same statement answers calmly; a large statement is read off the event
loop while the app keeps answering. Offline database, real SMTP server."""

from __future__ import annotations

import threading
import time
from datetime import timedelta
from typing import Any

import httpx
import pytest

from domain import messages as m
from models.db import read_session
from models.decision import get_decision
from models.invoice import InvoiceKind, case_invoices
from models.payment import open_entries
from service.actions import open_case
from settings import get_settings
from tests.conftest import ASSOCIATION, PASSWORD, TODAY, Mailbox, csrf_from, make_staff
from tests.factories import request
from tests.replay import run_case
from tests.test_payments import at_payment, upload
from tests.test_step_plan import REQUEST_DATE, walk
from tests.test_way_in import shown, staff_session

KP_IBAN = "NL91ABNA0417164300"


def statement(entries: list[tuple[str, str, str, str]], account: str = KP_IBAN,
              name: str = "AFSCHRIFT-T") -> bytes:
    """CAMT.053 with raw values: (reference, amount, booking date, text)."""
    lines = "".join(f"""
      <Ntry><Amt Ccy="EUR">{amount}</Amt><CdtDbtInd>CRDT</CdtDbtInd><Sts>BOOK</Sts>
        {f"<BookgDt><Dt>{booked}</Dt></BookgDt>" if booked else ""}
        <AcctSvcrRef>{reference}</AcctSvcrRef>
        <NtryDtls><TxDtls><RmtInf><Ustrd>{text}</Ustrd></RmtInf></TxDtls></NtryDtls></Ntry>"""
                    for reference, amount, booked, text in entries)
    return f"""<?xml version="1.0" encoding="UTF-8"?>
<Document xmlns="urn:iso:std:iso:20022:tech:xsd:camt.053.001.02"><BkToCstmrStmt>
  <GrpHdr><MsgId>M</MsgId><CreDtTm>2026-05-31T06:00:00</CreDtTm></GrpHdr>
  <Stmt><Id>{name}</Id><Acct><Id><IBAN>{account}</IBAN></Id></Acct>{lines}</Stmt>
</BkToCstmrStmt></Document>""".encode()


def open_problems() -> dict[str, str]:
    with read_session() as session:
        return {e.reference: e.problem for e in open_entries(session=session)}


@pytest.mark.usefixtures("offline")
async def test_a_line_that_cannot_be_booked_waits_on_the_worklist_and_the_rest_is_read(
        mailbox: Mailbox) -> None:
    early, _ = await at_payment(mailbox)
    fine, _ = await at_payment(mailbox)
    with read_session() as session:
        (early_invoice,) = case_invoices(session=session, case_id=early.case_id)
        (fine_invoice,) = case_invoices(session=session, case_id=fine.case_id)
    before = str(TODAY - timedelta(days=400))  # before the case's submission: the case refuses
    content = statement([
        ("P-1", "84.00", before, f"Factuur {early_invoice.number}"),
        ("P-2", "sNaN", str(TODAY), "Onleesbaar bedrag"),
        ("P-3", "1e999999", str(TODAY), "Oneindig bedrag"),
        ("P-4", "25.00", "", "Geen boekdatum"),
        ("P-5", "25.00", "31-02-2026", "Kapotte boekdatum"),
        ("P-6", "84.00", str(TODAY), f"Factuur {fine_invoice.number}"),
    ])
    with staff_session("register_staff") as kp:
        answer = upload(kp, content)
        assert answer.status_code == 200, answer.text
        again = upload(kp, content)  # before, every later statement with the line failed too
        assert again.status_code == 200 and "nog open op de werklijst" in again.text
    problems = open_problems()
    assert {"P-1", "P-2", "P-3", "P-4", "P-5"} <= set(problems)
    assert "P-6" not in problems
    assert m.CAMT_LINE_AMOUNT.format(value="sNaN") == problems["P-2"]
    assert m.CAMT_LINE_AMOUNT.format(value="1e999999") == problems["P-3"]
    assert problems["P-4"].startswith("De boekdatum ontbreekt")
    assert "indienen" in problems["P-1"]  # the case's own reason, in Dutch
    with read_session() as session:
        assert get_decision(session=session, case_id=early.case_id, pause_key="payment") is None
        assert get_decision(session=session, case_id=fine.case_id,
                            pause_key="payment") is not None
    assert await run_case(fine.case_id) == "completeness-1"


@pytest.mark.usefixtures("offline")
async def test_a_statement_pays_only_the_invoices_of_its_own_account(
        mailbox: Mailbox) -> None:
    """Seen before: a statement of another account marked VvOCM's intake invoice paid. Now KP
    reads KP's statements and VvOCM VvOCM's, and each sees only its own lines."""
    opened = await open_case(request(REQUEST_DATE, member=False), actor=ASSOCIATION)
    assert await walk(opened.number, opened.case_id, [
        ("association-decision", "association_decision", {"outcome": "intake_call"},
         ASSOCIATION)]) == "intake-outcome"
    with read_session() as session:
        (intake,) = [i for i in case_invoices(session=session, case_id=opened.case_id)
                     if i.kind is InvoiceKind.INTAKE]
    association = get_settings().payment.association_iban
    vvocm_statement = statement([("A-2", "50.00", str(TODAY), f"Startgesprek {intake.number}")],
                                account=association, name="AFSCHRIFT-VVOCM")
    with staff_session("register_staff") as kp:  # paid to KP by mistake: KP's worklist
        upload(kp, statement([("A-1", "50.00", str(TODAY), f"Startgesprek {intake.number}")]))
        refused = upload(kp, vvocm_statement)  # not KP's to read
        assert refused.status_code == 422
        assert shown(m.CAMT_NOT_OWN_ACCOUNT.format(account=association, own=KP_IBAN)) in \
            refused.text
        assert f"Startgesprek {intake.number}" in kp.get("/betalingen/bankafschrift").text
    assert open_problems()["A-1"] == m.CAMT_LINE_ACCOUNT.format(account=KP_IBAN,
                                                                invoice=intake.number)
    with read_session() as session:
        assert case_invoices(session=session, case_id=opened.case_id)[0].status.value == "open"
        (line,) = [e for e in open_entries(session=session) if e.reference == "A-1"]
    with staff_session("association_staff") as vvocm:  # VvOCM's own account pays it
        assert f"Startgesprek {intake.number}" not in vvocm.get(
            "/betalingen/bankafschrift").text, "KP's line is KP's to handle"
        assert vvocm.post(f"/betalingen/werklijst/{line.id}", data={
            "besluit": "afhandelen", "reden": "x", "csrf_token": csrf_from(
                vvocm.get("/betalingen/bankafschrift").text)}).status_code == 404
        assert upload(vvocm, vvocm_statement).status_code == 200
    with read_session() as session:
        (paid,) = [i for i in case_invoices(session=session, case_id=opened.case_id)
                   if i.kind is InvoiceKind.INTAKE]
    assert paid.status.value == "paid" and "A-2" not in open_problems()


@pytest.mark.usefixtures("stack")
def test_a_large_statement_does_not_freeze_the_app(web_url: str) -> None:
    """A 3,000-line statement took 28 s on the event loop, and the login page waited as long.
    Now it is read in a thread of its own: the app answers meanwhile (on a frozen loop the
    first login page would only come back after the import, and the loop would end at one)."""
    content = statement([(f"BIG-{i}", "12.34", str(TODAY), f"Gift {i}") for i in range(1500)],
                        name="AFSCHRIFT-GROOT")
    kp = make_staff("register_staff")
    with httpx.Client(base_url=web_url, timeout=300) as browser:
        page = browser.get("/inloggen")
        browser.post("/inloggen", data={"email": kp.email, "password": PASSWORD,
                                        "csrf_token": csrf_from(page.text),
                                        "volgende": "/inbox"})
        form = browser.get("/betalingen/bankafschrift")
        result: dict[str, Any] = {}

        def send() -> None:
            result["answer"] = browser.post(
                "/betalingen/bankafschrift", data={"csrf_token": csrf_from(form.text)},
                files={"bestand": ("groot.xml", content, "application/xml")})

        sender = threading.Thread(target=send)
        sender.start()
        waits = []
        with httpx.Client(base_url=web_url, timeout=60) as other:
            while sender.is_alive():
                started = time.monotonic()
                assert other.get("/inloggen").status_code == 200
                waits.append(time.monotonic() - started)
                time.sleep(0.2)
        sender.join()
    assert result["answer"].status_code == 200
    assert "1500 bijschrijvingen" in " ".join(result["answer"].text.split())
    assert len(waits) >= 3, waits
