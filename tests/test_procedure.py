"""The procedure written down once (issue 22): every pause and stage declared in
domain/procedure.py has every part the system needs, and what is derived from it (settings,
the API's decisions, the diagram, the demo's walk, the flow's calls) agrees. No server, no
database: the declaration is plain data."""

from __future__ import annotations

import inspect
import re
from dataclasses import replace
from typing import Any

import pytest

import domain.procedure as procedure
from cli.demo import walk
from domain.decisions import Withdrawal
from domain.procedure import (
    DECISIONS,
    PAUSES,
    STAGE,
    STAGES,
    Pause,
    Stage,
    Wait,
    pause_of,
    round_of,
)
from domain.states import CaseState
from flows.lapsed_specialisation import step_plan
from settings import DeadlineSettings
from tests.conftest import TODAY, herreg_env
from web.diagram import STEPS


def gaps(pause: Pause[Any]) -> list[str]:
    """What a pause's declaration lacks, in words; empty when it is whole."""
    found = []
    for wait in (pause.wait, *pause.also):
        for part in ("awaited", "next_who", "next_what"):
            if not getattr(wait, part).strip():
                found.append(f"{pause.key}: {part} of the wait on {wait.party}")
    for wait in pause.also:
        if not wait.setting or wait.days < 1:
            found.append(f"{pause.key}: the wait on {wait.party} has no due date of its own")
    if not pause.reached.strip():
        found.append(f"{pause.key}: what the click that led here did")
    if pause.days < 1:
        found.append(f"{pause.key}: days")
    if not 1 <= pause.since <= procedure.PLAN_VERSION:
        found.append(f"{pause.key}: since plan {pause.since}, not one that exists")
    if pause.waits_in.is_closed or pause.waits_in not in STAGE:
        found.append(f"{pause.key}: waits in {pause.waits_in}, not an open stage")
    if not pause.decision.roles or not pause.decision.title:
        found.append(f"{pause.key}: who may decide, and the decision's title")
    if not re.fullmatch(r"[a-z]+(-[a-z]+)*", pause.key):
        found.append(f"{pause.key}: a pause key is lower-case words joined by '-'")
    name = _name_of(pause)
    if name is None:
        found.append(f"{pause.key}: no name in domain/procedure.py for the flow to use")
    elif not re.search(rf"decide\(run, case_id, {name}\b", inspect.getsource(step_plan)):
        found.append(f"{pause.key}: the flow never waits at it ({name})")
    if pause.setting not in DeadlineSettings.model_fields:
        found.append(f"{pause.key}: no due-date setting {pause.setting}")
    return found


def _name_of(pause: Pause[Any]) -> str | None:
    return next((name for name, value in vars(procedure).items()
                 if isinstance(value, Pause) and value.key == pause.key), None)


@pytest.mark.parametrize("pause", PAUSES, ids=[p.key for p in PAUSES])
def test_every_pause_is_declared_whole(pause: Pause[Any]) -> None:
    assert gaps(pause) == []


def test_a_missing_part_is_caught() -> None:
    """The check above is no formality: each kind of gap is named."""
    whole = PAUSES[0]
    assert gaps(replace(whole, wait=replace(whole.wait, next_what=" "))) == [
        "association-decision: next_what of the wait on association"]
    assert gaps(replace(whole, reached=""))[0].endswith("what the click that led here did")
    assert "waits in certified" in gaps(replace(whole, waits_in=CaseState.CERTIFIED))[0]
    second_opinion = replace(whole, key="second-opinion")
    assert gaps(second_opinion) == [
        "second-opinion: no name in domain/procedure.py for the flow to use",
        "second-opinion: no due-date setting second_opinion"]


def test_each_decision_belongs_to_one_pause_and_a_withdrawal_to_none() -> None:
    decisions = [p.decision for p in PAUSES]
    assert len(set(decisions)) == len(decisions)
    assert list(DECISIONS.values()) == [*decisions, Withdrawal]
    assert len({p.key for p in PAUSES}) == len(PAUSES)


@pytest.mark.parametrize("pause", PAUSES, ids=[p.key for p in PAUSES])
def test_pause_keys_name_their_pause_and_round(pause: Pause[Any]) -> None:
    for key, round in ([(pause.key_for(1), 1), (pause.key_for(12), 12)] if pause.numbered
                       else [(pause.key_for(), None)]):
        for variant in (key, f"{key}-retry-1", f"{key}-retry-23"):
            assert pause_of(variant) is pause and round_of(variant) == round
    with pytest.raises(ValueError):
        pause.key_for(None if pause.numbered else 1)


def test_every_state_is_a_stage_in_plan_order() -> None:
    assert [s.state for s in STAGES].count(CaseState.REQUESTED) == 1
    assert set(STAGE) == set(CaseState)
    for stage in STAGES:
        if stage.state.is_closed:
            assert stage.closed_text and stage.done and stage.milestone, stage.state
        else:
            assert stage.box and not stage.closed_text and not stage.done, stage.state
    assert [label for label, _ in STEPS] == list(dict.fromkeys(
        s.box for s in STAGES if s.box)), "the diagram draws the stages' boxes in order"


def test_due_dates_come_from_the_declaration_and_can_be_set() -> None:
    defaults = DeadlineSettings()
    for pause in PAUSES:
        assert defaults.days_for(pause) == pause.days
        for wait in pause.also:
            assert defaults.days_for(wait) == wait.days
    with herreg_env(deadlines__submission="30", deadlines__intake_pick="3"):
        from settings import Settings
        configured = Settings(environment="test").deadlines
        assert configured.days_for(procedure.SUBMISSION) == 30
        assert configured.days_for(procedure.INTAKE_OUTCOME.also[0]) == 3


def test_the_demo_walks_every_pause() -> None:
    assert {action for action, _data, _actor in walk(TODAY)} == {p.action for p in PAUSES}


def test_a_wait_within_a_pause_has_its_own_words() -> None:
    intake = procedure.INTAKE_OUTCOME
    picking = intake.wait_on("practitioner")
    assert picking is intake.also[0] and picking.awaited != intake.wait.awaited
    assert intake.wait_on("association") is intake.wait
    assert intake.wait_on(None) is intake.wait
    assert procedure.awaited(intake.action, "practitioner") == picking.awaited
    assert procedure.awaited("no_such_action", None) == ""
    assert isinstance(Wait, type) and isinstance(Stage, type)
