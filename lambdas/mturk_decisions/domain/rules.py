"""MTurk's rules for rejecting, approving and reversing, as pure functions over an AssignmentView."""
from __future__ import annotations

import re
from datetime import UTC, datetime, timedelta
from decimal import ROUND_HALF_UP, Decimal

from mturk_decisions.domain.errors import (
    HitDisposed,
    InsufficientFunds,
    InvalidFeedback,
    InvalidRequest,
    ReversalWindowClosed,
    WrongAssignmentState,
)
from mturk_decisions.domain.model import (
    REQUIRED_STATUS,
    Action,
    AssignmentStatus,
    AssignmentView,
    Cost,
)

FEEDBACK_MAX_CHARS = 1024
REASON_MAX_CHARS = 1000
REVERSAL_WINDOW = timedelta(days=30)
#: ASCII 0-8, 11, 12 and 14-31: tab, line feed and carriage return are the only controls MTurk accepts.
FORBIDDEN_FEEDBACK_CODEPOINTS = frozenset([*range(9), 11, 12, *range(14, 32)])
_CENT = Decimal("0.01")
#: A UTF-16 surrogate code point. In a Python str every one is unpaired (a JSON `\ud83d\ude00` pair decodes
#: to one astral character), and no store or wire format that speaks UTF-8 can encode it.
_SURROGATE = re.compile("[\ud800-\udfff]")


def lone_surrogate_at(text: str) -> int | None:
    """Position of the first unpaired surrogate (not valid Unicode text, e.g. from a JSON `\\ud800`), or None."""
    found = _SURROGATE.search(text)
    return found.start() if found else None


def validate_feedback(feedback: str | None, *, required: bool) -> str | None:
    """Apply RequesterFeedback's rules before MTurk does, naming the rule that failed."""
    if feedback is None or feedback == "":
        if required:
            raise InvalidFeedback(
                "Feedback is required to reject an assignment: the worker sees it in their Status page.",
                rule="REQUIRED",
            )
        return None
    if required and not feedback.strip():
        raise InvalidFeedback("Feedback must contain visible text, not only whitespace.", rule="REQUIRED")
    if len(feedback) > FEEDBACK_MAX_CHARS:
        raise InvalidFeedback(
            f"Feedback is {len(feedback)} characters; MTurk accepts at most {FEEDBACK_MAX_CHARS}.",
            rule="MAX_LENGTH",
            maxLength=FEEDBACK_MAX_CHARS,
            length=len(feedback),
        )
    for position, char in enumerate(feedback):
        if 0xD800 <= ord(char) <= 0xDFFF:
            raise InvalidFeedback(
                f"Feedback contains the unpaired surrogate U+{ord(char):04X} at position {position}: it is not valid "
                "Unicode text (a JSON \\uD800-style escape without its other half), so MTurk cannot show it. "
                "Send the character itself, or both halves of its surrogate pair.",
                rule="INVALID_UNICODE",
                position=position,
                codepoint=ord(char),
            )
        if ord(char) in FORBIDDEN_FEEDBACK_CODEPOINTS:
            raise InvalidFeedback(
                f"Feedback contains the control character U+{ord(char):04X} at position {position}; "
                "MTurk refuses ASCII 0-8, 11, 12 and 14-31 (tab, line feed and carriage return are allowed).",
                rule="FORBIDDEN_CHARACTER",
                position=position,
                codepoint=ord(char),
            )
    return feedback


def validate_reason(reason: str | None) -> str | None:
    if reason is not None and len(reason) > REASON_MAX_CHARS:
        raise InvalidRequest(
            f"reason is {len(reason)} characters; at most {REASON_MAX_CHARS} are kept in the audit.",
            field="reason",
        )
    position = lone_surrogate_at(reason) if reason else None
    if reason and position is not None:
        raise InvalidRequest(
            f"reason contains the unpaired surrogate U+{ord(reason[position]):04X} at position {position}: it is not "
            "valid Unicode text (a JSON \\uD800-style escape without its other half) and cannot be kept in the audit.",
            field="reason",
            position=position,
        )
    return reason or None


