"""SQLModel tables, one module per aggregate; importing this package registers them all."""

from models.access_log import AccessLog
from models.case import Case, CaseEvent
from models.certificate import Certificate
from models.counter import Counter
from models.decision import DecisionRecord
from models.document import Document
from models.intake import IntakeSlot
from models.invoice import CreditNote, Invoice
from models.outbox import OutboxMail
from models.payment import BankEntry, OnlinePayment
from models.practitioner import IdentityConflict, Practitioner, PractitionerChange
from models.registration import Registration, RegistrationNotice
from models.review import Review, Reviewer
from models.staff import ApiToken, StaffSession, StaffUser
from models.sweep import SweepRun
from models.throttle import ThrottleHit

__all__ = [
    "AccessLog", "ApiToken", "BankEntry", "Case", "CaseEvent", "Certificate", "Counter",
    "CreditNote", "DecisionRecord", "Document", "IdentityConflict", "IntakeSlot", "Invoice",
    "OnlinePayment", "OutboxMail", "Practitioner", "PractitionerChange", "Registration",
    "RegistrationNotice", "Review", "Reviewer", "StaffSession", "StaffUser", "SweepRun",
    "ThrottleHit",
]
