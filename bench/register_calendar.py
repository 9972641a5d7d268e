"""Benchmark (not a test): the register's calendar at a register's size.

Imports a generated export of N registrations (period starts spread over five years, so every
day some periods reach a reminder, their end or their lapse), imports it again (nothing
changes), then runs the sweep's calendar pass (notices and R4) on consecutive days and prints
its time per day and the process's memory after each: the time bounds the database work (it
includes rendering the day's mails), the memory should stay flat.

    .venv/bin/python bench/register_calendar.py [--rows 40000] [--days 30] [--postgres]
"""

from __future__ import annotations

import argparse
import os
import resource
import statistics
import sys
import tempfile
import time
import uuid
from collections.abc import Callable
from datetime import date, timedelta
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from domain.states import Role  # noqa: E402
from models.db import migrate  # noqa: E402
from service.actors import Actor  # noqa: E402
from settings import get_settings  # noqa: E402

FIRST_DAY = date(2026, 12, 1)
CODES = ("KOT", "BOT", "PSOT", "GOT")


def export(rows: int) -> str:
    lines = ["kp_nummer;naam;email;lid;specialisatie;periode_start"]
    for i in range(rows):
        start = date(2021, 12, 1) + timedelta(days=i % 1826)
        lines.append(f"{1_000_000 + i};Therapeut {i};t{i}@example.org;"
                     f"{'ja' if i % 3 else 'nee'};{CODES[i % 4]};{start}")
    return "\n".join(lines) + "\n"


def rss_mb() -> float:
    with open("/proc/self/status") as status:
        for line in status:
            if line.startswith("VmRSS:"):
                return int(line.split()[1]) / 1024
    return float(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss) / 1024


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--rows", type=int, default=40_000)
    parser.add_argument("--days", type=int, default=30)
    parser.add_argument("--postgres", action="store_true")
    args = parser.parse_args()
    folder = Path(tempfile.mkdtemp(prefix="herreg-calendar-"))
    database = f"sqlite:///{folder / 'cases.db'}"
    cleanup: list[Callable[[], None]] = []
    if args.postgres:
        import psycopg2

        name = f"herreg_calendar_{uuid.uuid4().hex[:8]}"
        admin = psycopg2.connect("postgresql://postgres@127.0.0.1:5432/postgres")
        admin.autocommit = True
        with admin.cursor() as cursor:
            cursor.execute(f'CREATE DATABASE "{name}"')
        database = f"postgresql+psycopg2://postgres@127.0.0.1:5432/{name}"

        def drop() -> None:
            with admin.cursor() as cursor:
                cursor.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')

        cleanup.append(drop)

    os.environ.update({"HERREG_DATA_DIR": str(folder), "HERREG_DATABASE__URL": database,
                       "HERREG_ENVIRONMENT": "development"})
    get_settings.cache_clear()
    try:
        run(args, database)
    finally:
        for step in cleanup:
            step()


def run(args: argparse.Namespace, database: str) -> None:
    from service.imports import import_registrations
    from tasks.registrations import mark_lapsed_registrations, send_calendar_notices

    migrate()
    text = export(args.rows)
    admin = Actor(Role.OPERATOR, "Benchmark")
    print(f"Database: {database.split(':')[0]}; {args.rows} registraties", flush=True)
    for attempt in ("eerste import", "zelfde bestand opnieuw"):
        started = time.perf_counter()
        report = import_registrations(text, actor=admin, source="bench.csv")
        print(f"{attempt}: {time.perf_counter() - started:.1f} s "
              f"({report.registrations_created} nieuw, {report.unchanged} ongewijzigd, "
              f"{len(report.rejected)} afgewezen)", flush=True)

    timings, memory, mailed = [], [], 0
    for offset in range(args.days):
        day = FIRST_DAY + timedelta(days=offset)
        started = time.perf_counter()
        sent = send_calendar_notices.fn(day)
        mark_lapsed_registrations.fn(day)
        timings.append(time.perf_counter() - started)
        memory.append(rss_mb())
        mailed += sum(sent.values())
        if offset % 10 == 0:
            print(f"  {day}: {timings[-1]:.2f} s, {sum(sent.values())} mails, "
                  f"RSS {memory[-1]:.0f} MB", flush=True)
    print(f"Daily calendar pass over {args.days} days: p50 {statistics.median(timings):.2f} s, "
          f"max {max(timings):.2f} s; {mailed} mails; RSS first/last/max day "
          f"{memory[0]:.0f}/{memory[-1]:.0f}/{max(memory):.0f} MB")


if __name__ == "__main__":
    main()
