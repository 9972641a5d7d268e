"""Invoices: the intake-call fee for non-members (R7) and the re-registration fee (R9)."""

from __future__ import annotations

from datetime import date
from decimal import Decimal
from enum import StrEnum

from sqlalchemy import Numeric, UniqueConstraint
from sqlmodel import Field, Session, SQLModel, select

from models.counter import next_number


class InvoiceKind(StrEnum):
    INTAKE = "intake"
    REREGISTRATION = "reregistration"

    @property
    def label(self) -> str:
        """What the invoice is for, as staff and practitioners read it."""
        return "Startgesprek" if self is InvoiceKind.INTAKE else "Herregistratie"

    @property
    def issuer(self) -> str:
        """Who issues it and receives its payment: VvOCM the call, KP the re-registration."""
        return "VvOCM" if self is InvoiceKind.INTAKE else "KP"


class InvoiceStatus(StrEnum):
    OPEN = "open"
    PAID = "paid"

    @property
    def label(self) -> str:
        return "Open" if self is InvoiceStatus.OPEN else "Betaald"


class InvoiceBase(SQLModel):
    number: str = Field(unique=True, max_length=20)
    kind: InvoiceKind
    amount: Decimal = Field(sa_type=Numeric(10, 2))
    status: InvoiceStatus = InvoiceStatus.OPEN
    issued_on: date
    paid_on: date | None = None


class Invoice(InvoiceBase, table=True):
    __table_args__ = (UniqueConstraint("case_id", "kind", name="uq_invoice_case_kind"),)

    id: int | None = Field(default=None, primary_key=True)
    case_id: int = Field(foreign_key="case.id", index=True)
    due_on: date | None = None
    pdf_sha256: str | None = Field(default=None, max_length=64,
                                   description="the PDF as mailed (adapters/blobs.py)")


class InvoicePublic(InvoiceBase):
    pass


# One gapless series per issuer (Dutch invoice rules): KP invoices re-registrations, VvOCM the
# intake fee.
SERIES = {InvoiceKind.REREGISTRATION: ("invoice", "F"), InvoiceKind.INTAKE: ("invoice-vvocm", "VF")}


def get_invoice(*, session: Session, case_id: int, kind: InvoiceKind) -> Invoice | None:
    return session.exec(
        select(Invoice).where(Invoice.case_id == case_id, Invoice.kind == kind)
    ).first()


def case_invoices(*, session: Session, case_id: int) -> list[Invoice]:
    return list(session.exec(select(Invoice).where(Invoice.case_id == case_id)))


def issue_invoice(
    *, session: Session, case_id: int, kind: InvoiceKind, amount: Decimal, issued_on: date
) -> Invoice:
    """At most one invoice per case and kind: a replay gets the one already issued."""
    existing = get_invoice(session=session, case_id=case_id, kind=kind)
    if existing is not None:
        return existing
    series, prefix = SERIES[kind]
    invoice = Invoice(
        number=next_number(session=session, series=series, year=issued_on.year, prefix=prefix),
        case_id=case_id, kind=kind, amount=amount, issued_on=issued_on,
    )
    session.add(invoice)
    session.flush()
    return invoice


class CreditNote(SQLModel, table=True):
    """Cancels a paid invoice (a paid case withdrawn before its review, when the register's
    policy says so). Numbered in a gapless series of its own."""

    id: int | None = Field(default=None, primary_key=True)
    invoice_id: int = Field(foreign_key="invoice.id", unique=True)
    number: str = Field(unique=True, max_length=20)
    amount: Decimal = Field(sa_type=Numeric(10, 2))
    issued_on: date
    pdf_sha256: str | None = Field(default=None, max_length=64)


def issue_credit_note(*, session: Session, invoice: Invoice, issued_on: date) -> CreditNote:
    """At most one per invoice: a replay gets the one already issued."""
    existing = session.exec(select(CreditNote).where(CreditNote.invoice_id == invoice.id)).first()
    if existing is not None:
        return existing
    note = CreditNote(invoice_id=invoice.id or 0, amount=invoice.amount, issued_on=issued_on,
                      number=next_number(session=session, series="credit", year=issued_on.year,
                                         prefix="CF"))
    session.add(note)
    session.flush()
    return note
