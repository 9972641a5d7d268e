"""The chaos harness: cases walked to the end by concurrent actors while faults are injected,
then the invariants, checked in our database and at the SMTP server.

bench/chaos.py runs it at scale (on the stack's private PostgreSQL cluster), and
tests/test_chaos.py runs a small version in `make test`. The parts:

- `PLANS`: the steps of five kinds of case (member; non-member with an intake call and an
  incomplete application; a round of additions; withdrawn while awaiting payment; a payment
  and a withdrawal posted at the same moment, within 50 ms), each with the mails, invoices and
  final state it must end with; a contested case ends as the plan of whichever decision won.
- `Walkers`: one actor per case. An actor waits until the case awaits its step, thinks a
  moment, and acts through `service.actions.act` with the pause key it saw. "Not at that step
  yet", a database that is down, anything unexpected: it looks again and retries. A decision
  that was recorded counts as done even if handing it to the run failed.
- `Faults`: SIGKILL of the worker with its flow-run processes, SMTP down, the Prefect server
  restarted, our PostgreSQL stopped with runs in flight; each noted on the timeline.
- `Monitor`: every few seconds it looks at every case (and, if asked, runs the sweep in this
  process first): does the system owe the case work (anything but "its run is paused at the
  pause the database says it awaits, and no decision is waiting"), and did the case make
  progress. After the faults end, a case that is owed work without progress for longer than
  `stuck_after` seconds (two sweep intervals) counts as stuck.
- `check`: lost, doubled and stuck, each with the evidence; `repair_figures`: the repairs in
  the case history per cause, and how long each took to heal.
- `fuzz_api`: schemathesis over /api/v1, counting server errors.
"""

from __future__ import annotations

import asyncio
import contextlib
import random
import statistics
import time
import warnings
from collections import Counter, defaultdict
from collections.abc import Awaitable, Callable, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any
from uuid import UUID

import httpx
from sqlalchemy import func, or_
from sqlmodel import col, select

from domain.errors import CaseError, DecisionConflict, InvalidTransition, Unavailable
from domain.states import CaseState
from flows.sweeps import sweep
from models.case import Case, CaseEvent, EventKind, get_case
from models.certificate import Certificate
from models.db import DATABASE_DOWN, read_session
from models.decision import DecisionRecord, get_decision, unconsumed
from models.invoice import Invoice
from models.outbox import MailStatus, OutboxMail
from models.registration import Registration
from policies import load_policy
from service.actions import act, open_case
from service.actors import Actor
from stack.processes import Stack, descendants, sweep_pool
from tasks.runs import PREFECT_DOWN, RunPhase, RunView, observe_runs
from tests.conftest import ASSOCIATION, PRACTITIONER, REGISTER, REVIEWER, TODAY, Mailbox
from tests.factories import request

# --- what each case goes through --------------------------------------------------------------


@dataclass(frozen=True)
class Step:
    key: str  # the pause it answers; "withdraw" closes the case from pause `after`
    action: str
    actor: Actor
    data: dict[str, Any]
    after: str | None = None
    rival: Step | None = None  # posted by someone else at the same moment: one of them wins


@dataclass(frozen=True)
class Plan:
    name: str
    member: bool
    steps: tuple[Step, ...]
    final: CaseState
    templates: tuple[str, ...]
    invoices: tuple[str, ...]
    points: int = 90  # in the portfolio: too few make declining possible
    if_rival_wins: str = ""  # the plan the case follows when a step's rival wins

    @property
    def certificate(self) -> bool:
        return self.final is CaseState.CERTIFIED


def _day(days_ago: int) -> str:
    return str(TODAY - timedelta(days=days_ago))


ADVISE = Step("association-decision", "association_decision", ASSOCIATION, {"outcome": "advise"})
REOPENED = Step("portfolio-reopened", "portfolio_reopened", REGISTER, {"reopened_on": _day(10)})
SUBMIT = Step("submission", "submit", PRACTITIONER, {"submitted_on": _day(3)})
PAID = Step("payment", "payment_received", REGISTER, {"paid_on": _day(0)})
COMPLETE = Step("completeness-1", "completeness", REGISTER, {"complete": True})
ASSIGN = Step("assignment", "assign_reviewer", REGISTER,
              {"reviewer_name": "Dr. R. Beoordelaar", "reviewer_email": "reviewer@example.org"})
POSITIVE = Step("findings-1", "findings", REVIEWER, {"outcome": "positive"})
HEAD = ("request_received", "association_check_requested")
ADVISED = ("reopen_advice", "association_approved")
PAID_MAILS = (*ADVISED, "portfolio_reopened", "invoice_issued", "payment_confirmed")

