"""The JSON API on the offline database: staff tokens and mail-link tokens, every principal
against every endpoint, one case walked through the procedure (the step plan replayed between
the API calls, mail to the loopback SMTP server), and Dutch refusals that record nothing."""

from __future__ import annotations

import json
import re
from collections.abc import Iterator
from dataclasses import dataclass, field
from datetime import timedelta
from typing import Any

import pytest
from fastapi.testclient import TestClient
from pydantic_core import to_jsonable_python
from sqlalchemy.exc import OperationalError
from sqlmodel import select

from adapters.links import make_token
from domain import messages as m
from domain.decisions import AssociationDecision, PortfolioReopened
from domain.procedure import DECISIONS, STAGE
from domain.states import CaseState, Role
from models.case import history
from models.db import session_scope
from models.staff import ApiToken
from service.accounts import new_api_token
from service.status_view import StatusView
from settings import get_settings
from tests.conftest import TODAY, Mailbox, case_row, make_staff
from tests.factories import request
from tests.replay import close, run_case
from web.api.errors import INVALID_INPUT, JSON_INVALID
from web.api.principals import LINK_OTHER_CASE
from web.api.schemas import OPEN_TITLE, READ_TITLE
from web.app import create_app
from web.deps import db

pytestmark = pytest.mark.usefixtures("offline_module")

REQUEST_DATE = TODAY - timedelta(days=30)
REVIEWER_NAME = "Dr. API Beoordelaar"

# A valid body for every action, so that what an allowed role gets back is about the case.
VALID = {
    "association_decision": {"outcome": "advise"},
    "intake_outcome": {"held_on": str(TODAY), "outcome": "advise"},
    "portfolio_reopened": {"reopened_on": str(TODAY - timedelta(days=7))},
    "submit": {"submitted_on": str(TODAY - timedelta(days=5))},
    "payment_received": {"paid_on": str(TODAY - timedelta(days=2))},
    "completeness": {"complete": True},
    "completion_supplied": {"supplied_on": str(TODAY), "description": "Verklaring"},
    "assign_reviewer": {"reviewer_name": REVIEWER_NAME,
                        "reviewer_email": "api-beoordelaar@example.org"},
    "findings": {"outcome": "additions", "explanation": "Graag de uren van 2024 toelichten."},
    "additions_supplied": {"supplied_on": str(TODAY), "description": "Urenoverzicht 2024"},
    "withdraw": {"reason": "Stopt met de specialisatie"},
}
assert set(VALID) == set(DECISIONS)

STAFF = ("association_staff", "register_staff", "admin")
LINKS = ("reviewer_link", "practitioner_link")
NOBODY = ("no_auth", "bad_token", "revoked_token", "tampered_link")
ROLE_OF = {"association_staff": Role.ASSOCIATION_STAFF, "register_staff": Role.REGISTER_STAFF,
           "admin": Role.OPERATOR, "reviewer_link": Role.REVIEWER,
           "practitioner_link": Role.PRACTITIONER}


@dataclass
class World:
    """Two cases: `number` (walked to withdrawn by `walked`) and `other` (left waiting for the
    association's decision), and the credentials of every kind of caller."""

    api: TestClient
    headers: dict[str, dict[str, str]]
    number: str = ""
    case_id: int = 0
    other: str = ""
    other_id: int = 0
    other_request: dict[str, Any] = field(default_factory=dict)
    opened: dict[str, Any] = field(default_factory=dict)

    def get(self, path: str, who: str, **kwargs: Any) -> Any:
        return self.api.get(f"/api/v1{path}", headers=self.headers[who], **kwargs)

    def post(self, path: str, who: str, headers: dict[str, str] | None = None,
             **kwargs: Any) -> Any:
        return self.api.post(f"/api/v1{path}", headers={**self.headers[who], **(headers or {})},
                             **kwargs)


