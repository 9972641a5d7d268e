"""`make demo`: the embedded stack on loopback, sample cases, and one case walked through every
step of the plan, printing each mail as the SMTP server receives it."""

from __future__ import annotations

import asyncio
import os
import re
import secrets
import shutil
import time
from datetime import date, timedelta
from email.message import EmailMessage
from pathlib import Path
from typing import Any

import httpx
import typer
import weasyprint
from dateutil.relativedelta import relativedelta

from cli.smtp_sink import start_sink
from domain.formatting import format_date
from domain.procedure import (
    ADDITIONS,
    ASSIGNMENT,
    ASSOCIATION_DECISION,
    COMPLETENESS,
    COMPLETION,
    FINDINGS,
    INTAKE_OUTCOME,
    PAYMENT,
    PORTFOLIO_REOPENED,
    SUBMISSION,
)
from domain.states import Role
from policies import load_policy
from service.actors import Actor
from service.documents import case_papers
from service.imports import import_registrations
from service.links import practitioner_token, reviewer_link_token, status_link
from service.mail import sent_text
from service.operations import calendar_today, configured_api, migrate
from service.read_model import case_by_number, cases_of
from service.sessions import read_session
from settings import get_settings
from stack.postgres import Cluster
from stack.processes import Stack, StackError, free_port, wait_for_stop

VVOCM = Actor(Role.ASSOCIATION_STAFF, "Anne de Vries (VvOCM)")
KP = Actor(Role.REGISTER_STAFF, "Karel Jansen (KP)")
REVIEWER = Actor(Role.REVIEWER, "Dr. Ria Bos")
OPERATOR = Actor(Role.OPERATOR, "Beheerder Demo")


def _port(preferred: int) -> int:
    """The usual port if free, so the printed addresses are familiar; otherwise any."""
    import socket

    with socket.socket() as sock:
        try:
            sock.bind(("127.0.0.1", preferred))
        except OSError:
            return free_port()
    return preferred


def _evidence(day: date, *, points: int, bot_days: list[str] | None = None) -> dict[str, Any]:
    per = points // 4
    return {
        "activities": [
            {"on": str(day - relativedelta(months=m)), "points": str(per), "category": c,
             "accredited": acc, "title": t}
            for m, c, acc, t in [(5, "course", True, "Scholing motorische ontwikkeling"),
                                 (17, "course", True, "Cursus DCD-richtlijn"),
                                 (29, "other", True, "Intervisie kinderoefentherapie"),
                                 (41, "other", False, "Vakliteratuur en casuïstiek")]
        ],
        "work_hours": [{"start": str(day - relativedelta(years=4)), "end": str(day),
                        "hours": "960", "description": "Uren als specialist (totaal)"}],
        "bot_days": [{"on": d} for d in bot_days or []],
    }


def _samples(today: date) -> list[dict[str, Any]]:
    request = today - timedelta(days=7)
    return [
        {"kp_number": "12345678", "name": "Petra Oefen", "email": "petra.oefen@example.org",
         "member": True, "specialisation": "KOT", "request_date": str(request),
         "previous_period_start": str(request - relativedelta(years=6)),
         "evidence": _evidence(request, points=96)},
        {"kp_number": "23456789", "name": "Bram Bekken", "email": "bram.bekken@example.org",
         "member": False, "specialisation": "BOT", "request_date": str(request),
         "previous_period_start": str(request - relativedelta(years=5, months=4)),
         "evidence": _evidence(request, points=88, bot_days=[
             "2022-11-11", "2023-11-10", "2024-11-08", "2025-11-14"])},
        {"kp_number": "34567890", "name": "Sara Psycho", "email": "sara.psycho@example.org",
         "member": True, "specialisation": "PSOT", "request_date": str(request),
         "previous_period_start": str(request - relativedelta(years=7)),
         "evidence": _evidence(request, points=48)},
    ]


