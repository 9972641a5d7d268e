"""`make demo`: the embedded stack on loopback, sample cases, and one case walked through every
step of the plan, printing each mail as the SMTP server receives it."""

from __future__ import annotations

import asyncio
import os
import secrets
import shutil
import time
from datetime import date, timedelta
from email.message import EmailMessage
from typing import Any

import httpx
import typer
from dateutil.relativedelta import relativedelta

from cli.smtp_sink import start_sink
from cli.stack import Stack, free_port, wait_for_stop
from domain.states import Role
from models.case import find_case, get_case
from models.db import migrate, read_session, session_scope
from service.actors import Actor
from settings import get_settings
from tasks.links import make_token, status_url
from tasks.runs import configured_api

VVOCM = Actor(Role.ASSOCIATION_STAFF, "Anne de Vries (VvOCM)")
KP = Actor(Role.REGISTER_STAFF, "Karel Jansen (KP)")
REVIEWER = Actor(Role.REVIEWER, "Dr. Ria Bos")


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
    """Every step, including the intake call, an incomplete application and one additions
    round, so that every kind of mail appears once."""
    d = str(today)
    return [
        ("association_decision", {"outcome": "intake_call",
                                  "note": "Graag eerst een kort startgesprek."}, VVOCM),
        ("intake_outcome", {"held_on": d, "outcome": "advise"}, VVOCM),
        ("portfolio_reopened", {"reopened_on": d}, KP),
        ("submit", {"submitted_on": d}, Actor(Role.PRACTITIONER, "Petra Oefen")),
        ("payment_received", {"paid_on": d}, KP),
        ("completeness", {"complete": False, "missing": "Uitdraai EPD over 2023 ontbreekt."}, KP),
        ("completion_supplied", {"supplied_on": d, "description": "Uitdraai 2023."},
         Actor(Role.PRACTITIONER, "Petra Oefen")),
        ("completeness", {"complete": True}, KP),
        ("assign_reviewer", {"reviewer_name": "Dr. Ria Bos",
                             "reviewer_email": "ria.bos@example.org"}, KP),
        ("findings", {"outcome": "additions",
                      "explanation": "Licht de uren werkervaring over 2024 toe."}, REVIEWER),
        ("additions_supplied", {"supplied_on": d,
                                "description": "Toelichting uren 2024 toegevoegd."},
         Actor(Role.PRACTITIONER, "Petra Oefen")),
        ("findings", {"outcome": "positive", "explanation": "Voldoet aan de criteria."},
         REVIEWER),
    ]


async def _wait_for(ref: str, action: str | None, state: str | None = None,
                    timeout: float = 120) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        with read_session() as session:
            case = find_case(session=session, ref=ref)
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
    from models.staff import StaffRole, StaffUser
    from service.accounts import hash_password, new_api_token

    tokens = {}
    for email, name, role in DEMO_STAFF:
        with session_scope() as session:
            user = StaffUser(email=email, name=name, role=StaffRole(role),
                             password_hash=hash_password(DEMO_PASSWORD))
            session.add(user)
            session.flush()
            staff_id = user.id or 0
        tokens[role] = new_api_token(staff_id=staff_id, name="demo")
    return tokens


def _credentials(role: Role, case_id: int, tokens: dict[str, str]) -> dict[str, str]:
    """Staff use their API token; the practitioner and reviewer the token of their mail link."""
    if role is Role.PRACTITIONER:
        return {"X-Link-Token": make_token("status", case=case_id, role="practitioner")}
    if role is Role.REVIEWER:
        with session_scope() as session:
            case = get_case(session=session, case_id=case_id)
        return {"X-Link-Token": make_token("dossier", case=case_id, role="reviewer",
                                           reviewer=case.reviewer_id, round=case.review_round)}
    return {"Authorization": f"Bearer {tokens[role.value]}"}


async def _scenario(today: date, web_url: str, tokens: dict[str, str]) -> None:
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
            typer.echo(f"   statuslink oefentherapeut: {status_url(case['case_id'])}")
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


def run_demo(*, keep_running: bool = True) -> None:
    """The demo is an explicit development environment: built-in development keys sign its
    sessions and links, and its Prefect server gets a password made up for this run."""
    os.environ.setdefault("HERREG_ENVIRONMENT", "development")
    get_settings.cache_clear()
    base = get_settings()
    data_dir = (base.data_dir / "demo").resolve()
    shutil.rmtree(data_dir, ignore_errors=True)
    mail_dir = data_dir / "mail"
    smtp_port, prefect_port, web_port = _port(8025), _port(4200), _port(8000)
    prefect_login = base.prefect.auth_string or f"demo:{secrets.token_urlsafe(16)}"
    os.environ.update({
        "HERREG_PREFECT__AUTH_STRING": prefect_login,
        "HERREG_DATA_DIR": str(data_dir),
        "HERREG_SMTP__URL": f"smtp://127.0.0.1:{smtp_port}",
        "HERREG_PREFECT__API_URL": f"http://127.0.0.1:{prefect_port}/api",
        "HERREG_WEB__PORT": str(web_port),
        "HERREG_LINKS__BASE_URL": f"http://127.0.0.1:{web_port}",
    })
    get_settings.cache_clear()
    settings = get_settings()
    today = settings.current_date()

    def show(message: EmailMessage) -> None:
        typer.echo(f"   ✉  {str(message['Subject']).strip()}  →  {message['To']}")

    sink = start_sink(mail_dir, smtp_port, show)
    stack = Stack(settings=settings, port=prefect_port, ui=True)
    try:
        typer.echo(f"Database: {settings.database_url}")
        migrate()
        typer.echo(f"Prefect-server starten op {stack.ui_url} (SQLite) ...")
        stack.start_server()
        typer.echo("Deployments uit prefect.yaml toepassen en workers starten ...")
        stack.deploy()
        stack.start_worker()
        stack.supervise()
        typer.echo("Webapplicatie starten ...")
        web_url = stack.start_web()
        tokens = _demo_accounts()
        typer.echo(f"Inbox:       {web_url}/inbox")
        for email, name, _role in DEMO_STAFF:
            typer.echo(f"   login {email} / {DEMO_PASSWORD}  ({name})")
        with configured_api():
            asyncio.run(_scenario(today, web_url, tokens))
        time.sleep(2)
        typer.secho("\nKlaar: de aanvraag is geherregistreerd.", fg="green", bold=True)
        typer.echo(f"Inbox:       {web_url}/inbox  (wachtwoord {DEMO_PASSWORD})")
        typer.echo(f"Register:    {web_url}/register")
        typer.echo(f"API-docs:    {web_url}/api/v1/docs")
        typer.echo(f"Prefect UI:  {stack.ui_url}  (wachtwoord: {prefect_login})")
        typer.echo(f"Mails (.eml): {mail_dir}")
        typer.echo(f"Logbestanden: {data_dir / 'logs'}")
        typer.echo("Opdrachtregel: .venv/bin/herregistratie list (vindt deze demo vanzelf)")
        if keep_running:
            typer.echo("De stack blijft draaien; Ctrl-C stopt alles.")
            wait_for_stop()
    finally:
        typer.echo("Stoppen ...")
        stack.stop()
        sink.stop()
