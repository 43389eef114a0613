"""The supported MTurk Requester API operations, over one requester's data.

Handlers run under the simulator's lock and get the current simulated time.
"""

from __future__ import annotations

import base64
import binascii
import json
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from . import errors, rules
from .model import HIT, Assignment, Requester

DEFAULT_PAGE_SIZE = 10


@dataclass
class State:
    requesters: dict[str, Requester]
    hits: dict[str, HIT]
    assignments: dict[str, Assignment]


@dataclass
class Call:
    state: State
    requester: Requester
    params: dict[str, Any]
    now: datetime

    def own_hits(self) -> list[HIT]:
        return [h for h in self.state.hits.values() if h.owner == self.requester.access_key_id]

    def hit(self, hit_id: str) -> HIT:
        hit = self.state.hits.get(hit_id)
        if hit is None or hit.owner != self.requester.access_key_id:
            raise rules.hit_not_found(hit_id, self.now)
        return hit

    def assignment(self, assignment_id: str) -> tuple[Assignment, HIT]:
        assignment = self.state.assignments.get(assignment_id)
        hit = self.state.hits.get(assignment.hit_id) if assignment else None
        if hit is None or hit.owner != self.requester.access_key_id:
            raise rules.assignment_not_found(assignment_id, self.now)
        return assignment, hit


def _encode_token(key: Sequence[Any]) -> str:
    return base64.urlsafe_b64encode(json.dumps(list(key)).encode()).decode()


def _decode_token(token: str, now: datetime) -> list[Any]:
    try:
        key = json.loads(base64.urlsafe_b64decode(token.encode()))
    except (binascii.Error, ValueError):
        key = None
    valid = isinstance(key, list) and len(key) == 2 and isinstance(key[0], (int, float)) and isinstance(key[1], str)
    if not valid:
        raise errors.request_error(rules.stamp(f"The pagination token {token} is not valid.", now), errors.INVALID_PARAMETER_VALUE)
    return key


def paginate(call: Call, items: list, sort_key: Callable[[Any], tuple], result_name: str,
             to_api: Callable[[Any], dict]) -> dict:
    """Keyset pagination: the token holds the last key returned, so items that change
    status between pages are neither skipped nor repeated."""
    ordered = sorted(items, key=sort_key)
    token = call.params.get("NextToken")
    if token:
        after = tuple(_decode_token(token, call.now))
        ordered = [i for i in ordered if sort_key(i) > after]
    size = call.params.get("MaxResults", DEFAULT_PAGE_SIZE)
    page = ordered[:size]
    response: dict[str, Any] = {"NumResults": len(page), result_name: [to_api(i) for i in page]}
    if len(ordered) > size:
        response["NextToken"] = _encode_token(sort_key(page[-1]))
    return response


def _hit_key(hit: HIT) -> tuple:
    return (hit.creation_time.timestamp(), hit.hit_id)


def _assignment_key(assignment: Assignment) -> tuple:
    return (assignment.submit_time.timestamp(), assignment.assignment_id)


def get_account_balance(call: Call) -> dict:
    return {"AvailableBalance": f"{call.requester.balance:.2f}"}


def get_hit(call: Call) -> dict:
    return {"HIT": call.hit(call.params["HITId"]).to_api()}


def list_hits(call: Call) -> dict:
    live = [h for h in call.own_hits() if h.status != "Disposed"]
    return paginate(call, live, _hit_key, "HITs", HIT.to_api)


def list_reviewable_hits(call: Call) -> dict:
    status = call.params.get("Status", "Reviewable")
    hit_type = call.params.get("HITTypeId")
    hits = [h for h in call.own_hits() if h.status == status and hit_type in (None, h.hit_type_id)]
    return paginate(call, hits, _hit_key, "HITs", HIT.to_api)


def get_assignment(call: Call) -> dict:
    assignment, hit = call.assignment(call.params["AssignmentId"])
    return {"Assignment": assignment.to_api(), "HIT": hit.to_api()}


def list_assignments_for_hit(call: Call) -> dict:
    hit = call.hit(call.params["HITId"])
    statuses = call.params.get("AssignmentStatuses")
    items = [a for a in hit.assignments if not statuses or a.status in statuses]
    return paginate(call, items, _assignment_key, "Assignments", Assignment.to_api)


def approve_assignment(call: Call) -> dict:
    feedback = call.params.get("RequesterFeedback")
    rules.check_feedback(feedback, call.now)
    assignment, hit = call.assignment(call.params["AssignmentId"])
    rules.check_can_approve(assignment, hit, bool(call.params.get("OverrideRejection")), call.now)
    rules.debit(call.requester, rules.approval_cost(hit), call.now)
    assignment.status = "Approved"
    assignment.approval_time = call.now
    if feedback is not None:
        assignment.feedback = feedback
    return {}


def reject_assignment(call: Call) -> dict:
    feedback = call.params["RequesterFeedback"]
    rules.check_feedback(feedback, call.now)
    assignment, _ = call.assignment(call.params["AssignmentId"])
    rules.check_can_reject(assignment, call.now)
    assignment.status = "Rejected"
    assignment.rejection_time = call.now
    assignment.feedback = feedback
    return {}


HANDLERS: dict[str, Callable[[Call], dict]] = {
    "GetAccountBalance": get_account_balance,
    "GetHIT": get_hit,
    "ListHITs": list_hits,
    "ListReviewableHITs": list_reviewable_hits,
    "GetAssignment": get_assignment,
    "ListAssignmentsForHIT": list_assignments_for_hit,
    "ApproveAssignment": approve_assignment,
    "RejectAssignment": reject_assignment,
}
