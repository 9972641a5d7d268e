"""Staff pages: the inbox of cases waiting for my role, the case page with its one current
action form, claiming a case, and the mails sent for it.

Decisions go through `service.actions.act`, the same entry point as the CLI and the API, so
the page validates nothing itself: it shows the service's Dutch errors next to the fields.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, replace
from datetime import UTC, date, datetime
from math import ceil
from typing import Any
from urllib.parse import quote, urlencode
from uuid import uuid4

from fastapi import APIRouter, Depends, HTTPException, Request
from fastapi.responses import HTMLResponse, RedirectResponse, Response
from sqlmodel import Session, col, select

from domain import messages as m
from domain.errors import (
    CaseNotFound,
    DecisionConflict,
    InvalidInput,
    InvalidTransition,
    NotAllowed,
    Unavailable,
)
from domain.states import ROLE_LABELS, STATE_LABELS, CaseState, Role
from flows.inputs import DECISIONS, FIELD_TITLES, Decision, ReviewerAssignment, Withdrawal
from models.case import (
    Case,
    CaseEvent,
    EventKind,
    case_policy,
    case_verdict,
    find_case,
    history,
)
from models.certificate import get_certificate
from models.decision import unconsumed
from models.invoice import case_invoices
from models.outbox import MailStatus, OutboxMail, case_mails
from models.practitioner import Practitioner
from models.registration import Registration
from models.review import Reviewer, case_reviews, get_reviewer
from models.staff import StaffRole, StaffUser
from policies import load_policy
from service.actions import act, change_identity, restart_case
from service.claims import claim, claim_holder, release
from service.comments import MAX_LENGTH as COMMENT_MAX
from service.comments import add_comment, comments
from service.mail import resend_mail
from service.read_model import (
    CaseQuery,
    Phase,
    case_progress,
    find_cases,
    refresh_seconds,
    state_path,
)
from settings import AMSTERDAM, get_settings
from tasks.decisions import decision_key
from tasks.rendering import format_date, format_number
from web.deps import db
from web.diagram import step_diagram
from web.forms import CHOICE_LABELS, FormField, form_fields, page_number, parse_form
from web.security import ACTOR_ROLES, actor_for, require_csrf, roles_allowed
from web.templating import templates

router = APIRouter(include_in_schema=False)
STAFF = roles_allowed(StaffRole.ASSOCIATION_STAFF, StaffRole.REGISTER_STAFF, StaffRole.ADMIN)
SPECIALISATIONS = ("KOT", "BOT", "PSOT", "GOT")

MAIL_NOT_FOUND = "Deze e-mail bestaat niet (meer) bij deze aanvraag."
INBOX_EMPTY_MINE = "Er wachten nu geen aanvragen op een besluit van u. Mooi werk!"
INBOX_EMPTY_ALL = "Er zijn geen open aanvragen."
INBOX_EMPTY_FILTERED = "Geen aanvragen gevonden die aan de filters voldoen."
CLAIMED = "U heeft deze stap opgepakt; collega's kunnen er nu geen besluit in nemen."
TAKEN_OVER = "U heeft deze stap overgenomen van {name}; dat staat in de geschiedenis."
RELEASED = "De stap is vrijgegeven."
RESENT = "De e-mail staat weer klaar om te versturen ({status})."
IDENTITY_CHANGED = "De gegevens van de oefentherapeut zijn gewijzigd; de wijziging is vastgelegd."
STEP_FOR = "Deze stap is voor: {roles}."
NOT_RECORDED = "Het besluit is niet vastgelegd. Verbeter de gemarkeerde velden."
COMMENTED = "Uw opmerking is toegevoegd. Alleen medewerkers zien haar."
STUCK_MARK = "Vastgelopen: herstarten nodig"

STEP_LABELS = {
    "acknowledge-request": "Aanvraag bevestigd aan de oefentherapeut",
    "invite-to-intake-call": "Uitgenodigd voor een startgesprek",
    "decline": "Niet toereikend: aanvraag afgewezen",
    "advise-reopening": "Advies tot heropenen aan KP gestuurd",
    "confirm-reopening": "Heropenen portfolio bevestigd",
    "open-submission": "Dossier indienen opengesteld",
    "invoice-application": "Factuur verstuurd",
    "confirm-payment": "Betaling bevestigd",
    "request-completion": "Ontbrekende onderdelen opgevraagd",
    "resume-completeness": "Volledigheid opnieuw in controle",
    "assign-reviewer": "Beoordelaar gekoppeld",
    "request-additions": "Aanvulling gevraagd",
    "resume-review": "Beoordeling hervat na aanvulling",
    "certify": "Geherregistreerd; bewijs verstuurd",
    "reject": "Afgewezen na beoordeling",
    "withdrawn": "Aanvraag ingetrokken",
    "expired": "Termijn verstreken: aanvraag gesloten",
    "open_case": "Aanvraag geregistreerd",
    "claim_taken_over": "Stap overgenomen",
    "claim_released": "Stap vrijgegeven door beheerder",
    "mail_resent": "E-mail opnieuw verstuurd",
    "repair": "Workflow opnieuw gestart",
    "stuck": "Vastgelopen",
    "run_stopped": "Workflow-run gestopt",
    "comment": "Interne opmerking",
}
INPUT_LABELS = {
    **FIELD_TITLES, "kp_number": "KP-nummer", "name": "Naam", "email": "E-mailadres",
    "member": "Lid VvOCM", "specialisation": "Specialisatie", "request_date": "Datum aanvraag",
    "previous_period_start": "Begin vorige periode", "due_on": "Uiterlijk",
    "errors": "Fouten", "text": "Opmerking",
}
CATEGORY_LABELS = {"course": "Cursussen", "other": "Overige activiteiten",
                   "accredited": "Waarvan geaccrediteerd"}
REGISTRATION_LABELS = {"active": "Actief", "lapsed": "Verlopen", "superseded": "Opgevolgd"}
INVOICE_KINDS = {"intake": "Startgesprek", "reregistration": "Herregistratie"}
INVOICE_STATUS = {"open": "Open", "paid": "Betaald"}
MAIL_STATUS = {MailStatus.PENDING: "In de wachtrij", MailStatus.SENDING: "Wordt verzonden",
               MailStatus.SENT: "Verzonden", MailStatus.DEAD: "Onbestelbaar"}


def _local(moment: datetime) -> datetime:
    """SQLite hands timestamps back without a zone; they were written in UTC."""
    aware = moment if moment.tzinfo is not None else moment.replace(tzinfo=UTC)
    return aware.astimezone(AMSTERDAM)


def format_time(moment: datetime | None) -> str:
    return f"{_local(moment):%d-%m-%Y %H:%M}" if moment is not None else ""


def _yes_no(value: bool) -> str:
    return "ja" if value else "nee"


def _decision(action: str | None) -> type[Decision] | None:
    return DECISIONS.get(action or "")


def _not_found(number: str) -> HTTPException:
    return HTTPException(status_code=404, detail=m.CASE_NOT_FOUND.format(case=number))


def _case_or_404(session: Session, number: str) -> Case:
    try:
        return find_case(session=session, ref=number)
    except CaseNotFound as err:
        raise _not_found(number) from err


def _specialisation_names() -> dict[str, str]:
    return {code: load_policy(code).name for code in SPECIALISATIONS}


# --- inbox ------------------------------------------------------------------------------------


@dataclass
class InboxRow:
    case: Case
    practitioner: Practitioner
    awaited: str
    due_text: str
    urgency: str  # "overdue", "soon" or ""
    claimed_by: str
    stuck: bool
    supplied: bool  # back from the practitioner with what was missing


SOON_DAYS = 7


def _due(case: Case, today: date) -> tuple[str, str]:
    """The due date with what it means today, and how urgent it is."""
    if case.due_on is None or case.state.is_closed:
        return "", ""
    days = (case.due_on - today).days
    if days < 0:
        return f"{format_date(case.due_on)} ({-days} dag{'en' if days < -1 else ''} te laat)", \
            "overdue"
    if days == 0:
        return f"{format_date(case.due_on)} (vandaag)", "soon"
    return f"{format_date(case.due_on)} (nog {days} dag{'en' if days > 1 else ''})", \
        "soon" if days <= SOON_DAYS else ""


@router.get("/inbox", response_class=HTMLResponse)
def inbox(
    request: Request,
    status: str = "",
    specialisatie: str = "",
    q: str = "",
    alle: str = "",
    pagina: str = "1",
    user: StaffUser = STAFF,
    session: Session = Depends(db),
) -> Response:
    """Cases waiting for this role's decision (admin: all open cases), the most urgent due date
    first; a search looks through all cases, closed ones included."""
    search = q.strip()
    state = status if status in {s.value for s in CaseState} else ""
    everything = bool(search) or (state != "" and CaseState(state).is_closed)
    show_all = bool(alle) or user.role is StaffRole.ADMIN or everything
    code = specialisatie.upper() if specialisatie.upper() in SPECIALISATIONS else ""

    size = get_settings().web.page_size
    role = ACTOR_ROLES[user.role]
    query = CaseQuery(
        state=CaseState(state) if state else None, specialisation=code, search=search,
        waiting_for=None if show_all else tuple(
            action for action, kind in DECISIONS.items() if role in kind.roles),
        with_stuck=user.role is StaffRole.REGISTER_STAFF,  # KP restarts what is stuck
        open_only=not everything, limit=size, offset=(page_number(pagina) - 1) * size)
    found, total = find_cases(session, query)
    pages = max(1, ceil(total / size))
    page = min(page_number(pagina), pages)
    if page < page_number(pagina):  # an old link past the last page: show the last one
        found, total = find_cases(session, replace(query, offset=(page - 1) * size))

    today = get_settings().current_date()
    rows = []
    for case, practitioner in found:
        awaited = _decision(case.awaiting_action)
        holder = claim_holder(session, case)
        due_text, urgency = _due(case, today)
        rows.append(InboxRow(
            case=case, practitioner=practitioner,
            awaited="" if case.state.is_closed else STUCK_MARK if case.stuck_reason
            else awaited.title if awaited else m.RECEIVED_PENDING,
            due_text=due_text, urgency=urgency,
            claimed_by=holder.name if holder else "", stuck=case.stuck_reason is not None,
            supplied=(case.awaiting_key or "").startswith("completeness-")
            and case.awaiting_key != "completeness-1",
        ))

    filters = {"status": state, "specialisatie": code, "q": search,
               "alle": "1" if bool(alle) else ""}
    kept = {k: v for k, v in filters.items() if v}

    def page_url(number: int) -> str:
        return "/inbox?" + urlencode({**kept, "pagina": number})

    return templates().TemplateResponse(request, "inbox.html", {
        "user": user, "rows": rows, "filters": filters, "show_all": show_all,
        "everything": everything, "role_label": ACTOR_ROLES[user.role].label,
        "states": list(CaseState), "specialisations": _specialisation_names(),
        "page": page, "pages": pages, "total": total,
        "previous_url": page_url(page - 1) if page > 1 else None,
        "next_url": page_url(page + 1) if page < pages else None,
        "empty_message": INBOX_EMPTY_FILTERED if kept
        else (INBOX_EMPTY_ALL if show_all else INBOX_EMPTY_MINE),
    })


# --- case page --------------------------------------------------------------------------------


@dataclass
class HistoryRow:
    at: str
    who: str
    action: str
    summary: str
    from_state: str
    to_state: str
    mails: list[tuple[str, int | None]]


def _action_label(event: CaseEvent) -> str:
    kind_prefix, _, rest = event.action.partition(":")
    if rest and kind_prefix == "awaiting":
        awaited = _decision(rest)
        return f"Wacht op: {awaited.title if awaited else rest}"
    if rest and kind_prefix == "rejected":
        refused = _decision(rest)
        return f"Ongeldige invoer geweigerd: {refused.title if refused else rest}"
    if event.kind is EventKind.DECISION and (decided := _decision(event.action)):
        return decided.title
    base, _, suffix = event.action.rpartition("-")
    if suffix.isdigit() and base in STEP_LABELS:
        return f"{STEP_LABELS[base]} ({suffix})"
    return STEP_LABELS.get(event.action, event.action)


def _value_text(value: Any) -> str:
    if isinstance(value, bool):
        return _yes_no(value)
    text = str(value)
    if text in CHOICE_LABELS:
        return CHOICE_LABELS[text]
    try:
        return format_date(date.fromisoformat(text))
    except ValueError:
        return text if len(text) <= 160 else text[:157] + "..."


def _summary(data: Mapping[str, Any]) -> str:
    """The input in a line: scalar fields only (the portfolio itself is shown as evidence)."""
    parts = [f"{INPUT_LABELS.get(key, key)}: {_value_text(value)}"
             for key, value in data.items()
             if not isinstance(value, dict | list) and value not in ("", None)]
    return "; ".join(parts)


def _people_level(event: CaseEvent, pending: set[str]) -> bool | None:
    """Decisions and mails for people; None: not shown at all (a decision its transition row
    already shows). System events (waits, runs, the reconciler) are folded away."""
    if event.kind is EventKind.TRANSITION:
        return True
    if event.kind is EventKind.DECISION:
        return True if event.key == "open" or event.key in pending else None
    return event.actor_role is not Role.SYSTEM and not event.action.startswith("awaiting:")


def _history_rows(events: list[CaseEvent], mails: list[OutboxMail], pending: set[str],
                  ) -> tuple[list[HistoryRow], list[HistoryRow]]:
    """Two levels: what people decided and were sent, and the system's own events."""
    subjects = {mail.key: (mail.subject.rsplit(" (", 1)[0], mail.id) for mail in mails}
    people: list[HistoryRow] = []
    system: list[HistoryRow] = []
    for event in events:
        level = _people_level(event, pending)
        if level is None:
            continue
        who = f"{ROLE_LABELS.get(event.actor_role, event.actor_role)}: {event.actor_name}"
        action = _action_label(event)
        if event.key in pending:
            action += " (wordt verwerkt)"
        (people if level else system).append(HistoryRow(
            at=format_time(event.at), who=who, action=action,
            summary=_summary(event.input),
            from_state=STATE_LABELS.get(event.from_state, "") if event.from_state else "",
            to_state=STATE_LABELS.get(event.to_state, "") if event.to_state else "",
            mails=[subjects.get(key, ("E-mail", None)) for key in event.mails],
        ))
    return people, system


