"""Claims belong to the step: they end when the case moves on, when the step is not for the
holder's role, when the holder is deactivated, or after `web.claim_hours`; colleagues who may
decide the step take it over (recorded), and admins release any claim (recorded)."""

from __future__ import annotations

from datetime import timedelta

import pytest

from domain import messages as m
from domain.errors import DecisionConflict, InvalidTransition, NotAllowed
from models.case import Case, get_case, history
from models.db import read_session, session_scope, utcnow
from models.staff import StaffUser
from service.accounts import actor_for, deactivate_staff
from service.actions import act, open_case
from service.claims import claim, claim_holder, release
from settings import get_settings
from tests.conftest import ASSOCIATION, TODAY, make_staff
from tests.factories import request
from tests.replay import close, run_case

pytestmark = pytest.mark.usefixtures("offline")


async def waiting_for_vvocm() -> Case:
    opened = await open_case(request(TODAY - timedelta(days=30)), actor=ASSOCIATION)
    assert await run_case(opened.case_id) == "association-decision"
    return get_case_row(opened.case_id)


def get_case_row(case_id: int) -> Case:
    with read_session() as session:
        return get_case(session=session, case_id=case_id)


def holder(case_id: int) -> StaffUser | None:
    with read_session() as session:
        return claim_holder(session, get_case(session=session, case_id=case_id))


def notes(case_id: int, action: str) -> list[dict[str, object]]:
    with read_session() as session:
        return [e.input for e in history(session=session, case_id=case_id)
                if e.action == action]


async def test_a_claimed_step_is_decided_by_its_holder_only() -> None:
    case = await waiting_for_vvocm()
    anne, bram = make_staff("association_staff"), make_staff("association_staff")
    claim(case.number, actor=actor_for(anne))
    with pytest.raises(DecisionConflict, match=anne.name):
        await act(case.number, "association_decision", {"outcome": "advise"},
                  actor=actor_for(bram))
    await act(case.number, "association_decision", {"outcome": "advise"},
              actor=actor_for(anne))


async def test_a_claim_ends_when_the_case_moves_on_so_the_next_role_is_not_blocked() -> None:
    """VvOCM's claim on its check must not block KP's reopening (seen on the running system)."""
    case = await waiting_for_vvocm()
    anne, karel = make_staff("association_staff"), make_staff("register_staff")
    claim(case.number, actor=actor_for(anne))
    await act(case.number, "association_decision", {"outcome": "advise"},
              actor=actor_for(anne))
    assert await run_case(case.id or 0) == "portfolio-reopened"
    assert holder(case.id or 0) is None
    await act(case.number, "portfolio_reopened", {"reopened_on": str(TODAY)},
              actor=actor_for(karel))


async def test_staff_of_the_step_take_a_claim_over_and_the_history_says_so() -> None:
    case = await waiting_for_vvocm()
    anne, bram = make_staff("association_staff"), make_staff("association_staff")
    claim(case.number, actor=actor_for(anne))
    with pytest.raises(DecisionConflict):
        claim(case.number, actor=actor_for(bram))
    claim(case.number, actor=actor_for(bram), take_over=True)
    found = holder(case.id or 0)
    assert found is not None and found.id == bram.id
    assert notes(case.id or 0, "claim_taken_over") == [
        {"from": anne.name, "step": "association-decision"}]


async def test_only_staff_of_the_awaited_step_can_claim_it() -> None:
    case = await waiting_for_vvocm()
    with pytest.raises(NotAllowed):
        claim(case.number, actor=actor_for(make_staff("register_staff")))


async def test_an_admin_releases_any_claim_and_that_is_recorded() -> None:
    case = await waiting_for_vvocm()
    anne, admin = make_staff("association_staff"), make_staff("admin")
    claim(case.number, actor=actor_for(anne))
    with pytest.raises(DecisionConflict):
        release(case.number, actor=actor_for(make_staff("association_staff")))
    release(case.number, actor=actor_for(admin))
    assert holder(case.id or 0) is None
    assert notes(case.id or 0, "claim_released") == [
        {"from": anne.name, "step": "association-decision"}]


async def test_a_deactivated_account_holds_no_claim() -> None:
    case = await waiting_for_vvocm()
    anne, bram = make_staff("association_staff"), make_staff("association_staff")
    claim(case.number, actor=actor_for(anne))
    deactivate_staff(anne.id or 0)
    assert holder(case.id or 0) is None
    assert get_case_row(case.id or 0).claimed_by_id is None
    await act(case.number, "association_decision", {"outcome": "advise"},
              actor=actor_for(bram))


async def test_a_claim_lapses_after_the_configured_hours() -> None:
    case = await waiting_for_vvocm()
    anne, bram = make_staff("association_staff"), make_staff("association_staff")
    claim(case.number, actor=actor_for(anne))
    with session_scope() as session:
        row = get_case(session=session, case_id=case.id or 0, for_update=True)
        row.claimed_at = utcnow() - timedelta(hours=get_settings().web.claim_hours, minutes=1)
        session.add(row)
    assert holder(case.id or 0) is None
    claim(case.number, actor=actor_for(bram))


async def test_nothing_to_claim_on_a_closed_case() -> None:
    case = await waiting_for_vvocm()
    await act(case.number, "withdraw", {}, actor=ASSOCIATION)
    assert await close(case.id or 0, "withdrawn")
    with pytest.raises(InvalidTransition, match=m.NOTHING_TO_CLAIM):
        claim(case.number, actor=actor_for(make_staff("association_staff")))
