"""Every case mail renders in Dutch, with the status link for practitioners and safe HTML."""

from __future__ import annotations

import ast
from dataclasses import dataclass, field
from datetime import UTC, date, datetime
from decimal import Decimal

import pytest
from jinja2 import UndefinedError
from markupsafe import escape

from adapters.rendering import TEMPLATE_NAMES, TEMPLATES_DIR, RenderedMail, render_mail
from domain.formatting import format_date, format_euro

STATUS_URL = "https://herregistratie.example/status/HR-2026-00012?token=abc&lang=nl"
DOSSIER_URL = "https://herregistratie.example/beoordeling/HR-2026-00012?token=xyz&ronde=1"
NBSP = "\u00a0"

STAFF_OR_REVIEWER = {
    "intake_slot_chosen",
    "intake_call_cancelled_association",
    "step_overdue",
    "review_overdue",
    "association_check_requested",
    "reopen_advice",
    "review_assigned",
    "additions_received",
    "completion_received",
}
# To a practitioner about a registration, before or without a case: no case, so no status link.
REGISTRANT = ("registration_reminder", "submission_window", "registration_lapsed")
NO_CASE_YET = ("request_confirmation", "request_not_possible")
PRACTITIONER = tuple(name for name in TEMPLATE_NAMES
                     if name not in STAFF_OR_REVIEWER and name not in REGISTRANT + NO_CASE_YET)


@dataclass(frozen=True)
class Shortfall:
    message: str


@dataclass(frozen=True)
class Verdict:
    sufficient: bool
    window: tuple[date, date]
    points_total: Decimal
    hours_total: Decimal
    shortfalls: list[Shortfall] = field(default_factory=list)
    notes: list[str] = field(default_factory=list)


VERDICT = Verdict(
    sufficient=False,
    window=(date(2021, 3, 15), date(2026, 3, 15)),
    points_total=Decimal("62.5"),
    hours_total=Decimal("1600"),
    shortfalls=[Shortfall("Er ontbreken 17,5 punten voor cursussen.")],
    notes=["De criteria van dit register zijn die van KOT."],
)

COMMON: dict[str, object] = {
    "case_number": "HR-2026-00012",
    "practitioner_name": "J. de Vries",
    "kp_number": "29012345678",
    "specialisation": "Kinderoefentherapie",
    "today": date(2026, 3, 15),
    "status_url": STATUS_URL,
}

