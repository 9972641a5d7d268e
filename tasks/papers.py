"""The papers the register hands out: PDFs rendered from Jinja2 HTML templates
(templates/pdf/) by WeasyPrint, and the intake call's calendar invitation (icalendar).

Why WeasyPrint: it lays out HTML and CSS itself (paged media: A4, page footers), so a paper is
a template like the mails, with the same Dutch filters; it is maintained (a release every few
months), embeds the fonts it uses, and needs no browser or service at run time, only Pango,
which the Makefile installs. PDF metadata carries the rendering time, so a paper is rendered
once and kept by its hash (tasks/blobs.py): the mailed file and a later download are the same.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from datetime import datetime, timedelta
from urllib.parse import urlencode

from domain.formatting import AMSTERDAM
from settings import Issuer, get_settings
from tasks.rendering import render_page

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
