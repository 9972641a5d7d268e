"""The staff inbox: the cases waiting for a role, the most urgent due date first, each with
what it waits for, how urgent it is, who holds it and the marks staff act on."""

from __future__ import annotations

from dataclasses import dataclass, replace
from datetime import date
from math import ceil

from sqlmodel import Session

from domain import messages as m
from domain.formatting import format_date
from domain.procedure import COMPLETENESS, DECISIONS, pause_of, round_of
from domain.states import Party, Role
from models.case import Case
from models.practitioner import Practitioner
from service.case_search import CaseQuery, escalated_cases, find_cases
from service.claims import claim_holder
from service.progress import stuck_cases
from settings import get_settings

ESCALATED_MARK = "Beoordelaar te laat: KP gewaarschuwd"
LEAD_WARNED_MARK = "Te laat: leidinggevende gewaarschuwd"
STUCK_MARK = "Vastgelopen: herstarten nodig"
SOON_DAYS = 7


@dataclass
class InboxRow:
    case: Case
    practitioner: Practitioner
    awaited: str
    due_text: str
    urgency: str  # "overdue", "soon" or ""
    claimed_by: str
    stuck: bool
    escalated: str  # the mark of a late step whose escalation went out, or ""
    supplied: bool  # back from the practitioner with what was missing


@dataclass
class InboxPage:
    rows: list[InboxRow]
    total: int
    page: int
    pages: int


def awaited_by(role: Role) -> tuple[str, ...]:
    """The decisions a role takes: what its inbox waits for."""
    return tuple(action for action, kind in DECISIONS.items() if role in kind.roles)


def _due(case: Case, today: date) -> tuple[str, str]:
    """The due date with what it means today, and how urgent it is."""
    if case.due_on is None or case.state.is_closed:
        return "", ""
    days = (case.due_on - today).days
    if days < 0:
        return f"{format_date(case.due_on)} ({-days} dag{'en' if days < -1 else ''} te laat)", \
            "overdue"
    if days == 0:
        return f"{format_date(case.due_on)} (vandaag)", "soon"
    return f"{format_date(case.due_on)} (nog {days} dag{'en' if days > 1 else ''})", \
        "soon" if days <= SOON_DAYS else ""


def inbox_page(session: Session, query: CaseQuery, page: int) -> InboxPage:
    """One page of the query's cases (an old link past the last page shows the last one)."""
    found, total = find_cases(session, replace(query, offset=(page - 1) * query.limit))
    pages = max(1, ceil(total / query.limit))
    if page > pages:
        page = pages
        found, total = find_cases(session, replace(query, offset=(page - 1) * query.limit))
    today = get_settings().current_date()
    late = escalated_cases(session, [case for case, _ in found])
    stuck = stuck_cases(session, [case.id for case, _ in found if case.id is not None])
    rows = []
    for case, practitioner in found:
        awaited = DECISIONS.get(case.awaiting_action or "")
        holder = claim_holder(session, case)
        due_text, urgency = _due(case, today)
        rows.append(InboxRow(
            case=case, practitioner=practitioner,
            awaited="" if case.state.is_closed else STUCK_MARK if case.id in stuck
            else awaited.title if awaited else m.RECEIVED_PENDING,
            due_text=due_text, urgency=urgency,
            claimed_by=holder.name if holder else "", stuck=case.id in stuck,
            escalated="" if case.id not in late else ESCALATED_MARK
            if case.awaiting_party == Party.REVIEWER else LEAD_WARNED_MARK,
            supplied=pause_of(case.awaiting_key or "") is COMPLETENESS
            and (round_of(case.awaiting_key or "") or 1) > 1,
        ))
    return InboxPage(rows, total, page, pages)
