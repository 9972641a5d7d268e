"""Planning the intake call (issue 10, item 3): VvOCM offers times on the case page, the
practitioner picks one on the status page, and both get an .ics invitation (RFC 5545) in
Europe/Amsterdam with the video link and, for non-members, the fee. Offline database, real
SMTP server; the .ics is parsed back with icalendar."""

from __future__ import annotations

import re
from datetime import UTC, date, datetime, timedelta
from email.message import EmailMessage
from typing import Any
from zoneinfo import ZoneInfo

import pytest
from icalendar import Calendar
from markupsafe import escape

from adapters.papers import intake_invitation
from domain import messages as m
from domain.working_days import due_date
from models.db import read_session
from models.intake import case_slots
from service.actions import act, open_case
from service.intake import choose_slot, offer_slots
from settings import get_settings
from tests.conftest import ASSOCIATION, PRACTITIONER, TODAY, Mailbox, case_row, csrf_from
from tests.factories import request
from tests.replay import run_case
from tests.test_step_plan import walk
from tests.test_way_in import staff_session
from tests.test_web_links import link_from_mail

pytestmark = pytest.mark.usefixtures("offline")
AMSTERDAM = ZoneInfo("Europe/Amsterdam")
VIDEO = "https://meet.example.org/vvocm-startgesprek"


def invitation(message: EmailMessage, name: str = "startgesprek.ics") -> Calendar:
    (part,) = list(message.iter_attachments())
    assert part.get_content_type() == "text/calendar"
    assert part.get_content_charset() == "utf-8"  # strict clients garble "€" otherwise
    assert part.get_filename() == name
    payload = part.get_payload(decode=True)
    assert isinstance(payload, bytes)
    calendar = Calendar.from_ical(payload)
    assert part.get_param("method") == str(calendar["method"])
    return calendar


def mails(mailbox: Mailbox, case_id: int, template: str) -> list[EmailMessage]:
    return [msg for msg in mailbox.for_case(case_id)
            if str(msg["X-Herregistratie-Key"]).split(":")[2] == template]


@pytest.mark.parametrize(("local", "utc_hour"), [
    (datetime(2026, 10, 24, 10, 0), 8),  # summer time, UTC+2
    (datetime(2026, 10, 26, 10, 0), 9),  # the day after the clocks went back, UTC+1
])
def test_the_invitation_keeps_amsterdam_time_across_the_dst_change(
        local: datetime, utc_hour: int) -> None:
    ics = intake_invitation(
        uid="startgesprek-HR-2026-00001@test", starts_at=local.replace(tzinfo=AMSTERDAM),
        minutes=45, video_link=VIDEO, summary="Startgesprek", description=f"Deelnemen: {VIDEO}",
        organizer="info@vvocm.nl", attendee="p@example.org", stamp=datetime.now(UTC))
    text = ics.content.decode()
    assert "BEGIN:VTIMEZONE" in text and "TZID:Europe/Amsterdam" in text
    assert f"DTSTART;TZID=Europe/Amsterdam:{local:%Y%m%dT%H%M%S}" in text
    (event,) = Calendar.from_ical(ics.content).walk("VEVENT")
    start = event.decoded("dtstart")
    assert start.astimezone(UTC).hour == utc_hour and start.tzinfo is not None
    assert event.decoded("dtend") - start == timedelta(minutes=45)
    assert str(event["location"]) == VIDEO


async def at_intake_call(member: bool) -> Any:
    opened = await open_case(request(TODAY - timedelta(days=20), member=member),
                             actor=ASSOCIATION)
    assert await walk(opened.number, opened.case_id, [
        ("association-decision", "association_decision", {"outcome": "intake_call"},
         ASSOCIATION)]) == "intake-outcome"
    return opened


