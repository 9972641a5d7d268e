"""Every branch of the step plan, run by the replay executor against the real database and the
loopback SMTP server: the same flow code as in production, each run replayed from the top, as
a resumed Prefect run is. Intake call (R7), decline (R6), additions (R13) and their limit,
rejection (R14), an incomplete application (R10), certificate (R12), withdrawal, expiry, and
operator input from the Prefect UI."""

from __future__ import annotations

from dataclasses import replace
from datetime import date, timedelta
from decimal import Decimal
from email.message import EmailMessage
from typing import Any

import pytest
from dateutil.relativedelta import relativedelta

from domain import messages as m
from domain.decisions import AssociationDecision
from domain.errors import DecisionConflict, InvalidInput, InvalidTransition
from domain.procedure import STAGE
from domain.states import CaseState as S
from domain.states import Role
from domain.working_days import due_date
from models.case import CaseEvent, EventKind, case_verdict, history
from models.certificate import get_certificate
from models.db import read_session
from models.decision import get_decision
from models.invoice import InvoiceKind, case_invoices
from models.outbox import case_mails
from models.registration import latest_registration
from models.review import ReviewOutcome, case_reviews, get_reviewer
from service.actions import act, open_case
from service.actors import Actor
from service.status_view import StatusView, status_view
from settings import get_settings
from tasks.deadlines import overdue_cases
from tasks.decisions import accept_decision
from tasks.ledger import Entry, Ledger, read_ledger
from tests.conftest import (
    ASSOCIATION,
    PRACTITIONER,
    REGISTER,
    REVIEWER,
    TODAY,
    Mailbox,
    case_row,
    herreg_env,
)
from tests.factories import request
from tests.replay import Replay, close, run_case

pytestmark = pytest.mark.usefixtures("offline")

REQUEST_DATE = TODAY - timedelta(days=30)
REVIEWER_EMAIL = "beoordelaar.branches@example.org"
TO_PAYMENT = [
    ("association-decision", "association_decision", {"outcome": "advise"}, ASSOCIATION),
    ("portfolio-reopened", "portfolio_reopened",
     {"reopened_on": str(TODAY - timedelta(days=10))}, REGISTER),
    ("submission", "submit", {"submitted_on": str(TODAY - timedelta(days=5))}, PRACTITIONER),
]
TO_REVIEW = [
    *TO_PAYMENT,
    ("payment", "payment_received", {"paid_on": str(TODAY - timedelta(days=4))}, REGISTER),
    ("completeness-1", "completeness", {"complete": True}, REGISTER),
    ("assignment", "assign_reviewer", {"reviewer_name": "Dr. R. Beoordelaar",
                                       "reviewer_email": REVIEWER_EMAIL}, REGISTER),
]


def practitioner_view(case_id: int) -> StatusView:
    with read_session() as session:
        return status_view(session, case_row(case_id))


async def walk(ref: str, case_id: int, steps: list[tuple[str, str, dict[str, Any], Actor]],
               ) -> str:
    """At each pause, the person decides; every decision is followed by a fresh run."""
    for pause_key, action, data, actor in steps:
        assert await run_case(case_id) == pause_key
        outcome = await act(ref, action, data, actor=actor, pause_key=pause_key)
        assert not outcome.delivered and outcome.message == m.RECEIVED_QUEUED
    return await run_case(case_id)


def reviewer(case_id: int) -> Actor:
    """The reviewer as their link identifies them: bound to the case's reviewer and round."""
    case = case_row(case_id)
    return replace(REVIEWER, reviewer_id=case.reviewer_id, review_round=case.review_round)


def mail(mailbox: Mailbox, case_id: int, template: str) -> EmailMessage:
    found = [msg for msg in mailbox.for_case(case_id)
             if str(msg["X-Herregistratie-Key"]).split(":")[2] == template]
    assert len(found) == 1, f"{template} arrived {len(found)} times"
    return found[0]


def text_of(message: EmailMessage) -> str:
    body = message.get_body(preferencelist=("plain",))
    assert isinstance(body, EmailMessage)
    return str(body.get_content())


