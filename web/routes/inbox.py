"""The staff inbox: the cases waiting for my role, the most urgent due date first; a search
looks through all cases, closed ones too."""

from __future__ import annotations

from urllib.parse import urlencode

from fastapi import APIRouter, Request
from fastapi.responses import HTMLResponse, Response

from domain.states import CaseState
from policies import specialisations
from service.accounts import StaffRole, StaffUser
from service.case_search import CaseQuery
from service.inbox import awaited_by, inbox_page
from service.progress import sweep_health
from settings import get_settings
from web.deps import SessionDep
from web.forms import page_number
from web.routes.staff import STAFF
from web.security import ACTOR_ROLES
from web.templating import templates

router = APIRouter(include_in_schema=False)

INBOX_EMPTY_MINE = "Er wachten nu geen aanvragen op een besluit van u. Mooi werk!"
INBOX_EMPTY_ALL = "Er zijn geen open aanvragen."
INBOX_EMPTY_FILTERED = "Geen aanvragen gevonden die aan de filters voldoen."


@router.get("/inbox", response_class=HTMLResponse)
def inbox(
    request: Request,
    session: SessionDep,
    status: str = "",
    specialisatie: str = "",
    q: str = "",
    alle: str = "",
    pagina: str = "1",
    user: StaffUser = STAFF,
) -> Response:
    """Cases waiting for this role's decision (admin: all open cases), the most urgent due date
    first; a search looks through all cases, closed ones included."""
    search = q.strip()
    state = status if status in {s.value for s in CaseState} else ""
    everything = bool(search) or (state != "" and CaseState(state).is_closed)
    show_all = bool(alle) or user.role is StaffRole.ADMIN or everything
    code = specialisatie.upper() if specialisatie.upper() in specialisations() else ""
    query = CaseQuery(
        state=CaseState(state) if state else None, specialisation=code, search=search,
        waiting_for=None if show_all else awaited_by(ACTOR_ROLES[user.role]),
        with_stuck=user.role is StaffRole.REGISTER_STAFF,  # KP restarts what is stuck
        with_escalated=user.role is StaffRole.REGISTER_STAFF,  # and chases late reviewers
        open_only=not everything, limit=get_settings().web.page_size)
    found = inbox_page(session, query, page_number(pagina))

    filters = {"status": state, "specialisatie": code, "q": search,
               "alle": "1" if bool(alle) else ""}
    kept = {k: v for k, v in filters.items() if v}

    def page_url(number: int) -> str:
        return "/inbox?" + urlencode({**kept, "pagina": number})

    return templates().TemplateResponse(request, "inbox.html", {
        "user": user, "rows": found.rows, "filters": filters, "show_all": show_all,
        "everything": everything, "role_label": ACTOR_ROLES[user.role].label,
        "sweep": sweep_health(session),
        "states": list(CaseState), "specialisations": specialisations(),
        "page": found.page, "pages": found.pages, "total": found.total,
        "previous_url": page_url(found.page - 1) if found.page > 1 else None,
        "next_url": page_url(found.page + 1) if found.page < found.pages else None,
        "empty_message": INBOX_EMPTY_FILTERED if kept
        else (INBOX_EMPTY_ALL if show_all else INBOX_EMPTY_MINE),
    })
