"""The reviewer's dossier behind the link in the assignment mail: the evidence, the verdict of
the checks, earlier rounds and additions, and whether this round's findings are still open."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from sqlmodel import Session

from domain import messages as m
from domain.decisions import CHOICE_LABELS
from domain.errors import CaseNotFound, LinkInvalid
from domain.formatting import format_number, format_when
from domain.procedure import ADDITIONS, FINDINGS, round_of
from domain.states import Role
from models.case import Case, CaseEvent, case_policy, case_verdict, get_case, history
from models.document import Document, case_documents
from models.practitioner import Practitioner
from models.review import Review, Reviewer, case_reviews, get_reviewer
from policies import Evidence, Verdict
from service.actors import Actor
from service.history import decision_rows
from service.progress import case_progress, refresh_seconds

CATEGORY_LABELS = {"course": "Cursus", "other": "Overige activiteit"}


@dataclass
class Dossier:
    """What the reviewer's page shows for one round."""

    case: Case
    round: int
    reviewer: Reviewer
    practitioner: Practitioner
    specialisation: str
    evidence: dict[str, Any]
    verdict: Verdict
    points: dict[str, str]
    points_total: str
    hours_total: str
    reviews: list[Review]  # earlier rounds' findings
    additions: list[dict[str, Any]]
    sent: dict[str, Any] | None  # this round's findings, once sent
    processing: bool  # sent, and the run has not carried them out yet
    open_form: bool
    refresh_seconds: int | None
    documents: list[Document]


def reviewer_case(session: Session, claims: dict[str, Any]) -> Case:
    """The case of a dossier link whose reviewer still has it; LinkInvalid otherwise."""
    try:
        case = get_case(session=session, case_id=int(claims["case"]))
    except (CaseNotFound, KeyError, TypeError, ValueError) as err:
        raise LinkInvalid(m.LINK_INVALID) from err
    if claims.get("role") != "reviewer" or case.reviewer_id is None \
            or case.reviewer_id != claims.get("reviewer"):
        raise LinkInvalid(m.LINK_INVALID)
    return case


def reviewer_actor(session: Session, claims: dict[str, Any]) -> Actor:
    round = int(claims["round"])
    reviewer = get_reviewer(session=session, reviewer_id=int(claims["reviewer"]))
    return Actor(Role.REVIEWER, reviewer.name, reviewer_id=reviewer.id, review_round=round)


def _findings_sent(events: list[CaseEvent], round: int) -> CaseEvent | None:
    """The findings recorded for this round (a pause reopened after bad Prefect UI input gets
    a `-retry-n` key)."""
    sent = [e for e in decision_rows(events, FINDINGS.action)
            if round_of(e.key.removeprefix("decision:")) == round]
    return sent[-1] if sent else None


def findings_open(session: Session, case: Case, round: int) -> bool:
    """Whether this round still awaits its findings: one submission per round."""
    return case.review_round == round and _findings_sent(
        history(session=session, case_id=case.id or 0), round) is None


def _evidence(case: Case) -> dict[str, Any]:
    evidence = Evidence.model_validate(case.evidence)
    return {
        "activities": [
            {"on": a.on, "title": a.title, "points": format_number(a.points),
             "category": CATEGORY_LABELS[a.category], "accredited": a.accredited}
            for a in sorted(evidence.activities, key=lambda a: a.on)
        ],
        "work_hours": [
            {"start": w.start, "end": w.end, "hours": format_number(w.hours),
             "description": w.description}
            for w in sorted(evidence.work_hours, key=lambda w: w.start)
        ],
        "bot_days": sorted(d.on for d in evidence.bot_days),
    }


def dossier(session: Session, case: Case, claims: dict[str, Any]) -> Dossier:
    round = int(claims["round"])
    case_id = case.id or 0
    events = history(session=session, case_id=case_id)
    sent = _findings_sent(events, round)
    practitioner = session.get(Practitioner, case.practitioner_id)
    assert practitioner is not None
    verdict = case_verdict(case)
    current = case.awaiting_action == FINDINGS.action and case.review_round == round
    processing = sent is not None and current
    return Dossier(
        case=case, round=round, practitioner=practitioner,
        reviewer=get_reviewer(session=session, reviewer_id=int(claims["reviewer"])),
        specialisation=case_policy(case).name, evidence=_evidence(case), verdict=verdict,
        points={k: format_number(v) for k, v in verdict.points_by_category.items()},
        points_total=format_number(verdict.points_total),
        hours_total=format_number(verdict.hours_total),
        reviews=[r for r in case_reviews(session=session, case_id=case_id)
                 if r.round < round and r.outcome is not None],
        additions=[{"when": format_when(e.at), "supplied_on": e.input.get("supplied_on", ""),
                    "description": e.input.get("description", "")}
                   for e in decision_rows(events, ADDITIONS.action)],
        sent=None if sent is None else {
            "outcome": CHOICE_LABELS.get(str(sent.input.get("outcome")), ""),
            "explanation": sent.input.get("explanation", ""), "when": format_when(sent.at)},
        processing=processing, open_form=sent is None and current,
        refresh_seconds=refresh_seconds(case_progress(session, case)) if processing else None,
        documents=case_documents(session=session, case_id=case_id))
