"""One settings object for the whole application (pydantic-settings, `HERREG_` prefix).

Nested groups use a double underscore: `HERREG_DATABASE__URL`, `HERREG_SMTP__URL`.
Nothing is read at import time; call `get_settings()`.

Secrets have no working defaults: outside an explicit `development` or `test` environment the
session key, the link key and Prefect's API password must be configured, or nothing starts.
"""

from __future__ import annotations

import hashlib
import tempfile
from datetime import date, datetime
from decimal import Decimal
from functools import cache
from pathlib import Path
from typing import TYPE_CHECKING, Any, Literal

from pydantic import BaseModel, Field, ValidationError, create_model, model_validator
from pydantic_settings import BaseSettings, SettingsConfigDict

from domain.formatting import AMSTERDAM
from domain.procedure import PAUSES, Pause, Wait

# Only ever used in an explicit development or test environment (see `Settings`).
DEVELOPMENT_SECRETS = {
    "session": "ontwikkeling-sessies-niet-voor-productie-0000000000",
    "link": "ontwikkeling-links-niet-voor-productie-00000000000000",
}
MIN_SECRET_LENGTH = 32
MIN_PRODUCTION_PASSWORD = 12
# The databases of the stack's private PostgreSQL cluster: ours and Prefect's server's.
CLUSTER_DATABASES = {"cases": "herregistratie", "prefect": "prefect"}
MAX_SOCKET_PATH = 100


class SettingsError(Exception):
    """The configuration is incomplete or unsafe; the message says what to set (Dutch)."""


class DatabaseSettings(BaseModel):
    """Our case database. Each process (web app, executor process) has one pool; a request or
    a step holds one connection at a time, so `pool_size + max_overflow` requests can work at
    once and the rest wait `pool_timeout` seconds, then get a Dutch 503."""

    url: str = Field("", description="SQLAlchemy URL of our case database; empty: the "
                     "stack's private PostgreSQL cluster in data_dir")
    pool_size: int = Field(10, ge=1, description="connections kept open per process")
    max_overflow: int = Field(10, ge=0, description="extra connections under load")
    pool_timeout: float = Field(10, gt=0, description="seconds a request waits for a "
                                "connection before it is told to try again (503)")


class SmtpSettings(BaseModel):
    url: str = Field("smtp://127.0.0.1:8025", description="smtp://host:port or file:///dir")
    sender: str = "Herregistratie KP/VvOCM <noreply@herregistratie.local>"
    timeout_seconds: float = 10.0
    max_attempts: int = Field(8, ge=1, description="failed sends before a dead letter ...")
    give_up_hours: int = Field(24, ge=0, description="... once it has failed this long: an "
                               "SMTP server that is down for a while kills no mail")
    message_id_domain: str = "herregistratie.local"


class PrefectSettings(BaseModel):
    api_url: str = "http://127.0.0.1:4200/api"
    auth_string: str = Field(
        "", description="user:password of Prefect's API (PREFECT_SERVER_API_AUTH_STRING); "
        "required in production"
    )
    deployment: str = "lapsed-specialisation/lapsed-specialisation"
    closure_deployment: str = "case-closure/case-closure"
    server_database_url: str = Field(
        "", description="Prefect server's database (postgresql+asyncpg://...); empty: the "
        "stack's private PostgreSQL cluster in data_dir")
    executor: Literal["warm", "stock"] = Field(
        "warm", description="warm: case runs execute in long-lived processes that loaded the "
        "flows once (warm/); stock: Prefect's process worker, a new process per run"
    )
    warm_processes: int = Field(2, ge=1, description="processes of the warm executor")
    warm_recycle_runs: int = Field(500, ge=1, description="a warm process is replaced after "
                                   "this many runs ...")
    warm_recycle_mb: int = Field(600, ge=100, description="... or above this much memory")
    click_wait_seconds: float = Field(
        1.5, ge=0, description="how long after a person's click (recording and hand-over "
        "included) the service waits for the step it starts, so the page shows the new state; "
        "past that the page says it is being processed. With the page that follows, a click "
        "answers within about 2 s even when ten people click at once (bench/office.py)"
    )
    query_seconds: float = Field(0.5, description="how often the stock worker polls for runs")
    fallback_query_seconds: float = Field(
        5, gt=0, description="how often the warm executor polls, as Prefect's events wake it, "
        "and the sweep's worker, for a sweep due once a minute: every poll costs the server"
    )
    concurrency: int = Field(5, description="case runs executing at once (work-pool limit)")
    heartbeat_seconds: int = Field(30, ge=30, description="flow-run heartbeats (Prefect's minimum)")
    handover_seconds: float = Field(
        8, gt=0, description="how long a person's click waits for Prefect to take the work "
        "(a loaded server retries for a minute); past that the sweep's reconciler delivers it"
    )

    @property
    def ui_url(self) -> str:
        """Prefect's UI, served by its API server."""
        return self.api_url.removesuffix("/").removesuffix("/api")


