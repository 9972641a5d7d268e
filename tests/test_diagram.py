"""The step diagram marks as done only the steps a case went through."""

from __future__ import annotations

import re

from domain.states import CaseState as S
from web.diagram import STEPS, step_diagram

DONE, CURRENT, AHEAD = "#d7e7f0", "#00557f", "#ffffff"


def fills(path: list[S]) -> dict[str, str]:
    wide = str(step_diagram(path)).split('class="diagram narrow"')[0]
    colours = re.findall(r'<rect [^>]*fill="(#[0-9a-f]+)"', wide)
    return dict(zip([label for label, _ in STEPS], colours, strict=True))


def test_a_member_skips_the_intake_call() -> None:
    drawn = fills([S.REQUESTED, S.ASSOCIATION_CHECK, S.REOPEN_ADVISED, S.PORTFOLIO_REOPENED])
    assert drawn["Aanvraag"] == DONE and drawn["Controle VvOCM"] == DONE
    assert drawn["Startgesprek"] == AHEAD
    assert drawn["Advies aan KP"] == DONE
    assert drawn["Portfolio heropend"] == CURRENT
    assert drawn["Dossier indienen"] == AHEAD


def test_an_intake_call_is_done_once_passed() -> None:
    drawn = fills([S.REQUESTED, S.ASSOCIATION_CHECK, S.INTAKE_CALL, S.REOPEN_ADVISED])
    assert drawn["Startgesprek"] == DONE and drawn["Advies aan KP"] == CURRENT


def test_a_withdrawn_case_shows_where_it_stopped() -> None:
    drawn = fills([S.REQUESTED, S.ASSOCIATION_CHECK, S.REOPEN_ADVISED, S.PORTFOLIO_REOPENED,
                   S.AWAITING_SUBMISSION, S.WITHDRAWN])
    assert drawn["Dossier indienen"] == CURRENT
    assert drawn["Startgesprek"] == AHEAD and drawn["Betaling"] == AHEAD
    assert S.WITHDRAWN.label in str(step_diagram([S.REQUESTED, S.WITHDRAWN]))


def test_a_declined_case_stops_at_the_association_check() -> None:
    drawn = fills([S.REQUESTED, S.ASSOCIATION_CHECK, S.DECLINED])
    assert drawn["Controle VvOCM"] == CURRENT
    assert list(drawn.values()).count(DONE) == 1