def _render_case(
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
    case = _case_or_404(session, number)
    case_id = case.id or 0
    practitioner = session.get(Practitioner, case.practitioner_id)
    registrations = session.exec(
        select(Registration)
        .where(Registration.practitioner_id == case.practitioner_id,
               Registration.specialisation == case.specialisation)
        .order_by(col(Registration.period_start).desc())
    ).all()
    events = history(session=session, case_id=case_id)
    mails = case_mails(session=session, case_id=case_id)
    people, system = _history_rows(events, mails, {
        decision_key(record.pause_key)
        for record in unconsumed(session=session, case_ids=[case_id]).get(case_id, [])})
    reviews = [(review, get_reviewer(session=session, reviewer_id=review.reviewer_id).name)
               for review in case_reviews(session=session, case_id=case_id)]

    is_open = not case.state.is_closed
    step = _decision(case.awaiting_action)
    progress = case_progress(session, case)
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
        "user": user, "case": case, "practitioner": practitioner,
        "policy": case_policy(case), "verdict": case_verdict(case),
        "registrations": registrations, "invoices": case_invoices(session=session,
                                                                  case_id=case_id),
        "reviews": reviews, "certificate": get_certificate(session=session, case_id=case_id),
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
        "number": format_number, "time": format_time, "yes_no": _yes_no,
        "case_url": f"/zaken/{quote(case.number)}",
        "run_url": f"{get_settings().prefect.ui_url}/runs/flow-run/{case.flow_run_id}"
        if case.flow_run_id else None,
    }
    return templates().TemplateResponse(request, "case.html", context, status_code=status)