def walk(today: date) -> list[tuple[str, dict[str, Any], Actor]]:
    """Every pause of the procedure (tests/test_procedure.py checks it), including the intake
    call, an incomplete application and one additions round."""
    d = str(today)
    return [
        (ASSOCIATION_DECISION.action, {"outcome": "intake_call",
                                  "note": "Graag eerst een kort startgesprek."}, VVOCM),
        (INTAKE_OUTCOME.action, {"held_on": d, "outcome": "advise"}, VVOCM),
        (PORTFOLIO_REOPENED.action, {"reopened_on": d}, KP),
        (SUBMISSION.action, {"submitted_on": d}, Actor(Role.PRACTITIONER, "Petra Oefen")),
        (PAYMENT.action, {"paid_on": d}, KP),
        (COMPLETENESS.action, {"complete": False,
                               "missing": "Uitdraai EPD over 2023 ontbreekt."}, KP),
        (COMPLETION.action, {"supplied_on": d, "description": "Uitdraai 2023."},
         Actor(Role.PRACTITIONER, "Petra Oefen")),
        (COMPLETENESS.action, {"complete": True}, KP),
        (ASSIGNMENT.action, {"reviewer_name": "Dr. Ria Bos",
                             "reviewer_email": "ria.bos@example.org"}, KP),
        (FINDINGS.action, {"outcome": "additions",
                      "explanation": "Licht de uren werkervaring over 2024 toe."}, REVIEWER),
        (ADDITIONS.action, {"supplied_on": d,
                                "description": "Toelichting uren 2024 toegevoegd."},
         Actor(Role.PRACTITIONER, "Petra Oefen")),
        (FINDINGS.action, {"outcome": "positive", "explanation": "Voldoet aan de criteria."},
         REVIEWER),
    ]


async def _wait_for(ref: str, action: str | None, state: str | None = None,
                    timeout: float = 120) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        with read_session() as session:
            case = case_by_number(session, ref)
        if (action and case.awaiting_action == action) or (state and case.state == state):
            return
        await asyncio.sleep(0.2)
    raise TimeoutError(f"{ref} wacht niet op {action or state}")


DEMO_PASSWORD = "demo-wachtwoord-2026"
DEMO_STAFF = [("beheer@demo.local", "Beheerder Demo", "admin"),
              ("vvocm@demo.local", "Anne de Vries (VvOCM)", "association_staff"),
              ("kp@demo.local", "Karel Jansen (KP)", "register_staff")]


def _demo_accounts() -> dict[str, str]:
    """Demo logins for the pages, and an API token per staff role for the walk."""
    from service.accounts import StaffRole, new_api_token, set_account

    tokens = {}
    for email, name, role in DEMO_STAFF:
        staff_id = set_account(email=email, name=name, role=StaffRole(role),
                               password=DEMO_PASSWORD)
        tokens[role] = new_api_token(staff_id=staff_id, name="demo")
    return tokens


def _credentials(role: Role, case_id: int, tokens: dict[str, str]) -> dict[str, str]:
    """Staff use their API token; the practitioner and reviewer the token of their mail link."""
    if role is Role.PRACTITIONER:
        return {"X-Link-Token": practitioner_token(case_id)}
    if role is Role.REVIEWER:
        with read_session() as session:
            return {"X-Link-Token": reviewer_link_token(session, case_id)}
    return {"Authorization": f"Bearer {tokens[role.value]}"}


async def _scenario(today: date, web_url: str, tokens: dict[str, str]) -> str:
    """Opens the sample cases and walks the first through every step; its number."""
    async with httpx.AsyncClient(base_url=f"{web_url}/api/v1", timeout=60) as api:
        opened = []
        for sample in _samples(today):
            response = await api.post("/cases", json=sample, headers=_credentials(
                Role.ASSOCIATION_STAFF, 0, tokens))
            response.raise_for_status()
            case = response.json()
            opened.append(case)
            typer.echo(f"Aanvraag {case['number']} ({sample['specialisation']}, "
                       f"{sample['name']}) geopend.")
            typer.echo(f"   statuslink oefentherapeut: {status_link(case['case_id'])}")
        ref, case_id = opened[0]["number"], opened[0]["case_id"]
        typer.echo(f"\nAanvraag {ref} doorloopt alle stappen via de JSON-API:")
        for action, data, actor in walk(today):
            await _wait_for(ref, action)
            typer.secho(f"→ {actor.role.label} {actor.name}: {action}", bold=True)
            response = await api.post(f"/cases/{ref}/{action}", json=data,
                                      headers=_credentials(actor.role, case_id, tokens))
            if response.status_code >= 400:
                raise RuntimeError(f"{action}: {response.status_code} {response.text}")
        await _wait_for(ref, None, state="certified")
        return str(ref)


CSRF = re.compile(r'name="csrf_token" value="([^"]+)"')
# A portfolio overview and a CSV export of the patient records, as a practitioner sends them.
SAMPLE_PORTFOLIO = ("<h1>Portfolio-overzicht Lotte Verloop</h1><p>Registratieperiode: "
                    "nascholing, intervisie en werkervaring als kinderoefentherapeut.</p>")
SAMPLE_CSV = b"datum;behandelcode;uren\n2025-09-01;2100;6\n2025-09-08;2100;7,5\n"


