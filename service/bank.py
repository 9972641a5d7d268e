"""Bank transfers: KP uploads a bank statement as CAMT.053 (ISO 20022, the XML the Dutch banks
export), and each booked credit line is matched to an invoice by the invoice number in its
remittance information and by amount.

A line paying an open invoice in full records the payment (service/payments.py) as the
uploading KP staff member's; a partial or different amount, an invoice paid already, or no
invoice number are listed for KP and record nothing. Every line is kept, unique by the
statement's account and the bank's own reference, so uploading the same statement (or an
overlapping one) again records nothing twice.

The XML is read with the standard library: its expat (2.4.1 and newer) refuses entity
expansion bombs, and ElementTree does not fetch external entities.
"""

from __future__ import annotations

import hashlib
import re
import xml.etree.ElementTree as ElementTree
from dataclasses import dataclass, field
from datetime import date
from decimal import Decimal, InvalidOperation

from sqlalchemy.exc import IntegrityError
from sqlmodel import col, select

from domain import messages as m
from domain.errors import DecisionConflict, InvalidInput
from models.case import get_case
from models.db import read_session, session_scope, utcnow
from models.invoice import Invoice, InvoiceStatus
from models.payment import BankEntry, EntryOutcome, open_entries
from service.actors import Actor
from service.payments import payment_recorded, record_invoice_payment

INVOICE_NUMBER = re.compile(r"\b(V?F)[-\s]?(\d{4})[-\s]?(\d{5})\b", re.IGNORECASE)


class StatementError(ValueError):
    """The file is not a CAMT.053 statement we can read; nothing was recorded."""


@dataclass(frozen=True)
class Credit:
    account: str
    statement: str
    reference: str
    booked_on: date
    amount: Decimal
    remittance: str
    debtor: str


@dataclass
class Line:
    credit: Credit
    outcome: EntryOutcome | None  # None: read before, skipped
    invoice: str = ""
    case: str = ""
    expected: Decimal | None = None
    still_open: bool = False  # read before, and still on the worklist


@dataclass
class StatementReport:
    lines: list[Line] = field(default_factory=list)

    def count(self, outcome: EntryOutcome | None) -> int:
        return sum(line.outcome is outcome for line in self.lines)


def _text(element: ElementTree.Element | None, path: str, ns: dict[str, str]) -> str:
    found = element.find(path, ns) if element is not None else None
    return " ".join((found.text or "").split()) if found is not None else ""


def read_statement(content: bytes) -> list[Credit]:
    """The booked credit lines of every statement in the file."""
    try:
        root = ElementTree.fromstring(content)
    except ElementTree.ParseError as err:
        raise StatementError(m.CAMT_NOT_XML) from err
    namespace = root.tag[1:].split("}")[0] if root.tag.startswith("{") else ""
    if "camt.053" not in namespace:
        raise StatementError(m.CAMT_NOT_053)
    ns = {"c": namespace}
    credits = []
    for statement in root.iterfind(".//c:Stmt", ns):
        account = _text(statement, "c:Acct/c:Id/c:IBAN", ns)
        statement_id = _text(statement, "c:Id", ns)
        for entry in statement.iterfind("c:Ntry", ns):
            if _text(entry, "c:CdtDbtInd", ns) != "CRDT" or _text(entry, "c:Sts", ns) not in (
                    "BOOK", ""):
                continue
            if _text(entry, "c:Sts/c:Cd", ns) not in ("", "BOOK"):
                continue
            amount_element = entry.find("c:Amt", ns)
            try:
                amount = Decimal(_text(entry, "c:Amt", ns))
            except InvalidOperation as err:
                raise StatementError(m.CAMT_NOT_053) from err
            if amount_element is not None and amount_element.get("Ccy", "EUR") != "EUR":
                continue
            booked = _text(entry, "c:BookgDt/c:Dt", ns) or _text(entry, "c:BookgDt/c:DtTm",
                                                                 ns)[:10]
            remittance = " ".join(filter(None, [
                _text(entry, ".//c:RmtInf/c:Ustrd", ns),
                _text(entry, ".//c:RmtInf/c:Strd/c:CdtrRefInf/c:Ref", ns)]))
            reference = _text(entry, "c:AcctSvcrRef", ns) or _text(entry, "c:NtryRef", ns) \
                or hashlib.sha256(ElementTree.tostring(entry)).hexdigest()[:40]
            credits.append(Credit(
                account=account, statement=statement_id, reference=reference,
                booked_on=date.fromisoformat(booked), amount=amount, remittance=remittance,
                debtor=_text(entry, ".//c:RltdPties/c:Dbtr/c:Nm", ns)
                or _text(entry, ".//c:RltdPties/c:Dbtr/c:Pty/c:Nm", ns)))
    return credits


def _invoice_number(remittance: str) -> str | None:
    found = INVOICE_NUMBER.search(remittance)
    return f"{found.group(1).upper()}-{found.group(2)}-{found.group(3)}" if found else None


def _unrecorded_match(credit: Credit) -> int | None:
    """The invoice of a line matched by an earlier upload whose payment was never recorded
    (the process died, the database went away): this upload records it."""
    with read_session() as session:
        entry = session.exec(select(BankEntry).where(
            col(BankEntry.account) == credit.account[:40],
            col(BankEntry.reference) == credit.reference[:120])).first()
    if entry is None or entry.outcome is not EntryOutcome.MATCHED or entry.invoice_id is None \
            or payment_recorded(entry.invoice_id):
        return None
    return entry.invoice_id


