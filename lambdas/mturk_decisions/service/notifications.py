"""Decisions made outside the service — on the requester website — arrive as MTurk notifications (SQS).

Each is audited once with source `mturk-notification` (its audit key derives from the EventDocId, so a
redelivered notification is recorded once), except the service's own decisions, which MTurk notifies
too. A policy can make website rejections provisional: reversed automatically unless confirmed.
"""
from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import datetime, timedelta, timezone

from mturk_decisions.domain.errors import AssignmentNotFound, DecisionError, InvalidRequest
from mturk_decisions.domain.model import Action, DecisionRecord, DecisionState, Source
from mturk_decisions.service.decisions import utc_now

EVENT_ACTIONS = {"AssignmentRejected": (Action.REJECT,), "AssignmentApproved": (Action.APPROVE, Action.REVERSE)}
WEBSITE_ACTOR = "mturk:requester-website"


@dataclass
class IngestReport:
    recorded: list[str] = field(default_factory=list)
    duplicates: list[str] = field(default_factory=list)
    own_decisions: list[str] = field(default_factory=list)
    ignored: list[str] = field(default_factory=list)
    provisional: list[str] = field(default_factory=list)


class NotificationIngest:
    def __init__(self, mturk, audit, scheduler=None, website_rejection_grace: timedelta | None = None,
                 clock: Callable[[], datetime] = utc_now) -> None:
        self._mturk, self._audit, self._scheduler = mturk, audit, scheduler
        self._grace, self._clock = website_rejection_grace, clock

    def ingest(self, document: dict) -> IngestReport:
        doc_id, events = _validated(document)
        report = IngestReport()
        for index, event in enumerate(events):
            actions = EVENT_ACTIONS.get(event.get("EventType"))
            if not actions:
                report.ignored.append(event.get("EventType", "?"))
                continue
            self._ingest_one(doc_id, index, event, actions, report)
        return report

    def _ingest_one(self, doc_id: str, index: int, event: dict, actions: tuple[Action, ...],
                    report: IngestReport) -> None:
        assignment_id = event["AssignmentId"]
        history = self._audit.history(assignment_id)
        if any(r.action in actions and r.source is not Source.MTURK_NOTIFICATION
               and r.state is not DecisionState.FAILED for r in history):
            report.own_decisions.append(assignment_id)
            return
        try:
            view = self._mturk.get_assignment(assignment_id)
        except AssignmentNotFound:
            report.ignored.append(assignment_id)
            return
        at = _timestamp(event.get("EventTimestamp")) or self._clock()
        record = DecisionRecord(
            decision_id=f"mturk-{doc_id}-{index}", assignment_id=assignment_id, hit_id=view.hit_id,
            worker_id=event.get("WorkerId") or view.worker_id, action=actions[0], source=Source.MTURK_NOTIFICATION,
            actor=WEBSITE_ACTOR, created_at=at, previous_status="Submitted" if actions[0] is Action.REJECT else "unknown",
            state=DecisionState.SUCCEEDED, feedback=view.requester_feedback, reward=view.reward, finalized_at=at,
            request_id=doc_id,
        )
        if not self._audit.record_external(record):
            report.duplicates.append(assignment_id)
            return
        report.recorded.append(assignment_id)
        if actions[0] is Action.REJECT and self._grace and self._scheduler and view.status == "Rejected":
            try:
                self._scheduler.provisional(view, self._grace, WEBSITE_ACTOR, since=at)
                report.provisional.append(assignment_id)
            except DecisionError:
                pass  # too close to the deadline to schedule safely: the audit still shows the rejection


def _validated(document: dict) -> tuple[str, list[dict]]:
    if not isinstance(document, dict) or not isinstance(document.get("EventDocId"), str):
        raise InvalidRequest("Not an MTurk notification: EventDocId is missing.")
    events = document.get("Events")
    if not isinstance(events, list) or not all(isinstance(e, dict) for e in events):
        raise InvalidRequest("Not an MTurk notification: Events must be a list of objects.")
    for event in events:
        if event.get("EventType") in EVENT_ACTIONS and not isinstance(event.get("AssignmentId"), str):
            raise InvalidRequest("An assignment event has no AssignmentId.")
    return document["EventDocId"], events


def _timestamp(value) -> datetime | None:
    if not isinstance(value, str):
        return None
    try:
        moment = datetime.fromisoformat(value.replace("Z", "+00:00"))
        return moment if moment.tzinfo else moment.replace(tzinfo=timezone.utc)
    except ValueError:
        return None
