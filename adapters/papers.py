"""The papers the register hands out: PDFs rendered from Jinja2 HTML templates
(templates/pdf/) by WeasyPrint, and the intake call's calendar invitation (icalendar).

Why WeasyPrint: it lays out HTML and CSS itself (paged media: A4, page footers), so a paper is
a template like the mails, with the same Dutch filters; it is maintained (a release every few
months), embeds the fonts it uses, and needs no browser or service at run time, only Pango,
which the Makefile installs. PDF metadata carries the rendering time, so a paper is rendered
once and kept by its hash (adapters/blobs.py): the mailed file and a later download are the same.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from datetime import date, datetime, timedelta
from decimal import Decimal
from urllib.parse import urlencode

from adapters.rendering import render_page
from domain.formatting import AMSTERDAM
from models.invoice import CreditNote, Invoice, InvoiceKind
from models.practitioner import Practitioner
from settings import Issuer, get_settings

PDF = "application/pdf"


@dataclass(frozen=True)
class Attachment:
    filename: str
    media_type: str
    content: bytes


def render_pdf(template: str, context: Mapping[str, object], issuer: Issuer) -> bytes:
    import weasyprint  # imported on first use: it loads Pango, which the web pages never need

    html = render_page(template, {"issuer": issuer, **context})
    return bytes(weasyprint.HTML(string=html).write_pdf())


SUPPLIED_AT_THE_CALL = "de dag van het startgesprek (u kiest die uit de aangeboden tijden)"


def invoice_paper(invoice: Invoice, *, case_number: str, customer: Practitioner,
                  description: str, supplied_on: date | None) -> Attachment:
    """The invoice as a PDF meeting the Dutch invoice rules, from its issuer (VvOCM for the
    intake call, KP for the re-registration). A service not yet dated (the intake call, before
    a time is picked) says when it will be."""
    papers = get_settings().papers
    issuer = papers.association if invoice.kind is InvoiceKind.INTAKE else papers.register_office
    account, iban = get_settings().payment.payee(invoice.kind)
    pdf = render_pdf("invoice.html", {
        "invoice_number": invoice.number, "issued_on": invoice.issued_on,
        "supplied_on": supplied_on, "supplied_text": SUPPLIED_AT_THE_CALL,
        "contact_email": _contact(invoice.kind), "due_on": invoice.due_on,
        "case_number": case_number, **_customer(customer),
        "description": description, "amount": invoice.amount, "vat": _vat(issuer, invoice.amount),
        "account": account, "iban": iban, "credited": None}, issuer)
    return Attachment(f"factuur-{invoice.number}.pdf", PDF, pdf)


def credit_note_paper(note: CreditNote, invoice: Invoice, *, case_number: str,
                      customer: Practitioner, description: str, supplied_on: date) -> Attachment:
    """The credit note of `invoice` as a PDF, from the register office."""
    issuer = get_settings().papers.register_office
    pdf = render_pdf("invoice.html", {
        "invoice_number": note.number, "issued_on": note.issued_on,
        "supplied_on": supplied_on, "due_on": None,
        "supplied_text": "", "contact_email": _contact(invoice.kind),
        "case_number": case_number, **_customer(customer),
        "description": description, "amount": -note.amount, "vat": _vat(issuer, -note.amount),
        "account": "", "iban": "", "credited": invoice}, issuer)
    return Attachment(f"creditnota-{note.number}.pdf", PDF, pdf)


def _customer(practitioner: Practitioner) -> dict[str, str]:
    return {"customer_name": practitioner.name, "customer_address": practitioner.address,
            "customer_email": practitioner.email, "kp_number": practitioner.kp_number}


def _contact(kind: InvoiceKind) -> str:
    """Where questions about an invoice go: its issuer's office."""
    addresses = get_settings().addresses
    return addresses.association if kind is InvoiceKind.INTAKE else addresses.register_office


def _vat(issuer: Issuer, amount: Decimal) -> dict[str, Decimal] | None:
    """The VAT included in `amount`, or None where the exemption line applies."""
    if not issuer.vat_rate:
        return None
    net = (amount * 100 / (100 + issuer.vat_rate)).quantize(Decimal("0.01"))
    return {"rate": issuer.vat_rate, "net": net, "amount": amount - net}


def register_entry_url(kp_number: str, specialisation: str) -> str:
    """The public register, showing this practitioner's registrations in the specialisation."""
    query = urlencode({"kp": kp_number, "specialisatie": specialisation})
    return f"{get_settings().links.base_url}/register?{query}"


ICS = "text/calendar"


def intake_invitation(*, uid: str, starts_at: datetime, minutes: int, video_link: str,
                      summary: str, description: str, organizer: str, attendee: str,
                      stamp: datetime, sequence: int = 0, cancel: bool = False) -> Attachment:
    """The intake call as an iCalendar event (RFC 5545), in Europe/Amsterdam with its
    VTIMEZONE, so every calendar shows the right local time on both sides of a DST change.
    One UID per case; each change has a higher `sequence`, and `cancel` takes it out of the
    calendars (METHOD:CANCEL, STATUS:CANCELLED)."""
    from icalendar import Calendar, Event, vCalAddress

    start = starts_at.astimezone(AMSTERDAM)
    event = Event()
    event.add("uid", uid)
    event.add("dtstamp", stamp)
    event.add("dtstart", start)
    event.add("dtend", start + timedelta(minutes=minutes))
    event.add("summary", summary)
    event.add("description", description)
    event.add("location", video_link)
    event.add("url", video_link)
    event.add("organizer", vCalAddress(f"mailto:{organizer}"))
    event.add("attendee", vCalAddress(f"mailto:{attendee}"))
    event.add("sequence", sequence)
    event.add("status", "CANCELLED" if cancel else "CONFIRMED")
    method = "CANCEL" if cancel else "REQUEST"
    calendar = Calendar()
    calendar.add("prodid", "-//Herregistratie KP en VvOCM//NL")
    calendar.add("version", "2.0")
    calendar.add("method", method)
    calendar.add_component(event)
    calendar.add_missing_timezones()
    return Attachment("startgesprek-geannuleerd.ics" if cancel else "startgesprek.ics",
                      f"{ICS}; method={method}", calendar.to_ical())
