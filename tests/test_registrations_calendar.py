"""The register's calendar: registrations imported from a register's CSV, and the sweep's
notices (reminders, the submission window, the lapse of R4) on their days, each once, at a real
SMTP server; the public register loses a lapsed specialisation on W + 1 to the day.

No Prefect server: the sweep's calendar part is called as the function its task wraps."""

from __future__ import annotations

import multiprocessing
import os
import signal
from collections.abc import Iterator
from datetime import date, timedelta
from pathlib import Path
from typing import Any

import pytest
from markupsafe import escape
from sqlmodel import select

from domain import messages as m
from domain.states import Role
from models.db import migrate, read_session
from models.practitioner import (
    Practitioner,
    PractitionerChange,
    get_by_kp_number,
    open_conflicts,
)
from models.registration import Registration, RegistrationNotice, RegistrationStatus
from service.actors import Actor
from service.imports import ImportFileError, import_registrations
from tasks.mail import deliver_pending
from tasks.registrations import mark_lapsed_registrations, send_calendar_notices
from tests.conftest import Mailbox, csrf_from, login, make_staff, offline_settings, smtp_server

ADMIN = Actor(Role.OPERATOR, "Beheerder Test")
HEADER = "kp_nummer;naam;email;lid;specialisatie;periode_start;periode_eind\n"
END = date(2026, 12, 31)  # KOT: reminders 30 June and 19 Nov 2026, window 1 Jan, lapse 1 Mar 2027


@pytest.fixture
def mailbox(tmp_path: Path) -> Iterator[Mailbox]:
    with smtp_server(tmp_path / "mail") as box:
        yield box


@pytest.fixture
def calendar_db(mailbox: Mailbox, prefect_down: str, tmp_path: Path) -> Iterator[str]:
    """A database and SMTP server of its own: the calendar reads every registration."""
    url = f"sqlite:///{tmp_path / 'calendar.db'}"
    migrate(url)
    with offline_settings(url, tmp_path, prefect_down, mailbox):
        yield url


def load(text: str, *, dry_run: bool = False) -> object:
    return import_registrations(HEADER + text, actor=ADMIN, source="test.csv", dry_run=dry_run)


def registrations() -> list[Registration]:
    with read_session() as session:
        return list(session.exec(select(Registration).order_by(Registration.id)))


# --- import ---

def test_a_good_file_imports_and_the_same_file_again_changes_nothing(calendar_db: str) -> None:
    text = ("12345;Anna de Wit;anna@example.org;ja;KOT;2022-01-01;2026-12-31\n"
            "12345;Anna de Wit;anna@example.org;ja;BOT;01-03-2023;\n"
            "67890;Bert Smit;bert@example.org;nee;psot;2021-06-15;\n")
    first = load(text)
    assert (first.rows, first.registrations_created, first.practitioners_created,
            first.rejected) == (3, 3, 2, [])
    by_code = {r.specialisation: r for r in registrations()}
    assert by_code["BOT"].period_end == date(2028, 2, 29)  # start + 5 years - 1 day (R1)
    assert by_code["PSOT"].period_end == date(2026, 6, 14)
    again = load(text)
    assert (again.registrations_created, again.registrations_updated, again.unchanged,
            again.practitioners_updated) == (0, 0, 3, 0)
    assert len(registrations()) == 3


def test_a_changed_row_updates_its_period_and_membership_and_records_who(
        calendar_db: str) -> None:
    load("12345;Anna de Wit;anna@example.org;ja;KOT;2022-01-01;2026-12-31\n")
    report = load("12345;Anna de Wit;anna@example.org;nee;KOT;2022-01-01;2027-01-31\n")
    assert (report.registrations_updated, report.practitioners_updated) == (1, 1)
    assert report.conflicts == []
    assert registrations()[0].period_end == date(2027, 1, 31)
    with read_session() as session:
        practitioner = get_by_kp_number(session=session, kp_number="12345")
        assert practitioner and (practitioner.name, practitioner.member) == ("Anna de Wit", False)
        change = session.exec(select(PractitionerChange)).one()
    assert change.actor_name == "Beheerder Test" and change.reason == "Import test.csv, regel 2"
    assert change.after == {"member": False, "address": ""}


