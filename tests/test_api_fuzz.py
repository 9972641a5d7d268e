"""Schemathesis over every /api/v1 operation, positive and negative data, as every kind of
caller (three staff roles by API token, a practitioner's link, nobody), against the app served
over HTTP on the offline database: a bounded run, so that the class of findings of issue 21
(numbers out of range, odd digits, bodies before login) cannot come back unnoticed. The long
run, against a stack under faults, is in bench/chaos.py."""

from __future__ import annotations

import asyncio
from datetime import timedelta

import pytest

from service.actions import open_case
from tests.chaos import api_callers, fuzz_api
from tests.conftest import ASSOCIATION, TODAY, serving
from tests.factories import request

pytestmark = pytest.mark.usefixtures("offline")
EXAMPLES = 8  # per operation and mode: about 250 calls, some seconds


async def test_schemathesis_finds_no_server_error_on_the_api() -> None:
    opened = await open_case(request(TODAY - timedelta(days=30)), actor=ASSOCIATION)
    callers = api_callers(opened.case_id)
    with serving() as url:
        result = await asyncio.to_thread(fuzz_api, url, callers, EXAMPLES)
    assert result.calls >= 100, f"only {result.calls} calls: the schema was not walked"
    assert sum(n for status, n in result.statuses.items() if status < 300) > 0
    assert sum(n for status, n in result.statuses.items() if 400 <= status < 500) > 0
    assert result.server_errors == []
