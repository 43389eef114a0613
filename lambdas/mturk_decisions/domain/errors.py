"""Domain errors. Each carries a machine-readable code, a message, details for the caller, and whether it is
worth retrying unchanged (`retryable`).

They know nothing of HTTP: the API maps each code to its status in one place (api/http_errors.py).
"""
from __future__ import annotations

from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from mturk_decisions.domain.model import DecisionLease


class DecisionError(Exception):
    code = "DECISION_ERROR"
    #: Set by the MTurk gateway on a write's final error: an earlier attempt ended in a fault or without an
    #: answer, so MTurk may have applied it. Only evidence (the assignment's record) can tell.
    possibly_applied = False
    #: False when the last attempt got no answer at all (a read timeout): the write may still be in flight.
    last_attempt_answered = True
    #: Worth trying again later unchanged (a throttle, a fault, a busy assignment); the queue consumers
    #: leave such messages for redelivery instead of recording a refusal.
    retryable = False

    def __init__(self, message: str, **details: Any) -> None:
        super().__init__(message)
        self.message = message
        self.details = {k: v for k, v in details.items() if v is not None}

    def to_body(self) -> dict[str, Any]:
        return {"code": self.code, "message": self.message, **self.details}


class InvalidRequest(DecisionError):
    code = "INVALID_REQUEST"


class MalformedJson(DecisionError):
    code = "MALFORMED_JSON"


class InvalidFeedback(DecisionError):
    code = "INVALID_FEEDBACK"


class UnsupportedMediaType(DecisionError):
    code = "UNSUPPORTED_MEDIA_TYPE"


class InvalidCursor(DecisionError):
    code = "INVALID_CURSOR"


class AssignmentNotFound(DecisionError):
    code = "ASSIGNMENT_NOT_FOUND"


class HitNotFound(DecisionError):
    """MTurk has no such HIT (or HIT type) for this requester."""

    code = "HIT_NOT_FOUND"


class RouteNotFound(DecisionError):
    code = "NOT_FOUND"


class WrongAssignmentState(DecisionError):
    code = "INVALID_ASSIGNMENT_STATE"


class ReversalWindowClosed(DecisionError):
    code = "REVERSAL_WINDOW_CLOSED"


class HitDisposed(DecisionError):
    code = "HIT_DISPOSED"


class InsufficientFunds(DecisionError):
    code = "INSUFFICIENT_FUNDS"


class RequestInProgress(DecisionError):
    code = "REQUEST_IN_PROGRESS"


class DecisionInProgress(DecisionError):
    """Another decision holds this assignment's lease: it is being changed right now (or a crashed attempt
    is waiting for the reconciler). Nothing was sent to MTurk."""

    code = "DECISION_IN_PROGRESS"
    retryable = True
    #: The lease that refused this decision (a `DecisionLease`), when the store could read it.
    lease: DecisionLease | None = None

    def __init__(self, message: str, retry_after: int = 1, **details: Any) -> None:
        super().__init__(message, retryAfterSeconds=retry_after, **details)
        self.retry_after = retry_after


class ScheduleNotFound(DecisionError):
    code = "SCHEDULE_NOT_FOUND"


class ScheduleNotPending(DecisionError):
    """Confirm and cancel act only on a PENDING automatic reversal; the answer says what it is instead."""

    code = "SCHEDULE_NOT_PENDING"


class ReversalAlreadyScheduled(DecisionError):
    code = "REVERSAL_ALREADY_SCHEDULED"


class ReversalWindowClosing(DecisionError):
    code = "REVERSAL_WINDOW_CLOSING"


class IdempotencyKeyReused(DecisionError):
    code = "IDEMPOTENCY_KEY_REUSED"


class MTurkThrottled(DecisionError):
    code = "MTURK_THROTTLED"
    retryable = True

    def __init__(self, message: str, retry_after: int = 1, **details: Any) -> None:
        super().__init__(message, retryAfterSeconds=retry_after, **details)
        self.retry_after = retry_after


class MTurkFault(DecisionError):
    code = "MTURK_FAULT"
    retryable = True


class MTurkRequestRejected(DecisionError):
    """MTurk refused the request for a reason the pre-checks do not know about."""

    code = "MTURK_REQUEST_REJECTED"


class MTurkCredentialsInvalid(DecisionError):
    code = "MTURK_CREDENTIALS_INVALID"
    retryable = True  # an operator puts valid keys; queued work waits for them


class AuditUnavailable(DecisionError):
    code = "AUDIT_UNAVAILABLE"
    retryable = True


class QueueUnavailable(DecisionError):
    code = "QUEUE_UNAVAILABLE"
    retryable = True


class RecordAlreadyFinal(Exception):
    """The audit record is no longer PENDING: another writer (the reconciler, a redelivery) settled it."""


class NotConfigured(DecisionError):
    code = "NOT_CONFIGURED"


class InvalidNotification(DecisionError):
    """A `notifyWorker` message MTurk would refuse (NotifyWorkers): empty, too long, or with control characters.
    Nothing was decided and nothing was sent."""

    code = "INVALID_NOTIFICATION"
