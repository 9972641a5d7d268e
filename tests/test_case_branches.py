"""The branches of the step plan beside the happy path, end to end on the real stack: intake
call (R7), decline (R6), additions (R13) and their limit, rejection (R14), an incomplete
application (R10), withdrawal, an expired pause, and operator input from the Prefect UI."""

from __future__ import annotations

import asyncio
from datetime import date, timedelta
from decimal import Decimal
from email.message import EmailMessage
from typing import Any
from uuid import UUID

import pytest
from prefect import get_client
from prefect.flow_runs import aresume_flow_run

from domain import messages as m
from domain.errors import InvalidInput, InvalidTransition
from domain.states import Role
from flows.sweeps import sweep
from models.case import CaseEvent, EventKind, case_verdict, history
from models.db import session_scope
from models.invoice import InvoiceKind, case_invoices
from models.outbox import case_mails
from models.review import ReviewOutcome, case_reviews, get_reviewer
from service.actions import Actor, act, open_case
from settings import get_settings
from tests.conftest import (
    ASSOCIATION,
    PRACTITIONER,
    REGISTER,
    REVIEWER,
    TODAY,
    Mailbox,
    awaiting,
    case_row,
    settled,
    wait_until,
)
from tests.factories import request

pytestmark = pytest.mark.usefixtures("stack")

REQUEST_DATE = TODAY - timedelta(days=30)
REVIEWER_EMAIL = "beoordelaar.branches@example.org"


# --- helpers ---


async def step(ref: str, action: str, data: dict[str, Any], actor: Actor,
               mailbox: Mailbox) -> None:
    await awaiting(ref, action)
    outcome = await act(ref, action, data, actor=actor)
    assert outcome.delivered, outcome.message
    mailbox.assert_each_once()


async def to_payment(ref: str, mailbox: Mailbox) -> None:
    """Advised, reopened and submitted: the case waits for payment."""
    await step(ref, "association_decision", {"outcome": "advise"}, ASSOCIATION, mailbox)
    await step(ref, "portfolio_reopened", {"reopened_on": str(TODAY - timedelta(days=10))},
               REGISTER, mailbox)
    await step(ref, "submit", {"submitted_on": str(TODAY - timedelta(days=5))}, PRACTITIONER,
               mailbox)
    await awaiting(ref, "payment_received")


async def to_review(ref: str, mailbox: Mailbox) -> None:
    """Through payment, completeness and assignment: the reviewer's findings are awaited."""
    await to_payment(ref, mailbox)
    await step(ref, "payment_received", {"paid_on": str(TODAY - timedelta(days=4))}, REGISTER,
               mailbox)
    await step(ref, "completeness", {"complete": True}, REGISTER, mailbox)
    await step(ref, "assign_reviewer", {"reviewer_name": "Dr. R. Beoordelaar",
                                        "reviewer_email": REVIEWER_EMAIL}, REGISTER, mailbox)
    await awaiting(ref, "findings")


async def mail_arrived(mailbox: Mailbox, case_id: int, template: str,
                       timeout: float = 30) -> EmailMessage:
    """The one received mail of `template` for the case (waits for it)."""
    await wait_until(lambda: template in mailbox.templates(case_id), timeout,
                     f"mail {template} for case {case_id}")
    found = [msg for msg in mailbox.for_case(case_id)
             if str(msg["X-Herregistratie-Key"]).split(":")[2] == template]
    assert len(found) == 1, f"{template} arrived {len(found)} times"
    return found[0]


def text_of(message: EmailMessage) -> str:
    body = message.get_body(preferencelist=("plain",))
    assert isinstance(body, EmailMessage)
    return str(body.get_content())


def events(case_id: int) -> list[CaseEvent]:
    with session_scope() as session:
        return history(session=session, case_id=case_id)


def event(case_id: int, key: str) -> CaseEvent | None:
    return next((e for e in events(case_id) if e.key == key), None)


async def run_paused_at(flow_run_id: str, pause_key: str, timeout: float = 60) -> None:
    """Wait until the case's Prefect run is suspended at `pause_key`; fail at once if the run
    ended instead (a crashed run leaves the case waiting for nobody)."""
    deadline = asyncio.get_running_loop().time() + timeout
    while True:
        async with get_client() as client:
            run = await client.read_flow_run(UUID(flow_run_id))
        state = run.state
        if state and state.is_paused() and state.state_details.pause_key == pause_key:
            return
        assert not (state and state.is_final()), (
            f"run ended in {state.name if state else None} instead of pausing at {pause_key}: "
            f"{state.message if state else ''}")
        assert asyncio.get_running_loop().time() < deadline, f"run never paused at {pause_key}"
        await asyncio.sleep(0.25)