def events(case_id: int) -> list[CaseEvent]:
    with read_session() as session:
        return history(session=session, case_id=case_id)


def event(case_id: int, key: str) -> CaseEvent | None:
    return next((e for e in events(case_id) if e.key == key), None)


# --- the whole plan, and replays ---


async def test_member_case_runs_to_certificate_from_the_submission_date(
        mailbox: Mailbox) -> None:
    opened = await open_case(request(REQUEST_DATE), actor=ASSOCIATION)
    ref, case_id = opened.number, opened.case_id
    assert await walk(ref, case_id, TO_REVIEW) == "findings-1"
    await act(ref, "findings", {"outcome": "positive"}, actor=reviewer(case_id))
    assert await run_case(case_id) == "certified"
    assert mailbox.templates(case_id) == [
        "request_received", "association_check_requested", "reopen_advice",
        "association_approved",
        "portfolio_reopened", "invoice_issued", "payment_confirmed", "review_assigned",
        "certificate_issued",
    ]
    submitted_on = TODAY - timedelta(days=5)
    with read_session() as session:
        certificate = get_certificate(session=session, case_id=case_id)
        assert certificate is not None
        assert certificate.period_start == submitted_on
        assert certificate.period_end == submitted_on + relativedelta(years=5) - timedelta(days=1)
        registration = latest_registration(session=session,
                                           practitioner_id=case_row(ref).practitioner_id,
                                           specialisation="KOT")
        assert registration is not None and registration.visible
        assert registration.period_start == submitted_on
    # A run without the ledger read replays every step as a task; each finds its step done.
    assert await run_case(case_id, Replay()) == "certified"
    mailbox.assert_each_once()
    keys = [e.key for e in events(case_id)]
    assert len(keys) == len(set(keys))
    with read_session() as session:
        assert len(case_invoices(session=session, case_id=case_id)) == 1


async def test_a_resumed_run_starts_tasks_only_where_it_left_off() -> None:
    """Late in a case, the steps and pauses the run went past come from one ledger read, not
    from a task each (in Prefect: a task run, its API calls and events)."""
    opened = await open_case(request(REQUEST_DATE), actor=ASSOCIATION)
    ref, case_id = opened.number, opened.case_id
    assert await walk(ref, case_id, TO_REVIEW) == "findings-1"
    await act(ref, "findings", {"outcome": "positive"}, actor=reviewer(case_id))
    resumed = Replay(ledger=read_ledger.fn(case_id))
    assert await run_case(case_id, resumed) == "certified"
    assert resumed.tasks == ["open_pause", "certify"]


async def test_steps_run_as_tasks_where_the_ledger_does_not_fit_the_path() -> None:
    """Should the plan change under a case, the run replays from memory only while plan and
    ledger agree; from there on steps run as tasks, and their own ledger check keeps each
    once."""
    opened = await open_case(request(REQUEST_DATE), actor=ASSOCIATION)
    ref, case_id = opened.number, opened.case_id
    assert await run_case(case_id) == "association-decision"
    await act(ref, "association_decision", {"outcome": "advise"}, actor=ASSOCIATION)
    assert await run_case(case_id) == "portfolio-reopened"
    past = read_ledger.fn(case_id).entries
    assert [e.key for e in past] == [
        "step:acknowledge-request", "pause:association-decision", "step:advise-reopening",
        "pause:portfolio-reopened"]
    diverged = Replay(ledger=Ledger(entries=[past[0], Entry(key="pause:elsewhere",
                                                            decision={"outcome": "advise"})]))
    assert await run_case(case_id, diverged) == "portfolio-reopened"
    assert diverged.tasks == ["open_pause", "advise_reopening", "open_pause"]
    keys = [e.key for e in events(case_id)]
    assert len(keys) == len(set(keys))


