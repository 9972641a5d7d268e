"""The domain's exceptions; every message a user may read is Dutch (see `domain.messages`)."""

from __future__ import annotations


class CaseError(Exception):
    """Base of everything that goes wrong acting on a case."""


class CaseNotFound(CaseError):
    """No case with that id or number."""


class InvalidTransition(CaseError):
    """The case is not in a state where this action is possible."""

    def __init__(self, message: str, *, state: str) -> None:
        super().__init__(message)
        self.state = state


class DecisionConflict(CaseError):
    """Somebody else already recorded the decision for this step."""


class InvalidInput(CaseError):
    """The input failed validation; `errors` maps field name to a Dutch message."""

    def __init__(self, errors: dict[str, str]) -> None:
        super().__init__("; ".join(f"{k}: {v}" for k, v in errors.items()))
        self.errors = errors


class NotAllowed(CaseError):
    """The actor's role may not take this action."""


class RegistrationNotLapsed(CaseError):
    """R2/R4: the specialisation can still be re-registered the regular way."""


class Throttled(CaseError):
    """Too many attempts at a door a stranger can knock on; try again later."""


class LinkInvalid(CaseError):
    """A signed link was forged, tampered with or meant for another case."""


class LinkExpired(LinkInvalid):
    """A signed link is genuine but too old."""


class CaseClosed(CaseError):
    """The case was withdrawn or expired while a step was on its way; the flow stops quietly."""

    def __init__(self, message: str, *, state: str) -> None:
        super().__init__(message)
        self.state = state


class Unavailable(CaseError):
    """A part we depend on (the database, the workflow server) cannot be reached right now."""
