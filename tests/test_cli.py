"""The operator's command line, on the offline database (Prefect down: decisions are recorded
and the replay executor moves the case)."""

from __future__ import annotations

import asyncio
import json
from datetime import timedelta
from pathlib import Path
from typing import Any

import pytest
from typer.testing import CliRunner

from cli.main import app
from domain import messages as m
from domain.decisions import AssociationDecision
from models.db import read_session
from models.staff import staff_by_email
from settings import get_settings
from stack.postgres import Cluster
from tests.conftest import TODAY, case_row, herreg_env, login
from tests.factories import evidence
from tests.replay import run_case

pytestmark = pytest.mark.usefixtures("offline")
runner = CliRunner()


def test_open_act_show_and_list_a_case(tmp_path: Path) -> None:
    portfolio = tmp_path / "portfolio.json"
    request_date = TODAY - timedelta(days=5)
    portfolio.write_text(json.dumps(evidence(request_date)))
    opened = runner.invoke(app, [
        "open", "--kp", "99887766", "--naam", "Cli Therapeut", "--email", "cli@example.org",
        "--specialisatie", "KOT", "--aanvraagdatum", str(request_date), "--geen-lid",
        "--portfolio", str(portfolio), "--vorige-start", str(request_date.replace(year=2019)),
    ])
    assert opened.exit_code == 0, opened.output
    number = opened.output.split()[1]
    case = case_row(number)
    assert case.specialisation == "KOT"
    assert m.RECEIVED_QUEUED in opened.output
    assert asyncio.run(run_case(case.id)) == "association-decision"
    refused = runner.invoke(app, ["act", number, "payment_received", "--set",
                                  f"paid_on={TODAY}", "--als", "kp"])
    assert refused.exit_code == 2
    assert "De aanvraag wacht nu niet op" in refused.output
    bad = runner.invoke(app, ["act", number, "association_decision", "--set", "outcome=misschien",
                              "--als", "vvocm"])
    assert bad.exit_code == 2 and "outcome: Kies een van" in bad.output
    done = runner.invoke(app, ["act", number, "association_decision", "--set", "outcome=advise",
                               "--als", "vvocm", "--door", "Anne"])
    assert done.exit_code == 0, done.output
    assert m.RECEIVED_QUEUED in done.output

    shown = runner.invoke(app, ["show", number])
    assert shown.exit_code == 0
    assert "medewerker VvOCM: Anne" in shown.output
    assert "association_decision" not in shown.output and "open_case" not in shown.output
    assert "Wacht op:" not in shown.output or AssociationDecision.title in shown.output
    listed = runner.invoke(app, ["list"])
    assert number in listed.output
    wrong = runner.invoke(app, ["list", "--status", "bestaat-niet"])
    assert wrong.exit_code != 0


def test_unknown_case_is_a_clear_error() -> None:
    result = runner.invoke(app, ["show", "HR-1999-00001"])
    assert result.exit_code == 2
    assert "Fout: Aanvraag HR-1999-00001 bestaat niet." in result.output
    odd = runner.invoke(app, ["list", "--status", "bestaat-niet"])
    assert odd.exit_code == 2 and "Fout: onbekende status" in odd.output
    assert "Invalid value" not in odd.output and "Usage" not in odd.output


def test_first_admin_is_created_from_the_command_line(offline_client: Any) -> None:
    short = runner.invoke(app, ["admin", "--email", "eerste@example.org", "--naam", "Eerste",
                                "--wachtwoord", "kort"])
    assert short.exit_code != 0 and "minstens 10 tekens" in short.output
    made = runner.invoke(app, ["admin", "--email", "Eerste@Example.org", "--naam", "Eerste",
                               "--wachtwoord", "een-goed-wachtwoord"])
    assert made.exit_code == 0, made.output
    with read_session() as session:
        admin = staff_by_email(session=session, email="eerste@example.org")
    assert admin is not None and admin.role == "admin"
    login(offline_client, admin, password="een-goed-wachtwoord")
    assert offline_client.get("/beheer").status_code == 200


def test_the_command_line_finds_a_running_demo_and_never_makes_an_empty_database(
        tmp_path: Path) -> None:
    """Run from the project folder in another terminal, with no settings of its own."""
    import os
    import subprocess
    import sys

    cli = str(Path(sys.executable).parent / "herregistratie")
    clean = {"PATH": os.environ["PATH"], "HOME": str(tmp_path)}
    nothing = subprocess.run([cli, "list"], cwd=tmp_path, capture_output=True, text=True,
                             env={**clean, "HERREG_ENVIRONMENT": "development"})
    assert nothing.returncode == 2 and "Geen database gevonden" in nothing.stderr
    assert "Traceback" not in nothing.stderr and not (tmp_path / ".data").exists()

    demo = tmp_path / ".data" / "demo"
    settings = {"HERREG_ENVIRONMENT": "development", "HERREG_DATA_DIR": str(demo)}
    with herreg_env(environment="development", data_dir=str(demo)), \
            Cluster.of(get_settings(), durable=False) as cluster:  # the demo's database
        cluster.ensure_databases()
        subprocess.run([cli, "migrate"], cwd=tmp_path, env={**clean, **settings}, check=True,
                       capture_output=True)
        (demo / "stack.env").write_text("".join(f"{k}={v}\n" for k, v in settings.items()))
        found = subprocess.run([cli, "list"], cwd=tmp_path, capture_output=True, text=True,
                               env=clean)
    assert found.returncode == 0, found.stderr
    assert "0 aanvraag/aanvragen." in found.stdout
    assert not (tmp_path / ".data" / "postgres").exists()
