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
from domain.errors import CaseError, DecisionConflict, InvalidInput
from domain.states import Role
from models.case import get_case
from models.db import read_session, session_scope, utcnow
from models.invoice import Invoice, InvoiceStatus
from models.payment import BankEntry, open_entries
from models.payment import EntryOutcome as EntryOutcome  # how a statement line was booked
from service.actors import Actor
from service.payments import payment_recorded, record_invoice_payment
from settings import get_settings

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
    problem: str = ""  # what could not be read; such a line goes to the worklist as it is


@dataclass
class Line:
    credit: Credit
    outcome: EntryOutcome | None  # None: read before, skipped
    invoice: str = ""
    case: str = ""
    expected: Decimal | None = None
    still_open: bool = False  # read before, and still on the worklist
    problem: str = ""  # why it was not booked by itself (the worklist says it too)


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
            if amount_element is not None and amount_element.get("Ccy", "EUR") != "EUR":
                continue
            amount, problem = _amount(_text(entry, "c:Amt", ns))
            booked = _text(entry, "c:BookgDt/c:Dt", ns) or _text(entry, "c:BookgDt/c:DtTm",
                                                                 ns)[:10]
            try:
                booked_on = date.fromisoformat(booked)
            except ValueError:
                booked_on = get_settings().current_date()
                problem = problem or m.CAMT_LINE_NO_DATE.format(value=booked[:20])
            remittance = " ".join(filter(None, [
                _text(entry, ".//c:RmtInf/c:Ustrd", ns),
                _text(entry, ".//c:RmtInf/c:Strd/c:CdtrRefInf/c:Ref", ns)]))
            reference = _text(entry, "c:AcctSvcrRef", ns) or _text(entry, "c:NtryRef", ns) \
                or hashlib.sha256(ElementTree.tostring(entry)).hexdigest()[:40]
            credits.append(Credit(
                account=account.replace(" ", "").upper(), statement=statement_id,
                reference=reference, booked_on=booked_on, amount=amount,
                remittance=remittance,
                debtor=_text(entry, ".//c:RltdPties/c:Dbtr/c:Nm", ns)
                or _text(entry, ".//c:RltdPties/c:Dbtr/c:Pty/c:Nm", ns), problem=problem))
    return credits


MAX_AMOUNT = Decimal("100000000")


def _amount(text: str) -> tuple[Decimal, str]:
    """An amount as the bank wrote it, or 0 and why it cannot be read ("sNaN", "1e999999",
    nothing): such a line is not booked, it goes to the worklist."""
    try:
        amount = Decimal(text)
    except InvalidOperation:
        return Decimal(0), m.CAMT_LINE_AMOUNT.format(value=text[:20])
    if not amount.is_finite() or not Decimal(0) < amount < MAX_AMOUNT \
            or amount != amount.quantize(Decimal("0.01")):
        return Decimal(0), m.CAMT_LINE_AMOUNT.format(value=text[:20])
    return amount, ""


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


def own_accounts(role: Role) -> frozenset[str]:
    """The accounts whose statements a role reads and whose lines it works on: KP's for KP,
    VvOCM's for VvOCM (the intake fee), both for an admin (the operator)."""
    return get_settings().payment.accounts(
        register=role in (Role.REGISTER_STAFF, Role.OPERATOR),
        association=role in (Role.ASSOCIATION_STAFF, Role.OPERATOR))


def worklist(role: Role) -> list[tuple[BankEntry, str]]:
    """Money received on the role's accounts that nobody has matched yet, with the invoice it
    named (if any)."""
    with read_session() as session:
        entries = [e for e in open_entries(session=session) if e.account in own_accounts(role)]
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
        if entry is None or entry.account not in own_accounts(actor.role):
            raise LookupError(entry_id)
        if entry.handled_at is not None or entry.outcome is EntryOutcome.MATCHED:
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
        if entry is None or entry.account not in own_accounts(actor.role):
            raise LookupError(entry_id)
        if entry.handled_at is not None or entry.outcome is EntryOutcome.MATCHED:
            raise DecisionConflict(m.BANK_LINE_GONE)
        entry.handled_at, entry.handled_by = utcnow(), actor.name
        entry.handling = reason.strip()[:500]
        session.add(entry)


