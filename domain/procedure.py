"""The procedure written down once (seed 001): the stages a case goes through and the pauses at
which it waits for a person, with everything the system says or does about each.

A pause declares what it waits for (its typed decision, whose `roles` may give it), the state
the case waits in, who the wait is on (reminded before the due date; held to it only if that is
the practitioner), how many days it gives, and the words each reader sees: what is awaited
(reminders, escalations, the expiry mail), the next step on the practitioner's status page, what
a click that led to it did. The settings' due dates, the history's labels, the status page, the
reminders, the API's list of decisions and the diagram derive from these tables; the flow
(flows/lapsed_specialisation.py) orders the pauses and its steps (tasks/cases.py) do the work
between them. tests/test_procedure.py fails when a pause or stage lacks a part.

Cases stay open for months, so a change to the plan meets running cases. Each case records the
`PLAN_VERSION` it started under; a pause added later says `since=` the version that added it,
and the flow asks `run.follows(pause)` before it: running cases finish on the plan they started
with, new cases get the new pause (README, "Changing the procedure").
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Generic, TypeVar

from domain.decisions import (
    AdditionsSupplied,
    ApplicationSubmitted,
    AssociationDecision,
    CompletenessChecked,
    CompletionSupplied,
    Decision,
    Findings,
    IntakeOutcome,
    PaymentReceived,
    PortfolioReopened,
    ReviewerAssignment,
    Withdrawal,
)
from domain.states import CaseState, Party

S = CaseState
D = TypeVar("D", bound=Decision)
# Raise by one when the step plan changes in a way a running case must not follow, and give
# the changed pause `since=` the new number.
PLAN_VERSION = 1


@dataclass(frozen=True)
class Wait:
    """Who a pause waits on and what they read about it."""

    party: Party
    awaited: str  # "het besluit van de VvOCM": reminders, escalations and the expiry mail
    next_who: str  # the practitioner's status page: who is at it now ...
    next_what: str  # ... and what happens
    setting: str = ""  # a wait within a pause: its own due date's setting ...
    days: int = 0  # ... and default days


@dataclass(frozen=True)
class Pause(Generic[D]):
    """One wait of the procedure for a person's decision."""

    key: str  # the pause key; a numbered pause adds the round: "completeness-2"
    decision: type[D]
    waits_in: CaseState
    days: int  # default days until due: HERREG_DEADLINES__<setting>
    wait: Wait
    reached: str  # what the click that led here did, after "Vastgelegd: "
    numbered: bool = False
    since: int = 1  # the plan version that added it: older cases never reach it
    # Further waits within the pause, on someone else (the intake call's time, picked by the
    # practitioner): their own words, reminders and due date.
    also: tuple[Wait, ...] = ()

    @property
    def action(self) -> str:
        return self.decision.action

    @property
    def setting(self) -> str:
        """The due date's setting (`DeadlineSettings`), named after the pause."""
        return self.key.replace("-", "_")

    def key_for(self, round: int | None = None) -> str:
        """The pause key of a round (numbered pauses) or the key itself."""
        if self.numbered != (round is not None):
            raise ValueError(f"{self.key}: {'a' if self.numbered else 'no'} round expected")
        return f"{self.key}-{round}" if round is not None else self.key

    def wait_on(self, party: str | None) -> Wait:
        """The wait of this pause that is on `party` (the main one if none is)."""
        return next((w for w in (self.wait, *self.also) if w.party == party), self.wait)


@dataclass(frozen=True)
class Stage:
    """A state of the case as people read it. States are in plan order."""

    state: CaseState
    box: str | None  # the diagram's box (states may share one); None: ends the case anywhere
    milestone: str | None = None  # the practitioner's timeline, on reaching it
    closed_text: str | None = None  # a closed case's status page
    done: str | None = None  # what a click that closed the case did, after "Vastgelegd: "


ASSOCIATION_DECISION = Pause(
    "association-decision", AssociationDecision, waits_in=S.ASSOCIATION_CHECK, days=42,
    wait=Wait(Party.ASSOCIATION, "het besluit van de VvOCM",
              "de VvOCM", "De VvOCM controleert uw punten en uren."),
    reached="de aanvraag is geregistreerd; de VvOCM controleert de punten en uren")
