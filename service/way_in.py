"""The way in: a practitioner with a lapsed specialisation asks to re-register on their own.

Seed 001 starts the procedure with an e-mail to VvOCM carrying the portfolio overview and an
extract of the patient records (R5). Here the practitioner gives KP number, e-mail address and
specialisation; nothing is created until the address is confirmed by the link mailed to it.
That link opens the upload form, and the case is registered with both files at once.

Only addresses the register knows are used: the KP number must be in the imported register,
and the address must be the one on file (changing it is a staff action), so nobody can start
a case in someone else's name. The page gives one answer whatever was entered, so it tells a
stranger nothing about who is registered; what the register knows (the link, or why it cannot
start: not lapsed yet, with the last day of regular re-registration (R2, R4), a case already
open, no registration in that specialisation) goes only into a mail to the address on file.
Attempts are throttled per client and per KP number.
"""

from __future__ import annotations

from collections.abc import Sequence
from contextlib import suppress
from dataclasses import dataclass
from datetime import timedelta
from typing import Any

from pydantic import BaseModel, EmailStr, Field
from sqlalchemy.exc import IntegrityError
from sqlmodel import Session

from adapters.links import read_token, request_url
from adapters.outbox import write_mail
from domain import messages as m
from domain.errors import InvalidInput, InvalidTransition, RegistrationNotLapsed, Throttled
from domain.states import Role
from models.db import read_session, session_scope, utcnow
from models.practitioner import Practitioner, get_by_kp_number
from models.registration import latest_registration
from models.throttle import hits, record_hit
from policies import RegisterPolicy, load_policy
from service.actions import Outcome, open_case
from service.actors import Actor
from service.documents import Upload
from service.eligibility import check_eligible, register_policy
from service.validation import KP_NUMBER, parse_input, same_text
from settings import get_settings
from tasks.mail import DeliveryFailed, deliver_pending

WAY_IN_CLIENT, WAY_IN_KP = "way-in-client", "way-in-kp"


class RequestStart(BaseModel):
    kp_number: str = Field(pattern=KP_NUMBER, description="KP-nummer: 5 tot 9 cijfers")
    email: EmailStr
    specialisation: str = Field(max_length=10)


@dataclass(frozen=True)
class Eligible:
    practitioner: Practitioner
    policy: RegisterPolicy




def _eligible(session: Session, start: RequestStart) -> Eligible:
    """The practitioner and register, or the Dutch reason this request cannot start."""
    policy = register_policy(start.specialisation)
    practitioner = get_by_kp_number(session=session, kp_number=start.kp_number)
    if practitioner is None:
        raise InvalidInput({"kp_number": m.REQUEST_KP_UNKNOWN.format(kp=start.kp_number)})
    if not same_text(practitioner.email, str(start.email)):
        raise InvalidInput({"email": m.REQUEST_EMAIL_DIFFERS.format(kp=start.kp_number)})
    assert practitioner.id is not None
    registration = latest_registration(session=session, practitioner_id=practitioner.id,
                                       specialisation=policy.code)
    if registration is None:
        raise InvalidInput({"specialisation": m.NO_REGISTRATION.format(
            specialisation=policy.name, kp=start.kp_number)})
    check_eligible(session, policy=policy, registration=registration,
                   on=get_settings().current_date(), open_case_text=m.REQUEST_ALREADY_OPEN)
    return Eligible(practitioner, policy)


async def ask_confirmation(data: dict[str, Any], *, client: str) -> None:
    """Checks the request and mails the address on file what the register has to say: the
    confirmation link, or why the request cannot start. Nothing for a KP number it does not
    know, or an address that is not the one on file; the caller's answer is the same either
    way. At most one mail per request per clock hour (the hour is in the outbox key, so a
    double click sends one). InvalidInput only for what is wrong in itself (no KP number's
    shape, no e-mail address, no specialisation); Throttled for too many attempts."""
    start: RequestStart = parse_input(RequestStart, data)
    code = register_policy(start.specialisation).code
    web = get_settings().web
    key = f"request:{start.kp_number}:{code}:{utcnow():%Y%m%d%H}"
    try:
        with session_scope() as session:
            hour = timedelta(hours=1)
            if hits(session=session, kind=WAY_IN_CLIENT, key=client, within=hour) \
                    >= web.way_in_per_client or hits(
                    session=session, kind=WAY_IN_KP, key=start.kp_number, within=hour) \
                    >= web.way_in_per_kp_number:
                raise Throttled(m.REQUEST_THROTTLED)
            record_hit(session=session, kind=WAY_IN_CLIENT, key=client)
            record_hit(session=session, kind=WAY_IN_KP, key=start.kp_number)
        with session_scope() as session:
            mail = _answer(session, start, code)
            if mail is None:
                return
            template, recipient, context = mail
            if not write_mail(session, key=key, template=template, recipient=recipient,
                              context=context):
                return
    except IntegrityError:  # the other click of a double click wrote it
        return
    with suppress(DeliveryFailed):  # it stays in the outbox; the sweep sends it
        await deliver_pending(key=key)


def _answer(session: Session, start: RequestStart,
            code: str) -> tuple[str, str, dict[str, Any]] | None:
    """The mail for this request (template, the address on file, context), or None when the
    register knows no such practitioner at this address."""
    practitioner = get_by_kp_number(session=session, kp_number=start.kp_number)
    if practitioner is None or not same_text(practitioner.email, str(start.email)):
        return None
    policy = load_policy(code)
    context: dict[str, Any] = {
        "case_number": f"KP-nummer {start.kp_number}", "practitioner_name": practitioner.name,
        "kp_number": start.kp_number, "specialisation": policy.name}
    try:
        found = _eligible(session, start)
    except (InvalidInput, RegistrationNotLapsed, InvalidTransition) as refused:
        reason = " ".join(refused.errors.values()) if isinstance(refused, InvalidInput) \
            else str(refused)
        return "request_not_possible", practitioner.email, {**context, "reason": reason}
    return "request_confirmation", found.practitioner.email, {
        **context, "request_url": request_url(start.kp_number, found.policy.code,
                                              found.practitioner.email),
        "hours": get_settings().links.request_hours}


@dataclass(frozen=True)
class ConfirmedRequest:
    kp_number: str
    specialisation: str
    email: str
    name: str
    specialisation_name: str


def confirmed_request(token: str) -> ConfirmedRequest:
    """What a confirmation link stands for, checked again now (the case may have started, the
    address changed). LinkExpired and LinkInvalid pass through; so do the refusals above."""
    claims = read_token("request", token)
    start = RequestStart(kp_number=claims["kp"], email=claims["email"],
                         specialisation=claims["specialisation"])
    with read_session() as session:
        found = _eligible(session, start)
    return ConfirmedRequest(start.kp_number, found.policy.code, found.practitioner.email,
                            found.practitioner.name, found.policy.name)


async def open_confirmed_request(token: str, documents: Sequence[Upload]) -> Outcome:
    """Registers the case with both files, dated today (the day the request reached us)."""
    request = confirmed_request(token)
    with read_session() as session:
        practitioner = get_by_kp_number(session=session, kp_number=request.kp_number)
        assert practitioner is not None
        member = practitioner.member
    return await open_case({
        "kp_number": request.kp_number, "name": request.name, "email": request.email,
        "member": member, "specialisation": request.specialisation,
        "request_date": get_settings().current_date().isoformat(),
    }, actor=Actor(Role.PRACTITIONER, request.name), documents=documents)