# --- R7: the intake call ---


async def test_intake_call_is_free_for_members(mailbox: Mailbox) -> None:
    opened = await open_case(request(REQUEST_DATE, member=True), actor=ASSOCIATION)
    ref, case_id = opened.number, opened.case_id
    await step(ref, "association_decision", {"outcome": "intake_call"}, ASSOCIATION, mailbox)
    case = await awaiting(ref, "intake_outcome")
    assert case.state == "intake_call"
    invited = await mail_arrived(mailbox, case_id, "intake_call_invited")
    assert "gratis" in text_of(invited)
    assert "€" not in text_of(invited)
    with session_scope() as session:
        assert case_invoices(session=session, case_id=case_id) == []

    await step(ref, "intake_outcome", {"held_on": str(TODAY - timedelta(days=7)),
                                       "outcome": "advise", "note": "Goed gesprek"},
               ASSOCIATION, mailbox)
    case = await awaiting(ref, "portfolio_reopened")
    assert case.state == "reopen_advised"
    advice = await mail_arrived(mailbox, case_id, "reopen_advice")
    assert advice["To"] == get_settings().addresses.register_office
    assert mailbox.templates(case_id) == [
        "request_received", "association_check_requested", "intake_call_invited",
        "reopen_advice",
    ]
    mailbox.assert_each_once()
    with session_scope() as session:
        assert case_invoices(session=session, case_id=case_id) == []
    transition = event(case_id, "step:advise-reopening")
    assert transition is not None
    assert transition.from_state == "intake_call" and transition.to_state == "reopen_advised"
    assert transition.actor_role == Role.ASSOCIATION_STAFF
    assert transition.actor_name == ASSOCIATION.name


async def test_intake_call_costs_fifty_euro_for_non_members(mailbox: Mailbox) -> None:
    opened = await open_case(request(REQUEST_DATE, member=False), actor=ASSOCIATION)
    ref, case_id = opened.number, opened.case_id
    await step(ref, "association_decision", {"outcome": "intake_call"}, ASSOCIATION, mailbox)
    case = await awaiting(ref, "intake_outcome")
    assert case.state == "intake_call"
    invited = await mail_arrived(mailbox, case_id, "intake_call_invited")
    with session_scope() as session:
        invoices = case_invoices(session=session, case_id=case_id)
    assert len(invoices) == 1
    invoice = invoices[0]
    assert invoice.kind == InvoiceKind.INTAKE
    assert invoice.amount == Decimal("50.00")
    assert invoice.issued_on == TODAY
    text = text_of(invited)
    assert "€\xa050,00" in text
    assert invoice.number in text
    assert mailbox.templates(case_id) == [
        "request_received", "association_check_requested", "intake_call_invited",
    ]
    mailbox.assert_each_once()


# --- R6: declined, and the mail says what is short ---


async def test_declined_when_points_short_mail_says_what_is_short(mailbox: Mailbox) -> None:
    opened = await open_case(request(REQUEST_DATE, points=30), actor=ASSOCIATION)
    ref, case_id = opened.number, opened.case_id
    verdict = case_verdict(case_row(ref))
    assert not verdict.sufficient and verdict.shortfalls
    await step(ref, "association_decision", {"outcome": "decline", "note": "Te weinig punten"},
               ASSOCIATION, mailbox)
    case = await settled(ref, "declined")
    assert case.awaiting_action is None
    text = text_of(await mail_arrived(mailbox, case_id, "declined"))
    for shortfall in verdict.shortfalls:
        assert shortfall.message in text
    assert "Te weinig punten" in text
    assert mailbox.templates(case_id) == [
        "request_received", "association_check_requested", "declined",
    ]
    mailbox.assert_each_once()
    transition = event(case_id, "step:decline")
    assert transition is not None and transition.to_state == "declined"
    assert transition.actor_role == Role.ASSOCIATION_STAFF


# --- R13: additions ---