async def test_vvocm_offers_times_the_practitioner_picks_one_and_both_get_the_invitation(
        mailbox: Mailbox, offline_client: Any) -> None:
    opened = await at_intake_call(member=False)
    with staff_session("association_staff") as vvocm:
        page = vvocm.get(f"/zaken/{opened.number}")
        assert "Tijden aanbieden" in page.text
        token = csrf_from(page.text)
        empty = vvocm.post(f"/zaken/{opened.number}/startgesprek", data={
            "csrf_token": token, "video_link": VIDEO})
        assert empty.status_code == 422 and str(escape(m.SLOTS_NOT_OFFERED)) in empty.text
        offered = vvocm.post(f"/zaken/{opened.number}/startgesprek", data={
            "csrf_token": token, "slot-0": "2026-10-27T10:00", "slot-1": "2026-10-24T10:00",
            "minutes": "30", "video_link": VIDEO}, follow_redirects=False)
        assert offered.status_code == 303
        shown = vvocm.get(offered.headers["location"]).text
        assert m.SLOTS_OFFERED in shown and "zaterdag 24 oktober 2026 om 10:00" in shown

    (choose_mail,) = mails(mailbox, opened.case_id, "intake_slots_offered")
    assert "dinsdag 27 oktober 2026 om 10:00" in choose_mail.get_body(("plain",)).get_content()
    status = await link_from_mail(mailbox, opened.case_id, "intake_slots_offered", "status")
    page = offline_client.get(status)
    assert "Kies een tijd (30 minuten, online)" in page.text
    slot_ids = [int(v) for v in re.findall(r'name="slot" value="(\d+)"', page.text)]
    assert len(slot_ids) == 2
    picked = offline_client.post(f"{status}/startgesprek", data={
        "csrf_token": csrf_from(page.text), "slot": str(slot_ids[1])}, follow_redirects=False)
    assert picked.status_code == 303
    after = offline_client.get(picked.headers["location"]).text
    assert m.SLOT_CHOSEN in after and "dinsdag 27 oktober 2026 om 10:00" in after

    (planned,) = mails(mailbox, opened.case_id, "intake_call_planned")
    (to_vvocm,) = mails(mailbox, opened.case_id, "intake_slot_chosen")
    for message in (planned, to_vvocm):
        (event,) = invitation(message).walk("VEVENT")
        assert event.decoded("dtstart").astimezone(UTC) == datetime(2026, 10, 27, 9, 0,
                                                                    tzinfo=UTC)
        description = str(event["description"])
        assert VIDEO in description and "Kosten: €\u00a050,00" in description
    assert "Kosten: €\u00a050,00" in planned.get_body(("plain",)).get_content()

    again = offline_client.post(f"{status}/startgesprek", data={
        "csrf_token": csrf_from(page.text), "slot": str(slot_ids[0])})
    assert again.status_code == 409 and str(escape(m.SLOT_ALREADY_CHOSEN)) in again.text
    first = invitation(planned)
    (first_event,) = first.walk("VEVENT")
    assert (str(first["method"]), first_event["sequence"]) == ("REQUEST", 0)
    # The call's due date moved with it: VvOCM's outcome is due after the call, and the
    # practitioner sees no date of VvOCM's own.
    assert case_row(opened.case_id).due_on == due_date(date(2026, 10, 27),
                                                       get_settings().deadlines.intake_report)
    assert "Uiterlijk op" not in offline_client.get(status).text

    with staff_session("association_staff") as vvocm:  # VvOCM moves the call
        moved = vvocm.post(f"/zaken/{opened.number}/startgesprek", data={
            "csrf_token": csrf_from(vvocm.get("/inbox").text), "slot-0": "2026-11-03T10:00",
            "video_link": VIDEO}, follow_redirects=False)
        assert moved.status_code == 303
    for template in ("intake_call_cancelled", "intake_call_cancelled_association"):
        (cancelled,) = mails(mailbox, opened.case_id, template)
        calendar = invitation(cancelled, "startgesprek-geannuleerd.ics")
        (event,) = calendar.walk("VEVENT")
        assert str(calendar["method"]) == "CANCEL" and str(event["status"]) == "CANCELLED"
        assert (event["uid"], event["sequence"]) == (first_event["uid"], 1)
    page = offline_client.get(status)
    assert "Uiterlijk op" in page.text  # picking a new time is the practitioner's wait
    (new_slot,) = re.findall(r'name="slot" value="(\d+)"', page.text)
    offline_client.post(f"{status}/startgesprek", data={"csrf_token": csrf_from(page.text),
                                                        "slot": new_slot})
    planned_again = [m_ for m_ in mails(mailbox, opened.case_id, "intake_call_planned")
                     if m_ is not planned]
    (event,) = invitation(planned_again[0]).walk("VEVENT")
    assert (event["uid"], event["sequence"]) == (first_event["uid"], 2)
    assert event.decoded("dtstart").astimezone(UTC) == datetime(2026, 11, 3, 9, 0, tzinfo=UTC)
    mailbox.assert_each_once()


async def test_a_member_is_invited_without_a_fee(mailbox: Mailbox, offline_client: Any) -> None:
    opened = await at_intake_call(member=True)
    with staff_session("association_staff") as vvocm:
        vvocm.post(f"/zaken/{opened.number}/startgesprek", data={
            "csrf_token": csrf_from(vvocm.get("/inbox").text), "slot-0": "2026-06-15T14:00",
            "video_link": VIDEO})
    status = await link_from_mail(mailbox, opened.case_id, "intake_slots_offered", "status")
    page = offline_client.get(status)
    slot = re.search(r'name="slot" value="(\d+)"', page.text)
    assert slot is not None
    offline_client.post(f"{status}/startgesprek", data={"csrf_token": csrf_from(page.text),
                                                        "slot": slot.group(1)})
    (planned,) = mails(mailbox, opened.case_id, "intake_call_planned")
    (event,) = invitation(planned).walk("VEVENT")
    assert "Kosten" not in str(event["description"])
    assert event.decoded("dtstart").astimezone(UTC).hour == 12  # 14:00 summer time


async def test_an_outcome_recorded_before_the_call_cancels_it_in_both_calendars(
        mailbox: Mailbox) -> None:
    opened = await at_intake_call(member=True)
    await offer_slots(opened.number, {"starts": ["2026-06-20T09:30"], "video_link": VIDEO},
                      actor=ASSOCIATION)
    with read_session() as session:
        (slot,) = case_slots(session=session, case_id=opened.case_id)
    assert case_row(opened.case_id).awaiting_party == "practitioner"
    await choose_slot(opened.case_id, slot.id or 0, actor=PRACTITIONER)
    assert case_row(opened.case_id).awaiting_party == "association"
    await act(opened.number, "intake_outcome", {"held_on": str(TODAY), "outcome": "advise"},
              actor=ASSOCIATION, pause_key="intake-outcome")
    assert await run_case(opened.case_id) == "portfolio-reopened"
    (planned,) = mails(mailbox, opened.case_id, "intake_call_planned")
    (uid,) = {str(e["uid"]) for e in invitation(planned).walk("VEVENT")}
    for template in ("intake_call_cancelled", "intake_call_cancelled_association"):
        (cancelled,) = mails(mailbox, opened.case_id, template)
        assert m.INTAKE_CANCELLED_OUTCOME in cancelled.get_body(("plain",)).get_content()
        calendar = invitation(cancelled, "startgesprek-geannuleerd.ics")
        (event,) = calendar.walk("VEVENT")
        assert (str(calendar["method"]), str(event["uid"]), event["sequence"]) == (
            "CANCEL", uid, 1)
    mailbox.assert_each_once()