INTAKE_OUTCOME = Pause(
    "intake-outcome", IntakeOutcome, waits_in=S.INTAKE_CALL, days=42,
    wait=Wait(Party.ASSOCIATION, "de uitkomst van het startgesprek",
              "de VvOCM", "De VvOCM voert een online startgesprek met u en besluit daarna "
                          "over uw punten en uren."),
    reached="de oefentherapeut is uitgenodigd voor een startgesprek",
    also=(Wait(Party.PRACTITIONER, "het kiezen van een tijd voor het startgesprek",
               "u", "Kies een van de tijden die de VvOCM aanbiedt voor het online "
                    "startgesprek.", setting="intake_pick", days=14),))
PORTFOLIO_REOPENED = Pause(
    "portfolio-reopened", PortfolioReopened, waits_in=S.REOPEN_ADVISED, days=28,
    wait=Wait(Party.REGISTER, "het heropenen van het portfolio door KP",
              "het KP", "De VvOCM heeft het KP geadviseerd uw digitaal portfolio te "
                        "heropenen. Het KP heropent het en laat het u weten."),
    reached="het advies tot heropenen is naar het KP gestuurd")
SUBMISSION = Pause(
    "submission", ApplicationSubmitted, waits_in=S.AWAITING_SUBMISSION, days=91,
    wait=Wait(Party.PRACTITIONER, "het indienen van het dossier",
              "u", "U dient uw dossier in: werk uw digitaal portfolio voor de specialisatie "
                   "bij en vul hieronder de datum van indienen in. Die datum wordt de "
                   "ingangsdatum van uw nieuwe registratieperiode."),
    reached="het portfolio is heropend; de oefentherapeut kan indienen")
PAYMENT = Pause(
    "payment", PaymentReceived, waits_in=S.AWAITING_PAYMENT, days=42,
    wait=Wait(Party.PRACTITIONER, "de betaling",
              "u", "U betaalt de factuur: maak het bedrag over met het betalingskenmerk dat "
                   "hieronder staat. Het KP behandelt uw aanvraag zodra de betaling binnen "
                   "is."),
    reached="het dossier is ingediend en de factuur verstuurd")
COMPLETENESS = Pause(
    "completeness", CompletenessChecked, waits_in=S.COMPLETENESS_CHECK, days=28,
    numbered=True,
    wait=Wait(Party.REGISTER, "de controle op volledigheid",
              "het KP", "Het KP controleert of uw aanvraag compleet is."),
    reached="de aanvraag staat klaar voor de controle op volledigheid")
COMPLETION = Pause(
    "completion", CompletionSupplied, waits_in=S.AWAITING_COMPLETION, days=42, numbered=True,
    wait=Wait(Party.PRACTITIONER, "het aanvullen van het dossier",
              "u", "Uw aanvraag is nog niet compleet. Lever aan wat ontbreekt en meld dat "
                   "hieronder."),
    reached="de aanvraag is niet compleet; de oefentherapeut is gevraagd haar aan te vullen")
ASSIGNMENT = Pause(
    "assignment", ReviewerAssignment, waits_in=S.COMPLETENESS_CHECK, days=21,
    wait=Wait(Party.REGISTER, "het koppelen van een beoordelaar",
              "het KP", "Het KP koppelt uw dossier aan een vakinhoudelijk beoordelaar."),
    reached="de aanvraag is compleet")
FINDINGS = Pause(
    "findings", Findings, waits_in=S.UNDER_REVIEW, days=42, numbered=True,
    wait=Wait(Party.REVIEWER, "de bevindingen van de beoordelaar",
              "de beoordelaar", "Een vakinhoudelijk beoordelaar beoordeelt uw werkervaring "
                                "en activiteiten."),
    reached="de aanvraag ligt bij de beoordelaar")
ADDITIONS = Pause(
    "additions", AdditionsSupplied, waits_in=S.ADDITIONS_REQUESTED, days=56, numbered=True,
    wait=Wait(Party.PRACTITIONER, "de gevraagde aanvulling",
              "u", "De beoordelaar vraagt om een aanvulling. Lever die aan en meld hieronder "
                   "wat u heeft aangevuld."),
    reached="de oefentherapeut is om een aanvulling gevraagd")

PAUSES: tuple[Pause[Any], ...] = (
    ASSOCIATION_DECISION, INTAKE_OUTCOME, PORTFOLIO_REOPENED, SUBMISSION, PAYMENT,
    COMPLETENESS, COMPLETION, ASSIGNMENT, FINDINGS, ADDITIONS)

