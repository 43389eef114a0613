"""Decisions made outside the service — on the requester website — arrive as MTurk notifications (SQS).

Each is audited once with source `mturk-notification` (its audit key derives from the EventDocId, so a
redelivered notification is recorded once), except the service's own decisions, which MTurk notifies
too. MTurk makes each change once (Rejected once, Approved once), so the change an event reports is the
service's own exactly when a SUCCEEDED record of the service owns it; a PENDING one proves nothing yet, and
the message is retried once its writer has finished. What is recorded is what the event says: an approval
that follows a rejection is a reversal, and the feedback is the one MTurk showed at the event's time (or
none, with a note, when a later change has replaced it). A policy can make website rejections
provisional: reversed automatically unless confirmed. Storage failures are never swallowed: the message
stays on the queue, and every step is idempotent, so its redelivery completes what is missing.
"""
from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import TYPE_CHECKING, Any

from mturk_decisions.domain.errors import (
    AssignmentNotFound,
    DecisionInProgress,
    InvalidRequest,
    ReversalWindowClosing,
)
from mturk_decisions.domain.model import (
    RESULTING_STATUS,
    Action,
    AssignmentStatus,
    AssignmentView,
    DecisionRecord,
    DecisionState,
    Source,
)
from mturk_decisions.service.decisions import utc_now
from mturk_decisions.service.evidence import CLOCK_TOLERANCE

if TYPE_CHECKING:
    from mturk_decisions.service.ports import AuditStore, MTurkGateway
    from mturk_decisions.service.schedules import ReversalScheduler

#: The status each event reports the assignment entered.
EVENT_STATUS = {"AssignmentRejected": AssignmentStatus.REJECTED, "AssignmentApproved": AssignmentStatus.APPROVED}
EVENT_ACTIONS = {"AssignmentRejected": (Action.REJECT,), "AssignmentApproved": (Action.APPROVE, Action.REVERSE)}
WEBSITE_ACTOR = "mturk:requester-website"
FEEDBACK_REPLACED = ("Recorded from MTurk's notification. The feedback the worker saw with this change is no longer "
                     "available: MTurk now shows a later change's.")


@dataclass
class IngestReport:
    recorded: list[str] = field(default_factory=list)
    duplicates: list[str] = field(default_factory=list)
    own_decisions: list[str] = field(default_factory=list)
    ignored: list[str] = field(default_factory=list)
    provisional: list[str] = field(default_factory=list)