def _still_open(credit: Credit) -> bool:
    with read_session() as session:
        entry = session.exec(select(BankEntry).where(
            col(BankEntry.account) == credit.account[:40],
            col(BankEntry.reference) == credit.reference[:120])).first()
    return entry is not None and entry.outcome is not EntryOutcome.MATCHED \
        and entry.handled_at is None


def worklist() -> list[tuple[BankEntry, str]]:
    """Money received that nobody has matched yet, with the invoice it named (if any)."""
    with read_session() as session:
        entries = open_entries(session=session)
        numbers = {i.id: i.number for i in session.exec(select(Invoice).where(
            col(Invoice.id).in_({e.invoice_id for e in entries if e.invoice_id})))}
    return [(entry, numbers.get(entry.invoice_id, "") if entry.invoice_id else "")
            for entry in entries]


async def link_entry(entry_id: int, invoice_number: str, *, actor: Actor) -> str:
    """KP links an open line to an invoice by hand: the payment is recorded as KP's decision
    (once: a paid invoice is not paid again) and the line leaves the worklist. Returns the
    case number."""
    number = _invoice_number(invoice_number) or invoice_number.strip().upper()
    with read_session() as session:
        entry = session.get(BankEntry, entry_id)
        if entry is None or entry.handled_at is not None \
                or entry.outcome is EntryOutcome.MATCHED:
            raise DecisionConflict(m.BANK_LINE_GONE)
        invoice = session.exec(select(Invoice).where(col(Invoice.number) == number)).first()
        if invoice is None:
            raise InvalidInput({"invoice": m.BANK_INVOICE_UNKNOWN.format(number=number)})
        if invoice.status is InvoiceStatus.PAID:
            raise InvalidInput({"invoice": m.BANK_INVOICE_PAID.format(number=invoice.number)})
        invoice_id, paid_on, amount = invoice.id or 0, entry.booked_on, entry.amount
        reference = f"{entry.account}:{entry.reference}"
        case_number = get_case(session=session, case_id=invoice.case_id).number
    # The payment first: a line leaves the worklist only once its money is recorded.
    recorded = await record_invoice_payment(invoice_id, paid_on, amount, actor,
                                            reference=reference)
    if recorded.outcome == "already_paid":
        raise DecisionConflict(m.BANK_INVOICE_PAID.format(number=recorded.invoice))
    with session_scope() as session:
        entry = session.get(BankEntry, entry_id, with_for_update=True)
        assert entry is not None
        if entry.handled_at is None:
            entry.invoice_id = invoice_id
            entry.handled_at, entry.handled_by = utcnow(), actor.name
            entry.handling = m.BANK_LINKED.format(number=recorded.invoice)
            session.add(entry)
    return case_number


def handle_entry(entry_id: int, reason: str, *, actor: Actor) -> None:
    """KP marks an open line handled (paid back, a payment for something else) with a
    reason; it leaves the worklist, and the line keeps who and why."""
    if not reason.strip():
        raise InvalidInput({"reason": m.CONFLICT_REASON_REQUIRED})
    with session_scope() as session:
        entry = session.get(BankEntry, entry_id, with_for_update=True)
        if entry is None or entry.handled_at is not None \
                or entry.outcome is EntryOutcome.MATCHED:
            raise DecisionConflict(m.BANK_LINE_GONE)
        entry.handled_at, entry.handled_by = utcnow(), actor.name
        entry.handling = reason.strip()[:500]
        session.add(entry)


async def import_statement(content: bytes, *, actor: Actor) -> StatementReport:
    """Reads, matches and records; lines read before are reported as such."""
    report = StatementReport()
    for credit in read_statement(content):
        line = Line(credit, None)
        report.lines.append(line)
        number = _invoice_number(credit.remittance)
        try:
            with session_scope() as session:
                invoice = session.exec(select(Invoice).where(col(Invoice.number) == number)
                                       ).first() if number else None
                if invoice is None:
                    line.outcome = EntryOutcome.UNMATCHED
                elif invoice.status is InvoiceStatus.PAID:
                    line.outcome = EntryOutcome.ALREADY_PAID
                elif credit.amount != invoice.amount:
                    line.outcome = EntryOutcome.PARTIAL
                else:
                    line.outcome = EntryOutcome.MATCHED
                if invoice is not None:
                    line.invoice, line.expected = invoice.number, invoice.amount
                    line.case = get_case(session=session, case_id=invoice.case_id).number
                session.add(BankEntry(
                    account=credit.account[:40], reference=credit.reference[:120],
                    statement=credit.statement[:120], booked_on=credit.booked_on,
                    amount=credit.amount, remittance=credit.remittance[:500],
                    debtor=credit.debtor[:200], invoice_id=invoice.id if invoice else None,
                    outcome=line.outcome))
                invoice_id = invoice.id if invoice else None
        except IntegrityError:  # this line was read from an earlier upload
            line.outcome, invoice_id = None, _unrecorded_match(credit)
            if invoice_id is None:
                line.still_open = _still_open(credit)
                continue
            line.outcome = EntryOutcome.MATCHED  # that upload died before recording it
            with read_session() as session:
                invoice = session.get(Invoice, invoice_id)
                assert invoice is not None
                line.invoice, line.expected = invoice.number, invoice.amount
                line.case = get_case(session=session, case_id=invoice.case_id).number
        if line.outcome is EntryOutcome.MATCHED and invoice_id is not None:
            recorded = await record_invoice_payment(
                invoice_id, credit.booked_on, credit.amount,
                Actor(actor.role, f"{actor.name} (bankafschrift)"),  # not a claimed step
                reference=f"{credit.account}:{credit.reference}")
            if recorded.outcome == "already_paid":
                line.outcome = EntryOutcome.ALREADY_PAID
    return report