class RepairSettings(BaseModel):
    """When the reconciler (in the sweep) considers a case's run lost, and when it gives up."""

    max_attempts: int = Field(5, ge=1, description="fresh runs before the case is marked stuck")
    pending_seconds: int = Field(
        60, description="a run stuck in Pending this long is lost (its process starts in "
        "seconds); a case without a run gets one after this long too"
    )
    zombie_seconds: int = Field(
        90, description="a Running run without a heartbeat or state change this long is dead "
        "(heartbeats come every 30 s; Prefect's events may lag under load)"
    )
    running_seconds: int = Field(
        600, description="a run Running this long is lost, heartbeats or not: between two "
        "pauses a run takes seconds, minutes only while it retries through an outage"
    )
    settle_seconds: int = Field(
        20, description="a decision (or a new run) is left to the service's own hand-over "
        "for this long"
    )
    stuck_retry_minutes: int = Field(10, description="how often a stuck case is tried again")
    stuck_after_minutes: int = Field(
        10, ge=1, description="a decision still unprocessed this long marks its case stuck "
        "(vastgelopen, with the restart action), whatever the reason: also when the sweep "
        "itself does not run")
    sweep_late_minutes: int = Field(
        5, ge=2, description="no finished sweep for this long: pages stop saying that delays "
        "heal by themselves and tell staff the sweep is not running")
    per_sweep: int = Field(
        200, ge=1, description="repairs one sweep carries out; more wait for the next sweep, so "
        "a storm (the Prefect server lost its database) drains in passes of a minute or two"
    )


class LinkSettings(BaseModel):
    secret_key: str = Field("", description="signs the mail links; required in production")
    base_url: str = "http://127.0.0.1:8000"
    status_days: int = 120
    dossier_days: int = 60
    request_hours: int = Field(48, description="the link that confirms a practitioner's "
                               "e-mail address and opens the upload form")


class WebSettings(BaseModel):
    host: str = "127.0.0.1"
    port: int = 8000
    session_secret: str = Field("", description="signs session cookies; required in production")
    session_hours: int = 8
    max_failed_logins: int = Field(10, ge=1, description="failed logins from one client in "
                                   "`lockout_minutes` before that client waits (no account "
                                   "is ever locked: anyone could lock someone else's)")
    lockout_minutes: int = 15
    way_in_per_client: int = Field(10, ge=1, description="requests on the way in from one "
                                   "client per hour")
    way_in_per_kp_number: int = Field(3, ge=1, description="requests on the way in for one KP "
                                      "number per hour")
    page_size: int = 20
    claim_hours: int = Field(8, ge=1, description="a claim on a case lapses after this long")
    max_body_bytes: int = Field(1_000_000, description="larger request bodies get 413 unread")


class UploadSettings(BaseModel):
    """The files a practitioner sends with a request. They are checked by content and size,
    not scanned for viruses: staff open them with their own protected software."""

    max_mb: int = Field(10, ge=1, description="per file a practitioner sends")
    import_max_mb: int = Field(50, ge=1, description="a register's export read on the admin "
                               "page (40,000 registrations are about 3 MB)")
    dir: Path | None = Field(None, description="where the files are kept, outside the web "
                             "root; empty: `documents` in data_dir")


class AddressSettings(BaseModel):
    association: str = "info@vvocm.nl"
    register_office: str = "info@kwaliteitsregisterparamedici.nl"
    association_lead: str = Field("coordinator@vvocm.nl", description="told when a VvOCM step "
                                  "is late (escalation)")
    register_lead: str = Field("coordinator@kwaliteitsregisterparamedici.nl",
                               description="told when a KP step is late (escalation)")


EXAMPLE_IBANS = ("NL91ABNA0417164300", "NL20INGB0001234567")


class PaymentSettings(BaseModel):
    """Where practitioners pay: the re-registration fee to KP, the intake fee to VvOCM. The
    defaults are example accounts for development; production must set the real ones."""

    register_account: str = "Stichting Kwaliteitsregister Paramedici"
    register_iban: str = EXAMPLE_IBANS[0]
    association_account: str = "VvOCM"
    association_iban: str = EXAMPLE_IBANS[1]
    mollie_api_key: str = Field("", description="Mollie API key (test_… or live_…): the "
                                "invoice mail then carries an iDEAL payment link; empty: "
                                "payment by bank transfer only")
    mollie_endpoint: str = Field("", description="Mollie's API; empty: https://api.mollie.com")
    method: str = Field("ideal", description="payment method offered at the provider")

    def accounts(self, *, register: bool, association: bool) -> frozenset[str]:
        """The IBANs (without spaces) of the organisations named: whose statements one reads."""
        ibans = [self.register_iban] * register + [self.association_iban] * association
        return frozenset(iban.replace(" ", "").upper() for iban in ibans)

    def payee(self, invoice_kind: str) -> tuple[str, str]:
        """Account name and IBAN an invoice of this kind is paid to."""
        if invoice_kind == "intake":
            return self.association_account, self.association_iban
        return self.register_account, self.register_iban