@router.get("/zaken/{number}", response_class=HTMLResponse)
def case_page(
    request: Request,
    number: str,
    gelukt: str = "",
    user: StaffUser = STAFF,
    session: Session = Depends(db),
) -> Response:
    flash = request.session.pop("flash", None)
    good = (flash if isinstance(flash, str) else m.RECEIVED_PENDING) if gelukt else None
    return _render_case(request, session, user, number, good=good)


@router.post("/zaken/{number}/acties/{action}", dependencies=[Depends(require_csrf)])
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
    form = await request.form()
    typed = {key: value for key, value in form.items() if isinstance(value, str)}
    if kind is Withdrawal and typed.get("bevestigen") != "ja":
        return _render_case(request, session, user, number, posted=action, values=typed,
                            errors={"bevestigen": m.CONFIRM_WITHDRAW}, status=422)
    pause_key = None if kind is Withdrawal else typed.get("pause_key") or None
    if kind is ReviewerAssignment and typed.get("beoordelaar", "").isdigit():
        chosen = session.get(Reviewer, int(typed["beoordelaar"]))
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
        return _render_case(request, session, user, number, posted=action, values=typed,
                            errors=err.errors, status=422)
    except (InvalidTransition, DecisionConflict) as err:
        return _render_case(request, session, user, number, notice=str(err), status=409)
    request.session["flash"] = outcome.message
    return RedirectResponse(f"/zaken/{quote(outcome.number)}?gelukt=1", status_code=303)


