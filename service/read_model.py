"""The read model's lookups: a case by its number, a practitioner's cases, cases in a
state, the states a case went through, and the frame of the points-and-hours form. What each
audience sees of a case has its own module: `case_view` (staff and the API), `status_view`
(the practitioner), `case_search` (the inbox and the API's list), `progress` (whether a step
is being processed, delayed or stuck); the staff history is in history.py.
"""

from __future__ import annotations

from dataclasses import dataclass

from sqlmodel import Session, col, select

from domain.procedure import EVIDENCE_STATES
from domain.states import CaseState
from models.case import Case, CaseEvent, EventKind, case_policy, case_verdict, find_case, list_cases
from models.db import read_session
from models.practitioner import Practitioner, get_by_kp_number
from policies import RegisterPolicy, Verdict


@dataclass(frozen=True)
class EvidenceView:
    """The points-and-hours form's frame: the register's policy, whose case, the checks'
    verdict on what is stored, and whether it may still change (R6)."""

    policy: RegisterPolicy
    practitioner: Practitioner
    verdict: Verdict
    open: bool
    bot_days: bool  # only where the register asks for BOT days


def evidence_view(session: Session, case: Case) -> EvidenceView:
    practitioner = session.get(Practitioner, case.practitioner_id)
    assert practitioner is not None
    policy = case_policy(case)
    return EvidenceView(policy=policy, practitioner=practitioner, verdict=case_verdict(case),
                        open=case.state in EVIDENCE_STATES, bot_days=policy.bot_days is not None)


def cases_of(session: Session, kp_number: str) -> list[Case]:
    """The cases of the practitioner with this KP number, oldest first."""
    practitioner = get_by_kp_number(session=session, kp_number=kp_number)
    return [] if practitioner is None else list(session.exec(
        select(Case).where(Case.practitioner_id == practitioner.id).order_by(col(Case.id))))


def cases_in(session: Session, state: CaseState | None) -> list[Case]:
    """All cases, or those in one state, by number."""
    return list_cases(session=session, state=state)


def case_by_number(session: Session, number: str) -> Case:
    """The case with this number (CaseNotFound if there is none)."""
    return find_case(session=session, ref=number)


def current_state(number: str) -> CaseState:
    """The state a case is in now (CaseNotFound if there is none)."""
    with read_session() as session:
        return find_case(session=session, ref=number).state


def state_path(case: Case, events: list[CaseEvent]) -> list[CaseState]:
    """The states the case went through, in order, ending in its current one."""
    path = [CaseState.REQUESTED]
    path += [e.to_state for e in events if e.kind is EventKind.TRANSITION and e.to_state]
    return path if path[-1] is case.state else [*path, case.state]






