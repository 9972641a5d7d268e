"""Deadlines that chase (tasks/deadlines.py): reminders before a pause's due date to whoever
must act, on the day before / on / after each offset and twice, catch-up after a sweep was
down, and a late reviewer escalated to KP once, with the mark in KP's inbox. Each test has a
database of its own (the reminder pass reads every open case) and a real SMTP server; no
Prefect server (the step plan is replayed offline)."""

from __future__ import annotations

from datetime import date, timedelta
from email.message import EmailMessage
from typing import Any

from domain.working_days import due_date
from models.case import get_case, history
from models.db import read_session, session_scope
from models.invoice import Invoice, InvoiceStatus, case_invoices
from service.actions import act, open_case
from service.inbox import ESCALATED_MARK
from settings import get_settings
from tasks.deadlines import send_deadline_reminders
from tasks.mail import deliver_pending
from tests.conftest import (
    ASSOCIATION,
    TODAY,
    Mailbox,
    case_row,
    herreg_env,
)
from tests.factories import request
from tests.replay import run_case
from tests.test_step_plan import REVIEWER_EMAIL, TO_PAYMENT, TO_REVIEW, reviewer, text_of, walk
from tests.test_way_in import staff_session
from tests.test_web_links import practitioner_of


async def chase(day: date) -> dict[str, int]:
    sent = send_deadline_reminders.fn(day)
    await deliver_pending()
    return sent


def reminders(mailbox: Mailbox, case_id: int, template: str = "deadline_reminder",
              ) -> list[EmailMessage]:
    return [msg for msg in mailbox.for_case(case_id)
            if str(msg["X-Herregistratie-Key"]).split(":")[2] == template]


async def at_association_check() -> Any:
    opened = await open_case(request(TODAY - timedelta(days=20)), actor=ASSOCIATION)
    assert await run_case(opened.case_id) == "association-decision"
    return case_row(opened.case_id)


async def test_staff_are_reminded_on_each_offset_once(own_database: Mailbox) -> None:
    case = await at_association_check()
    due = due_date(TODAY, get_settings().deadlines.association_decision)
    assert case.due_on == due and get_settings().deadlines.reminders_before == [7, 2]
    expected = {due - timedelta(days=8): 0, due - timedelta(days=7): 1,
                due - timedelta(days=6): 0, due - timedelta(days=3): 0,
                due - timedelta(days=2): 1, due - timedelta(days=1): 0, due: 0,
                due + timedelta(days=1): 0}
    for day, count in expected.items():
        assert (await chase(day))["reminder"] == count, day
        assert (await chase(day))["reminder"] == 0, f"{day}, twice"
    sent = reminders(own_database, case.id)
    assert len(sent) == 2
    assert all(str(msg["To"]) == get_settings().addresses.association for msg in sent)
    body = text_of(sent[0])
    assert body.startswith("Beste collega's van de VvOCM,") and f"/zaken/{case.number}" in body
    assert "het besluit van de VvOCM" in body and "(nog 7 dagen)" in body
    assert "(nog 2 dagen)" in text_of(sent[1])
    with read_session() as session:
        rows = [e for e in history(session=session, case_id=case.id) if e.action == "reminder"]
    assert [e.key for e in rows] == ["reminder:association-decision:7",
                                     "reminder:association-decision:2"]
    assert all(e.mails for e in rows)
    with staff_session("association_staff") as staff:
        assert staff.get(f"/zaken/{case.number}").text.count("Herinnering verstuurd") == 2
    own_database.assert_each_once()


async def test_a_sweep_that_was_down_sends_only_the_latest_reminder(own_database: Mailbox) -> None:
    case = await at_association_check()
    assert (await chase(case.due_on - timedelta(days=1)))["reminder"] == 1
    assert (await chase(case.due_on))["reminder"] == 0
    (only,) = reminders(own_database, case.id)
    assert "reminder-association-decision-2" in str(only["X-Herregistratie-Key"])
    late = await at_association_check()
    assert (await chase(late.due_on + timedelta(days=1)))["reminder"] == 0
    assert not reminders(own_database, late.id)


async def test_offsets_come_from_the_settings_and_a_recorded_decision_stops_them(
        own_database: Mailbox) -> None:
    with herreg_env(deadlines__reminders_before="[10]"):
        case = await at_association_check()
        assert (await chase(case.due_on - timedelta(days=11)))["reminder"] == 0
        assert (await chase(case.due_on - timedelta(days=10)))["reminder"] == 1
        decided = await at_association_check()
        await act(decided.number, "association_decision", {"outcome": "advise"},
                  actor=ASSOCIATION)  # recorded; its run has not taken it yet
        assert (await chase(decided.due_on - timedelta(days=10)))["reminder"] == 0
    assert len(reminders(own_database, case.id)) == 1 and not reminders(own_database, decided.id)


