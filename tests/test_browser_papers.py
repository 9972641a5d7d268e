"""Issue 10's and 20's pages in real Chromium against the test stack: VvOCM offers times for the
intake call on the case page, the non-member picks one on the status page (and sees the
invitation planned), VvOCM moves it and the practitioner picks again; VvOCM reads its own bank
statement that pays that intake fee and clears the worklist of the money nobody matched.
Screenshots at 1280 and 390 px and axe-core as in test_browser.py."""

from __future__ import annotations

import re
from datetime import timedelta
from typing import Any

import pytest
from playwright.async_api import expect

from domain import messages as m
from service.actions import act, open_case
from settings import get_settings
from tests.conftest import ASSOCIATION, TODAY, Mailbox, awaiting, make_staff, wait_until
from tests.factories import request
from tests.test_browser import SHOWN, Pages, link_in_mail, logged_in
from tests.test_payments import camt053

pytestmark = pytest.mark.usefixtures("stack")


async def test_the_intake_is_planned_and_its_fee_reconciled_in_the_browser(
        browser: Any, web_url: str, mailbox: Mailbox, tmp_path: Any) -> None:
    pages = Pages()
    opened = await open_case(request(TODAY - timedelta(days=10), member=False),
                             actor=ASSOCIATION)
    await awaiting(opened.number, "association_decision")
    await act(opened.number, "association_decision", {"outcome": "intake_call"},
              actor=ASSOCIATION)
    await awaiting(opened.number, "intake_outcome")

    vvocm = await logged_in(browser, web_url, make_staff("association_staff"))
    await vvocm.goto(f"{web_url}/zaken/{opened.number}")
    await vvocm.get_by_label("Tijd 1").fill("2026-06-15T10:00")
    await vvocm.get_by_label("Tijd 2").fill("2026-06-16T14:30")
    await vvocm.get_by_label("Link naar het videogesprek").fill("https://meet.example.org/x")
    await vvocm.get_by_role("button", name="Tijden aanbieden").click()
    await expect(vvocm.get_by_text(m.SLOTS_OFFERED)).to_be_visible(timeout=SHOWN)
    await pages.check(vvocm, "30-startgesprek-aangeboden")

    await wait_until(lambda: "intake_slots_offered" in mailbox.templates(opened.case_id), 60)
    practitioner = await (await browser.new_context()).new_page()
    await practitioner.goto(link_in_mail(mailbox, opened.case_id, "intake_slots_offered",
                                         web_url))
    await pages.check(practitioner, "31-startgesprek-kiezen")
    await practitioner.get_by_label("dinsdag 16 juni 2026 om 14:30").check()
    await practitioner.get_by_role("button", name="Deze tijd kiezen").click()
    await expect(practitioner.locator(".notice.good")).to_contain_text(m.SLOT_CHOSEN)
    await expect(practitioner.get_by_text("Gepland op dinsdag 16 juni 2026 om 14:30")) \
        .to_be_visible()
    await wait_until(lambda: "intake_call_planned" in mailbox.templates(opened.case_id), 60)

    # VvOCM moves the call: both calendars lose it, and the practitioner picks again.
    await vvocm.goto(f"{web_url}/zaken/{opened.number}")
    await vvocm.get_by_label("Tijd 1").fill("2026-06-18T09:00")
    await vvocm.get_by_label("Link naar het videogesprek").fill("https://meet.example.org/x")
    await vvocm.get_by_role("button", name="Tijden aanbieden").click()
    await expect(vvocm.get_by_text(m.SLOTS_OFFERED)).to_be_visible(timeout=SHOWN)
    await wait_until(lambda: "intake_call_cancelled" in mailbox.templates(opened.case_id), 60)
    await practitioner.goto(practitioner.url)
    await practitioner.get_by_label("donderdag 18 juni 2026 om 09:00").check()
    await practitioner.get_by_role("button", name="Deze tijd kiezen").click()
    await expect(practitioner.get_by_text("Gepland op donderdag 18 juni 2026 om 09:00")) \
        .to_be_visible()
    await pages.check(practitioner, "31b-startgesprek-verplaatst")
    await wait_until(lambda: mailbox.templates(opened.case_id).count("intake_call_planned")
                     == 2, 60)

    invoice = next(msg for msg in mailbox.for_case(opened.case_id)
                   if str(msg["X-Herregistratie-Key"]).endswith(":intake_call_invited"))
    number = re.search(r"factuur (VF-\d{4}-\d{5})", str(invoice.get_body(("plain",))
                                                         .get_content()))  # type: ignore[union-attr]
    assert number is not None
    statement = tmp_path / "afschrift.xml"
    statement.write_bytes(camt053([("BR-1", "50.00", "CRDT", f"Startgesprek {number.group(1)}"),
                                   ("BR-2", "12.50", "CRDT", "Onbekende overboeking")],
                                  statement="AFSCHRIFT-BROWSER",
                                  account=get_settings().payment.association_iban))
    await vvocm.get_by_role("link", name="Bankafschrift").click()
    await vvocm.get_by_label("Rekeningafschrift (CAMT.053)").set_input_files(str(statement))
    await vvocm.get_by_role("button", name="Inlezen").click()
    await expect(vvocm.get_by_role("status")).to_contain_text("1 betaling vastgelegd")
    await expect(vvocm.get_by_text("Geen factuur gevonden").first).to_be_visible()
    await pages.check(vvocm, "32-bankafschrift")
    # The unknown transfer stays on the worklist until KP says what was done with it.
    line = vvocm.locator("form.card", has_text="Onbekende overboeking")
    await expect(line).to_be_visible()
    await line.get_by_label("Of: afgehandeld, met reden").fill("Teruggestort aan de afzender")
    await line.get_by_role("button", name="Afgehandeld").click()
    await expect(vvocm.get_by_text(m.BANK_HANDLED_DONE)).to_be_visible()
    await expect(vvocm.locator("form.card", has_text="Onbekende overboeking")).to_have_count(0)
    await pages.check(vvocm, "33-werklijst-geld")
    assert pages.serious == []
    mailbox.assert_each_once()