def mturk_fee(reward: Decimal, max_assignments: int) -> Decimal:
    """MTurk's commission: 20% of the reward, 40% for HITs with 10 or more assignments, at least $0.01."""
    rate = Decimal("0.40") if max_assignments >= 10 else Decimal("0.20")
    return max((reward * rate).quantize(_CENT, rounding=ROUND_HALF_UP), _CENT)


def cost_of(action: Action, assignment: AssignmentView) -> Cost | None:
    """Approvals and reversals pay the worker plus MTurk's fee; a rejection costs nothing."""
    if action is Action.REJECT:
        return None
    return Cost(reward=assignment.reward, fee=mturk_fee(assignment.reward, assignment.max_assignments))


def reversal_deadline(assignment: AssignmentView) -> datetime | None:
    if assignment.submitted_at is None:
        return None
    return assignment.submitted_at + REVERSAL_WINDOW


def check_state(action: Action, assignment: AssignmentView) -> None:
    required = REQUIRED_STATUS[action]
    if assignment.status == required.value:
        return
    hints = {
        (Action.REVERSE, AssignmentStatus.APPROVED.value): "It is already approved; there is nothing to reverse.",
        (Action.REVERSE, AssignmentStatus.SUBMITTED.value): "It was never rejected; approve or reject it instead.",
        (Action.APPROVE, AssignmentStatus.REJECTED.value): "To approve a rejected assignment, reverse the rejection.",
        (Action.REJECT, AssignmentStatus.APPROVED.value): "An approval is final on MTurk and cannot be rejected.",
        (Action.REJECT, AssignmentStatus.REJECTED.value): "It is already rejected.",
        (Action.APPROVE, AssignmentStatus.APPROVED.value): "It is already approved.",
    }
    hint = hints.get((action, assignment.status), "")
    raise WrongAssignmentState(
        f"Cannot {action.value} assignment {assignment.assignment_id}: its status is {assignment.status}, "
        f"and {action.value} needs {required.value}. {hint}".strip(),
        currentStatus=assignment.status,
        requiredStatus=required.value,
    )


def check_reversible(assignment: AssignmentView, now: datetime) -> datetime | None:
    """MTurk only overrides a rejection within 30 days of submission and while the HIT exists."""
    deadline = reversal_deadline(assignment)
    if deadline is not None and now >= deadline:
        raise ReversalWindowClosed(
            f"The rejection of assignment {assignment.assignment_id} can no longer be reversed: it was submitted "
            f"at {iso(assignment.submitted_at)} and MTurk allows reversals for 30 days, until {iso(deadline)}.",
            submittedAt=iso(assignment.submitted_at),
            deadline=iso(deadline),
        )
    if assignment.hit_status == "Disposed":
        raise HitDisposed(
            f"The rejection of assignment {assignment.assignment_id} cannot be reversed: its HIT "
            f"{assignment.hit_id} has been disposed.",
            hitId=assignment.hit_id,
        )
    return deadline


def check_funds(cost: Cost, balance: Decimal) -> None:
    if balance < cost.total:
        raise InsufficientFunds(
            f"The requester balance is ${balance}, but this needs ${cost.total} "
            f"(reward ${cost.reward} + MTurk fee ${cost.fee}). Add funds at https://requester.mturk.com/account "
            "and retry.",
            balance=str(balance),
            amountNeeded=str(cost.total),
            reward=str(cost.reward),
            fee=str(cost.fee),
            shortfall=str(cost.total - balance),
        )


def iso(moment: datetime | None) -> str | None:
    """UTC ISO 8601 with milliseconds and a Z, the one timestamp format of the API and the audit."""
    if moment is None:
        return None
    return moment.astimezone(UTC).isoformat(timespec="milliseconds").replace("+00:00", "Z")