async def test_another_name_or_address_waits_for_a_person_and_nobody_is_mailed_there(
        calendar_db: str, mailbox: Mailbox) -> None:
    """Before, the import renamed the practitioner and the sweep mailed the new address
    within a minute. Now the row goes on the worklist; only a person's decision applies it."""
    load(f"12345;Anna de Wit;anna@example.org;ja;KOT;2022-01-01;{END}\n")
    twice = [load(f"12345;Anna Vreemd;vreemd@example.org;ja;KOT;2022-01-01;{END}\n")
             for _ in range(2)]
    assert [len(report.conflicts) for report in twice] == [1, 1]
    assert "Anna Vreemd <vreemd@example.org>" in twice[0].conflicts[0][1]
    with read_session() as session:
        practitioner = get_by_kp_number(session=session, kp_number="12345")
        assert practitioner and (practitioner.name, practitioner.email) == (
            "Anna de Wit", "anna@example.org")
        assert len(open_conflicts(session=session)) == 1  # the same file twice: one entry
    send_calendar_notices.fn(END - timedelta(days=42))  # the 6-week reminder is due
    await deliver_pending()
    assert [str(message["To"]) for message in mailbox.messages] == ["anna@example.org"]

    from fastapi.testclient import TestClient

    from web.app import create_app

    offline_client = TestClient(create_app())
    admin = make_staff("admin")
    login(offline_client, admin)
    page = offline_client.get("/beheer")
    assert "In de export: Anna Vreemd &lt;vreemd@example.org&gt;" in page.text
    with read_session() as session:
        conflict = open_conflicts(session=session)[0]
    url = f"/beheer/conflicten/{conflict.id}"
    no_reason = offline_client.post(url, data={"csrf_token": csrf_from(page.text),
                                               "besluit": "toepassen", "reden": " "})
    assert no_reason.status_code == 422 and m.CONFLICT_REASON_REQUIRED in no_reason.text
    done = offline_client.post(url, data={"csrf_token": csrf_from(page.text),
                                          "besluit": "toepassen",
                                          "reden": "Getrouwd, bevestigd per telefoon"})
    assert done.status_code == 200 and m.CONFLICT_APPLIED in done.text
    with read_session() as session:
        practitioner = get_by_kp_number(session=session, kp_number="12345")
        assert practitioner and (practitioner.name, practitioner.email) == (
            "Anna Vreemd", "vreemd@example.org")
        change = session.exec(select(PractitionerChange)).all()[-1]
        assert open_conflicts(session=session) == []
    assert change.actor_role is Role.OPERATOR and "Getrouwd" in change.reason
    again = offline_client.post(url, data={"csrf_token": csrf_from(page.text),
                                           "besluit": "afwijzen", "reden": "dubbel"})
    assert again.status_code == 409 and m.CONFLICT_GONE in again.text


def test_a_newer_period_supersedes_the_older_one(calendar_db: str) -> None:
    load("12345;Anna de Wit;anna@example.org;ja;KOT;2017-01-01;\n")
    load("12345;Anna de Wit;anna@example.org;ja;KOT;2022-01-01;\n")
    old, new = registrations()
    assert (old.status, old.visible) == (RegistrationStatus.SUPERSEDED, False)
    assert (new.status, new.visible) == (RegistrationStatus.ACTIVE, True)


