"""Who may be held to a deadline (issue 20): only a wait on the practitioner (submission,
payment, completion, additions, picking an intake time) expires a case the day after its due
date; a wait on VvOCM, KP or the reviewer never does: it is reminded before, escalated after
(the office's lead; KP for a late reviewer), and marked in the inbox. Every pause on the day
before, on and after its due date. Offline database, real SMTP server."""

from __future__ import annotations

from datetime import timedelta
from decimal import Decimal

import pytest

from domain.procedure import PAUSE_BY_ACTION
from domain.states import Party
from models.case import add_note, get_case, history
from models.db import read_session, session_scope
from models.invoice import InvoiceKind, InvoiceStatus, get_invoice
from models.outbox import case_mails
from service.history import staff_history
from service.intake import choose_slot, offer_slots
from settings import get_settings
from tasks.deadlines import escalation_key, overdue_cases, send_deadline_reminders
from tests.conftest import ASSOCIATION, PRACTITIONER, REGISTER, TODAY, Mailbox, case_row
from tests.replay import close, run_case
from tests.test_competing_decisions import INCOMPLETE, PAUSES, Pause, at_pause
from tests.test_intake import VIDEO, at_intake_call
from tests.test_step_plan import TO_REVIEW, event, text_of


@pytest.mark.parametrize("pause", PAUSES, ids=[p.key for p in PAUSES])
async def test_only_the_practitioner_is_held_to_a_due_date(pause: Pause,
                                                          own_database: Mailbox) -> None:
    mailbox = own_database  # a database of its own: the sweep's part reads every case
    number, case_id = await at_pause(pause)
    case = case_row(case_id)
    party = PAUSE_BY_ACTION[pause.action].wait.party
    assert case.awaiting_party == party and case.due_on is not None
    due = case.due_on
    for day in (due - timedelta(days=1), due):
        assert case_id not in overdue_cases.fn(day)
        assert not await close(case_id, "expired", day)
    after = due + timedelta(days=1)
    if party is Party.PRACTITIONER:
        assert case_id in overdue_cases.fn(after)
        assert await close(case_id, "expired", after)
        assert case_row(case_id).state == "expired"
        return
    assert case_id not in overdue_cases.fn(after + timedelta(days=60))
    assert not await close(case_id, "expired", after + timedelta(days=60))
    chase = get_settings().deadlines
    late = chase.escalate_review_after if party is Party.REVIEWER else chase.escalate_staff_after
    before = send_deadline_reminders.fn(due + timedelta(days=late - 1))
    assert before["escalation"] == 0 and event(case_id, escalation_key(pause.key)) is None
    assert send_deadline_reminders.fn(due + timedelta(days=late))["escalation"] == 1
    assert send_deadline_reminders.fn(due + timedelta(days=late + 3))["escalation"] == 0
    assert event(case_id, escalation_key(pause.key)) is not None
    await run_case(case_id)
    (escalated,) = [message for message in mailbox.for_case(case_id)
                    if str(message["X-Herregistratie-Key"]).startswith(
                        f"{case_id}:escalation-{pause.key}:")]
    addresses = get_settings().addresses
    assert str(escalated["To"]) == {Party.REVIEWER: addresses.register_office,
                                    Party.ASSOCIATION: addresses.association_lead,
                                    Party.REGISTER: addresses.register_lead}[party]
    assert case_row(case_id).state != "expired" and case_row(number).awaiting_key == pause.key
    mailbox.assert_each_once()


async def test_a_paid_case_that_expires_before_its_review_gets_its_money_back(
        own_database: Mailbox) -> None:
    mailbox = own_database  # a database of its own: the sweep's part reads every case
    """Completion never supplied: the case expires (the practitioner's wait), and the paid
    fee is credited as the register's policy says; the mail says so."""
    _number, case_id = await at_pause(Pause("completion-1", [*TO_REVIEW[:4], INCOMPLETE],
                                           "completion_supplied", {}, REGISTER))
    due = case_row(case_id).due_on
    assert await close(case_id, "expired", due + timedelta(days=1))
    with read_session() as session:
        invoice = get_invoice(session=session, case_id=case_id,
                              kind=InvoiceKind.REREGISTRATION)
    assert invoice is not None and invoice.status is InvoiceStatus.PAID
    await run_case(case_id)
    (expired,) = [message for message in mailbox.for_case(case_id)
                  if str(message["X-Herregistratie-Key"]).endswith(":expired")]
    text = text_of(expired)
    assert "Wij betalen" in text and "creditnota CF-" in text
    assert [part.get_filename() for part in expired.iter_attachments()] == [
        f"creditnota-{text.split('creditnota ')[1].split()[0]}.pdf"]
    assert invoice.amount == Decimal("84.00")


