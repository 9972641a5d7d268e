"""Paying an invoice (issue 10, item 4): the iDEAL link in the invoice mail, the provider's
webhook recording the payment and answering the case's payment pause once, and what does not:
the same webhook twice, a failed or expired payment, a forged webhook (the adapter asks the
provider), the provider down. Mollie's official client talks to a local server that speaks
Mollie's API (tests/fake_mollie.py). Offline database, real SMTP server, no Prefect server."""

from __future__ import annotations

import re
from collections.abc import Iterator
from typing import Any

import pytest
from markupsafe import escape
from sqlalchemy import update
from sqlmodel import col

from domain import messages as m
from models.db import read_session, session_scope
from models.decision import get_decision
from models.invoice import InvoiceStatus, case_invoices
from models.payment import BankEntry, EntryOutcome, OnlinePayment, OnlineStatus, open_entries
from service.actions import open_case
from tests.conftest import ASSOCIATION, TODAY, Mailbox, case_row, csrf_from, herreg_env
from tests.factories import request
from tests.fake_mollie import API_KEY, FakeMollie, fake_mollie
from tests.replay import run_case
from tests.test_step_plan import REQUEST_DATE, TO_PAYMENT, walk
from tests.test_way_in import staff_session

pytestmark = pytest.mark.usefixtures("offline")


@pytest.fixture
def mollie(offline: str) -> Iterator[FakeMollie]:
    with fake_mollie() as fake, herreg_env(payment__mollie_api_key=API_KEY,
                                           payment__mollie_endpoint=fake.url):
        yield fake


def pay_link(mailbox: Mailbox, case_id: int) -> str | None:
    (mail,) = [msg for msg in mailbox.for_case(case_id)
               if str(msg["X-Herregistratie-Key"]).endswith(":invoice_issued")]
    body = mail.get_body(("plain",))
    assert body is not None
    found = re.search(r"Betaal direct met iDEAL: \S+(/betalen/\S+)", body.get_content())
    return found.group(1) if found else None


async def at_payment(mailbox: Mailbox) -> tuple[Any, str | None]:
    opened = await open_case(request(REQUEST_DATE), actor=ASSOCIATION)
    assert await walk(opened.number, opened.case_id, TO_PAYMENT) == "payment"
    return opened, pay_link(mailbox, opened.case_id)


def payments(case_id: int) -> list[OnlinePayment]:
    from sqlmodel import select

    with read_session() as session:
        (invoice,) = case_invoices(session=session, case_id=case_id)
        return list(session.exec(select(OnlinePayment)
                                 .where(OnlinePayment.invoice_id == invoice.id)))


def webhook(client: Any, payment_id: str) -> int:
    return int(client.post("/betalingen/mollie", data={"id": payment_id}).status_code)


async def test_a_paid_webhook_answers_the_payment_pause_once(
        mollie: FakeMollie, mailbox: Mailbox, offline_client: Any) -> None:
    opened, link = await at_payment(mailbox)
    first = offline_client.get(link, follow_redirects=False)
    assert first.status_code == 303 and first.headers["location"].startswith(
        f"{mollie.url}/checkout/")
    again = offline_client.get(link, follow_redirects=False)  # a second click
    assert again.headers["location"] == first.headers["location"]
    (payment,) = payments(opened.case_id)
    sent = mollie.payments[payment.provider_id]
    assert sent["amount"] == {"currency": "EUR", "value": "84.00"}
    assert sent["webhookUrl"].endswith("/betalingen/mollie") and sent["method"] == "ideal"

    assert webhook(offline_client, payment.provider_id) == 200  # still open: nothing
    with read_session() as session:
        assert get_decision(session=session, case_id=opened.case_id, pause_key="payment") is None
    mollie.set_status(payment.provider_id, "paid")
    assert webhook(offline_client, payment.provider_id) == 200
    assert webhook(offline_client, payment.provider_id) == 200  # sent twice
    with read_session() as session:
        decision = get_decision(session=session, case_id=opened.case_id, pause_key="payment")
    assert decision is not None and decision.actor_name == "iDEAL-betaling (Mollie)"
    assert await run_case(opened.case_id) == "completeness-1"
    with read_session() as session:
        (invoice,) = case_invoices(session=session, case_id=opened.case_id)
    assert invoice.status is InvoiceStatus.PAID
    back = offline_client.get(f"{link}/terug")
    assert back.status_code == 200 and m.PAY_RETURNED_PAID in back.text
    assert m.PAY_ALREADY_PAID in offline_client.get(link).text
    assert [p.status for p in payments(opened.case_id)] == [OnlineStatus.PAID]
    assert "payment_confirmed" in mailbox.templates(opened.case_id)
    mailbox.assert_each_once()


