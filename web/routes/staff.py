"""Staff pages: the case page with its one current action form, claiming a step, comments,
repairs and the mails sent for it (the inbox is in inbox.py).

Decisions go through `service.actions.act`, the same entry point as the CLI and the API, so
the page validates nothing itself: it shows the service's Dutch errors next to the fields.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any
from urllib.parse import quote
from uuid import uuid4

from fastapi import APIRouter, Depends, HTTPException, Request
from fastapi.responses import HTMLResponse, RedirectResponse, Response
from sqlmodel import Session, col, select

from domain import messages as m
from domain.decisions import CHOICE_LABELS, Decision, ReviewerAssignment, Withdrawal
from domain.errors import (
    CaseNotFound,
    DecisionConflict,
    InvalidInput,
    InvalidTransition,
    NotAllowed,
    Unavailable,
)
from domain.procedure import DECISIONS
from domain.states import CaseState
from models.case import (
    Case,
    case_policy,
    case_verdict,
    find_case,
    history,
)
from models.certificate import get_certificate
from models.document import case_documents
from models.intake import case_slots
from models.outbox import MailStatus, OutboxMail, case_mails
from models.practitioner import Practitioner
from models.registration import Registration
from models.review import Reviewer
from models.staff import StaffRole, StaffUser
from policies import load_policy
from service.actions import EVIDENCE_STATES, act, change_identity, restart_case
from service.claims import claim, claim_holder, release
from service.comments import MAX_LENGTH as COMMENT_MAX
from service.comments import add_comment, comments
from service.history import INPUT_LABELS, format_time, staff_history, yes_no
from service.mail import resend_mail
from service.read_model import (
    Phase,
    case_detail,
    case_progress,
    refresh_seconds,
    state_path,
)
from settings import get_settings
from tasks.rendering import file_size, format_number
from web.deps import db
from web.diagram import step_diagram
from web.forms import FormField, Id, form_fields, form_values, parse_form, small_int
from web.security import ACTOR_ROLES, actor_for, require_csrf, roles_allowed
from web.templating import templates

router = APIRouter(include_in_schema=False)
STAFF = roles_allowed(StaffRole.ASSOCIATION_STAFF, StaffRole.REGISTER_STAFF, StaffRole.ADMIN)
SPECIALISATIONS = ("KOT", "BOT", "PSOT", "GOT")

MAIL_NOT_FOUND = "Deze e-mail bestaat niet (meer) bij deze aanvraag."
CLAIMED = "U heeft deze stap opgepakt; collega's kunnen er nu geen besluit in nemen."
TAKEN_OVER = "U heeft deze stap overgenomen van {name}; dat staat in de geschiedenis."
RELEASED = "De stap is vrijgegeven."
RESENT = "De e-mail staat weer klaar om te versturen ({status})."
IDENTITY_CHANGED = "De gegevens van de oefentherapeut zijn gewijzigd; de wijziging is vastgelegd."
STEP_FOR = "Deze stap is voor: {roles}."
NOT_RECORDED = "Het besluit is niet vastgelegd. Verbeter de gemarkeerde velden."
COMMENTED = "Uw opmerking is toegevoegd. Alleen medewerkers zien haar."
STUCK_MARK = "Vastgelopen: herstarten nodig"

CATEGORY_LABELS = {"course": "Cursussen", "other": "Overige activiteiten",
                   "accredited": "Waarvan geaccrediteerd"}
REGISTRATION_LABELS = {"active": "Actief", "lapsed": "Verlopen", "superseded": "Opgevolgd"}
INVOICE_KINDS = {"intake": "Startgesprek", "reregistration": "Herregistratie"}
INVOICE_STATUS = {"open": "Open", "paid": "Betaald"}
MAIL_STATUS = {MailStatus.PENDING: "In de wachtrij", MailStatus.SENDING: "Wordt verzonden",
               MailStatus.SENT: "Verzonden", MailStatus.DEAD: "Onbestelbaar"}


def _decision(action: str | None) -> type[Decision] | None:
    return DECISIONS.get(action or "")


def _not_found(number: str) -> HTTPException:
    return HTTPException(status_code=404, detail=m.CASE_NOT_FOUND.format(case=number))


def case_or_404(session: Session, number: str) -> Case:
    try:
        return find_case(session=session, ref=number)
    except CaseNotFound as err:
        raise _not_found(number) from err


def specialisation_names() -> dict[str, str]:
    return {code: load_policy(code).name for code in SPECIALISATIONS}


def render_case(
    request: Request,
    session: Session,
    user: StaffUser,
    number: str,
    *,
    posted: str | None = None,
    values: Mapping[str, Any] | None = None,
    errors: Mapping[str, str] | None = None,
    notice: str | None = None,
    good: str | None = None,
    status: int = 200,
) -> Response:
    """The case page; after a refused POST it shows the typed values and Dutch errors."""
    case = case_or_404(session, number)
    case_id = case.id or 0
    registrations = session.exec(
        select(Registration)
        .where(Registration.practitioner_id == case.practitioner_id,
               Registration.specialisation == case.specialisation)
        .order_by(col(Registration.period_start).desc())
    ).all()
    events = history(session=session, case_id=case_id)
    mails = case_mails(session=session, case_id=case_id)
    detail = case_detail(session, case, events, mails)  # the same facts the API gives
    people, system = staff_history(session, case_id, events, mails)

    is_open = not case.state.is_closed
    step = _decision(case.awaiting_action)
    progress = case_progress(session, case)  # detail.progress is its phase, for the API
    pending = progress.phase in (Phase.PROCESSING, Phase.DELAYED)
    withdraw_pending = any(e.key == f"decision:{Withdrawal.action}" for e in events)
    role = ACTOR_ROLES[user.role]
    may_step = step is not None and progress.phase is Phase.WAITING and role in step.roles

    errors = dict(errors or {})
    step_fields: list[FormField] = []
    reviewers: list[Reviewer] = []
    if may_step and step is not None:
        mine = posted == step.action
        step_fields = form_fields(step, values if mine else None, errors if mine else None)
        if step is ReviewerAssignment:
            reviewers = list(session.exec(select(Reviewer).order_by(col(Reviewer.name))))
            for f in step_fields if reviewers else []:
                f.required, f.required_note = False, "alleen voor een nieuwe beoordelaar"
    withdraw_fields: list[FormField] = []
    may_withdraw = is_open and not withdraw_pending and role in Withdrawal.roles
    if may_withdraw:
        mine = posted == Withdrawal.action
        withdraw_fields = form_fields(Withdrawal, values if mine else None,
                                      errors if mine else None)
    identity_errors = errors if posted == "identity" else {}
    comment_error = errors.get("opmerking") if posted == "comment" else None
    withdraw_error = errors.get("bevestigen") if posted == Withdrawal.action else None
    shown = {f.name for f in step_fields + withdraw_fields if f.error} | set(identity_errors) \
        | ({"bevestigen"} if withdraw_error else set()) \
        | ({"opmerking"} if comment_error else set())
    stray = [f"{INPUT_LABELS.get(k, k)}: {v}" for k, v in errors.items() if k not in shown]
    if errors:
        notice = " ".join([notice or NOT_RECORDED, *stray])
    if pending and good == m.RECEIVED_PENDING:
        good = None  # the progress notice already says it

    holder = claim_holder(session, case)
    context = {
        "user": user, "case": case, "practitioner": detail.practitioner,
        "policy": case_policy(case), "verdict": case_verdict(case),
        "registrations": registrations, "invoices": detail.invoices,
        "reviews": detail.reviews, "certificate": detail.certificate,
        "certificate_pdf": (found := get_certificate(session=session, case_id=case_id))
        is not None and found.pdf_sha256 is not None,
        "mails": mails, "history": people, "system_history": system,
        "diagram": step_diagram(state_path(case, events)),
        "step": step, "progress": progress, "stuck": progress.phase is Phase.STUCK,
        "refresh_seconds": refresh_seconds(progress),
        "may_restart": progress.phase is Phase.STUCK
        and user.role in (StaffRole.REGISTER_STAFF, StaffRole.ADMIN),
        "may_step": may_step,
        "step_fields": step_fields, "may_withdraw": may_withdraw,
        "withdraw_fields": withdraw_fields, "withdraw_error": withdraw_error,
        "comments": comments(events), "comment_error": comment_error,
        "comment_value": (values or {}).get("opmerking", "") if posted == "comment" else "",
        "comment_max": COMMENT_MAX, "form_id": uuid4().hex,
        "reviewer_choices": [(r.id, f"{r.name} ({r.email})") for r in reviewers],
        "chosen_reviewer": (values or {}).get("beoordelaar", ""),
        "step_for": STEP_FOR.format(roles=", ".join(sorted(r.label for r in step.roles)))
        if step else "",
        "claimed_by": holder.name if holder else "",
        "claimed_by_me": holder is not None and holder.id == user.id,
        "may_claim": step is not None and role in step.roles and progress.phase is Phase.WAITING,
        "may_release_any": user.role is StaffRole.ADMIN,
        "dead_mails": [mail for mail in mails if mail.status is MailStatus.DEAD],
        "identity_values": values if posted == "identity" else {},
        "identity_errors": identity_errors,
        "notice": notice, "good": good,
        "category_labels": CATEGORY_LABELS, "registration_labels": REGISTRATION_LABELS,
        "invoice_kinds": INVOICE_KINDS, "invoice_status": INVOICE_STATUS,
        "mail_status": MAIL_STATUS, "outcome_labels": CHOICE_LABELS,
        "number": format_number, "time": format_time, "yes_no": yes_no,
        "case_url": f"/zaken/{quote(case.number)}",
        "documents": case_documents(session=session, case_id=case_id), "size": file_size,
        "slots": case_slots(session=session, case_id=case_id),
        "now": get_settings().current_moment(),
        "may_plan": case.state is CaseState.INTAKE_CALL
        and user.role in (StaffRole.ASSOCIATION_STAFF, StaffRole.ADMIN),
        "may_count": case.state in EVIDENCE_STATES
        and user.role in (StaffRole.ASSOCIATION_STAFF, StaffRole.ADMIN),
        "run_url": f"{get_settings().prefect.ui_url}/runs/flow-run/{case.flow_run_id}"
        if case.flow_run_id else None,
    }
    return templates().TemplateResponse(request, "case.html", context, status_code=status)


@router.get("/zaken/{number}", response_class=HTMLResponse)
def case_page(
    request: Request,
    number: str,
    user: StaffUser = STAFF,
    session: Session = Depends(db),
) -> Response:
    flash = request.session.pop("flash", None)  # what the last click did: said once
    good = flash if isinstance(flash, str) else None
    return render_case(request, session, user, number, good=good)


@router.post("/zaken/{number}/acties/{action}", dependencies=[STAFF, Depends(require_csrf)])
async def take_action(
    request: Request,
    number: str,
    action: str,
    user: StaffUser = STAFF,
    session: Session = Depends(db),
) -> Response:
    """One decision through the service; refusals come back on the case page."""
    kind = DECISIONS.get(action)
    if kind is None:
        raise HTTPException(status_code=404, detail=m.UNKNOWN_ACTION.format(
            action=action, actions=", ".join(DECISIONS)))
    typed = form_values(await request.form())
    if kind is Withdrawal and typed.get("bevestigen") != "ja":
        return render_case(request, session, user, number, posted=action, values=typed,
                            errors={"bevestigen": m.CONFIRM_WITHDRAW}, status=422)
    pause_key = None if kind is Withdrawal else typed.get("pause_key") or None
    picked = small_int(typed.get("beoordelaar", "")) if kind is ReviewerAssignment else None
    if picked is not None:
        chosen = session.get(Reviewer, picked)
        if chosen is not None:  # one from the admin's list instead of a typed one
            typed |= {"reviewer_name": chosen.name, "reviewer_email": chosen.email}
    try:
        outcome = await act(number, action, parse_form(kind, typed), actor=actor_for(user),
                            pause_key=pause_key)
    except CaseNotFound as err:
        raise _not_found(number) from err
    except NotAllowed as err:
        raise HTTPException(status_code=403, detail=str(err)) from err
    except InvalidInput as err:
        return render_case(request, session, user, number, posted=action, values=typed,
                            errors=err.errors, status=422)
    except (InvalidTransition, DecisionConflict) as err:
        return render_case(request, session, user, number, notice=str(err), status=409)
    request.session["flash"] = outcome.message
    return RedirectResponse(f"/zaken/{quote(outcome.number)}", status_code=303)


def _done(request: Request, number: str, message: str) -> Response:
    request.session["flash"] = message
    return RedirectResponse(f"/zaken/{quote(number)}", status_code=303)


def _claiming(request: Request, session: Session, user: StaffUser, number: str,
              how: str) -> Response:
    """Claim, take over or release the current step; refusals come back on the case page."""
    actor = actor_for(user)
    try:
        if how == "release":
            release(number, actor=actor)
            return _done(request, number, RELEASED)
        before = case_or_404(session, number)
        holder = claim_holder(session, before)
        claim(number, actor=actor, take_over=how == "take_over")
    except CaseNotFound as err:
        raise _not_found(number) from err
    except (DecisionConflict, InvalidTransition, NotAllowed) as err:
        return render_case(request, session, user, number, notice=str(err), status=409)
    if how == "take_over" and holder is not None and holder.id != user.id:
        return _done(request, number, TAKEN_OVER.format(name=holder.name))
    return _done(request, number, CLAIMED)


@router.post("/zaken/{number}/claimen", dependencies=[STAFF, Depends(require_csrf)])
def take_case(request: Request, number: str, user: StaffUser = STAFF,
              session: Session = Depends(db)) -> Response:
    """So two colleagues do not decide the same step at once."""
    return _claiming(request, session, user, number, "claim")


@router.post("/zaken/{number}/overnemen", dependencies=[STAFF, Depends(require_csrf)])
def take_over_case(request: Request, number: str, user: StaffUser = STAFF,
                   session: Session = Depends(db)) -> Response:
    """A colleague is away: the step is taken over, and the history says so."""
    return _claiming(request, session, user, number, "take_over")


@router.post("/zaken/{number}/vrijgeven", dependencies=[STAFF, Depends(require_csrf)])
def release_case(request: Request, number: str, user: StaffUser = STAFF,
                 session: Session = Depends(db)) -> Response:
    return _claiming(request, session, user, number, "release")


@router.post("/zaken/{number}/herstarten", dependencies=[STAFF, Depends(require_csrf)])
async def restart(request: Request, number: str, user: StaffUser = STAFF,
                  session: Session = Depends(db)) -> Response:
    """KP's repair action for a case marked stuck."""
    try:
        outcome = await restart_case(number, actor=actor_for(user))
    except CaseNotFound as err:
        raise _not_found(number) from err
    except NotAllowed as err:
        raise HTTPException(status_code=403, detail=str(err)) from err
    except (DecisionConflict, InvalidTransition, Unavailable) as err:
        return render_case(request, session, user, number, notice=str(err), status=409)
    return _done(request, number, outcome.message)


