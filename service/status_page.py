"""The practitioner's side of a case, behind the link in every mail: the case a link is for,
what its status page shows besides the status view (status_view.py), who acts when the
practitioner clicks, and a fresh link to the address on file when the old one expired."""

from __future__ import annotations

from contextlib import suppress
from dataclasses import dataclass
from datetime import timedelta
from typing import Any

from sqlalchemy.exc import IntegrityError
from sqlmodel import Session, select

from adapters.links import status_url
from adapters.outbox import write_mail
from domain import messages as m
from domain.errors import CaseNotFound, LinkInvalid
from domain.formatting import local_time
from domain.states import CaseState, Role
from models.case import Case as Case  # the pages' type of a case
from models.case import case_policy, get_case, history
from models.certificate import get_certificate
from models.db import session_scope, utcnow
from models.document import Document, case_documents
from models.intake import IntakeSlot, case_slots
from models.outbox import OutboxMail
from models.practitioner import Practitioner
from service.actors import Actor
from service.progress import case_progress, refresh_seconds
from service.read_model import state_path
from service.status_view import StatusView, status_view
from settings import get_settings
from tasks.mail import DeliveryFailed, deliver_pending

FRESH_LINK_EVERY = timedelta(hours=1)


@dataclass
class StatusPage:
    """Everything the practitioner's status page shows."""

    view: StatusView
    path: list[CaseState]  # for the step diagram
    refresh_seconds: int | None
    documents: list[Document]
    certificate_pdf: bool
    slots: list[IntakeSlot]  # the intake times to pick from, while the call is planned


def linked_case(session: Session, claims: Any) -> Case:
    """The case a practitioner's link is for; LinkInvalid if the claims name none."""
    try:
        if claims.get("role") != "practitioner":
            raise LinkInvalid(m.LINK_INVALID)
        return get_case(session=session, case_id=int(claims["case"]))
    except (AttributeError, CaseNotFound, KeyError, TypeError, ValueError) as err:
        raise LinkInvalid(m.LINK_INVALID) from err


def status_page(session: Session, case: Case) -> StatusPage:
    case_id = case.id or 0
    certificate = get_certificate(session=session, case_id=case_id)
    return StatusPage(
        view=status_view(session, case),
        path=state_path(case, history(session=session, case_id=case_id)),
        refresh_seconds=refresh_seconds(case_progress(session, case)),
        documents=case_documents(session=session, case_id=case_id),
        certificate_pdf=certificate is not None and certificate.pdf_sha256 is not None,
        slots=case_slots(session=session, case_id=case_id)
        if case.state is CaseState.INTAKE_CALL else [])


def practitioner_actor(session: Session, case: Case) -> Actor:
    """The practitioner of the case, as the history names them when they click."""
    practitioner = session.get(Practitioner, case.practitioner_id)
    assert practitioner is not None
    return Actor(Role.PRACTITIONER, practitioner.name)


def address_on_file(session: Session, case: Case) -> str:
    practitioner = session.get(Practitioner, case.practitioner_id)
    return practitioner.email if practitioner else ""


async def send_fresh_link(case_id: int) -> bool:
    """Mails a new status link to the registered address, at most once per case per hour;
    False if one went out within the hour. The hour is part of the outbox key, so two
    requests at once still make one mail."""
    now = utcnow()
    key = f"{case_id}:fresh-link-{now:%Y%m%d%H}:fresh_link"
    try:
        with session_scope() as session:
            earlier = session.exec(select(OutboxMail).where(
                OutboxMail.case_id == case_id, OutboxMail.template == "fresh_link")).all()
            recent = [mail for mail in earlier
                      if local_time(mail.created_at) > now - FRESH_LINK_EVERY]
            if recent:
                return False
            case = get_case(session=session, case_id=case_id)
            practitioner = session.get(Practitioner, case.practitioner_id)
            assert practitioner is not None
            if not write_mail(session, key=key, template="fresh_link", case_id=case_id,
                              recipient=practitioner.email, context={
                "case_number": case.number, "practitioner_name": practitioner.name,
                "kp_number": practitioner.kp_number, "specialisation": case_policy(case).name,
                "today": get_settings().current_date(), "status_url": status_url(case_id)}):
                return False
    except IntegrityError:
        return False
    with suppress(DeliveryFailed):  # it stays in the outbox; the sweep sends it later
        await deliver_pending(case_id)
    return True