PLANS: dict[str, Plan] = {
    "member": Plan(
        "member", True, (ADVISE, REOPENED, SUBMIT, PAID, COMPLETE, ASSIGN, POSITIVE),
        CaseState.CERTIFIED, (*HEAD, *PAID_MAILS, "review_assigned", "certificate_issued"),
        ("reregistration",)),
    "intake": Plan(
        "intake", False, (
            Step("association-decision", "association_decision", ASSOCIATION,
                 {"outcome": "intake_call", "note": "eerst een startgesprek"}),
            Step("intake-outcome", "intake_outcome", ASSOCIATION,
                 {"held_on": _day(20), "outcome": "advise"}),
            REOPENED, SUBMIT, PAID,
            Step("completeness-1", "completeness", REGISTER,
                 {"complete": False, "missing": "Verklaring van de werkgever"}),
            Step("completion-1", "completion_supplied", PRACTITIONER,
                 {"supplied_on": _day(0), "description": "Verklaring bijgevoegd"}),
            Step("completeness-2", "completeness", REGISTER, {"complete": True}),
            ASSIGN, POSITIVE),
        CaseState.CERTIFIED,
        (*HEAD, "intake_call_invited", *PAID_MAILS, "completion_requested",
         "completion_received", "review_assigned",
         "certificate_issued"),
        ("intake", "reregistration")),
    "additions": Plan(
        "additions", True, (
            ADVISE, REOPENED, SUBMIT, PAID, COMPLETE, ASSIGN,
            Step("findings-1", "findings", REVIEWER,
                 {"outcome": "additions", "explanation": "Graag de casusbeschrijving"}),
            Step("additions-1", "additions_supplied", PRACTITIONER,
                 {"supplied_on": _day(0), "description": "Casusbeschrijving toegevoegd"}),
            Step("findings-2", "findings", REVIEWER, {"outcome": "positive"})),
        CaseState.CERTIFIED,
        (*HEAD, *PAID_MAILS, "review_assigned", "additions_requested", "additions_received",
         "certificate_issued"),
        ("reregistration",)),
    "withdrawn": Plan(
        "withdrawn", True, (
            ADVISE, REOPENED, SUBMIT,
            Step("withdraw", "withdraw", PRACTITIONER, {"reason": "Toch geen tijd"},
                 after="payment")),
        CaseState.WITHDRAWN,
        (*HEAD, *ADVISED, "portfolio_reopened", "invoice_issued", "withdrawn"),
        ("reregistration",)),
    "declined": Plan(
        "declined", False, (
            Step("association-decision", "association_decision", ASSOCIATION,
                 {"outcome": "intake_call"}),
            Step("intake-outcome", "intake_outcome", ASSOCIATION,
                 {"held_on": _day(20), "outcome": "decline", "note": "te weinig uren"})),
        CaseState.DECLINED, (*HEAD, "intake_call_invited", "declined"), ("intake",),
        points=40),
    "rejected": Plan(
        "rejected", True, (
            ADVISE, REOPENED, SUBMIT, PAID, COMPLETE, ASSIGN,
            Step("findings-1", "findings", REVIEWER,
                 {"outcome": "negative", "explanation": "Onvoldoende onderbouwd"})),
        CaseState.REJECTED, (*HEAD, *PAID_MAILS, "review_assigned", "rejected"),
        ("reregistration",)),
    "contested": Plan(
        "contested", True, (
            ADVISE, REOPENED, SUBMIT,
            Step("payment", "payment_received", REGISTER, {"paid_on": _day(0)},
                 rival=Step("withdraw", "withdraw", PRACTITIONER,
                            {"reason": "Toch geen tijd"}, after="payment")),
            COMPLETE, ASSIGN, POSITIVE),
        CaseState.CERTIFIED, (*HEAD, *PAID_MAILS, "review_assigned", "certificate_issued"),
        ("reregistration",), if_rival_wins="withdrawn"),
}
KNOWN_PAUSES = {s.key for p in PLANS.values() for s in p.steps if s.after is None}


def plans_for(count: int, kinds: Sequence[str] = ("member", "intake", "additions", "withdrawn",
                                                 "contested")) -> list[Plan]:
    return [PLANS[kinds[i % len(kinds)]] for i in range(count)]


def expected_invoices(plan: Plan) -> Counter[str]:
    kinds = Counter(plan.invoices)
    if "intake" in kinds and load_policy("KOT").intake_fee(plan.member) == 0:
        del kinds["intake"]
    return kinds


# --- the timeline -----------------------------------------------------------------------------


class Timeline:
    """Seconds since the start, printed as things happen; faults are kept as windows."""

    def __init__(self, echo: Callable[[str], None] = print) -> None:
        self.started = time.monotonic()
        self.started_at = datetime.now(UTC)
        self.echo = echo
        self.faults: list[Fault] = []

    def now(self) -> float:
        return time.monotonic() - self.started

    def at(self, seconds: float) -> datetime:
        return self.started_at + timedelta(seconds=seconds)

    def note(self, text: str) -> None:
        self.echo(f"[{self.now():7.1f}s] {text}")


@dataclass
class Fault:
    kind: str
    start: float
    end: float | None = None
    detail: str = ""


# --- the actors -------------------------------------------------------------------------------


@dataclass
class Walk:
    plan: Plan
    number: str = ""
    case_id: int = 0
    done: list[str] = field(default_factory=list)  # pause keys decided
    handed_over: int = 0  # decisions the service handed to the run at once
    retries: Counter[str] = field(default_factory=Counter)
    unexpected: list[str] = field(default_factory=list)
    finished: float | None = None


