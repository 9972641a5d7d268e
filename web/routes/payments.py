"""Paying an invoice online: the link in the invoice mail sends the practitioner to the
provider's checkout (the same one on a second click), the provider sends them back to a page
that says where the payment is, and the provider's webhook records it (service/payments.py).
And KP's page for bank transfers: a CAMT.053 statement, matched line by line (service/bank.py).
"""

from __future__ import annotations

import asyncio

from fastapi import APIRouter, Depends, HTTPException, Request
from fastapi.responses import RedirectResponse, Response
from starlette.concurrency import run_in_threadpool
from starlette.datastructures import UploadFile

from domain import messages as m
from domain.errors import DecisionConflict, InvalidInput, LinkExpired, LinkInvalid
from service.accounts import StaffRole, StaffUser
from service.bank import (
    EntryOutcome,
    StatementError,
    StatementReport,
    handle_entry,
    import_statement,
    link_entry,
    own_accounts,
    worklist,
)
from service.payments import (
    AlreadyPaid,
    Invoice,
    PaymentUnavailable,
    checkout,
    invoice_of,
    returned_from_provider,
    webhook,
)
from web.forms import Id
from web.routes.signed_links import link_page
from web.security import actor_for, require_csrf, roles_allowed
from web.templating import templates

router = APIRouter(include_in_schema=False)
# Each reads the statements of its own account: KP the fee's, VvOCM the intake fee's.
BANK_STAFF = roles_allowed(StaffRole.REGISTER_STAFF, StaffRole.ASSOCIATION_STAFF,
                           StaffRole.ADMIN)
PAYMENT_LINK_EXPIRED = ("Deze betaallink is verlopen. Maak het bedrag over met de gegevens uit "
                        "de e-mail, of vraag de link opnieuw aan via uw statuspagina.")


def _page(request: Request, heading: str, message: str, *, tone: str = "",
          invoice: Invoice | None = None, retry_url: str | None = None, status: int = 200,
          refresh: int | None = None) -> Response:
    return link_page(request, "payment.html", {
        "heading": heading, "message": message, "tone": tone, "invoice": invoice,
        "retry_url": retry_url, "refresh_seconds": refresh}, status)


def _invoice(request: Request, token: str) -> Invoice | Response:
    try:
        return invoice_of(token)
    except LinkExpired:
        return _page(request, "Link verlopen", PAYMENT_LINK_EXPIRED, tone="bad", status=410)
    except (LinkInvalid, KeyError, TypeError, ValueError) as err:
        raise HTTPException(status_code=403, detail=m.LINK_INVALID) from err


@router.get("/betalen/{token}")
async def pay(request: Request, token: str) -> Response:
    found = _invoice(request, token)
    if isinstance(found, Response):
        return found
    try:
        return RedirectResponse(await checkout(token), status_code=303)
    except AlreadyPaid:
        return _page(request, "Al betaald", m.PAY_ALREADY_PAID, tone="good", invoice=found)
    except PaymentUnavailable:
        return _page(request, "Betalen lukt nu niet", m.PAY_UNAVAILABLE, tone="bad",
                     invoice=found, retry_url=f"/betalen/{token}", status=503)


@router.get("/betalen/{token}/terug")
async def returned(request: Request, token: str) -> Response:
    """Back from the provider: ask it now rather than wait for its webhook."""
    found = _invoice(request, token)
    if isinstance(found, Response):
        return found
    invoice, paid = await returned_from_provider(found.id or 0)
    if paid:
        return _page(request, "Betaald", m.PAY_RETURNED_PAID, tone="good", invoice=invoice)
    return _page(request, "Betaling wordt verwerkt", m.PAY_RETURNED_OPEN, invoice=invoice,
                 retry_url=f"/betalen/{token}", refresh=10)


@router.post("/betalingen/mollie")
async def mollie_webhook(request: Request) -> Response:
    """Mollie posts `id=tr_…` only. 200 for ids we do not know (nothing to tell a guesser);
    503 while Mollie cannot be asked, so that it sends the webhook again."""
    form = await request.form()
    provider_id = form.get("id")
    if not isinstance(provider_id, str) or not provider_id.strip():
        return Response(status_code=200)
    try:
        await webhook(provider_id.strip())
    except PaymentUnavailable:
        return Response(status_code=503, headers={"Retry-After": "60"})
    return Response(status_code=200)


def _bank_page(request: Request, user: StaffUser, report: StatementReport | None = None,
               error: str | None = None, status: int = 200, done: str | None = None,
               errors: dict[str, str] | None = None) -> Response:
    counts = {"matched": report.count(EntryOutcome.MATCHED) if report else 0,
              "skipped": report.count(None) if report else 0,
              "still_open": sum(line.still_open for line in report.lines) if report else 0}
    attention = len(report.lines) - counts["matched"] - counts["skipped"] if report else 0
    return templates().TemplateResponse(request, "bank_statement.html", {
        "user": user, "report": report, "error": error, "counts": counts,
        "attention": attention, "worklist": worklist(actor_for(user).role),
        "accounts": own_accounts(actor_for(user).role), "done": done,
        "errors": errors or {}}, status_code=status)


@router.post("/betalingen/werklijst/{entry_id}", dependencies=[BANK_STAFF, Depends(require_csrf)])
async def work_on_entry(request: Request, entry_id: Id,
                        user: StaffUser = BANK_STAFF) -> Response:
    """Link an open line to an invoice (KP's payment decision), or mark it handled."""
    form = await request.form()
    choice = str(form.get("besluit", ""))
    try:
        if choice == "koppelen":
            case = await link_entry(entry_id, str(form.get("factuur", "")),
                                    actor=actor_for(user))
            return _bank_page(request, user, done=m.BANK_LINKED_DONE.format(case=case))
        if choice == "afhandelen":
            handle_entry(entry_id, str(form.get("reden", "")), actor=actor_for(user))
            return _bank_page(request, user, done=m.BANK_HANDLED_DONE)
    except InvalidInput as err:
        return _bank_page(request, user, error=next(iter(err.errors.values())), status=422,
                          errors={str(entry_id): next(iter(err.errors.values()))})
    except DecisionConflict as err:
        return _bank_page(request, user, error=str(err), status=409)
    except LookupError as err:  # no such line, or one of another organisation's account
        raise HTTPException(status_code=404) from err
    raise HTTPException(status_code=422, detail=m.BANK_CHOICE)


@router.get("/betalingen/bankafschrift")
def bank_statement_form(request: Request, user: StaffUser = BANK_STAFF) -> Response:
    return _bank_page(request, user)


@router.post("/betalingen/bankafschrift", dependencies=[BANK_STAFF, Depends(require_csrf)])
async def bank_statement(request: Request, user: StaffUser = BANK_STAFF) -> Response:
    form = await request.form()
    sent = form.get("bestand")
    content = await sent.read() if isinstance(sent, UploadFile) else b""
    if not content:
        return _bank_page(request, user, error=m.CAMT_FILE_REQUIRED, status=422)
    try:  # thousands of lines take seconds: in a thread of its own, not on the event loop
        report = await run_in_threadpool(
            lambda: asyncio.run(import_statement(content, actor=actor_for(user))))
    except StatementError as err:
        return _bank_page(request, user, error=str(err), status=422)
    return _bank_page(request, user, report)
