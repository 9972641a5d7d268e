"""The register's calendar: reminders before a period ends, the mail that the submission window
runs (R2), and the lapse (R4) that takes a specialisation out of the public register.

Each notice is a row with its outbox mail, written in one transaction per registration and
unique per registration and kind: a sweep that runs twice, is retried, or is killed between two
registrations sends nothing twice. Registrations are selected by period-end range per register
(`RegisterPolicy.period_ends_due`), so a daily pass reads only the few that are due.
"""

from __future__ import annotations

from collections import Counter
from datetime import date

from prefect import task
from prefect.cache_policies import NO_CACHE
from sqlalchemy import exists, update
from sqlalchemy.exc import IntegrityError
from sqlmodel import col, select

from adapters.links import start_url
from adapters.outbox import write_mail
from models.db import read_session, session_scope
from models.practitioner import Practitioner
from models.registration import Registration, RegistrationNotice, RegistrationStatus
from policies import RegisterPolicy, available_codes, load_policy

TEMPLATES = {"reminder": "registration_reminder", "window": "submission_window",
             "lapse": "registration_lapsed"}


@task(cache_policy=NO_CACHE, retries=1, retry_delay_seconds=5)
def mark_lapsed_registrations(today: date) -> int:
    """R4: from W + 1 (end + 2 months + 1 day) a specialisation is lapsed and no longer
    visible; a base registration moves to the diploma register (also not visible here)."""
    changed = 0
    with session_scope() as session:
        for code in available_codes():
            result = session.execute(
                update(Registration)
                .where(col(Registration.specialisation) == code)
                .where(col(Registration.status) == RegistrationStatus.ACTIVE)
                .where(col(Registration.period_end) <= load_policy(code).lapsed_through(today))
                .values(status=RegistrationStatus.LAPSED, visible=False))
            changed += result.rowcount  # type: ignore[attr-defined]
    return changed


@task(cache_policy=NO_CACHE, retries=1, retry_delay_seconds=5)
def send_calendar_notices(today: date) -> dict[str, int]:
    """The notices due on `today`, per kind. A notice is sent up to the policy's
    `catch_up_days` late (the sweep was down), unless the next one is already due: after a
    long outage a practitioner gets the notice that still fits, not a stale reminder."""
    sent: Counter[str] = Counter()
    for code in available_codes():
        policy = load_policy(code)
        for kind, _ in policy.notices(today):
            span = policy.period_ends_due(kind, today)
            if span is None:
                continue
            for registration_id in _due(code, kind, span):
                sent[kind] += _notify(policy, kind, registration_id, today)
    return dict(sent)


def _due(code: str, kind: str, span: tuple[date, date]) -> list[int]:
    statuses = [RegistrationStatus.ACTIVE]
    if kind == "lapse":  # the sweep's R4 pass may have marked it before its mail went out
        statuses.append(RegistrationStatus.LAPSED)
    notified = exists().where(col(RegistrationNotice.registration_id) == Registration.id) \
        .where(col(RegistrationNotice.kind) == kind)
    with read_session() as session:
        return [i for i in session.exec(
            select(Registration.id)
            .where(col(Registration.specialisation) == code)
            .where(col(Registration.period_end).between(*span))
            .where(col(Registration.status).in_(statuses))
            .where(~notified)
            .order_by(col(Registration.id))) if i is not None]


def _notify(policy: RegisterPolicy, kind: str, registration_id: int, today: date) -> bool:
    """One registration's notice and mail, or nothing if another sweep was first."""
    try:
        with session_scope() as session:
            registration = session.get(Registration, registration_id, with_for_update=True)
            assert registration is not None
            practitioner = session.get(Practitioner, registration.practitioner_id)
            assert practitioner is not None
            due = dict(policy.notices(registration.period_end))[kind]
            template = TEMPLATES[kind.split("-")[0]]
            context = {
                "case_number": f"KP-nummer {practitioner.kp_number}",
                "practitioner_name": practitioner.name,
                "kp_number": practitioner.kp_number,
                "specialisation": policy.name,
                "register": policy.register,
                "is_specialisation": policy.is_specialisation,
                "period_start": registration.period_start,
                "period_end": registration.period_end,
                "deadline": policy.submission_deadline(registration.period_end),
                "intake_fee_non_member": policy.fees.intake_non_member,
                "start_url": start_url(practitioner.kp_number, policy.code),
            }
            session.add(RegistrationNotice(registration_id=registration_id, kind=kind,
                                           due_on=due, sent_on=today))
            write_mail(session, key=f"registration:{registration_id}:{kind}", template=template,
                       recipient=practitioner.email, context=context)
            if kind == "lapse" and registration.status is RegistrationStatus.ACTIVE:
                registration.status, registration.visible = RegistrationStatus.LAPSED, False
                session.add(registration)
    except IntegrityError:
        return False
    return True
