"""The FastAPI application: pages, static files and the JSON API."""

from __future__ import annotations

from pathlib import Path

from fastapi import FastAPI, HTTPException, Request
from fastapi.responses import HTMLResponse, RedirectResponse, Response
from fastapi.staticfiles import StaticFiles
from starlette.middleware.sessions import SessionMiddleware

from settings import get_settings
from web.deps import LoginRequired
from web.routes import admin, api, auth, links, public, staff
from web.templating import templates


def create_app() -> FastAPI:
    settings = get_settings()
    app = FastAPI(title="Herregistratie", version="1", docs_url="/api/v1/docs",
                  openapi_url="/api/v1/openapi.json", redoc_url=None)
    app.add_middleware(
        SessionMiddleware, secret_key=settings.links.secret_key,
        session_cookie="herreg_session", max_age=settings.web.session_hours * 3600,
        same_site="lax", https_only=settings.environment == "production",
    )
    app.mount("/static", StaticFiles(directory=Path(__file__).parent / "static"), name="static")
    for module in (auth, staff, links, public, admin, api):
        app.include_router(module.router)
    api.install(app)

    @app.exception_handler(LoginRequired)
    async def _to_login(_request: Request, exc: LoginRequired) -> Response:
        return RedirectResponse(f"/inloggen?volgende={exc.next_url}", status_code=303)

    @app.exception_handler(HTTPException)
    async def _error_page(request: Request, exc: HTTPException) -> Response:
        if request.url.path.startswith("/api/"):
            from fastapi.responses import JSONResponse

            return JSONResponse({"detail": exc.detail}, status_code=exc.status_code,
                                headers=exc.headers)
        return templates().TemplateResponse(
            request, "error.html", {"status": exc.status_code, "detail": exc.detail},
            status_code=exc.status_code,
        )

    @app.get("/", response_class=HTMLResponse, include_in_schema=False)
    async def home(request: Request) -> Response:
        return templates().TemplateResponse(request, "home.html", {})

    return app