class Walkers:
    """One actor per case, all in this event loop."""

    def __init__(self, walks: list[Walk], timeline: Timeline, *, seed: int = 1,
                 think: tuple[float, float] = (0.2, 2.0), poll: float = 0.5,
                 give_up_after: float = 3600) -> None:
        self.walks, self.timeline = walks, timeline
        self.random = random.Random(seed)
        self.think, self.poll, self.give_up_after = think, poll, give_up_after
        self.decided = asyncio.Event()  # set whenever some actor recorded a decision
        self.contests: Counter[str] = Counter()  # "<winner> won, <loser> refused" and findings

    async def open_all(self) -> None:
        for walk in self.walks:
            data = request(TODAY - timedelta(days=30), member=walk.plan.member,
                           points=walk.plan.points)
            while True:
                try:
                    opened = await open_case(data, actor=ASSOCIATION)
                    break
                except (*DATABASE_DOWN, Unavailable):
                    await asyncio.sleep(1)
            walk.number, walk.case_id = opened.number, opened.case_id
        self.timeline.note(f"{len(self.walks)} cases opened: " + ", ".join(
            f"{w.number} ({w.plan.name})" for w in self.walks))

    async def walk_all(self) -> None:
        await asyncio.gather(*(self.walk(w) for w in self.walks))

    async def walk(self, walk: Walk) -> None:
        for step in walk.plan.steps:
            if step.rival is not None:
                won = await self.contest(walk, step, step.rival)
                walk.done.append(won.key)
                if won is step.rival:
                    walk.plan = PLANS[walk.plan.if_rival_wins]
                    break
                continue
            await self.perform(walk, step)
            walk.done.append(step.key)
        walk.finished = self.timeline.now()

    async def contest(self, walk: Walk, step: Step, rival: Step) -> Step:
        """Both decisions at the same moment, the rival 50 ms before to 50 ms after: our
        database orders them, one is recorded and the other refused. Which one won is read
        from the database, not from the answers; both or neither recorded is a finding."""
        while True:
            await self.perform(walk, step, contested=True)
            try:
                with read_session() as session:
                    if get_decision(session=session, case_id=walk.case_id,
                                    pause_key=step.key) is not None:
                        return step  # decided before (a fault's replay): no contest
            except DATABASE_DOWN:
                await asyncio.sleep(1)
                continue
            offset = self.random.uniform(-0.05, 0.05)

            async def post(decision: Step, delay: float) -> str:
                await asyncio.sleep(delay)
                try:
                    await act(walk.number, decision.action, decision.data, actor=decision.actor,
                              pause_key=None if decision.after else decision.key)
                except (InvalidTransition, DecisionConflict) as err:
                    return f"refused ({type(err).__name__})"
                except Exception as err:  # noqa: BLE001 - a fault meanwhile: decide again
                    return f"failed ({type(err).__name__})"
                return "recorded"

            answers = await asyncio.gather(post(step, max(-offset, 0)),
                                           post(rival, max(offset, 0)))
            try:
                with read_session() as session:
                    recorded = [d for d in (step, rival) if get_decision(
                        session=session, case_id=walk.case_id, pause_key=d.key) is not None]
            except DATABASE_DOWN:
                await asyncio.sleep(1)
                continue
            if not recorded:
                walk.retries["contest: neither recorded"] += 1
                continue
            if len(recorded) > 1:
                self.contests["both recorded (finding)"] += 1
                walk.unexpected.append(f"{step.key}: both {step.action} and {rival.action} "
                                       f"were recorded ({answers})")
            won, lost = (step, rival) if recorded[0] is step else (rival, step)
            loser = answers[1] if won is step else answers[0]
            self.contests[f"{won.action} won, {lost.action} {loser}"] += 1
            self.timeline.note(f"{walk.number}: {step.action} and {rival.action} "
                               f"{offset * 1000:+.0f} ms apart: {won.action} won, "
                               f"{lost.action} {loser}")
            return won

    async def perform(self, walk: Walk, step: Step, *, contested: bool = False) -> None:
        """Acts when the case awaits `step`; `contested`: only waits until it does (and a
        person has read the page), for `contest` to post."""
        deadline = time.monotonic() + self.give_up_after
        waiting_for = step.after or step.key
        thought = False
        while time.monotonic() < deadline:
            try:
                with read_session() as session:
                    case = get_case(session=session, case_id=walk.case_id)
                    recorded = get_decision(session=session, case_id=walk.case_id,
                                            pause_key=step.key) is not None
            except DATABASE_DOWN:
                walk.retries["database down"] += 1
                await asyncio.sleep(1)
                continue
            if recorded:
                return
            if case.state.is_closed:
                walk.unexpected.append(f"{step.key}: case closed as {case.state}")
                return
            if case.awaiting_key != waiting_for:
                thought = False
                await asyncio.sleep(self.poll)
                continue
            if not thought:  # a person reads the page before deciding
                thought = True
                await asyncio.sleep(self.random.uniform(*self.think))
                continue
            if contested:
                return
            try:
                outcome = await act(walk.number, step.action, step.data, actor=step.actor,
                                    pause_key=None if step.after else step.key)
            except (InvalidTransition, DecisionConflict) as err:
                walk.retries[type(err).__name__] += 1  # not there yet, or moved on: look again
            except (*DATABASE_DOWN, Unavailable) as err:
                walk.retries[f"down: {type(err).__name__}"] += 1
                await asyncio.sleep(1)
            except (CaseError, *PREFECT_DOWN) as err:
                walk.unexpected.append(f"{step.key}: {type(err).__name__}: {err}"[:300])
                await asyncio.sleep(1)
            except Exception as err:  # noqa: BLE001 - anything else is a finding, not a stop
                walk.unexpected.append(f"{step.key}: {type(err).__name__}: {err}"[:300])
                await asyncio.sleep(1)
            else:
                walk.handed_over += outcome.delivered
                self.decided.set()
                self.decided.clear()
                return
            await asyncio.sleep(self.poll)
        walk.unexpected.append(f"{step.key}: gave up after {self.give_up_after:.0f} s")
        raise TimeoutError(f"{walk.number}: {step.key} never awaited")


# --- the faults -------------------------------------------------------------------------------


async def _prefect_runs(states: Sequence[str]) -> list[Any]:
    from prefect import get_client
    from prefect.client.schemas.filters import (
        FlowRunFilter,
        FlowRunFilterState,
        FlowRunFilterStateType,
    )
    from prefect.client.schemas.objects import StateType

    async with get_client() as client:
        return list(await client.read_flow_runs(flow_run_filter=FlowRunFilter(
            state=FlowRunFilterState(type=FlowRunFilterStateType(
                any_=[StateType(s) for s in states])))))


STAFF_ROLES = ("association_staff", "register_staff")


async def _sweeps_running() -> int:
    """How many sweep runs are Running now (0 if Prefect does not answer)."""
    try:
        runs = await asyncio.wait_for(_prefect_runs(["RUNNING"]), 5)
    except (TimeoutError, *PREFECT_DOWN):
        return 0
    return sum(run.work_pool_name == sweep_pool() for run in runs)


async def count_runs(states: Sequence[str], timeout: float = 5) -> int | str:
    """How many runs are in these states; "?" if Prefect does not answer promptly (a fault
    is injected on time, whatever the server is doing)."""
    try:
        return len(await asyncio.wait_for(_prefect_runs(states), timeout))
    except TimeoutError:
        return "? (no answer)"
    except PREFECT_DOWN as err:
        return f"? ({type(err).__name__})"


