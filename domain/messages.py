"""Every sentence a user reads when something is refused, in one place (Dutch).

Tests assert on these constants."""

WRONG_STATE = "Deze actie kan niet in de huidige status van de aanvraag ({state}: {label})."
NOT_AWAITED = "De aanvraag wacht nu niet op '{action}' maar op '{awaited}'."
ALREADY_DECIDED = "Voor deze stap is al een besluit ontvangen; het wordt verwerkt."
WITHDRAWN_MEANWHILE = "De aanvraag is intussen ingetrokken; uw besluit is niet vastgelegd."
DECIDED_MEANWHILE = (
    "Er is intussen een besluit genomen over de stap '{title}'; de intrekking is niet "
    "vastgelegd. Wacht tot dat besluit verwerkt is (een ogenblik) en trek de aanvraag dan zo "
    "nodig opnieuw in."
)
CASE_OPENED = "Aanvraag {number} is geregistreerd; de oefentherapeut krijgt een bevestiging."
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
PROCESSED = "Vastgelegd: {done}."
NEXT_UP = " Volgende stap: {title}."
NOW_AT = "de aanvraag staat nu op '{label}'"
RECEIVED_QUEUED = (
    "Besluit ontvangen en vastgelegd. De workflow pakt het binnen enkele minuten op; u hoeft "
    "niets meer te doen."
)
STEP_MOVED_ON = (
    "Deze stap is al afgerond; de aanvraag staat nu op '{label}'. Laad de pagina opnieuw."
)
IDENTITY_TITLE = "Gegevens van de oefentherapeut wijzigen"
IDENTITY_DIFFERS = (
    "KP-nummer {kp} is bij ons bekend met {field} '{value}'. Klopt dat niet meer, wijzig het "
    "dan eerst via '" + IDENTITY_TITLE + "'."
)
RESTART_TITLE = "Herstarten"
PREFECT_UNAVAILABLE = (
    "De workflowserver is nu niet bereikbaar. Probeer het over een minuut opnieuw."
)
NOTHING_RECORDED = (
    "Het is nu te druk, of de database is even niet bereikbaar: er is niets vastgelegd. Probeer "
    "het over een minuut opnieuw."
)
DATABASE_UNAVAILABLE = (
    "De database is tijdelijk niet bereikbaar. Probeer het over een minuut opnieuw; wat eerder "
    "is vastgelegd, blijft bewaard."
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
FIELD_TOO_LONG = "Ten hoogste {max} tekens."
FIELD_TOO_SHORT = "Ten minste {min} tekens."
FIELD_TOO_LARGE = "Ten hoogste {max}."
FIELD_TOO_SMALL = "Moet groter zijn dan {min}."
FIELD_DECIMALS = "Ten hoogste {places} cijfers achter de komma."
FIELD_KP_NUMBER = "Een KP-nummer bestaat uit 5 tot 9 cijfers."
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
COMMENTS_STAFF_ONLY = "Alleen medewerkers kunnen interne opmerkingen maken."
FORM_EXPIRED = "Het formulier is verlopen. Laad de pagina opnieuw en probeer het nog eens."
CONFIRM_WITHDRAW = "Vink aan dat u de aanvraag echt wilt intrekken."
WRONG_REVIEWER = "Dit dossier is niet aan u toegewezen."

PASSWORD_TOO_SHORT = "Kies een wachtwoord van ten minste {min} tekens."
PASSWORD_MISMATCH = "De twee nieuwe wachtwoorden zijn niet gelijk."
PASSWORD_WRONG = "Uw huidige wachtwoord klopt niet."
CHOOSE_OWN_PASSWORD = (
    "U bent ingelogd met een eenmalig wachtwoord. Kies eerst een eigen wachtwoord; het "
    "eenmalige werkt daarna niet meer."
)
PASSWORD_CHANGED = "Uw wachtwoord is gewijzigd. Op andere apparaten bent u uitgelogd."
LOGIN_FAILED = "E-mailadres of wachtwoord onjuist."
LOGIN_THROTTLED = (
    "Te veel mislukte pogingen vanaf deze computer. Probeer het over {minutes} minuten opnieuw."
)
LOGIN_REQUIRED = "Log in om verder te gaan."
CSRF_FAILED = (
    "Het formulier is verlopen of ongeldig. Laad de pagina opnieuw en probeer het nog eens."
)
FORBIDDEN = "U heeft geen toegang tot deze pagina."
CLAIMED_BY_OTHER = (
    "{name} werkt nu aan deze stap. Neem de stap over als dat nodig is (dat wordt vastgelegd)."
)
NOTHING_TO_CLAIM = "Deze aanvraag wacht nu niet op een medewerker; er valt niets op te pakken."
CLAIM_NOT_YOUR_STEP = "De stap '{action}' is niet voor uw rol; u kunt hem niet oppakken."
TOKEN_INVALID = "Ongeldig of ingetrokken API-token."

# Repairs by the reconciler, as staff read them in the history and on the case page.
REPAIR_CAUSES = {
    "undelivered": "het besluit was nog niet aan de workflow-run doorgegeven",
    "withdrawal": "de intrekking was nog niet verwerkt",
    "run_missing": "de workflow-run ontbrak",
    "run_ended": "de workflow-run was gestopt ({state})",
    "zombie": "de workflow-run gaf geen teken van leven meer (het proces is gestopt)",
    "stalled": "de workflow-run bleef hangen ({state})",
    "wrong_pause": "de workflow-run wachtte op een andere stap dan de aanvraag",
    "resume_refused": "de workflow-run nam het besluit niet aan",
    "staff_restart": "herstart door een medewerker",
}
REPAIRED = "Automatisch hersteld: {cause}. De workflow is opnieuw gestart."
STUCK = (
    "Vastgelopen: {cause}; {attempts} automatische herstarts hielpen niet. Los de oorzaak op "
    "(zie de logboeken) en kies dan 'Herstarten'."
)
RESTARTED = "De workflow van deze aanvraag is opnieuw gestart."
RESTARTED_LATER = (
    "De aanvraag is herstart. De workflowserver is nu niet bereikbaar; de workflow start vanzelf "
    "zodra die weer bereikbaar is."
)
NOT_STUCK = "Deze aanvraag is niet vastgelopen; herstarten is niet nodig."
DELAYED = (
    "Het besluit is vastgelegd, maar de verwerking duurt langer dan normaal. Het systeem "
    "herstelt dit automatisch; u hoeft niets te doen."
)
DELAYED_NO_SWEEP = (
    "Het besluit is vastgelegd, maar de verwerking duurt langer dan normaal, en de automatische "
    "controle (de sweep) heeft sinds {last} niet gedraaid: dit herstelt nu niet vanzelf. Meld "
    "het bij de beheerder; na {minutes} minuten kunt u de aanvraag hier herstarten."
)
WAITING_TOO_LONG = (
    "Vastgelopen: het besluit wacht sinds {since} op verwerking{cause}. Kies 'Herstarten'; "
    "blijft het daarna hangen, kijk dan in de logboeken."
)
SWEEP_LATE_CAUSE = " en de automatische controle (de sweep) heeft sinds {last} niet gedraaid"
SWEEP_LATE = (
    "De automatische controle (de sweep) heeft sinds {last} niet gedraaid. Vertraagde besluiten, "
    "verlopen termijnen en herinneringen wachten daarop. Controleer de stack (logboek "
    "sweep-worker); `herregistratie sweep` draait haar met de hand."
)
SWEEP_LAST = "Laatste sweep: {last}."
SWEEP_NEVER = "Er heeft nog geen sweep gedraaid."

RESEND_TITLE = "E-mail opnieuw versturen"
MAIL_NOT_DEAD = "Deze e-mail staat niet als onbestelbaar gemarkeerd; opnieuw versturen kan niet."

# Registrations import (a register's CSV export).
IMPORT_COLUMNS = "Kolommen ontbreken: {missing}. Verwacht: {expected}."
IMPORT_DUPLICATE = "Dubbele regel: dezelfde registratie staat al op regel {line}."
IMPORT_IDENTITY_CONFLICT = (
    "Naam, e-mailadres of lidmaatschap wijkt af van regel {line} met hetzelfde KP-nummer."
)
IMPORT_ADDRESS = "Het adres is langer dan 300 tekens."
IMPORT_NAME = "Naam ontbreekt of is langer dan 200 tekens."
IMPORT_EMAIL = "Ongeldig e-mailadres '{value}'."
IMPORT_MEMBER = "Lid moet ja of nee zijn, niet '{value}'."
IMPORT_SPECIALISATION = "Onbekende specialisatie '{value}'. Bekend: {known}."
IMPORT_DATE = "Ongeldige datum in {column}: '{value}' (gebruik jjjj-mm-dd of dd-mm-jjjj)."
IMPORT_END_BEFORE_START = "Het einde van de periode ligt niet na het begin."
IMPORT_REASON = "Import {source}, regel {line}"
IMPORT_CONFLICT = (
    "KP-nummer {kp} staat bij ons als {name} <{email}>, in de export als {new_name} "
    "<{new_email}>: niet overgenomen; het staat op de werklijst van /beheer."
)
CONFLICT_GONE = "Dit conflict is al afgehandeld."
CONFLICT_CHOICE = "Kies 'Overnemen' of 'Afwijzen'."
BANK_LINE_GONE = "Deze bijschrijving is al afgehandeld."
CAMT_LINE_AMOUNT = "Het bedrag is onleesbaar ('{value}'); niet geboekt."
CAMT_LINE_NO_DATE = "De boekdatum ontbreekt of is onleesbaar ('{value}'); niet geboekt."
CAMT_LINE_ACCOUNT = (
    "Bijgeschreven op rekening {account}, maar factuur {invoice} wordt op een andere rekening "
    "betaald; niet geboekt."
)
BANK_CHOICE = "Kies 'Koppelen' of 'Afgehandeld'."
BANK_INVOICE_UNKNOWN = "Er is geen factuur met nummer {number}."
BANK_INVOICE_PAID = "Factuur {number} is al betaald; koppel deze bijschrijving niet nog eens."
BANK_LINKED = "Met de hand gekoppeld aan factuur {number}"
BANK_LINKED_DONE = "Gekoppeld: de betaling is vastgelegd bij aanvraag {case}."
BANK_HANDLED_DONE = "De bijschrijving is afgehandeld en staat niet meer op de werklijst."
CONFLICT_REASON_REQUIRED = "Geef een reden op."
CONFLICT_APPLIED = "Naam en e-mailadres zijn overgenomen uit de export en vastgelegd."
CONFLICT_DISMISSED = "Het conflict is afgewezen; de gegevens blijven zoals ze waren."
IMPORT_UNREADABLE = (
    "Regel {line} is niet te lezen: een aanhalingsteken wordt niet gesloten of een veld is "
    "langer dan 131.072 tekens. Er is niets ingelezen; herstel de export en probeer opnieuw.")
IMPORT_NOT_TEXT = (
    "Dit is geen CSV-bestand: sla de export op als CSV (UTF-8 of Windows) en probeer opnieuw."
)

# The way in (a practitioner's own request) and the files sent with it.
REQUEST_KP_UNKNOWN = (
    "KP-nummer {kp} komt niet voor in het register dat wij bijhouden. Controleer het nummer, "
    "of mail de VvOCM (info@vvocm.nl) uw aanvraag."
)
REQUEST_EMAIL_DIFFERS = (
    "Dit e-mailadres hoort niet bij KP-nummer {kp}. Gebruik het adres dat bij het KP bekend "
    "is, of vraag de VvOCM (info@vvocm.nl) uw adres te wijzigen."
)
REQUEST_ANSWER = (
    "Als deze gegevens bij ons bekend zijn, ontvangt u binnen enkele minuten een e-mail op het "
    "adres dat u opgaf: met een link om uw bestanden te sturen, of met de reden waarom u nu "
    "geen aanvraag kunt doen. Pas als u uw bestanden stuurt, registreren wij uw aanvraag."
)
REQUEST_THROTTLED = (
    "U heeft dit de afgelopen tijd te vaak geprobeerd. Probeer het over een uur opnieuw, of mail "
    "de VvOCM (info@vvocm.nl)."
)
REQUEST_NOT_CONFIRMED = (
    "Uw e-mailadres is niet bevestigd: deze link is niet geldig. Vraag op de pagina "
    "'Herregistratie aanvragen' een nieuwe link aan."
)
REQUEST_LINK_EXPIRED = (
    "Deze bevestigingslink is verlopen. Vraag op de pagina 'Herregistratie aanvragen' een "
    "nieuwe link aan; er is nog niets geregistreerd."
)
REQUEST_ALREADY_OPEN = (
    "Uw aanvraag {number} voor {specialisation} is al geregistreerd. Waar die staat, ziet u "
    "via de link in de bevestigingsmail."
)
FILE_MISSING = "Kies een bestand."
FILE_EMPTY = "Het bestand is leeg."
FILE_TOO_LARGE = "Het bestand is groter dan {mb} MB; stuur een kleiner bestand."
FILE_NOT_PDF = "Dit bestand is geen PDF. Stuur het overzicht als PDF-bestand."
FILE_NOT_PDF_OR_CSV = "Dit bestand is geen PDF of CSV. Stuur het uittreksel als PDF of CSV."
FILE_PDF_ACTIVE = ("Dit PDF-bestand bevat scripts, ingesloten bestanden of een wachtwoord. "
                   "Sla het opnieuw op als gewone PDF (bijvoorbeeld via Afdrukken naar PDF).")
FILE_HAS_FORMULAS = ("Let op: cellen in dit bestand beginnen met =, +, - of @. Een "
                     "spreadsheetprogramma kan die als formule uitvoeren; open het bestand als "
                     "tekst of importeer het met alle kolommen als tekst.")
EVIDENCE_TITLE = "Punten en uren invoeren"
EVIDENCE_CLOSED = (
    "Punten en uren kunnen alleen worden ingevoerd zolang de VvOCM ze nog niet heeft "
    "beoordeeld; de aanvraag staat op '{label}'."
)
EVIDENCE_SAVED = "De punten en uren zijn opgeslagen; de telling hieronder is bijgewerkt."

# Planning the intake call.
SLOTS_TITLE = "Tijden voor het startgesprek aanbieden"
SLOTS_NOT_NOW = (
    "Tijden voor het startgesprek horen bij de stap 'Startgesprek'; de aanvraag staat op "
    "'{label}'."
)
SLOT_ALREADY_CHOSEN = "Er is al een tijd voor het startgesprek gekozen."
SLOT_ALREADY_HELD = (
    "Het startgesprek is al geweest (de gekozen tijd ligt in het verleden). Leg de uitkomst vast "
    "in plaats van nieuwe tijden aan te bieden."
)
INTAKE_MOVED = "De VvOCM heeft het gesprek verplaatst; er zijn nieuwe tijden aangeboden."
INTAKE_CANCELLED_OUTCOME = (
    "De VvOCM heeft de uitkomst al vastgelegd; het gesprek is niet meer nodig."
)
INTAKE_CANCELLED_CLOSED = "De aanvraag is afgesloten ({label}); het gesprek gaat niet door."
SLOT_UNKNOWN = "Kies een van de aangeboden tijden."
SLOT_IN_PAST = "Kies tijden in de toekomst."
SLOT_CHOSEN = "Uw startgesprek staat gepland. De uitnodiging voor uw agenda is naar u gemaild."
SLOTS_NOT_OFFERED = "De tijden zijn niet aangeboden. Verbeter de gemarkeerde velden."
SLOTS_OFFERED = "De tijden zijn aangeboden; de oefentherapeut krijgt een e-mail om te kiezen."
INTAKE_FEE_LINE = "Kosten: {fee} (u bent geen lid van de VvOCM), factuur {number}."

# Paying.
PAY_ONLINE_OFF = (
    "Online betalen is niet beschikbaar. Maak het bedrag over; de gegevens staan in de e-mail."
)
PAY_UNAVAILABLE = (
    "De betaaldienst is nu niet bereikbaar. Probeer het over een paar minuten opnieuw, of maak "
    "het bedrag over; de gegevens staan in de e-mail."
)
PAY_ALREADY_PAID = "Deze factuur is al betaald. U hoeft niets meer te doen."
PAY_RETURNED_PAID = "Dank u wel: uw betaling is ontvangen."
PAY_RETURNED_OPEN = (
    "Uw betaling is nog niet bevestigd. Dat kan enkele minuten duren; deze pagina ververst "
    "vanzelf. Is het betalen afgebroken, dan kunt u het opnieuw proberen."
)
CAMT_NOT_XML = "Dit bestand is geen XML. Download het rekeningafschrift als CAMT.053 (XML)."
CAMT_NOT_053 = (
    "Dit is geen rekeningafschrift in CAMT.053-formaat. Kies bij uw bank de export "
    "'CAMT.053' (XML)."
)
CAMT_NOT_OWN_ACCOUNT = (
    "Dit afschrift is van rekening {account}. U leest hier alleen afschriften van {own} in; "
    "er is niets vastgelegd.")
CAMT_FILE_REQUIRED = "Kies het rekeningafschrift (CAMT.053, XML)."
