"""The step ledger in one read, for a run that starts from the top of its plan.

A resumed run replays its plan from the first step. Step by step, each done step and each
passed pause would be a Prefect task run again: late in a case about thirty, each a handful
of API calls, events and log lines for the Prefect server, for work that is already in our
database. One read at the start tells the run what it did, in order, and with what
decision at each pause, so it replays that from memory and starts real tasks only where it
left off.
"""

from __future__ import annotations

from typing import Any

from pydantic import BaseModel
from sqlmodel import col, select

from models.case import CaseEvent, get_case
from models.db import session_scope
from models.decision import DecisionRecord
from tasks.retrying import pause_task


class Entry(BaseModel):
    """A step done (`step:<name>`) or a pause opened (`pause:<key>`), with the decision the
    run acted on there, if it went past."""

    key: str
    decision: dict[str, Any] | None = None


class Ledger(BaseModel):
    """The case's steps and pauses in the order the run made them, and the plan version the
    case started under (it keeps that plan)."""

    entries: list[Entry] = []
    plan_version: int = 1


@pause_task
def read_ledger(case_id: int) -> Ledger:
    """Read fresh every time (never cached): the run needs the ledger as it is now."""
    with session_scope() as session:
        events = session.exec(select(CaseEvent.key).where(
            CaseEvent.case_id == case_id,
            col(CaseEvent.key).startswith("step:") | col(CaseEvent.key).startswith("pause:"),
        ).order_by(col(CaseEvent.id)))
        consumed = {record.pause_key: dict(record.input) for record in session.exec(
            select(DecisionRecord).where(DecisionRecord.case_id == case_id,
                                         col(DecisionRecord.consumed_at).is_not(None)))}
        entries = [Entry(key=key, decision=consumed.get(key.removeprefix("pause:")))
                   for key in events]
        return Ledger(entries=entries, plan_version=get_case(
            session=session, case_id=case_id).plan_version)
