"""The public register (R4, R12): who is visibly registered in a specialisation register now.
Name, KP number, specialisation and period only; no contact or other personal data."""

from __future__ import annotations

from functools import cache
from urllib.parse import urlencode

from fastapi import APIRouter, Depends, Request
from fastapi.responses import HTMLResponse, Response
from sqlalchemy import func
from sqlmodel import Session, col, select

from models.practitioner import Practitioner
from models.registration import Registration, RegistrationStatus
from policies import available_codes, load_policy
from settings import get_settings
from web.deps import db
from web.forms import page_number
from web.templating import templates

router = APIRouter(include_in_schema=False)


@cache
def specialisations() -> dict[str, str]:
    """Code -> Dutch name of each specialisation register, by name."""
    policies = [load_policy(code) for code in available_codes()]
    return {p.code: p.name for p in sorted(policies, key=lambda p: p.name) if p.is_specialisation}


def _like(text: str) -> str:
    """A LIKE pattern matching `text` literally anywhere."""
    escaped = text.replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_")
    return f"%{escaped}%"


@router.get("/register", response_class=HTMLResponse)
async def register(request: Request, naam: str = "", kp: str = "", specialisatie: str = "",
                   pagina: str = "1", session: Session = Depends(db)) -> Response:
    names = specialisations()
    naam, kp, specialisatie = naam.strip(), kp.strip(), specialisatie.strip().upper()
    conditions = [
        col(Registration.visible).is_(True),
        col(Registration.status) == RegistrationStatus.ACTIVE,
        col(Registration.specialisation).in_(list(names)),
    ]
    if naam:
        conditions.append(col(Practitioner.name).ilike(_like(naam), escape="\\"))
    if kp:
        conditions.append(col(Practitioner.kp_number) == kp)
    if specialisatie in names:
        conditions.append(col(Registration.specialisation) == specialisatie)
    found = (select(Registration, Practitioner)
             .join(Practitioner, col(Registration.practitioner_id) == col(Practitioner.id))
             .where(*conditions))
    total = session.exec(select(func.count()).select_from(found.subquery())).one()
    size = get_settings().web.page_size
    pages = max(1, (total + size - 1) // size)
    page = min(page_number(pagina), pages)
    rows = session.exec(found.order_by(col(Practitioner.name), col(Registration.specialisation))
                        .offset((page - 1) * size).limit(size)).all()
    query = {"naam": naam, "kp": kp, "specialisatie": specialisatie if specialisatie in names
             else ""}

    def page_url(number: int) -> str:
        return "/register?" + urlencode({**{k: v for k, v in query.items() if v},
                                         "pagina": number})

    return templates().TemplateResponse(request, "register_list.html", {
        "user": None, "rows": [(r, p, names[r.specialisation]) for r, p in rows],
        "names": names, "query": query, "total": total, "page": page, "pages": pages,
        "previous_url": page_url(page - 1) if page > 1 else None,
        "next_url": page_url(page + 1) if page < pages else None,
    })
