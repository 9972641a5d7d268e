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