EXTRAS: dict[str, dict[str, object]] = {
    "request_received": {"request_date": date(2026, 3, 15)},
    "association_check_requested": {
        "request_date": date(2026, 3, 15),
        "verdict": VERDICT,
        "member": False,
        "counted": True,
        "sent_files": 0,
        "case_url": "https://herregistratie.example/zaken/HR-2026-00012",
    },
    "intake_call_invited": {
        "member": False,
        "fee": Decimal("50"),
        "invoice_number": "F-2026-0042",
        "account": "VvOCM",
        "iban": "NL20INGB0001234567",
    },
    "declined": {
        "shortfalls": [Shortfall("Er ontbreken 200 uren werkervaring als kinderoefentherapeut.")],
        "note": "",
    },
    "association_approved": {
        "verdict": Verdict(
            sufficient=True,
            window=(date(2021, 3, 15), date(2026, 3, 15)),
            points_total=Decimal("84"),
            hours_total=Decimal("950"),
        ),
    },
    "reopen_advice": {
        "association_staff": "A. Jansen",
        "verdict": Verdict(
            sufficient=True,
            window=(date(2021, 3, 15), date(2026, 3, 15)),
            points_total=Decimal("84"),
            hours_total=Decimal("950"),
        ),
        "note": "Startgesprek gevoerd op 10 maart.",
    },
    "portfolio_reopened": {"reopened_on": date(2026, 3, 15), "due_date": date(2026, 5, 15)},
    "invoice_issued": {
        "invoice_number": "F-2026-0043",
        "amount": Decimal("84.00"),
        "submitted_on": date(2026, 3, 15),
        "account": "Stichting Kwaliteitsregister Paramedici",
        "iban": "NL91ABNA0417164300",
        "due_date": date(2026, 4, 14),
        "pay_url": None,
    },
    "payment_confirmed": {
        "invoice_number": "F-2026-0043",
        "amount": Decimal("84.00"),
        "paid_on": date(2026, 3, 15),
    },
    "completion_requested": {
        "missing": "Het overzicht van de uren werkervaring ontbreekt.",
        "due_date": date(2026, 4, 15),
    },
    "review_assigned": {
        "reviewer_name": "dr. P. Bakker",
        "dossier_url": DOSSIER_URL,
        "link_valid_until": date(2026, 5, 1),
        "due_date": date(2026, 4, 15),
        "round": 1,
    },
    "additions_requested": {
        "requested": "Voeg de bewijzen van de twee intervisiebijeenkomsten toe.",
        "round": 1,
        "due_date": date(2026, 4, 15),
    },
    "additions_received": {
        "reviewer_name": "dr. P. Bakker",
        "dossier_url": DOSSIER_URL,
        "link_valid_until": date(2026, 5, 15),
        "description": "Bewijzen van intervisie toegevoegd.",
        "round": 2,
        "due_date": date(2026, 4, 29),
    },
    "completion_received": {
        "case_url": "https://herregistratie.example/zaken/HR-2026-00012",
        "supplied_on": date(2026, 4, 2),
        "description": "Uittreksel toegevoegd.",
    },
    "certificate_issued": {
        "period_start": date(2026, 3, 15),
        "period_end": date(2031, 3, 14),
        "certificate_number": "KOT-2026-000123",
    },
    "rejected": {"explanation": "De uren werkervaring zijn niet gericht op de specialisatie."},
    "withdrawn": {"reason": "Op verzoek van de oefentherapeut.", "withdrawn_by": "de VvOCM",
                  "credit_number": None, "credit_amount": None, "kept_amount": None},
    "expired": {"awaited": "uw betaling", "due_date": date(2026, 3, 15), "credit_number": None,
                "credit_amount": None, "kept_amount": None},
    "fresh_link": {},
    **{name: {"register": "Kwaliteitsregister Paramedici", "is_specialisation": True,
              "period_start": date(2021, 3, 15), "period_end": date(2026, 3, 14),
              "deadline": date(2026, 5, 14), "intake_fee_non_member": Decimal("50.00"),
              "start_url": "https://herregistratie.example/aanvragen?kp=123456789"}
       for name in REGISTRANT},
    "deadline_reminder": {"audience": "practitioner", "awaited": "de betaling",
                          "due_date": date(2026, 4, 15), "days_left": 7,
                          "case_url": "https://herregistratie.example/zaken/HR-2026-00012",
                          "reviewer_name": "dr. P. Bakker", "dossier_url": DOSSIER_URL},
    "review_overdue": {"due_date": date(2026, 4, 15), "days_late": 3,
                       "reviewer_name": "dr. P. Bakker", "reviewer_email": "p.bakker@example.org",
                       "case_url": "https://herregistratie.example/zaken/HR-2026-00012"},
    "intake_slots_offered": {"slots": [datetime(2026, 10, 24, 8, 0, tzinfo=UTC),
                                       datetime(2026, 10, 27, 9, 0, tzinfo=UTC)],
                             "minutes": 45, "pick_by": date(2026, 10, 23), "moved": True},
    **{name: {"starts_at": datetime(2026, 10, 27, 9, 0, tzinfo=UTC),
              "reason": "De VvOCM heeft het gesprek verplaatst; er zijn nieuwe tijden aangeboden."}
       for name in ("intake_call_cancelled", "intake_call_cancelled_association")},
    "step_overdue": {"office": "register", "awaited": "de controle op volledigheid",
                     "due_date": date(2026, 4, 15), "days_late": 3,
                     "case_url": "https://herregistratie.example/zaken/HR-2026-00012"},
    **{name: {"starts_at": datetime(2026, 10, 27, 9, 0, tzinfo=UTC),
              "ends_at": datetime(2026, 10, 27, 9, 45, tzinfo=UTC),
              "video_link": "https://meet.example.org/vvocm-startgesprek",
              "fee_line": "Kosten: € 50,00 (u bent geen lid van de VvOCM), factuur VF-2026-00001."}
       for name in ("intake_call_planned", "intake_slot_chosen")},
    "invoice_reminder": {"invoice_number": "VF-2026-00001", "amount": Decimal("50.00"),
                         "due_date": date(2026, 4, 15), "account": "VvOCM",
                         "iban": "NL20INGB0001234567"},
    "request_confirmation": {"request_url": "https://herregistratie.example/aanvragen/t0k3n",
                             "hours": 48},
    "request_not_possible": {"reason": "Uw specialisatie is nog niet vervallen: u kunt de "
                             "gewone herregistratie aanvragen tot en met 1 maart 2027."},
}


