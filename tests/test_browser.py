"""In real Chromium, a working day around one case: VvOCM and KP staff share it across steps
(a claim on one step holds nothing on the next), each click shows its result without a reload,
the practitioner acts from the link in a mail, KP picks the reviewer from the admin's list and
that reviewer gets the mail, the closed case is found by search, and the diagram marks only
the steps the case went through. Every page is kept as a screenshot at 1280 and 390 px under
test-artifacts/screenshots/ and checked with axe-core: no serious or critical violations."""

from __future__ import annotations

import re
from datetime import timedelta
from typing import Any
from uuid import uuid4

import pytest
from axe_playwright_python.async_playwright import Axe
from playwright.async_api import expect

from domain.states import CaseState
from service.accounts import add_reviewer
from service.actions import act, open_case
from tests.conftest import (
    ASSOCIATION,
    PASSWORD,
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
from web.routes.practitioner import RECEIVED_THANKS

pytestmark = pytest.mark.usefixtures("stack")
LINK = re.compile(r"http://\S+/(?:status|beoordeling)/[A-Za-z0-9_.\-]+")
WIDTHS = (1280, 390)
SHOWN = 60_000  # ms: a loaded CI machine may take a while; the page reloads by itself


def link_in_mail(mailbox: Mailbox, case_id: int, template: str, web_url: str) -> str:
    message = next(m for m in mailbox.for_case(case_id)
                   if str(m["X-Herregistratie-Key"]).endswith(f":{template}"))
    body = message.get_body(preferencelist=("plain",))
    assert body is not None
    found = LINK.search(body.get_content())
    assert found, f"no link in the {template} mail"
    return local_link(found.group(0), web_url)


class Pages:
    """Screenshots at both widths and an axe-core check of every page shown."""

    def __init__(self) -> None:
        self.axe = Axe()
        self.serious: list[str] = []

    async def check(self, page: Any, name: str) -> None:
        await page.wait_for_load_state()
        for width in WIDTHS:
            await page.set_viewport_size({"width": width, "height": 900})
            await screenshot(page, f"{name}-{width}")
            wide = await page.evaluate("document.documentElement.scrollWidth")
            if wide > width:
                self.serious.append(f"{name}: {wide} px wide at {width} px (scrolls sideways)")
        results = await self.axe.run(page)
        self.serious += [f"{name}: {v['id']} ({v['impact']}) {v['help']}"
                         for v in results.response["violations"]
                         if v["impact"] in ("serious", "critical")]


async def logged_in(browser: Any, web_url: str, user: Any) -> Any:
    page = await (await browser.new_context()).new_page()
    await page.goto(f"{web_url}/inloggen")
    await page.get_by_label("E-mailadres").fill(user.email)
    await page.get_by_label("Wachtwoord").fill(PASSWORD)
    await page.get_by_role("button", name="Inloggen").click()
    await page.wait_for_url(f"{web_url}/inbox")
    return page


async def decide(page: Any, action: str) -> None:
    """Click the step's button; the case page that answers says what the click did."""
    async with page.expect_navigation():
        await page.locator(f'form[action$="/acties/{action}"] button[type="submit"]').click()
    await expect(page.locator('.notice.good[role="status"]')).to_be_visible()


async def test_a_working_day_around_one_case_in_the_browser(
    browser: Any, web_url: str, mailbox: Mailbox
) -> None:
    pages = Pages()
    opened = await open_case(request(TODAY - timedelta(days=12)), actor=ASSOCIATION)
    number, case_id = opened.number, opened.case_id
    await awaiting(number, "association_decision")
    anne = make_staff("association_staff", name="Anne Browser")
    karel = make_staff("register_staff", name="Karel Browser")
    listed = add_reviewer(name="Dr. Lijst", email=f"lijst-{uuid4().hex[:8]}@example.org")

    login = await (await browser.new_context()).new_page()
    await login.goto(f"{web_url}/inbox")
    assert "/inloggen" in login.url
    await pages.check(login, "01-inloggen")

    vvocm = await logged_in(browser, web_url, anne)
    await pages.check(vvocm, "02-inbox")
    await vvocm.get_by_role("link", name=number).click()
    await vvocm.wait_for_url(re.compile(f"/zaken/{number}"))
    await pages.check(vvocm, "03-aanvraag")
    await vvocm.get_by_role("button", name="Ik pak deze stap op").click()
    await vvocm.locator('input[name="outcome"][value="advise"]').check()
    await decide(vvocm, "association_decision")
    now = vvocm.locator("section[aria-labelledby=nu]")
    await expect(now).to_contain_text(CaseState.REOPEN_ADVISED.label, timeout=SHOWN)

    kp = await logged_in(browser, web_url, karel)  # Anne's claim was on her step only
    await kp.get_by_role("link", name=number).click()
    await kp.locator('input[name="reopened_on"]').fill(str(TODAY - timedelta(days=1)))
    await decide(kp, "portfolio_reopened")
    await expect(kp.locator("section[aria-labelledby=nu]")).to_contain_text(
        CaseState.AWAITING_SUBMISSION.label, timeout=SHOWN)

    await wait_until(lambda: "portfolio_reopened" in mailbox.templates(case_id), 60)
    practitioner = await (await browser.new_context()).new_page()
    await practitioner.goto(link_in_mail(mailbox, case_id, "portfolio_reopened", web_url))
    await pages.check(practitioner, "04-status-indienen")
    await practitioner.locator('input[name="submitted_on"]').fill(str(TODAY))
    await practitioner.get_by_role("button", name="Versturen").click()
    await expect(practitioner.locator(".notice.good")).to_contain_text(RECEIVED_THANKS["submit"])
    await expect(practitioner.locator("body")).to_contain_text(
        CaseState.AWAITING_PAYMENT.label, timeout=SHOWN)
    await expect(practitioner.locator("body")).to_contain_text("IBAN", timeout=SHOWN)
    await pages.check(practitioner, "05-status-betalen")

    for action, data in [("payment_received", {"paid_on": str(TODAY)}),
                         ("completeness", {"complete": True})]:
        await awaiting(number, action, timeout=120)
        await act(number, action, data, actor=REGISTER)
    await awaiting(number, "assign_reviewer", timeout=120)
    await kp.goto(f"{web_url}/zaken/{number}")
    await kp.get_by_label("Beoordelaar uit de lijst").select_option(
        label=f"{listed.name} ({listed.email})")
    await decide(kp, "assign_reviewer")
    await expect(kp.locator("section[aria-labelledby=nu]")).to_contain_text(
        CaseState.UNDER_REVIEW.label, timeout=SHOWN)
    await wait_until(lambda: any(m["To"] == listed.email for m in mailbox.for_case(case_id)),
                     60, "the mail to the reviewer from the list")

    reviewer = await (await browser.new_context()).new_page()
    await reviewer.goto(link_in_mail(mailbox, case_id, "review_assigned", web_url))
    await pages.check(reviewer, "06-beoordelaar-dossier")
    await reviewer.locator('input[name="outcome"][value="positive"]').check()
    await reviewer.get_by_role("button", name="Bevindingen versturen").click()
    await expect(reviewer.locator("body")).to_contain_text("Uw bevindingen voor ronde 1")
    await settled(number, CaseState.CERTIFIED, timeout=120)
    await practitioner.reload()
    await expect(practitioner.locator("body")).to_contain_text(CaseState.CERTIFIED.label)
    await pages.check(practitioner, "07-status-rond")

    await vvocm.goto(f"{web_url}/inbox")
    await vvocm.get_by_label("Zoeken").fill(number)
    await vvocm.get_by_role("button", name="Filteren").click()
    await expect(vvocm.get_by_role("link", name=number)).to_be_visible()
    await pages.check(vvocm, "08-zoeken-ook-afgesloten")
    await vvocm.get_by_role("link", name=number).click()
    boxes = vvocm.locator("svg.diagram.wide rect")
    assert await boxes.nth(2).get_attribute("fill") == "#ffffff", "no intake call: not done"
    assert await boxes.nth(3).get_attribute("fill") == "#d7e7f0", "advice to KP: done"
    await pages.check(vvocm, "09-aanvraag-afgesloten")
    await vvocm.locator('a[href*="/mails/"]').first.click()
    await pages.check(vvocm, "10-e-mail")

    for path, name in [("/zaken/nieuw", "11-aanvraag-registreren"),
                       ("/wachtwoord", "12-wachtwoord"), ("/register", "13-openbaar-register"),
                       ("/bestaat-niet", "14-niet-gevonden")]:
        await vvocm.goto(f"{web_url}{path}")
        await pages.check(vvocm, name)
    admin = await logged_in(browser, web_url, make_staff("admin"))
    await admin.goto(f"{web_url}/beheer")
    await pages.check(admin, "15-beheer")

    assert pages.serious == [], "\n".join(pages.serious)
