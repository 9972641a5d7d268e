"""The public register (R4, R12): who is visibly registered in a specialisation register now.
Name, KP number, specialisation and period only; no contact or other personal data."""

from __future__ import annotations

from urllib.parse import urlencode

from fastapi import APIRouter, Request
from fastapi.responses import HTMLResponse, Response

from policies import specialisations
from service.register import public_register
from settings import get_settings
from web.deps import SessionDep
from web.forms import page_number
from web.templating import templates

router = APIRouter(include_in_schema=False)


@router.get("/register", response_class=HTMLResponse)
async def register(request: Request, session: SessionDep, naam: str = "", kp: str = "",
                   specialisatie: str = "", pagina: str = "1") -> Response:
    names = specialisations()
    naam, kp, specialisatie = naam.strip(), kp.strip(), specialisatie.strip().upper()
    found = public_register(session, name=naam, kp_number=kp, specialisation=specialisatie,
                            page=page_number(pagina), size=get_settings().web.page_size)
    query = {"naam": naam, "kp": kp, "specialisatie": specialisatie if specialisatie in names
             else ""}

    def page_url(number: int) -> str:
        return "/register?" + urlencode({**{k: v for k, v in query.items() if v},
                                         "pagina": number})

    return templates().TemplateResponse(request, "register_list.html", {
        "user": None, "rows": found.rows, "names": names, "query": query,
        "total": found.total, "page": found.page, "pages": found.pages,
        "previous_url": page_url(found.page - 1) if found.page > 1 else None,
        "next_url": page_url(found.page + 1) if found.page < found.pages else None,
    })