async def test_failed_expired_and_forged_webhooks_record_nothing(
        mollie: FakeMollie, mailbox: Mailbox, offline_client: Any) -> None:
    opened, link = await at_payment(mailbox)
    offline_client.get(link, follow_redirects=False)
    (first,) = payments(opened.case_id)
    mollie.set_status(first.provider_id, "failed")
    assert webhook(offline_client, first.provider_id) == 200
    assert payments(opened.case_id)[0].status is OnlineStatus.FAILED
    back = offline_client.get(f"{link}/terug")
    assert m.PAY_RETURNED_OPEN in back.text and f'href="{link}"' in back.text

    offline_client.get(link, follow_redirects=False)  # tries again: a new payment
    second = payments(opened.case_id)[1]
    mollie.set_status(second.provider_id, "expired")
    assert webhook(offline_client, second.provider_id) == 200
    assert webhook(offline_client, "tr_doesnotexist") == 200  # forged: unknown id
    offline_client.get(link, follow_redirects=False)
    third = payments(opened.case_id)[2]
    # A forged call for an open payment: the body cannot say "paid", Mollie is asked.
    assert offline_client.post("/betalingen/mollie", data={
        "id": third.provider_id, "status": "paid"}).status_code == 200
    assert [p.status for p in payments(opened.case_id)] == [
        OnlineStatus.FAILED, OnlineStatus.EXPIRED, OnlineStatus.OPEN]
    with read_session() as session:
        assert get_decision(session=session, case_id=opened.case_id, pause_key="payment") is None
    assert case_row(opened.case_id).awaiting_action == "payment_received"


async def test_with_the_provider_down_nothing_is_lost(
        mollie: FakeMollie, mailbox: Mailbox, offline_client: Any) -> None:
    opened, link = await at_payment(mailbox)
    mollie.down = True
    page = offline_client.get(link, follow_redirects=False)
    assert page.status_code == 503 and m.PAY_UNAVAILABLE in page.text
    assert payments(opened.case_id) == []
    mollie.down = False
    offline_client.get(link, follow_redirects=False)
    (payment,) = payments(opened.case_id)
    mollie.set_status(payment.provider_id, "paid")
    mollie.down = True
    assert webhook(offline_client, payment.provider_id) == 503  # Mollie sends it again
    mollie.down = False
    assert webhook(offline_client, payment.provider_id) == 200
    with read_session() as session:
        assert get_decision(session=session, case_id=opened.case_id,
                            pause_key="payment") is not None


async def test_without_a_key_the_invoice_mail_offers_bank_transfer_only(
        mailbox: Mailbox, offline_client: Any) -> None:
    opened = await open_case(request(REQUEST_DATE), actor=ASSOCIATION)
    assert await walk(opened.number, opened.case_id, TO_PAYMENT) == "payment"
    (mail,) = [msg for msg in mailbox.for_case(opened.case_id)
               if str(msg["X-Herregistratie-Key"]).endswith(":invoice_issued")]
    assert "iDEAL" not in mail.get_body(("plain",)).get_content()  # type: ignore[union-attr]


