"""Who is calling the API: staff by API token, a reviewer or practitioner by the token from
their mail link (good for that one case, and for a reviewer that one round)."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from fastapi import Depends, HTTPException
from fastapi.security import APIKeyHeader, HTTPAuthorizationCredentials, HTTPBearer
from sqlmodel import Session

from domain import messages as m
from domain.decisions import Decision
from domain.errors import CaseNotFound, LinkExpired, LinkInvalid
from domain.states import Role
from service.accounts import StaffRole, staff_from_token
from service.actors import Actor
from service.links import link_caller
from service.read_model import case_by_number
from service.status_page import Case
from web.api.schemas import OPEN_TITLE
from web.deps import db, release
from web.security import actor_for

LINK_OTHER_CASE = "Deze link hoort bij een andere aanvraag."

bearer = HTTPBearer(
    auto_error=False, scheme_name="ApiToken",
    description="API-token van een medewerker: `Authorization: Bearer hr_...`.",
)
link_header = APIKeyHeader(
    name="X-Link-Token", auto_error=False, scheme_name="LinkToken",
    description="Het token uit de link in de e-mail aan de beoordelaar (`/beoordeling/<token>`) "
    "of de oefentherapeut (`/status/<token>`); geldig voor die ene aanvraag.",
)


@dataclass(frozen=True)
class Principal:
    """The authenticated caller; `case_id` is set for a link, which is good for that case only."""

    actor: Actor
    staff_role: StaffRole | None = None
    case_id: int | None = None


def unauthorized(detail: str) -> HTTPException:
    return HTTPException(status_code=401, detail=detail,
                         headers={"WWW-Authenticate": "Bearer"})


def forbidden(detail: str) -> HTTPException:
    return HTTPException(status_code=403, detail=detail)


def _from_api_token(session: Session,
                    credentials: HTTPAuthorizationCredentials | None) -> Principal:
    user = None if credentials is None else staff_from_token(session=session,
                                                             token=credentials.credentials)
    if user is None:
        raise unauthorized(m.TOKEN_INVALID)
    return Principal(actor_for(user), staff_role=user.role)


def _from_link(session: Session, token: str) -> Principal:
    try:
        actor, case_id = link_caller(session, token)
    except LinkExpired as err:
        raise unauthorized(m.LINK_EXPIRED) from err
    except LinkInvalid as err:
        raise unauthorized(str(err)) from err
    return Principal(actor, case_id=case_id)


def staff_principal(credentials: HTTPAuthorizationCredentials | None = Depends(bearer),
                    session: Session = Depends(db)) -> Principal:
    try:
        return _from_api_token(session, credentials)
    finally:
        release(session)


def any_principal(credentials: HTTPAuthorizationCredentials | None = Depends(bearer),
                  link: str | None = Depends(link_header),
                  session: Session = Depends(db)) -> Principal:
    """A staff token if one is sent, otherwise a mail-link token."""
    try:
        if credentials is not None or not link:
            return _from_api_token(session, credentials)
        return _from_link(session, link)
    finally:
        release(session)


def case_opener(principal: Principal = Depends(staff_principal)) -> Principal:
    if principal.staff_role not in (StaffRole.ASSOCIATION_STAFF, StaffRole.ADMIN):
        raise forbidden(m.ROLE_NOT_ALLOWED.format(role=principal.actor.role.label,
                                                   action=OPEN_TITLE))
    return principal


def case_for(session: Session, number: str, principal: Principal) -> Case:
    """The case, if it exists and a link caller's link is for it (and, for a reviewer, the
    case is assigned to them)."""
    try:
        case = case_by_number(session, number)
    except CaseNotFound as err:
        raise HTTPException(status_code=404, detail=m.CASE_NOT_FOUND.format(case=number)) from err
    if principal.case_id is not None and principal.case_id != case.id:
        raise forbidden(LINK_OTHER_CASE)
    if principal.actor.role is Role.REVIEWER and principal.actor.reviewer_id != case.reviewer_id:
        raise forbidden(m.WRONG_REVIEWER)
    return case


def deciding_actor(kind: type[Decision]) -> Any:
    """Dependency: the caller as an Actor, if its role may give `kind` on this case. Runs before
    the body is validated, so a caller without the right gets 403, not a list of field errors."""

    def check(number: str, principal: Principal = Depends(any_principal),
              session: Session = Depends(db)) -> Actor:
        if principal.actor.role not in kind.roles:
            raise forbidden(m.ROLE_NOT_ALLOWED.format(role=principal.actor.role.label,
                                                       action=kind.title))
        try:
            case_for(session, number, principal)
        finally:
            release(session)
        return principal.actor

    return check