async def test_decision_is_consumed_when_the_run_passes_the_pause() -> None:
    opened = await open_case(request(REQUEST_DATE), actor=ASSOCIATION)
    assert await run_case(opened.case_id) == "association-decision"
    await act(opened.number, "association_decision", {"outcome": "advise"}, actor=ASSOCIATION)
    with read_session() as session:
        record = get_decision(session=session, case_id=opened.case_id,
                              pause_key="association-decision")
        assert record is not None and record.consumed_at is None
    assert case_row(opened.number).awaiting_key == "association-decision"
    assert await run_case(opened.case_id) == "portfolio-reopened"
    with read_session() as session:
        record = get_decision(session=session, case_id=opened.case_id,
                              pause_key="association-decision")
        assert record is not None and record.consumed_at is not None


async def test_a_decision_for_a_step_that_moved_on_is_refused() -> None:
    """A late second click (or a stale page) names the pause it saw: it is not taken for the
    next round of the same action."""
    opened = await open_case(request(REQUEST_DATE), actor=ASSOCIATION)
    ref, case_id = opened.number, opened.case_id
    assert await walk(ref, case_id, [
        *TO_PAYMENT,
        ("payment", "payment_received", {"paid_on": str(TODAY)}, REGISTER),
        ("completeness-1", "completeness", {"complete": False, "missing": "Uittreksel"},
         REGISTER),
        ("completion-1", "completion_supplied", {"supplied_on": str(TODAY)}, PRACTITIONER),
    ]) == "completeness-2"
    before = [e.key for e in events(case_id)]
    with pytest.raises(DecisionConflict) as refused:
        await act(ref, "completeness", {"complete": True}, actor=REGISTER,
                  pause_key="completeness-1")
    assert str(refused.value) == m.STEP_MOVED_ON.format(label="Controle op volledigheid")
    assert [e.key for e in events(case_id)] == before
    await act(ref, "completeness", {"complete": True}, actor=REGISTER,
              pause_key="completeness-2")
    assert await run_case(case_id) == "assignment"


async def test_second_decision_for_the_same_pause_is_a_conflict() -> None:
    opened = await open_case(request(REQUEST_DATE), actor=ASSOCIATION)
    assert await run_case(opened.case_id) == "association-decision"
    await act(opened.number, "association_decision", {"outcome": "advise"}, actor=ASSOCIATION)
    with pytest.raises(DecisionConflict, match=m.ALREADY_DECIDED):
        await act(opened.number, "association_decision", {"outcome": "intake_call"},
                  actor=ASSOCIATION)
    assert await run_case(opened.case_id) == "portfolio-reopened"


# --- R7: the intake call ---


async def test_intake_call_is_free_for_members(mailbox: Mailbox) -> None:
    opened = await open_case(request(REQUEST_DATE, member=True), actor=ASSOCIATION)
    ref, case_id = opened.number, opened.case_id
    assert await walk(ref, case_id, [
        ("association-decision", "association_decision", {"outcome": "intake_call"},
         ASSOCIATION),
    ]) == "intake-outcome"
    assert case_row(ref).state == "intake_call"
    invited = text_of(mail(mailbox, case_id, "intake_call_invited"))
    assert "gratis" in invited and "€" not in invited
    with read_session() as session:
        assert case_invoices(session=session, case_id=case_id) == []
    await act(ref, "intake_outcome", {"held_on": str(TODAY - timedelta(days=7)),
                                      "outcome": "advise", "note": "Goed gesprek"},
              actor=ASSOCIATION)
    assert await run_case(case_id) == "portfolio-reopened"
    assert case_row(ref).state == "reopen_advised"
    assert mail(mailbox, case_id, "reopen_advice")["To"] == \
        get_settings().addresses.register_office
    transition = event(case_id, "step:advise-reopening")
    assert transition is not None
    assert (transition.from_state, transition.to_state) == ("intake_call", "reopen_advised")
    assert (transition.actor_role, transition.actor_name) == (Role.ASSOCIATION_STAFF,
                                                             ASSOCIATION.name)
    mailbox.assert_each_once()


