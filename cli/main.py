"""`herregistratie`: the operator's command line (Typer). Output is Dutch."""

from __future__ import annotations

import asyncio
import json
import os
import sys
from collections.abc import Coroutine
from datetime import date
from pathlib import Path
from typing import Annotated, Any, NoReturn, TypeVar

import typer

from domain import messages as m
from domain.errors import CaseError, CaseNotFound, InvalidInput
from domain.formatting import format_date
from domain.states import CaseState, Role
from service.actions import act, open_case
from service.actors import Actor
from service.case_page import case_summary
from service.operations import PREFECT_DOWN, configured_api, migrate, sweep
from service.read_model import cases_in
from service.sessions import DATABASE_DOWN, read_session
from settings import Settings, SettingsError, get_settings
from stack.processes import StackError, read_stack_file, stack_file

T = TypeVar("T")

app = typer.Typer(help="Herregistratie: verlopen herregistratie specialisatie (KP/VvOCM).",
                  no_args_is_help=True, pretty_exceptions_enable=False)

ROLES = {"vvocm": Role.ASSOCIATION_STAFF, "kp": Role.REGISTER_STAFF, "beoordelaar": Role.REVIEWER,
         "oefentherapeut": Role.PRACTITIONER, "beheerder": Role.OPERATOR}
RoleOption = Annotated[str, typer.Option("--als", help=f"rol: {', '.join(ROLES)}")]
NameOption = Annotated[str, typer.Option("--door", help="naam van wie handelt")]


# Commands that work on a running stack's data: they find it (below) and never make a database.
ON_A_STACK = {"list", "show", "act", "open", "sweep", "import", "report"}
# Commands that find a stack's data folder the same way but work on a stopped stack too.
ON_ITS_DATA = {"backup", "restore"}
HELP = {"--help", "-h"}
NO_DATABASE = (
    "Geen database gevonden in {folder}. Draait de stack? Start `make demo` of `herregistratie "
    "runner`, of wijs de map aan met --data-dir (of HERREG_DATA_DIR)."
)


@app.callback()
def find_stack(
    ctx: typer.Context,
    data_dir: Annotated[Path | None, typer.Option(
        "--data-dir", help="map met de gegevens van de stack (standaard .data; een draaiende "
        "demo in .data/demo wordt vanzelf gevonden)")] = None,
) -> None:
    """A running stack (`runner` or `demo`) writes its settings to stack.env in its data
    folder; commands on its data read them, so they reach its database and Prefect server."""
    if data_dir is not None:
        os.environ["HERREG_DATA_DIR"] = str(data_dir)
        get_settings.cache_clear()
    if ctx.invoked_subcommand not in ON_A_STACK | ON_ITS_DATA or HELP & set(sys.argv):
        return  # help needs no stack
    # Read before the settings: the stack's file may hold some of them (its environment).
    folder = Path(os.environ.get("HERREG_DATA_DIR", Settings.model_fields["data_dir"].default))
    if "HERREG_DATA_DIR" not in os.environ and not stack_file(folder).is_file() \
            and stack_file(folder / "demo").is_file():
        folder = folder / "demo"
    os.environ["HERREG_DATA_DIR"] = str(folder)
    for key, value in read_stack_file(folder).items():
        os.environ.setdefault(key, value)
    get_settings.cache_clear()
    settings = get_settings()
    cluster_down = not (settings.cluster_socket_dir / ".s.PGSQL.5432").exists()
    if ctx.invoked_subcommand in ON_A_STACK and not settings.database.url and cluster_down:
        typer.secho(f"Fout: {NO_DATABASE.format(folder=folder.resolve())}", fg="red", err=True)
        raise typer.Exit(code=2)


def _refuse(message: str) -> NoReturn:
    """An option the command cannot use: one Dutch line (exit code 2), not typer's English
    "Invalid value" frame around it."""
    typer.secho(f"Fout: {message}", fg="red", err=True)
    raise typer.Exit(code=2)


def _actor(role: str, name: str) -> Actor:
    if role not in ROLES:
        _refuse(f"onbekende rol '{role}'; kies uit {', '.join(ROLES)}")
    return Actor(ROLES[role], name)