async def test_a_paid_case_that_expires_after_its_review_began_says_the_fee_stays(
        own_database: Mailbox) -> None:
    mailbox = own_database  # a database of its own: the sweep's part reads every case
    pause = next(p for p in PAUSES if p.key == "additions-1")
    _number, case_id = await at_pause(pause)
    due = case_row(case_id).due_on
    assert await close(case_id, "expired", due + timedelta(days=1))
    await run_case(case_id)
    (expired,) = [message for message in mailbox.for_case(case_id)
                  if str(message["X-Herregistratie-Key"]).endswith(":expired")]
    text = text_of(expired)
    assert "betalen wij dit bedrag niet terug" in text and "84,00" in text
    assert list(expired.iter_attachments()) == []


async def test_the_intake_calls_two_waits_each_get_their_own_reminders(
        own_database: Mailbox) -> None:
    """The intake pause waits first on the practitioner (pick one of the times offered), then
    on VvOCM (the outcome, after the call): each wait is reminded in its own words, and the
    practitioner's reminder does not use up VvOCM's. A late outcome warns VvOCM's lead, and
    the history says so (not "Beoordeling te laat")."""
    mailbox = own_database
    opened = await at_intake_call(member=True)
    slots = await offer_slots(opened.number, {
        "starts": [f"{TODAY + timedelta(days=20)}T10:00"], "minutes": 30,
        "video_link": VIDEO}, actor=ASSOCIATION)
    picking = case_row(opened.case_id)
    assert picking.awaiting_party == Party.PRACTITIONER and picking.due_on is not None
    sent = send_deadline_reminders.fn(picking.due_on - timedelta(days=7))
    assert sent["reminder"] == 1
    await choose_slot(opened.case_id, slots[0].id or 0, actor=PRACTITIONER)
    reporting = case_row(opened.case_id)
    assert reporting.awaiting_party == Party.ASSOCIATION and reporting.due_on is not None
    assert send_deadline_reminders.fn(reporting.due_on - timedelta(days=7))["reminder"] == 1
    late = reporting.due_on + timedelta(days=get_settings().deadlines.escalate_staff_after)
    assert send_deadline_reminders.fn(late)["escalation"] == 1
    await run_case(opened.case_id)

    reminders = [message for message in mailbox.for_case(opened.case_id)
                 if ":reminder-intake-outcome-" in mailbox.key_of(message)]
    association = get_settings().addresses.association
    assert [str(m["To"]) == association for m in reminders] == [False, True]
    assert "het kiezen van een tijd voor het startgesprek" in text_of(reminders[0])
    office = text_of(reminders[1])
    assert "de uitkomst van het startgesprek" in office and "gesloten" not in office
    with read_session() as session:
        people, system = staff_history(session, opened.case_id, history(
            session=session, case_id=opened.case_id), case_mails(
            session=session, case_id=opened.case_id))
    labels = [row.action for row in [*people, *system]]
    assert "Stap te laat: leidinggevende gewaarschuwd" in labels
    assert "Beoordeling te laat: KP gewaarschuwd" not in labels
    mailbox.assert_each_once()


async def test_a_reminder_sent_before_waits_had_their_own_keys_is_not_sent_again(
        own_database: Mailbox) -> None:
    """Running cases: a practitioner who got the 7-day reminder to pick an intake time under
    the old key (`reminder:intake-outcome:7`) does not get it a second time."""
    opened = await at_intake_call(member=True)
    await offer_slots(opened.number, {"starts": [f"{TODAY + timedelta(days=20)}T10:00"],
                                      "video_link": VIDEO}, actor=ASSOCIATION)
    due = case_row(opened.case_id).due_on
    assert due is not None
    with session_scope() as session:
        case = get_case(session=session, case_id=opened.case_id)
        add_note(session=session, case=case, key="reminder:intake-outcome:7",
                 action="reminder", data={"due_on": due.isoformat()})
    assert send_deadline_reminders.fn(due - timedelta(days=7))["reminder"] == 0
    assert send_deadline_reminders.fn(due - timedelta(days=2))["reminder"] == 1
