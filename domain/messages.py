"""Every sentence a user reads when something is refused, in one place (Dutch).

Tests assert on these constants."""

WRONG_STATE = "Deze actie kan niet in de huidige status van de aanvraag ({state}: {label})."
NOT_AWAITED = "De aanvraag wacht nu niet op '{action}' maar op '{awaited}'."
ALREADY_DECIDED = "Voor deze stap is al een besluit ontvangen; het wordt verwerkt."
ROLE_NOT_ALLOWED = "Als {role} mag u de actie '{action}' niet uitvoeren."
CASE_NOT_FOUND = "Aanvraag {case} bestaat niet."
CASE_CLOSED = "De aanvraag is afgesloten ({label})."
UNKNOWN_ACTION = "Onbekende actie '{action}'. Mogelijk: {actions}."
NOT_LAPSED = (
    "De registratie voor {specialisation} is niet verlopen: herregistratie kan nog tot en met "
    "{deadline} via het digitaal portfolio."
)
NO_REGISTRATION = "Er is geen eerdere registratie voor {specialisation} bekend van KP-nummer {kp}."
PRACTITIONER_UNKNOWN = "KP-nummer {kp} is niet bekend."
OPEN_CASE_EXISTS = "Er loopt al een aanvraag ({number}) voor {specialisation}."
RECEIVED_PENDING = "Besluit ontvangen; het wordt verwerkt."
RECEIVED_QUEUED = (
    "Besluit ontvangen en vastgelegd. De workflowserver is nu niet bereikbaar; het besluit wordt "
    "verwerkt zodra die weer bereikbaar is."
)
LINK_INVALID = "Deze link is ongeldig."
LINK_EXPIRED = "Deze link is verlopen."

FIELD_REQUIRED = "Dit veld is verplicht."
FIELD_DATE = "Vul een geldige datum in (jjjj-mm-dd)."
FIELD_BOOL = "Kies ja of nee."
FIELD_CHOICE = "Kies een van: {choices}."
FIELD_TEXT_REQUIRED = "Vul een toelichting in."
FIELD_EMAIL = "Vul een geldig e-mailadres in."
FIELD_INVALID = "Ongeldige waarde."
FIELD_UNKNOWN = "Onbekend veld."
FIELD_NUMBER = "Vul een getal in."
DATE_IN_FUTURE = "De datum mag niet in de toekomst liggen."
DATE_BEFORE = "De datum mag niet voor {label} ({date}) liggen."
ADVISE_NEEDS_SUFFICIENT = (
    "Advies tot heropenen kan alleen als punten en uren toereikend zijn: {short}"
)
DECLINE_NEEDS_SHORTFALL = (
    "Afwijzen kan alleen als punten of uren tekortschieten; volgens het portfolio is alles "
    "toereikend."
)
ADDITIONS_LIMIT = (
    "Het maximum van {max} aanvulronde(s) is bereikt: kies positief of negatief."
)
EXPLANATION_REQUIRED = "Geef een toelichting bij dit oordeel."
MISSING_REQUIRED = "Geef aan wat er ontbreekt."
WRONG_REVIEWER = "Dit dossier is niet aan u toegewezen."

LOGIN_FAILED = "E-mailadres of wachtwoord onjuist."
LOGIN_LOCKED = "Te veel mislukte pogingen. Probeer het na {until} opnieuw."
LOGIN_REQUIRED = "Log in om verder te gaan."
CSRF_FAILED = (
    "Het formulier is verlopen of ongeldig. Laad de pagina opnieuw en probeer het nog eens."
)
FORBIDDEN = "U heeft geen toegang tot deze pagina."
CLAIMED_BY_OTHER = "{name} werkt nu aan deze aanvraag."
TOKEN_INVALID = "Ongeldig of ingetrokken API-token."
