"""Register policies: the dates of R1/R2/R4/R6/R12/R17 to the day, and the criteria of R6/R15."""

from __future__ import annotations

from datetime import date, timedelta
from decimal import Decimal
from pathlib import Path

import pytest
from pydantic import ValidationError

from policies import (
    Activity,
    BotDayAttendance,
    Evidence,
    PolicyError,
    RegisterPolicy,
    Shortfall,
    Verdict,
    WorkHours,
    available_codes,
    load_policy,
)

REGISTERS = Path(__file__).resolve().parent.parent / "policies" / "registers"
KP_REGISTERS = ("KP", "KOT", "BOT", "PSOT", "GOT")


def activity(points: int, category: str, on: date, *, accredited: bool = False) -> Activity:
    return Activity.model_validate(
        {"on": on, "points": points, "category": category, "accredited": accredited}
    )


def kot_complete(on: date) -> Evidence:
    """Exactly KOT's minimum, everything on one day."""
    return Evidence(
        activities=[
            activity(40, "course", on, accredited=True),
            activity(40, "other", on),
        ],
        work_hours=[WorkHours(start=on, end=on, hours=Decimal(800))],
    )


def bot_evidence(days: list[date], request: date) -> Evidence:
    """KOT's numbers met on the request date, plus the BOT days attended."""
    base = kot_complete(request)
    return base.model_copy(update={"bot_days": [BotDayAttendance(on=d) for d in days]})


# --- loading ---


def test_all_registers_load() -> None:
    assert set(available_codes()) == {"KP", "KOT", "BOT", "PSOT", "GOT", "KWOT"}
    for code in available_codes():
        policy = load_policy(code)
        assert isinstance(policy, RegisterPolicy)
        assert policy.code == code


def test_names_and_registers_are_dutch() -> None:
    kot = load_policy("KOT")
    assert kot.name == "Kinderoefentherapie"
    assert kot.register == "Kwaliteitsregister Paramedici"
    assert kot.is_specialisation
    assert not load_policy("KP").is_specialisation
    assert load_policy("KWOT").register == "KWOT (Kabiz)"


def test_unknown_code_raises_policy_error() -> None:
    with pytest.raises(PolicyError, match="Onbekend register 'XYZ'"):
        load_policy("XYZ")
    with pytest.raises(PolicyError, match="Onbekend register"):
        load_policy("../kot")


def test_code_is_case_insensitive() -> None:
    assert load_policy("kot") is load_policy("KOT")


def _write(directory: Path, name: str, text: str) -> None:
    (directory / name).write_text(text, encoding="utf-8")


def test_invalid_toml_raises_policy_error_naming_file(tmp_path: Path) -> None:
    _write(tmp_path, "kot.toml", 'code = "KOT"\nname = \n')
    with pytest.raises(PolicyError, match="kot.toml") as caught:
        load_policy("KOT", directory=tmp_path)
    assert caught.value.file == "kot.toml"


def test_invalid_field_raises_policy_error_naming_file_and_field(tmp_path: Path) -> None:
    text = (REGISTERS / "kot.toml").read_text(encoding="utf-8")
    _write(tmp_path, "kot.toml", text.replace("points_total = 80", "points_total = -80"))
    with pytest.raises(PolicyError, match=r"kot\.toml.*criteria\.points_total") as caught:
        load_policy("KOT", directory=tmp_path)
    assert caught.value.field == "criteria.points_total"


def test_unknown_field_is_rejected(tmp_path: Path) -> None:
    text = (REGISTERS / "kot.toml").read_text(encoding="utf-8")
    _write(tmp_path, "kot.toml", text.replace("hours_total = 800", "hour_total = 800"))
    with pytest.raises(PolicyError, match="criteria.hour_total"):
        load_policy("KOT", directory=tmp_path)


