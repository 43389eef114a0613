"""The supported MTurk Requester API operations, over one requester's data.

Handlers run under the simulator's lock and get the current simulated time.
"""

from __future__ import annotations

import base64
import binascii
import json
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from . import errors, notifications, rules
from .model import HIT, Assignment, Requester
from .notifications import NotificationSetting, Outgoing

DEFAULT_PAGE_SIZE = 10


@dataclass(frozen=True)
class WorkerMessage:
    """One e-mail NotifyWorkers sent to one worker."""

    access_key_id: str
    worker_id: str
    subject: str
    message: str
    sent_at: datetime

    def to_json(self) -> dict[str, Any]:
        return {"accessKeyId": self.access_key_id, "workerId": self.worker_id, "subject": self.subject,
                "message": self.message, "sentAt": self.sent_at.isoformat()}


@dataclass
class State:
    requesters: dict[str, Requester]
    hits: dict[str, HIT]
    assignments: dict[str, Assignment]
    notification_settings: dict[tuple[str, str], NotificationSetting] = field(default_factory=dict)
    """(access key, HIT type ID) -> settings."""
    hit_types: dict[str, set[str]] = field(default_factory=dict)
    """HIT types registered with ``add_hit_type`` (beyond those of the requester's HITs), per access key."""
    worker_messages: list[WorkerMessage] = field(default_factory=list)
    """Every message NotifyWorkers sent, oldest first (one per worker)."""

    def hit_types_of(self, access_key_id: str) -> set[str]:
        used = {h.hit_type_id for h in self.hits.values() if h.owner == access_key_id}
        return used | self.hit_types.get(access_key_id, set())


@dataclass
class Call:
    state: State
    requester: Requester
    params: dict[str, Any]
    now: datetime
    outbox: list[Outgoing] = field(default_factory=list)
    """Notifications to send once the simulator's lock is released."""

    def own_hits(self) -> list[HIT]:
        return [h for h in self.state.hits.values() if h.owner == self.requester.access_key_id]

    def notify(self, event_type: str, assignment: Assignment, hit: HIT) -> None:
        """Queue a notification if the HIT's type has active settings that ask for this event."""
        setting = self.state.notification_settings.get((hit.owner, hit.hit_type_id))
        if setting is None or not setting.active or event_type not in setting.spec.event_types:
            return
        owner = self.state.requesters[hit.owner]
        self.outbox.append(Outgoing(setting.spec.destination, (notifications.event(event_type, self.now, hit, assignment),),
                                    owner.access_key_id, owner.account_id, owner.customer_id))

    def hit(self, hit_id: str) -> HIT:
        hit = self.state.hits.get(hit_id)
        if hit is None or hit.owner != self.requester.access_key_id:
            raise rules.hit_not_found(hit_id, self.now)
        return hit

    def assignment(self, assignment_id: str) -> tuple[Assignment, HIT]:
        assignment = self.state.assignments.get(assignment_id)
        hit = self.state.hits.get(assignment.hit_id) if assignment else None
        if assignment is None or hit is None or hit.owner != self.requester.access_key_id:
            raise rules.assignment_not_found(assignment_id, self.now)
        return assignment, hit


def _encode_token(key: Sequence[Any]) -> str:
    return base64.urlsafe_b64encode(json.dumps(list(key)).encode()).decode()


def _decode_token(token: str, now: datetime) -> list[Any]:
    try:
        key = json.loads(base64.urlsafe_b64decode(token.encode()))
    except (binascii.Error, ValueError):
        key = None
    if not (isinstance(key, list) and len(key) == 2 and isinstance(key[0], (int, float)) and isinstance(key[1], str)):
        raise errors.request_error(rules.stamp(f"The pagination token {token} is not valid.", now), errors.INVALID_PARAMETER_VALUE)
    return key


def paginate(call: Call, items: list[Any], sort_key: Callable[[Any], tuple[float, str]], result_name: str,
             to_api: Callable[[Any], dict[str, Any]]) -> dict[str, Any]:
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


def _hit_key(hit: HIT) -> tuple[float, str]:
    return (hit.creation_time.timestamp(), hit.hit_id)


def _assignment_key(assignment: Assignment) -> tuple[float, str]:
    return (assignment.submit_time.timestamp(), assignment.assignment_id)


def get_account_balance(call: Call) -> dict[str, Any]:
    return {"AvailableBalance": f"{call.requester.balance:.2f}"}


def get_hit(call: Call) -> dict[str, Any]:
    return {"HIT": call.hit(call.params["HITId"]).to_api()}


def list_hits(call: Call) -> dict[str, Any]:
    live = [h for h in call.own_hits() if h.status != "Disposed"]
    return paginate(call, live, _hit_key, "HITs", HIT.to_api)


def list_reviewable_hits(call: Call) -> dict[str, Any]:
    status = call.params.get("Status", "Reviewable")
    hit_type = call.params.get("HITTypeId")
    hits = [h for h in call.own_hits() if h.status == status and hit_type in (None, h.hit_type_id)]
    return paginate(call, hits, _hit_key, "HITs", HIT.to_api)