@router.post("/zaken/{number}/mails/{mail_id}/opnieuw", dependencies=[STAFF, Depends(require_csrf)])
async def resend(request: Request, number: str, mail_id: Id, user: StaffUser = STAFF,
                 session: Session = Depends(db)) -> Response:
    """A dead letter goes back in the outbox and is tried at once."""
    case = case_or_404(session, number)
    mail = session.get(OutboxMail, mail_id)
    if mail is None or mail.case_id != case.id:
        raise HTTPException(status_code=404, detail=MAIL_NOT_FOUND)
    try:
        sent = await resend_mail(mail_id, actor=actor_for(user))
    except InvalidTransition as err:
        return render_case(request, session, user, number, notice=str(err), status=409)
    return _done(request, number, RESENT.format(status=MAIL_STATUS[sent.status].lower()))


@router.post("/zaken/{number}/gegevens", dependencies=[STAFF, Depends(require_csrf)])
async def change_practitioner(request: Request, number: str, user: StaffUser = STAFF,
                              session: Session = Depends(db)) -> Response:
    """A deliberate, recorded change of the practitioner's name or e-mail address."""
    case = case_or_404(session, number)
    practitioner = session.get(Practitioner, case.practitioner_id)
    assert practitioner is not None
    typed = form_values(await request.form())
    try:
        change_identity(practitioner.kp_number, typed, actor=actor_for(user))
    except NotAllowed as err:
        raise HTTPException(status_code=403, detail=str(err)) from err
    except InvalidInput as err:
        return render_case(request, session, user, number, posted="identity", values=typed,
                            errors=err.errors, status=422)
    return _done(request, number, IDENTITY_CHANGED)