def test_bad_rows_are_reported_with_line_and_dutch_reason_and_the_rest_lands(
        calendar_db: str) -> None:
    report = load(
        "12345;Anna de Wit;anna@example.org;ja;KOT;2022-01-01;\n"      # 2: good
        "12a45;Fout Nummer;f@example.org;ja;KOT;2022-01-01;\n"         # 3
        "22222;;leeg@example.org;ja;KOT;2022-01-01;\n"                  # 4
        "33333;Geen Mail;geen-mail;ja;KOT;2022-01-01;\n"                # 5
        "44444;Lid Misschien;l@example.org;misschien;KOT;2022-01-01;\n"  # 6
        "55555;Onbekend;o@example.org;ja;XYZ;2022-01-01;\n"             # 7
        "66666;Datum Fout;d@example.org;ja;KOT;31-02-2022;\n"           # 8
        "77777;Eind Fout;e@example.org;ja;KOT;2022-01-01;2021-12-31\n"  # 9
        "12345;Anna de Wit;anna@example.org;ja;KOT;2022-01-01;\n"      # 10: duplicate of 2
        "12345;Anna Anders;anna@example.org;ja;BOT;2022-01-01;\n")     # 11: identity differs
    reasons = dict(report.rejected)
    assert sorted(reasons) == [3, 4, 5, 6, 7, 8, 9, 10, 11]
    assert reasons[3] == "Een KP-nummer bestaat uit 5 tot 9 cijfers."
    assert "Naam ontbreekt" in reasons[4]
    assert "Ongeldig e-mailadres 'geen-mail'" in reasons[5]
    assert "Lid moet ja of nee zijn" in reasons[6]
    assert "Onbekende specialisatie 'XYZ'" in reasons[7]
    assert "Ongeldige datum in periode_start: '31-02-2022'" in reasons[8]
    assert "niet na het begin" in reasons[9]
    assert "regel 2" in reasons[10] and "regel 2" in reasons[11]
    assert len(registrations()) == 1


def test_a_dry_run_reports_and_stores_nothing(calendar_db: str) -> None:
    report = load("12345;Anna de Wit;anna@example.org;ja;KOT;2022-01-01;\n", dry_run=True)
    assert (report.registrations_created, report.practitioners_created) == (1, 1)
    assert registrations() == []


def test_a_file_without_the_columns_is_refused_whole(calendar_db: str) -> None:
    with pytest.raises(ImportFileError, match="Kolommen ontbreken: lid"):
        import_registrations("kp_nummer,naam,email,specialisatie,periode_start\n", actor=ADMIN,
                             source="x.csv")


@pytest.mark.parametrize("row", [
    '23456;"Bart zonder sluitend aanhalingsteken;b@example.org;ja;KOT;2022-01-01;\n',
    "23456;" + "B" * 131_073 + ";b@example.org;ja;KOT;2022-01-01;\n"],
    ids=["unclosed-quote", "huge-field"])
def test_a_line_that_cannot_be_read_refuses_the_file_and_names_the_line(
        calendar_db: str, row: str) -> None:
    rows = "12345;Anna de Wit;anna@example.org;ja;KOT;2022-01-01;\n" + row
    rows += "34567;Carla Na;c@example.org;nee;KOT;2022-01-01;\n"
    with pytest.raises(ImportFileError, match="Regel 3 is niet te lezen"):
        load(rows)
    assert registrations() == [], "nothing half: the rows after it are not silently lost"


def test_forty_thousand_rows_import(calendar_db: str) -> None:
    lines = "".join(f"{100000 + i};Therapeut {i};t{i}@example.org;{'ja' if i % 2 else 'nee'};"
                    f"{('KOT', 'BOT', 'PSOT', 'GOT')[i % 4]};"
                    f"{date(2021, 1, 1) + timedelta(days=i % 1800)};\n" for i in range(40_000))
    report = load(lines)
    assert (report.registrations_created, report.rejected) == (40_000, [])
    assert load(lines).unchanged == 40_000


# --- the calendar ---

async def sweep_on(day: date) -> dict[str, int]:
    notices = send_calendar_notices.fn(day)
    mark_lapsed_registrations.fn(day)
    await deliver_pending()
    return notices


def notice_keys(mailbox: Mailbox, registration_id: int) -> list[str]:
    prefix = f"registration:{registration_id}:"
    return [k.removeprefix(prefix) for k in mailbox.keys().elements() if k.startswith(prefix)]


@pytest.mark.parametrize(("kind", "due"), [
    ("reminder-6m", date(2026, 6, 30)), ("reminder-6w", date(2026, 11, 19)),
    ("window", date(2027, 1, 1)), ("lapse", date(2027, 3, 1))])
async def test_each_notice_goes_out_on_its_day_once(calendar_db: str, mailbox: Mailbox,
                                                   kind: str, due: date) -> None:
    load(f"12345;Anna de Wit;anna@example.org;ja;KOT;2022-01-01;{END}\n")
    registration = registrations()[0].id or 0
    await sweep_on(due - timedelta(days=1))
    assert kind not in notice_keys(mailbox, registration)
    for _ in range(2):
        await sweep_on(due)
        await sweep_on(due + timedelta(days=1))
    assert notice_keys(mailbox, registration).count(kind) == 1
    mailbox.assert_each_once()


