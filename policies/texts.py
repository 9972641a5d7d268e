"""What people read from the policies, in Dutch: labels, notes on a verdict and the errors of a
policy file, in one place so tests and templates can refer to them."""

from __future__ import annotations

LABELS: dict[str, str] = {
    "points_total": "Punten totaal",
    "points_course": "Punten cursussen",
    "points_other": "Punten overige activiteiten",
    "points_accredited": "Geaccrediteerde punten",
    "hours_total": "Uren werkervaring",
    "months_with_hours": "Maanden met werkervaring",
    "bot_days": "BOT-dagen gevolgd",
}
SHORTFALL_MESSAGE = "{label}: {required} vereist, {actual} behaald ({missing} tekort)"
CRITERIA_NOTE = "Criteria van {source} gebruikt tot het register eigen criteria vaststelt"
NOTE_ACTIVITY_OUTSIDE = (
    "Activiteit {title}van {on} valt buiten de periode {start} t/m {end} en telt niet mee."
)
NOTE_HOURS_OUTSIDE = (
    "Werkervaring {description}({first} t/m {last}) valt buiten de periode {start} t/m {end} "
    "en telt niet mee."
)
NOTE_HOURS_PRO_RATA = (
    "Werkervaring {description}({first} t/m {last}) valt deels buiten de periode: "
    "{counted} van {hours} uur naar rato meegeteld."
)
NOTE_BOT_UNKNOWN = "BOT-dag van {on} komt niet voor in de BOT-dagkalender en telt niet mee."
NOTE_BOT_OUTSIDE = "BOT-dag van {on} valt buiten de periode {start} t/m {end} en telt niet mee."
NOTE_BOT_FEWER_HELD = (
    "In de periode zijn {held} BOT-dagen gehouden (minder dan {out_of}); vereist zijn alle "
    "gehouden dagen op {allowed_missed} na: {required}."
)
ERR_UNKNOWN_CODE = "Onbekend register '{code}'. Bekende registers: {known}."
ERR_INVALID_FILE = "Registerbeleid {file} is ongeldig: {details}"
ERR_FIELD = "veld {field}: {message}"
ERR_NOT_TOML = "Registerbeleid {file} is geen geldige TOML: {message}"
ERR_CODE_MISMATCH = "Registerbeleid {file} bevat code '{code}'; verwacht '{expected}'."
ERR_CRITERIA_BOTH = "criteria en criteria_from sluiten elkaar uit"
ERR_CRITERIA_NONE = "criteria of criteria_from is verplicht"
ERR_CRITERIA_CHAIN = "criteria_from verwijst naar {source}, dat zelf geen eigen criteria heeft"
ERR_NO_INTAKE = "Register {code} kent geen startgesprek; er is geen tarief vastgelegd."
ERR_NO_FEE = "Voor register {code} is geen herregistratietarief vastgelegd."