def _export(today: date) -> str:
    """A register's export: one period whose 6-week reminder is due today, one that lapses
    today (W + 1, R4), and two that are not due for anything."""
    policy = load_policy("KOT")
    reminder = policy.period_ends_due("reminder-6w", today)
    lapse = policy.period_ends_due("lapse", today)
    assert reminder and lapse
    rows = [("45678901", "Joris Herinnering", "joris@example.org", "ja", reminder[1]),
            ("56789012", "Lotte Verloop", "lotte@example.org", "nee", lapse[1]),
            ("67890123", "Mila Midden", "mila@example.org", "ja", today + timedelta(days=900)),
            ("78901234", "Noor Nieuw", "noor@example.org", "nee", today + timedelta(days=1500))]
    lines = ["kp_nummer;naam;email;lid;specialisatie;periode_start;periode_eind"]
    lines += [f"{kp};{name};{email};{member};KOT;{end - relativedelta(years=5)};{end}"
              for kp, name, email, member, end in rows]
    return "\n".join(lines) + "\n"


async def _calendar(today: date, web_url: str, folder: Path) -> None:
    """The register's calendar and the way in: registrations imported, today's sweep sends a
    reminder and a lapse, and the lapsed practitioner starts the procedure on the web."""
    export = folder / "registraties.csv"
    export.write_text(_export(today), encoding="utf-8")
    report = import_registrations(export.read_text(), actor=OPERATOR, source=export.name)
    typer.secho(f"\nRegistraties ingelezen uit {export}: {report.registrations_created} nieuw.",
                bold=True)
    typer.echo(f"Kalender van vandaag ({format_date(today)}): herinneringen en vervallen "
               "registraties ...")
    lapsed = await calendar_today(today)
    typer.echo(f"   {lapsed} {'registratie' if lapsed == 1 else 'registraties'} vervallen en "
               "uit het openbaar register gehaald.")

    typer.secho("\nLotte Verloop vraagt zelf herregistratie aan via de link in haar mail:",
                bold=True)
    portfolio, records = folder / "portfolio-lotte.pdf", folder / "uittreksel-lotte.csv"
    portfolio.write_bytes(weasyprint.HTML(string=SAMPLE_PORTFOLIO).write_pdf())
    records.write_bytes(SAMPLE_CSV)
    async with httpx.AsyncClient(base_url=web_url, timeout=60) as browser:
        form = await browser.get("/aanvragen?kp=56789012&specialisatie=KOT")
        asked = await browser.post("/aanvragen", data={
            "kp_number": "56789012", "email": "lotte@example.org", "specialisation": "KOT",
            "csrf_token": _csrf(form.text)})
        asked.raise_for_status()
        link = _confirmation_link("56789012")
        typer.echo(f"   bevestigingslink: {link}")
        upload = await browser.get(link)
        sent = await browser.post(link, data={"csrf_token": _csrf(upload.text)}, files={
            "portfolio": (portfolio.name, portfolio.read_bytes(), "application/pdf"),
            "patient_records": (records.name, records.read_bytes(), "text/csv")})
        if sent.status_code != 303:
            raise RuntimeError(f"aanvraag niet verstuurd: {sent.status_code}")
        typer.echo(f"   bestanden verstuurd: {portfolio}, {records}")
        typer.echo(f"   statuspagina: {web_url}{sent.headers['location']}")
    with read_session() as session:
        number = cases_of(session, "56789012")[-1].number
    await _wait_for(number, "association_decision")
    typer.echo(f"   aanvraag {number} wacht op de VvOCM: {web_url}/zaken/{number}")


def _csrf(page: str) -> str:
    found = CSRF.search(page)
    if found is None:
        raise RuntimeError("pagina zonder formulier")
    return found.group(1)


def _confirmation_link(kp_number: str) -> str:
    """What Lotte clicks: the link in the confirmation mail, read from the outbox."""
    found = re.search(r"\S+/aanvragen/\S+", sent_text(f"request:{kp_number}:"))
    if found is None:
        raise RuntimeError("bevestigingsmail zonder link")
    return found.group(0)


def _papers(ref: str, folder: Path) -> list[Path]:
    """The PDFs the walked case produced (kept by hash), copied under their own names."""
    folder.mkdir(parents=True, exist_ok=True)
    with read_session() as session:
        papers = case_papers(session, case_by_number(session, ref).id or 0)
    for name, content in papers:
        (folder / name).write_bytes(content)
    return [folder / name for name, _content in papers]


