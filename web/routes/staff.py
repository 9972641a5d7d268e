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
from sqlmodel import Session

from domain import messages as m
from domain.decisions import CHOICE_LABELS, ReviewerAssignment, Withdrawal
from domain.errors import (
    CaseNotFound,
    DecisionConflict,
    InvalidInput,
    InvalidTransition,
    NotAllowed,
    Unavailable,
)
from domain.formatting import file_size, format_number, format_stamp
from domain.procedure import DECISIONS
from service.access_log import Looked, record_look
from service.accounts import StaffRole, StaffUser
from service.actions import act, restart_case
from service.case_page import MAIL_STATUS, case_mail, listed_reviewer, staff_case
from service.claims import claim, claim_holder, release
from service.comments import MAX_LENGTH as COMMENT_MAX
from service.comments import add_comment
from service.history import INPUT_LABELS, yes_no
from service.identity import change_case_identity
from service.mail import resend_mail
from service.progress import Phase, refresh_seconds
from service.read_model import case_by_number
from service.status_page import Case
from web.deps import db
from web.diagram import step_diagram
from web.forms import FormField, Id, form_fields, form_values, parse_form, small_int
from web.security import ACTOR_ROLES, actor_for, client_of, require_csrf, roles_allowed
from web.templating import templates

router = APIRouter(include_in_schema=False)
STAFF = roles_allowed(StaffRole.ASSOCIATION_STAFF, StaffRole.REGISTER_STAFF, StaffRole.ADMIN)

MAIL_NOT_FOUND = "Deze e-mail bestaat niet (meer) bij deze aanvraag."
CLAIMED = "U heeft deze stap opgepakt; collega's kunnen er nu geen besluit in nemen."
TAKEN_OVER = "U heeft deze stap overgenomen van {name}; dat staat in de geschiedenis."
RELEASED = "De stap is vrijgegeven."
RESENT = "De e-mail staat weer klaar om te versturen ({status})."
IDENTITY_CHANGED = "De gegevens van de oefentherapeut zijn gewijzigd; de wijziging is vastgelegd."
STEP_FOR = "Deze stap is voor: {roles}."
NOT_RECORDED = "Het besluit is niet vastgelegd. Verbeter de gemarkeerde velden."
COMMENTED = "Uw opmerking is toegevoegd. Alleen medewerkers zien haar."

CATEGORY_LABELS = {"course": "Cursussen", "other": "Overige activiteiten",
                   "accredited": "Waarvan geaccrediteerd"}


def _not_found(number: str) -> HTTPException:
    return HTTPException(status_code=404, detail=m.CASE_NOT_FOUND.format(case=number))


def case_or_404(session: Session, number: str) -> Case:
    try:
        return case_by_number(session, number)
    except CaseNotFound as err:
        raise _not_found(number) from err


def _mail_or_404(session: Session, number: str, mail_id: int) -> tuple[Case, Any]:
    try:
        return case_mail(session, number, mail_id)
    except CaseNotFound as err:
        raise _not_found(number) from err
    except LookupError as err:
        raise HTTPException(status_code=404, detail=MAIL_NOT_FOUND) from err


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
    try:
        view = staff_case(session, number, role=ACTOR_ROLES[user.role], staff_id=user.id)
    except CaseNotFound as err:
        raise _not_found(number) from err
    case, step, progress = view.case, view.step, view.progress
    record_look(case, Looked.CASE_PAGE, actor=actor_for(user), client=client_of(request))
    pending = progress.phase in (Phase.PROCESSING, Phase.DELAYED)

    errors = dict(errors or {})
    step_fields: list[FormField] = []
    if view.may_step and step is not None:
        mine = posted == step.action
        step_fields = form_fields(step, values if mine else None, errors if mine else None)
        for f in step_fields if step is ReviewerAssignment and view.reviewers else []:
            f.required, f.required_note = False, "alleen voor een nieuwe beoordelaar"
    withdraw_fields: list[FormField] = []
    if view.may_withdraw:
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

    context = {
        "user": user, "case": case, "practitioner": view.detail.practitioner,
        "policy": view.policy, "verdict": view.verdict,
        "registrations": view.registrations, "invoices": view.detail.invoices,
        "reviews": view.detail.reviews, "certificate": view.detail.certificate,
        "certificate_pdf": view.certificate_pdf,
        "mails": view.mails, "history": view.history, "system_history": view.system_history,
        "diagram": step_diagram(view.path),
        "step": step, "progress": progress, "stuck": progress.phase is Phase.STUCK,
        "refresh_seconds": refresh_seconds(progress),
        "may_restart": view.may_restart, "may_step": view.may_step,
        "step_fields": step_fields, "may_withdraw": view.may_withdraw,
        "withdraw_fields": withdraw_fields, "withdraw_error": withdraw_error,
        "comments": view.comments, "comment_error": comment_error,
        "comment_value": (values or {}).get("opmerking", "") if posted == "comment" else "",
        "comment_max": COMMENT_MAX, "form_id": uuid4().hex,
        "reviewer_choices": [(r.id, f"{r.name} ({r.email})") for r in view.reviewers],
        "chosen_reviewer": (values or {}).get("beoordelaar", ""),
        "step_for": STEP_FOR.format(roles=", ".join(sorted(r.label for r in step.roles)))
        if step else "",
        "claimed_by": view.claimed_by, "claimed_by_me": view.claimed_by_me,
        "may_claim": view.may_claim, "may_release_any": user.role is StaffRole.ADMIN,
        "dead_mails": view.dead_mails,
        "identity_values": values if posted == "identity" else {},
        "identity_errors": identity_errors,
        "notice": notice, "good": good,
        "category_labels": CATEGORY_LABELS,
        "mail_status": MAIL_STATUS, "outcome_labels": CHOICE_LABELS,
        "number": format_number, "time": format_stamp, "yes_no": yes_no,
        "case_url": f"/zaken/{quote(case.number)}",
        "documents": view.documents, "size": file_size,
        "slots": view.slots, "now": view.now,
        "may_plan": view.may_plan, "may_count": view.may_count, "run_url": view.run_url,
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
    chosen = listed_reviewer(session, picked) if picked is not None else None
    if chosen is not None:  # one from the admin's list instead of a typed one
        typed |= {"reviewer_name": chosen[0], "reviewer_email": chosen[1]}
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
    _mail_or_404(session, number, mail_id)
    try:
        sent = await resend_mail(mail_id, actor=actor_for(user))
    except InvalidTransition as err:
        return render_case(request, session, user, number, notice=str(err), status=409)
    return _done(request, number, RESENT.format(status=MAIL_STATUS[sent.status].lower()))


@router.post("/zaken/{number}/gegevens", dependencies=[STAFF, Depends(require_csrf)])
async def change_practitioner(request: Request, number: str, user: StaffUser = STAFF,
                              session: Session = Depends(db)) -> Response:
    """A deliberate, recorded change of the practitioner's name or e-mail address."""
    case_or_404(session, number)
    typed = form_values(await request.form())
    try:
        change_case_identity(number, typed, actor=actor_for(user))
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
    case, mail = _mail_or_404(session, number, mail_id)
    return templates().TemplateResponse(request, "mail.html", {
        "user": user, "case": case, "mail": mail, "mail_status": MAIL_STATUS,
        "time": format_stamp, "case_url": f"/zaken/{quote(case.number)}",
    })

