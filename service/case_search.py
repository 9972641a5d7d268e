"""Finding cases: the staff inbox and the API's list, filtered by state, party, text, due
date and marks (escalated, stuck), a page at a time.
"""

from __future__ import annotations

from dataclasses import dataclass

from sqlalchemy import ColumnElement, String, and_, exists, func, literal, or_
from sqlalchemy.orm import aliased
from sqlmodel import Session, col, select

from domain.states import CLOSED_STATES, CaseState
from models.case import Case, CaseEvent
from models.db import utcnow
from models.practitioner import Practitioner
from service.progress import waiting_too_long
from tasks.deadlines import ESCALATION


@dataclass(frozen=True)
class CaseQuery:
    """Which cases, in what order. `waiting_for`: only cases awaiting one of these actions
    (and, with `with_stuck`, those the reconciler gave up on, and with `with_escalated`, late
    reviews escalated to KP: tasks/deadlines.py); `open_only` leaves closed cases
    out; `by_due`: most urgent first (stuck, then the earliest due date), else by number."""

    state: CaseState | None = None
    specialisation: str = ""
    search: str = ""
    waiting_for: tuple[str, ...] | None = None
    with_stuck: bool = False
    with_escalated: bool = False
    open_only: bool = True
    by_due: bool = True
    offset: int = 0
    limit: int = 50


def escalated() -> ColumnElement[bool]:
    """The case's current pause is a late review that was escalated to KP."""
    return exists().where(
        col(CaseEvent.case_id) == Case.id,
        col(CaseEvent.key) == literal(ESCALATION, String) + col(Case.awaiting_key))


def escalated_cases(session: Session, cases: list[Case]) -> set[int]:
    """Of these cases, those whose current pause was escalated (for the inbox's mark)."""
    wanted = {(case.id, f"{ESCALATION}{case.awaiting_key}") for case in cases
              if case.awaiting_key}
    if not wanted:
        return set()
    found = session.exec(select(col(CaseEvent.case_id), col(CaseEvent.key)).where(
        col(CaseEvent.case_id).in_([case_id for case_id, _ in wanted]),
        col(CaseEvent.key).in_([key for _, key in wanted])))
    return {case_id for case_id, key in found if (case_id, key) in wanted}


def find_cases(session: Session, query: CaseQuery) -> tuple[list[tuple[Case, Practitioner]],
                                                             int]:
    """The page of cases asked for, and how many there are in all."""
    pause = aliased(CaseEvent)
    statement = (
        select(Case, Practitioner)
        .join(Practitioner, col(Practitioner.id) == Case.practitioner_id)
        .outerjoin(pause, and_(
            col(pause.case_id) == Case.id,
            col(pause.key) == literal("pause:", String) + col(Case.awaiting_key),
        ))
    )
    if query.open_only:
        statement = statement.where(col(Case.state).not_in(CLOSED_STATES))
    if query.waiting_for is not None:
        mine: ColumnElement[bool] = col(Case.awaiting_action).in_(query.waiting_for)
        if query.with_stuck:
            mine = or_(mine, col(Case.stuck_reason).is_not(None), waiting_too_long(utcnow()))
        if query.with_escalated:
            mine = or_(mine, escalated())
        statement = statement.where(mine)
    if query.state is not None:
        statement = statement.where(Case.state == query.state)
    if query.specialisation:
        statement = statement.where(Case.specialisation == query.specialisation)
    if query.search:
        needle = query.search.lower()
        statement = statement.where(or_(*(
            func.lower(column).contains(needle, autoescape=True)
            for column in (col(Case.number), col(Practitioner.name), col(Practitioner.kp_number))
        )))
    total = session.exec(select(func.count()).select_from(statement.subquery())).one()
    order = (col(Case.state).in_(CLOSED_STATES), col(Case.stuck_reason).is_(None),
             col(Case.due_on).is_(None), col(Case.due_on),
             func.coalesce(pause.at, Case.updated_at), col(Case.id)) if query.by_due \
        else (col(Case.id),)
    rows = session.exec(statement.order_by(*order).offset(query.offset).limit(query.limit))
    return [(case, practitioner) for case, practitioner in rows], total
