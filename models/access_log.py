"""Who looked at health data: every view or download of a file a practitioner sent, and every
view of a case's evidence (the staff case page, the reviewer's dossier, the case through the
API), by staff or a reviewer. Who, in what role, when, what and from where (NEN 7513, AVG).

Append-only: the system has no code that changes or deletes a row; the retention rules will
be the one exception (issue 23)."""

from __future__ import annotations

from datetime import datetime
from enum import StrEnum

from sqlmodel import Field, Session, SQLModel, col, select

from domain.states import Role
from models.db import UTCDateTime, utcnow


class Looked(StrEnum):
    """What was looked at."""

    DOCUMENT = "document"
    CASE_PAGE = "case_page"
    DOSSIER = "dossier"
    API_CASE = "api_case"

    @property
    def label(self) -> str:
        return {"document": "Bestand geopend", "case_page": "Aanvraag bekeken",
                "dossier": "Dossier bekeken (beoordelaar)",
                "api_case": "Aanvraag opgevraagd via de API"}[self.value]


class AccessLog(SQLModel, table=True):
    __tablename__ = "access_log"

    id: int | None = Field(default=None, primary_key=True)
    case_id: int = Field(foreign_key="case.id", index=True)
    practitioner_id: int = Field(foreign_key="practitioner.id", index=True)
    looked: Looked
    document_id: int | None = Field(default=None, foreign_key="document.id")
    actor_role: Role
    actor_name: str = Field(max_length=200)
    client: str = Field(max_length=100, description="the address the request came from")
    at: datetime = Field(default_factory=utcnow, sa_type=UTCDateTime)


def case_accesses(*, session: Session, case_id: int) -> list[AccessLog]:
    """Every look at one case, the latest first."""
    return list(session.exec(select(AccessLog).where(AccessLog.case_id == case_id)
                             .order_by(col(AccessLog.at).desc(), col(AccessLog.id).desc())))


def person_accesses(*, session: Session, practitioner_id: int) -> list[AccessLog]:
    """Every look at one practitioner's cases, the latest first."""
    return list(session.exec(
        select(AccessLog).where(AccessLog.practitioner_id == practitioner_id)
        .order_by(col(AccessLog.at).desc(), col(AccessLog.id).desc())))