def test_file_code_must_match_file_name(tmp_path: Path) -> None:
    text = (REGISTERS / "kot.toml").read_text(encoding="utf-8")
    _write(tmp_path, "kot.toml", text.replace('code = "KOT"', 'code = "BOT"'))
    with pytest.raises(PolicyError, match="verwacht 'KOT'"):
        load_policy("KOT", directory=tmp_path)


def test_bot_calendar_repeat_without_original_is_rejected(tmp_path: Path) -> None:
    text = (REGISTERS / "bot.toml").read_text(encoding="utf-8")
    repeat_2024 = "edition = 2024\nheld_on = 2026-04-10"
    broken = text.replace(repeat_2024, repeat_2024.replace("2024", "2018"))
    assert broken != text
    _write(tmp_path, "bot.toml", broken)
    _write(tmp_path, "kot.toml", (REGISTERS / "kot.toml").read_text(encoding="utf-8"))
    with pytest.raises(PolicyError, match=r"bot\.toml.*bot_days"):
        load_policy("BOT", directory=tmp_path)


def test_criteria_and_criteria_from_are_exclusive(tmp_path: Path) -> None:
    kot = (REGISTERS / "kot.toml").read_text(encoding="utf-8")
    _write(tmp_path, "kot.toml", kot)
    got = (REGISTERS / "got.toml").read_text(encoding="utf-8")
    _write(tmp_path, "got.toml", got + "\n[criteria]\npoints_total = 10\n")
    with pytest.raises(PolicyError, match="sluiten elkaar uit"):
        load_policy("GOT", directory=tmp_path)


# --- R1 / R17: period end ---


def test_period_ends_five_years_minus_one_day() -> None:
    for code in KP_REGISTERS:
        policy = load_policy(code)
        assert policy.period_end(date(2021, 3, 15)) == date(2026, 3, 14)
        assert policy.period_end(date(2022, 1, 1)) == date(2026, 12, 31)


def test_period_from_29_february_clamps_then_subtracts_a_day() -> None:
    # relativedelta: 2024-02-29 + 5 years = 2029-02-28, minus one day.
    assert load_policy("KOT").period_end(date(2024, 2, 29)) == date(2029, 2, 27)


def test_kwot_registered_2022_gets_six_years() -> None:
    kwot = load_policy("KWOT")
    assert kwot.period_end(date(2022, 12, 31)) == date(2028, 12, 30)
    assert kwot.period_end(date(2020, 1, 1)) == date(2025, 12, 31)
    assert kwot.period_end(date(2021, 6, 15)) == date(2027, 6, 14)


def test_kwot_registered_2023_gets_five_years() -> None:
    kwot = load_policy("KWOT")
    assert kwot.period_end(date(2023, 1, 1)) == date(2027, 12, 31)
    assert kwot.period_end(date(2019, 9, 1)) == date(2024, 8, 31)


def test_kwot_billing_data() -> None:
    kwot = load_policy("KWOT")
    assert kwot.billing_period_years == 5
    assert kwot.billing_on_request_months == 12
    assert kwot.non_accredited_handling_weeks == 10
    assert load_policy("KOT").billing_period_years is None


# --- R2 / R4: submission deadline and lapse ---


def test_submission_allowed_until_two_months_after_end() -> None:
    kot = load_policy("KOT")
    assert kot.submission_deadline(date(2026, 3, 14)) == date(2026, 5, 14)
    # 31 Dec + 2 months clamps to the end of February, leap year or not.
    assert kot.submission_deadline(date(2026, 12, 31)) == date(2027, 2, 28)
    assert kot.submission_deadline(date(2027, 12, 31)) == date(2028, 2, 29)
    # 29 Feb + 2 months is 29 April.
    assert kot.submission_deadline(date(2028, 2, 29)) == date(2028, 4, 29)


def test_lapsed_from_day_after_window() -> None:
    kot = load_policy("KOT")
    end = kot.period_end(date(2021, 3, 15))
    assert not kot.is_lapsed(end, end)
    assert not kot.is_lapsed(end, date(2026, 5, 14))
    assert kot.is_lapsed(end, date(2026, 5, 15))


