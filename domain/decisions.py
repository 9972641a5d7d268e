"""The typed inputs the case flow waits for, one per human decision (the procedure's pauses in
domain/procedure.py name them).

Import-light on purpose (pydantic and Prefect's RunInput only): the service and the web app
import these to validate and build forms; the Prefect UI renders them as resume forms.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date
from typing import ClassVar, Literal

from prefect.input import RunInput
from pydantic import ConfigDict, EmailStr, Field

from domain.messages import EXPLANATION_REQUIRED, MISSING_REQUIRED
from domain.states import Role

# Field titles on our forms and on the Prefect UI's resume forms.
FIELD_TITLES: dict[str, str] = {
    "outcome": "Besluit", "note": "Toelichting", "held_on": "Datum van het startgesprek",
    "reopened_on": "Datum heropend", "submitted_on": "Datum van indienen",
    "paid_on": "Datum betaling ontvangen", "complete": "Is de aanvraag compleet?",
    "missing": "Wat ontbreekt", "supplied_on": "Datum aangeleverd",
    "description": "Wat is aangeleverd", "reviewer_name": "Naam beoordelaar",
    "reviewer_email": "E-mailadres beoordelaar", "explanation": "Toelichting",
    "reason": "Reden",
}

# The choices' labels, where a person reads them.
CHOICE_LABELS: dict[str, str] = {
    "advise": "Toereikend: advies aan KP om het portfolio te heropenen",
    "intake_call": "Eerst een online startgesprek",
    "decline": "Niet toereikend: afwijzen (punten of uren tekort)",
    "positive": "Positief: voldoet aan de kwaliteitscriteria",
    "additions": "Aanvulling nodig",
    "negative": "Negatief: voldoet niet",
}


@dataclass(frozen=True)
class RequiredWhen:
    """An optional field that another field's choice makes required (forms show `hint`)."""

    field: str
    values: frozenset[object]
    message: str
    hint: str


class Decision(RunInput):
    """Base of all pause inputs: `action` names it and `roles` may give it; `title` is how
    people read it (forms, the history, the Prefect UI)."""

    model_config = ConfigDict(extra="forbid", str_strip_whitespace=True,
                              field_title_generator=lambda name, _: FIELD_TITLES.get(name, name),
                              model_title_generator=lambda kind: getattr(kind, "title", ""))

    action: ClassVar[str]
    title: ClassVar[str]
    roles: ClassVar[frozenset[Role]]
    required_when: ClassVar[dict[str, RequiredWhen]] = {}


class AssociationDecision(Decision):
    action = "association_decision"
    title = "Besluit VvOCM na controle van punten en uren"
    roles = frozenset({Role.ASSOCIATION_STAFF})

    outcome: Literal["advise", "intake_call", "decline"] = Field(
        description="advise: advies tot heropenen aan KP; intake_call: eerst een startgesprek; "
        "decline: punten of uren niet toereikend"
    )
    note: str = Field("", max_length=2000, description="Toelichting (optioneel)")


class IntakeOutcome(Decision):
    action = "intake_outcome"
    title = "Uitkomst van het startgesprek"
    roles = frozenset({Role.ASSOCIATION_STAFF})

    held_on: date = Field(description="Datum van het startgesprek")
    outcome: Literal["advise", "decline"] = Field(
        description="advise: advies tot heropenen aan KP; decline: niet toereikend"
    )
    note: str = Field("", max_length=2000, description="Toelichting (optioneel)")


class PortfolioReopened(Decision):
    action = "portfolio_reopened"
    title = "KP heeft het digitaal portfolio voor de specialisatie heropend"
    roles = frozenset({Role.REGISTER_STAFF})

    reopened_on: date = Field(description="Datum waarop het portfolio is heropend")


class ApplicationSubmitted(Decision):
    action = "submit"
    title = "Dossier ingediend (aanvraag herregistratie)"
    roles = frozenset({Role.PRACTITIONER, Role.REGISTER_STAFF})

    submitted_on: date = Field(
        description="Datum van indienen; wordt de ingangsdatum van de nieuwe periode (R12)"
    )


class PaymentReceived(Decision):
    action = "payment_received"
    title = "Betaling ontvangen door KP"
    roles = frozenset({Role.REGISTER_STAFF})

    paid_on: date = Field(description="Datum van ontvangst van de betaling")


class CompletenessChecked(Decision):
    action = "completeness"
    title = "Controle op volledigheid"
    roles = frozenset({Role.REGISTER_STAFF})

    required_when = {"missing": RequiredWhen("complete", frozenset({False}), MISSING_REQUIRED,
                                             "verplicht als de aanvraag niet compleet is")}

    complete: bool = Field(description="Is de aanvraag compleet?")
    missing: str = Field("", max_length=2000, description="Wat ontbreekt (als niet compleet)")


class CompletionSupplied(Decision):
    action = "completion_supplied"
    title = "Ontbrekende onderdelen aangeleverd"
    roles = frozenset({Role.PRACTITIONER, Role.REGISTER_STAFF})

    supplied_on: date = Field(description="Datum van aanleveren")
    description: str = Field("", max_length=2000, description="Wat is aangeleverd")


class ReviewerAssignment(Decision):
    action = "assign_reviewer"
    title = "Dossier koppelen aan een vakinhoudelijk beoordelaar"
    roles = frozenset({Role.REGISTER_STAFF})

    reviewer_name: str = Field(min_length=2, max_length=200, description="Naam beoordelaar")
    reviewer_email: EmailStr = Field(max_length=254, description="E-mail beoordelaar (één adres)")


class Findings(Decision):
    action = "findings"
    title = "Bevindingen van de beoordelaar"
    roles = frozenset({Role.REVIEWER})
    required_when = {"explanation": RequiredWhen(
        "outcome", frozenset({"additions", "negative"}), EXPLANATION_REQUIRED,
        "verplicht bij een aanvulling of een negatief oordeel")}

    outcome: Literal["positive", "additions", "negative"] = Field(
        description="positive: voldoet; additions: aanvulling nodig; negative: voldoet niet"
    )
    explanation: str = Field(
        "", max_length=4000,
        description="Toelichting: wat aangevuld moet worden, of wat ontbreekt bij negatief",
    )


class AdditionsSupplied(Decision):
    action = "additions_supplied"
    title = "Aanvulling aangeleverd"
    roles = frozenset({Role.PRACTITIONER, Role.REGISTER_STAFF})

    supplied_on: date = Field(description="Datum van aanleveren")
    description: str = Field(min_length=1, max_length=4000, description="Wat is aangevuld")


class Withdrawal(Decision):
    """Not a pause of its own: it closes the case from whatever pause it is in."""

    action = "withdraw"
    title = "Aanvraag intrekken"
    roles = frozenset(
        {Role.PRACTITIONER, Role.ASSOCIATION_STAFF, Role.REGISTER_STAFF, Role.OPERATOR}
    )

    reason: str = Field("", max_length=2000, description="Reden (optioneel)")

