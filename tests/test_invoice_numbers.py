"""Invoice numbers stay gapless (Dutch invoice rules) when invoices are issued at the same
moment, on PostgreSQL: threads issue invoices for their own cases at once, the first of a new
year among them, and a transaction that is rolled back gives its number back."""

from __future__ import annotations

import threading
from datetime import date
from decimal import Decimal

from sqlmodel import select

from models.case import Case
from models.db import migrate, session_scope
from models.invoice import Invoice, InvoiceKind, issue_invoice
from models.practitioner import Practitioner
from tests.conftest import postgres_database

THREADS, EACH = 8, 5


class RolledBack(Exception):
    pass


def test_invoices_issued_at_the_same_moment_are_numbered_without_gaps() -> None:
    with postgres_database() as url:
        migrate(url)
        with session_scope(url) as session:
            practitioner = Practitioner(kp_number="99999999", name="Gelijktijdig",
                                        email="g@example.org", member=True)
            session.add(practitioner)
            session.flush()
            cases = [Case(number=f"HR-T-{i:04d}", practitioner_id=practitioner.id or 0,
                          specialisation="KOT", request_date=date(2031, 1, 2))
                     for i in range(THREADS * EACH + 1)]
            session.add_all(cases)
            session.flush()
            case_ids = [case.id or 0 for case in cases]
        start = threading.Barrier(THREADS + 1)
        failures: list[BaseException] = []

        def issue(ids: list[int]) -> None:
            start.wait()
            try:
                for case_id in ids:
                    with session_scope(url) as session:
                        issue_invoice(session=session, case_id=case_id,
                                      kind=InvoiceKind.REREGISTRATION, amount=Decimal("84"),
                                      issued_on=date(2031, 1, 2))
            except BaseException as err:  # noqa: BLE001 (reported below)
                failures.append(err)

        def roll_back() -> None:
            start.wait()
            try:
                with session_scope(url) as session:
                    issue_invoice(session=session, case_id=case_ids[-1],
                                  kind=InvoiceKind.REREGISTRATION, amount=Decimal("84"),
                                  issued_on=date(2031, 1, 2))
                    raise RolledBack
            except RolledBack:
                pass

        threads = [threading.Thread(target=issue, args=(case_ids[i * EACH:(i + 1) * EACH],))
                   for i in range(THREADS)] + [threading.Thread(target=roll_back)]
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join(timeout=120)
        assert not failures, failures
        with session_scope(url) as session:
            numbers = sorted(session.exec(select(Invoice.number)).all())
        assert numbers == [f"F-2031-{n:05d}" for n in range(1, THREADS * EACH + 1)]
