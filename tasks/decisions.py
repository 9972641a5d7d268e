"""Validating and recording human decisions: the one check both the service and the flow use.

The service records a decision before it resumes the run; input that reached the run some
other way (the Prefect UI's resume form) passes the same validation here before the flow acts.
"""

from __future__ import annotations

from datetime import date, timedelta
from typing import Any

from prefect import task
from pydantic import BaseModel
from sqlalchemy.exc import IntegrityError
from sqlmodel import Session

from domain.errors import DecisionConflict
from domain.messages import (
    ADDITIONS_LIMIT,
    ADVISE_NEEDS_SUFFICIENT,
    ALREADY_DECIDED,
    DATE_BEFORE,
    DATE_IN_FUTURE,
    DECLINE_NEEDS_SHORTFALL,
    EXPLANATION_REQUIRED,
    MISSING_REQUIRED,
)
from domain.states import Role
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
)
from models.case import Case, CaseEvent, EventKind, case_verdict, get_case, get_event
from models.db import session_scope, utcnow
from settings import get_settings
from tasks.rendering import format_date


def decision_key(pause_key: str) -> str:
    return f"decision:{pause_key}"


def _not_after_today(value: date, today: date) -> str | None:
    return DATE_IN_FUTURE if value > today else None


def _not_before(value: date, floor: date | None, label: str) -> str | None:
    if floor is not None and value < floor:
        return DATE_BEFORE.format(label=label, date=format_date(floor))
    return None


def validate_decision(*, case: Case, decision: Decision, today: date) -> dict[str, str]:
    """Checks that need the case (dates in order, verdict agrees); field types are pydantic's."""
    errors: dict[str, str | None] = {}
    match decision:
        case AssociationDecision(outcome=outcome) | IntakeOutcome(outcome=outcome):
            verdict = case_verdict(case)
            if outcome == "advise" and not verdict.sufficient:
                errors["outcome"] = ADVISE_NEEDS_SUFFICIENT.format(
                    short="; ".join(s.message for s in verdict.shortfalls)
                )
            elif outcome == "decline" and verdict.sufficient:
                errors["outcome"] = DECLINE_NEEDS_SHORTFALL
            if isinstance(decision, IntakeOutcome):
                errors["held_on"] = _not_after_today(decision.held_on, today) or _not_before(
                    decision.held_on, case.request_date, "de aanvraagdatum"
                )
        case PortfolioReopened(reopened_on=day):
            errors["reopened_on"] = _not_after_today(day, today) or _not_before(
                day, case.request_date, "de aanvraagdatum"
            )
        case ApplicationSubmitted(submitted_on=day):
            errors["submitted_on"] = _not_after_today(day, today) or _not_before(
                day, case.reopened_on, "de heropening van het portfolio"
            )
        case PaymentReceived(paid_on=day):
            errors["paid_on"] = _not_after_today(day, today) or _not_before(
                day, case.submitted_on, "de datum van indienen"
            )
        case CompletenessChecked(complete=False, missing=""):
            errors["missing"] = MISSING_REQUIRED
        case CompletionSupplied(supplied_on=day) | AdditionsSupplied(supplied_on=day):
            errors["supplied_on"] = _not_after_today(day, today) or _not_before(
                day, case.submitted_on, "de datum van indienen"
            )
        case Findings(outcome=outcome, explanation=explanation):
            if outcome != "positive" and not explanation:
                errors["explanation"] = EXPLANATION_REQUIRED
            max_rounds = get_settings().max_additions_rounds
            if outcome == "additions" and case.review_round > max_rounds:
                errors["outcome"] = ADDITIONS_LIMIT.format(max=max_rounds)
    return {field: message for field, message in errors.items() if message}


def record_decision(
    *, session: Session, case: Case, pause_key: str, decision: Decision, role: Role, name: str
) -> CaseEvent:
    """Writes the decision row; a second decision for the same pause is a conflict."""
    event = CaseEvent(
        case_id=case.id or 0, key=decision_key(pause_key), kind=EventKind.DECISION,
        actor_role=role, actor_name=name, action=decision.action,
        input=decision.model_dump(mode="json"), from_state=case.state,
    )
    try:
        with session.begin_nested():
            session.add(event)
    except IntegrityError as err:
        raise DecisionConflict(ALREADY_DECIDED) from err
    return event


class PauseInfo(BaseModel):
    due_on: date
    timeout_seconds: int
    recorded: dict[str, Any] | None = None


@task
def open_pause(case_id: int, pause_key: str, action: str, days: int) -> PauseInfo:
    """Marks what the case waits for and until when, once per pause. A decision recorded before
    the run got here (the service could not resume a run that was still busy) comes back in
    `recorded`, so the run goes on without suspending."""
    today = get_settings().current_date()
    with session_scope() as session:
        case = get_case(session=session, case_id=case_id, for_update=True)
        opened = get_event(session=session, case_id=case_id, key=f"pause:{pause_key}")
        if opened is None:
            due = today + timedelta(days=days)
            session.add(CaseEvent(
                case_id=case_id, key=f"pause:{pause_key}", kind=EventKind.NOTE,
                actor_role=Role.SYSTEM, actor_name="workflow", action=f"awaiting:{action}",
                input={"due_on": due.isoformat()}, from_state=case.state, to_state=case.state,
            ))
            case.awaiting_key, case.awaiting_action, case.due_on = pause_key, action, due
            session.add(case)
        else:
            due = date.fromisoformat(opened.input["due_on"])
        decided = get_event(session=session, case_id=case_id, key=decision_key(pause_key))
        if decided is not None and decided.resumed_at is None:
            decided.resumed_at = utcnow()
            session.add(decided)
    grace = get_settings().deadlines.grace
    return PauseInfo(
        due_on=due, timeout_seconds=max(3600, ((due - today).days + grace) * 86400),
        recorded=decided.input if decided is not None else None,
    )


@task
def accept_decision(case_id: int, pause_key: str, decision: Decision) -> bool:
    """True if the flow may act on the input: recorded by the service, or valid operator input
    (then recorded as an operator decision made in the Prefect UI). Never acts on invalid input."""
    with session_scope() as session:
        case = get_case(session=session, case_id=case_id, for_update=True)
        rejected_key = f"rejected:{pause_key}"
        if get_event(session=session, case_id=case_id, key=rejected_key) is not None:
            return False
        recorded = get_event(session=session, case_id=case_id, key=decision_key(pause_key))
        if recorded is not None and recorded.resumed_at is None:
            # The run has it, so the sweep must not try to deliver it again (e.g. when the
            # response to a successful resume was lost).
            recorded.resumed_at = utcnow()
            session.add(recorded)
        if recorded is None:
            errors = validate_decision(
                case=case, decision=decision, today=get_settings().current_date()
            )
            if errors:
                session.add(CaseEvent(
                    case_id=case_id, key=rejected_key, kind=EventKind.NOTE,
                    actor_role=Role.OPERATOR, actor_name="Prefect UI",
                    action=f"rejected:{decision.action}",
                    input={"input": decision.model_dump(mode="json"), "errors": errors},
                    from_state=case.state, to_state=case.state,
                ))
                return False
            record_decision(
                session=session, case=case, pause_key=pause_key, decision=decision,
                role=Role.OPERATOR, name="Prefect UI",
            )
        if case.awaiting_key == pause_key:
            case.awaiting_key = case.awaiting_action = None
            case.due_on = None
            session.add(case)
    return True