class Issuer(BaseModel):
    """Who issues a paper, as printed on it (Dutch invoice rules: name, address, KvK and VAT
    numbers, and the VAT rate or the exemption that applies). The defaults are examples for
    development; production sets the real ones (`HERREG_PAPERS__REGISTER_OFFICE__NAME`,
    `HERREG_PAPERS__ASSOCIATION__KVK`, ...)."""

    name: str
    address: str
    kvk: str = Field(description="Chamber of Commerce number (KvK)")
    vat_number: str = Field("", description="btw-identificatienummer")
    vat_rate: Decimal | None = Field(None, description="percent included in the fee; "
                                     "not set: the exemption line is printed instead")
    vat_exemption: str = "Vrijgesteld van btw."


class RegisterIssuer(Issuer):
    """KP: the certificate and the re-registration invoice."""

    name: str = "Stichting Kwaliteitsregister Paramedici"
    address: str = "Voorbeeldstraat 1, 3500 AA Utrecht"
    kvk: str = "00000000"
    vat_number: str = "NL000000000B01"


class AssociationIssuer(Issuer):
    """VvOCM: the invoice for the intake fee (R7)."""

    name: str = "Vereniging van Oefentherapeuten Cesar en Mensendieck (VvOCM)"
    address: str = "Voorbeeldlaan 2, 3500 AB Utrecht"
    kvk: str = "00000001"
    vat_number: str = "NL000000001B01"


class PaperSettings(BaseModel):
    register_office: RegisterIssuer = RegisterIssuer()
    association: AssociationIssuer = AssociationIssuer()


class DeadlineRules(BaseModel):
    """How deadlines chase, whatever the pause. Each pause's own days (`HERREG_DEADLINES__<pause>`,
    e.g. `..._SUBMISSION`) are fields of `DeadlineSettings`, made from the procedure's
    declaration (domain/procedure.py)."""

    grace: int = 2
    intake_report: int = Field(5, ge=1, description="days after the intake call for VvOCM to "
                               "record its outcome")
    reminders_before: list[int] = Field(
        default_factory=lambda: [7, 2], description="days before a due date that whoever "
        "must act is reminded (practitioner, reviewer, or the staff office)")
    escalate_review_after: int = Field(
        1, ge=1, description="days past the reviewer's due date that KP is alerted")
    escalate_staff_after: int = Field(
        2, ge=1, description="days past a VvOCM or KP step's due date that the office's lead "
        "is alerted (the case never expires for it)")

    def days_for(self, pause: Pause[Any] | Wait) -> int:
        """Days a pause (or a wait within one) gives before it is due."""
        return int(getattr(self, pause.setting))


if TYPE_CHECKING:
    _PauseDays = DeadlineRules
else:
    _PauseDays = create_model(
        "_PauseDays", __base__=DeadlineRules,
        **{p.setting: (int, Field(p.days, ge=1, description=f"days for {p.wait.awaited}"))
           for p in PAUSES},
        **{w.setting: (int, Field(w.days, ge=1, description=f"days for {w.awaited}"))
           for p in PAUSES for w in p.also})


class DeadlineSettings(_PauseDays):
    """Days each pause waits for a person (weeks, as in real life). Past the due date a wait on
    the practitioner expires the case; a wait on VvOCM, KP or the reviewer is escalated."""