def context_for(template: str, **overrides: object) -> dict[str, object]:
    return {**COMMON, **EXTRAS[template], **overrides}


def render(template: str, **overrides: object) -> RenderedMail:
    return render_mail(template, context_for(template, **overrides))


def test_every_template_has_a_sample_context_and_three_files() -> None:
    assert set(EXTRAS) == set(TEMPLATE_NAMES)
    for name in (*TEMPLATE_NAMES, "_base"):
        for part in ("subject.txt", "body.txt", "body.html"):
            assert (TEMPLATES_DIR / name / part).is_file(), f"{name}/{part}"


def test_every_template_folder_is_a_mail_the_code_sends() -> None:
    """The folders are the list of mails (adapters/rendering.py): one no step, notice or
    page names is dead, and a name without its folder fails when rendered."""
    root = TEMPLATES_DIR.parent.parent
    named: set[str] = set()
    for package in ("tasks", "service", "adapters", "domain", "flows"):
        for path in (root / package).rglob("*.py"):
            named |= {node.value for node in ast.walk(ast.parse(path.read_text()))
                      if isinstance(node, ast.Constant) and isinstance(node.value, str)}
    assert set(TEMPLATE_NAMES) - named == set()
    assert "_base" not in TEMPLATE_NAMES


@pytest.mark.parametrize("template", TEMPLATE_NAMES)
def test_every_template_renders_with_base_layout(template: str) -> None:
    mail = render(template)

    assert mail.subject
    assert "\n" not in mail.subject and mail.subject == mail.subject.strip()
    assert mail.subject.endswith("(HR-2026-00012)")
    for body in (mail.text, mail.html):
        assert "Kwaliteitsregister Paramedici en VvOCM" in body
        assert "info@kwaliteitsregisterparamedici.nl" in body
        assert "info@vvocm.nl" in body
        assert "automatisch verzonden" in body
        assert "HR-2026-00012" in body
    assert "\n\n\n" not in mail.text
    assert mail.text.endswith("\n")
    assert mail.html.startswith("<!DOCTYPE html>")
    assert '<html lang="nl">' in mail.html
    assert f"<title>{mail.subject}</title>" in mail.html
    assert "<h1 " in mail.html
    assert "http://" not in mail.html and "src=" not in mail.html


@pytest.mark.parametrize("template", PRACTITIONER)
def test_practitioner_mails_show_status_link(template: str) -> None:
    mail = render(template)

    assert mail.text.startswith("Geachte J. de Vries,")
    assert f"Volg uw aanvraag: {STATUS_URL}" in mail.text
    assert f'href="{STATUS_URL.replace("&", "&amp;")}"' in mail.html
    assert "Volg uw aanvraag:" in mail.html


@pytest.mark.parametrize("template", PRACTITIONER)
def test_practitioner_mail_without_status_url_fails(template: str) -> None:
    context = context_for(template)
    del context["status_url"]
    with pytest.raises(UndefinedError):
        render_mail(template, context)


@pytest.mark.parametrize("template", sorted(STAFF_OR_REVIEWER))
def test_staff_and_reviewer_mails_do_not_carry_the_practitioner_link(template: str) -> None:
    mail = render(template)

    assert "Volg uw aanvraag" not in mail.text
    assert "/status/" not in mail.text and "/status/" not in mail.html


@pytest.mark.parametrize("template", REGISTRANT)
@pytest.mark.parametrize("specialisation", [True, False])
def test_registration_mails_greet_the_practitioner_and_name_the_last_day(
        template: str, specialisation: bool) -> None:
    context = context_for(template, is_specialisation=specialisation)
    del context["status_url"]
    mail = render_mail(template, context)
    assert mail.text.startswith("Geachte J. de Vries,")
    assert "14 mei 2026" in mail.text and "14 mei 2026" in mail.html
    assert "Volg uw aanvraag" not in mail.text
    assert ("specialisatieregister" in mail.text) is specialisation
    assert ("diplomaregister" in mail.text) is not specialisation


def test_the_lapse_mail_links_to_the_way_in_and_still_names_the_association() -> None:
    mail = render("registration_lapsed")
    for body in (mail.text, mail.html):
        assert "https://herregistratie.example/aanvragen?kp=123456789" in body
        assert "info@vvocm.nl" in body


