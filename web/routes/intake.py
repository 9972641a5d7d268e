"""Planning the intake call on the pages (service/intake.py): VvOCM offers times on the case
page, the practitioner picks one on the status page. Both forms post back to where they came
from, which then shows what the click did."""

from __future__ import annotations

from datetime import datetime
from urllib.parse import quote

from fastapi import APIRouter, Depends, HTTPException, Request
from fastapi.responses import RedirectResponse, Response
from sqlmodel import Session

from domain import messages as m
from domain.errors import InvalidInput, InvalidTransition, LinkExpired, NotAllowed
from service.accounts import StaffRole, StaffUser
from service.intake import choose_slot as choose
from service.intake import offer_slots
from service.status_page import practitioner_actor
from web.deps import db
from web.forms import form_values, small_int
from web.routes.practitioner import received_redirect, status_case, status_page
from web.routes.signed_links import link_page, signed
from web.routes.staff import render_case
from web.security import actor_for, require_csrf, roles_allowed

router = APIRouter(include_in_schema=False)
PLANNERS = roles_allowed(StaffRole.ASSOCIATION_STAFF, StaffRole.ADMIN)
SLOT_FIELDS = 3


def _local(text: str) -> datetime | None:
    """A datetime-local field ("2026-12-01T10:00"), Amsterdam's time; empty: None."""
    text = text.strip()
    return datetime.fromisoformat(text) if text else None


@router.post("/zaken/{number}/startgesprek", dependencies=[PLANNERS, Depends(require_csrf)])
async def offer(request: Request, number: str, user: StaffUser = PLANNERS,
                session: Session = Depends(db)) -> Response:
    form = form_values(await request.form())
    try:
        starts = [_local(form.get(f"slot-{i}", "")) for i in range(SLOT_FIELDS)]
    except ValueError:  # not a date and time as the field sends it
        starts = []
    try:
        await offer_slots(number, {"starts": [s for s in starts if s], "video_link":
                             form.get("video_link", "").strip(),
                             "minutes": form.get("minutes", "45") or "45"},
                    actor=actor_for(user))
    except InvalidInput as err:
        return render_case(request, session, user, number, status=422,
                           notice=" ".join([m.SLOTS_NOT_OFFERED, *err.errors.values()]))
    except InvalidTransition as err:
        return render_case(request, session, user, number, notice=str(err), status=409)
    except NotAllowed as err:
        raise HTTPException(status_code=403, detail=str(err)) from err
    request.session["flash"] = m.SLOTS_OFFERED
    return RedirectResponse(f"/zaken/{quote(number)}#startgesprek", status_code=303)


@router.post("/status/{token}/startgesprek", dependencies=[signed("status"), Depends(require_csrf)])
async def pick(request: Request, token: str, session: Session = Depends(db)) -> Response:
    try:
        case = status_case(session, token)
    except LinkExpired:
        return link_page(request, "link_expired.html", {"message": m.LINK_EXPIRED}, 410)
    form = form_values(await request.form())
    slot = form.get("slot", "")
    try:
        await choose(case.id or 0, small_int(slot) or 0, actor=practitioner_actor(session, case))
    except InvalidInput as err:
        return status_page(request, session, token, case, problem=" ".join(err.errors.values()),
                           status=422)
    except InvalidTransition as err:
        session.expire_all()
        return status_page(request, session, token, case, problem=str(err), status=409)
    return received_redirect(request, f"/status/{token}", "startgesprek")