async def test_additions_loop_then_certificate(mailbox: Mailbox) -> None:
    opened = await open_case(request(REQUEST_DATE), actor=ASSOCIATION)
    ref, case_id = opened.number, opened.case_id
    await to_review(ref, mailbox)
    await step(ref, "findings", {"outcome": "additions",
                                 "explanation": "Voeg het verslag van de intervisie toe."},
               REVIEWER, mailbox)
    case = await awaiting(ref, "additions_supplied")
    assert case.state == "additions_requested"
    requested = await mail_arrived(mailbox, case_id, "additions_requested")
    assert "Voeg het verslag van de intervisie toe." in text_of(requested)

    await step(ref, "additions_supplied", {"supplied_on": str(TODAY - timedelta(days=1)),
                                           "description": "Intervisieverslag toegevoegd."},
               PRACTITIONER, mailbox)
    case = await awaiting(ref, "findings")
    assert case.state == "under_review" and case.review_round == 2
    received = await mail_arrived(mailbox, case_id, "additions_received")
    assert received["To"] == REVIEWER_EMAIL
    assert "Intervisieverslag toegevoegd." in text_of(received)

    await step(ref, "findings", {"outcome": "positive"}, REVIEWER, mailbox)
    await settled(ref, "certified")
    await mail_arrived(mailbox, case_id, "certificate_issued")
    assert mailbox.templates(case_id) == [
        "request_received", "association_check_requested", "reopen_advice",
        "portfolio_reopened", "invoice_issued", "payment_confirmed", "review_assigned",
        "additions_requested", "additions_received", "certificate_issued",
    ]
    mailbox.assert_each_once()
    with session_scope() as session:
        reviews = case_reviews(session=session, case_id=case_id)
        assert [r.round for r in reviews] == [1, 2]
        assert [r.outcome for r in reviews] == [ReviewOutcome.ADDITIONS, ReviewOutcome.POSITIVE]
        assert reviews[0].explanation == "Voeg het verslag van de intervisie toe."
        assert reviews[0].reviewer_id == reviews[1].reviewer_id
        reviewer = get_reviewer(session=session, reviewer_id=reviews[1].reviewer_id)
        assert reviewer.email == REVIEWER_EMAIL


async def test_additions_limited_to_configured_rounds(mailbox: Mailbox) -> None:
    max_rounds = get_settings().max_additions_rounds
    assert max_rounds == 2
    opened = await open_case(request(REQUEST_DATE), actor=ASSOCIATION)
    ref, case_id = opened.number, opened.case_id
    await to_review(ref, mailbox)
    for round in range(1, max_rounds + 1):
        await step(ref, "findings", {"outcome": "additions",
                                     "explanation": f"Aanvulling ronde {round}"},
                   REVIEWER, mailbox)
        await step(ref, "additions_supplied", {"supplied_on": str(TODAY),
                                               "description": f"Aangevuld ronde {round}"},
                   PRACTITIONER, mailbox)
    case = await awaiting(ref, "findings")
    assert case.review_round == max_rounds + 1
    before = [e.key for e in events(case_id)]

    with pytest.raises(InvalidInput) as refused:
        await act(ref, "findings", {"outcome": "additions", "explanation": "Nog meer"},
                  actor=REVIEWER)
    assert refused.value.errors == {"outcome": m.ADDITIONS_LIMIT.format(max=2)}
    assert [e.key for e in events(case_id)] == before
    assert case_row(ref).awaiting_key == f"findings-{max_rounds + 1}"

    explanation = "De activiteiten sluiten niet aan bij de kwaliteitscriteria voor KOT."
    await step(ref, "findings", {"outcome": "negative", "explanation": explanation},
               REVIEWER, mailbox)
    await settled(ref, "rejected")
    rejected = await mail_arrived(mailbox, case_id, "rejected")
    assert explanation in text_of(rejected)
    templates = mailbox.templates(case_id)
    assert templates.count("additions_requested") == max_rounds
    assert templates.count("additions_received") == max_rounds
    assert templates[-1] == "rejected" and "certificate_issued" not in templates
    mailbox.assert_each_once()
    with session_scope() as session:
        reviews = case_reviews(session=session, case_id=case_id)
        assert [r.round for r in reviews] == [1, 2, 3]
        assert [r.outcome for r in reviews] == [
            ReviewOutcome.ADDITIONS, ReviewOutcome.ADDITIONS, ReviewOutcome.NEGATIVE]
        assert reviews[-1].explanation == explanation