def test_the_confirmation_mail_carries_the_link_and_says_nothing_is_registered_yet() -> None:
    context = context_for("request_confirmation")
    del context["status_url"]
    mail = render_mail("request_confirmation", context)
    assert mail.text.startswith("Geachte J. de Vries,")
    for body in (mail.text, mail.html):
        assert "https://herregistratie.example/aanvragen/t0k3n" in body
        assert "48 uur" in body and "er wordt niets geregistreerd" in body
    assert "Volg uw aanvraag" not in mail.text


@pytest.mark.parametrize(("audience", "greeting", "link"), [
    ("practitioner", "Geachte J. de Vries,", STATUS_URL),
    ("reviewer", "Geachte dr. P. Bakker,", DOSSIER_URL),
    ("association", "Beste collega's van de VvOCM,", "/zaken/HR-2026-00012"),
    ("register", "Beste collega's van het KP,", "/zaken/HR-2026-00012"),
])
def test_a_deadline_reminder_greets_whoever_must_act_with_their_own_link(
        audience: str, greeting: str, link: str) -> None:
    mail = render("deadline_reminder", audience=audience)
    assert mail.text.startswith(greeting) and link in mail.text and escape(link) in mail.html
    assert "15 april 2026" in mail.subject and "15 april 2026" in mail.text
    assert ("/status/" in mail.text) is (audience == "practitioner")
    assert "(nog 7 dagen)" in mail.text or audience == "reviewer"
    assert "(vandaag)" in render("deadline_reminder", audience=audience, days_left=0).text \
        or audience == "reviewer"


def test_vvocm_is_asked_to_count_from_the_files_when_the_request_came_through_the_web() -> None:
    counted = render("association_check_requested")
    assert "Voorlopige telling" in counted.text and "De telling is een hulpmiddel" in counted.text
    to_count = render("association_check_requested", counted=False, sent_files=2)
    for body in (to_count.text, to_count.html):
        assert "stuurde via de website 2 bestanden" in body and "Voorlopige telling" not in body
        assert "/zaken/HR-2026-00012" in body and "Het besluit is aan u." in body


def test_intake_times_are_in_amsterdam_time_with_the_weekday() -> None:
    offered = render("intake_slots_offered")
    assert "zaterdag 24 oktober 2026 om 10:00" in offered.text  # summer time, UTC+2
    assert "dinsdag 27 oktober 2026 om 10:00" in offered.text  # winter time, UTC+1
    planned = render("intake_call_planned")
    assert "dinsdag 27 oktober 2026 om 10:00 tot 10:45" in planned.text
    assert "https://meet.example.org/vvocm-startgesprek" in planned.html


def test_an_invoice_mail_carries_the_ideal_link_when_online_payment_is_on() -> None:
    link = "https://herregistratie.example/betalen/t0k3n"
    assert "iDEAL" not in render("invoice_issued").text
    mail = render("invoice_issued", pay_url=link)  # KP's fee; VvOCM's intake fee is a transfer
    assert f"Betaal direct met iDEAL: {link}" in mail.text and link in mail.html


def test_dates_are_long_dutch() -> None:
    assert format_date(date(2026, 3, 15)) == "15 maart 2026"
    assert format_date(date(2031, 3, 14)) == "14 maart 2031"

    assert "op 15 maart 2026 uw aanvraag ontvangen" in render("request_received").text
    certificate = render("certificate_issued")
    assert "15 maart 2026 tot en met 14 maart 2031" in certificate.text
    assert "15 maart 2026 tot en met 14 maart 2031" in certificate.html


def test_euro_amounts_use_dutch_notation_with_no_break_space() -> None:
    assert format_euro(Decimal("50")) == f"€{NBSP}50,00"
    assert format_euro(Decimal("1234.5")) == f"€{NBSP}1.234,50"

    invoice = render("invoice_issued")
    assert f"Bedrag: €{NBSP}84,00" in invoice.text
    assert f"€{NBSP}84,00" in invoice.html


def test_points_and_hours_use_dutch_number_notation() -> None:
    mail = render("association_check_requested")

    assert "Punten: 62,5" in mail.text
    assert "Uren werkervaring: 1.600" in mail.text
    assert "Periode: 15 maart 2021 tot en met 15 maart 2026" in mail.text
    assert "Er ontbreken 17,5 punten voor cursussen." in mail.text
    assert "Lid van de VvOCM: nee" in mail.text


