"""Reviewers (vakinhoudelijk beoordelaars) and their reviews, one per round."""

from __future__ import annotations

from datetime import date
from enum import StrEnum

from sqlalchemy import UniqueConstraint
from sqlmodel import Field, Session, SQLModel, col, select


class Reviewer(SQLModel, table=True):
    id: int | None = Field(default=None, primary_key=True)
    name: str = Field(max_length=200)
    email: str = Field(unique=True, max_length=254)


class ReviewOutcome(StrEnum):
    POSITIVE = "positive"
    ADDITIONS = "additions"
    NEGATIVE = "negative"


class ReviewBase(SQLModel):
    round: int
    assigned_on: date
    outcome: ReviewOutcome | None = None
    explanation: str = ""
    decided_on: date | None = None


class Review(ReviewBase, table=True):
    __table_args__ = (UniqueConstraint("case_id", "round", name="uq_review_case_round"),)

    id: int | None = Field(default=None, primary_key=True)
    case_id: int = Field(foreign_key="case.id", index=True)
    reviewer_id: int = Field(foreign_key="reviewer.id")


class ReviewPublic(ReviewBase):
    reviewer_name: str


def upsert_reviewer(*, session: Session, name: str, email: str) -> Reviewer:
    reviewer = session.exec(select(Reviewer).where(Reviewer.email == email.lower())).first()
    if reviewer is None:
        reviewer = Reviewer(name=name, email=email.lower())
    reviewer.name = name
    session.add(reviewer)
    session.flush()
    return reviewer


def case_reviews(*, session: Session, case_id: int) -> list[Review]:
    return list(
        session.exec(select(Review).where(Review.case_id == case_id).order_by(col(Review.round)))
    )


def get_review(*, session: Session, case_id: int, round: int) -> Review | None:
    return session.exec(
        select(Review).where(Review.case_id == case_id, Review.round == round)
    ).first()


def get_reviewer(*, session: Session, reviewer_id: int) -> Reviewer:
    reviewer = session.get(Reviewer, reviewer_id)
    if reviewer is None:
        raise LookupError(f"reviewer {reviewer_id}")
    return reviewer
