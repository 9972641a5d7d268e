"""The payment provider, the one boundary we cannot reach from here: an interface, and an
adapter for Mollie (iDEAL) through its official client, `mollie-api-python`.

The adapter never trusts what a webhook says: Mollie's webhook carries only a payment id, and
the status is always asked of Mollie's API with our key. Tests run it against a local server
that speaks Mollie's documented API (tests/fake_mollie.py); production sets
`HERREG_PAYMENT__MOLLIE_API_KEY`.
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable
from dataclasses import dataclass
from datetime import date, datetime
from decimal import Decimal
from typing import Protocol, TypeVar

from domain.formatting import AMSTERDAM
from models.payment import OnlineStatus
from settings import get_settings

T = TypeVar("T")


@dataclass(frozen=True)
class Checkout:
    provider_id: str
    checkout_url: str


@dataclass(frozen=True)
class ProviderStatus:
    status: OnlineStatus
    amount: Decimal
    paid_on: date | None


class PaymentUnavailable(Exception):
    """The provider could not be reached or refused; nothing was paid or recorded."""


class PaymentProvider(Protocol):
    name: str

    async def create(self, *, amount: Decimal, description: str, reference: str,
                     redirect_url: str, webhook_url: str) -> Checkout: ...

    async def status(self, provider_id: str) -> ProviderStatus: ...


STATUSES = {"open": OnlineStatus.OPEN, "pending": OnlineStatus.OPEN,
            "authorized": OnlineStatus.OPEN, "paid": OnlineStatus.PAID,
            "failed": OnlineStatus.FAILED, "expired": OnlineStatus.EXPIRED,
            "canceled": OnlineStatus.CANCELED}


class Mollie:
    """Mollie's Payments API v2. The client is synchronous: calls run on a worker thread."""

    name = "mollie"

    def __init__(self, api_key: str, endpoint: str = "") -> None:
        from mollie.api.client import Client

        self._client = Client(api_endpoint=endpoint, timeout=(3, 10), retry=2)
        self._client.set_api_key(api_key)

    async def create(self, *, amount: Decimal, description: str, reference: str,
                     redirect_url: str, webhook_url: str) -> Checkout:
        def call() -> Checkout:
            payment = self._client.payments.create({
                "amount": {"currency": "EUR", "value": f"{amount:.2f}"},
                "description": description, "redirectUrl": redirect_url,
                "webhookUrl": webhook_url, "method": get_settings().payment.method,
                "locale": "nl_NL", "metadata": {"invoice": reference}})
            return Checkout(str(payment.id), str(payment.checkout_url))
        return await _guarded(call)

    async def status(self, provider_id: str) -> ProviderStatus:
        def call() -> ProviderStatus:
            payment = self._client.payments.get(provider_id)
            paid_at = payment.paid_at
            paid_on = datetime.fromisoformat(paid_at).astimezone(AMSTERDAM).date() \
                if paid_at else None
            return ProviderStatus(STATUSES.get(str(payment.status), OnlineStatus.OPEN),
                                  Decimal(payment.amount["value"]), paid_on)
        return await _guarded(call)


async def _guarded(call: Callable[[], T]) -> T:
    from mollie.api.error import Error as MollieError

    try:
        return await asyncio.to_thread(call)
    except (MollieError, OSError) as err:
        raise PaymentUnavailable(str(err)) from err


def configured_provider() -> PaymentProvider | None:
    """Mollie when a key is set; otherwise none (payment by bank transfer only)."""
    payment = get_settings().payment
    return Mollie(payment.mollie_api_key, payment.mollie_endpoint) \
        if payment.mollie_api_key else None