def get_assignment(call: Call) -> dict[str, Any]:
    assignment, hit = call.assignment(call.params["AssignmentId"])
    return {"Assignment": assignment.to_api(), "HIT": hit.to_api()}


def list_assignments_for_hit(call: Call) -> dict[str, Any]:
    hit = call.hit(call.params["HITId"])
    statuses = call.params.get("AssignmentStatuses")
    items = [a for a in hit.assignments if not statuses or a.status in statuses]
    return paginate(call, items, _assignment_key, "Assignments", Assignment.to_api)


def approve_assignment(call: Call) -> dict[str, Any]:
    feedback = call.params.get("RequesterFeedback")
    rules.check_feedback(feedback, call.now)
    assignment, hit = call.assignment(call.params["AssignmentId"])
    rules.check_can_approve(assignment, hit, bool(call.params.get("OverrideRejection")), call.now)
    rules.debit(call.requester, rules.approval_cost(hit), call.now)
    assignment.status = "Approved"
    assignment.approval_time = call.now
    if feedback is not None:
        assignment.feedback = feedback
    call.notify("AssignmentApproved", assignment, hit)
    return {}


def reject_assignment(call: Call) -> dict[str, Any]:
    feedback = call.params["RequesterFeedback"]
    rules.check_feedback(feedback, call.now)
    assignment, hit = call.assignment(call.params["AssignmentId"])
    rules.check_can_reject(assignment, call.now)
    assignment.status = "Rejected"
    assignment.rejection_time = call.now
    assignment.feedback = feedback
    call.notify("AssignmentRejected", assignment, hit)
    return {}


def update_notification_settings(call: Call) -> dict[str, Any]:
    """Create, replace, disable or re-enable a HIT type's notifications.

    A new specification starts active unless ``Active`` says otherwise; a replacement without
    ``Active`` keeps the current state.
    """
    hit_type_id = call.params["HITTypeId"]
    if hit_type_id not in call.state.hit_types_of(call.requester.access_key_id):
        raise rules.hit_type_not_found(hit_type_id, call.now)
    notification, active = call.params.get("Notification"), call.params.get("Active")
    key = (call.requester.access_key_id, hit_type_id)
    current = call.state.notification_settings.get(key)
    if notification is None:
        if active is None:
            raise errors.request_error(
                rules.stamp("You must specify either the Notification parameter or the Active parameter.", call.now),
                errors.INVALID_PARAMETER_VALUE)
        if current is None:
            raise errors.request_error(
                rules.stamp(f"HIT type {hit_type_id} has no notification specification; "
                            "provide Notification to change Active.", call.now),
                errors.INVALID_PARAMETER_VALUE)
        current.active = active
        return {}
    spec = notifications.check_spec(notification, call.now)
    if active is None:
        active = current.active if current is not None else True
    call.state.notification_settings[key] = NotificationSetting(spec, active)
    return {}


def send_test_event_notification(call: Call) -> dict[str, Any]:
    """Send one test event to the given specification (which need not list it), now."""
    spec = notifications.check_spec(call.params["Notification"], call.now, for_test=True)
    requester = call.requester
    call.outbox.append(Outgoing(spec.destination, (notifications.sample_event(call.params["TestEventType"], call.now),),
                                requester.access_key_id, requester.account_id, requester.customer_id))
    return {}


def notify_workers(call: Call) -> dict[str, Any]:
    """E-mail workers (MTurk's limits: Subject 1-200 characters, MessageText 1-4096, WorkerIds 1-100). A worker
    the requester never approved or rejected work from is a ``HardFailure`` in the answer, not an error."""
    subject, text, worker_ids = call.params["Subject"], call.params["MessageText"], call.params["WorkerIds"]
    rules.check_notification(subject, text, worker_ids, call.now)
    reviewed = {a.worker_id for h in call.own_hits() for a in h.assignments if a.status in ("Approved", "Rejected")}
    failures = []
    for worker_id in dict.fromkeys(worker_ids):
        if worker_id not in reviewed:
            failures.append({"NotifyWorkersFailureCode": "HardFailure", "WorkerId": worker_id,
                             "NotifyWorkersFailureMessage": rules.stamp(
                                 f"Cannot send a notification to worker {worker_id}: you have not approved or "
                                 "rejected any work from this worker.", call.now)})
            continue
        call.state.worker_messages.append(WorkerMessage(call.requester.access_key_id, worker_id, subject, text,
                                                        call.now))
    return {"NotifyWorkersFailureStatuses": failures}


HANDLERS: dict[str, Callable[[Call], dict[str, Any]]] = {
    "GetAccountBalance": get_account_balance,
    "GetHIT": get_hit,
    "ListHITs": list_hits,
    "ListReviewableHITs": list_reviewable_hits,
    "GetAssignment": get_assignment,
    "ListAssignmentsForHIT": list_assignments_for_hit,
    "ApproveAssignment": approve_assignment,
    "RejectAssignment": reject_assignment,
    "UpdateNotificationSettings": update_notification_settings,
    "SendTestEventNotification": send_test_event_notification,
    "NotifyWorkers": notify_workers,
}
