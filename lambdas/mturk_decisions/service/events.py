"""Decisions as events on the service's bus: Assignment Rejected, Rejection Reversed, Reversal Failed."""
from __future__ import annotations

from mturk_decisions.adapters.event_bus import ASSIGNMENT_REJECTED, REJECTION_REVERSED, REVERSAL_FAILED
from mturk_decisions.domain.model import Action, DecisionRecord, DecisionRequest
from mturk_decisions.domain.rules import iso
from mturk_decisions.service.decisions import DecisionObserver
from mturk_decisions.service.ports import EventPublisher


class DecisionEvents(DecisionObserver):
    def __init__(self, publisher: EventPublisher) -> None:
        self._publisher = publisher

    def decided(self, request: DecisionRequest, outcome: str, record: DecisionRecord | None = None) -> None:
        kind, _, code = outcome.partition(":")
        if kind == "succeeded" and request.action is Action.REJECT:
            detail_type = ASSIGNMENT_REJECTED
        elif kind == "succeeded" and request.action is Action.REVERSE:
            detail_type = REJECTION_REVERSED
        elif kind in ("failed", "refused") and request.action is Action.REVERSE:
            detail_type = REVERSAL_FAILED
        else:
            return
        detail = {
            "assignmentId": request.assignment_id,
            "action": request.action.value,
            "outcome": kind,
            "code": code or None,
            "source": request.source.value,
            "actor": request.actor,
            "batchId": request.batch_id,
        }
        if record is not None:
            detail.update(decisionId=record.decision_id, hitId=record.hit_id, workerId=record.worker_id,
                          decidedAt=iso(record.created_at))
        self._publisher.publish(detail_type, {k: v for k, v in detail.items() if v is not None})
