"""One settings object for the whole application (pydantic-settings, `HERREG_` prefix).

Nested groups use a double underscore: `HERREG_DATABASE__URL`, `HERREG_SMTP__URL`.
Nothing is read at import time; call `get_settings()`.
"""

from __future__ import annotations

from datetime import date, datetime
from functools import cache
from pathlib import Path
from typing import Literal
from zoneinfo import ZoneInfo

from pydantic import BaseModel, Field, model_validator
from pydantic_settings import BaseSettings, SettingsConfigDict

AMSTERDAM = ZoneInfo("Europe/Amsterdam")
DEVELOPMENT_SECRET = "alleen-voor-ontwikkeling"


class DatabaseSettings(BaseModel):
    url: str = Field("", description="SQLAlchemy URL; empty means SQLite under data_dir")


class SmtpSettings(BaseModel):
    url: str = Field("smtp://127.0.0.1:8025", description="smtp://host:port or file:///dir")
    sender: str = "Herregistratie KP/VvOCM <noreply@herregistratie.local>"
    timeout_seconds: float = 10.0


class PrefectSettings(BaseModel):
    api_url: str = "http://127.0.0.1:4200/api"
    deployment: str = "lapsed-specialisation/lapsed-specialisation"
    closure_deployment: str = "case-closure/case-closure"
    server_database_url: str = Field("", description="Prefect server DB; empty: SQLite")
    query_seconds: float = Field(0.5, description="how often the worker polls for runs")
    concurrency: int = Field(5, description="case runs executing at once (work-pool limit)")


class LinkSettings(BaseModel):
    secret_key: str = DEVELOPMENT_SECRET
    base_url: str = "http://127.0.0.1:8000"
    status_days: int = 120
    dossier_days: int = 60


class WebSettings(BaseModel):
    host: str = "127.0.0.1"
    port: int = 8000
    session_hours: int = 8
    max_failed_logins: int = 5
    lockout_minutes: int = 15
    page_size: int = 20


class AddressSettings(BaseModel):
    association: str = "info@vvocm.nl"
    register_office: str = "info@kwaliteitsregisterparamedici.nl"


class DeadlineSettings(BaseModel):
    """Days each pause waits for a person before the case expires (weeks, as in real life)."""

    association_decision: int = 42
    intake_outcome: int = 42
    portfolio_reopened: int = 28
    submission: int = 91
    payment: int = 42
    completeness: int = 28
    completion: int = 42
    assignment: int = 21
    findings: int = 42
    additions: int = 56
    grace: int = 2


class Settings(BaseSettings):
    model_config = SettingsConfigDict(
        env_prefix="HERREG_", env_nested_delimiter="__", extra="ignore"
    )

    environment: Literal["development", "test", "production"] = "development"
    data_dir: Path = Path(".data")
    today: date | None = Field(None, description="fixed 'today' for demos and tests")
    max_additions_rounds: int = 2
    database: DatabaseSettings = DatabaseSettings()
    smtp: SmtpSettings = SmtpSettings()
    prefect: PrefectSettings = PrefectSettings()
    links: LinkSettings = LinkSettings()
    addresses: AddressSettings = AddressSettings()
    web: WebSettings = WebSettings()
    deadlines: DeadlineSettings = DeadlineSettings()

    @model_validator(mode="after")
    def _no_development_secret_in_production(self) -> Settings:
        if self.environment == "production" and self.links.secret_key == DEVELOPMENT_SECRET:
            raise ValueError("HERREG_LINKS__SECRET_KEY must be set in production")
        return self

    @property
    def database_url(self) -> str:
        return self.database.url or f"sqlite:///{self.data_dir.resolve() / 'herregistratie.db'}"

    def current_date(self) -> date:
        """Today in Europe/Amsterdam, unless fixed for a demo or test."""
        return self.today or datetime.now(AMSTERDAM).date()


@cache
def get_settings() -> Settings:
    return Settings()