def _classify(credit: Credit, line: Line) -> int | None:
    """Store the line (one transaction each) with what it is; the invoice it pays in full,
    if any. A line that cannot be booked goes to the worklist with the reason; none raises."""
    number = _invoice_number(credit.remittance)
    with session_scope() as session:
        invoice = session.exec(select(Invoice).where(col(Invoice.number) == number)
                               ).first() if number and not credit.problem else None
        payee = get_settings().payment.payee(invoice.kind)[1].replace(" ", "").upper() \
            if invoice else ""
        if credit.problem:
            line.outcome, line.problem = EntryOutcome.UNMATCHED, credit.problem
        elif invoice is None:
            line.outcome = EntryOutcome.UNMATCHED
        elif payee != credit.account:  # a statement pays only the invoices of its account
            line.outcome = EntryOutcome.UNMATCHED
            line.problem = m.CAMT_LINE_ACCOUNT.format(account=credit.account,
                                                      invoice=invoice.number)
        elif invoice.status is InvoiceStatus.PAID:
            line.outcome = EntryOutcome.ALREADY_PAID
        elif credit.amount != invoice.amount:
            line.outcome = EntryOutcome.PARTIAL
        else:
            line.outcome = EntryOutcome.MATCHED
        if invoice is not None:
            line.invoice, line.expected = invoice.number, invoice.amount
            line.case = get_case(session=session, case_id=invoice.case_id).number
        assert line.outcome is not None
        session.add(BankEntry(
            account=credit.account[:40], reference=credit.reference[:120],
            statement=credit.statement[:120], booked_on=credit.booked_on,
            amount=credit.amount, remittance=credit.remittance[:500],
            debtor=credit.debtor[:200], invoice_id=invoice.id if invoice else None,
            outcome=line.outcome, problem=line.problem[:300]))
        return invoice.id if invoice is not None and line.outcome is EntryOutcome.MATCHED \
            else None


def _refused(credit: Credit, line: Line, reason: str) -> None:
    """A matched line whose payment the case would not take (booked before the submission,
    the case closed): not booked, on the worklist with the reason."""
    with session_scope() as session:
        entry = session.exec(select(BankEntry).where(
            col(BankEntry.account) == credit.account[:40],
            col(BankEntry.reference) == credit.reference[:120])).one()
        entry.outcome, entry.problem = EntryOutcome.UNMATCHED, reason[:300]
        session.add(entry)
    line.outcome, line.problem = EntryOutcome.UNMATCHED, reason


async def import_statement(content: bytes, *, actor: Actor) -> StatementReport:
    """Reads, matches and records, a line at a time, each in a transaction of its own; lines
    read before are reported as such. A line that cannot be booked never stops the rest.
    A statement of an account that is not the actor's own is refused whole, unread."""
    report = StatementReport()
    credits = read_statement(content)
    own = own_accounts(actor.role)
    foreign = sorted({c.account for c in credits} - own)
    if foreign:
        raise StatementError(m.CAMT_NOT_OWN_ACCOUNT.format(
            account=foreign[0], own=" of ".join(sorted(own))))
    for credit in credits:
        line = Line(credit, None)
        report.lines.append(line)
        try:
            invoice_id = _classify(credit, line)
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
            try:
                recorded = await record_invoice_payment(
                    invoice_id, credit.booked_on, credit.amount,
                    Actor(actor.role, f"{actor.name} (bankafschrift)"),  # not a claimed step
                    reference=f"{credit.account}:{credit.reference}")
            except InvalidInput as refused:
                _refused(credit, line, " ".join(refused.errors.values()))
                continue
            except CaseError as refused:
                _refused(credit, line, str(refused))
                continue
            if recorded.outcome == "already_paid":
                line.outcome = EntryOutcome.ALREADY_PAID
    return report
