"""MTurk business rules for reviewing assignments, with MTurk's own error texts.

Every message ends with `` (<epoch ms>)`` of the simulated clock, as MTurk's do.
"""

from __future__ import annotations

from datetime import datetime, timedelta
from decimal import ROUND_HALF_UP, Decimal

from . import errors
from .errors import ApiError, request_error
from .model import CENT, HIT, Assignment, Requester
from .text import lone_surrogate_at

MAX_FEEDBACK_CHARS = 1024
OVERRIDE_WINDOW = timedelta(days=30)
MIN_FEE = Decimal("0.01")
FEE_RATE = Decimal("0.20")
LARGE_HIT_FEE_RATE = Decimal("0.40")
LARGE_HIT_ASSIGNMENTS = 10
# ASCII 0-8, 11, 12 and 14-31: every control character except tab, line feed and carriage return.
FORBIDDEN_FEEDBACK_CHARS = frozenset(chr(c) for c in (*range(9), 11, 12, *range(14, 32)))


MAX_SUBJECT_CHARS = 200
MAX_MESSAGE_CHARS = 4096
MAX_WORKERS_PER_NOTIFICATION = 100


def check_notification(subject: str, text: str, worker_ids: list[str], now: datetime) -> None:
    """NotifyWorkers' limits, answered as MTurk does (RequestError, InvalidParameterValue)."""
    for name, value, limit in (("Subject", subject, MAX_SUBJECT_CHARS), ("MessageText", text, MAX_MESSAGE_CHARS)):
        if not value.strip():
            raise request_error(stamp(f"{name} must not be empty.", now), errors.INVALID_PARAMETER_VALUE)
        if len(value) > limit:
            raise request_error(stamp(f"{name} cannot be longer than {limit} characters (got {len(value)}).", now),
                                errors.INVALID_PARAMETER_VALUE)
    if not 1 <= len(worker_ids) <= MAX_WORKERS_PER_NOTIFICATION:
        raise request_error(stamp(f"WorkerIds must name between 1 and {MAX_WORKERS_PER_NOTIFICATION} workers "
                                  f"(got {len(worker_ids)}).", now), errors.INVALID_PARAMETER_VALUE)


def stamp(message: str, now: datetime) -> str:
    return f"{message} ({int(now.timestamp() * 1000)})"


def mturk_fee(reward: Decimal, max_assignments: int) -> Decimal:
    """20% commission, 40% for HITs with 10 or more assignments, never below $0.01."""
    rate = LARGE_HIT_FEE_RATE if max_assignments >= LARGE_HIT_ASSIGNMENTS else FEE_RATE
    return max(MIN_FEE, (reward * rate).quantize(CENT, rounding=ROUND_HALF_UP))


def approval_cost(hit: HIT) -> Decimal:
    return hit.reward + mturk_fee(hit.reward, hit.max_assignments)


def check_feedback(feedback: str | None, now: datetime) -> None:
    if feedback is None:
        return
    if len(feedback) > MAX_FEEDBACK_CHARS:
        raise request_error(
            stamp(f"RequesterFeedback cannot be longer than {MAX_FEEDBACK_CHARS} characters (got {len(feedback)}).", now),
            errors.INVALID_PARAMETER_VALUE,
        )
    position = lone_surrogate_at(feedback)
    if position is not None:
        raise request_error(
            stamp(f"RequesterFeedback is not valid Unicode text: it holds the unpaired surrogate "
                  f"U+{ord(feedback[position]):04X} at position {position}.", now),
            errors.INVALID_PARAMETER_VALUE,
        )
    bad = next((ch for ch in feedback if ch in FORBIDDEN_FEEDBACK_CHARS), None)
    if bad is not None:
        raise request_error(
            stamp(
                f"RequesterFeedback contains the control character U+{ord(bad):04X}, which is not allowed; "
                "the only control characters allowed are tab, line feed and carriage return.",
                now,
            ),
            errors.INVALID_PARAMETER_VALUE,
        )


def assignment_not_found(assignment_id: str, now: datetime) -> ApiError:
    return request_error(stamp(f"Assignment {assignment_id} does not exist.", now), errors.ASSIGNMENT_DOES_NOT_EXIST)


def hit_not_found(hit_id: str, now: datetime) -> ApiError:
    return request_error(stamp(f"Hit {hit_id} does not exist.", now), errors.HIT_DOES_NOT_EXIST)


def hit_type_not_found(hit_type_id: str, now: datetime) -> ApiError:
    return request_error(stamp(f"HIT type {hit_type_id} does not exist.", now), errors.HIT_TYPE_DOES_NOT_EXIST)


def _not_submitted(now: datetime) -> ApiError:
    return request_error(stamp("This operation can be called with a status of: Submitted", now), errors.INVALID_ASSIGNMENT_STATE)


def check_can_reject(assignment: Assignment, now: datetime) -> None:
    if assignment.status != "Submitted":
        raise _not_submitted(now)


def check_can_approve(assignment: Assignment, hit: HIT, override_rejection: bool, now: datetime) -> None:
    """Submitted may be approved; Rejected only with OverrideRejection, within 30 days, on a live HIT."""
    if assignment.status == "Submitted":
        return
    if assignment.status != "Rejected" or not override_rejection:
        raise _not_submitted(now)
    subject = assignment.assignment_id
    if hit.status == "Disposed":
        raise request_error(
            stamp(f"The HIT for assignment {subject} has been disposed and its rejection can no longer be overridden.", now),
            errors.INVALID_ASSIGNMENT_STATE,
        )
    if now > assignment.submit_time + OVERRIDE_WINDOW:
        raise request_error(
            stamp(f"Assignment {subject} was submitted more than 30 days ago and its rejection can no longer be overridden.", now),
            errors.INVALID_ASSIGNMENT_STATE,
        )


def debit(requester: Requester, amount: Decimal, now: datetime) -> None:
    if requester.balance < amount:
        raise request_error(
            stamp(
                "This Requester has insufficient funds in their account to complete this transaction. "
                "Please visit https://requester.mturk.com/account to purchase prepaid HITs.",
                now,
            ),
            errors.INSUFFICIENT_FUNDS,
        )
    requester.balance -= amount