def _done(request: Request, number: str, message: str) -> Response:
    request.session["flash"] = message
    return RedirectResponse(f"/zaken/{quote(number)}?gelukt=1", status_code=303)


def _claiming(request: Request, session: Session, user: StaffUser, number: str,
              how: str) -> Response:
    """Claim, take over or release the current step; refusals come back on the case page."""
    actor = actor_for(user)
    try:
        if how == "release":
            release(number, actor=actor)
            return _done(request, number, RELEASED)
        before = _case_or_404(session, number)
        holder = claim_holder(session, before)
        claim(number, actor=actor, take_over=how == "take_over")
    except CaseNotFound as err:
        raise _not_found(number) from err
    except (DecisionConflict, InvalidTransition, NotAllowed) as err:
        return _render_case(request, session, user, number, notice=str(err), status=409)
    if how == "take_over" and holder is not None and holder.id != user.id:
        return _done(request, number, TAKEN_OVER.format(name=holder.name))
    return _done(request, number, CLAIMED)


@router.post("/zaken/{number}/claimen", dependencies=[Depends(require_csrf)])
def take_case(request: Request, number: str, user: StaffUser = STAFF,
              session: Session = Depends(db)) -> Response:
    """So two colleagues do not decide the same step at once."""
    return _claiming(request, session, user, number, "claim")


