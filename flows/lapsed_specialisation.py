"""Lapsed specialisation re-registration ("verlopen herregistratie specialisatie", KP/VvOCM).

The step plan (seed 001): the practitioner e-mails VvOCM the portfolio overview and the
patient-record extract (R5); VvOCM checks points and hours over five years (R6), if needed
after an intake call, free for members and EUR 50 for others (R7); with enough points and
hours VvOCM advises KP to reopen the portfolio, KP reopens it and informs the practitioner (R8);
the practitioner submits, is invoiced and the application is handled once paid (R9); KP checks
completeness and assigns a reviewer (R10), whose findings (R11) lead to a certificate whose
period starts on the submission date (R12), a request for additions (R13), or rejection (R14).

Every human decision is a suspended run waiting for a typed input: no process waits. A
resumed run replays from the top; each task recognises from the case history that its step
happened, so nothing is done twice. This module only orders the steps: all I/O is in tasks.
"""

from __future__ import annotations

from typing import TypeVar

from prefect import flow
from prefect.cache_policies import INPUTS, RUN_ID
from prefect.flow_runs import asuspend_flow_run

from domain.errors import CaseClosed
from flows.inputs import (
    AdditionsSupplied,
    ApplicationSubmitted,
    AssociationDecision,
    CompletenessChecked,
    CompletionSupplied,
    Decision,
    Findings,
    IntakeOutcome,
    PaymentReceived,
    PortfolioReopened,
    ReviewerAssignment,
)
from settings import get_settings
from tasks.cases import (
    acknowledge_request,
    advise_reopening,
    assign_reviewer,
    certify,
    confirm_payment,
    confirm_reopening,
    decline,
    invite_to_intake_call,
    invoice_application,
    open_submission,
    reject,
    request_additions,
    request_completion,
    resume_completeness_check,
    resume_review,
)
from tasks.decisions import accept_decision, open_pause
from tasks.mail import deliver_mail

D = TypeVar("D", bound=Decision)
CACHE = INPUTS + RUN_ID


async def decide(case_id: int, kind: type[D], key: str, days: int) -> tuple[D, str]:
    """Wait (suspended) for a person's decision; returns it with the pause key it answered.
    Input that fails validation, which can only come from the Prefect UI, is recorded as
    rejected and the pause opens again under a new key (Prefect allows [a-z0-9-] only)."""
    await _send_mail(case_id)
    attempt = 0
    while True:
        pause_key = key if attempt == 0 else f"{key}-retry-{attempt}"
        pause = open_pause.with_options(cache_policy=CACHE)(case_id, pause_key, kind.action, days)
        if pause.recorded is not None:
            decision = kind.model_validate(pause.recorded)
        else:
            decision = await asuspend_flow_run(
                wait_for_input=kind.with_initial_data(description=f"**{kind.title}**"),
                key=pause_key, timeout=pause.timeout_seconds,
            )
        if accept_decision.with_options(cache_policy=CACHE)(case_id, pause_key, decision):
            return decision, pause_key
        attempt += 1


@flow(name="lapsed-specialisation", persist_result=True)
async def lapsed_specialisation(case_id: int) -> str:
    """One case from request to certificate, declined, rejected or closed."""
    try:
        return await _step_plan(case_id)
    except CaseClosed as closed:
        return closed.state


async def _step_plan(case_id: int) -> str:
    days = get_settings().deadlines
    acknowledge_request(case_id)

    check, cause = await decide(case_id, AssociationDecision, "association-decision",
                                days.association_decision)
    outcome, note = check.outcome, check.note
    if outcome == "intake_call":
        invite_to_intake_call(case_id, cause=cause)
        call, cause = await decide(case_id, IntakeOutcome, "intake-outcome", days.intake_outcome)
        outcome, note = call.outcome, call.note
    if outcome == "decline":
        decline(case_id, note, cause=cause)
        return await _finish(case_id, "declined")

    advise_reopening(case_id, note, cause=cause)
    reopened, cause = await decide(case_id, PortfolioReopened, "portfolio-reopened",
                                   days.portfolio_reopened)
    confirm_reopening(case_id, reopened.reopened_on, cause=cause)
    open_submission(case_id)

    submission, cause = await decide(case_id, ApplicationSubmitted, "submission",
                                     days.submission)
    invoice_application(case_id, submission.submitted_on, cause=cause)
    payment, cause = await decide(case_id, PaymentReceived, "payment", days.payment)
    confirm_payment(case_id, payment.paid_on, cause=cause)

    attempt = 1
    while True:
        completeness, cause = await decide(case_id, CompletenessChecked,
                                           f"completeness-{attempt}", days.completeness)
        if completeness.complete:
            break
        request_completion(case_id, attempt, completeness.missing, cause=cause)
        _, cause = await decide(case_id, CompletionSupplied, f"completion-{attempt}",
                                days.completion)
        resume_completeness_check(case_id, attempt, cause=cause)
        attempt += 1

    assignment, cause = await decide(case_id, ReviewerAssignment, "assignment", days.assignment)
    assign_reviewer(case_id, assignment.reviewer_name, assignment.reviewer_email, cause=cause)

    round = 1
    while True:
        findings, cause = await decide(case_id, Findings, f"findings-{round}", days.findings)
        if findings.outcome != "additions":
            break
        request_additions(case_id, round, findings.explanation, cause=cause)
        supplied, cause = await decide(case_id, AdditionsSupplied, f"additions-{round}",
                                       days.additions)
        round += 1
        resume_review(case_id, round, supplied.description, cause=cause)

    if findings.outcome == "positive":
        certify(case_id, findings.explanation, cause=cause)
        return await _finish(case_id, "certified")
    reject(case_id, findings.explanation, cause=cause)
    return await _finish(case_id, "rejected")


async def _finish(case_id: int, outcome: str) -> str:
    await _send_mail(case_id)
    return outcome


async def _send_mail(case_id: int) -> None:
    """Send this case's outbox now. If SMTP stays down after a short retry the run goes on to
    its pause rather than hold a process; the mail stays pending for the sweep."""
    sending = deliver_mail.with_options(retries=2, retry_delay_seconds=[1, 5])
    # Prefect's overloads type return_state=True as a State, but an async task gives a coroutine.
    await sending(case_id, return_state=True)  # type: ignore[misc]
