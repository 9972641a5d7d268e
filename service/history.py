"""The staff's history of a case: who decided what, which mails went out, and the system's own
events apart; labels in plain Dutch, never template or step codes."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from datetime import date
from typing import Any

from sqlmodel import Session

from domain.decisions import CHOICE_LABELS, FIELD_TITLES
from domain.formatting import format_date, format_stamp
from domain.procedure import DECISIONS
from domain.states import ROLE_LABELS, STATE_LABELS, Role
from models.case import CaseEvent, EventKind
from models.decision import unconsumed
from models.outbox import OutboxMail
from tasks.decisions import decision_key

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
    "evidence_entered": "Punten en uren ingevoerd",
    "reminder": "Herinnering verstuurd",
    "escalation": "Beoordeling te laat: KP gewaarschuwd",
    "escalation_to_lead": "Stap te laat: leidinggevende gewaarschuwd",
    "intake_fee_paid": "Kosten startgesprek betaald",
    "paid_twice": "Factuur nogmaals betaald: terugbetalen",
    "intake_slots_offered": "Tijden voor het startgesprek aangeboden",
    "intake_slot_chosen": "Tijd voor het startgesprek gekozen",
}
INPUT_LABELS = {
    **FIELD_TITLES, "kp_number": "KP-nummer", "name": "Naam", "email": "E-mailadres",
    "member": "Lid VvOCM", "specialisation": "Specialisatie", "request_date": "Datum aanvraag",
    "previous_period_start": "Begin vorige periode", "due_on": "Uiterlijk",
    "errors": "Fouten", "text": "Opmerking", "points_total": "Punten",
    "hours_total": "Uren werkervaring", "invoice": "Factuur", "amount": "Bedrag",
    "times": "Tijden", "starts_at": "Tijdstip",
}



def decision_rows(events: list[CaseEvent], action: str) -> list[CaseEvent]:
    """The decisions of one kind in a case's history, oldest first."""
    return [e for e in events if e.kind is EventKind.DECISION and e.action == action]


def yes_no(value: bool) -> str:
    return "ja" if value else "nee"


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
        awaited = DECISIONS.get(rest)
        return f"Wacht op: {awaited.title if awaited else rest}"
    if rest and kind_prefix == "rejected":
        refused = DECISIONS.get(rest)
        return f"Ongeldige invoer geweigerd: {refused.title if refused else rest}"
    if event.kind is EventKind.DECISION and (decided := DECISIONS.get(event.action)):
        return decided.title
    if event.action == "escalation" and "to" in event.input:  # an office's, before its label
        return STEP_LABELS["escalation_to_lead"]
    base, _, suffix = event.action.rpartition("-")
    if suffix.isdigit() and base in STEP_LABELS:
        return f"{STEP_LABELS[base]} ({suffix})"
    return STEP_LABELS.get(event.action, event.action)


def _value_text(value: Any) -> str:
    if isinstance(value, bool):
        return yes_no(value)
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
    already shows). System events (waits, runs, the reconciler) are folded away, unless
    they mailed someone (a reminder)."""
    if event.kind is EventKind.TRANSITION or event.mails:
        return True
    if event.kind is EventKind.DECISION:
        return True if event.key == "open" or event.key in pending else None
    return event.actor_role is not Role.SYSTEM and not event.action.startswith("awaiting:")


def staff_history(session: Session, case_id: int, events: list[CaseEvent],
                  mails: list[OutboxMail]) -> tuple[list[HistoryRow], list[HistoryRow]]:
    """Two levels: what people decided and were sent, and the system's own events (waits,
    runs, the reconciler), folded away on the page. A decision shows on the transition it
    caused; only one still being processed has a row of its own."""
    pending = {decision_key(record.pause_key) for record in
               unconsumed(session=session, case_ids=[case_id]).get(case_id, [])}
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
            at=format_stamp(event.at), who=who, action=action,
            summary=_summary(event.input),
            from_state=STATE_LABELS.get(event.from_state, "") if event.from_state else "",
            to_state=STATE_LABELS.get(event.to_state, "") if event.to_state else "",
            mails=[subjects.get(key, ("E-mail", None)) for key in event.mails],
        ))
    return people, system
