"""Register policies: what each quality register requires, as data plus the checks on it."""

from policies.rules import (
    Activity,
    BotDayAttendance,
    Evidence,
    PolicyError,
    RegisterPolicy,
    Shortfall,
    Verdict,
    WorkHours,
    available_codes,
    load_policy,
    specialisations,
)

__all__ = [
    "Activity",
    "BotDayAttendance",
    "Evidence",
    "PolicyError",
    "RegisterPolicy",
    "Shortfall",
    "Verdict",
    "WorkHours",
    "available_codes",
    "load_policy",
    "specialisations",
]