async def test_intake_call_costs_fifty_euro_for_non_members(mailbox: Mailbox) -> None:
    opened = await open_case(request(REQUEST_DATE, member=False), actor=ASSOCIATION)
    ref, case_id = opened.number, opened.case_id
    await walk(ref, case_id, [("association-decision", "association_decision",
                               {"outcome": "intake_call"}, ASSOCIATION)])
    with read_session() as session:
        invoices = case_invoices(session=session, case_id=case_id)
    assert [(i.kind, i.amount, i.issued_on) for i in invoices] == [
        (InvoiceKind.INTAKE, Decimal("50.00"), TODAY)]
    text = text_of(mail(mailbox, case_id, "intake_call_invited"))
    assert "€\xa050,00" in text and invoices[0].number in text


# --- R6: declined, and the mail says what is short ---


async def test_declined_when_points_short_mail_says_what_is_short(mailbox: Mailbox) -> None:
    opened = await open_case(request(REQUEST_DATE, points=30), actor=ASSOCIATION)
    ref, case_id = opened.number, opened.case_id
    verdict = case_verdict(case_row(ref))
    assert not verdict.sufficient and verdict.shortfalls
    assert await walk(ref, case_id, [
        ("association-decision", "association_decision",
         {"outcome": "decline", "note": "Te weinig punten"}, ASSOCIATION),
    ]) == "declined"
    assert case_row(ref).awaiting_action is None
    text = text_of(mail(mailbox, case_id, "declined"))
    assert all(shortfall.message in text for shortfall in verdict.shortfalls)
    assert "Te weinig punten" in text
    assert mailbox.templates(case_id) == [
        "request_received", "association_check_requested", "declined"]


async def test_advice_with_a_shortfall_is_refused_and_records_nothing() -> None:
    opened = await open_case(request(REQUEST_DATE, points=30), actor=ASSOCIATION)
    assert await run_case(opened.case_id) == "association-decision"
    before = [e.key for e in events(opened.case_id)]
    with pytest.raises(InvalidInput) as refused:
        await act(opened.number, "association_decision", {"outcome": "advise"},
                  actor=ASSOCIATION)
    assert set(refused.value.errors) == {"outcome"}
    assert [e.key for e in events(opened.case_id)] == before


# --- R13 and R14: additions, their limit, rejection ---


async def test_additions_loop_then_certificate(mailbox: Mailbox) -> None:
    opened = await open_case(request(REQUEST_DATE), actor=ASSOCIATION)
    ref, case_id = opened.number, opened.case_id
    assert await walk(ref, case_id, TO_REVIEW) == "findings-1"
    await act(ref, "findings", {"outcome": "additions",
                                "explanation": "Voeg het verslag van de intervisie toe."},
              actor=reviewer(case_id))
    assert await run_case(case_id) == "additions-1"
    assert case_row(ref).state == "additions_requested"
    assert "Voeg het verslag van de intervisie toe." in text_of(
        mail(mailbox, case_id, "additions_requested"))
    view = practitioner_view(case_id)
    assert view.next_step and view.next_step.asked == "Voeg het verslag van de intervisie toe."
    await act(ref, "additions_supplied", {"supplied_on": str(TODAY - timedelta(days=1)),
                                          "description": "Intervisieverslag toegevoegd."},
              actor=PRACTITIONER)
    assert await run_case(case_id) == "findings-2"
    assert case_row(ref).review_round == 2
    received = mail(mailbox, case_id, "additions_received")
    assert received["To"] == REVIEWER_EMAIL
    assert "Intervisieverslag toegevoegd." in text_of(received)
    await act(ref, "findings", {"outcome": "positive"}, actor=reviewer(case_id))
    assert await run_case(case_id) == "certified"
    mailbox.assert_each_once()
    with read_session() as session:
        reviews = case_reviews(session=session, case_id=case_id)
        assert [(r.round, r.outcome) for r in reviews] == [
            (1, ReviewOutcome.ADDITIONS), (2, ReviewOutcome.POSITIVE)]
        assert reviews[0].reviewer_id == reviews[1].reviewer_id
        assert get_reviewer(session=session, reviewer_id=reviews[1].reviewer_id).email \
            == REVIEWER_EMAIL


