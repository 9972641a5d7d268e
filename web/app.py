"""The FastAPI application: pages, static files and the JSON API.

Every response carries the security headers; request bodies are capped before anything
parses them; a database or workflow server that is down gives one Dutch 503 (JSON on the
API), never a bare 500. The API's documentation is served from this site (works offline).
"""

from __future__ import annotations

import logging
from collections.abc import Awaitable, Callable
from pathlib import Path
from typing import Any

import fastapi_swagger
from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import HTMLResponse, JSONResponse, RedirectResponse, Response
from fastapi.staticfiles import StaticFiles
from starlette.exceptions import HTTPException as StarletteHTTPException
from starlette.middleware.sessions import SessionMiddleware

from domain import messages as m
from domain.errors import CaseNotFound, Unavailable
from service.sessions import DATABASE_DOWN
from settings import get_settings
from web.api import errors as api_errors
from web.api import routes as api
from web.deps import LoginRequired, PasswordChangeRequired
from web.routes import (
    admin,
    auth,
    case_files,
    inbox,
    intake,
    new_case,
    payments,
    practitioner,
    public,
    reports,
    reviewer,
    staff,
    way_in,
)
from web.security import SECURITY_HEADERS, BodyLimit
from web.templating import templates

log = logging.getLogger(__name__)
NOT_FOUND = "Deze pagina bestaat niet."
INVALID_PAGE_INPUT = (
    "Het formulier of het adres bevat iets wat niet klopt. Ga terug en probeer het opnieuw."
)
# Pages anyone may see and any cache may keep: the public register, the home page, assets.
PUBLIC_PATHS = ("/register", "/static", "/api/v1/docs/assets")
DEFAULT_DETAILS = {404: NOT_FOUND, 405: "Deze actie kan hier niet.",
                   500: "Er ging iets mis aan onze kant. Wat u eerder heeft vastgelegd, blijft "
                        "bewaard; probeer het later opnieuw."}


def create_app() -> FastAPI:
    settings = get_settings()
    app = FastAPI(title="Herregistratie", version="1", docs_url=None, redoc_url=None,
                  openapi_url="/api/v1/openapi.json")
    app.add_middleware(
        SessionMiddleware, secret_key=settings.session_secret,
        session_cookie="herreg_session", max_age=settings.web.session_hours * 3600,
        same_site="lax", https_only=settings.environment == "production",
    )
    megabyte, form = 1024 * 1024, 256 * 1024
    app.add_middleware(BodyLimit, limit=settings.web.max_body_bytes, larger={
        "/aanvragen/": 2 * settings.uploads.max_mb * megabyte + form,  # two files
        "/beheer/registraties": settings.uploads.import_max_mb * megabyte + form,
        "/betalingen/bankafschrift": settings.uploads.import_max_mb * megabyte + form})

    @app.middleware("http")
    async def _security_headers(request: Request,
                                call_next: Callable[[Request], Awaitable[Response]]) -> Response:
        response = await call_next(request)
        for name, value in SECURITY_HEADERS.items():
            response.headers.setdefault(name, value)
        if not request.url.path.startswith(PUBLIC_PATHS):
            # Staff pages (one-time passwords and API tokens on /beheer), link pages and the
            # API: kept in no cache, shared or the browser's own.
            response.headers.setdefault("Cache-Control", "no-store")
        return response

    @app.exception_handler(RequestValidationError)
    async def _invalid(request: Request, exc: RequestValidationError) -> Response:
        """The API answers with its Dutch 422 per field; a page with a Dutch page: a number
        in the address that names nothing (too long, not a number) is a 404, any other bad
        input a 422."""
        if request.url.path.startswith("/api/"):
            return await api_errors.invalid_request(request, exc)
        if any(error["loc"][:1] == ("path",) for error in exc.errors()):
            return _error(request, 404, NOT_FOUND, {})
        return _error(request, 422, INVALID_PAGE_INPUT, {})

    app.mount("/static", StaticFiles(directory=Path(__file__).parent / "static"), name="static")
    app.mount("/api/v1/docs/assets", StaticFiles(
        directory=Path(fastapi_swagger.__file__).parent / "resources"), name="api-docs-assets")
    # new_case before staff: /zaken/nieuw is not a case number
    for module in (auth, inbox, new_case, staff, case_files, intake, reviewer, practitioner,
                   public, way_in, payments, reports, admin, api):
        app.include_router(module.router)
    generate = app.openapi

    def openapi() -> dict[str, Any]:
        return api.body_schemas(generate()) if app.openapi_schema is None else app.openapi_schema

    app.openapi = openapi  # type: ignore[method-assign]

    @app.exception_handler(PasswordChangeRequired)
    async def _to_password(request: Request, _exc: PasswordChangeRequired) -> Response:
        request.session["flash"] = m.CHOOSE_OWN_PASSWORD
        return RedirectResponse("/wachtwoord", status_code=303)

    @app.exception_handler(CaseNotFound)
    async def _no_case(request: Request, _exc: CaseNotFound) -> Response:
        """A case number that names nothing, wherever a route meets it: the page's 404."""
        return _error(request, 404, NOT_FOUND, {})

    @app.exception_handler(LoginRequired)
    async def _to_login(_request: Request, exc: LoginRequired) -> Response:
        return RedirectResponse(f"/inloggen?volgende={exc.next_url}", status_code=303)

    @app.exception_handler(StarletteHTTPException)
    async def _error_page(request: Request, exc: StarletteHTTPException) -> Response:
        detail = exc.detail if isinstance(exc.detail, str) and exc.detail not in (
            "Not Found", "Method Not Allowed") else DEFAULT_DETAILS.get(exc.status_code,
                                                                         str(exc.detail))
        return _error(request, exc.status_code, detail, dict(exc.headers or {}))

    async def _unavailable(request: Request, exc: Exception) -> Response:
        """A change that met a database away or too busy did not happen (its transaction
        rolled back; a decision recorded before it went is reported as recorded by the
        service itself), and the person is told so."""
        reading = request.method in ("GET", "HEAD")
        detail = str(exc) if isinstance(exc, Unavailable) else \
            m.DATABASE_UNAVAILABLE if reading else m.NOTHING_RECORDED
        return _error(request, 503, detail, {"Retry-After": "30"})

    for kind in (*DATABASE_DOWN, Unavailable):
        app.add_exception_handler(kind, _unavailable)

    @app.exception_handler(Exception)
    async def _failure(request: Request, exc: Exception) -> Response:
        """A bug: the reader gets a Dutch page, the log the traceback."""
        log.error("Onverwachte fout bij %s %s", request.method, request.url.path, exc_info=exc)
        return _error(request, 500, DEFAULT_DETAILS[500], {})

    @app.get("/api/v1/docs", response_class=HTMLResponse, include_in_schema=False)
    async def api_docs(request: Request) -> Response:
        return templates().TemplateResponse(request, "api_docs.html", {})

    @app.get("/", response_class=HTMLResponse, include_in_schema=False)
    async def home(request: Request) -> Response:
        return templates().TemplateResponse(request, "home.html", {})

    return app


def _error(request: Request, status: int, detail: str, headers: dict[str, str]) -> Response:
    # The 500 page is made outside the middleware that adds these; every page gets them.
    headers = {**SECURITY_HEADERS, "Cache-Control": "no-store", **headers}
    if request.url.path.startswith("/api/"):
        return JSONResponse({"detail": detail}, status_code=status, headers=headers)
    return templates().TemplateResponse(request, "error.html",
                                        {"status": status, "detail": detail},
                                        status_code=status, headers=headers)