def test_lapsed_after_31_december_end_from_1_march() -> None:
    kot = load_policy("KOT")
    assert not kot.is_lapsed(date(2026, 12, 31), date(2027, 2, 28))
    assert kot.is_lapsed(date(2026, 12, 31), date(2027, 3, 1))
    assert not kot.is_lapsed(date(2027, 12, 31), date(2028, 2, 29))
    assert kot.is_lapsed(date(2027, 12, 31), date(2028, 3, 1))


# --- R6: evidence window ---


def test_evidence_window_includes_both_ends_to_the_day() -> None:
    kot = load_policy("KOT")
    request = date(2026, 6, 10)
    assert kot.evidence_window(request) == (date(2021, 6, 10), request)

    def points_on(on: date) -> Decimal:
        evidence = Evidence(activities=[activity(5, "course", on)])
        return kot.assess(evidence, request).points_total

    assert points_on(date(2021, 6, 10)) == 5
    assert points_on(date(2021, 6, 9)) == 0
    assert points_on(request) == 5
    assert points_on(request + timedelta(days=1)) == 0

    def notes_on(on: date) -> list[str]:
        return kot.assess(Evidence(activities=[activity(5, "course", on)]), request).notes

    assert notes_on(date(2021, 6, 10)) == notes_on(request) == []
    assert notes_on(date(2021, 6, 9)) == [
        "Activiteit van 9 juni 2021 valt buiten de periode 10 juni 2021 t/m 10 juni 2026 en telt "
        "niet mee."
    ]
    assert notes_on(date(2026, 6, 11)) == [
        "Activiteit van 11 juni 2026 valt buiten de periode 10 juni 2021 t/m 10 juni 2026 en "
        "telt niet mee."
    ]


def test_evidence_window_from_29_february() -> None:
    assert load_policy("KOT").evidence_window(date(2028, 2, 29)) == (
        date(2023, 2, 28),
        date(2028, 2, 29),
    )


def test_work_hours_count_pro_rata_at_window_edge() -> None:
    kot = load_policy("KOT")
    request = date(2026, 1, 10)  # window starts 2021-01-10
    entry = WorkHours(start=date(2021, 1, 1), end=date(2021, 1, 20), hours=Decimal(200))
    verdict = kot.assess(Evidence(work_hours=[entry]), request)
    assert verdict.hours_total == Decimal("110.00")  # 11 of 20 days
    assert verdict.months_with_hours == 1
    assert verdict.notes == [
        "Werkervaring (1 januari 2021 t/m 20 januari 2021) valt deels buiten de periode: "
        "110 van 200 uur naar rato meegeteld."
    ]


def test_work_hours_ending_the_day_before_the_window_do_not_count() -> None:
    kot = load_policy("KOT")
    request = date(2026, 1, 10)  # window starts 2021-01-10
    entry = WorkHours(start=date(2021, 1, 1), end=date(2021, 1, 9), hours=Decimal(90),
                      description="Oude praktijk")
    verdict = kot.assess(Evidence(work_hours=[entry]), request)
    assert (verdict.hours_total, verdict.months_with_hours) == (0, 0)
    assert verdict.notes == [
        "Werkervaring 'Oude praktijk' (1 januari 2021 t/m 9 januari 2021) valt buiten de periode "
        "10 januari 2021 t/m 10 januari 2026 en telt niet mee."
    ]


def test_work_hours_wholly_inside_count_fully() -> None:
    kot = load_policy("KOT")
    year = WorkHours(start=date(2023, 1, 1), end=date(2023, 12, 31), hours=Decimal(800))
    verdict = kot.assess(Evidence(work_hours=[year]), date(2026, 1, 1))
    assert verdict.hours_total == Decimal(800)
    assert verdict.months_with_hours == 12
    assert verdict.notes == []