class NotificationIngest:
    def __init__(self, mturk: MTurkGateway, audit: AuditStore, scheduler: ReversalScheduler | None = None,
                 website_rejection_grace: timedelta | None = None, clock: Callable[[], datetime] = utc_now) -> None:
        self._mturk, self._audit, self._scheduler = mturk, audit, scheduler
        self._grace, self._clock = website_rejection_grace, clock

    def ingest(self, document: dict[str, Any]) -> IngestReport:
        doc_id, events = _validated(document)
        report = IngestReport()
        for index, event in enumerate(events):
            event_type = event.get("EventType")
            status = EVENT_STATUS.get(event_type) if isinstance(event_type, str) else None
            if status is None:  # a type this service does not record (one that is not text included)
                report.ignored.append(event_type if isinstance(event_type, str) else "?")
                continue
            self._ingest_one(doc_id, index, event, status, report)
        return report

    def _ingest_one(self, doc_id: str, index: int, event: dict[str, Any], status: AssignmentStatus,
                    report: IngestReport) -> None:
        assignment_id = event["AssignmentId"]
        history = self._audit.history(assignment_id)
        if self._own_change(assignment_id, status, history):
            report.own_decisions.append(assignment_id)
            return
        try:
            view = self._mturk.get_assignment(assignment_id)
        except AssignmentNotFound:
            report.ignored.append(assignment_id)
            return
        at = _timestamp(event.get("EventTimestamp")) or self._clock()
        record = self._record_of(f"mturk-{doc_id}-{index}", event, status, view, history, at, doc_id)
        if self._audit.record_external(record):
            report.recorded.append(assignment_id)
        else:
            report.duplicates.append(assignment_id)
        if record.action is Action.REJECT and self._grace and self._scheduler and view.status == "Rejected":
            self._make_provisional(view, at, record.decision_id, report)

    def _own_change(self, assignment_id: str, status: AssignmentStatus, history: list[DecisionRecord]) -> bool:
        """True when a SUCCEEDED decision of the service owns this change. While one of its decisions that
        could have made it is still PENDING, the answer is not known yet: retry the message later."""
        own = [r for r in history if r.source is not Source.MTURK_NOTIFICATION and RESULTING_STATUS[r.action] is status]
        if any(r.state is DecisionState.SUCCEEDED for r in own):
            return True
        pending = [r for r in own if r.state is DecisionState.PENDING]
        if pending:
            raise DecisionInProgress(
                f"A decision of this service for assignment {assignment_id} is still PENDING; the notification is "
                "retried once it is settled.", retry_after=60, holderDecisionId=pending[0].decision_id)
        return False

    def _record_of(self, decision_id: str, event: dict[str, Any], status: AssignmentStatus, view: AssignmentView,
                   history: list[DecisionRecord], at: datetime, doc_id: str) -> DecisionRecord:
        reversal = status is AssignmentStatus.APPROVED and (
            view.rejected_at is not None or any(r.action is Action.REJECT and r.state is DecisionState.SUCCEEDED
                                                for r in history))
        action = Action.REJECT if status is AssignmentStatus.REJECTED else Action.REVERSE if reversal else Action.APPROVE
        feedback, note = _feedback_at(view, status, at)
        return DecisionRecord(
            decision_id=decision_id, assignment_id=view.assignment_id, hit_id=view.hit_id,
            worker_id=event.get("WorkerId") or view.worker_id, action=action, source=Source.MTURK_NOTIFICATION,
            actor=WEBSITE_ACTOR, created_at=at, previous_status="Rejected" if reversal else "Submitted",
            state=DecisionState.SUCCEEDED, feedback=feedback, reason=note, reward=view.reward, finalized_at=at,
            request_id=doc_id,
        )

    def _make_provisional(self, view: AssignmentView, at: datetime, rejection_id: str, report: IngestReport) -> None:
        """Idempotent per rejection, so a redelivered notification creates what a failed attempt did not."""
        scheduler, grace = self._scheduler, self._grace
        if scheduler is None or grace is None:
            return
        try:
            scheduler.provisional(view, grace, WEBSITE_ACTOR, since=at, rejection_decision_id=rejection_id)
        except ReversalWindowClosing:
            return  # too close to the deadline to schedule safely: the audit still shows the rejection
        report.provisional.append(view.assignment_id)


def _feedback_at(view: AssignmentView, status: AssignmentStatus, at: datetime) -> tuple[str | None, str | None]:
    """The feedback MTurk showed with this change, while MTurk still shows this change; else none, and why."""
    later_change = view.approved_at if status is AssignmentStatus.REJECTED else None
    if view.status == status.value and not (later_change and later_change > at + CLOCK_TOLERANCE):
        return view.requester_feedback, None
    return None, FEEDBACK_REPLACED


def _validated(document: dict[str, Any]) -> tuple[str, list[dict[str, Any]]]:
    if not isinstance(document, dict) or not isinstance(document.get("EventDocId"), str):
        raise InvalidRequest("Not an MTurk notification: EventDocId is missing.")
    events = document.get("Events")
    if not isinstance(events, list) or not all(isinstance(e, dict) for e in events):
        raise InvalidRequest("Not an MTurk notification: Events must be a list of objects.")
    for event in events:
        event_type = event.get("EventType")
        if isinstance(event_type, str) and event_type in EVENT_ACTIONS and not isinstance(event.get("AssignmentId"), str):
            raise InvalidRequest("An assignment event has no AssignmentId.")
    return document["EventDocId"], events


def _timestamp(value: object) -> datetime | None:
    if not isinstance(value, str):
        return None
    try:
        moment = datetime.fromisoformat(value.replace("Z", "+00:00"))
        return moment if moment.tzinfo else moment.replace(tzinfo=UTC)
    except ValueError:
        return None