def test_intake_call_costs_a_fee_with_invoice_for_non_members() -> None:
    mail = render("intake_call_invited")

    assert f"€{NBSP}50,00" in mail.text
    assert "factuur F-2026-0042" in mail.text
    assert "gratis" not in mail.text


def test_intake_call_is_free_for_members() -> None:
    mail = render("intake_call_invited", member=True, fee=Decimal("0"), invoice_number=None)

    assert "gratis" in mail.text and "gratis" in mail.html
    assert "€" not in mail.text and "factuur" not in mail.text


def test_intake_call_invoice_number_may_be_missing() -> None:
    mail = render("intake_call_invited", invoice_number=None)

    assert "ontvangt u een factuur" in mail.text


@pytest.mark.parametrize(("template", "key"), [("declined", "note"), ("rejected", "explanation")])
def test_html_escapes_user_text_and_plain_text_keeps_it(template: str, key: str) -> None:
    payload = '<script>alert("x")</script>'
    mail = render(template, **{key: payload})

    assert payload in mail.text
    assert "<script" not in mail.html
    assert "&lt;script&gt;alert(&#34;x&#34;)&lt;/script&gt;" in mail.html


def test_empty_optional_note_and_reason_are_left_out() -> None:
    assert "Toelichting" not in render("declined").text
    assert "Reden:" not in render("withdrawn", reason="").text
    kept = render("expired", kept_amount=Decimal("84.00"),
                  register_address="info@kwaliteitsregisterparamedici.nl").text
    assert "betalen wij dit bedrag niet terug" in kept and f"€{NBSP}84,00" in kept
    credited = render("withdrawn", credit_number="CF-2026-00001",
                      credit_amount=Decimal("84.00")).text
    assert "creditnota CF-2026-00001" in credited and "niet terug" not in credited
    assert "Reden:" in render("withdrawn").text


def test_subject_is_one_line_even_with_newlines_in_context() -> None:
    mail = render("association_check_requested", practitioner_name="J. de Vries\r\nBcc: x@y.nl")

    assert "\r" not in mail.subject and "\n" not in mail.subject
    assert "J. de Vries Bcc: x@y.nl" in mail.subject


def test_missing_context_key_raises() -> None:
    context = context_for("request_received")
    del context["request_date"]
    with pytest.raises(UndefinedError):
        render_mail("request_received", context)


def test_none_date_fails_instead_of_printing_today() -> None:
    with pytest.raises(TypeError, match="datum"):
        render("expired", due_date=None)


def test_missing_attribute_on_context_object_raises() -> None:
    with pytest.raises(UndefinedError):
        render("declined", shortfalls=[object()])


@pytest.mark.parametrize("name", ["does_not_exist", "_base", "../email/declined", ""])
def test_unknown_template_raises_value_error(name: str) -> None:
    with pytest.raises(ValueError, match="unknown mail template"):
        render_mail(name, COMMON)


def test_rendered_mail_is_immutable() -> None:
    mail = render("expired")
    with pytest.raises(AttributeError):
        mail.subject = "x"  # type: ignore[misc]


@pytest.mark.parametrize("template", ["review_assigned", "additions_received"])
def test_reviewer_mails_say_until_when_the_link_works(template: str) -> None:
    mail = render(template)
    until = format_date(date(2026, 5, 1) if template == "review_assigned" else date(2026, 5, 15))
    for body in (mail.text, mail.html):
        assert f"De link werkt tot en met {until}." in body


def test_invoice_mail_says_where_to_pay_with_which_reference_and_by_when() -> None:
    invoice = render("invoice_issued")
    for line in ("Over te maken aan: Stichting Kwaliteitsregister Paramedici",
                 "IBAN: NL91 ABNA 0417 1643 00", "Betalingskenmerk: F-2026-0043",
                 "Uiterste betaaldatum: 14 april 2026"):
        assert line in invoice.text
    assert "NL91 ABNA 0417 1643 00" in invoice.html and "F-2026-0043" in invoice.html


def test_intake_fee_mail_says_where_to_pay() -> None:
    mail = render("intake_call_invited")
    assert "overmaken aan VvOCM, IBAN NL20 INGB 0001 2345 67, onder vermelding van F-2026-0042" \
        in mail.text
