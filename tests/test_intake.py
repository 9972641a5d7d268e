"""Planning the intake call (issue 10, item 3): VvOCM offers times on the case page, the
practitioner picks one on the status page, and both get an .ics invitation (RFC 5545) in
Europe/Amsterdam with the video link and, for non-members, the fee. Offline database, real
SMTP server; the .ics is parsed back with icalendar."""

from __future__ import annotations

import re
from datetime import UTC, datetime, timedelta
from email.message import EmailMessage
from typing import Any
from zoneinfo import ZoneInfo

import pytest
from icalendar import Calendar
from markupsafe import escape

from domain import messages as m
from service.actions import open_case
from tasks.papers import intake_invitation
from tests.conftest import ASSOCIATION, TODAY, Mailbox, csrf_from
from tests.factories import request
from tests.test_step_plan import walk
from tests.test_way_in import staff_session
from tests.test_web_links import link_from_mail

pytestmark = pytest.mark.usefixtures("offline")
AMSTERDAM = ZoneInfo("Europe/Amsterdam")
VIDEO = "https://meet.example.org/vvocm-startgesprek"


def invitation(message: EmailMessage) -> Calendar:
    (part,) = list(message.iter_attachments())
    assert part.get_content_type() == "text/calendar"
    assert part.get_filename() == "startgesprek.ics"
    payload = part.get_payload(decode=True)
    assert isinstance(payload, bytes)
    return Calendar.from_ical(payload)


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
    with staff_session("association_staff") as vvocm:
        late = vvocm.post(f"/zaken/{opened.number}/startgesprek", data={
            "csrf_token": csrf_from(vvocm.get("/inbox").text), "slot-0": "2026-11-03T10:00",
            "video_link": VIDEO})
        assert late.status_code == 409 and str(escape(m.SLOT_ALREADY_CHOSEN)) in late.text
        assert "Gepland op dinsdag 27 oktober 2026 om 10:00" in vvocm.get(
            f"/zaken/{opened.number}").text
    assert len(mails(mailbox, opened.case_id, "intake_call_planned")) == 1
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
