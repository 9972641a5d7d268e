"""Registrations in from a register's export (CSV): practitioners and their periods.

A row: kp_nummer, naam, email, lid (ja/nee), specialisatie, periode_start and optionally
periode_eind (else the register's period length, R1/R17) and adres (for invoices). Separator
`;` or `,`, dates as jjjj-mm-dd or dd-mm-jjjj. Every row is checked on its own; a bad row is
reported with its line number and a Dutch reason and changes nothing. A registration is known
by KP number, specialisation and period start: importing the same file twice changes nothing,
and a changed row updates what it names. One transaction: an import lands whole or not at all;
`dry_run` reports the same figures and rolls back.
"""

from __future__ import annotations

import csv
import io
import re
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from datetime import date, datetime
from typing import Any

from pydantic import EmailStr, TypeAdapter, ValidationError
from sqlalchemy import insert, update
from sqlmodel import Session, col, select

from domain import messages as m
from models.db import session_scope
from models.practitioner import (
    IdentityConflict,
    Practitioner,
    PractitionerChange,
    open_conflict,
)
from models.registration import Registration, RegistrationStatus
from policies import available_codes, load_policy
from service.actors import Actor
from service.validation import same_text

COLUMNS = ("kp_nummer", "naam", "email", "lid", "specialisatie", "periode_start")
OPTIONAL = ("periode_eind", "adres")
KP_NUMBER = re.compile(r"^[0-9]{5,9}$")
YES, NO = {"ja", "j", "1", "true", "waar"}, {"nee", "n", "0", "false", "onwaar"}
_EMAIL: TypeAdapter[str] = TypeAdapter(EmailStr)
BATCH = 2000


@dataclass(frozen=True, slots=True)
class Row:
    line: int
    kp_number: str
    name: str
    email: str
    member: bool
    specialisation: str
    period_start: date
    period_end: date
    address: str


@dataclass
class ImportReport:
    rows: int = 0
    practitioners_created: int = 0
    practitioners_updated: int = 0
    registrations_created: int = 0
    registrations_updated: int = 0
    unchanged: int = 0
    rejected: list[tuple[int, str]] = field(default_factory=list)
    # Known KP numbers with another name or e-mail address: not applied, on the worklist.
    conflicts: list[tuple[int, str]] = field(default_factory=list)
    dry_run: bool = False


class ImportFileError(ValueError):
    """The file as a whole cannot be read (no header, wrong columns): nothing is imported."""


def decode_export(content: bytes) -> str:
    """The file's text: UTF-8 (with or without BOM) or Windows-1252, as spreadsheet programs
    save CSV; anything else (a binary file) is an ImportFileError."""
    if b"\x00" in content[:4096]:
        raise ImportFileError(m.IMPORT_NOT_TEXT)
    for encoding in ("utf-8-sig", "cp1252"):
        try:
            return content.decode(encoding)
        except UnicodeDecodeError:
            continue
    raise ImportFileError(m.IMPORT_NOT_TEXT)


def import_registrations(text: str, *, actor: Actor, source: str, dry_run: bool = False,
                         progress: Callable[[int], None] | None = None) -> ImportReport:
    """Checks every row, then writes the good ones in one transaction. `progress` is called
    with the number of rows handled since its last call."""
    report = ImportReport(dry_run=dry_run)
    rows = _valid_rows(_records(text), report, progress)
    with session_scope() as session:
        known = {p.kp_number: p for p in session.exec(select(Practitioner))}
        ids = _practitioners(session, rows, known, report, actor, source)
        _registrations(session, rows, ids, report)
        if dry_run:
            session.rollback()
    return report


def _records(text: str) -> Iterable[tuple[int, dict[str, str]]]:
    text = text.removeprefix("\ufeff")
    first = text.split("\n", 1)[0]
    reader = csv.DictReader(io.StringIO(text), delimiter=";" if first.count(";") >= first.count(
        ",") else ",", strict=True)
    try:
        header = [h.strip().lower() for h in reader.fieldnames or []]
        missing = [c for c in COLUMNS if c not in header]
        if missing:
            raise ImportFileError(m.IMPORT_COLUMNS.format(
                missing=", ".join(missing), expected=", ".join(COLUMNS + OPTIONAL)))
        reader.fieldnames = header
        for record in reader:
            yield reader.line_num, {k: (v or "").strip() for k, v in record.items() if k}
    except csv.Error:  # an unclosed quote would swallow every row after it, silently
        raise ImportFileError(m.IMPORT_UNREADABLE.format(line=reader.line_num + 1)) from None


def _valid_rows(records: Iterable[tuple[int, dict[str, str]]], report: ImportReport,
                progress: Callable[[int], None] | None) -> list[Row]:
    rows: list[Row] = []
    seen: dict[tuple[str, str, date], int] = {}
    identity: dict[str, tuple[int, str, str, bool, str]] = {}
    for line, record in records:
        report.rows += 1
        if progress and report.rows % BATCH == 0:
            progress(BATCH)
        try:
            row = _row(line, record)
            key = (row.kp_number, row.specialisation, row.period_start)
            if key in seen:
                raise ValueError(m.IMPORT_DUPLICATE.format(line=seen[key]))
            first = identity.setdefault(row.kp_number, (line, *_identity(row)))
            if first[1:] != _identity(row):
                raise ValueError(m.IMPORT_IDENTITY_CONFLICT.format(line=first[0]))
        except ValueError as err:
            report.rejected.append((line, str(err)))
            continue
        seen[key] = line
        rows.append(row)
    if progress:
        progress(report.rows % BATCH)
    return rows


def _identity(row: Row) -> tuple[str, str, bool, str]:
    return row.name, row.email, row.member, row.address