class Settings(BaseSettings):
    model_config = SettingsConfigDict(
        env_prefix="HERREG_", env_nested_delimiter="__", extra="ignore"
    )

    environment: Literal["development", "test", "production"] = "production"
    data_dir: Path = Path(".data")
    today: date | None = Field(None, description="fixed 'today' for demos and tests")
    max_additions_rounds: int = 2
    database: DatabaseSettings = DatabaseSettings()
    smtp: SmtpSettings = SmtpSettings()
    prefect: PrefectSettings = PrefectSettings()
    repair: RepairSettings = RepairSettings()
    links: LinkSettings = LinkSettings()
    addresses: AddressSettings = AddressSettings()
    payment: PaymentSettings = PaymentSettings()
    web: WebSettings = WebSettings()
    uploads: UploadSettings = UploadSettings()
    papers: PaperSettings = PaperSettings()
    deadlines: DeadlineSettings = DeadlineSettings()

    @model_validator(mode="after")
    def _secrets_configured_outside_development(self) -> Settings:
        if self.environment != "production":
            return self
        missing = [name for name, value in (
            ("HERREG_WEB__SESSION_SECRET", self.web.session_secret),
            ("HERREG_LINKS__SECRET_KEY", self.links.secret_key),
        ) if len(value) < MIN_SECRET_LENGTH]
        if missing:
            raise ValueError(
                f"{' en '.join(missing)} ontbreekt of is korter dan {MIN_SECRET_LENGTH} tekens")
        if self.web.session_secret == self.links.secret_key:
            raise ValueError("sessies en links moeten elk een eigen sleutel hebben")
        known = [name for name, value in (
            ("HERREG_WEB__SESSION_SECRET", self.web.session_secret),
            ("HERREG_LINKS__SECRET_KEY", self.links.secret_key),
        ) if value in DEVELOPMENT_SECRETS.values()]
        if known:
            raise ValueError(f"{' en '.join(known)} is een ontwikkelsleutel uit de broncode; "
                             "kies een eigen geheime waarde")
        user, _, password = self.prefect.auth_string.partition(":")
        if not user.strip() or len(password) < MIN_PRODUCTION_PASSWORD:
            raise ValueError("HERREG_PREFECT__AUTH_STRING (gebruiker:wachtwoord voor de "
                             f"Prefect-API, een wachtwoord van minstens "
                             f"{MIN_PRODUCTION_PASSWORD} tekens) ontbreekt")
        examples = [name for name, value in (
            ("HERREG_PAYMENT__REGISTER_IBAN", self.payment.register_iban),
            ("HERREG_PAYMENT__ASSOCIATION_IBAN", self.payment.association_iban),
        ) if value.replace(" ", "") in EXAMPLE_IBANS]
        if examples:
            raise ValueError(f"{' en '.join(examples)} staat nog op het voorbeeldrekeningnummer")
        return self

    @property
    def database_url(self) -> str:
        return self.database.url or self.cluster_url(CLUSTER_DATABASES["cases"], "psycopg2")

    @property
    def prefect_database_url(self) -> str:
        return self.prefect.server_database_url or self.cluster_url(
            CLUSTER_DATABASES["prefect"], "asyncpg")

    @property
    def uses_cluster(self) -> bool:
        """Whether the stack starts its private PostgreSQL (either database left empty)."""
        return not (self.database.url and self.prefect.server_database_url)

    @property
    def cluster_dir(self) -> Path:
        """The private cluster's home: its data folder, log and (mostly) its socket."""
        return (self.data_dir / "postgres").resolve()

    @property
    def cluster_socket_dir(self) -> Path:
        """Where the cluster listens: a unix socket only, in a folder only this user can
        enter, so nobody else on the machine reaches the cluster. A socket path is limited to
        107 bytes; a data folder deep in the tree gets a short folder of its own in /tmp,
        derived from the cluster's path (the same stack always finds it again)."""
        if len(str(self.cluster_dir / ".s.PGSQL.5432")) <= MAX_SOCKET_PATH:
            return self.cluster_dir
        digest = hashlib.sha256(str(self.cluster_dir).encode()).hexdigest()[:16]
        return Path(tempfile.gettempdir()) / f"herreg-pg-{digest}"

    def cluster_url(self, database: str, driver: str) -> str:
        """A database of the private cluster, reached through its socket."""
        return f"postgresql+{driver}://postgres@/{database}?host={self.cluster_socket_dir}"

    @property
    def documents_dir(self) -> Path:
        return (self.uploads.dir or self.data_dir / "documents").resolve()

    @property
    def session_secret(self) -> str:
        return self.web.session_secret or DEVELOPMENT_SECRETS["session"]

    @property
    def link_secret(self) -> str:
        return self.links.secret_key or DEVELOPMENT_SECRETS["link"]

    def current_date(self) -> date:
        """Today in Europe/Amsterdam, unless fixed for a demo or test."""
        return self.today or datetime.now(AMSTERDAM).date()

    def current_moment(self) -> datetime:
        """Now in Europe/Amsterdam, on `current_date()` (a fixed day keeps the clock's time)."""
        now = datetime.now(AMSTERDAM)
        return now if self.today is None else datetime.combine(self.today, now.timetz())


@cache
def get_settings() -> Settings:
    """The settings, or SettingsError with one Dutch sentence naming what to configure."""
    try:
        return Settings()
    except ValidationError as err:
        reasons = "; ".join(str(e["msg"]).removeprefix("Value error, ") for e in err.errors())
        raise SettingsError(
            f"Onvolledige configuratie: {reasons}. Stel dit in, of zet voor lokaal gebruik "
            "HERREG_ENVIRONMENT=development."
        ) from err
