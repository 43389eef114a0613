"""Did *our* MTurk write land? Judged from MTurk's record of the assignment, never from its status alone.

MTurk takes an assignment into Rejected once and into Approved once, and stamps each change with its time
(`RejectionTime`, `ApprovalTime`) and the feedback the worker sees. A write of ours landed when the change
it makes is there, was made no earlier than our write-ahead record, and carries our feedback where we sent
one. "The status equals what I wanted" alone proves nothing: another writer (the requester website, an
earlier decision) may have made that change.
"""
from __future__ import annotations

from datetime import timedelta
from enum import Enum

from mturk_decisions.domain.model import REQUIRED_STATUS, RESULTING_STATUS, Action, AssignmentView, DecisionRecord

#: MTurk's timestamps and ours come from different clocks (NTP-synchronized) and MTurk may round to the second.
CLOCK_TOLERANCE = timedelta(seconds=1)


class Verdict(str, Enum):  # noqa: UP042 - StrEnum would change str() and f-strings of members
    APPLIED = "APPLIED"
    NOT_APPLIED = "NOT_APPLIED"
    #: The assignment is unchanged but the write may still be in flight: leave the record PENDING.
    UNKNOWN = "UNKNOWN"


def judge(record: DecisionRecord, view: AssignmentView | None, *, may_still_land: bool) -> Verdict:
    """`may_still_land`: the last attempt got no answer and the decision's lease is live (only then can an
    unchanged assignment still change because of this write)."""
    if view is None:
        return Verdict.NOT_APPLIED
    changed_at = view.rejected_at if record.action is Action.REJECT else view.approved_at
    if changed_at is not None and changed_at >= record.created_at - CLOCK_TOLERANCE:
        return _ours_or_theirs(record, view)
    if may_still_land and view.status == REQUIRED_STATUS[record.action].value:
        return Verdict.UNKNOWN
    return Verdict.NOT_APPLIED


def _ours_or_theirs(record: DecisionRecord, view: AssignmentView) -> Verdict:
    """The change happened after our write-ahead. While MTurk still shows it, its feedback must be ours
    (when we sent one); once a later change replaced it, its time is all the evidence left."""
    still_shown = view.status == RESULTING_STATUS[record.action].value
    reversed_at, rejected_at = view.approved_at, view.rejected_at
    if record.action is Action.REJECT and reversed_at and rejected_at and reversed_at >= rejected_at:
        still_shown = False  # reversed since: the feedback shown may be the reversal's
    if still_shown and record.feedback is not None and view.requester_feedback != record.feedback:
        return Verdict.NOT_APPLIED
    return Verdict.APPLIED