# --- R10: an incomplete application ---


async def test_incomplete_application_goes_back_then_continues(mailbox: Mailbox) -> None:
    opened = await open_case(request(REQUEST_DATE), actor=ASSOCIATION)
    ref, case_id = opened.number, opened.case_id
    await to_payment(ref, mailbox)
    await step(ref, "payment_received", {"paid_on": str(TODAY)}, REGISTER, mailbox)
    await awaiting(ref, "completeness")
    before = [e.key for e in events(case_id)]
    with pytest.raises(InvalidInput) as refused:
        await act(ref, "completeness", {"complete": False}, actor=REGISTER)
    assert refused.value.errors == {"missing": m.MISSING_REQUIRED}
    assert [e.key for e in events(case_id)] == before

    missing = "Het uittreksel uit het patiëntendossier ontbreekt."
    await step(ref, "completeness", {"complete": False, "missing": missing}, REGISTER, mailbox)
    case = await awaiting(ref, "completion_supplied")
    assert case.state == "awaiting_completion"
    assert missing in text_of(await mail_arrived(mailbox, case_id, "completion_requested"))

    await step(ref, "completion_supplied", {"supplied_on": str(TODAY),
                                            "description": "Uittreksel toegevoegd"},
               PRACTITIONER, mailbox)
    case = await awaiting(ref, "completeness")
    assert case.state == "completeness_check"
    assert case.awaiting_key == "completeness-2"
    back = event(case_id, "step:resume-completeness-1")
    assert back is not None and back.from_state == "awaiting_completion"
    assert back.actor_role == Role.PRACTITIONER

    await step(ref, "completeness", {"complete": True}, REGISTER, mailbox)
    await step(ref, "assign_reviewer", {"reviewer_name": "Dr. R. Beoordelaar",
                                        "reviewer_email": REVIEWER_EMAIL}, REGISTER, mailbox)
    case = await awaiting(ref, "findings")
    assert case.state == "under_review"
    await mail_arrived(mailbox, case_id, "review_assigned")
    assert mailbox.templates(case_id) == [
        "request_received", "association_check_requested", "reopen_advice",
        "portfolio_reopened", "invoice_issued", "payment_confirmed", "completion_requested",
        "review_assigned",
    ]
    mailbox.assert_each_once()
    keys = [e.key for e in events(case_id)]
    assert "decision:completeness-1" in keys and "decision:completeness-2" in keys
    assert "step:request-completion-1" in keys and "step:request-completion-2" not in keys


# --- withdrawal and expiry ---


async def test_withdrawal_closes_case_and_stops_run(mailbox: Mailbox) -> None:
    opened = await open_case(request(REQUEST_DATE), actor=ASSOCIATION)
    ref, case_id = opened.number, opened.case_id
    await to_payment(ref, mailbox)
    outcome = await act(ref, "withdraw", {"reason": "Ik stop met de specialisatie."},
                        actor=PRACTITIONER)
    assert outcome.delivered, outcome.message
    case = await settled(ref, "withdrawn")
    assert case.awaiting_action is None and case.awaiting_key is None
    text = text_of(await mail_arrived(mailbox, case_id, "withdrawn"))
    assert "Ik stop met de specialisatie." in text
    assert Role.PRACTITIONER.label in text
    assert case.flow_run_id is not None

    async def run_cancelled() -> bool:
        async with get_client() as client:
            run = await client.read_flow_run(UUID(case.flow_run_id))
        return bool(run.state and run.state.is_cancelled())

    deadline = asyncio.get_running_loop().time() + 30
    while not await run_cancelled():
        assert asyncio.get_running_loop().time() < deadline, "case run was not cancelled"
        await asyncio.sleep(0.25)

    before = [e.key for e in events(case_id)]
    with pytest.raises(InvalidTransition) as refused:
        await act(ref, "payment_received", {"paid_on": str(TODAY)}, actor=REGISTER)
    assert str(refused.value) == m.CASE_CLOSED.format(label="Ingetrokken")
    assert refused.value.state == "withdrawn"
    with pytest.raises(InvalidTransition):
        await act(ref, "withdraw", {}, actor=PRACTITIONER)
    assert [e.key for e in events(case_id)] == before
    closed = event(case_id, "step:withdrawn")
    assert closed is not None and closed.from_state == "awaiting_payment"
    assert closed.actor_role == Role.PRACTITIONER
    await asyncio.sleep(1)
    assert mailbox.templates(case_id).count("withdrawn") == 1
    assert "payment_confirmed" not in mailbox.templates(case_id)
    mailbox.assert_each_once()