def test_pro_rata_thirds_add_up_to_whole_hours() -> None:
    kot = load_policy("KOT")
    request = date(2026, 1, 2)  # window starts 2021-01-02
    # Each entry spans three days, one inside the window: a third of 100 hours, three times.
    entries = [
        WorkHours(start=date(2020, 12, 31), end=date(2021, 1, 2), hours=Decimal(100))
        for _ in range(3)
    ]
    assert kot.assess(Evidence(work_hours=entries), request).hours_total == Decimal(100)


def test_work_hours_end_before_start_rejected() -> None:
    with pytest.raises(ValidationError, match="einddatum"):
        WorkHours(start=date(2023, 2, 1), end=date(2023, 1, 1), hours=Decimal(1))


def test_activity_points_must_be_positive() -> None:
    with pytest.raises(ValidationError):
        activity(0, "course", date(2023, 1, 1))


# --- R6: criteria ---


def test_kot_minimum_is_sufficient() -> None:
    verdict = load_policy("KOT").assess(kot_complete(date(2024, 1, 1)), date(2026, 1, 1))
    assert isinstance(verdict, Verdict)
    assert verdict.sufficient
    assert verdict.shortfalls == []
    assert verdict.points_total == 80
    assert verdict.points_by_category == {
        "course": Decimal(40),
        "other": Decimal(40),
        "accredited": Decimal(40),
    }
    assert verdict.bot_days_held is None


def test_kot_shortfalls_name_what_is_short() -> None:
    on = date(2024, 1, 1)
    evidence = Evidence(
        activities=[activity(50, "course", on), activity(18, "other", on)],
        work_hours=[WorkHours(start=on, end=on, hours=Decimal("799.5"))],
    )
    verdict = load_policy("KOT").assess(evidence, date(2026, 1, 1))
    assert not verdict.sufficient
    by_code = {s.code: s for s in verdict.shortfalls}
    assert set(by_code) == {"points_total", "points_other", "points_accredited", "hours_total"}
    assert by_code["points_total"].message == "Punten totaal: 80 vereist, 68 behaald (12 tekort)"
    assert by_code["points_other"].message == (
        "Punten overige activiteiten: 20 vereist, 18 behaald (2 tekort)"
    )
    assert by_code["points_accredited"].message == (
        "Geaccrediteerde punten: 20 vereist, 0 behaald (20 tekort)"
    )
    assert by_code["hours_total"].message == (
        "Uren werkervaring: 800 vereist, 799,5 behaald (0,5 tekort)"
    )


def test_shortfall_message_in_dutch() -> None:
    shortfall = Shortfall(
        code="points_total", label="Punten totaal", required=Decimal(80), actual=Decimal(68)
    )
    assert shortfall.message == "Punten totaal: 80 vereist, 68 behaald (12 tekort)"
    hours = Shortfall(code="hours_total", label="Uren werkervaring", required=Decimal(1600),
                      actual=Decimal("799.5"))
    # Thousands grouped, as everywhere numbers are shown to people (domain/formatting.py).
    assert hours.message == "Uren werkervaring: 1.600 vereist, 799,5 behaald (800,5 tekort)"


def test_base_register_needs_36_months() -> None:
    kp = load_policy("KP")
    on = date(2023, 1, 1)
    acts = [activity(80, "course", on), activity(80, "other", on)]
    # 1,600 hours over 35 months (2022-01 .. 2024-11): short by one month.
    short = WorkHours(start=date(2022, 1, 1), end=date(2024, 11, 30), hours=Decimal(1600))
    verdict = kp.assess(Evidence(activities=acts, work_hours=[short]), date(2026, 1, 1))
    assert verdict.months_with_hours == 35
    assert [s.code for s in verdict.shortfalls] == ["months_with_hours"]
    assert verdict.shortfalls[0].message == (
        "Maanden met werkervaring: 36 vereist, 35 behaald (1 tekort)"
    )
    enough = short.model_copy(update={"end": date(2024, 12, 1)})
    verdict = kp.assess(Evidence(activities=acts, work_hours=[enough]), date(2026, 1, 1))
    assert verdict.months_with_hours == 36
    assert verdict.sufficient


