"""The reconciler: settles audit records left PENDING by a crash between the write-ahead and the finalize.

MTurk's own state says whether the decision was applied: applied → SUCCEEDED, not applied → FAILED
(NOT_APPLIED). It never calls an MTurk write, so nothing can be applied twice.
"""
from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import datetime, timedelta

from mturk_decisions.domain.errors import AssignmentNotFound, MTurkFault, MTurkThrottled
from mturk_decisions.domain.model import RESULTING_STATUS, DecisionRecord, DecisionState
from mturk_decisions.service.decisions import utc_now
from mturk_decisions.service.ports import AuditStore, MTurkGateway

NOT_APPLIED = "NOT_APPLIED"


@dataclass
class ReconcileReport:
    examined: int = 0
    succeeded: list[str] = field(default_factory=list)
    failed: list[str] = field(default_factory=list)
    left_pending: list[str] = field(default_factory=list)

    @property
    def findings(self) -> int:
        return len(self.succeeded) + len(self.failed)


class Reconciler:
    def __init__(
        self,
        mturk: MTurkGateway,
        audit: AuditStore,
        clock: Callable[[], datetime] = utc_now,
        older_than: timedelta = timedelta(minutes=15),
        limit: int = 200,
    ) -> None:
        self._mturk, self._audit, self._clock = mturk, audit, clock
        self._older_than, self._limit = older_than, limit

    def run(self) -> ReconcileReport:
        """Settle every PENDING record older than `older_than` (younger ones may still be in flight)."""
        report = ReconcileReport()
        cutoff = self._clock() - self._older_than
        for record in self._audit.pending(limit=self._limit):
            if record.created_at > cutoff:
                continue
            report.examined += 1
            try:
                self._settle(record, report)
            except (MTurkThrottled, MTurkFault):
                report.left_pending.append(record.decision_id)
        return report

    def _settle(self, record: DecisionRecord, report: ReconcileReport) -> None:
        try:
            current = self._mturk.get_assignment(record.assignment_id).status
        except AssignmentNotFound:
            current = None
        applied = current == RESULTING_STATUS[record.action].value and not self._accounted_for(record)
        if applied:
            self._audit.finalize(record, DecisionState.SUCCEEDED, self._clock())
            report.succeeded.append(record.decision_id)
        else:
            self._audit.finalize(
                record, DecisionState.FAILED, self._clock(), NOT_APPLIED,
                f"Reconciled: MTurk shows {current or 'no such assignment'}"
                + (", a change another decision of this assignment made" if current and not applied else "")
                + f"; this {record.action.value} was not applied by this attempt.",
            )
            report.failed.append(record.decision_id)

    def _accounted_for(self, record: DecisionRecord) -> bool:
        """MTurk takes an assignment into a status once: if another decision already owns that change
        (the caller retried after the crash), this record did not apply it."""
        target = RESULTING_STATUS[record.action]
        return any(
            other.decision_id != record.decision_id and other.state is DecisionState.SUCCEEDED
            and RESULTING_STATUS[other.action] is target
            for other in self._audit.history(record.assignment_id)
        )