def bearer(token: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {token}"}


def link_token(mailbox: Mailbox, case_id: int, template: str, pattern: str) -> str:
    """The token from the link in a mail the case sent (run_case sends them)."""
    for message in mailbox.for_case(case_id):
        if str(message["X-Herregistratie-Key"]).split(":")[2] == template:
            body = message.get_body(preferencelist=("plain",))
            assert body is not None
            found = re.search(pattern + r"([\w.\-]+)", body.get_content())
            assert found, f"no link in mail {template}"
            return found.group(1)
    raise AssertionError(f"no mail {template} for case {case_id}")


def events(case_id: int) -> list[Any]:
    with session_scope() as session:
        return history(session=session, case_id=case_id)


@pytest.fixture(scope="module")
def world(offline_module: str) -> Iterator[World]:
    app = create_app()
    headers: dict[str, dict[str, str]] = {"no_auth": {}, "bad_token": bearer("hr_vervalst")}
    users = {role: make_staff(role, name=f"API {role}") for role in STAFF}
    users["revoked_token"] = make_staff("register_staff")
    for role, user in users.items():
        headers[role] = bearer(new_api_token(staff_id=user.id, name="test"))
    with session_scope() as session:
        revoked = session.exec(select(ApiToken).where(
            ApiToken.staff_id == users["revoked_token"].id)).one()
        revoked.revoked = True
        session.add(revoked)
    with TestClient(app) as client:
        yield World(api=client, headers=headers)


@pytest.fixture(scope="module")
async def opened(world: World, offline_mailbox: Mailbox) -> World:
    """Both cases opened through the API (one by the association, one by an admin) and run to
    the association's decision."""
    for who in ("association_staff", "admin"):
        payload = request(REQUEST_DATE)
        response = world.post("/cases", who, json=to_jsonable_python(payload))
        assert response.status_code == 201, response.text
        world.opened[who] = response.json()
        if who == "admin":
            world.other, world.other_id = response.json()["number"], response.json()["case_id"]
            world.other_request = payload
        else:
            world.number, world.case_id = response.json()["number"], response.json()["case_id"]
    for case_id in (world.case_id, world.other_id):
        assert await run_case(case_id) == "association-decision"
    world.headers["practitioner_link"] = {"X-Link-Token": link_token(
        offline_mailbox, world.case_id, "request_received", "/status/")}
    return world


async def step(world: World, action: str, who: str) -> str:
    """One decision through the API, then the run replayed to its next pause (returned)."""
    assert case_row(world.number).awaiting_action == action
    response = world.post(f"/cases/{world.number}/{action}", who, json=VALID[action])
    assert response.status_code == 202, response.text
    assert response.json()["message"] == m.RECEIVED_QUEUED  # no Prefect: recorded, queued
    return await run_case(world.case_id)


@pytest.fixture(scope="module")
async def walked(opened: World, offline_mailbox: Mailbox) -> World:
    """The first case walked through the API by each kind of caller, then withdrawn by the
    practitioner; the second stays waiting for the association."""
    world = opened
    await step(world, "association_decision", "association_staff")
    await step(world, "portfolio_reopened", "register_staff")
    await step(world, "submit", "practitioner_link")
    await step(world, "payment_received", "register_staff")
    await step(world, "completeness", "register_staff")
    assert await step(world, "assign_reviewer", "register_staff") == "findings-1"
    world.headers["reviewer_link"] = {"X-Link-Token": link_token(
        offline_mailbox, world.case_id, "review_assigned", "/beoordeling/")}
    assert await step(world, "findings", "reviewer_link") == "additions-1"
    response = world.post(f"/cases/{world.number}/withdraw", "practitioner_link",
                          json=VALID["withdraw"])
    assert response.status_code == 202, response.text
    assert await close(world.case_id, "withdrawn")
    assert case_row(world.number).state == CaseState.WITHDRAWN
    tampered = world.headers["practitioner_link"]["X-Link-Token"]
    world.headers["tampered_link"] = {"X-Link-Token": tampered[:-3] + (
        "abc" if not tampered.endswith("abc") else "xyz")}
    return world


# --- opening, listing, reading ----------------------------------------------------------------


def test_open_case_returns_201_with_number_and_state(opened: World) -> None:
    body = opened.opened["association_staff"]
    assert body["number"].startswith("HR-2026-")
    assert body["state"] == CaseState.REQUESTED
    # Prefect is down here: the case is recorded and the sweep starts its run.
    assert not body["delivered"] and body["message"] == m.RECEIVED_QUEUED
    first = events(opened.case_id)[0]
    assert (first.action, first.actor_role, first.actor_name) == (
        "open_case", Role.ASSOCIATION_STAFF, "API association_staff")
    by_admin = events(opened.other_id)[0]
    assert by_admin.actor_role == Role.OPERATOR


# principal: (list, read own case, open a case). Opening is refused after authorisation here
# (the specialisation has not lapsed), so an allowed caller gets 409 and no case is made.
PRINCIPALS = {
    "association_staff": (200, 200, 409),
    "register_staff": (200, 200, 403),
    "admin": (200, 200, 409),
    "reviewer_link": (401, 403, 401),
    "practitioner_link": (401, 200, 401),
    "no_auth": (401, 401, 401),
    "bad_token": (401, 401, 401),
    "revoked_token": (401, 401, 401),
    "tampered_link": (401, 401, 401),
}


@pytest.mark.parametrize("who", list(PRINCIPALS))
def test_list_read_open_by_principal(walked: World, who: str) -> None:
    list_status, read_status, open_status = PRINCIPALS[who]
    listed = walked.get("/cases", who)
    assert listed.status_code == list_status, listed.text
    read = walked.get(f"/cases/{walked.number}", who)
    assert read.status_code == read_status, read.text
    opening = walked.post("/cases", who,
                          json=to_jsonable_python(request(TODAY, lapsed_years=4)))
    assert opening.status_code == open_status, opening.text

    if who == "tampered_link":
        assert read.json() == {"detail": m.LINK_INVALID}
    elif 401 in (list_status, read_status):
        assert listed.json() == {"detail": m.TOKEN_INVALID}
    if read_status == 403:
        assert read.json()["detail"] == m.ROLE_NOT_ALLOWED.format(
            role=Role.REVIEWER.label, action=READ_TITLE)
    if open_status == 403:
        assert opening.json()["detail"] == m.ROLE_NOT_ALLOWED.format(
            role=Role.REGISTER_STAFF.label, action=OPEN_TITLE)
    if open_status == 409:
        assert opening.json()["state"] is None
        assert opening.json()["detail"].startswith("De registratie voor")


def test_list_filters_and_pages(walked: World) -> None:
    case = walked.get(f"/cases/{walked.number}", "association_staff").json()
    kp = case["kp_number"]
    found = walked.get("/cases", "register_staff", params={"q": kp}).json()
    assert found["total"] == 1
    item = found["items"][0]
    assert item["number"] == walked.number
    assert item["state"] == CaseState.WITHDRAWN
    assert item["state_label"] == CaseState.WITHDRAWN.label
    assert item["practitioner_name"] == case["practitioner"]["name"]
    assert walked.get("/cases", "admin", params={
        "q": kp, "state": "association_check"}).json()["total"] == 0
    assert walked.get("/cases", "admin", params={
        "q": kp, "state": "withdrawn", "specialisation": "kot"}).json()["total"] == 1

    await_other = walked.get("/cases", "admin", params={"q": walked.other}).json()["items"][0]
    assert await_other["awaiting_action"] == "association_decision"
    assert await_other["awaiting_title"] == AssociationDecision.title
    assert await_other["due_on"] is not None

    page = walked.get("/cases", "admin", params={"q": "Test Therapeut", "limit": 1,
                                                 "offset": 1}).json()
    assert len(page["items"]) == 1 and page["total"] >= 2 and page["offset"] == 1


def test_case_shows_history_invoices_and_reviews(walked: World) -> None:
    """What each step recorded, as staff read it on the API."""
    case = walked.get(f"/cases/{walked.number}", "register_staff").json()
    assert case["state"] == CaseState.WITHDRAWN and case["closed"]
    assert case["progress"] == "closed" and case["progress_message"] is None
    decisions = [(e["action"], e["actor_role"]) for e in case["history"]
                 if e["kind"] == "decision"]
    assert decisions == [
        ("open_case", Role.ASSOCIATION_STAFF), ("association_decision", Role.ASSOCIATION_STAFF),
        ("portfolio_reopened", Role.REGISTER_STAFF), ("submit", Role.PRACTITIONER),
        ("payment_received", Role.REGISTER_STAFF), ("completeness", Role.REGISTER_STAFF),
        ("assign_reviewer", Role.REGISTER_STAFF), ("findings", Role.REVIEWER),
        ("withdraw", Role.PRACTITIONER),
    ]
    by_action = {e["action"]: e for e in case["history"] if e["kind"] == "decision"}
    assert by_action["findings"]["actor_name"] == REVIEWER_NAME
    assert by_action["submit"]["actor_name"] == case["practitioner"]["name"]
    assert by_action["submit"]["input"] == VALID["submit"]
    assert by_action["withdraw"]["action_title"] == DECISIONS["withdraw"].title
    mailed = [mail["template"] for e in case["history"] for mail in e["mails"]]
    assert {"request_received", "invoice_issued", "review_assigned", "withdrawn"} <= set(mailed)
    last = case["history"][-1]
    assert last["to_state"] == CaseState.WITHDRAWN
    assert [i["kind"] for i in case["invoices"]] == ["reregistration"]
    assert case["reviews"][0]["reviewer_name"] == REVIEWER_NAME
    assert case["reviews"][0]["outcome"] == "additions"
    assert case["certificate"] is None
    assert case["verdict"]["sufficient"] and case["verdict"]["shortfalls"] == []


def test_practitioner_link_reads_the_status_page_view(walked: World) -> None:
    """The practitioner's own link gets the status page's facts, in plain Dutch."""
    view = walked.get(f"/cases/{walked.number}", "practitioner_link").json()
    assert set(view) == set(StatusView.model_fields)
    assert view["number"] == walked.number
    assert view["state"] == CaseState.WITHDRAWN and view["closed"]
    assert view["closed_text"] == STAGE[CaseState.WITHDRAWN].closed_text
    assert view["action"] is None and not view["can_withdraw"] and view["next_step"] is None
    assert view["open_invoices"] == []  # the invoice was paid
    texts = [line["text"] for line in view["history"]]
    assert texts[0] == "Uw aanvraag is ontvangen"
    assert STAGE[CaseState.UNDER_REVIEW].milestone in texts
    assert texts[-1] == STAGE[CaseState.WITHDRAWN].milestone
    assert not any("Wacht op" in text for text in texts), "the timeline has milestones only"


# --- every principal against every action -----------------------------------------------------


@pytest.mark.parametrize("action", list(DECISIONS))
@pytest.mark.parametrize("who", [*STAFF, *LINKS, *NOBODY])
def test_every_principal_against_every_action(walked: World, who: str, action: str) -> None:
    """On the withdrawn case: 401 without valid credentials, 403 for a role not in the
    decision's `.roles`, 409 with the current state for an allowed one."""
    before = len(events(walked.case_id))
    response = walked.post(f"/cases/{walked.number}/{action}", who, json=VALID[action])
    kind = DECISIONS[action]
    if who in NOBODY:
        assert response.status_code == 401, response.text
        assert response.json()["detail"] in (m.TOKEN_INVALID, m.LINK_INVALID)
    elif ROLE_OF[who] in kind.roles:
        assert response.status_code == 409, response.text
        assert response.json() == {
            "detail": m.CASE_CLOSED.format(label=CaseState.WITHDRAWN.label),
            "state": CaseState.WITHDRAWN,
        }
    else:
        assert response.status_code == 403, response.text
        assert response.json() == {"detail": m.ROLE_NOT_ALLOWED.format(
            role=ROLE_OF[who].label, action=kind.title)}
    assert len(events(walked.case_id)) == before


# --- refusals on the case that waits for the association --------------------------------------


async def test_action_not_awaited_is_409_with_current_state(opened: World) -> None:
    assert case_row(opened.other).awaiting_action == "association_decision"
    response = opened.post(f"/cases/{opened.other}/portfolio_reopened", "register_staff",
                           json=VALID["portfolio_reopened"])
    assert response.status_code == 409
    assert response.json() == {
        "detail": m.NOT_AWAITED.format(action=PortfolioReopened.title,
                                       awaited=AssociationDecision.title),
        "state": CaseState.ASSOCIATION_CHECK,
    }


async def test_second_open_case_is_409_with_its_state(opened: World) -> None:
    assert case_row(opened.other).awaiting_action == "association_decision"
    response = opened.post("/cases", "association_staff",
                           json=to_jsonable_python(opened.other_request))
    assert response.status_code == 409
    assert response.json()["state"] == CaseState.ASSOCIATION_CHECK
    assert opened.other in response.json()["detail"]


def test_decision_for_a_step_the_case_has_left_is_409(opened: World) -> None:
    """`?pause_key=` names the step the caller saw; a stale one records nothing."""
    before = [(e.key, e.action) for e in events(opened.other_id)]
    response = opened.post(f"/cases/{opened.other}/association_decision", "association_staff",
                           params={"pause_key": "portfolio-reopened"},
                           json=VALID["association_decision"])
    assert response.status_code == 409
    assert response.json() == {
        "detail": m.STEP_MOVED_ON.format(label=CaseState.ASSOCIATION_CHECK.label),
        "state": CaseState.ASSOCIATION_CHECK,
    }
    assert [(e.key, e.action) for e in events(opened.other_id)] == before


def test_restart_is_for_kp_and_only_for_a_stuck_case(opened: World) -> None:
    url = f"/cases/{opened.other}/restart"
    refused = opened.post(url, "association_staff")
    assert refused.status_code == 403
    assert refused.json() == {"detail": m.ROLE_NOT_ALLOWED.format(
        role=Role.ASSOCIATION_STAFF.label, action=m.RESTART_TITLE)}
    not_stuck = opened.post(url, "register_staff")
    assert not_stuck.status_code == 409
    assert not_stuck.json() == {"detail": m.NOT_STUCK, "state": CaseState.ASSOCIATION_CHECK}
    assert opened.post(url, "practitioner_link").status_code == 401


def test_database_outage_is_one_dutch_503(world: World) -> None:
    def down() -> Any:
        raise OperationalError("SELECT 1", {}, Exception("connection refused"))

    app = world.api.app
    app.dependency_overrides[db] = down
    try:
        response = world.get("/cases", "admin")
    finally:
        app.dependency_overrides.clear()
    assert response.status_code == 503
    assert response.json() == {"detail": m.DATABASE_UNAVAILABLE}
    assert response.headers["Retry-After"] == "30"


BAD_INPUT = [
    ("association_decision", {"outcome": "misschien"}, "outcome", "Kies een van: "),
    ("association_decision", {"outcome": "advise", "urgent": True}, "urgent", m.FIELD_UNKNOWN),
    ("association_decision", {"note": "zonder uitkomst"}, "outcome", m.FIELD_REQUIRED),
    ("association_decision", {"outcome": "decline"}, "outcome", m.DECLINE_NEEDS_SHORTFALL),
    ("association_decision", '{"outcome": "advise"', "invoer", JSON_INVALID),
    ("association_decision", "[]", "invoer", m.FIELD_INVALID),
    ("intake_outcome", {"held_on": "01-06-2026", "outcome": "advise"}, "held_on", m.FIELD_DATE),
    ("withdraw", {"reason": 12}, "reason", m.FIELD_INVALID),
]


@pytest.mark.parametrize(("action", "body", "name", "message"), BAD_INPUT)
async def test_bad_input_is_422_per_field_and_records_nothing(
        opened: World, action: str, body: dict[str, Any] | str, name: str, message: str) -> None:
    assert case_row(opened.other).awaiting_action == "association_decision"
    before = [(e.key, e.action) for e in events(opened.other_id)]
    response = opened.post(
        f"/cases/{opened.other}/{action}", "association_staff",
        content=body if isinstance(body, str) else json.dumps(body),
        headers={"Content-Type": "application/json"})
    assert response.status_code == 422, response.text
    assert response.json()["detail"] == INVALID_INPUT
    assert response.json()["errors"][name].startswith(message)
    assert [(e.key, e.action) for e in events(opened.other_id)] == before


def test_bad_query_and_bad_case_request_are_422_in_dutch(opened: World) -> None:
    listed = opened.get("/cases", "admin", params={"limit": "veel"})
    assert listed.status_code == 422
    assert listed.json() == {"detail": INVALID_INPUT, "errors": {"limit": m.FIELD_NUMBER}}
    payload = to_jsonable_python(request(REQUEST_DATE))
    opening = opened.post("/cases", "association_staff",
                          json={**payload, "request_date": "1 mei 2026"})
    assert opening.status_code == 422
    assert opening.json()["errors"] == {"request_date": m.FIELD_DATE}
    unknown = opened.post("/cases", "admin", json={**payload, "specialisation": "XYZ"})
    assert unknown.status_code == 422
    assert set(unknown.json()["errors"]) == {"specialisation"}


def test_unknown_case_is_404(world: World) -> None:
    missing = "HR-2026-99999"
    for response in (world.get(f"/cases/{missing}", "register_staff"),
                     world.post(f"/cases/{missing}/completeness", "register_staff",
                                json=VALID["completeness"])):
        assert response.status_code == 404
        assert response.json() == {"detail": m.CASE_NOT_FOUND.format(case=missing)}


def test_link_for_another_case_is_403(walked: World) -> None:
    other = walked.other
    for response in (
        walked.post(f"/cases/{other}/findings", "reviewer_link", json=VALID["findings"]),
        walked.post(f"/cases/{other}/withdraw", "practitioner_link", json=VALID["withdraw"]),
        walked.get(f"/cases/{other}", "practitioner_link"),
    ):
        assert response.status_code == 403
        assert response.json() == {"detail": LINK_OTHER_CASE}
    case = walked.get(f"/cases/{other}", "admin").json()
    assert case["state"] == CaseState.ASSOCIATION_CHECK


def test_expired_link_is_401(walked: World, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("HERREG_LINKS__STATUS_DAYS", "-1")
    get_settings.cache_clear()
    try:
        response = walked.get(f"/cases/{walked.number}", "practitioner_link")
    finally:
        monkeypatch.undo()
        get_settings.cache_clear()
    assert response.status_code == 401
    assert response.json() == {"detail": m.LINK_EXPIRED}


def test_reviewer_link_needs_the_case_assigned_to_that_reviewer(walked: World) -> None:
    """A genuine dossier link for a case whose reviewer is somebody else (here: nobody yet)."""
    reviewer_id = case_row(walked.number).reviewer_id
    assert reviewer_id is not None and case_row(walked.other).reviewer_id is None
    token = make_token("dossier", case=walked.other_id, role="reviewer", reviewer=reviewer_id,
                       round=case_row(walked.other).review_round)
    response = walked.api.post(f"/api/v1/cases/{walked.other}/findings",
                               headers={"X-Link-Token": token}, json=VALID["findings"])
    assert response.status_code == 403
    assert response.json() == {"detail": m.WRONG_REVIEWER}


# --- the schema -------------------------------------------------------------------------------


def test_openapi_has_one_path_per_action_and_both_security_schemes(world: World) -> None:
    schema = world.api.get("/api/v1/openapi.json").json()
    for action, kind in DECISIONS.items():
        operation = schema["paths"][f"/api/v1/cases/{{number}}/{action}"]["post"]
        assert operation["summary"] == kind.title
        assert operation["operationId"] == f"decide_{action}"
        assert {"ApiToken": []} in operation["security"]
        assert {"LinkToken": []} in operation["security"]
        ref = operation["requestBody"]["content"]["application/json"]["schema"]["$ref"]
        body = schema["components"]["schemas"][ref.rsplit("/", 1)[1]]
        assert set(body["properties"]) == set(kind.model_fields)
        assert all(p.get("description") for p in body["properties"].values())
        assert set(operation["responses"]) >= {"202", "401", "403", "404", "409", "422"}
    assert schema["paths"]["/api/v1/cases"]["get"]["security"] == [{"ApiToken": []}]
    schemes = schema["components"]["securitySchemes"]
    assert schemes["ApiToken"] == {**schemes["ApiToken"], "type": "http", "scheme": "bearer"}
    assert schemes["LinkToken"] == {**schemes["LinkToken"], "type": "apiKey", "in": "header",
                                    "name": "X-Link-Token"}
    assert world.api.get("/api/v1/docs").status_code == 200