def _row(line: int, record: dict[str, str]) -> Row:
    kp_number = record["kp_nummer"]
    if not KP_NUMBER.match(kp_number):
        raise ValueError(m.FIELD_KP_NUMBER)
    name = record["naam"]
    if not name or len(name) > 200:
        raise ValueError(m.IMPORT_NAME)
    try:
        email = _EMAIL.validate_python(record["email"])
    except ValidationError:
        raise ValueError(m.IMPORT_EMAIL.format(value=record["email"])) from None
    membership = record["lid"].lower()
    if membership not in YES | NO:
        raise ValueError(m.IMPORT_MEMBER.format(value=record["lid"]))
    code = record["specialisatie"].upper()
    if code not in available_codes():
        raise ValueError(m.IMPORT_SPECIALISATION.format(value=record["specialisatie"],
                                                        known=", ".join(available_codes())))
    start = _date(record["periode_start"], "periode_start")
    end = (_date(record["periode_eind"], "periode_eind") if record.get("periode_eind")
           else load_policy(code).period_end(start))
    if end <= start:
        raise ValueError(m.IMPORT_END_BEFORE_START)
    address = " ".join(record.get("adres", "").split())
    if len(address) > 300:
        raise ValueError(m.IMPORT_ADDRESS)
    return Row(line, kp_number, name, email, membership in YES, code, start, end, address)


def _date(value: str, column: str) -> date:
    for pattern in ("%Y-%m-%d", "%d-%m-%Y"):
        try:
            return datetime.strptime(value, pattern).date()
        except ValueError:
            continue
    raise ValueError(m.IMPORT_DATE.format(column=column, value=value))


def _practitioners(session: Session, rows: list[Row], known: dict[str, Practitioner],
                   report: ImportReport, actor: Actor, source: str) -> dict[str, int]:
    """New practitioners in bulk. For a known KP number, a changed membership or address is
    applied and written down as a change by the importing staff member; another name or
    e-mail address is not: it goes on the worklist of identity conflicts, for a person."""
    firsts = {row.kp_number: row for row in reversed(rows)}
    new = [r for kp, r in firsts.items() if kp not in known]
    if new:
        session.execute(insert(Practitioner), [
            {"kp_number": r.kp_number, "name": r.name, "email": r.email, "member": r.member,
             "address": r.address} for r in new])
        report.practitioners_created = len(new)
    for kp, row in firsts.items():
        practitioner = known.get(kp)
        if practitioner is None:
            continue
        if not (same_text(practitioner.name, row.name)
                and same_text(practitioner.email, row.email)):
            report.conflicts.append((row.line, m.IMPORT_CONFLICT.format(
                kp=kp, name=practitioner.name, email=practitioner.email, new_name=row.name,
                new_email=row.email)))
            if open_conflict(session=session, practitioner_id=practitioner.id or 0,
                             name=row.name, email=row.email) is None:
                session.add(IdentityConflict(
                    practitioner_id=practitioner.id or 0, name=row.name, email=row.email,
                    source=m.IMPORT_REASON.format(source=source, line=row.line)[:200]))
        if (practitioner.member, practitioner.address) == (row.member, row.address):
            continue
        before = {"member": practitioner.member, "address": practitioner.address}
        practitioner.member, practitioner.address = row.member, row.address
        session.add(practitioner)
        session.add(PractitionerChange(
            practitioner_id=practitioner.id or 0, actor_role=actor.role, actor_name=actor.name,
            before=before, after={"member": row.member, "address": row.address},
            reason=m.IMPORT_REASON.format(source=source, line=row.line)))
        report.practitioners_updated += 1
    session.flush()
    return {kp: i for kp, i in session.execute(
        select(col(Practitioner.kp_number), col(Practitioner.id)))}


def _registrations(session: Session, rows: list[Row], ids: dict[str, int],
                   report: ImportReport) -> None:
    """Insert new periods, update changed ends; of a practitioner's periods in one register
    only the latest stays active and visible."""
    existing = {(r.practitioner_id, r.specialisation, r.period_start): r
                for r in session.exec(select(Registration))}
    latest: dict[tuple[int, str], date] = {}
    for (practitioner_id, code, start) in existing:
        key = (practitioner_id, code)
        latest[key] = max(latest.get(key, start), start)
    for row in rows:
        key = (ids[row.kp_number], row.specialisation)
        latest[key] = max(latest.get(key, row.period_start), row.period_start)

    inserts: list[dict[str, Any]] = []
    changes: list[dict[str, Any]] = []
    for row in rows:
        practitioner_id = ids[row.kp_number]
        current = row.period_start == latest[(practitioner_id, row.specialisation)]
        found = existing.get((practitioner_id, row.specialisation, row.period_start))
        if found is None:
            inserts.append({
                "practitioner_id": practitioner_id, "specialisation": row.specialisation,
                "register_code": "KP", "period_start": row.period_start,
                "period_end": row.period_end, "visible": current,
                "status": RegistrationStatus.ACTIVE if current else RegistrationStatus.SUPERSEDED})
        elif found.period_end != row.period_end:
            changes.append({"id": found.id, "period_end": row.period_end})
        else:
            report.unchanged += 1
    superseded = [{"id": r.id, "status": RegistrationStatus.SUPERSEDED, "visible": False}
                  for (pid, code, start), r in existing.items()
                  if start < latest[(pid, code)] and r.status is RegistrationStatus.ACTIVE]
    for first in range(0, len(inserts), BATCH):
        session.execute(insert(Registration), inserts[first:first + BATCH])
    if changes:
        session.execute(update(Registration), changes)
    if superseded:
        session.execute(update(Registration), superseded)
    report.registrations_created, report.registrations_updated = len(inserts), len(changes)
