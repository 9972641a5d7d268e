"""The office's figures as a page (service/reports.py); the chart is SVG drawn on the server,
so the page needs no JavaScript. `herregistratie report --csv` gives the same as CSV."""

from __future__ import annotations

from datetime import date

from dateutil.relativedelta import relativedelta
from fastapi import APIRouter, Depends, Request
from fastapi.responses import HTMLResponse, Response
from markupsafe import Markup
from sqlmodel import Session

from models.staff import StaffUser
from service import reports
from settings import get_settings
from web.deps import db
from web.routes.staff import STAFF
from web.templating import templates

router = APIRouter(include_in_schema=False)


@router.get("/rapportage", response_class=HTMLResponse)
def report_page(request: Request, van: str = "", user: StaffUser = STAFF,
                session: Session = Depends(db)) -> Response:
    today = get_settings().current_date()
    try:
        first = date.fromisoformat(f"{van}-01") if van else today.replace(day=1)
    except ValueError:
        first = today.replace(day=1)
    months = reports.forecast(session, first, 36)
    return templates().TemplateResponse(request, "reports.html", {
        "user": user, "today": today, "open": reports.open_cases(session),
        "cycle": reports.cycle_times(session), "overdue": reports.overdue(session, today),
        "outstanding": reports.outstanding(session), "kinds": reports.KIND_NAMES,
        "months": months, "chart": Markup(reports.forecast_chart(months)),  # noqa: S704
        "codes": sorted({code for m in months for code in m.by_register}),
        "earlier": (first - relativedelta(months=12)).strftime("%Y-%m"),
        "later": (first + relativedelta(months=12)).strftime("%Y-%m"),
    })