STAGES: tuple[Stage, ...] = (
    Stage(S.REQUESTED, "Aanvraag"),
    Stage(S.ASSOCIATION_CHECK, "Controle VvOCM",
          milestone="De VvOCM is uw punten en uren gaan controleren"),
    Stage(S.INTAKE_CALL, "Startgesprek",
          milestone="De VvOCM heeft u uitgenodigd voor een startgesprek"),
    Stage(S.DECLINED, "Controle VvOCM", milestone="Uw punten of uren zijn niet toereikend",
          closed_text="Uw punten of uren zijn niet toereikend. In de e-mail leest u wat er "
                      "ontbreekt.",
          done="de punten of uren zijn niet toereikend; de aanvraag is gesloten en de "
               "oefentherapeut weet wat er ontbreekt"),
    Stage(S.REOPEN_ADVISED, "Advies aan KP",
          milestone="De VvOCM heeft het KP geadviseerd uw portfolio te heropenen"),
    Stage(S.PORTFOLIO_REOPENED, "Portfolio heropend",
          milestone="Het KP heeft uw digitaal portfolio heropend"),
    Stage(S.AWAITING_SUBMISSION, "Dossier indienen"),  # at once after the reopening
    Stage(S.AWAITING_PAYMENT, "Betaling",
          milestone="Uw dossier is ingediend; de factuur is verstuurd"),
    Stage(S.COMPLETENESS_CHECK, "Volledigheid",
          milestone="Het KP controleert of uw aanvraag compleet is"),
    Stage(S.AWAITING_COMPLETION, "Volledigheid",
          milestone="Het KP heeft om ontbrekende onderdelen gevraagd"),
    Stage(S.UNDER_REVIEW, "Beoordeling",
          milestone="Uw dossier ligt bij een vakinhoudelijk beoordelaar"),
    Stage(S.ADDITIONS_REQUESTED, "Beoordeling",
          milestone="De beoordelaar heeft om een aanvulling gevraagd"),
    Stage(S.REJECTED, "Beoordeling", milestone="Uw aanvraag is afgewezen",
          closed_text="Uw aanvraag is afgewezen. In de e-mail leest u wat er ontbreekt.",
          done="de aanvraag is afgewezen; de oefentherapeut weet waarom"),
    Stage(S.CERTIFIED, "Bewijs", milestone="U bent geherregistreerd",
          closed_text="Uw herregistratie is rond en u staat weer in het openbaar register.",
          done="de oefentherapeut is geherregistreerd; het bewijs is verstuurd"),
    Stage(S.WITHDRAWN, None, milestone="De aanvraag is ingetrokken",
          closed_text="De aanvraag is ingetrokken.", done="de aanvraag is ingetrokken"),
    Stage(S.EXPIRED, None, milestone="De aanvraag is gesloten: een termijn is verstreken",
          closed_text="De aanvraag is gesloten omdat een termijn is verstreken.",
          done="de aanvraag is gesloten: een termijn is verstreken"),
)

# R6: VvOCM counts points and hours from the files until it has decided on them.
EVIDENCE_STATES = frozenset({S.REQUESTED, S.ASSOCIATION_CHECK, S.INTAKE_CALL})

PAUSE_BY_ACTION: dict[str, Pause[Any]] = {p.action: p for p in PAUSES}
PAUSE_BY_KEY: dict[str, Pause[Any]] = {p.key: p for p in PAUSES}
STAGE: dict[CaseState, Stage] = {s.state: s for s in STAGES}
# Every decision a person can give, in plan order: one per pause, and a withdrawal at any.
DECISIONS: dict[str, type[Decision]] = {
    **{p.action: p.decision for p in PAUSES}, Withdrawal.action: Withdrawal}


def pause_of(pause_key: str) -> Pause[Any] | None:
    """The declaration a pause key belongs to ("findings-2", "payment-retry-1" too)."""
    stem = pause_key.split("-retry-", 1)[0]
    base, _, round = stem.rpartition("-")
    found = PAUSE_BY_KEY.get(base) if round.isdigit() else None
    return found if found is not None and found.numbered else PAUSE_BY_KEY.get(stem)


def round_of(pause_key: str) -> int | None:
    """The round of a numbered pause key ("findings-2" -> 2), else None."""
    stem = pause_key.split("-retry-", 1)[0]
    base, _, round = stem.rpartition("-")
    return int(round) if round.isdigit() and base in PAUSE_BY_KEY else None


def awaited(action: str | None, party: str | None) -> str:
    """What the case waits for, in words, for the wait it is in ("" if none)."""
    pause = PAUSE_BY_ACTION.get(action or "")
    return pause.wait_on(party).awaited if pause else ""
