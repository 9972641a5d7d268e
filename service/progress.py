"""The one rule for "being processed": a recorded decision the run has not passed yet is
*processing* for a short while, then *delayed* (the reconciler is on it), and a case the
reconciler gave up on, or that waited too long, is *stuck*, which staff see with its cause
and the practitioner as a plain delay. Pages, the inbox and the API all read it here.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta
from enum import StrEnum

from sqlalchemy import ColumnElement, and_, exists, or_
from sqlmodel import Session, col, select

from domain import messages as m
from domain.decisions import Withdrawal
from domain.formatting import format_when
from domain.states import CLOSED_STATES
from models.case import Case
from models.db import utcnow
from models.decision import DecisionRecord, unconsumed
from models.sweep import last_sweep
from settings import get_settings


class Phase(StrEnum):
    WAITING = "waiting"  # for a person
    PROCESSING = "processing"
    DELAYED = "delayed"
    STUCK = "stuck"
    CLOSED = "closed"


@dataclass(frozen=True)
class Progress:
    phase: Phase
    staff_text: str | None = None
    public_text: str | None = None
    since: datetime | None = None


DELAYED_AFTER = timedelta(minutes=2)


PUBLIC_DELAYED = (
    "De verwerking van uw aanvraag duurt langer dan normaal. Wij lossen dit op; u hoeft niets "
    "te doen."
)


PUBLIC_RECEIVED = "Ontvangen; het wordt nu verwerkt."


@dataclass(frozen=True)
class SweepHealth:
    """When the sweep last finished, and whether that is longer ago than it should be."""

    last: datetime | None
    late: bool

    @property
    def staff_text(self) -> str:
        if self.last is None:
            return m.SWEEP_NEVER
        return (m.SWEEP_LATE if self.late else m.SWEEP_LAST).format(last=format_when(self.last))


def sweep_health(session: Session, now: datetime | None = None) -> SweepHealth:
    last = last_sweep(session=session)
    limit = timedelta(minutes=get_settings().repair.sweep_late_minutes)
    return SweepHealth(last, last is not None and (now or utcnow()) - last > limit)


def case_progress(session: Session, case: Case, now: datetime | None = None) -> Progress:
    """Waiting for a person; or a decision being processed, delayed (the sweep repairs it:
    said only while sweeps come), or stuck: marked by the reconciler, or waiting longer than
    `repair.stuck_after_minutes` for whatever reason, the sweep's absence included."""
    now = now or utcnow()
    if case.state.is_closed:
        return Progress(Phase.CLOSED)
    if case.stuck_reason is not None:
        return Progress(Phase.STUCK, case.stuck_reason, PUBLIC_DELAYED, case.stuck_since)
    pending = unconsumed(session=session, case_ids=[case.id or 0]).get(case.id or 0, [])
    waiting_for = [r.recorded_at for r in pending
                   if r.pause_key in (case.awaiting_key, Withdrawal.action)]
    if case.awaiting_key is not None and not waiting_for:
        return Progress(Phase.WAITING)
    since = min(waiting_for) if waiting_for else case.updated_at
    if now - since <= DELAYED_AFTER:
        return Progress(Phase.PROCESSING, m.RECEIVED_PENDING, PUBLIC_RECEIVED, since)
    health = sweep_health(session, now)
    late = m.SWEEP_LATE_CAUSE.format(last=format_when(health.last)) if health.late and health.last \
        else ""
    repair = get_settings().repair
    if now - since > timedelta(minutes=repair.stuck_after_minutes):
        return Progress(Phase.STUCK, m.WAITING_TOO_LONG.format(
            since=format_when(since), cause=late), PUBLIC_DELAYED, since)
    text = m.DELAYED_NO_SWEEP.format(last=format_when(health.last),
                                     minutes=repair.stuck_after_minutes) \
        if late and health.last else m.DELAYED
    return Progress(Phase.DELAYED, text, PUBLIC_DELAYED, since)


def waiting_too_long(now: datetime) -> ColumnElement[bool]:
    """SQL for `case_progress`'s stuck-by-waiting: a decision on the awaited pause (or a
    withdrawal) unprocessed for longer than the limit, or a case that reached no pause for as
    long. Cases marked by the reconciler are `Case.stuck_reason`."""
    cutoff = now - timedelta(minutes=get_settings().repair.stuck_after_minutes)
    unprocessed = exists().where(
        col(DecisionRecord.case_id) == Case.id, col(DecisionRecord.consumed_at).is_(None),
        col(DecisionRecord.recorded_at) < cutoff,
        or_(col(DecisionRecord.pause_key) == Case.awaiting_key,
            col(DecisionRecord.pause_key) == Withdrawal.action))
    return and_(col(Case.state).not_in(CLOSED_STATES), or_(
        unprocessed, and_(col(Case.awaiting_key).is_(None), col(Case.updated_at) < cutoff)))


def stuck_cases(session: Session, case_ids: list[int], now: datetime | None = None) -> set[int]:
    """Of these cases, those stuck either way (the inbox's mark)."""
    if not case_ids:
        return set()
    found = session.exec(select(Case.id).where(
        col(Case.id).in_(case_ids),
        or_(col(Case.stuck_reason).is_not(None), waiting_too_long(now or utcnow()))))
    return {case_id for case_id in found if case_id is not None}


def refresh_seconds(progress: Progress) -> int | None:
    """A page that shows a step being processed reloads itself (no JavaScript needed) until
    the step is done: seconds while it should be, less often once it is late."""
    return {Phase.PROCESSING: 3, Phase.DELAYED: 30}.get(progress.phase)