async def test_a_reviewer_of_an_earlier_round_cannot_decide_the_next() -> None:
    opened = await open_case(request(REQUEST_DATE), actor=ASSOCIATION)
    ref, case_id = opened.number, opened.case_id
    await walk(ref, case_id, TO_REVIEW)
    round_one = reviewer(case_id)
    await act(ref, "findings", {"outcome": "additions", "explanation": "Meer uren"},
              actor=round_one)
    await run_case(case_id)
    await act(ref, "additions_supplied", {"supplied_on": str(TODAY), "description": "Uren"},
              actor=PRACTITIONER)
    assert await run_case(case_id) == "findings-2"
    with pytest.raises(Exception, match=m.WRONG_REVIEWER):
        await act(ref, "findings", {"outcome": "positive"}, actor=round_one)


async def test_additions_limited_to_configured_rounds_then_rejected(mailbox: Mailbox) -> None:
    max_rounds = get_settings().max_additions_rounds
    opened = await open_case(request(REQUEST_DATE), actor=ASSOCIATION)
    ref, case_id = opened.number, opened.case_id
    await walk(ref, case_id, TO_REVIEW)
    for round in range(1, max_rounds + 1):
        await act(ref, "findings", {"outcome": "additions",
                                    "explanation": f"Aanvulling ronde {round}"},
                  actor=reviewer(case_id))
        assert await run_case(case_id) == f"additions-{round}"
        await act(ref, "additions_supplied", {"supplied_on": str(TODAY),
                                              "description": f"Aangevuld ronde {round}"},
                  actor=PRACTITIONER)
        assert await run_case(case_id) == f"findings-{round + 1}"
    before = [e.key for e in events(case_id)]
    with pytest.raises(InvalidInput) as refused:
        await act(ref, "findings", {"outcome": "additions", "explanation": "Nog meer"},
                  actor=reviewer(case_id))
    assert refused.value.errors == {"outcome": m.ADDITIONS_LIMIT.format(max=max_rounds)}
    assert [e.key for e in events(case_id)] == before
    explanation = "De activiteiten sluiten niet aan bij de kwaliteitscriteria voor KOT."
    await act(ref, "findings", {"outcome": "negative", "explanation": explanation},
              actor=reviewer(case_id))
    assert await run_case(case_id) == "rejected"
    assert explanation in text_of(mail(mailbox, case_id, "rejected"))
    templates = mailbox.templates(case_id)
    assert templates.count("additions_requested") == max_rounds
    assert templates[-1] == "rejected" and "certificate_issued" not in templates
    with read_session() as session:
        assert [r.outcome for r in case_reviews(session=session, case_id=case_id)] == [
            ReviewOutcome.ADDITIONS, ReviewOutcome.ADDITIONS, ReviewOutcome.NEGATIVE]


# --- R10: an incomplete application ---


