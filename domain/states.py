"""Case states, actor roles and the Dutch words for them (DESIGN.md, "The case, as states")."""

from __future__ import annotations

from enum import StrEnum


class CaseState(StrEnum):
    REQUESTED = "requested"
    ASSOCIATION_CHECK = "association_check"
    INTAKE_CALL = "intake_call"
    REOPEN_ADVISED = "reopen_advised"
    PORTFOLIO_REOPENED = "portfolio_reopened"
    AWAITING_SUBMISSION = "awaiting_submission"
    AWAITING_PAYMENT = "awaiting_payment"
    COMPLETENESS_CHECK = "completeness_check"
    AWAITING_COMPLETION = "awaiting_completion"
    UNDER_REVIEW = "under_review"
    ADDITIONS_REQUESTED = "additions_requested"
    CERTIFIED = "certified"
    REJECTED = "rejected"
    DECLINED = "declined"
    WITHDRAWN = "withdrawn"
    EXPIRED = "expired"

    @property
    def is_closed(self) -> bool:
        return self in CLOSED_STATES

    @property
    def label(self) -> str:
        return STATE_LABELS[self]


CLOSED_STATES = frozenset(
    {CaseState.CERTIFIED, CaseState.REJECTED, CaseState.DECLINED, CaseState.WITHDRAWN,
     CaseState.EXPIRED}
)

STATE_LABELS: dict[CaseState, str] = {
    CaseState.REQUESTED: "Aangevraagd",
    CaseState.ASSOCIATION_CHECK: "Controle door VvOCM",
    CaseState.INTAKE_CALL: "Startgesprek",
    CaseState.REOPEN_ADVISED: "Advies tot heropenen aan KP",
    CaseState.PORTFOLIO_REOPENED: "Portfolio heropend",
    CaseState.AWAITING_SUBMISSION: "Wacht op indienen dossier",
    CaseState.AWAITING_PAYMENT: "Wacht op betaling",
    CaseState.COMPLETENESS_CHECK: "Controle op volledigheid",
    CaseState.AWAITING_COMPLETION: "Wacht op aanvulling dossier",
    CaseState.UNDER_REVIEW: "Inhoudelijke beoordeling",
    CaseState.ADDITIONS_REQUESTED: "Aanvulling gevraagd",
    CaseState.CERTIFIED: "Geherregistreerd",
    CaseState.REJECTED: "Afgewezen",
    CaseState.DECLINED: "Niet toereikend",
    CaseState.WITHDRAWN: "Ingetrokken",
    CaseState.EXPIRED: "Verlopen (termijn verstreken)",
}


class Party(StrEnum):
    """Who a wait is on: reminded before its due date, and held to it only if it is the
    practitioner (issue 20): the office's and the reviewer's own delays remind and escalate,
    and never close a case."""

    PRACTITIONER = "practitioner"
    ASSOCIATION = "association"
    REGISTER = "register"
    REVIEWER = "reviewer"


HELD_TO_DEADLINE = Party.PRACTITIONER


class Role(StrEnum):
    ASSOCIATION_STAFF = "association_staff"
    REGISTER_STAFF = "register_staff"
    REVIEWER = "reviewer"
    PRACTITIONER = "practitioner"
    OPERATOR = "operator"
    SYSTEM = "system"

    @property
    def label(self) -> str:
        return ROLE_LABELS[self]


ROLE_LABELS: dict[Role, str] = {
    Role.ASSOCIATION_STAFF: "medewerker VvOCM",
    Role.REGISTER_STAFF: "medewerker KP",
    Role.REVIEWER: "beoordelaar",
    Role.PRACTITIONER: "oefentherapeut",
    Role.OPERATOR: "beheerder (Prefect UI)",
    Role.SYSTEM: "systeem",
}