def _run(work: Coroutine[Any, Any, T]) -> T:
    with configured_api():
        return asyncio.run(work)


def _fail(err: CaseError) -> None:
    text = m.CASE_NOT_FOUND.format(case=err) if isinstance(err, CaseNotFound) else str(err)
    typer.secho(f"Fout: {text}" if not isinstance(err, InvalidInput) else "Ongeldige invoer:",
                fg="red", err=True)
    if isinstance(err, InvalidInput):
        for field, message in err.errors.items():
            typer.secho(f"  {field}: {message}", fg="red", err=True)
    raise typer.Exit(code=2)


@app.command("migrate")
def migrate_command() -> None:
    """Database naar het nieuwste schema brengen."""
    migrate()
    typer.echo("Database bijgewerkt.")


@app.command("open")
def open_command(
    kp_number: Annotated[str, typer.Option("--kp", help="KP-nummer")],
    name: Annotated[str, typer.Option("--naam")],
    email: Annotated[str, typer.Option("--email")],
    specialisation: Annotated[str, typer.Option("--specialisatie", help="KOT, BOT, PSOT, GOT")],
    request_date: Annotated[str, typer.Option("--aanvraagdatum", help="jjjj-mm-dd")],
    member: Annotated[bool, typer.Option("--lid/--geen-lid")] = True,
    evidence: Annotated[Path | None, typer.Option("--portfolio", help="JSON met bewijs")] = None,
    previous_start: Annotated[str | None, typer.Option("--vorige-start")] = None,
    role: RoleOption = "vvocm",
    by: NameOption = "VvOCM",
) -> None:
    """Een nieuwe aanvraag registreren (de e-mail van de oefentherapeut aan de VvOCM)."""
    data: dict[str, Any] = {
        "kp_number": kp_number, "name": name, "email": email, "member": member,
        "specialisation": specialisation, "request_date": request_date,
        "previous_period_start": previous_start,
    }
    if evidence is not None:
        data["evidence"] = json.loads(evidence.read_text())
    try:
        outcome = _run(open_case(data, actor=_actor(role, by)))
    except CaseError as err:
        _fail(err)
        return
    typer.echo(f"Aanvraag {outcome.number} geopend. {outcome.message}")


@app.command("act")
def act_command(
    case: Annotated[str, typer.Argument(help="nummer (HR-2026-00001) of id")],
    action: Annotated[str, typer.Argument(help="bijv. association_decision, submit, findings")],
    input_json: Annotated[str, typer.Option("--input", help="invoer als JSON")] = "{}",
    values: Annotated[list[str] | None, typer.Option("--set", help="veld=waarde")] = None,
    role: RoleOption = "vvocm",
    by: NameOption = "beheerder",
) -> None:
    """Een besluit vastleggen en de wachtende workflow hervatten."""
    try:
        data: dict[str, Any] = json.loads(input_json)
    except json.JSONDecodeError as err:
        _refuse(f"--input is geen geldige JSON: {err}")
    for item in values or []:
        field, _, value = item.partition("=")
        data[field] = {"ja": True, "nee": False}.get(value, value)
    try:
        outcome = _run(act(case, action, data, actor=_actor(role, by)))
    except CaseError as err:
        _fail(err)
        return
    typer.echo(f"{outcome.number}: {outcome.message}")


@app.command("show")
def show_command(
    case: Annotated[str, typer.Argument(help="nummer of id")],
    everything: Annotated[bool, typer.Option("--alles", help="ook de gebeurtenissen van het "
                                             "systeem zelf (wachten, runs, herstel)")] = False,
) -> None:
    """Een aanvraag met haar geschiedenis tonen, zoals op de pagina van de aanvraag (tijden in
    Nederlandse tijd)."""
    with read_session() as session:
        try:
            summary = case_summary(session, case)
        except CaseError as err:
            _fail(err)
            return
        typer.echo(f"{summary.number}  {summary.specialisation}  {summary.practitioner_name} "
                   f"(KP {summary.kp_number})")
        typer.echo(f"Status: {summary.state_label}")
        if summary.awaited is not None:
            due = f" (uiterlijk {format_date(summary.due_on)})" if summary.due_on else ""
            typer.echo(f"Wacht op: {summary.awaited}{due}")
        people, system = summary.history, summary.system_history
        typer.echo("Geschiedenis:")
        for line in (people + system) if everything else people:
            states = f" ({line.from_state} -> {line.to_state})" if line.from_state and \
                line.to_state and line.from_state != line.to_state else ""
            mails = "".join(f"\n      e-mail: {subject}" for subject, _id in line.mails)
            said = f"\n      {line.summary}" if line.summary else ""
            typer.echo(f"  {line.at}  {line.who}: {line.action}{states}{said}{mails}")