@router.post("/zaken/{number}/overnemen", dependencies=[Depends(require_csrf)])
def take_over_case(request: Request, number: str, user: StaffUser = STAFF,
                   session: Session = Depends(db)) -> Response:
    """A colleague is away: the step is taken over, and the history says so."""
    return _claiming(request, session, user, number, "take_over")


@router.post("/zaken/{number}/vrijgeven", dependencies=[Depends(require_csrf)])
def release_case(request: Request, number: str, user: StaffUser = STAFF,
                 session: Session = Depends(db)) -> Response:
    return _claiming(request, session, user, number, "release")


@router.post("/zaken/{number}/herstarten", dependencies=[Depends(require_csrf)])
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
        return _render_case(request, session, user, number, notice=str(err), status=409)
    return _done(request, number, outcome.message)


@router.post("/zaken/{number}/mails/{mail_id}/opnieuw", dependencies=[Depends(require_csrf)])
async def resend(request: Request, number: str, mail_id: int, user: StaffUser = STAFF,
                 session: Session = Depends(db)) -> Response:
    """A dead letter goes back in the outbox and is tried at once."""
    case = _case_or_404(session, number)
    mail = session.get(OutboxMail, mail_id)
    if mail is None or mail.case_id != case.id:
        raise HTTPException(status_code=404, detail=MAIL_NOT_FOUND)
    try:
        sent = await resend_mail(mail_id, actor=actor_for(user))
    except InvalidTransition as err:
        return _render_case(request, session, user, number, notice=str(err), status=409)
    return _done(request, number, RESENT.format(status=MAIL_STATUS[sent.status].lower()))


