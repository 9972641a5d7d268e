"""Human decisions: the one validate-and-record function, and the two pause tasks of the flow.

Whoever decides (a page, the API, the CLI, or an operator through the Prefect UI's resume
form) goes through `record_decision`: the same checks, one record per pause. The flow then
acts only on what is recorded here, never on what Prefect hands it.
"""

from __future__ import annotations

from datetime import date
from typing import Any

from pydantic import BaseModel
from sqlalchemy.exc import IntegrityError
from sqlmodel import Session, col, select

from adapters.links import staff_case_url
from domain.decisions import (
    AdditionsSupplied,
    ApplicationSubmitted,
    AssociationDecision,
    CompletionSupplied,
    Decision,
    Findings,
    IntakeOutcome,
    PaymentReceived,
    PortfolioReopened,
    Withdrawal,
)
from domain.errors import CaseClosed, DecisionConflict, InvalidInput
from domain.formatting import format_date
from domain.messages import (
    ADDITIONS_LIMIT,
    ADVISE_NEEDS_SUFFICIENT,
    ALREADY_DECIDED,
    CASE_CLOSED,
    DATE_BEFORE,
    DATE_IN_FUTURE,
    DECIDED_MEANWHILE,
    DECLINE_NEEDS_SHORTFALL,
    WITHDRAWN_MEANWHILE,
)
from domain.procedure import DECISIONS, PAUSE_BY_ACTION
from domain.states import Role
from domain.working_days import due_date
from models.case import Case, CaseEvent, EventKind, add_note, case_verdict, get_case, get_event
from models.db import session_scope, utcnow
from models.decision import DecisionRecord, DecisionSource, get_decision
from settings import get_settings
from tasks.retrying import pause_task

PREFECT_UI = "Prefect UI"


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
        case CompletionSupplied(supplied_on=day) | AdditionsSupplied(supplied_on=day):
            errors["supplied_on"] = _not_after_today(day, today) or _not_before(
                day, case.submitted_on, "de datum van indienen"
            )
        case Findings(outcome=outcome):
            max_rounds = get_settings().max_additions_rounds
            if outcome == "additions" and case.review_round > max_rounds:
                errors["outcome"] = ADDITIONS_LIMIT.format(max=max_rounds)
    for name, rule in decision.required_when.items():
        if getattr(decision, rule.field) in rule.values and not getattr(decision, name):
            errors[name] = rule.message
    return {field: message for field, message in errors.items() if message}


def record_decision(
    *, session: Session, case: Case, pause_key: str, decision: Decision, role: Role, name: str,
    source: DecisionSource = DecisionSource.SERVICE,
) -> DecisionRecord:
    """Validate against the case and record, with the actor, in the caller's transaction (which
    holds the case lock). InvalidInput names each field; a second decision for the same pause
    is a DecisionConflict. The history gets its own, unchangeable row."""
    errors = validate_decision(case=case, decision=decision, today=get_settings().current_date())
    if errors:
        raise InvalidInput(errors)
    _first_one_wins(session, case, decision)
    data = decision.model_dump(mode="json")
    record = DecisionRecord(case_id=case.id or 0, pause_key=pause_key, action=decision.action,
                            input=data, actor_role=role, actor_name=name, source=source)
    try:
        with session.begin_nested():
            session.add(record)
            session.add(CaseEvent(
                case_id=case.id or 0, key=decision_key(pause_key), kind=EventKind.DECISION,
                actor_role=role, actor_name=name, action=decision.action, input=data,
                from_state=case.state,
            ))
    except IntegrityError as err:
        raise DecisionConflict(ALREADY_DECIDED) from err
    return record


def _first_one_wins(session: Session, case: Case, decision: Decision) -> None:
    """A withdrawal and a step's decision that meet are ordered by this transaction, which
    holds the case lock: whichever was recorded first wins and the other is refused. The step
    counts as decided from its decision's recording until the run has carried it out."""
    if isinstance(decision, Withdrawal):
        pending = step_in_flight(session, case)
        if pending is not None:
            kind = DECISIONS.get(pending.action)
            raise DecisionConflict(DECIDED_MEANWHILE.format(
                title=kind.title if kind else pending.action))
        return
    withdrawn = get_decision(session=session, case_id=case.id or 0, pause_key=Withdrawal.action)
    if withdrawn is not None:
        raise DecisionConflict(WITHDRAWN_MEANWHILE)


