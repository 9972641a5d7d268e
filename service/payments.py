"""Payments of invoices: online through the provider (iDEAL), from a bank statement (CAMT.053),
or by KP's own "payment received" as before. Whichever way, a paid re-registration invoice
becomes the `payment_received` decision of the case's payment pause, once: a webhook sent
twice, out of order or forged, or a statement uploaded again, changes nothing.
"""

from __future__ import annotations

from contextlib import suppress
from dataclasses import dataclass
from datetime import date
from decimal import Decimal

from sqlalchemy import update
from sqlmodel import col, select

from adapters.links import read_token
from adapters.payment_provider import PaymentUnavailable as PaymentUnavailable
from adapters.payment_provider import configured_provider
from domain import messages as m
from domain.errors import DecisionConflict, InvalidTransition
from domain.procedure import PAYMENT, pause_of
from domain.states import Role
from models.case import add_note, get_case
from models.db import read_session, session_scope
from models.decision import case_decisions
from models.invoice import Invoice as Invoice  # the payment page's type
from models.invoice import InvoiceKind, InvoiceStatus
from models.payment import OnlinePayment, OnlineStatus, latest_payment, open_payment
from service.actions import act
from service.actors import Actor
from settings import get_settings

ONLINE = Actor(Role.REGISTER_STAFF, "iDEAL-betaling (Mollie)")


class AlreadyPaid(Exception):
    """The invoice is paid: nothing to pay."""


def invoice_of(token: str) -> Invoice:
    """The invoice a payment link stands for; LinkExpired / LinkInvalid pass through."""
    claims = read_token("payment", token)
    with read_session() as session:
        invoice = session.get(Invoice, int(claims["invoice"]))
    if invoice is None:
        raise KeyError(claims["invoice"])
    return invoice


async def checkout(token: str) -> str:
    """Where to send the practitioner to pay: the open payment of this invoice if there is
    one (a second click), else a new one at the provider."""
    provider = configured_provider()
    if provider is None:
        raise PaymentUnavailable(m.PAY_ONLINE_OFF)
    invoice = invoice_of(token)
    if invoice.status is InvoiceStatus.PAID:
        raise AlreadyPaid(invoice.number)
    with read_session() as session:
        existing = open_payment(session=session, invoice_id=invoice.id or 0)
    if existing is not None:
        return existing.checkout_url
    base = get_settings().links.base_url
    created = await provider.create(
        amount=invoice.amount, description=f"Factuur {invoice.number}",
        reference=invoice.number, redirect_url=f"{base}/betalen/{token}/terug",
        webhook_url=f"{base}/betalingen/mollie")
    with session_scope() as session:
        session.add(OnlinePayment(invoice_id=invoice.id or 0, provider=provider.name,
                                  provider_id=created.provider_id,
                                  checkout_url=created.checkout_url))
    return created.checkout_url


async def returned_from_provider(invoice_id: int) -> tuple[Invoice, bool]:
    """The practitioner is back from the provider's checkout: ask the provider now rather than
    wait for its webhook (if it cannot be asked, the webhook will tell). The invoice as it is
    then, and whether it is paid (or its payment is, and is being recorded)."""
    with read_session() as session:
        latest = latest_payment(session=session, invoice_id=invoice_id)
    if latest is not None:
        with suppress(PaymentUnavailable):
            await webhook(latest.provider_id)
    with read_session() as session:
        invoice = session.get(Invoice, invoice_id)
        latest = latest_payment(session=session, invoice_id=invoice_id)
    assert invoice is not None
    return invoice, invoice.status is InvoiceStatus.PAID or (
        latest is not None and latest.status is OnlineStatus.PAID)


async def webhook(provider_id: str) -> None:
    """The provider says something changed: ask it what (never trust the call). Unknown ids
    are ignored; a payment already recorded as paid stays so. A payment marked paid whose
    recording did not happen (the process died in between, the database went away) is
    recorded by the next call: Mollie sends the webhook again until it gets a 200, and the
    practitioner's return page calls this too."""
    with read_session() as session:
        payment = session.exec(
            select(OnlinePayment).where(col(OnlinePayment.provider_id) == provider_id)).first()
    provider = configured_provider()
    if payment is None or provider is None or (
            payment.status is OnlineStatus.PAID and payment_recorded(payment.invoice_id)):
        return
    state = await provider.status(provider_id)
    if state.status is not OnlineStatus.PAID:
        with session_scope() as session:
            session.execute(update(OnlinePayment)
                            .where(col(OnlinePayment.id) == payment.id,
                                   col(OnlinePayment.status) == OnlineStatus.OPEN)
                            .values(status=state.status))
        return
    with session_scope() as session:
        claimed = session.execute(update(OnlinePayment)
                                  .where(col(OnlinePayment.id) == payment.id,
                                         col(OnlinePayment.status) != OnlineStatus.PAID)
                                  .values(status=OnlineStatus.PAID, paid_on=state.paid_on))
    if claimed.rowcount != 1 and payment_recorded(payment.invoice_id):  # type: ignore[attr-defined]
        return  # another delivery of the same webhook was first, and finished
    today = get_settings().current_date()  # a provider's clock can run ahead of ours
    await record_invoice_payment(payment.invoice_id, min(state.paid_on or today, today),
                                 state.amount, ONLINE, reference=provider_id)


def payment_recorded(invoice_id: int) -> bool:
    """Whether the invoice's payment is in: the invoice paid, or (re-registration) the case's
    payment pause answered, by any way of paying."""
    with read_session() as session:
        invoice = session.get(Invoice, invoice_id)
        assert invoice is not None
        if invoice.status is InvoiceStatus.PAID:
            return True
        return invoice.kind is InvoiceKind.REREGISTRATION and any(
            pause_of(record.pause_key) is PAYMENT
            for record in case_decisions(session=session, case_id=invoice.case_id))


@dataclass(frozen=True)
class Recorded:
    invoice: str
    outcome: str  # "recorded", "already_paid"


async def record_invoice_payment(invoice_id: int, paid_on: date, amount: Decimal,
                                 actor: Actor, *, reference: str) -> Recorded:
    """A payment in full of this invoice: the re-registration fee answers the case's payment
    pause (R9) as KP's decision; the intake fee (no pause waits for it) is marked paid."""
    with session_scope() as session:
        invoice = session.get(Invoice, invoice_id, with_for_update=True)
        assert invoice is not None
        case = get_case(session=session, case_id=invoice.case_id)
        number, case_number, kind = invoice.number, case.number, invoice.kind
        if invoice.status is InvoiceStatus.PAID:
            add_note(session=session, case=case, key=f"paid-twice:{reference}"[:80],
                     action="paid_twice", role=actor.role, name=actor.name,
                     data={"invoice": invoice.number, "amount": str(amount)})
            return Recorded(number, "already_paid")
        if kind is InvoiceKind.INTAKE:
            invoice.status, invoice.paid_on = InvoiceStatus.PAID, paid_on
            session.add(invoice)
            add_note(session=session, case=case, key=f"paid:{invoice.number}",
                     action="intake_fee_paid", role=actor.role, name=actor.name,
                     data={"invoice": invoice.number, "paid_on": paid_on.isoformat()})
            return Recorded(number, "recorded")
    try:
        await act(case_number, PAYMENT.action, {"paid_on": paid_on.isoformat()},
                  actor=actor)
    except (DecisionConflict, InvalidTransition):
        return Recorded(number, "already_paid")  # KP recorded it, or the case moved on
    return Recorded(number, "recorded")
