"""The requester's vocabulary: assignments as MTurk sees them, decisions, and their plans."""
from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime
from decimal import Decimal
from enum import Enum
from typing import Any


class Action(str, Enum):  # noqa: UP042 - StrEnum would change str() and f-strings of members
    REJECT = "reject"
    REVERSE = "reverse"
    APPROVE = "approve"


class Source(str, Enum):  # noqa: UP042 - StrEnum would change str() and f-strings of members
    API = "api"
    BATCH = "batch"
    EVENT = "event"
    SCHEDULE = "schedule"
    MTURK_NOTIFICATION = "mturk-notification"


class DecisionState(str, Enum):  # noqa: UP042 - StrEnum would change str() and f-strings of members
    PENDING = "PENDING"
    SUCCEEDED = "SUCCEEDED"
    FAILED = "FAILED"


class AssignmentStatus(str, Enum):  # noqa: UP042 - StrEnum would change str() and f-strings of members
    SUBMITTED = "Submitted"
    APPROVED = "Approved"
    REJECTED = "Rejected"


#: What each action needs the assignment to be, and what it leaves it as.
REQUIRED_STATUS = {
    Action.REJECT: AssignmentStatus.SUBMITTED,
    Action.APPROVE: AssignmentStatus.SUBMITTED,
    Action.REVERSE: AssignmentStatus.REJECTED,
}
RESULTING_STATUS = {
    Action.REJECT: AssignmentStatus.REJECTED,
    Action.APPROVE: AssignmentStatus.APPROVED,
    Action.REVERSE: AssignmentStatus.APPROVED,
}


@dataclass(frozen=True)
class AssignmentView:
    """One assignment and the HIT facts the rules need, as MTurk reports them now."""

    assignment_id: str
    hit_id: str
    worker_id: str
    status: str
    submitted_at: datetime | None
    reward: Decimal
    max_assignments: int
    hit_status: str
    approved_at: datetime | None = None
    rejected_at: datetime | None = None
    requester_feedback: str | None = None
    hit_type_id: str | None = None
    hit_title: str | None = None


@dataclass(frozen=True)
class Cost:
    reward: Decimal
    fee: Decimal

    @property
    def total(self) -> Decimal:
        return self.reward + self.fee

    def to_dict(self) -> dict[str, Any]:
        return {"reward": str(self.reward), "fee": str(self.fee), "total": str(self.total)}


@dataclass(frozen=True)
class DecisionRequest:
    """A requester's intent for one assignment, before any check has run."""

    assignment_id: str
    action: Action
    feedback: str | None = None
    reason: str | None = None
    actor: str = "unknown"
    source: Source = Source.API
    request_id: str | None = None
    batch_id: str | None = None
    #: The caller-scoped Idempotency-Key (hashed), so a retry can find the decision it started.
    idempotency_key: str | None = None


@dataclass(frozen=True)
class Plan:
    """What a decision would do once every pre-check has passed."""

    request: DecisionRequest
    assignment: AssignmentView
    resulting_status: AssignmentStatus
    cost: Cost | None
    balance: Decimal | None
    reversal_deadline: datetime | None
    checks: tuple[str, ...]


@dataclass
class DecisionRecord:
    """One audited decision: written PENDING before MTurk is called, finalized after."""

    decision_id: str
    assignment_id: str
    hit_id: str
    worker_id: str
    action: Action
    source: Source
    actor: str
    created_at: datetime
    previous_status: str
    state: DecisionState = DecisionState.PENDING
    feedback: str | None = None
    reason: str | None = None
    request_id: str | None = None
    batch_id: str | None = None
    reward: Decimal | None = None
    fee: Decimal | None = None
    finalized_at: datetime | None = None
    error_code: str | None = None
    error_message: str | None = None
    idempotency_key: str | None = None
    #: The message sent to the worker after the decision (`notifyWorker`) and MTurk's answer for them:
    #: {subject, message, status, failures, sentAt}; None when none was asked for.
    notification: dict[str, Any] | None = None
    extra: dict[str, Any] = field(default_factory=dict)


@dataclass(frozen=True)
class DecisionLease:
    """One writer per assignment: the decision that may call MTurk for it now, until `expires_at`.

    Taken in the same transaction as the decision's write-ahead record and released in the same transaction
    as its finalize. `expires_at` is longer than the longest function timeout: an unexpired lease means its
    holder may still be running; an expired one means it died and its record waits to be settled."""

    assignment_id: str
    decision_id: str
    decision_key: str
    expires_at: datetime

    def expired(self, now: datetime) -> bool:
        return now >= self.expires_at
