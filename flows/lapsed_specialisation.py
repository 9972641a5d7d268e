"""Lapsed specialisation re-registration ("verlopen herregistratie specialisatie", KP/VvOCM).

The step plan (seed 001): the practitioner e-mails VvOCM the portfolio overview and the
patient-record extract (R5); VvOCM checks points and hours over five years (R6), if needed
after an intake call, free for members and EUR 50 for others (R7); with enough points and
hours VvOCM advises KP to reopen the portfolio, KP reopens it and informs the practitioner (R8);
the practitioner submits, is invoiced and the application is handled once paid (R9); KP checks
completeness and assigns a reviewer (R10), whose findings (R11) lead to a certificate whose
period starts on the submission date (R12), a request for additions (R13), or rejection (R14).

Every human decision is a suspended run waiting for a typed input: no process waits. A
resumed run replays from the top: the ledger read at its start answers the steps and pauses
it went past, and each task recognises from the case history that its step happened, so
nothing is done twice. The flow acts on the decision recorded in our database,
never on what Prefect hands it. This module only orders the steps: all I/O is in tasks, and
an `Executor` (flows/executor.py) says how they run.
"""

from __future__ import annotations

from typing import Any, TypeVar

from prefect import Flow, flow
from prefect.client.schemas.objects import FlowRun, State

from domain.decisions import Decision
from domain.errors import CaseClosed
from domain.procedure import (  # the pauses, declared once with all they need
    ADDITIONS,
    ASSIGNMENT,
    ASSOCIATION_DECISION,
    COMPLETENESS,
    COMPLETION,
    FINDINGS,
    INTAKE_OUTCOME,
    PAYMENT,
    PORTFOLIO_REOPENED,
    SUBMISSION,
    Pause,
)
from flows.executor import Executor, PrefectExecutor, follows
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
from tasks.ledger import read_ledger
from tasks.reconcile import note_run_stopped

D = TypeVar("D", bound=Decision)

async def decide(run: Executor, case_id: int, pause: Pause[D],
                 round: int | None = None) -> tuple[D, str]:
    """Wait for a person's decision at `pause` (of `round`, for a numbered pause); returns the
    recorded decision, as the pause's typed input, and the pause key it answered. A pause the
    run went past before is answered from memory. Mail waiting from the steps before goes out
    just before the run suspends. Input that fails validation, which can only come from the
    Prefect UI, is recorded as refused and the pause opens again under a new key (Prefect
    allows [a-z0-9-] only)."""
    if not follows(run, pause):
        raise ValueError(f"{pause.key} came with plan {pause.since}; the case follows plan "
                         f"{run.plan_version}: ask follows(run, {pause.key!r}) first")
    kind = pause.decision
    key = pause.key_for(round)
    days = get_settings().deadlines.days_for(pause)
    attempt = 0
    while True:
        pause_key = key if attempt == 0 else f"{key}-retry-{attempt}"
        passed = run.recall(pause_key)
        if passed is not None:
            return kind.model_validate(passed), pause_key
        opened = run.call(open_pause, case_id, pause_key, kind.action, days)
        if opened.decision is not None:
            return kind.model_validate(opened.decision), pause_key
        await run.send_mail(case_id)
        offered = await run.suspend(kind, opened, pause_key)
        recorded = run.call(accept_decision, case_id, pause_key, offered)
        if recorded is not None:
            return kind.model_validate(recorded), pause_key
        attempt += 1


async def step_plan(case_id: int, run: Executor) -> str:
    """One case from request to certificate, declined or rejected."""
    run.step(acknowledge_request, case_id)

    check, cause = await decide(run, case_id, ASSOCIATION_DECISION)
    outcome, note = check.outcome, check.note
    if outcome == "intake_call":
        run.step(invite_to_intake_call, case_id, cause=cause)
        call, cause = await decide(run, case_id, INTAKE_OUTCOME)
        outcome, note = call.outcome, call.note
    if outcome == "decline":
        run.step(decline, case_id, note, cause=cause)
        return await _finish(run, case_id, "declined")

    run.step(advise_reopening, case_id, note, cause=cause)
    reopened, cause = await decide(run, case_id, PORTFOLIO_REOPENED)
    run.step(confirm_reopening, case_id, reopened.reopened_on, cause=cause)
    run.step(open_submission, case_id)

    submission, cause = await decide(run, case_id, SUBMISSION)
    run.step(invoice_application, case_id, submission.submitted_on, cause=cause)
    payment, cause = await decide(run, case_id, PAYMENT)
    run.step(confirm_payment, case_id, payment.paid_on, cause=cause)

    attempt = 1
    while True:
        completeness, cause = await decide(run, case_id, COMPLETENESS, attempt)
        if completeness.complete:
            break
        run.step(request_completion, case_id, attempt, completeness.missing, cause=cause)
        _, cause = await decide(run, case_id, COMPLETION, attempt)
        run.step(resume_completeness_check, case_id, attempt, cause=cause)
        attempt += 1

    assignment, cause = await decide(run, case_id, ASSIGNMENT)
    run.step(assign_reviewer, case_id, assignment.reviewer_name, assignment.reviewer_email,
             cause=cause)

    round = 1
    while True:
        findings, cause = await decide(run, case_id, FINDINGS, round)
        if findings.outcome != "additions":
            break
        run.step(request_additions, case_id, round, findings.explanation, cause=cause)
        supplied, cause = await decide(run, case_id, ADDITIONS, round)
        round += 1
        run.step(resume_review, case_id, round, supplied.description, cause=cause)

    if findings.outcome == "positive":
        run.step(certify, case_id, findings.explanation, cause=cause)
        return await _finish(run, case_id, "certified")
    run.step(reject, case_id, findings.explanation, cause=cause)
    return await _finish(run, case_id, "rejected")


async def _finish(run: Executor, case_id: int, outcome: str) -> str:
    await run.send_mail(case_id)
    return outcome


def _run_stopped(flow: Flow[..., Any], flow_run: FlowRun, state: State[Any]) -> None:
    """Crash and failure hook: the case history says so at once; the sweep's reconciler
    replaces the run (a killed process runs no hook, and needs none: the sweep finds it)."""
    note_run_stopped(int(flow_run.parameters["case_id"]), str(flow_run.id),
                     state.name or "", state.message or "")


@flow(name="lapsed-specialisation", persist_result=True, on_crashed=[_run_stopped],
      on_failure=[_run_stopped])
async def lapsed_specialisation(case_id: int) -> str:
    """One case from request to certificate, declined, rejected or closed."""
    try:
        return await step_plan(case_id, PrefectExecutor(read_ledger(case_id)))
    except CaseClosed as closed:
        return closed.state