def camt053(entries: list[tuple[str, str, str, str]],
            statement: str = "AFSCHRIFT-2026-06", account: str = "NL91ABNA0417164300") -> bytes:
    """A CAMT.053.001.02 statement, of KP's account unless another is named: (reference,
    amount, credit/debit, text)."""
    lines = "".join(f"""
      <Ntry>
        <Amt Ccy="EUR">{amount}</Amt><CdtDbtInd>{side}</CdtDbtInd><Sts>BOOK</Sts>
        <BookgDt><Dt>2026-05-30</Dt></BookgDt><ValDt><Dt>2026-05-30</Dt></ValDt>
        <AcctSvcrRef>{reference}</AcctSvcrRef>
        <NtryDtls><TxDtls>
          <RltdPties><Dbtr><Nm>J. Betaler</Nm></Dbtr></RltdPties>
          <RmtInf><Ustrd>{text}</Ustrd></RmtInf>
        </TxDtls></NtryDtls>
      </Ntry>""" for reference, amount, side, text in entries)
    return f"""<?xml version="1.0" encoding="UTF-8"?>
<Document xmlns="urn:iso:std:iso:20022:tech:xsd:camt.053.001.02">
  <BkToCstmrStmt>
    <GrpHdr><MsgId>MSG-1</MsgId><CreDtTm>2026-05-31T06:00:00</CreDtTm></GrpHdr>
    <Stmt>
      <Id>{statement}</Id>
      <Acct><Id><IBAN>{account}</IBAN></Id></Acct>{lines}
    </Stmt>
  </BkToCstmrStmt>
</Document>""".encode()


def upload(client: Any, content: bytes) -> Any:
    token = csrf_from(client.get("/betalingen/bankafschrift").text)
    return client.post("/betalingen/bankafschrift", data={"csrf_token": token},
                       files={"bestand": ("afschrift.xml", content, "application/xml")})


async def test_kp_reconciles_a_bank_statement_once(mailbox: Mailbox) -> None:
    paid, _ = await at_payment(mailbox)
    short, _ = await at_payment(mailbox)
    with read_session() as session:
        (full,) = case_invoices(session=session, case_id=paid.case_id)
        (partial,) = case_invoices(session=session, case_id=short.case_id)
    statement = camt053([
        ("REF-1", "84.00", "CRDT", f"Betaling factuur {full.number} herregistratie"),
        ("REF-2", "42.00", "CRDT", f"{partial.number.replace('-', ' ')} eerste deel"),
        ("REF-3", "25.00", "CRDT", "Contributie 2026"),
        ("REF-4", "84.00", "DBIT", f"Terugboeking {full.number}")])
    with staff_session("register_staff") as kp:
        report = upload(kp, statement)
        assert report.status_code == 200
        text = " ".join(report.text.split())
        assert "3 bijschrijvingen: 1 betaling vastgelegd, 2 om na te kijken (op de werklijst " \
            "hieronder), 0 al eerder" in text
        assert f"factuur {full.number}" in text and "Ander bedrag" in text
        assert "Geen factuur gevonden" in text
        with read_session() as session:
            decision = get_decision(session=session, case_id=paid.case_id, pause_key="payment")
            assert decision is not None and decision.input["paid_on"] == "2026-05-30"
            assert decision.actor_name.endswith("(bankafschrift)")
            assert get_decision(session=session, case_id=short.case_id,
                                pause_key="payment") is None
        again = " ".join(upload(kp, statement).text.split())
        assert "3 bijschrijvingen: 0 betalingen vastgelegd, 0 om na te kijken (op de werklijst " \
            "hieronder), 3 al eerder ingelezen, waarvan 2 nog open op de werklijst" in again
        # The money stays in view until a person links it or says what was done with it.
        with read_session() as session:
            open_lines = {e.reference: e for e in open_entries(session=session)}
        assert {"REF-2", "REF-3"} <= set(open_lines)
        page = kp.get("/betalingen/bankafschrift").text
        token = csrf_from(page)
        unknown = kp.post(f"/betalingen/werklijst/{open_lines['REF-3'].id}", data={
            "csrf_token": token, "besluit": "koppelen", "factuur": "F-2026-99999"})
        assert unknown.status_code == 422
        assert str(escape(m.BANK_INVOICE_UNKNOWN.format(number="F-2026-99999"))) in unknown.text
        linked = kp.post(f"/betalingen/werklijst/{open_lines['REF-2'].id}", data={
            "csrf_token": token, "besluit": "koppelen", "factuur": partial.number})
        assert linked.status_code == 200
        assert m.BANK_LINKED_DONE.format(case=short.number) in linked.text
        handled = kp.post(f"/betalingen/werklijst/{open_lines['REF-3'].id}", data={
            "csrf_token": token, "besluit": "afhandelen", "reden": "Contributie: naar VvOCM"})
        assert handled.status_code == 200 and m.BANK_HANDLED_DONE in handled.text
        twice = kp.post(f"/betalingen/werklijst/{open_lines['REF-3'].id}", data={
            "csrf_token": token, "besluit": "afhandelen", "reden": "nog eens"})
        assert twice.status_code == 409
        with read_session() as session:
            assert get_decision(session=session, case_id=short.case_id,
                                pause_key="payment") is not None
            left = {e.reference for e in open_entries(session=session)}
        assert not {"REF-2", "REF-3"} & left
        third = " ".join(upload(kp, statement).text.split())
        assert "3 al eerder ingelezen." in third and "nog open" not in third
        assert upload(kp, b"geen xml").status_code == 422
        assert str(escape(m.CAMT_NOT_053)) in upload(kp, b"<Document><x/></Document>").text
        bomb = (b'<?xml version="1.0"?><!DOCTYPE d [<!ENTITY a "aaaaaaaaaa">'
                + b"".join(f'<!ENTITY {chr(98 + i)} "{("&" + chr(97 + i) + ";") * 10}">'
                           .encode() for i in range(8))
                + b']><Document xmlns="urn:iso:std:iso:20022:tech:xsd:camt.053.001.02">&i;'
                + b'</Document>')
        refused = upload(kp, bomb)  # 10^9 characters if expanded: expat refuses
        assert refused.status_code == 422 and m.CAMT_NOT_XML in refused.text
    assert await run_case(paid.case_id) == "completeness-1"


