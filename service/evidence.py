"""The points and hours VvOCM counts from the files a practitioner sent (R6), entered until
its decision on them; the history keeps each entry with its totals.
"""

from __future__ import annotations

from typing import Any

from pydantic import BaseModel
from sqlmodel import col, select

from domain import messages as m
from domain.errors import InvalidTransition, NotAllowed
from domain.formatting import format_number
from domain.procedure import EVIDENCE_STATES
from models.case import Case, CaseEvent, add_note, case_verdict, find_case
from models.db import session_scope, utcnow
from policies import Evidence
from service.actors import MAY_COUNT, Actor
from service.validation import parse_input


class EvidenceInput(BaseModel):
    evidence: Evidence


def record_evidence(case_ref: str, evidence: dict[str, Any], *, actor: Actor) -> Case:
    """VvOCM staff enter the points and hours they counted from the files sent (R6), until
    their decision on them; the history keeps each entry with its totals."""
    if actor.role not in MAY_COUNT:
        raise NotAllowed(m.ROLE_NOT_ALLOWED.format(role=actor.role.label,
                                                   action=m.EVIDENCE_TITLE))
    parsed: EvidenceInput = parse_input(EvidenceInput, {"evidence": evidence})
    with session_scope() as session:
        case = find_case(session=session, ref=case_ref, for_update=True)
        if case.state not in EVIDENCE_STATES:
            raise InvalidTransition(m.EVIDENCE_CLOSED.format(label=case.state.label),
                                    state=case.state)
        case.evidence = parsed.evidence.model_dump(mode="json")
        case.updated_at = utcnow()
        session.add(case)
        verdict = case_verdict(case)
        entered = session.exec(select(CaseEvent.id).where(
            CaseEvent.case_id == case.id, col(CaseEvent.key).startswith("evidence:"))).all()
        add_note(session=session, case=case, key=f"evidence:{len(entered) + 1}",
                 action="evidence_entered", role=actor.role, name=actor.name,
                 data={"points_total": format_number(verdict.points_total),
                       "hours_total": format_number(verdict.hours_total)})
        return case
