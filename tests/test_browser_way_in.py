"""The way in, in real Chromium against the test stack: a practitioner with a lapsed
specialisation asks for the link, sees that a link without confirmation and a wrong or
oversized file are refused in Dutch with nothing created, confirms the address from the mail,
sends both files and lands on the case's status page; VvOCM then sees and downloads them.
Screenshots at 1280 and 390 px and axe-core as in test_browser.py."""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any

import pytest
from playwright.async_api import expect

from domain import messages as m
from domain.states import Role
from service.actors import Actor
from service.imports import import_registrations
from tests.conftest import Mailbox, local_link, make_staff, wait_until
from tests.test_browser import SHOWN, Pages, logged_in
from tests.test_way_in import CSV, PDF, PNG, cases_of
from web.routes.practitioner import RECEIVED_THANKS

pytestmark = pytest.mark.usefixtures("stack")
KP = "81234567"
EMAIL = "petra.wegin@example.org"
LINK = re.compile(r"http://\S+/aanvragen/[A-Za-z0-9_.\-]+")


def confirmation(mailbox: Mailbox) -> str | None:
    for message in mailbox.messages:
        if str(message["X-Herregistratie-Key"]).startswith(f"request:{KP}:"):
            body = message.get_body(preferencelist=("plain",))
            assert body is not None
            found = LINK.search(body.get_content())
            return found.group(0) if found else None
    return None


async def test_a_practitioner_starts_alone_and_vvocm_sees_the_files(
        browser: Any, web_url: str, mailbox: Mailbox, tmp_path: Path) -> None:
    pages = Pages()
    report = import_registrations(
        "kp_nummer;naam;email;lid;specialisatie;periode_start\n"
        f"{KP};Petra Wegin;{EMAIL};nee;KOT;2019-01-15\n",
        actor=Actor(Role.OPERATOR, "Test"), source="test.csv")
    assert not report.rejected

    practitioner = await (await browser.new_context()).new_page()
    await practitioner.goto(f"{web_url}/aanvragen?kp={KP}&specialisatie=KOT")
    await pages.check(practitioner, "20-aanvragen")
    await practitioner.get_by_label("E-mailadres").fill(EMAIL)
    await practitioner.get_by_role("button", name="Stuur mij de link").click()
    await expect(practitioner.get_by_role("heading", name="Kijk in uw mailbox")).to_be_visible()
    await expect(practitioner.get_by_role("status")).to_have_text(m.REQUEST_ANSWER)
    await pages.check(practitioner, "21-link-verstuurd")

    link = local_link(str(await wait_until(lambda: confirmation(mailbox), 30,
                                           "the confirmation mail")), web_url)
    prefix, token = link.rsplit("/", 1)
    await practitioner.goto(f"{prefix}/{'B' if token[0] != 'B' else 'C'}{token[1:]}")
    await expect(practitioner.get_by_role("alert")).to_have_text(m.REQUEST_NOT_CONFIRMED)
    assert await practitioner.locator('input[type="file"]').count() == 0

    await practitioner.goto(link)
    await pages.check(practitioner, "22-bestanden-sturen")
    portfolio = practitioner.get_by_label("Overzicht van uw portfolio")
    records = practitioner.get_by_label("Uittreksel uit uw patiëntenregistratie")
    send = practitioner.get_by_role("button", name="Aanvraag versturen")

    await portfolio.set_input_files(files=[{"name": "portfolio.pdf", "mimeType":
                                            "application/pdf", "buffer": PNG}])
    await records.set_input_files(files=[{"name": "uittreksel.csv", "mimeType": "text/csv",
                                          "buffer": CSV}])
    await send.click()
    await expect(practitioner.locator("#u-portfolio-error")).to_have_text(m.FILE_NOT_PDF)
    await pages.check(practitioner, "23-verkeerd-bestand")

    oversized = PDF[:-6] + b"0" * (10 * 1024 * 1024) + b"\n%%EOF\n"
    await portfolio.set_input_files(files=[{"name": "groot.pdf", "mimeType":
                                            "application/pdf", "buffer": oversized}])
    await records.set_input_files(files=[{"name": "uittreksel.csv", "mimeType": "text/csv",
                                          "buffer": CSV}])
    await send.click()
    await expect(practitioner.locator("#u-portfolio-error")).to_have_text(
        m.FILE_TOO_LARGE.format(mb=10))
    assert not cases_of(KP), "refused files create nothing"

    await portfolio.set_input_files(files=[{"name": "portfolio.pdf", "mimeType":
                                            "application/pdf", "buffer": PDF}])
    await records.set_input_files(files=[{"name": "uittreksel.csv", "mimeType": "text/csv",
                                          "buffer": CSV}])
    await send.click()
    await practitioner.wait_for_url(re.compile(r"/status/[^?]+$"))
    await expect(practitioner.locator(".notice.good")).to_contain_text(
        RECEIVED_THANKS["request"])
    await expect(practitioner.get_by_text("uittreksel.csv")).to_be_visible()
    await pages.check(practitioner, "24-aanvraag-ontvangen")
    (case,) = cases_of(KP)
    await wait_until(lambda: "association_check_requested" in mailbox.templates(case.id or 0),
                     60, "the acknowledgement from the case's run")
    to_vvocm = next(msg for msg in mailbox.for_case(case.id or 0)
                    if str(msg["X-Herregistratie-Key"]).endswith(":association_check_requested"))
    body = to_vvocm.get_body(preferencelist=("plain",))
    assert body is not None and "stuurde via de website 2 bestanden" in body.get_content()

    vvocm = await logged_in(browser, web_url, make_staff("association_staff"))
    await vvocm.goto(f"{web_url}/zaken/{case.number}")
    await expect(vvocm.get_by_role("link", name="portfolio.pdf")).to_be_visible(timeout=SHOWN)
    await expect(vvocm.get_by_role("link", name="uittreksel.csv")).to_be_visible()
    await pages.check(vvocm, "25-aanvraag-met-bestanden")
    async with vvocm.expect_download() as download:
        await vvocm.get_by_role("link", name="uittreksel.csv").click()
    saved = tmp_path / "uittreksel.csv"
    await (await download.value).save_as(saved)
    assert saved.read_bytes() == CSV

    await vvocm.get_by_role("link", name="Punten en uren invoeren").click()
    await pages.check(vvocm, "26-punten-en-uren")
    import_registrations(  # one period ending in a year: the forecast has a bar
        "kp_nummer;naam;email;lid;specialisatie;periode_start;periode_eind\n"
        "81234568;Sem Vooruit;sem@example.org;ja;KOT;2022-06-01;2027-05-31\n",
        actor=Actor(Role.OPERATOR, "Test"), source="test.csv")
    await vvocm.get_by_role("link", name="Rapportage").click()
    await expect(vvocm.get_by_role("img")).to_be_visible()  # the forecast, drawn as SVG
    await pages.check(vvocm, "27-rapportage")
    assert pages.serious == []
    mailbox.assert_each_once()