def step_in_flight(session: Session, case: Case) -> DecisionRecord | None:
    """The step decision the run has yet to carry out: recorded and not yet taken by the run
    at the pause the case awaits, or taken while no pause has opened since (the step itself
    is being done)."""
    latest = session.exec(select(DecisionRecord).where(
        DecisionRecord.case_id == case.id, DecisionRecord.pause_key != Withdrawal.action,
    ).order_by(col(DecisionRecord.id).desc())).first()
    if latest is None:
        return None
    if latest.consumed_at is None:
        return latest if latest.pause_key == case.awaiting_key else None
    opened_since = session.exec(select(CaseEvent.id).where(
        CaseEvent.case_id == case.id, col(CaseEvent.key).startswith("pause:"),
        col(CaseEvent.at) >= latest.consumed_at)).first()
    return None if opened_since is not None else latest


class PauseInfo(BaseModel):
    due_on: date
    timeout_seconds: int
    decision: dict[str, Any] | None = None  # recorded already: the run goes on without waiting
    case_number: str = ""
    case_url: str = ""  # the staff case page, linked from Prefect's resume form


def _consume(session: Session, case: Case, record: DecisionRecord, pause_key: str) -> None:
    """The run is past the pause: the decision is consumed and the case waits no longer."""
    if record.consumed_at is None:
        record.consumed_at = utcnow()
        session.add(record)
    if case.awaiting_key == pause_key:
        case.awaiting_key = case.awaiting_action = case.awaiting_party = None
        case.due_on = None
        session.add(case)


@pause_task
def open_pause(case_id: int, pause_key: str, action: str, days: int) -> PauseInfo:
    """Marks what the case waits for and until when, once per pause. A decision recorded
    already (the run was resumed or restarted, or the person was quicker than the run) is
    taken at once: consumed and returned, so the run goes on without suspending."""
    today = get_settings().current_date()
    with session_scope() as session:
        case = get_case(session=session, case_id=case_id, for_update=True)
        if case.state.is_closed:
            raise CaseClosed(CASE_CLOSED.format(label=case.state.label), state=case.state)
        opened = get_event(session=session, case_id=case_id, key=f"pause:{pause_key}")
        if opened is None:
            due = due_date(today, days)
            add_note(session=session, case=case, key=f"pause:{pause_key}",
                     action=f"awaiting:{action}", data={"due_on": due.isoformat()})
            # A new pause is progress: whatever repairs it took to get here worked.
            case.repair_attempts, case.stuck_reason, case.stuck_since = 0, None, None
        else:
            due = date.fromisoformat(opened.input["due_on"])
        decided = get_decision(session=session, case_id=case_id, pause_key=pause_key)
        if decided is None and case.awaiting_key != pause_key:  # a replay keeps what moved
            case.awaiting_key, case.awaiting_action, case.due_on = pause_key, action, due
            case.awaiting_party = PAUSE_BY_ACTION[action].wait.party
        session.add(case)
        if decided is not None:
            _consume(session, case, decided, pause_key)
    grace = get_settings().deadlines.grace
    return PauseInfo(due_on=due, decision=dict(decided.input) if decided else None,
                     timeout_seconds=max(3600, ((due - today).days + grace) * 86400),
                     case_number=case.number, case_url=staff_case_url(case.number))


@pause_task
def accept_decision(case_id: int, pause_key: str, offered: Decision) -> dict[str, Any] | None:
    """After a suspension, the decision for the pause, consumed. Input only Prefect had (an
    operator used the Prefect UI's resume form) is first put through `record_decision` as an
    operator decision; if it fails the checks it is written down as refused and None comes
    back, so the flow opens the pause again."""
    with session_scope() as session:
        case = get_case(session=session, case_id=case_id, for_update=True)
        if case.state.is_closed:
            raise CaseClosed(CASE_CLOSED.format(label=case.state.label), state=case.state)
        record = get_decision(session=session, case_id=case_id, pause_key=pause_key)
        if record is None:
            refused_key = f"rejected:{pause_key}"
            if get_event(session=session, case_id=case_id, key=refused_key) is not None:
                return None
            try:
                record = record_decision(session=session, case=case, pause_key=pause_key,
                                         decision=offered, role=Role.OPERATOR, name=PREFECT_UI,
                                         source=DecisionSource.PREFECT_UI)
            except (InvalidInput, DecisionConflict) as refused:
                errors = refused.errors if isinstance(refused, InvalidInput) else \
                    {"": str(refused)}
                add_note(session=session, case=case, key=refused_key,
                         action=f"rejected:{offered.action}", role=Role.OPERATOR,
                         name=PREFECT_UI, data={"input": offered.model_dump(mode="json"),
                                                "errors": errors})
                return None
        _consume(session, case, record, pause_key)
        return dict(record.input)