async def test_expired_pause_closes_case(mailbox: Mailbox) -> None:
    opened = await open_case(request(REQUEST_DATE), actor=ASSOCIATION)
    ref, case_id = opened.number, opened.case_id
    case = await awaiting(ref, "association_decision")
    assert case.due_on == TODAY + timedelta(days=get_settings().deadlines.association_decision)
    due_on: date = case.due_on

    await sweep(today=due_on)
    case = case_row(ref)
    assert case.state == "association_check" and case.awaiting_action == "association_decision"
    assert "expired" not in mailbox.templates(case_id)

    report = await sweep(today=due_on + timedelta(days=1))
    assert report["expired"] >= 1
    case = await settled(ref, "expired")
    assert case.awaiting_action is None
    text = text_of(await mail_arrived(mailbox, case_id, "expired"))
    assert "het besluit van de VvOCM" in text
    closed = event(case_id, "step:expired")
    assert closed is not None and closed.actor_role == Role.SYSTEM
    before = [e.key for e in events(case_id)]
    with session_scope() as session:
        outbox_before = len(case_mails(session=session, case_id=case_id))

    again = await sweep(today=due_on + timedelta(days=1))
    assert again["expired"] == 0
    assert [e.key for e in events(case_id)] == before
    with session_scope() as session:
        assert len(case_mails(session=session, case_id=case_id)) == outbox_before
    assert mailbox.templates(case_id).count("expired") == 1
    mailbox.assert_each_once()
    with pytest.raises(InvalidTransition):
        await act(ref, "association_decision", {"outcome": "advise"}, actor=ASSOCIATION)


# --- operator input through the Prefect UI is validated ---


async def test_operator_input_from_prefect_ui_is_validated(mailbox: Mailbox) -> None:
    opened = await open_case(request(REQUEST_DATE, points=30), actor=ASSOCIATION)
    ref, case_id = opened.number, opened.case_id
    case = await awaiting(ref, "association_decision")
    assert case.flow_run_id is not None
    flow_run_id = case.flow_run_id
    verdict = case_verdict(case)
    assert not verdict.sufficient

    # (a) advise although points are short: the run must not act on it.
    await run_paused_at(flow_run_id, "association-decision")
    await aresume_flow_run(UUID(flow_run_id), run_input={"outcome": "advise"})
    # The pause opens again under a new key (now "association-decision-retry-1").
    case = await wait_until(
        lambda: (c := case_row(ref)).awaiting_key not in (None, "association-decision") and c,
        60, "the pause to open again")
    again = case.awaiting_key
    assert again.startswith("association-decision")
    assert case.state == "association_check"
    assert case.awaiting_action == "association_decision"
    rejected = event(case_id, "rejected:association-decision")
    assert rejected is not None
    assert rejected.kind == EventKind.NOTE
    assert rejected.actor_role == Role.OPERATOR
    assert rejected.input["errors"] == {"outcome": m.ADVISE_NEEDS_SUFFICIENT.format(
        short="; ".join(s.message for s in verdict.shortfalls))}
    assert event(case_id, "decision:association-decision") is None
    assert event(case_id, "step:advise-reopening") is None
    await asyncio.sleep(1)
    assert "reopen_advice" not in mailbox.templates(case_id)

    # (b) a valid operator input is recorded as an operator decision and acted on.
    await run_paused_at(flow_run_id, again)
    await aresume_flow_run(UUID(flow_run_id), run_input={"outcome": "decline"})
    await settled(ref, "declined")
    decision = event(case_id, f"decision:{again}")
    assert decision is not None
    assert decision.kind == EventKind.DECISION
    assert decision.actor_role == Role.OPERATOR
    assert decision.input["outcome"] == "decline"
    await mail_arrived(mailbox, case_id, "declined")
    assert mailbox.templates(case_id) == [
        "request_received", "association_check_requested", "declined",
    ]
    mailbox.assert_each_once()
    transition = event(case_id, "step:decline")
    assert transition is not None
    assert (transition.actor_role, transition.actor_name) == (Role.OPERATOR, "Prefect UI"), (
        "the decline transition must name the operator whose decision caused it")
