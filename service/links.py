"""The signed links in the mails, as the pages and the API meet them: whether a token is ours,
what it grants, and where a practitioner's status page is. Links are made where mails are
written (adapters/links.py)."""

from __future__ import annotations

from typing import Any

from sqlmodel import Session

from adapters.links import Purpose as Purpose
from adapters.links import claims_however_old as claims_however_old
from adapters.links import is_genuine as is_genuine
from adapters.links import make_token, read_token, status_url
from domain import messages as m
from domain.errors import LinkExpired, LinkInvalid
from domain.states import Role
from models.case import Case
from models.practitioner import Practitioner
from models.review import Reviewer
from service.actors import Actor
from settings import get_settings


def read_link(purpose: Purpose, token: str) -> dict[str, Any]:
    """The claims of a genuine, unexpired link; LinkInvalid or LinkExpired otherwise."""
    return read_token(purpose, token)


def status_path(case_id: int) -> str:
    """The practitioner's status page, as a path on this site (a redirect's target)."""
    return status_url(case_id).removeprefix(get_settings().links.base_url)


def status_link(case_id: int) -> str:
    """The practitioner's status page, as the mails give it."""
    return status_url(case_id)


def practitioner_token(case_id: int) -> str:
    """What a practitioner's status link carries, for the API's X-Link-Token."""
    return make_token("status", case=case_id, role="practitioner")


def reviewer_token(case_id: int, reviewer_id: int, round: int) -> str:
    """What a reviewer's dossier link carries, for the API's X-Link-Token."""
    return make_token("dossier", case=case_id, role="reviewer", reviewer=reviewer_id,
                      round=round)


LINK_OLD_ROUND = "Deze link hoort bij een eerdere beoordelingsronde."


def link_caller(session: Session, token: str) -> tuple[Actor, int]:
    """Who a mail link's token speaks for on the API, and the one case it is good for: the
    practitioner, or the case's reviewer in the current round only. LinkExpired if it is too
    old; LinkInvalid, with the Dutch reason, if it is no link of ours for a case now."""
    claims: dict[str, Any] | None = None
    purposes: tuple[Purpose, ...] = ("status", "dossier")  # each has its own signing salt
    for purpose in purposes:
        try:
            claims = read_token(purpose, token)
            break
        except LinkExpired:
            raise  # genuine but too old: say so, whichever purpose it was signed for
        except LinkInvalid:
            continue
    case_id = claims.get("case") if claims else None
    case = session.get(Case, case_id) if isinstance(case_id, int) else None
    if claims is None or case is None or case.id is None:
        raise LinkInvalid(m.LINK_INVALID)
    if claims.get("role") == "reviewer":
        reviewer = session.get(Reviewer, claims.get("reviewer"))
        if reviewer is None:
            raise LinkInvalid(m.LINK_INVALID)
        if claims.get("round") != case.review_round:
            raise LinkInvalid(LINK_OLD_ROUND)
        return Actor(Role.REVIEWER, reviewer.name, reviewer_id=reviewer.id,
                     review_round=case.review_round), case.id
    practitioner = session.get(Practitioner, case.practitioner_id)
    return Actor(Role.PRACTITIONER, practitioner.name if practitioner else ""), case.id


def reviewer_link_token(session: Session, case_id: int) -> str:
    """What the case's reviewer's dossier link carries now (this round), for the API."""
    case = session.get(Case, case_id)
    if case is None or case.reviewer_id is None:
        raise LinkInvalid(m.LINK_INVALID)
    return reviewer_token(case_id, case.reviewer_id, case.review_round)
