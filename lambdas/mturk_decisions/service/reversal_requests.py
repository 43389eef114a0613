"""`Reversal Requested` events from the requester's own systems, reversed through the same service and audit.

A malformed event is not an error to retry: it is handed back with the reason, for the dead-letter queue.
"""
from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from mturk_decisions.domain.errors import DecisionError, InsufficientFunds, ReversalAlreadyScheduled
from mturk_decisions.domain.ids import is_mturk_id, is_worker_id
from mturk_decisions.domain.model import Action, AssignmentView, DecisionRequest, Source
from mturk_decisions.domain.rules import lone_surrogate_at

if TYPE_CHECKING:
    from mturk_decisions.service.batches import BatchService
    from mturk_decisions.service.decisions import DecisionService
    from mturk_decisions.service.ports import MTurkGateway
    from mturk_decisions.service.schedules import ReversalScheduler

DETAIL_TYPE = "Reversal Requested"
_ALLOWED = {"assignmentId", "hitId", "workerIds", "feedback", "reason", "requester"}


class MalformedEvent(Exception):
    def __init__(self, reason: str) -> None:
        super().__init__(reason)
        self.reason = reason


@dataclass(frozen=True)
class RequestOutcome:
    kind: str  # reversed | refused | batch | funds-retry
    assignment_id: str | None = None
    batch_id: str | None = None
    code: str | None = None


def parse(event: object) -> tuple[dict[str, Any], str]:
    """Check the EventBridge envelope and the detail; return (detail, actor) or raise MalformedEvent."""
    if not isinstance(event, dict):
        raise MalformedEvent("the event is not a JSON object")
    if event.get("detail-type") != DETAIL_TYPE:
        raise MalformedEvent(f"detail-type must be {DETAIL_TYPE!r}, not {event.get('detail-type')!r}")
    detail = event.get("detail")
    if not isinstance(detail, dict):
        raise MalformedEvent("detail must be an object")
    unknown = sorted(set(detail) - _ALLOWED)
    if unknown:
        raise MalformedEvent(f"unknown detail field(s): {', '.join(unknown)}")
    assignment_id, hit_id = detail.get("assignmentId"), detail.get("hitId")
    if bool(assignment_id) == bool(hit_id):
        raise MalformedEvent("give exactly one of detail.assignmentId or detail.hitId")
    for name, value in (("assignmentId", assignment_id), ("hitId", hit_id)):
        if value is not None and not is_mturk_id(value):
            raise MalformedEvent(f"detail.{name} is not an MTurk id")
    workers = detail.get("workerIds")
    if workers is not None and (
            assignment_id or not isinstance(workers, list) or not all(is_worker_id(w) for w in workers)):
        raise MalformedEvent("detail.workerIds must be a list of worker ids, with a hitId")
    for name in ("feedback", "reason", "requester"):
        if detail.get(name) is not None and not isinstance(detail[name], str):
            raise MalformedEvent(f"detail.{name} must be a string")
        if detail.get(name) is not None and lone_surrogate_at(detail[name]) is not None:
            raise MalformedEvent(f"detail.{name} is not valid Unicode text (an unpaired surrogate)")
    # The source is verified (the bus policy and the rule admit only allowed publishers and sources); the
    # requester is whatever the event says: the audit keeps that distinction in the actor's wording.
    requester = detail.get("requester") or "unnamed"
    actor = f"event:{event.get('source', 'unknown')} (claimed requester: {requester})"
    return detail, actor


class ReversalRequests:
    def __init__(self, decisions: DecisionService, mturk: MTurkGateway, batches: BatchService | None = None,
                 scheduler: ReversalScheduler | None = None) -> None:
        self._decisions, self._mturk, self._batches, self._scheduler = decisions, mturk, batches, scheduler

    def handle(self, event: object) -> RequestOutcome:
        detail, actor = parse(event)
        if detail.get("hitId"):
            return self._reverse_hit(detail, actor)
        request = DecisionRequest(assignment_id=detail["assignmentId"], action=Action.REVERSE,
                                  feedback=detail.get("feedback"), reason=detail.get("reason"), actor=actor,
                                  source=Source.EVENT, request_id=event.get("id") if isinstance(event, dict) else None)
        try:
            self._decisions.decide(request)
        except InsufficientFunds as error:
            if self._scheduled_for_funds(request):
                return RequestOutcome("funds-retry", request.assignment_id, code=error.code)
            return RequestOutcome("refused", request.assignment_id, code=error.code)
        except DecisionError as error:
            if error.retryable:
                raise  # SQS redelivers it: a throttle, a fault, or another decision in progress
            return RequestOutcome("refused", request.assignment_id, code=error.code)
        return RequestOutcome("reversed", request.assignment_id)

    def _reverse_hit(self, detail: dict[str, Any], actor: str) -> RequestOutcome:
        if self._batches is None:
            raise MalformedEvent("HIT reversals need the bulk queue, which is not configured")
        try:
            parsed = self._batches.hit_reversals(detail["hitId"], detail.get("feedback"), detail.get("reason"),
                                                 detail.get("workerIds"))
        except DecisionError as error:
            if error.retryable:
                raise
            return RequestOutcome("refused", code=error.code)
        submission = self._batches.submit(parsed, actor, "event", detail["hitId"])
        return RequestOutcome("batch", batch_id=submission.batch_id)

    def _scheduled_for_funds(self, request: DecisionRequest) -> bool:
        if self._scheduler is None:
            return False
        view = self._decisions_view(request.assignment_id)
        try:
            return bool(view and self._scheduler.retry_for_funds(view, request))
        except ReversalAlreadyScheduled:
            return False  # an automatic reversal of this assignment is already waiting

    def _decisions_view(self, assignment_id: str) -> AssignmentView | None:
        try:
            return self._mturk.get_assignment(assignment_id)
        except DecisionError:
            return None