def test_base_register_needs_160_points_and_category_minima() -> None:
    kp = load_policy("KP")
    on = date(2023, 1, 1)
    evidence = Evidence(
        activities=[activity(130, "course", on), activity(30, "other", on)],
        work_hours=[WorkHours(start=date(2021, 1, 1), end=date(2023, 12, 31), hours=Decimal(1600))],
    )
    verdict = kp.assess(evidence, date(2026, 1, 1))
    assert [s.code for s in verdict.shortfalls] == ["points_other"]


def test_borrowed_criteria_say_so() -> None:
    note = "Criteria van KOT gebruikt tot het register eigen criteria vaststelt"
    for code in ("BOT", "PSOT", "GOT"):
        policy = load_policy(code)
        assert policy.criteria_note == note
        assert policy.criteria == load_policy("KOT").criteria
        assert note in policy.assess(Evidence(), date(2026, 1, 1)).notes
    assert load_policy("KOT").criteria_note is None
    assert load_policy("KP").criteria_note is None


def test_kwot_needs_80_points_without_hours_or_categories() -> None:
    kwot = load_policy("KWOT")
    on = date(2024, 1, 1)
    enough = Evidence(activities=[activity(80, "other", on)])
    verdict = kwot.assess(enough, date(2026, 1, 1))
    assert verdict.sufficient
    short = Evidence(activities=[activity(79, "course", on)])
    verdict = kwot.assess(short, date(2026, 1, 1))
    assert [s.code for s in verdict.shortfalls] == ["points_total"]


def test_activities_outside_window_noted() -> None:
    old = Activity(on=date(2019, 1, 1), points=Decimal(5), category="course", title="Oud congres")
    evidence = Evidence(activities=[old])
    verdict = load_policy("KOT").assess(evidence, date(2026, 1, 1))
    assert verdict.points_total == 0
    assert verdict.notes == [
        "Activiteit 'Oud congres' van 1 januari 2019 valt buiten de periode 1 januari 2021 t/m "
        "1 januari 2026 en telt niet mee."
    ]


# --- R7 / fees / R12 ---


def test_intake_call_free_for_members() -> None:
    for code in KP_REGISTERS:
        policy = load_policy(code)
        assert policy.intake_fee(member=True) == Decimal("0")
        assert policy.intake_fee(member=False) == Decimal("50.00")


def test_kwot_has_no_intake_call() -> None:
    with pytest.raises(PolicyError, match="startgesprek"):
        load_policy("KWOT").intake_fee(member=True)


def test_specialisation_reregistration_fee() -> None:
    for code in ("KOT", "BOT", "PSOT", "GOT"):
        assert load_policy(code).reregistration_fee == Decimal("84.00")
    with pytest.raises(PolicyError, match="herregistratietarief"):
        _ = load_policy("KP").reregistration_fee


def test_new_period_starts_on_submission_date() -> None:
    kot = load_policy("KOT")
    assert kot.new_period(date(2027, 4, 3)) == (date(2027, 4, 3), date(2032, 4, 2))
    assert kot.new_period(date(2028, 2, 29)) == (date(2028, 2, 29), date(2033, 2, 27))


# --- R15: BOT days (sample calendar: one edition a November, 2024 repeated 2026-04-10) ---


def test_bot_four_of_five_days() -> None:
    bot = load_policy("BOT")
    request = date(2026, 1, 1)  # window 2021-01-01 .. 2026-01-01: editions 2021..2025
    four = [date(2021, 11, 12), date(2022, 11, 11), date(2023, 11, 10), date(2025, 11, 14)]
    verdict = bot.assess(bot_evidence(four, request), request)
    assert (verdict.bot_days_held, verdict.bot_days_attended, verdict.bot_days_required) == (
        5,
        4,
        4,
    )
    assert verdict.sufficient

    verdict = bot.assess(bot_evidence(four[:3], request), request)
    assert not verdict.sufficient
    assert [s.message for s in verdict.shortfalls] == [
        "BOT-dagen gevolgd: 4 vereist, 3 behaald (1 tekort)"
    ]