def on_public_register(name: str) -> bool:
    from fastapi.testclient import TestClient

    from web.app import create_app

    with TestClient(create_app()) as visitor:
        page = visitor.get("/register", params={"naam": name})
    assert page.status_code == 200
    return f"<td>{name}</td>" in page.text  # a row of the list, not the search box


async def test_the_lapse_leaves_the_public_register_on_w_plus_one_to_the_day(
        calendar_db: str, mailbox: Mailbox) -> None:
    load(f"12345;Anna de Wit;anna@example.org;ja;KOT;2022-01-01;{END}\n")
    await sweep_on(date(2027, 2, 28))  # W: submitting is still allowed
    assert (registrations()[0].status, registrations()[0].visible) == (
        RegistrationStatus.ACTIVE, True)
    assert on_public_register("Anna de Wit")
    await sweep_on(date(2027, 3, 1))  # W + 1
    assert (registrations()[0].status, registrations()[0].visible) == (
        RegistrationStatus.LAPSED, False)
    assert not on_public_register("Anna de Wit")
    lapse = [m for m in mailbox.messages
             if m["X-Herregistratie-Key"] == f"registration:{registrations()[0].id}:lapse"]
    body = lapse[0].get_body(("plain",)).get_content()  # type: ignore[union-attr]
    assert "Kinderoefentherapie is vervallen" in str(lapse[0]["Subject"])
    assert "28 februari 2027" in body and "€\u00a050,00" in body and "info@vvocm.nl" in body
    assert "/aanvragen?kp=12345&specialisatie=KOT" in body  # the way in, filled in


async def test_a_sweep_down_for_weeks_sends_what_still_fits_and_skips_the_stale(
        calendar_db: str, mailbox: Mailbox) -> None:
    """Back on 5 Dec 2026 after weeks down: Anna's 6-week reminder (due 19 Nov) is 16 days
    late, more than the 14 catch-up days, and is skipped; Bert's (due 29 Nov) still goes."""
    load(f"12345;Anna de Wit;anna@example.org;ja;KOT;2022-01-01;{END}\n"
         f"67890;Bert Smit;bert@example.org;ja;KOT;2022-01-01;2027-01-10\n")
    anna, bert = (r.id or 0 for r in registrations())
    await sweep_on(date(2026, 12, 5))
    assert notice_keys(mailbox, anna) == []  # due 19 Nov: 16 days late, stale
    assert notice_keys(mailbox, bert) == ["reminder-6w"]  # due 29 Nov: 6 days late
    await sweep_on(date(2027, 1, 1))
    assert notice_keys(mailbox, anna) == ["window"]


def _sweep_in_child(url: str, day: str, stop_after: int) -> None:
    """A sweep that is killed (SIGKILL) after `stop_after` notices."""
    os.environ["HERREG_DATABASE__URL"] = url
    from settings import get_settings
    get_settings.cache_clear()
    import tasks.registrations as calendar
    notify, done = calendar._notify, []

    def notify_then_maybe_die(*args: object) -> bool:
        sent = notify(*args)  # type: ignore[arg-type]
        done.append(sent)
        if len(done) == stop_after:
            os.kill(os.getpid(), signal.SIGKILL)
        return sent

    calendar._notify = notify_then_maybe_die  # type: ignore[assignment]
    calendar.send_calendar_notices.fn(date.fromisoformat(day))


async def test_a_sweep_killed_between_two_registrations_sends_each_mail_once(
        calendar_db: str, mailbox: Mailbox) -> None:
    load("".join(f"{10000 + i};Therapeut {i};t{i}@example.org;ja;KOT;2022-01-01;{END}\n"
                 for i in range(5)))
    child = multiprocessing.get_context("spawn").Process(
        target=_sweep_in_child, args=(calendar_db, "2027-03-01", 2))
    child.start()
    child.join(60)
    assert child.exitcode == -signal.SIGKILL
    with read_session() as session:
        assert len(session.exec(select(RegistrationNotice)).all()) == 2
    await sweep_on(date(2027, 3, 1))
    await sweep_on(date(2027, 3, 1))
    lapses = [k for k in mailbox.keys().elements() if k.endswith(":lapse")
              and int(k.split(":")[1]) in {r.id for r in registrations()}]
    assert len(lapses) == 5
    mailbox.assert_each_once()
    with read_session() as session:
        assert {p.kp_number for p in session.exec(select(Practitioner))} == {
            f"{10000 + i}" for i in range(5)}