async def test_the_practitioner_is_reminded_to_submit_with_the_status_link(
        own_database: Mailbox) -> None:
    opened = await open_case(request(TODAY - timedelta(days=30)), actor=ASSOCIATION)
    assert await walk(opened.number, opened.case_id, TO_PAYMENT[:2]) == "submission"
    case = case_row(opened.case_id)
    assert (await chase(case.due_on - timedelta(days=7)))["reminder"] == 1
    (sent,) = reminders(own_database, case.id)
    body = text_of(sent)
    practitioner = practitioner_of(case)
    assert str(sent["To"]) == practitioner.email and "het indienen van het dossier" in body
    assert body.startswith(f"Geachte {practitioner.name},")
    assert "/status/" in body and "/zaken/" not in body


async def test_a_late_reviewer_is_reminded_then_escalated_to_kp_once(own_database: Mailbox) -> None:
    opened = await open_case(request(TODAY - timedelta(days=30)), actor=ASSOCIATION)
    assert await walk(opened.number, opened.case_id, TO_REVIEW) == "findings-1"
    case = case_row(opened.case_id)
    due = case.due_on
    assert (await chase(due - timedelta(days=2)))["reminder"] == 1
    (reminder,) = reminders(own_database, case.id)
    assert str(reminder["To"]) == REVIEWER_EMAIL and "/beoordeling/" in text_of(reminder)
    assert (await chase(due))["escalation"] == 0
    assert (await chase(due + timedelta(days=1)))["escalation"] == 1
    assert (await chase(due + timedelta(days=2)))["escalation"] == 0
    (escalation,) = reminders(own_database, case.id, "review_overdue")
    assert str(escalation["To"]) == get_settings().addresses.register_office
    assert "1 dag te laat" in text_of(escalation) and REVIEWER_EMAIL in text_of(escalation)

    with staff_session("register_staff") as kp:
        inbox = kp.get("/inbox").text
        assert case.number in inbox and ESCALATED_MARK in inbox
        assert "Beoordeling te laat: KP gewaarschuwd" in kp.get(f"/zaken/{case.number}").text
    await act(case.number, "findings", {"outcome": "positive"}, actor=reviewer(case.id))
    assert (await chase(due + timedelta(days=3)))["escalation"] == 0
    own_database.assert_each_once()


async def test_one_broken_case_holds_up_no_other_reminder(own_database: Mailbox) -> None:
    broken, healthy = await at_association_check(), await at_association_check()
    with session_scope() as session:
        case = get_case(session=session, case_id=broken.id, for_update=True)
        case.specialisation = "XYZ"  # its register policy is gone
        session.add(case)
    assert await chase(healthy.due_on - timedelta(days=7)) == {
        "reminder": 1, "escalation": 0, "invoice_reminder": 0, "errors": 1}
    assert len(reminders(own_database, healthy.id)) == 1 and not reminders(own_database, broken.id)


async def test_an_unpaid_intake_fee_is_reminded_with_its_invoice(
        own_database: Mailbox) -> None:
    opened = await open_case(request(TODAY - timedelta(days=20), member=False),
                             actor=ASSOCIATION)
    assert await walk(opened.number, opened.case_id, [
        ("association-decision", "association_decision", {"outcome": "intake_call"},
         ASSOCIATION)]) == "intake-outcome"
    with read_session() as session:
        (invoice,) = case_invoices(session=session, case_id=opened.case_id)
    assert invoice.due_on is not None
    for day in (invoice.due_on - timedelta(days=7), invoice.due_on - timedelta(days=7)):
        await chase(day)
    (sent,) = reminders(own_database, opened.case_id, "invoice_reminder")
    assert invoice.number in str(sent["Subject"])
    assert [part.get_filename() for part in sent.iter_attachments()] == [
        f"factuur-{invoice.number}.pdf"]
    with session_scope() as session:
        paid = session.get(Invoice, invoice.id)
        assert paid is not None
        paid.status = InvoiceStatus.PAID
        session.add(paid)
    assert (await chase(invoice.due_on - timedelta(days=2)))["invoice_reminder"] == 0