@app.command("list")
def list_command(
    state: Annotated[str | None, typer.Option("--status", help="bijv. association_check")] = None,
) -> None:
    """Aanvragen tonen, eventueel per status."""
    try:
        wanted = CaseState(state) if state else None
    except ValueError:
        _refuse(f"onbekende status; kies uit {', '.join(CaseState)}")
    with read_session() as session:
        rows = cases_in(session, wanted)
    for row in rows:
        typer.echo(f"{row.number}  {row.specialisation:<4}  {row.state.label:<32}  "
                   f"{row.awaiting_action or ''}")
    typer.echo(f"{len(rows)} aanvraag/aanvragen.")


@app.command("sweep")
def sweep_command(
    today: Annotated[str | None, typer.Option(
        "--op", "--datum", help="jjjj-mm-dd: de dag waarvoor de sweep draait (standaard vandaag)")
    ] = None,
) -> None:
    """Herinneringen en verval van registraties, termijnen, achtergebleven besluiten en mail."""
    report = _run(sweep(today=date.fromisoformat(today) if today else None))
    typer.echo(", ".join(f"{k}: {v}" for k, v in report.items()))


@app.command("report")
def report_command(
    which: Annotated[str, typer.Argument(
        help="open, doorlooptijd, te-laat, openstaand, prognose of alles")] = "alles",
    csv_out: Annotated[bool, typer.Option("--csv", help="als CSV (;) naar standaarduitvoer; "
                                          "één rapport")] = False,
    first: Annotated[str | None, typer.Option(
        "--van", help="jjjj-mm: eerste maand van de prognose (standaard deze maand)")] = None,
    months: Annotated[int, typer.Option("--maanden", help="maanden in de prognose")] = 36,
) -> None:
    """Cijfers voor het bureau: open aanvragen, doorlooptijd per stap, te laat, openstaande
    facturen en de verwachte herregistraties per maand."""
    from service.reports import REPORTS, table, write_csv

    chosen = REPORTS if which == "alles" else (which,)
    if any(name not in REPORTS for name in chosen):
        _refuse(f"kies uit {', '.join(REPORTS)} of alles")
    if csv_out and len(chosen) != 1:
        _refuse("--csv maakt één rapport; noem het")
    today = get_settings().current_date()
    start = date.fromisoformat(f"{first}-01") if first else today.replace(day=1)
    with read_session() as session:
        tables = [(name, *table(session, name, today, start, months)) for name in chosen]
    if csv_out:
        _name, header, rows = tables[0]
        write_csv(sys.stdout, header, rows)
        return
    for name, header, rows in tables:
        typer.secho(f"\n{name}", bold=True)
        widths = [max(len(str(cell)) for cell in column) for column in zip(header, *rows,
                                                                           strict=False)]
        for row in (header, *rows):
            typer.echo("  ".join(str(cell).ljust(width) for cell, width in zip(
                row, widths, strict=False)).rstrip())
        if not rows:
            typer.echo("(geen)")


imports = typer.Typer(help="Gegevens inlezen.", no_args_is_help=True)
app.add_typer(imports, name="import")


