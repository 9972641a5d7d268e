"""The office's figures as a page (service/reports.py); the chart is SVG drawn on the server,
so the page needs no JavaScript. Each report downloads as CSV from the page (and
`herregistratie report --csv` gives the same)."""

from __future__ import annotations

import io
from datetime import date

from dateutil.relativedelta import relativedelta
from fastapi import APIRouter, Depends, HTTPException, Request
from fastapi.responses import HTMLResponse, Response
from markupsafe import Markup
from sqlmodel import Session

from service import reports
from service.accounts import StaffUser
from settings import get_settings
from web.deps import db
from web.routes.staff import STAFF
from web.templating import templates

router = APIRouter(include_in_schema=False)
REPORT_UNKNOWN = "Dit rapport bestaat niet."


def _first_month(van: str, today: date) -> date:
    """`van` as a month (jjjj-mm) within a century of today; anything else is this month."""
    try:
        first = date.fromisoformat(f"{van}-01") if van else today.replace(day=1)
    except ValueError:
        return today.replace(day=1)
    return first if abs(first.year - today.year) <= 100 else today.replace(day=1)


@router.get("/rapportage/{report}.csv")
def report_csv(report: str, van: str = "", user: StaffUser = STAFF,
               session: Session = Depends(db)) -> Response:
    """One report as a spreadsheet file (`;`, UTF-8 with a BOM so Excel reads it right)."""
    if report not in reports.REPORTS:
        raise HTTPException(status_code=404, detail=REPORT_UNKNOWN)
    today = get_settings().current_date()
    header, rows = reports.table(session, report, today, _first_month(van, today), 36)
    out = io.StringIO()
    out.write("\ufeff")
    reports.write_csv(out, header, rows)
    return Response(out.getvalue(), media_type="text/csv; charset=utf-8", headers={
        "Content-Disposition": f'attachment; filename="{report}-{today.isoformat()}.csv"'})


@router.get("/rapportage", response_class=HTMLResponse)
def report_page(request: Request, van: str = "", user: StaffUser = STAFF,
                session: Session = Depends(db)) -> Response:
    today = get_settings().current_date()
    first = _first_month(van, today)
    months = reports.forecast(session, first, 36)
    return templates().TemplateResponse(request, "reports.html", {
        "user": user, "today": today, "open": reports.open_cases(session),
        "cycle": reports.cycle_times(session), "overdue": reports.overdue(session, today),
        "outstanding": reports.outstanding(session), "kinds": reports.kind_name,
        "months": months, "chart": Markup(reports.forecast_chart(months)),  # noqa: S704
        "codes": sorted({code for m in months for code in m.by_register}),
        "earlier": (first - relativedelta(months=12)).strftime("%Y-%m"),
        "later": (first + relativedelta(months=12)).strftime("%Y-%m"),
        "van": first.strftime("%Y-%m"), "reports": reports.REPORTS,
    })