def test_bot_repeat_day_counts_once() -> None:
    bot = load_policy("BOT")
    request = date(2026, 12, 1)  # window 2021-12-01 .. 2026-12-01: editions 2022..2026
    original_and_repeat = [
        date(2022, 11, 11),
        date(2023, 11, 10),
        date(2024, 11, 8),
        date(2026, 4, 10),
    ]
    verdict = bot.assess(bot_evidence(original_and_repeat, request), request)
    assert (verdict.bot_days_held, verdict.bot_days_attended) == (5, 3)
    assert [s.code for s in verdict.shortfalls] == ["bot_days"]

    repeat_instead = [date(2022, 11, 11), date(2023, 11, 10), date(2026, 4, 10), date(2025, 11, 14)]
    verdict = bot.assess(bot_evidence(repeat_instead, request), request)
    assert verdict.bot_days_attended == 4
    assert verdict.sufficient


def test_bot_repeat_in_window_holds_its_edition() -> None:
    bot = load_policy("BOT")
    # Window 2024-12-01 .. 2029-12-01 misses 2024's original but holds its repeat (2026-04-10):
    # editions 2024, 2025, 2026, 2027 held (the sample calendar ends in 2027).
    request = date(2029, 12, 1)
    attended = [date(2026, 4, 10), date(2025, 11, 14), date(2026, 11, 13)]
    verdict = bot.assess(bot_evidence(attended, request), request)
    assert (verdict.bot_days_held, verdict.bot_days_attended, verdict.bot_days_required) == (
        4,
        3,
        3,
    )
    assert verdict.sufficient


def test_bot_fewer_days_held_needs_all_but_one() -> None:
    bot = load_policy("BOT")
    request = date(2023, 1, 1)  # window 2018-01-01 .. 2023-01-01: editions 2019..2022 (four)
    two = bot.assess(bot_evidence([date(2019, 11, 8), date(2020, 11, 13)], request), request)
    assert (two.bot_days_held, two.bot_days_required) == (4, 3)
    assert not two.sufficient
    assert any("alle gehouden dagen op 1 na" in note for note in two.notes)
    three = bot.assess(
        bot_evidence([date(2019, 11, 8), date(2020, 11, 13), date(2022, 11, 11)], request),
        request,
    )
    assert three.sufficient


def test_bot_no_days_held_needs_none() -> None:
    request = date(2019, 1, 1)  # window 2014-01-01 .. 2019-01-01: before the first edition
    verdict = load_policy("BOT").assess(bot_evidence([], request), request)
    assert (verdict.bot_days_held, verdict.bot_days_required) == (0, 0)
    assert verdict.sufficient


def test_bot_unknown_attendance_date_is_ignored_with_note() -> None:
    request = date(2026, 1, 1)
    verdict = load_policy("BOT").assess(bot_evidence([date(2024, 11, 9)], request), request)
    assert verdict.bot_days_attended == 0
    assert "BOT-dag van 9 november 2024 komt niet voor in de BOT-dagkalender en telt niet mee." in (
        verdict.notes
    )


def test_bot_attendance_outside_window_does_not_count() -> None:
    request = date(2026, 1, 1)
    verdict = load_policy("BOT").assess(bot_evidence([date(2020, 11, 13)], request), request)
    assert verdict.bot_days_attended == 0
    assert (
        "BOT-dag van 13 november 2020 valt buiten de periode 1 januari 2021 t/m 1 januari 2026 "
        "en telt niet mee."
    ) in verdict.notes


def test_bot_verdict_says_calendar_is_sample_data() -> None:
    request = date(2026, 1, 1)
    verdict = load_policy("BOT").assess(bot_evidence([], request), request)
    assert any("voorbeelddata" in note for note in verdict.notes)