@router.post("/zaken/{number}/opmerkingen", dependencies=[STAFF, Depends(require_csrf)])
async def comment(request: Request, number: str, user: StaffUser = STAFF,
                  session: Session = Depends(db)) -> Response:
    """An internal comment, for colleagues only."""
    case_or_404(session, number)
    typed = form_values(await request.form())
    try:
        add_comment(number, typed.get("opmerking", ""), actor=actor_for(user),
                    form_id=typed.get("formulier", ""))
    except NotAllowed as err:
        raise HTTPException(status_code=403, detail=str(err)) from err
    except InvalidInput as err:
        return render_case(request, session, user, number, posted="comment", values=typed,
                            errors=err.errors, status=422)
    return _done(request, number, COMMENTED)


@router.get("/zaken/{number}/mails/{mail_id}", response_class=HTMLResponse)
def mail_page(
    request: Request,
    number: str,
    mail_id: Id,
    user: StaffUser = STAFF,
    session: Session = Depends(db),
) -> Response:
    """The mail as it was stored in the outbox; its html only inside a sandboxed frame."""
    case = case_or_404(session, number)
    mail = session.get(OutboxMail, mail_id)
    if mail is None or mail.case_id != case.id:
        raise HTTPException(status_code=404, detail=MAIL_NOT_FOUND)
    return templates().TemplateResponse(request, "mail.html", {
        "user": user, "case": case, "mail": mail, "mail_status": MAIL_STATUS,
        "time": format_time, "case_url": f"/zaken/{quote(case.number)}",
    })