def test_the_command_line_imports_reports_rejected_rows_and_dry_runs(
        calendar_db: str, tmp_path: Path) -> None:
    from typer.testing import CliRunner

    from cli.main import app

    export = tmp_path / "export.csv"
    export.write_text(HEADER + "12345;Anna de Wit;anna@example.org;ja;KOT;2022-01-01;\n"
                      "1234;Te Kort;k@example.org;ja;KOT;2022-01-01;\n", encoding="utf-8")
    runner = CliRunner()
    trial = runner.invoke(app, ["import", "registrations", str(export), "--dry-run"])
    assert trial.exit_code == 1, trial.output
    assert "Proefimport, niets opgeslagen." in trial.output
    assert "regel 3: Een KP-nummer bestaat uit 5 tot 9 cijfers." in trial.output
    assert registrations() == []
    done = runner.invoke(app, ["import", "registrations", str(export)])
    assert "1 registraties nieuw" in done.output and len(registrations()) == 1


def test_an_export_saved_by_a_spreadsheet_program_or_a_binary_file(calendar_db: str,
                                                                   tmp_path: Path) -> None:
    from typer.testing import CliRunner

    from cli.main import app

    export = tmp_path / "windows.csv"
    export.write_bytes((HEADER + "12345;Renée Doré;renee@example.org;nee;KOT;01-01-2022;\n")
                       .encode("cp1252"))
    done = CliRunner().invoke(app, ["import", "registrations", str(export)])
    assert done.exit_code == 0, done.output
    with read_session() as session:
        found = get_by_kp_number(session=session, kp_number="12345")
        assert found is not None and found.name == "Renée Doré"
    image = tmp_path / "foto.csv"
    image.write_bytes(b"\x89PNG\r\n\x1a\n\x00\x00\x00\rIHDR")
    refused = CliRunner().invoke(app, ["import", "registrations", str(image)])
    assert refused.exit_code == 2 and m.IMPORT_NOT_TEXT in refused.output


def test_the_admin_page_reads_an_export_and_shows_the_rejected_rows(calendar_db: str) -> None:
    from fastapi.testclient import TestClient

    from web.app import create_app

    good = "12345;Anna de Wit;anna@example.org;ja;KOT;2022-01-01;\n"
    bad = "1234;Te Kort;k@example.org;ja;KOT;2022-01-01;\n"
    with TestClient(create_app()) as admin:
        login(admin, make_staff("admin"))
        token = csrf_from(admin.get("/beheer").text)

        def upload(text: str, *, trial: bool = False) -> Any:
            return admin.post("/beheer/registraties", data={
                "csrf_token": token, **({"proef": "ja"} if trial else {})},
                files={"bestand": ("export.csv", (HEADER + text).encode(), "text/csv")})

        dry = upload(good, trial=True)
        assert dry.status_code == 200 and "Proefimport: niets opgeslagen" in dry.text
        assert registrations() == []
        mixed = upload(good + bad)
        assert mixed.status_code == 422 and "Registraties ingelezen" in mixed.text
        assert "<td>3</td><td>Een KP-nummer bestaat uit 5 tot 9 cijfers.</td>" in mixed.text
        assert len(registrations()) == 1
        again = upload(good)
        assert again.status_code == 200 and len(registrations()) == 1
        assert "<td>Ongewijzigd</td><td>1</td>" in again.text
        binary = admin.post("/beheer/registraties", data={"csrf_token": token},
                            files={"bestand": ("foto.csv", b"\x00\x01", "text/csv")})
        assert binary.status_code == 422 and str(escape(m.IMPORT_NOT_TEXT)) in binary.text
        columns = upload("").text  # header only is fine; a header without columns is not
        assert "0 regels gelezen" in columns
