"""Who may start a re-registration (R4), checked in one place for every way a request comes
in: a register the system knows, a registration that has lapsed, no case already open for it.
Staff registering a request by mail and the practitioner's own way in read different words
when a case is already open; the rule is the same."""

from __future__ import annotations

from datetime import date

from sqlmodel import Session, select

from domain import messages as m
from domain.errors import InvalidInput, InvalidTransition, RegistrationNotLapsed
from domain.formatting import format_date
from models.case import Case
from models.registration import Registration
from policies import RegisterPolicy, load_policy, specialisations


def register_policy(specialisation: str) -> RegisterPolicy:
    """The policy of the register named by its code; InvalidInput naming the known ones."""
    code = specialisation.strip().upper()
    if code not in specialisations():
        raise InvalidInput({"specialisation": m.FIELD_CHOICE.format(
            choices=", ".join(specialisations()))})
    return load_policy(code)


def check_eligible(session: Session, *, policy: RegisterPolicy, registration: Registration,
                   on: date, open_case_text: str = m.OPEN_CASE_EXISTS) -> None:
    """R4: only a lapsed specialisation qualifies (before its submission deadline the portfolio
    is the way), and one case per practitioner and register at a time."""
    if not policy.is_lapsed(registration.period_end, on):
        raise RegistrationNotLapsed(m.NOT_LAPSED.format(
            specialisation=policy.name,
            deadline=format_date(policy.submission_deadline(registration.period_end))))
    for case in session.exec(select(Case).where(
            Case.practitioner_id == registration.practitioner_id,
            Case.specialisation == registration.specialisation)):
        if not case.state.is_closed:
            raise InvalidTransition(open_case_text.format(
                number=case.number, specialisation=policy.name), state=case.state)