@router.post("/zaken/{number}/gegevens", dependencies=[Depends(require_csrf)])
async def change_practitioner(request: Request, number: str, user: StaffUser = STAFF,
                              session: Session = Depends(db)) -> Response:
    """A deliberate, recorded change of the practitioner's name or e-mail address."""
    case = _case_or_404(session, number)
    practitioner = session.get(Practitioner, case.practitioner_id)
    assert practitioner is not None
    form = await request.form()
    typed = {k: v for k, v in form.items() if isinstance(v, str) and k != "csrf_token"}
    try:
        change_identity(practitioner.kp_number, typed, actor=actor_for(user))
    except NotAllowed as err:
        raise HTTPException(status_code=403, detail=str(err)) from err
    except InvalidInput as err:
        return _render_case(request, session, user, number, posted="identity", values=typed,
                            errors=err.errors, status=422)
    return _done(request, number, IDENTITY_CHANGED)


@router.post("/zaken/{number}/opmerkingen", dependencies=[Depends(require_csrf)])
async def comment(request: Request, number: str, user: StaffUser = STAFF,
                  session: Session = Depends(db)) -> Response:
    """An internal comment, for colleagues only."""
    _case_or_404(session, number)
    form = await request.form()
    typed = {k: v for k, v in form.items() if isinstance(v, str)}
    try:
        add_comment(number, typed.get("opmerking", ""), actor=actor_for(user),
                    form_id=typed.get("formulier", ""))
    except NotAllowed as err:
        raise HTTPException(status_code=403, detail=str(err)) from err
    except InvalidInput as err:
        return _render_case(request, session, user, number, posted="comment", values=typed,
                            errors=err.errors, status=422)
    return _done(request, number, COMMENTED)


@router.get("/zaken/{number}/mails/{mail_id}", response_class=HTMLResponse)
def mail_page(
    request: Request,
    number: str,
    mail_id: int,
    user: StaffUser = STAFF,
    session: Session = Depends(db),
) -> Response:
    """The mail as it was stored in the outbox; its html only inside a sandboxed frame."""
    case = _case_or_404(session, number)
    mail = session.get(OutboxMail, mail_id)
    if mail is None or mail.case_id != case.id:
        raise HTTPException(status_code=404, detail=MAIL_NOT_FOUND)
    return templates().TemplateResponse(request, "mail.html", {
        "user": user, "case": case, "mail": mail, "mail_status": MAIL_STATUS,
        "time": format_time, "case_url": f"/zaken/{quote(case.number)}",
    })

