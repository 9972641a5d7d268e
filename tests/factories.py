"""Sample requests: evidence that meets or misses the KOT criteria on a given day, and the
files a practitioner sends with it."""

from __future__ import annotations

import io
from collections.abc import Callable
from datetime import date, timedelta
from typing import Any

from dateutil.relativedelta import relativedelta
from pypdf import PdfWriter

_counter = iter(range(100000, 999999))


def evidence(request_date: date, *, points: int = 90, hours: int = 900) -> dict[str, Any]:
    """Points split over courses, other and accredited; hours spread over four years."""
    day = request_date - relativedelta(years=1)
    each = points // 3
    activities = [
        {"on": (day - timedelta(days=i)).isoformat(), "points": str(each), "category": c,
         "accredited": c == "course" or i == 2, "title": f"Activiteit {i}"}
        for i, c in enumerate(["course", "other", "course"])
    ]
    return {
        "activities": activities,
        "work_hours": [{"start": (request_date - relativedelta(years=4)).isoformat(),
                        "end": (request_date - timedelta(days=1)).isoformat(),
                        "hours": str(hours)}],
        "bot_days": [],
    }


def request(request_date: date, *, member: bool = True, specialisation: str = "KOT",
            points: int = 90, hours: int = 900, lapsed_years: int = 6) -> dict[str, Any]:
    kp = str(next(_counter))
    return {
        "kp_number": kp, "name": f"Test Therapeut {kp}", "email": f"t{kp}@example.org",
        "member": member, "specialisation": specialisation, "request_date": request_date,
        "evidence": evidence(request_date, points=points, hours=hours),
        "previous_period_start": request_date - relativedelta(years=lapsed_years),
    }


def sample_pdf(change: Callable[[PdfWriter], object] | None = None) -> bytes:
    """A one-page PDF as office software writes it; `change` adds to it before it is written
    (a script, an attached file) for the tests that expect a refusal."""
    writer = PdfWriter()
    writer.add_blank_page(595, 842)
    if change:
        change(writer)
    out = io.BytesIO()
    writer.write(out)
    return out.getvalue()
