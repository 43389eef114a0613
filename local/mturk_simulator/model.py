"""Simulator state: requesters, HITs and assignments, and their API representations."""

from __future__ import annotations

import hashlib
import secrets
import string
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from decimal import ROUND_HALF_UP, Decimal
from typing import Any

HIT_STATUSES = ("Assignable", "Unassignable", "Reviewable", "Reviewing", "Disposed")
ASSIGNMENT_STATUSES = ("Submitted", "Approved", "Rejected")
CENT = Decimal("0.01")
_ID_ALPHABET = string.ascii_uppercase + string.digits

DEFAULT_ANSWER = (
    '<?xml version="1.0" encoding="ASCII"?>'
    '<QuestionFormAnswers xmlns="http://mechanicalturk.amazonaws.com/AWSMechanicalTurkDataSchemas/2005-10-01/QuestionFormAnswers.xsd">'
    "<Answer><QuestionIdentifier>answer</QuestionIdentifier><FreeText>simulated answer</FreeText></Answer>"
    "</QuestionFormAnswers>"
)


def new_id(length: int = 30) -> str:
    """An ID shaped like MTurk's HIT/assignment/HIT type IDs: uppercase alphanumerics."""
    return "3" + "".join(secrets.choice(_ID_ALPHABET) for _ in range(length - 1))


def new_worker_id() -> str:
    return "A" + "".join(secrets.choice(_ID_ALPHABET) for _ in range(13))


def account_id_for(access_key_id: str) -> str:
    """A stable 12-digit AWS account ID for a requester (``SourceAccount`` of its notifications)."""
    digest = hashlib.sha256(f"account:{access_key_id}".encode()).digest()
    return str(int.from_bytes(digest[:8], "big") % 10**12).zfill(12)


def customer_id_for(access_key_id: str) -> str:
    """A stable MTurk customer ID for a requester (``CustomerId`` of its notifications), e.g. ``AUYKYIHQXG6XR``."""
    digest = hashlib.sha256(f"customer:{access_key_id}".encode()).digest()
    return "A" + "".join(_ID_ALPHABET[b % len(_ID_ALPHABET)] for b in digest[:12])


def money(value: str | int | Decimal) -> Decimal:
    """Parse an amount in USD (strings such as "12.34" preferred) into cents."""
    if isinstance(value, float):
        value = repr(value)
    amount = Decimal(value)
    if not amount.is_finite() or amount < 0:
        raise ValueError(f"invalid amount: {value!r}")
    return amount.quantize(CENT, rounding=ROUND_HALF_UP)


def epoch(when: datetime | None) -> float | None:
    """JSON-protocol timestamp: epoch seconds, as botocore expects."""
    return None if when is None else round(when.timestamp(), 3)


@dataclass
class Requester:
    access_key_id: str
    secret_access_key: str
    name: str
    balance: Decimal
    account_id: str = ""
    """The requester's AWS account ID: ``SourceAccount`` in its notifications."""
    customer_id: str = ""
    """The requester's MTurk customer ID: ``CustomerId`` in its notifications."""

    def __post_init__(self) -> None:
        self.account_id = self.account_id or account_id_for(self.access_key_id)
        self.customer_id = self.customer_id or customer_id_for(self.access_key_id)


@dataclass
class Assignment:
    assignment_id: str
    hit_id: str
    worker_id: str
    status: str
    accept_time: datetime
    submit_time: datetime
    auto_approval_time: datetime
    deadline: datetime
    answer: str
    feedback: str | None = None
    approval_time: datetime | None = None
    rejection_time: datetime | None = None

    def to_api(self) -> dict[str, Any]:
        item = {
            "AssignmentId": self.assignment_id,
            "WorkerId": self.worker_id,
            "HITId": self.hit_id,
            "AssignmentStatus": self.status,
            "AutoApprovalTime": epoch(self.auto_approval_time),
            "AcceptTime": epoch(self.accept_time),
            "SubmitTime": epoch(self.submit_time),
            "ApprovalTime": epoch(self.approval_time),
            "RejectionTime": epoch(self.rejection_time),
            "Deadline": epoch(self.deadline),
            "Answer": self.answer,
            "RequesterFeedback": self.feedback,
        }
        return {k: v for k, v in item.items() if v is not None}


@dataclass
class HIT:
    hit_id: str
    hit_type_id: str
    owner: str
    title: str
    description: str
    reward: Decimal
    max_assignments: int
    status: str
    creation_time: datetime
    expiration: datetime
    assignment_duration: int = 3600
    auto_approval_delay: int = 3 * 24 * 3600
    keywords: str = ""
    assignments: list[Assignment] = field(default_factory=list)

    def count(self, *statuses: str) -> int:
        return sum(1 for a in self.assignments if a.status in statuses)

    def to_api(self) -> dict[str, Any]:
        completed = self.count("Approved", "Rejected")
        return {
            "HITId": self.hit_id,
            "HITTypeId": self.hit_type_id,
            "HITGroupId": self.hit_type_id,
            "CreationTime": epoch(self.creation_time),
            "Title": self.title,
            "Description": self.description,
            "Question": "<ExternalQuestion/>",
            "Keywords": self.keywords,
            "HITStatus": self.status,
            "MaxAssignments": self.max_assignments,
            "Reward": f"{self.reward:.2f}",
            "AutoApprovalDelayInSeconds": self.auto_approval_delay,
            "Expiration": epoch(self.expiration),
            "AssignmentDurationInSeconds": self.assignment_duration,
            "QualificationRequirements": [],
            "HITReviewStatus": "NotReviewed",
            "NumberOfAssignmentsPending": 0,
            "NumberOfAssignmentsAvailable": max(0, self.max_assignments - len(self.assignments)),
            "NumberOfAssignmentsCompleted": completed,
        }


def make_assignment(hit: HIT, worker_id: str, status: str, submitted_at: datetime, answer: str,
                    feedback: str | None, assignment_id: str) -> Assignment:
    accepted = submitted_at - timedelta(seconds=min(hit.assignment_duration, 300))
    return Assignment(
        assignment_id=assignment_id,
        hit_id=hit.hit_id,
        worker_id=worker_id,
        status=status,
        accept_time=accepted,
        submit_time=submitted_at,
        auto_approval_time=submitted_at + timedelta(seconds=hit.auto_approval_delay),
        deadline=accepted + timedelta(seconds=hit.assignment_duration),
        answer=answer,
        feedback=feedback,
        approval_time=submitted_at if status == "Approved" else None,
        rejection_time=submitted_at if status == "Rejected" else None,
    )