def run_demo(*, keep_running: bool = True) -> None:
    """The demo is an explicit development environment: built-in development keys sign its
    sessions and links, and its Prefect server gets a password made up for this run."""
    os.environ.setdefault("HERREG_ENVIRONMENT", "development")
    get_settings.cache_clear()
    base = get_settings()
    data_dir = (base.data_dir / "demo").resolve()
    mail_dir = data_dir / "mail"
    web_port = _port(8000)
    os.environ.update({
        "HERREG_PREFECT__AUTH_STRING": base.prefect.auth_string
        or f"demo:{secrets.token_urlsafe(16)}",
        "HERREG_DATA_DIR": str(data_dir),
        "HERREG_WEB__PORT": str(web_port),
        "HERREG_LINKS__BASE_URL": f"http://127.0.0.1:{web_port}",
    })
    get_settings.cache_clear()
    stack = Stack(settings=get_settings(), port=_port(4200), ui=True)
    # Refused here, before anything is removed, if a demo already runs in this folder.
    stack.claim_data_dir()
    Cluster.of(stack.settings).stop_leftover()
    _clear(data_dir)

    def show(message: EmailMessage) -> None:
        typer.echo(f"   ✉  {str(message['Subject']).strip()}  →  {message['To']}")

    sink, smtp_port = _sink(mail_dir, show)
    stack.settings = stack.settings.model_copy(update={"smtp": stack.settings.smtp.model_copy(
        update={"url": f"smtp://127.0.0.1:{smtp_port}"})})
    try:
        typer.echo(f"Database starten (PostgreSQL in {stack.settings.cluster_dir}) ...")
        stack.start_database()
        migrate(stack.settings.database_url)
        typer.echo("Prefect-server starten ...")
        stack.start_server()
        typer.echo(f"   {stack.ui_url}")
        typer.echo("Webapplicatie starten ...")
        web_url = stack.start_web()
        typer.echo("Deployments uit prefect.yaml toepassen en workers starten ...")
        stack.deploy()
        stack.start_worker()
        stack.supervise()
        # From here this process works on the stack as its other parts do.
        os.environ.update({k: v for k, v in stack.env().items() if k.startswith("HERREG_")})
        get_settings.cache_clear()
        today = get_settings().current_date()
        tokens = _demo_accounts()
        typer.echo(f"Inbox:       {web_url}/inbox")
        for email, name, _role in DEMO_STAFF:
            typer.echo(f"   login {email} / {DEMO_PASSWORD}  ({name})")
        with configured_api():
            walked = asyncio.run(_scenario(today, web_url, tokens))
            for paper in _papers(walked, data_dir / "papieren"):
                typer.echo(f"PDF: {paper}")
            asyncio.run(_calendar(today, web_url, data_dir))
        typer.secho("\nKlaar: de aanvraag is geherregistreerd, de kalender heeft herinnerd en "
                    "laten vervallen, en een nieuwe aanvraag is binnen.", fg="green", bold=True)
        typer.echo(f"Inbox:       {web_url}/inbox  (wachtwoord {DEMO_PASSWORD})")
        typer.echo(f"Register:    {web_url}/register")
        typer.echo(f"API-docs:    {web_url}/api/v1/docs")
        typer.echo(f"Prefect UI:  {stack.ui_url}  "
                   f"(wachtwoord: {stack.settings.prefect.auth_string})")
        typer.echo(f"Mails (.eml): {mail_dir}")
        typer.echo(f"Logbestanden: {stack.logs}")
        typer.echo("Opdrachtregel: .venv/bin/herregistratie list (vindt deze demo vanzelf)")
        if keep_running:
            typer.echo("De stack blijft draaien; Ctrl-C stopt alles.")
            wait_for_stop()
    finally:
        typer.echo("Stoppen ...")
        stack.stop()
        sink.stop()


def _clear(data_dir: Path) -> None:
    """A demo starts from nothing: everything of the last one goes but the lock it holds."""
    if not data_dir.is_dir():
        return
    for entry in data_dir.iterdir():
        if entry.name == "stack.lock":
            continue
        if entry.is_dir() and not entry.is_symlink():
            shutil.rmtree(entry)
        else:
            entry.unlink()


def _sink(folder: Path, show: Any) -> tuple[Any, int]:
    """The SMTP sink on the usual port if free, else on any: binding is the claim."""
    for preferred in (8025, 0, 0):
        port = preferred or free_port()
        try:
            return start_sink(folder, port, show), port
        except OSError:
            continue
    raise StackError("Geen vrije poort voor de SMTP-server van de demo.")
