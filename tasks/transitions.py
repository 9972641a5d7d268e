"""The transition engine: one step of the plan, once, in one transaction.

Each step is keyed (`step:<name>`) in the case history, which is the step ledger: a replayed
or retried step finds its row and does nothing, so no mail, invoice or certificate is made
twice. The mails a step writes go to the outbox in the same transaction.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from datetime import date
from typing import Any, Literal

from sqlmodel import Session

from adapters.links import status_url
from adapters.outbox import write_mail
from adapters.papers import Attachment
from domain.errors import CaseClosed, InvalidTransition
from domain.messages import CASE_CLOSED, WRONG_STATE
from domain.procedure import Pause
from domain.states import CLOSED_STATES, CaseState, Role
from domain.working_days import due_date
from models.case import Case, CaseEvent, EventKind, case_policy, get_case, get_event
from models.db import session_scope, utcnow
from models.decision import get_decision
from models.practitioner import Practitioner
from policies import RegisterPolicy
from settings import get_settings

OPEN_STATES = frozenset(CaseState) - CLOSED_STATES
Recipient = Literal["practitioner", "association", "register"]


@dataclass
class Step:
    """What a step's body may use: the locked case and helpers to mail within the transaction."""

    session: Session
    case: Case
    practitioner: Practitioner
    policy: RegisterPolicy
    today: date
    key: str
    mails: list[str] = field(default_factory=list)

    @property
    def case_id(self) -> int:
        assert self.case.id is not None
        return self.case.id

    def due_of(self, pause: Pause[Any]) -> date:
        """The due date of `pause` if it opens today, as the mail before it names it."""
        return due_date(self.today, get_settings().deadlines.days_for(pause))

    def mail(self, template: str, to: Recipient | str, *, attach: Sequence[Attachment] = (),
             **extra: Any) -> None:
        """Render and store one mail; the key (case, step, template) makes it once only.
        Attachments are kept by their hash (adapters/blobs.py) and added when it is sent."""
        mail_key = f"{self.case_id}:{self.key}:{template}"
        self.mails.append(mail_key)
        addresses = get_settings().addresses
        recipient = {
            "practitioner": self.practitioner.email,
            "association": addresses.association,
            "register": addresses.register_office,
        }.get(to, to)
        context: dict[str, Any] = {
            "case_number": self.case.number,
            "practitioner_name": self.practitioner.name,
            "kp_number": self.practitioner.kp_number,
            "specialisation": self.policy.name,
            "today": self.today,
            **extra,
        }
        if to == "practitioner":
            context["status_url"] = status_url(self.case_id)
        write_mail(self.session, key=mail_key, template=template, recipient=recipient,
                   context=context, case_id=self.case_id, attach=attach)


def side_step(session: Session, case: Case, name: str, today: date | None = None) -> Step:
    """A Step for what happens beside the plan (a reminder, an intake time): its mails, not a
    transition. The caller holds the case's lock and writes the history row."""
    practitioner = session.get(Practitioner, case.practitioner_id)
    assert practitioner is not None
    return Step(session=session, case=case, practitioner=practitioner, policy=case_policy(case),
                today=today or get_settings().current_date(), key=name)


def run_step(
    case_id: int,
    name: str,
    *,
    expect: frozenset[CaseState] | set[CaseState],
    to: CaseState,
    body: Callable[[Step], None] = lambda _step: None,
    cause: str | None = None,
) -> bool:
    """Apply one step once: False if the ledger shows it done. `cause` is the pause whose
    decision led here; its actor and input are copied onto the transition row."""
    key = f"step:{name}"
    with session_scope() as session:
        case = get_case(session=session, case_id=case_id, for_update=True)
        if get_event(session=session, case_id=case_id, key=key) is not None:
            return False
        if case.state not in expect:
            label = case.state.label
            if case.state in CLOSED_STATES:
                raise CaseClosed(CASE_CLOSED.format(label=label), state=case.state)
            raise InvalidTransition(WRONG_STATE.format(state=case.state, label=label),
                                    state=case.state)
        practitioner = session.get(Practitioner, case.practitioner_id)
        assert practitioner is not None
        step = Step(session=session, case=case, practitioner=practitioner,
                    policy=case_policy(case), today=get_settings().current_date(), key=name)
        body(step)
        decision = get_decision(session=session, case_id=case_id, pause_key=cause) \
            if cause else None
        session.add(CaseEvent(
            case_id=case_id, key=key, kind=EventKind.TRANSITION,
            actor_role=decision.actor_role if decision else Role.SYSTEM,
            actor_name=decision.actor_name if decision else "workflow",
            action=name, input=decision.input if decision else {},
            from_state=case.state, to_state=to, mails=step.mails,
        ))
        case.state, case.updated_at = to, utcnow()
        # Progress: whatever repairs it took to get here worked.
        case.repair_attempts, case.stuck_reason, case.stuck_since = 0, None, None
        session.add(case)
    return True
