"""What the benchmarks read off processes and samples (shared by the scripts in bench/)."""

from __future__ import annotations

import os
import statistics
from pathlib import Path

from stack.processes import descendants


def cpu_seconds(pid: int) -> float:
    """CPU of a process and everything it started, live or already ended (and reaped)."""
    total = 0.0
    for each in [pid, *descendants(pid)]:
        try:
            fields = Path(f"/proc/{each}/stat").read_text().rsplit(")", 1)[1].split()
        except OSError:
            continue
        total += sum(int(x) for x in fields[11:15]) / os.sysconf("SC_CLK_TCK")
    return total


def rss_mb(pid: int) -> float:
    total = 0
    for each in [pid, *descendants(pid)]:
        try:
            total += int(Path(f"/proc/{each}/statm").read_text().split()[1])
        except OSError:
            continue
    return total * os.sysconf("SC_PAGE_SIZE") / 2**20


def q95(values: list[float]) -> float:
    return statistics.quantiles(values, n=20)[18] if len(values) > 1 else values[0]
