"""Money coming in for an invoice: online payments (iDEAL through a provider) and the credit
lines of a bank statement (CAMT.053). Each is unique by the provider's or the bank's own
reference, so a webhook sent twice or a statement uploaded again records nothing twice."""

from __future__ import annotations

from datetime import date, datetime
from decimal import Decimal
from enum import StrEnum

from sqlalchemy import Numeric, UniqueConstraint
from sqlmodel import Field, Session, SQLModel, col, select

from models.db import UTCDateTime, utcnow


class OnlineStatus(StrEnum):
    OPEN = "open"
    PAID = "paid"
    FAILED = "failed"
    EXPIRED = "expired"
    CANCELED = "canceled"


class OnlinePayment(SQLModel, table=True):
    id: int | None = Field(default=None, primary_key=True)
    invoice_id: int = Field(foreign_key="invoice.id", index=True)
    provider: str = Field(max_length=20)
    provider_id: str = Field(unique=True, max_length=60)
    checkout_url: str = Field(max_length=500)
    status: OnlineStatus = OnlineStatus.OPEN
    created_at: datetime = Field(default_factory=utcnow, sa_type=UTCDateTime)
    paid_on: date | None = None


class EntryOutcome(StrEnum):
    MATCHED = "matched"
    PARTIAL = "partial"
    UNMATCHED = "unmatched"
    ALREADY_PAID = "already_paid"


class BankEntry(SQLModel, table=True):
    """One credit line of a bank statement, as read and as matched."""

    __table_args__ = (UniqueConstraint("account", "reference", name="uq_bank_entry"),)

    id: int | None = Field(default=None, primary_key=True)
    account: str = Field(max_length=40, description="IBAN of the statement")
    reference: str = Field(max_length=120, description="the bank's reference of the entry")
    statement: str = Field(max_length=120)
    booked_on: date
    amount: Decimal = Field(sa_type=Numeric(12, 2))
    remittance: str = Field(default="", max_length=500)
    debtor: str = Field(default="", max_length=200)
    invoice_id: int | None = Field(default=None, foreign_key="invoice.id")
    outcome: EntryOutcome
    read_at: datetime = Field(default_factory=utcnow, sa_type=UTCDateTime)
    # A line not fully matched stays on KP's worklist until a person links it to an invoice
    # (recorded as KP's payment, once) or marks it handled with a reason.
    problem: str = Field(default="", max_length=300, description="why the line was not booked "
                         "by itself (another account, an unreadable amount, refused by the "
                         "case), for KP's worklist")
    handled_at: datetime | None = Field(default=None, sa_type=UTCDateTime, index=True)
    handled_by: str = Field(default="", max_length=200)
    handling: str = Field(default="", max_length=500, description="what was done, and why")


def open_entries(*, session: Session) -> list[BankEntry]:
    """Money received that nobody has matched yet: the worklist, oldest first."""
    return list(session.exec(select(BankEntry).where(
        col(BankEntry.outcome) != EntryOutcome.MATCHED, col(BankEntry.handled_at).is_(None))
        .order_by(col(BankEntry.booked_on), col(BankEntry.id))))


def open_payment(*, session: Session, invoice_id: int) -> OnlinePayment | None:
    return session.exec(select(OnlinePayment).where(
        OnlinePayment.invoice_id == invoice_id, OnlinePayment.status == OnlineStatus.OPEN)
        .order_by(col(OnlinePayment.id).desc())).first()


def latest_payment(*, session: Session, invoice_id: int) -> OnlinePayment | None:
    return session.exec(select(OnlinePayment).where(OnlinePayment.invoice_id == invoice_id)
                        .order_by(col(OnlinePayment.id).desc())).first()
