"""The staff inbox: the cases waiting for my role, the most urgent due date first; a search
looks through all cases, closed ones too."""

from __future__ import annotations

from dataclasses import dataclass, replace
from datetime import date
from math import ceil
from urllib.parse import urlencode

from fastapi import APIRouter, Depends, Request
from fastapi.responses import HTMLResponse, Response
from sqlmodel import Session

from domain import messages as m
from domain.procedure import COMPLETENESS, DECISIONS, pause_of, round_of
from domain.states import CaseState, Party
from models.case import Case
from models.practitioner import Practitioner
from models.staff import StaffRole, StaffUser
from service.claims import claim_holder
from service.read_model import CaseQuery, escalated_cases, find_cases, stuck_cases, sweep_health
from settings import get_settings
from tasks.rendering import format_date
from web.deps import db
from web.forms import page_number
from web.routes.staff import SPECIALISATIONS, STAFF, STUCK_MARK, specialisation_names
from web.security import ACTOR_ROLES
from web.templating import templates

ESCALATED_MARK = "Beoordelaar te laat: KP gewaarschuwd"
LEAD_WARNED_MARK = "Te laat: leidinggevende gewaarschuwd"
router = APIRouter(include_in_schema=False)

INBOX_EMPTY_MINE = "Er wachten nu geen aanvragen op een besluit van u. Mooi werk!"
INBOX_EMPTY_ALL = "Er zijn geen open aanvragen."
INBOX_EMPTY_FILTERED = "Geen aanvragen gevonden die aan de filters voldoen."


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


SOON_DAYS = 7


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


@router.get("/inbox", response_class=HTMLResponse)
def inbox(
    request: Request,
    status: str = "",
    specialisatie: str = "",
    q: str = "",
    alle: str = "",
    pagina: str = "1",
    user: StaffUser = STAFF,
    session: Session = Depends(db),
) -> Response:
    """Cases waiting for this role's decision (admin: all open cases), the most urgent due date
    first; a search looks through all cases, closed ones included."""
    search = q.strip()
    state = status if status in {s.value for s in CaseState} else ""
    everything = bool(search) or (state != "" and CaseState(state).is_closed)
    show_all = bool(alle) or user.role is StaffRole.ADMIN or everything
    code = specialisatie.upper() if specialisatie.upper() in SPECIALISATIONS else ""

    size = get_settings().web.page_size
    role = ACTOR_ROLES[user.role]
    query = CaseQuery(
        state=CaseState(state) if state else None, specialisation=code, search=search,
        waiting_for=None if show_all else tuple(
            action for action, kind in DECISIONS.items() if role in kind.roles),
        with_stuck=user.role is StaffRole.REGISTER_STAFF,  # KP restarts what is stuck
        with_escalated=user.role is StaffRole.REGISTER_STAFF,  # and chases late reviewers
        open_only=not everything, limit=size, offset=(page_number(pagina) - 1) * size)
    found, total = find_cases(session, query)
    pages = max(1, ceil(total / size))
    page = min(page_number(pagina), pages)
    if page < page_number(pagina):  # an old link past the last page: show the last one
        found, total = find_cases(session, replace(query, offset=(page - 1) * size))

    today = get_settings().current_date()
    late_reviews = escalated_cases(session, [case for case, _ in found])
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
            escalated="" if case.id not in late_reviews else ESCALATED_MARK
            if case.awaiting_party == Party.REVIEWER else LEAD_WARNED_MARK,
            supplied=pause_of(case.awaiting_key or "") is COMPLETENESS
            and (round_of(case.awaiting_key or "") or 1) > 1,
        ))

    filters = {"status": state, "specialisatie": code, "q": search,
               "alle": "1" if bool(alle) else ""}
    kept = {k: v for k, v in filters.items() if v}

    def page_url(number: int) -> str:
        return "/inbox?" + urlencode({**kept, "pagina": number})

    return templates().TemplateResponse(request, "inbox.html", {
        "user": user, "rows": rows, "filters": filters, "show_all": show_all,
        "everything": everything, "role_label": ACTOR_ROLES[user.role].label,
        "sweep": sweep_health(session),
        "states": list(CaseState), "specialisations": specialisation_names(),
        "page": page, "pages": pages, "total": total,
        "previous_url": page_url(page - 1) if page > 1 else None,
        "next_url": page_url(page + 1) if page < pages else None,
        "empty_message": INBOX_EMPTY_FILTERED if kept
        else (INBOX_EMPTY_ALL if show_all else INBOX_EMPTY_MINE),
    })


