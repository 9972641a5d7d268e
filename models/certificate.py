"""The certificate (bewijs van herregistratie) stating the new period (R12)."""

from __future__ import annotations

from datetime import date

from sqlmodel import Field, Session, SQLModel, select


class CertificateBase(SQLModel):
    number: str = Field(unique=True, max_length=20)
    period_start: date
    period_end: date
    issued_on: date


class Certificate(CertificateBase, table=True):
    id: int | None = Field(default=None, primary_key=True)
    case_id: int = Field(foreign_key="case.id", unique=True)
    pdf_sha256: str | None = Field(default=None, max_length=64,
                                   description="the PDF as mailed (adapters/blobs.py)")


class CertificatePublic(CertificateBase):
    pass


def get_certificate(*, session: Session, case_id: int) -> Certificate | None:
    return session.exec(select(Certificate).where(Certificate.case_id == case_id)).first()
