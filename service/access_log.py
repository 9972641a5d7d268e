"""Who looked at health data, recorded before it is shown (models/access_log.py), and read back
by admins per case and per person."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

from sqlmodel import Session

from domain.errors import InvalidInput
from domain.messages import PRACTITIONER_UNKNOWN
from models.access_log import AccessLog, case_accesses, person_accesses
from models.access_log import Looked as Looked  # what was looked at, for the pages
from models.case import Case, find_case
from models.db import session_scope
from models.document import Document
from models.practitioner import Practitioner, get_by_kp_number
from service.actors import Actor


def record_look(case: Case, looked: Looked, *, actor: Actor, client: str,
                document_id: int | None = None) -> None:
    """One look, in its own transaction: a page or file is shown only once its look is
    recorded (the caller records first, then answers)."""
    with session_scope() as session:
        session.add(AccessLog(case_id=case.id or 0, practitioner_id=case.practitioner_id,
                              looked=looked, document_id=document_id, actor_role=actor.role,
                              actor_name=actor.name[:200], client=client[:100]))


@dataclass(frozen=True)
class LookRow:
    at: datetime
    case_number: str
    what: str  # "Bestand geopend: uittreksel.csv"
    actor_name: str
    actor_role: str
    client: str


def looks(session: Session, *, case_number: str = "", kp_number: str = "") \
        -> tuple[str, list[LookRow]]:
    """Whose looks (a heading) and the looks at one case, or at every case of one person, the
    latest first. CaseNotFound when the case or the KP number is unknown."""
    if case_number.strip():
        case = find_case(session=session, ref=case_number.strip())
        practitioner = session.get(Practitioner, case.practitioner_id)
        rows = case_accesses(session=session, case_id=case.id or 0)
        whose = f"Aanvraag {case.number}" + (f" ({practitioner.name})" if practitioner else "")
    else:
        person = get_by_kp_number(session=session, kp_number=kp_number.strip())
        if person is None:
            raise InvalidInput({"kp": PRACTITIONER_UNKNOWN.format(kp=kp_number.strip())})
        rows = person_accesses(session=session, practitioner_id=person.id or 0)
        whose = f"{person.name} (KP-nummer {person.kp_number})"
    numbers = {c.id: c.number for c in (session.get(Case, r.case_id) for r in rows) if c}
    names = {d.id: d.filename for d in (session.get(Document, r.document_id)
                                        for r in rows if r.document_id) if d}
    return whose, [LookRow(
        at=r.at, case_number=numbers.get(r.case_id, ""),
        what=r.looked.label + (f": {names.get(r.document_id, '')}" if r.document_id else ""),
        actor_name=r.actor_name, actor_role=r.actor_role.label, client=r.client) for r in rows]
