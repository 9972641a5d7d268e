"""Files a practitioner sent with the request (R5): the portfolio overview and the extract of
the patient records. The bytes live outside the web root, named by their SHA-256 hash
(service/documents.py); a row says which case, what kind, and who sent it when. Who opened a
file is in the access log (models/access_log.py)."""

from __future__ import annotations

from datetime import datetime
from enum import StrEnum

from sqlmodel import Field, Session, SQLModel, col, select

from domain.states import Role
from models.db import UTCDateTime, utcnow


class DocumentKind(StrEnum):
    PORTFOLIO = "portfolio"
    PATIENT_RECORDS = "patient_records"

    @property
    def label(self) -> str:
        return {"portfolio": "Overzicht van het portfolio",
                "patient_records": "Uittreksel uit het patiëntendossier"}[self.value]


class Document(SQLModel, table=True):
    id: int | None = Field(default=None, primary_key=True)
    case_id: int = Field(foreign_key="case.id", index=True)
    kind: DocumentKind
    filename: str = Field(max_length=200, description="as the sender named it, cleaned")
    media_type: str = Field(max_length=60, description="from the content, not the name")
    size: int
    sha256: str = Field(max_length=64)
    uploaded_at: datetime = Field(default_factory=utcnow, sa_type=UTCDateTime)
    uploaded_by_role: Role
    uploaded_by: str = Field(max_length=200)
    formula_cells: bool = Field(default=False, description="a CSV with cells a spreadsheet "
                                "would run; kept as sent, staff are warned")


def case_documents(*, session: Session, case_id: int) -> list[Document]:
    return list(session.exec(select(Document).where(Document.case_id == case_id)
                             .order_by(col(Document.id))))