class Faults:
    """Each method injects one fault and notes it (with what was hit) on the timeline."""

    def __init__(self, stack: Stack, mailbox: Mailbox, timeline: Timeline, walkers: Walkers,
                 *, cluster: Any = None, web_url: str | None = None,
                 api_headers: dict[str, str] | None = None,
                 callers: dict[str, dict[str, str]] | None = None, seed: int = 1) -> None:
        self.stack, self.mailbox, self.timeline, self.walkers = stack, mailbox, timeline, walkers
        self.cluster, self.web_url, self.api_headers = cluster, web_url, api_headers or {}
        self.callers = callers or {}
        self.random = random.Random(seed)
        self.api_statuses: Counter[str] = Counter()
        self.burst_statuses: Counter[int | str] = Counter()
        self.burst_errors: list[str] = []  # every 5xx answer to a burst, with its body
        self.posting = asyncio.Event()  # a burst's requests are on their way

    def _begin(self, kind: str, detail: str = "") -> Fault:
        fault = Fault(kind, self.timeline.now(), detail=detail)
        self.timeline.faults.append(fault)
        return fault

    def _end(self, fault: Fault, text: str) -> None:
        fault.end = self.timeline.now()
        self.timeline.note(text)

    async def kill_worker(self) -> None:
        running = await count_runs(["RUNNING"])
        pending = await count_runs(["PENDING"])
        child = self.stack.children["worker"]
        flow_runs = descendants(child.process.pid)
        fault = self._begin("kill worker")
        await asyncio.to_thread(self.stack.kill, "worker")
        self._end(fault, f"FAULT SIGKILL worker pid {child.process.pid} and its "
                  f"{len(flow_runs)} descendant processes (runs Running {running}, "
                  f"Pending {pending}); the supervisor restarts it")

    async def smtp_down(self, seconds: float) -> None:
        fault = self._begin("smtp down")
        self.mailbox.stop()
        self.timeline.note(f"FAULT SMTP server down for {seconds:.0f} s")
        try:
            await asyncio.sleep(seconds)
        finally:
            self.mailbox.start()
        self._end(fault, "      SMTP server up again")

    async def kill_sweep_worker(self, wait_for_sweep: float = 150) -> None:
        """SIGKILL the sweep's executor while a sweep runs (waits for one to be Running): its
        run is left Running, holding the sweep pool's only slot."""
        deadline = time.monotonic() + wait_for_sweep
        while time.monotonic() < deadline and not await _sweeps_running():
            await asyncio.sleep(0.2)
        running = await _sweeps_running()
        fault = self._begin("kill sweep worker")
        await asyncio.to_thread(self.stack.kill, "sweep-worker")
        self._end(fault, f"FAULT SIGKILL sweep worker ({running} sweep runs Running); the "
                  "supervisor restarts it")

    async def power_cut(self, wait_for_work: float = 120, during: str = "burst") -> None:
        """SIGKILL every process of the stack at once, its database and Prefect's server
        included, while work is in flight (a burst of decisions, or a sweep), then the stack
        comes back on the same data as a machine's service manager would bring it back."""
        deadline = time.monotonic() + wait_for_work
        if during == "sweep":
            while time.monotonic() < deadline and not await _sweeps_running():
                await asyncio.sleep(0.2)
            busy = f"{await _sweeps_running()} sweep runs Running"
            burst = None
        else:
            burst = asyncio.create_task(self.burst(20))
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self.posting.wait(), 90)
            await asyncio.sleep(self.random.uniform(0.05, 0.5))
            busy = f"a burst of decisions in flight, runs Running {await count_runs(['RUNNING'])}"
        fault = self._begin(f"power cut during {during}")
        started = time.monotonic()
        await asyncio.to_thread(self.stack.kill_all)
        self.timeline.note(f"FAULT power cut: every process of the stack killed ({busy})")
        while time.monotonic() - started < 300:
            with contextlib.suppress(httpx.HTTPError):
                async with httpx.AsyncClient(timeout=2) as client:
                    if (await client.get(f"{self.stack.api_url}/health")).status_code == 200:
                        break
            await asyncio.sleep(0.5)
        if burst is not None:
            await burst
        self._end(fault, f"      stack back after {time.monotonic() - started:.1f} s")

    async def burst(self, size: int = 30, wait: float = 60) -> None:
        """`size` decisions posted through the API at the same moment: the next staff step of
        every case that awaits one (waiting up to `wait` s for one), each as often as it takes
        to make `size` (one of each is recorded, the rest are told 409; their actors may post
        the same). Every answer is counted; a 5xx other than a 503 is a finding."""
        if not self.web_url:
            return
        deadline = time.monotonic() + wait
        wanted = self._staff_steps_awaited()
        while not wanted and time.monotonic() < deadline:
            await asyncio.sleep(0.1)
            wanted = self._staff_steps_awaited()
        wanted = (wanted * (size // max(len(wanted), 1) + 1))[:size] if wanted else []
        fault = self._begin("burst", f"{len(wanted)} decisions")
        answers: Counter[int | str] = Counter()

        async def post(client: httpx.AsyncClient, walk: Walk, step: Step) -> None:
            try:
                answer = await client.post(
                    f"/api/v1/cases/{walk.number}/{step.action}", params={"pause_key": step.key},
                    json=step.data, headers=self.api_headers_for(step.actor.role.value))
            except httpx.HTTPError as err:
                answers[f"no answer ({type(err).__name__})"] += 1
                return
            answers[answer.status_code] += 1
            if answer.status_code >= 500 and answer.status_code != 503:
                self.burst_errors.append(f"{walk.number} {step.action}: {answer.status_code} "
                                         f"{answer.text[:200]}")

        async with httpx.AsyncClient(base_url=self.web_url, timeout=120) as client:
            self.posting.set()
            await asyncio.gather(*(post(client, walk, step) for walk, step in wanted))
            self.posting.clear()
        self.burst_statuses.update(answers)
        self._end(fault, f"FAULT burst of {len(wanted)} decisions through the API: "
                  f"{dict(answers)}")

    def _staff_steps_awaited(self) -> list[tuple[Walk, Step]]:
        wanted = []
        with contextlib.suppress(*DATABASE_DOWN), read_session() as session:
            for walk in self.walkers.walks:
                step = next((s for s in walk.plan.steps if s.key not in walk.done), None)
                if step is None or step.after or step.rival \
                        or step.actor.role.value not in STAFF_ROLES:
                    continue
                case = get_case(session=session, case_id=walk.case_id)
                if case.awaiting_key == step.key and get_decision(
                        session=session, case_id=walk.case_id, pause_key=step.key) is None:
                    wanted.append((walk, step))  # decided but not yet passed: nothing to win
        return wanted

    def api_headers_for(self, role: str) -> dict[str, str]:
        return self.callers.get(role, self.api_headers)

    async def restart_prefect(self, wait_for_paused: float = 60) -> None:
        deadline = time.monotonic() + wait_for_paused
        paused = await count_runs(["PAUSED"])
        while (not isinstance(paused, int) or paused == 0) and time.monotonic() < deadline:
            await asyncio.sleep(2)
            paused = await count_runs(["PAUSED"])
        fault = self._begin("restart prefect server")
        self.timeline.note(f"FAULT Prefect server restart ({paused} runs suspended)")
        started = time.monotonic()
        await asyncio.to_thread(self.stack.restart, "prefect-server")
        while time.monotonic() - started < 180:
            try:
                async with httpx.AsyncClient(timeout=2) as client:
                    if (await client.get(f"{self.stack.api_url}/health")).status_code == 200:
                        break
            except httpx.HTTPError:
                pass
            await asyncio.sleep(0.5)
        self._end(fault, f"      Prefect server answers again after "
                  f"{time.monotonic() - started:.1f} s")

    async def stop_database(self, seconds: float) -> None:
        """Right after an actor's decision, so its run is busy with it when the database
        goes; the API is asked meanwhile what it answers."""
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(self.walkers.decided.wait(), 120)
        await asyncio.sleep(self.random.uniform(0.3, 1.5))
        running = await count_runs(["RUNNING"])
        fault = self._begin("database down")
        # Our database on a cluster of its own (--postgres), or the stack's own cluster,
        # which holds Prefect's database too: then both go.
        await asyncio.to_thread(self.cluster.stop if self.cluster else
                                lambda: self.stack.hold("postgres"))
        self.timeline.note(f"FAULT project PostgreSQL stopped for {seconds:.0f} s "
                           f"({running} runs Running)")
        until = time.monotonic() + seconds
        if self.web_url:
            await self._probe_api(until)
        await asyncio.sleep(max(0.0, until - time.monotonic()))
        await asyncio.to_thread(self.cluster.start if self.cluster else
                                lambda: self.stack.release("postgres"))
        self._end(fault, f"      project PostgreSQL up again; API answers meanwhile: "
                  f"{dict(self.api_statuses) or 'none'}")

    async def _probe_api(self, until: float) -> None:
        number = self.walkers.walks[0].number
        probes = [("GET", "/api/v1/cases", None),
                  ("GET", f"/api/v1/cases/{number}", None),
                  ("POST", f"/api/v1/cases/{number}/payment_received", {"paid_on": _day(0)})]
        async with httpx.AsyncClient(base_url=self.web_url or "", timeout=20,
                                     headers=self.api_headers) as client:
            while time.monotonic() < until - 3:
                for method, path, body in probes:
                    try:
                        response = await client.request(method, path, json=body)
                    except httpx.HTTPError as err:
                        self.api_statuses[f"no answer ({type(err).__name__})"] += 1
                        continue
                    kind = response.headers.get("content-type", "").split(";")[0]
                    self.api_statuses[f"{method} {response.status_code} {kind}"] += 1
                await asyncio.sleep(3)

@dataclass
class Scheduled:
    at: float  # seconds after the start
    name: str
    action: Callable[[], Awaitable[None]]


async def play(schedule: list[Scheduled], timeline: Timeline) -> None:
    """Injects each fault at its time; faults may overlap (SMTP stays down for minutes)."""
    running = []
    for item in sorted(schedule, key=lambda s: s.at):
        await asyncio.sleep(max(0.0, item.at - timeline.now()))
        running.append(asyncio.create_task(item.action(), name=item.name))
    for task in running:
        try:
            await task
        except Exception as err:  # noqa: BLE001 - a fault that failed is reported, not fatal
            timeline.note(f"fault {task.get_name()} failed: {type(err).__name__}: {err}")


# --- watching the cases -----------------------------------------------------------------------


@dataclass
class CaseLook:
    state: CaseState
    awaiting: str | None
    stuck_reason: str | None
    owes: str | None  # what the system still has to do for the case, if anything
    progress: tuple[int, int]


async def look(case_ids: list[int], timeout: float = 20) -> dict[int, CaseLook] | None:
    """One snapshot of all cases and their runs; None if the database or Prefect is away or
    slow. Prefect is asked first, so no run is compared with an older state of its case."""
    try:
        with read_session() as session:
            run_ids = sorted(c.flow_run_id for c in session.exec(
                select(Case).where(col(Case.id).in_(case_ids))) if c.flow_run_id)
        runs = await asyncio.wait_for(observe_runs(run_ids), timeout)
        with read_session() as session:
            cases = {c.id: c for c in session.exec(select(Case).where(col(Case.id).in_(case_ids)))}
            waiting = unconsumed(session=session, case_ids=case_ids)
            steps = dict(session.exec(
                select(CaseEvent.case_id, func.max(CaseEvent.id))
                .where(col(CaseEvent.case_id).in_(case_ids))
                .where(or_(CaseEvent.kind == EventKind.TRANSITION,
                           col(CaseEvent.key).startswith("pause:")))
                .group_by(col(CaseEvent.case_id))).all())
            mails: dict[int, Counter[str]] = defaultdict(Counter)
            for case_id, status, n in session.exec(
                    select(OutboxMail.case_id, OutboxMail.status, func.count())
                    .where(col(OutboxMail.case_id).in_(case_ids))
                    .group_by(col(OutboxMail.case_id), col(OutboxMail.status))).all():
                mails[case_id or 0][status] += n
    except (TimeoutError, *DATABASE_DOWN, *PREFECT_DOWN):
        return None
    looks = {}
    for case_id, case in cases.items():
        assert case_id is not None
        run = runs.get(case.flow_run_id or "", RunView(RunPhase.MISSING))
        decided = {r.pause_key for r in waiting.get(case_id, [])}
        unsent = mails[case_id][MailStatus.PENDING] + mails[case_id][MailStatus.SENDING]
        owes = None
        if case.state.is_closed:
            pass
        elif "withdraw" in decided:
            owes = "withdrawal not yet carried out"
        elif case.awaiting_key is None:
            owes = f"between steps (run {run.phase} {run.state_name})"
        elif case.awaiting_key in decided:
            owes = f"decision for {case.awaiting_key} not yet processed (run {run.phase} " \
                   f"{run.state_name})"
        elif run.phase is not RunPhase.PAUSED:
            owes = f"run {run.phase} {run.state_name} instead of paused"
        elif run.pause_key != case.awaiting_key:
            owes = f"run paused at {run.pause_key}, case awaits {case.awaiting_key}"
        if owes is None and unsent:
            owes = f"{unsent} mails unsent"  # dead letters wait for a person: `check` counts them
        looks[case_id] = CaseLook(case.state, case.awaiting_key, case.stuck_reason, owes,
                                  (steps.get(case_id, 0), mails[case_id][MailStatus.SENT]))
    return looks


class Monitor:
    """Looks at the cases every `every` seconds, first running a sweep in this process every
    `sweep_every` seconds when `sweeping` (the scheduled sweep runs regardless). Once
    `faults_end` is set, it measures per case how long the system owed it work without
    progress."""

    def __init__(self, walks: list[Walk], timeline: Timeline, *, every: float = 5,
                 sweep_every: float = 60, sweeping: bool = False, report_every: float = 30,
                 ) -> None:
        self.walks, self.timeline = walks, timeline
        self.every, self.sweep_every, self.sweeping = every, sweep_every, sweeping
        self.report_every = report_every
        self.faults_end: float | None = None
        self.owed_since: dict[int, tuple[tuple[int, int], float, str]] = {}
        self.longest: dict[int, tuple[float, str]] = {}
        self.sweeps: Counter[str] = Counter()
        self.sweep_count = 0
        self.sweep_failures: list[str] = []
        self.last: dict[int, CaseLook] = {}
        self._last_sweep = 0.0
        self._last_report = 0.0
        self._sweeping: asyncio.Task[None] | None = None

    async def finish(self, timeout: float = 120) -> None:
        """Waits for a sweep still running (its thread cannot be cancelled)."""
        if self._sweeping is not None:
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(asyncio.shield(self._sweeping), timeout)

    async def run_sweep(self) -> None:
        """In a thread with its own event loop: the sweep's synchronous tasks would otherwise
        hold up the actors and the faults."""
        self._last_sweep = time.monotonic()
        try:
            report = await asyncio.to_thread(_sweep_now)
        except Exception as err:  # noqa: BLE001 - counted; the next one may work
            self.sweep_failures.append(f"{self.timeline.now():.0f}s {type(err).__name__}: {err}"
                                       [:200])
            return
        self.sweep_count += 1
        self.sweeps.update({k: v for k, v in report.items() if v})

    async def once(self) -> dict[int, CaseLook] | None:
        """One look; a sweep is started beside it when one is due (a sweep that waits on a
        slow Prefect server must not stop the looking)."""
        idle = self._sweeping is None or self._sweeping.done()
        if self.sweeping and idle and time.monotonic() - self._last_sweep >= self.sweep_every:
            self._sweeping = asyncio.create_task(self.run_sweep())
        looks = await look([w.case_id for w in self.walks])
        if looks is None:
            return None
        self.last = looks
        now = self.timeline.now()
        for case_id, seen in looks.items():
            if seen.owes is None:
                self.owed_since.pop(case_id, None)
                continue
            before = self.owed_since.get(case_id)
            if before is None or before[0] != seen.progress:
                self.owed_since[case_id] = (seen.progress, now, seen.owes)
                continue
            if self.faults_end is not None:
                waited = now - max(before[1], self.faults_end)
                if waited > self.longest.get(case_id, (0.0, ""))[0]:
                    why = seen.owes if seen.owes == before[2] else \
                        f"first {before[2]}; last {seen.owes}"
                    self.longest[case_id] = (waited, why)
        if now - self._last_report >= self.report_every:
            self._last_report = now
            self.timeline.note("progress: " + summary(looks, self.walks))
        return looks

    async def run(self, stop: asyncio.Event) -> None:
        while not stop.is_set():
            await self.once()
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(stop.wait(), self.every)


def _sweep_now() -> dict[str, int]:
    return asyncio.run(sweep())


def summary(looks: dict[int, CaseLook], walks: list[Walk]) -> str:
    states = Counter(str(s.awaiting or s.state) for s in looks.values())
    owed = sum(s.owes is not None for s in looks.values())
    decided = sum(len(w.done) for w in walks)
    return (", ".join(f"{k} {v}" for k, v in sorted(states.items()))
            + f"; decisions {decided}; owed work {owed}")


async def settle(walkers: Walkers, walk_task: asyncio.Task[None], monitor: Monitor,
                 timeout: float) -> bool:
    """Until every actor is done and every case is at its final state with nothing owed (or
    the time is up); the monitor keeps sweeping meanwhile."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        looks = await monitor.once()
        if walk_task.done() and looks is not None and all(
                looks[w.case_id].state is w.plan.final and looks[w.case_id].owes is None
                for w in walkers.walks):
            return True
        await asyncio.sleep(monitor.every)
    return False


# --- the verdict ------------------------------------------------------------------------------


@dataclass
class Findings:
    """Lost and doubled count things (mails, decisions, invoices); stuck counts cases."""

    lost: list[str] = field(default_factory=list)
    doubled: list[str] = field(default_factory=list)
    stuck: list[str] = field(default_factory=list)
    notes: list[str] = field(default_factory=list)

    @property
    def stuck_cases(self) -> int:
        return len({line.split(" ", 1)[0] for line in self.stuck})


def check(walks: list[Walk], mailbox: Mailbox, monitor: Monitor, *, stuck_after: float,
          ) -> Findings:
    """The invariants, by SQL in our database and at the SMTP server."""
    found = Findings()
    received: dict[str, list[str]] = defaultdict(list)
    for message in list(mailbox.messages):
        received[str(message["X-Herregistratie-Key"])].append(str(message["Message-ID"]))
    with read_session() as session:
        for walk in walks:
            case = get_case(session=session, case_id=walk.case_id)
            label = f"{walk.number} ({walk.plan.name})"
            if case.state is not walk.plan.final:
                where = f"{case.state}, awaiting {case.awaiting_key}"
                if case.state.is_closed:
                    found.lost.append(f"{label}: ended {case.state}, expected "
                                      f"{walk.plan.final}")
                elif (case.awaiting_key or "").split("-retry-")[0] in KNOWN_PAUSES:
                    found.stuck.append(f"{label}: still open at a known pause ({where})")
                else:
                    found.stuck.append(f"{label}: open, not at a known pause ({where})")
            if case.stuck_reason:
                found.stuck.append(f"{label}: marked stuck since {case.stuck_since}: "
                                   f"{case.stuck_reason}")
            decisions = session.exec(select(DecisionRecord).where(
                DecisionRecord.case_id == walk.case_id)).all()
            keys = {d.pause_key for d in decisions}
            for key in walk.done:
                if key not in keys:
                    found.lost.append(f"{label}: decision {key} acknowledged but not recorded")
            for decision in decisions:
                if decision.consumed_at is None and case.state.is_closed:
                    found.lost.append(f"{label}: decision {decision.pause_key} never processed")
            mails = session.exec(select(OutboxMail).where(
                OutboxMail.case_id == walk.case_id)).all()
            templates = Counter(m.template for m in mails)
            finished = case.state is walk.plan.final
            for template in walk.plan.templates:
                if templates[template] == 0 and finished:
                    found.lost.append(f"{label}: mail {template} never written")
            for template in set(templates) - set(walk.plan.templates):
                found.notes.append(f"{label}: unexpected mail {template}")
            for mail in mails:
                arrivals = received.get(mail.key, [])
                if not arrivals:
                    found.lost.append(f"{label}: mail {mail.key} ({mail.status}, "
                                      f"{mail.attempts} attempts, {mail.last_error!r}) "
                                      "never arrived")
                elif len(arrivals) > 1:
                    same = "same Message-ID" if len(set(arrivals)) == 1 else \
                        f"Message-IDs {sorted(set(arrivals))}"
                    found.doubled.append(f"{label}: mail {mail.key} arrived {len(arrivals)} "
                                         f"times ({same}; attempts {mail.attempts})")
            invoices = Counter(str(i.kind) for i in session.exec(select(Invoice).where(
                Invoice.case_id == walk.case_id)).all())
            expected = expected_invoices(walk.plan)
            for kind in set(invoices) | set(expected):
                if invoices[kind] > 1:
                    found.doubled.append(f"{label}: {invoices[kind]} invoices of kind {kind}")
                elif invoices[kind] < expected[kind] and finished:
                    found.lost.append(f"{label}: no {kind} invoice")
            certificates = session.exec(select(func.count()).select_from(Certificate).where(
                Certificate.case_id == walk.case_id)).one()
            if certificates > 1:
                found.doubled.append(f"{label}: {certificates} certificates")
            elif certificates < walk.plan.certificate and finished:
                found.lost.append(f"{label}: no certificate")
            visible = session.exec(select(func.count()).select_from(Registration).where(
                Registration.practitioner_id == case.practitioner_id,
                Registration.visible == True)).one()  # noqa: E712
            if visible > 1:
                found.doubled.append(f"{label}: {visible} visible registrations")
            waited, why = monitor.longest.get(walk.case_id, (0.0, ""))
            if waited > stuck_after:
                found.stuck.append(f"{label}: owed work without progress for {waited:.0f} s "
                                   f"after the faults ended ({why})")
            for problem in walk.unexpected:
                found.notes.append(f"{label}: actor saw {problem}")
    return found


def repair_figures(walks: list[Walk], timeline: Timeline) -> list[str]:
    """The repairs in the case history: per cause, and how long from the repair to the case's
    next progress (a step or a pause reached); and from the fault before it to the repair."""
    lines = []
    per_cause: Counter[str] = Counter()
    heal: dict[str, list[float]] = defaultdict(list)
    detect: list[float] = []
    other: Counter[str] = Counter()
    with read_session() as session:
        for walk in walks:
            events = session.exec(select(CaseEvent).where(CaseEvent.case_id == walk.case_id)
                                  .order_by(col(CaseEvent.id))).all()
            for i, event in enumerate(events):
                if event.action in ("run_stopped", "stuck"):
                    other[event.action] += 1
                if event.action != "repair":
                    continue
                cause = f"{event.input.get('cause')}" + (
                    f" ({event.input['detail']})" if event.input.get("detail") else "")
                per_cause[cause] += 1
                after = next((e for e in events[i + 1:] if e.kind == EventKind.TRANSITION
                              or e.key.startswith("pause:")), None)
                if after is not None:
                    heal[cause].append((after.at - event.at).total_seconds())
                else:
                    heal[cause].append(float("nan"))
                at = (event.at - timeline.started_at).total_seconds()
                before = [f for f in timeline.faults if f.start <= at]
                if before:
                    detect.append(at - max(f.start for f in before))
    lines.append(f"repairs in the case history: {sum(per_cause.values())} "
                 f"(run-stopped notes {other['run_stopped']}, stuck marks {other['stuck']})")
    for cause, n in per_cause.most_common():
        times = [t for t in heal[cause] if t == t]
        spread = (f"heal min {min(times):.1f} s, median {statistics.median(times):.1f} s, "
                  f"max {max(times):.1f} s" if times else "never healed")
        unhealed = len(heal[cause]) - len(times)
        lines.append(f"  {cause:<40} {n:>3}   {spread}"
                     + (f", {unhealed} without progress after it" if unhealed else ""))
    if detect:
        lines.append(f"  fault -> repair: min {min(detect):.0f} s, median "
                     f"{statistics.median(detect):.0f} s, max {max(detect):.0f} s")
    return lines


# --- schemathesis -----------------------------------------------------------------------------


@dataclass
class FuzzResult:
    calls: int = 0
    server_errors: list[str] = field(default_factory=list)
    statuses: Counter[int] = field(default_factory=Counter)


def fuzz_api(base_url: str, callers: dict[str, dict[str, str]], examples: int,
             seed: int = 1) -> FuzzResult:
    """Schemathesis over every /api/v1 operation, positive and negative data, as each of the
    callers (headers); every 5xx is kept with its request."""
    import schemathesis
    from hypothesis import HealthCheck, Phase, given, settings
    from hypothesis import seed as fixed_seed
    from hypothesis import strategies as st
    from schemathesis import GenerationMode

    result = FuzzResult()
    schema = schemathesis.openapi.from_url(f"{base_url}/api/v1/openapi.json", timeout=30)
    for found in schema.get_all_operations():
        operation = found.ok()
        for mode in (GenerationMode.POSITIVE, GenerationMode.NEGATIVE):

            @fixed_seed(seed)
            @settings(max_examples=examples, deadline=None, database=None,
                      suppress_health_check=list(HealthCheck),
                      phases=[Phase.explicit, Phase.generate])
            @given(case=operation.as_strategy(generation_mode=mode),
                   who=st.sampled_from(sorted(callers)))
            def probe(case: Any, who: str) -> None:
                try:
                    response = case.call(base_url=base_url, headers=callers[who], timeout=60)
                except Exception as err:  # noqa: BLE001 - no answer at all is an error too
                    result.server_errors.append(f"{case.method} {case.formatted_path} as "
                                                f"{who}: no answer ({type(err).__name__})")
                    return
                result.calls += 1
                result.statuses[response.status_code] += 1
                if response.status_code >= 500:
                    result.server_errors.append(
                        f"{case.method} {case.formatted_path} as {who} "
                        f"query={case.query} body={str(case.body)[:200]} -> "
                        f"{response.status_code} {response.text[:200]}")

            with warnings.catch_warnings():
                warnings.simplefilter("ignore")  # schemathesis' strategies use `random`
                probe()
    return result


def api_callers(case_id: int) -> dict[str, dict[str, str]]:
    """An API token per staff role, a practitioner's link token, and nobody."""
    from adapters.links import make_token
    from service.accounts import new_api_token
    from tests.conftest import make_staff

    callers: dict[str, dict[str, str]] = {"anonymous": {}}
    for role in ("association_staff", "register_staff", "admin"):
        user = make_staff(role)
        callers[role] = {"Authorization": f"Bearer {new_api_token(staff_id=user.id, name='chaos')}"}
    callers["practitioner link"] = {
        "X-Link-Token": make_token("status", case=case_id, role="practitioner")}
    return callers


def chaos_line(cases: int, found: Findings, server_errors: int) -> str:
    return (f"chaos: {cases} cases, lost {len(found.lost)}, doubled {len(found.doubled)}, "
            f"stuck {found.stuck_cases}, 5xx {server_errors}")


async def run_evidence(case_id: int) -> list[str]:
    """The case's current run in Prefect: state, since when, and its last events."""
    from prefect import get_client
    from prefect.events.filters import (
        EventFilter,
        EventOccurredFilter,
        EventResourceFilter,
    )

    with read_session() as session:
        run_id = get_case(session=session, case_id=case_id).flow_run_id
    if run_id is None:
        return ["no run recorded on the case"]
    lines = []
    try:
        async with get_client() as client:
            run = await client.read_flow_run(UUID(run_id))
            state = run.state
            parent = run.parent_task_run_id
            lines.append(f"run {run.name} {run_id}: {state.name if state else '?'} since "
                         f"{state.timestamp if state else '?'}"
                         f"{'; subflow of task run ' + str(parent) if parent else ''}"
                         f"{'; ' + state.message[:200] if state and state.message else ''}")
            page = await client.read_events(filter=EventFilter(
                occurred=EventOccurredFilter(since=run.created - timedelta(minutes=1)),
                resource=EventResourceFilter(id=[f"prefect.flow-run.{run_id}"])), limit=50)
            events = sorted(page.events, key=lambda e: e.occurred)
            lines += [f"  {e.occurred:%H:%M:%S} {e.event}" for e in events[-12:]]
    except Exception as err:  # noqa: BLE001 - evidence is best effort
        lines.append(f"run {run_id}: not readable ({type(err).__name__}: {err})")
    return lines


def case_history(case_id: int) -> list[str]:
    """A case's history as lines, for the evidence of a finding."""
    with read_session() as session:
        events = session.exec(select(CaseEvent).where(CaseEvent.case_id == case_id)
                              .order_by(col(CaseEvent.id))).all()
    return [f"{e.at:%H:%M:%S} {e.kind:<10} {e.key:<36} {e.action:<24} "
            f"{e.from_state or ''}->{e.to_state or ''} {e.input if e.kind == 'note' else ''}"
            for e in events]