async def test_incomplete_application_goes_back_then_continues(mailbox: Mailbox) -> None:
    opened = await open_case(request(REQUEST_DATE), actor=ASSOCIATION)
    ref, case_id = opened.number, opened.case_id
    await walk(ref, case_id, [*TO_PAYMENT, ("payment", "payment_received",
                                            {"paid_on": str(TODAY)}, REGISTER)])
    assert await run_case(case_id) == "completeness-1"
    with pytest.raises(InvalidInput) as refused:
        await act(ref, "completeness", {"complete": False}, actor=REGISTER)
    assert refused.value.errors == {"missing": m.MISSING_REQUIRED}
    missing = "Het uittreksel uit het patiëntendossier ontbreekt."
    assert await walk(ref, case_id, [
        ("completeness-1", "completeness", {"complete": False, "missing": missing}, REGISTER),
        ("completion-1", "completion_supplied", {"supplied_on": str(TODAY),
                                                 "description": "Uittreksel toegevoegd"},
         PRACTITIONER),
    ]) == "completeness-2"
    assert missing in text_of(mail(mailbox, case_id, "completion_requested"))
    assert [line.text for line in practitioner_view(case_id).history] == [
        "Uw aanvraag is ontvangen", *(STAGE[state].milestone for state in (
            S.ASSOCIATION_CHECK, S.REOPEN_ADVISED, S.PORTFOLIO_REOPENED, S.AWAITING_PAYMENT,
            S.COMPLETENESS_CHECK, S.AWAITING_COMPLETION, S.COMPLETENESS_CHECK))]
    back_to_kp = mail(mailbox, case_id, "completion_received")
    assert back_to_kp["To"] == get_settings().addresses.register_office
    assert "Uittreksel toegevoegd" in text_of(back_to_kp) and f"/zaken/{ref}" in text_of(back_to_kp)
    back = event(case_id, "step:resume-completeness-1")
    assert back is not None and back.from_state == "awaiting_completion"
    assert back.actor_role == Role.PRACTITIONER
    assert await walk(ref, case_id, [
        ("completeness-2", "completeness", {"complete": True}, REGISTER),
        ("assignment", "assign_reviewer", {"reviewer_name": "Dr. R. Beoordelaar",
                                           "reviewer_email": REVIEWER_EMAIL}, REGISTER),
    ]) == "findings-1"
    mailbox.assert_each_once()


# --- withdrawal and expiry ---


async def test_withdrawal_closes_the_case_from_any_pause(mailbox: Mailbox) -> None:
    opened = await open_case(request(REQUEST_DATE), actor=ASSOCIATION)
    ref, case_id = opened.number, opened.case_id
    assert await walk(ref, case_id, TO_PAYMENT) == "payment"
    outcome = await act(ref, "withdraw", {"reason": "Ik stop met de specialisatie."},
                        actor=PRACTITIONER)
    assert not outcome.delivered  # Prefect is down: the sweep closes it (reconciler)
    assert await close(case_id, "withdrawn")
    case = case_row(ref)
    assert case.state == "withdrawn" and case.awaiting_key is None
    text = text_of(mail(mailbox, case_id, "withdrawn"))
    assert "Ik stop met de specialisatie." in text and Role.PRACTITIONER.label in text
    with read_session() as session:
        record = get_decision(session=session, case_id=case_id, pause_key="withdraw")
        assert record is not None and record.consumed_at is not None
    # The case's run, replayed now, stops quietly; a second close does nothing.
    assert await run_case(case_id) == "withdrawn"
    assert not await close(case_id, "withdrawn")
    with pytest.raises(InvalidTransition) as refused:
        await act(ref, "payment_received", {"paid_on": str(TODAY)}, actor=REGISTER)
    assert str(refused.value) == m.CASE_CLOSED.format(label="Ingetrokken")
    closed = event(case_id, "step:withdrawn")
    assert closed is not None and closed.from_state == "awaiting_payment"
    assert "payment_confirmed" not in mailbox.templates(case_id)
    mailbox.assert_each_once()


async def at_submission() -> tuple[str, int]:
    """A case waiting for the practitioner's submission: a wait that can expire the case."""
    opened = await open_case(request(REQUEST_DATE), actor=ASSOCIATION)
    assert await walk(opened.number, opened.case_id, TO_PAYMENT[:2]) == "submission"
    return opened.number, opened.case_id


async def test_expired_pause_closes_the_case_the_day_after_its_due_date(
        mailbox: Mailbox) -> None:
    ref, case_id = await at_submission()
    due_on: date = case_row(ref).due_on
    assert due_on == due_date(TODAY, get_settings().deadlines.submission)
    assert case_id not in overdue_cases.fn(due_on)
    assert case_id in overdue_cases.fn(due_on + timedelta(days=1))
    assert not await close(case_id, "expired", due_on)
    assert await close(case_id, "expired", due_on + timedelta(days=1))
    assert case_row(ref).state == "expired"
    assert "het indienen van het dossier" in text_of(mail(mailbox, case_id, "expired"))
    closed = event(case_id, "step:expired")
    assert closed is not None and closed.actor_role == Role.SYSTEM
    with read_session() as session:
        outbox = len(case_mails(session=session, case_id=case_id))
    assert not await close(case_id, "expired", due_on + timedelta(days=1))
    with read_session() as session:
        assert len(case_mails(session=session, case_id=case_id)) == outbox
    mailbox.assert_each_once()