async def test_a_payment_marked_paid_but_never_recorded_is_recorded_by_the_next_call(
        mollie: FakeMollie, mailbox: Mailbox, offline_client: Any) -> None:
    """The process died between marking our payment row paid and recording the decision
    (or the database went away): Mollie's next webhook, or the return page, finishes it."""
    opened, link = await at_payment(mailbox)
    assert link is not None
    offline_client.get(link, follow_redirects=False)
    (payment,) = payments(opened.case_id)
    mollie.set_status(payment.provider_id, "paid")
    with session_scope() as session:
        session.execute(update(OnlinePayment).where(col(OnlinePayment.id) == payment.id)
                        .values(status=OnlineStatus.PAID))
    assert m.PAY_RETURNED_PAID in offline_client.get(f"{link}/terug").text
    with read_session() as session:
        decision = get_decision(session=session, case_id=opened.case_id, pause_key="payment")
    assert decision is not None and decision.actor_name == "iDEAL-betaling (Mollie)"
    assert webhook(offline_client, payment.provider_id) == 200  # Mollie's retry: nothing more
    assert await run_case(opened.case_id) == "completeness-1"


async def test_a_statement_line_matched_but_never_recorded_is_recorded_on_the_next_upload(
        mailbox: Mailbox) -> None:
    opened, _ = await at_payment(mailbox)
    with read_session() as session:
        (invoice,) = case_invoices(session=session, case_id=opened.case_id)
    with session_scope() as session:  # the upload that died after reading the line
        session.add(BankEntry(account="NL91ABNA0417164300", reference="REF-DIED",
                              statement="AFSCHRIFT", booked_on=TODAY, amount=invoice.amount,
                              invoice_id=invoice.id, outcome=EntryOutcome.MATCHED))
    statement = camt053([("REF-DIED", f"{invoice.amount:.2f}", "CRDT",
                          f"Factuur {invoice.number}")])
    with staff_session("register_staff") as kp:
        healed = " ".join(upload(kp, statement).text.split())
        assert "1 bijschrijvingen: 1 betaling vastgelegd" in healed
        assert f"factuur {invoice.number}" in healed
        again = " ".join(upload(kp, statement).text.split())
        assert "0 betalingen vastgelegd, 0 om na te kijken (op de werklijst hieronder), " \
            "1 al eerder ingelezen." in again
    with read_session() as session:
        assert get_decision(session=session, case_id=opened.case_id,
                            pause_key="payment") is not None