@imports.command("registrations")
def import_registrations_command(
    file: Annotated[Path, typer.Argument(help="CSV-export van het register", exists=True,
                                         dir_okay=False, readable=True)],
    dry_run: Annotated[bool, typer.Option("--dry-run", help="alleen controleren")] = False,
    name: NameOption = "beheerder",
) -> None:
    """Registraties inlezen: kp_nummer, naam, email, lid, specialisatie, periode_start
    (en eventueel periode_eind). Opnieuw inlezen verandert alleen wat anders is."""
    from service.imports import ImportFileError, decode_export, import_registrations

    try:
        text = decode_export(file.read_bytes())
        lines = max(text.count("\n") - 1, 1)
        with typer.progressbar(length=lines, label="Regels controleren") as bar:
            report = import_registrations(text, actor=_actor("beheerder", name),
                                          source=file.name, dry_run=dry_run, progress=bar.update)
    except ImportFileError as err:
        typer.secho(f"Fout: {err}", fg="red", err=True)
        raise typer.Exit(code=2) from err
    typer.echo(("Proefimport, niets opgeslagen. " if dry_run else "")
               + f"{report.rows} regels: {report.registrations_created} registraties nieuw, "
               f"{report.registrations_updated} bijgewerkt, {report.unchanged} ongewijzigd; "
               f"{report.practitioners_created} oefentherapeuten nieuw, "
               f"{report.practitioners_updated} bijgewerkt; {len(report.rejected)} afgewezen; "
               f"{len(report.conflicts)} met een andere naam of e-mailadres (niet overgenomen, "
               "op de werklijst van /beheer).")
    for line, text in report.conflicts:
        typer.secho(f"  regel {line}: {text}", fg="yellow")
    for line, reason in report.rejected:
        typer.secho(f"  regel {line}: {reason}", fg="yellow")
    if report.rejected:
        raise typer.Exit(code=1)


@app.command("smtp")
def smtp_command(
    port: Annotated[int, typer.Option(help="poort op 127.0.0.1")] = 8025,
    folder: Annotated[Path | None, typer.Option("--map")] = None,
) -> None:
    """Lokale SMTP-server die elke mail als .eml-bestand bewaart."""
    from cli.smtp_sink import start_sink
    from stack.processes import wait_for_stop

    target = folder or get_settings().data_dir / "mail"
    controller = start_sink(target, port, lambda m: typer.echo(f"✉  {m['Subject']} → {m['To']}"))
    typer.echo(f"SMTP op 127.0.0.1:{port}; mails in {target.resolve()} (Ctrl-C stopt)")
    try:
        wait_for_stop()
    finally:
        controller.stop()


@app.command("runner")
def runner_command(
    only_workers: Annotated[bool, typer.Option(
        "--alleen-workers", help="alleen deployments en workers, tegen een Prefect-server die "
        "al draait (HERREG_PREFECT__API_URL)")] = False,
) -> None:
    """De stack starten en bewaken: de eigen PostgreSQL (tenzij beide databases elders staan),
    de Prefect-server, de deployments uit prefect.yaml, de workers en de webapplicatie; wat
    stopt wordt opnieuw gestart."""
    from stack.processes import Stack, StackError, wait_for_stop

    settings = get_settings()
    port = int(settings.prefect.api_url.rsplit(":", 1)[1].split("/")[0])
    stack = Stack(settings=settings, port=port, fixed_ports=True)
    try:
        if only_workers:
            stack.deploy()
            stack.start_worker()
        else:
            with typer.progressbar(length=5, label="Stack starten") as bar:
                stack.start_database()
                migrate(stack.settings.database_url)
                bar.update(1)
                stack.start_server()
                bar.update(1)
                stack.start_web()
                bar.update(1)
                stack.deploy()
                bar.update(1)
                stack.start_worker()
                bar.update(1)
        stack.supervise()
        typer.echo(f"Prefect: {stack.ui_url}; web: {stack.web_url} (Ctrl-C stopt).")
        wait_for_stop()
    except StackError as err:
        typer.secho(f"Fout: {err}", fg="red", err=True)
        raise typer.Exit(code=2) from err
    finally:
        stack.stop()


@app.command("backup")
def backup_command(
    target: Annotated[Path | None, typer.Argument(
        help="bestand (standaard herregistratie-backup-<datum>-<tijd>.tar.gz hier)")] = None,
) -> None:
    """De database van de aanvragen en de documenten (uploads, facturen, bewijzen) in één
    bestand wegschrijven; de stack mag draaien of gestopt zijn."""
    from datetime import datetime

    from stack.backup import backup

    target = target or Path(f"herregistratie-backup-{datetime.now():%Y%m%d-%H%M%S}.tar.gz")
    report = backup(get_settings(), target.resolve(), progress=typer.echo)
    typer.echo(f"Backup klaar: {report.path} ({report.bytes / 1e6:.1f} MB, "
               f"{report.documents} documenten).")