async def test_a_due_date_on_a_holiday_moves_to_the_next_working_day() -> None:
    """Christmas 2026 is a Friday: due on Monday 28 December, expired on the 29th."""
    christmas = date(2026, 12, 25)
    with herreg_env(deadlines__submission=str((christmas - TODAY).days)):
        _ref, case_id = await at_submission()
    assert case_row(case_id).due_on == date(2026, 12, 28)
    assert case_id not in overdue_cases.fn(date(2026, 12, 28))
    assert case_id in overdue_cases.fn(date(2026, 12, 29))


async def test_a_decision_recorded_in_time_wins_over_expiry() -> None:
    ref, case_id = await at_submission()
    due_on: date = case_row(ref).due_on
    await act(ref, "submit", {"submitted_on": str(TODAY)}, actor=PRACTITIONER)
    assert case_id in overdue_cases.fn(due_on + timedelta(days=1))
    assert not await close(case_id, "expired", due_on + timedelta(days=1))
    assert await run_case(case_id) == "payment"


# --- operator input through the Prefect UI goes through the same checks ---


async def test_operator_input_from_prefect_ui_is_validated_then_recorded(
        mailbox: Mailbox) -> None:
    opened = await open_case(request(REQUEST_DATE, points=30), actor=ASSOCIATION)
    ref, case_id = opened.number, opened.case_id
    verdict = case_verdict(case_row(ref))
    # An operator resumes with "advise" although points are short: refused, pause reopens.
    paused = await run_case(case_id, Replay({"association-decision": {"outcome": "advise"}}))
    assert paused == "association-decision-retry-1"
    rejected = event(case_id, "rejected:association-decision")
    assert rejected is not None and rejected.kind == EventKind.NOTE
    assert rejected.actor_role == Role.OPERATOR
    assert rejected.input["errors"] == {"outcome": m.ADVISE_NEEDS_SUFFICIENT.format(
        short="; ".join(s.message for s in verdict.shortfalls))}
    assert event(case_id, "decision:association-decision") is None
    assert case_row(ref).awaiting_key == "association-decision-retry-1"
    # A valid operator input is recorded as an operator decision and acted on.
    assert await run_case(case_id, Replay({
        "association-decision": {"outcome": "advise"},
        "association-decision-retry-1": {"outcome": "decline"}})) == "declined"
    decision = event(case_id, "decision:association-decision-retry-1")
    assert decision is not None and decision.actor_role == Role.OPERATOR
    transition = event(case_id, "step:decline")
    assert transition is not None
    assert (transition.actor_role, transition.actor_name) == (Role.OPERATOR, "Prefect UI")
    assert mailbox.templates(case_id) == [
        "request_received", "association_check_requested", "declined"]


async def test_the_run_acts_on_the_recorded_decision_not_on_what_prefect_hands_it() -> None:
    opened = await open_case(request(REQUEST_DATE), actor=ASSOCIATION)
    ref, case_id = opened.number, opened.case_id
    assert await run_case(case_id) == "association-decision"  # suspended there
    await act(ref, "association_decision", {"outcome": "intake_call"}, actor=ASSOCIATION)
    # Prefect resumes the suspended run with other (valid) input for the same pause.
    handed = AssociationDecision(outcome="advise")
    assert accept_decision.fn(case_id, "association-decision", handed) == {
        "outcome": "intake_call", "note": ""}
    assert await run_case(case_id) == "intake-outcome"
    assert case_row(ref).state == "intake_call"
    with read_session() as session:
        record = get_decision(session=session, case_id=case_id,
                              pause_key="association-decision")
        assert record is not None and record.actor_role == Role.ASSOCIATION_STAFF
