"""Register policies: what each quality register requires, as data plus the checks on it."""

from policies.evidence import (
    Activity,
    BotDayAttendance,
    Evidence,
    Shortfall,
    Verdict,
    WorkHours,
)
from policies.loading import available_codes, load_policy, specialisations
from policies.register import RegisterPolicy
from policies.schema import PolicyError

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