@app.command("restore")
def restore_command(
    source: Annotated[Path, typer.Argument(help="een backup van `herregistratie backup`",
                                           exists=True, dir_okay=False, readable=True)],
    replace: Annotated[bool, typer.Option("--vervang", help="wat er al staat vervangen")] =
    False,
) -> None:
    """Een backup terugzetten in een gestopte stack (standaard in een lege map). De
    workflowruns maakt de sweep daarna zelf opnieuw."""
    from stack.backup import restore

    report = restore(get_settings(), source.resolve(), replace=replace, progress=typer.echo)
    typer.echo(f"Teruggezet uit {report.path}: de database en {report.documents} documenten. "
               "Start de stack; open aanvragen krijgen binnen enkele minuten een nieuwe run.")


@app.command("executor")
def executor_command(
    pool: Annotated[str, typer.Option("--pool", help="werkpool")] = "herregistratie",
    name: Annotated[str | None, typer.Option("--naam", help="vaste naam van deze executor")] =
    None,
    processes: Annotated[int | None, typer.Option(
        "--processen", min=1, help="processen (standaard HERREG_PREFECT__WARM_PROCESSES)")] = None,
    threads: Annotated[int | None, typer.Option(
        "--draden", min=1, help="runs tegelijk per proces")] = None,
) -> None:
    """De warme executor starten: runs van de werkpool in processen die de flows al geladen
    hebben (`runner` en `demo` starten hem zelf)."""
    from warm.main import default_name, serve

    with configured_api():
        asyncio.run(serve(pool, name or default_name(pool), processes=processes,
                          threads=threads))


@app.command("web")
def web_command() -> None:
    """De webapplicatie starten (pagina's en JSON-API)."""
    import uvicorn

    from web.app import create_app

    web = get_settings().web
    with configured_api():
        uvicorn.run(create_app(), host=web.host, port=web.port, log_level="warning")


@app.command("admin")
def admin_command(
    email: Annotated[str, typer.Option("--email")],
    name: Annotated[str, typer.Option("--naam")],
    password: Annotated[str, typer.Option("--wachtwoord", prompt=True, hide_input=True,
                                          confirmation_prompt=True)],
) -> None:
    """De eerste beheerder aanmaken (of het wachtwoord van een bestaande vervangen)."""
    from service.accounts import set_admin

    if len(password) < 10:
        _refuse("het wachtwoord moet minstens 10 tekens hebben")
    set_admin(email=email, name=name, password=password)
    typer.echo(f"Beheerder {email} kan inloggen.")


@app.command("demo")
def demo_command(
    keep: Annotated[bool, typer.Option("--blijf/--stop", help="stack laten draaien")] = True,
) -> None:
    """De ingebouwde stack starten, voorbeeldaanvragen openen en één aanvraag alle stappen laten
    doorlopen."""
    from cli.demo import run_demo

    run_demo(keep_running=keep)


def main() -> None:
    """The command line: a missing setting, a database or workflow server that is down, ends
    in one Dutch line (exit code 2), and so does a bug (exit code 1), never a traceback."""
    try:
        app()
    except (SettingsError, StackError) as err:
        typer.secho(f"Fout: {err}", fg="red", err=True)
        raise SystemExit(2) from err
    except DATABASE_DOWN as err:
        typer.secho(f"Fout: {m.DATABASE_UNAVAILABLE}", fg="red", err=True)
        raise SystemExit(2) from err
    except PREFECT_DOWN as err:
        typer.secho(f"Fout: {m.PREFECT_UNAVAILABLE}", fg="red", err=True)
        raise SystemExit(2) from err
    except Exception as err:  # a bug: one line here, the traceback on request
        if os.environ.get("HERREG_DEBUG"):
            raise
        typer.secho(f"Fout: er ging iets mis ({type(err).__name__}: {err}). Met HERREG_DEBUG=1 "
                    "ziet u de details.", fg="red", err=True)
        raise SystemExit(1) from err


if __name__ == "__main__":
    main()
