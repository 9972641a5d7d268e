"""Who acts: the role the rules check, the name the history shows, and what ties the actor to
a case (a staff account, or a reviewer's assignment and round)."""

from __future__ import annotations

from dataclasses import dataclass

from domain.states import Role


@dataclass(frozen=True)
class Actor:
    role: Role
    name: str
    reviewer_id: int | None = None
    staff_id: int | None = None
    review_round: int | None = None


# Who may do what besides the decisions, whose typed inputs declare their own roles
# (domain/decisions.py). The service checks these; the pages show a form only to those.
MAY_CHANGE_IDENTITY = frozenset({Role.ASSOCIATION_STAFF, Role.REGISTER_STAFF, Role.OPERATOR})
MAY_COUNT = frozenset({Role.ASSOCIATION_STAFF, Role.OPERATOR})  # points and hours (R6)
MAY_PLAN_INTAKE = frozenset({Role.ASSOCIATION_STAFF, Role.OPERATOR})
MAY_RESTART = frozenset({Role.REGISTER_STAFF, Role.OPERATOR})
