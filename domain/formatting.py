"""How people read dates, moments, amounts and numbers: Dutch notation and Amsterdam's time,
the same on pages, in mails, on papers and in the command line. One home for each format."""

from __future__ import annotations

from datetime import UTC, date, datetime
from decimal import Decimal
from zoneinfo import ZoneInfo

from babel.dates import format_date as _babel_format_date
from babel.numbers import format_currency, format_decimal

AMSTERDAM = ZoneInfo("Europe/Amsterdam")
LOCALE = "nl_NL"


def format_date(d: date) -> str:
    """Long Dutch date ("15 maart 2026"): what the practitioner reads in a letter."""
    return _babel_format_date(d, format="long", locale=LOCALE)


def local_time(at: datetime) -> datetime:
    """In Amsterdam time; SQLite hands timestamps back without a zone (written in UTC)."""
    return (at if at.tzinfo else at.replace(tzinfo=UTC)).astimezone(AMSTERDAM)


def format_when(at: datetime) -> str:
    """"15 maart 2026, 14:05" in Amsterdam time: when something happened."""
    local = local_time(at)
    return f"{format_date(local.date())}, {local:%H:%M}"


def format_moment(value: datetime) -> str:
    """"dinsdag 27 oktober 2026 om 10:00" in Amsterdam time: an appointment."""
    local = value.astimezone(AMSTERDAM)
    return f"{_babel_format_date(local.date(), format='EEEE d MMMM y', locale=LOCALE)} om " \
        f"{local:%H:%M}"


def format_stamp(moment: datetime | None) -> str:
    """"15-03-2026 14:05" in Amsterdam time: a row in a history table ("" for none)."""
    return f"{local_time(moment):%d-%m-%Y %H:%M}" if moment is not None else ""


def format_euro(amount: Decimal) -> str:
    """Dutch currency notation ("€ 50,00", with a no-break space) so it never wraps apart."""
    return format_currency(amount, "EUR", locale=LOCALE)


def format_iban(iban: str) -> str:
    """In groups of four, as on a bank statement: "NL91 ABNA 0417 1643 00"."""
    compact = iban.replace(" ", "").upper()
    return " ".join(compact[i:i + 4] for i in range(0, len(compact), 4))


def format_number(value: Decimal | int) -> str:
    """Dutch number notation (1.600 hours, 80,5 points): a decimal point would misread."""
    return format_decimal(value, locale=LOCALE)


def file_size(size: int) -> str:
    """240 kB, 1,2 MB: the size a person recognises from their own file manager."""
    if size < 1024 * 1024:
        return f"{format_number(max(1, round(size / 1024)))} kB"
    return f"{format_decimal(round(size / 1024 / 1024, 1), locale=LOCALE)} MB"
