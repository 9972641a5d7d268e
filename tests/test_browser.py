"""In real Chromium: staff log in, find the case in the inbox and advance it; the reviewer
opens the link from the mail the SMTP server received and sends findings; the practitioner
opens the status link from a received mail and sees the new state. Screenshots of each main
page are kept under test-artifacts/screenshots/."""

from __future__ import annotations

import re
from datetime import timedelta
from typing import Any

import pytest

from domain.states import CaseState
from service.actions import act, open_case
from tests.conftest import (
    ASSOCIATION,
    PRACTITIONER,
    REGISTER,
    TODAY,
    Mailbox,
    awaiting,
    local_link,
    make_staff,
    screenshot,
    settled,
    wait_until,
)
from tests.factories import request

pytestmark = pytest.mark.usefixtures("stack")
LINK = re.compile(r"http://\S+/(?:status|beoordeling)/[A-Za-z0-9_.\-]+")


def link_in_mail(mailbox: Mailbox, case_id: int, template: str, web_url: str) -> str:
    message = next(m for m in mailbox.for_case(case_id)
                   if str(m["X-Herregistratie-Key"]).endswith(f":{template}"))
    text = message.get_body(preferencelist=("plain",)).get_content()
    found = LINK.search(text)
    assert found, f"no link in the {template} mail"
    return local_link(found.group(0), web_url)


async def test_staff_reviewer_and_practitioner_in_the_browser(
    browser: Any, web_url: str, mailbox: Mailbox
) -> None:
    opened = await open_case(request(TODAY - timedelta(days=12)), actor=ASSOCIATION)
    number, case_id = opened.number, opened.case_id
    await awaiting(number, "association_decision")
    staff = make_staff("association_staff", name="Anne Browser")

    page = await browser.new_page(viewport={"width": 1280, "height": 900})
    await page.goto(f"{web_url}/inbox")
    assert "/inloggen" in page.url
    await screenshot(page, "01-inloggen")
    await page.get_by_label("E-mailadres").fill(staff.email)
    await page.get_by_label("Wachtwoord").fill("een-lang-wachtwoord")
    await page.get_by_role("button", name="Inloggen").click()
    await page.wait_for_url(f"{web_url}/inbox")
    await screenshot(page, "02-inbox")
    await page.get_by_role("link", name=number).click()
    await page.wait_for_url(re.compile(f"/zaken/{number}"))
    await screenshot(page, "03-aanvraag")
    form = page.locator('form[action$="/acties/association_decision"]')
    await form.locator('input[name="outcome"][value="advise"]').check()
    await form.locator('button[type="submit"]').click()
    await settled(number, CaseState.REOPEN_ADVISED)

    for action, data, actor in [
        ("portfolio_reopened", {"reopened_on": str(TODAY - timedelta(days=5))}, REGISTER),
        ("submit", {"submitted_on": str(TODAY - timedelta(days=2))}, PRACTITIONER),
        ("payment_received", {"paid_on": str(TODAY)}, REGISTER),
        ("completeness", {"complete": True}, REGISTER),
        ("assign_reviewer", {"reviewer_name": "Dr. Browser",
                             "reviewer_email": "browser-reviewer@example.org"}, REGISTER),
    ]:
        await awaiting(number, action)
        await act(number, action, data, actor=actor)
    await awaiting(number, "findings")
    await wait_until(lambda: "review_assigned" in mailbox.templates(case_id), 30)

    reviewer = await browser.new_page(viewport={"width": 390, "height": 844})
    await reviewer.goto(link_in_mail(mailbox, case_id, "review_assigned", web_url))
    await screenshot(reviewer, "04-beoordelaar-dossier")
    await reviewer.locator('input[name="outcome"][value="positive"]').check()
    await reviewer.locator('textarea[name="explanation"]').fill("Voldoet ruim.")
    await reviewer.locator('form[method="post"] button[type="submit"]').last.click()
    await settled(number, CaseState.CERTIFIED)
    await wait_until(lambda: "certificate_issued" in mailbox.templates(case_id), 30)

    practitioner = await browser.new_page(viewport={"width": 390, "height": 844})
    await practitioner.goto(link_in_mail(mailbox, case_id, "certificate_issued", web_url))
    await practitioner.wait_for_load_state()
    await screenshot(practitioner, "05-status-oefentherapeut")
    assert CaseState.CERTIFIED.label in await practitioner.content()
    register = await browser.new_page()
    await register.goto(f"{web_url}/register")
    await screenshot(register, "06-openbaar-register")
