"""Domain errors. Each carries a machine-readable code, an HTTP status and details for the caller.

The mapping to HTTP lives here (one place); the API layer only serializes `to_body()`.
"""
from __future__ import annotations

from typing import Any


class DecisionError(Exception):
    code = "DECISION_ERROR"
    status = 400
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
    status = 400


class MalformedJson(DecisionError):
    code = "MALFORMED_JSON"
    status = 400


class InvalidFeedback(DecisionError):
    code = "INVALID_FEEDBACK"
    status = 400


class UnsupportedMediaType(DecisionError):
    code = "UNSUPPORTED_MEDIA_TYPE"
    status = 415


class InvalidCursor(DecisionError):
    code = "INVALID_CURSOR"
    status = 400


class AssignmentNotFound(DecisionError):
    code = "ASSIGNMENT_NOT_FOUND"
    status = 404


class HitNotFound(DecisionError):
    """MTurk has no such HIT (or HIT type) for this requester."""

    code = "HIT_NOT_FOUND"
    status = 404


class RouteNotFound(DecisionError):
    code = "NOT_FOUND"
    status = 404


class WrongAssignmentState(DecisionError):
    code = "INVALID_ASSIGNMENT_STATE"
    status = 409


class ReversalWindowClosed(DecisionError):
    code = "REVERSAL_WINDOW_CLOSED"
    status = 409


class HitDisposed(DecisionError):
    code = "HIT_DISPOSED"
    status = 409


class InsufficientFunds(DecisionError):
    code = "INSUFFICIENT_FUNDS"
    status = 402


class RequestInProgress(DecisionError):
    code = "REQUEST_IN_PROGRESS"
    status = 409


class DecisionInProgress(DecisionError):
    """Another decision holds this assignment's lease: it is being changed right now (or a crashed attempt
    is waiting for the reconciler). Nothing was sent to MTurk."""

    code = "DECISION_IN_PROGRESS"
    status = 409
    retryable = True
    retryable = True
    #: The lease that refused this decision (a `DecisionLease`), when the store could read it.
    lease = None

    def __init__(self, message: str, retry_after: int = 1, **details: Any) -> None:
        super().__init__(message, retryAfterSeconds=retry_after, **details)
        self.retry_after = retry_after


class ScheduleNotFound(DecisionError):
    code = "SCHEDULE_NOT_FOUND"
    status = 404


class ScheduleNotPending(DecisionError):
    """Confirm and cancel act only on a PENDING automatic reversal; the answer says what it is instead."""

    code = "SCHEDULE_NOT_PENDING"
    status = 409


class ReversalAlreadyScheduled(DecisionError):
    code = "REVERSAL_ALREADY_SCHEDULED"
    status = 409


class ReversalWindowClosing(DecisionError):
    code = "REVERSAL_WINDOW_CLOSING"
    status = 409


class IdempotencyKeyReused(DecisionError):
    code = "IDEMPOTENCY_KEY_REUSED"
    status = 422


class MTurkThrottled(DecisionError):
    code = "MTURK_THROTTLED"
    status = 429
    retryable = True

    def __init__(self, message: str, retry_after: int = 1, **details: Any) -> None:
        super().__init__(message, retryAfterSeconds=retry_after, **details)
        self.retry_after = retry_after


class MTurkFault(DecisionError):
    code = "MTURK_FAULT"
    status = 502
    retryable = True


class MTurkRequestRejected(DecisionError):
    """MTurk refused the request for a reason the pre-checks do not know about."""

    code = "MTURK_REQUEST_REJECTED"
    status = 422


class MTurkCredentialsInvalid(DecisionError):
    code = "MTURK_CREDENTIALS_INVALID"
    status = 502
    retryable = True  # an operator puts valid keys; queued work waits for them


class AuditUnavailable(DecisionError):
    code = "AUDIT_UNAVAILABLE"
    status = 503
    retryable = True


class QueueUnavailable(DecisionError):
    code = "QUEUE_UNAVAILABLE"
    status = 503
    retryable = True


class RecordAlreadyFinal(Exception):
    """The audit record is no longer PENDING: another writer (the reconciler, a redelivery) settled it."""


class NotConfigured(DecisionError):
    code = "NOT_CONFIGURED"
    status = 503


class InvalidNotification(DecisionError):
    """A `notifyWorker` message MTurk would refuse (NotifyWorkers): empty, too long, or with control characters.
    Nothing was decided and nothing was sent."""

    code = "INVALID_NOTIFICATION"
    status = 400
