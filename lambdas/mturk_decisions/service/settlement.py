"""Settling a PENDING audit record whose writer is gone (crashed, timed out), by evidence.

Used by the reconciler for every expired lease, and by a new decision that finds an expired lease on its
assignment (it takes the lease over only once the old record is settled). Never calls an MTurk write.
"""
from __future__ import annotations

from collections.abc import Callable
from datetime import datetime

from mturk_decisions.domain.errors import AssignmentNotFound, RecordAlreadyFinal
from mturk_decisions.domain.model import RESULTING_STATUS, AssignmentView, DecisionRecord, DecisionState
from mturk_decisions.service import evidence
from mturk_decisions.service.evidence import Verdict
from mturk_decisions.service.ports import AuditStore, MTurkGateway

NOT_APPLIED = "NOT_APPLIED"


class Settlement:
    def __init__(self, mturk: MTurkGateway, audit: AuditStore, clock: Callable[[], datetime]) -> None:
        self._mturk, self._audit, self._clock = mturk, audit, clock

    def view(self, assignment_id: str) -> AssignmentView | None:
        try:
            return self._mturk.get_assignment(assignment_id)
        except AssignmentNotFound:
            return None

    def settle(self, record: DecisionRecord, view: AssignmentView | None,
               history: list[DecisionRecord] | None = None) -> DecisionState | None:
        """Finalize one PENDING record (and release its lease); None when another writer settled it first."""
        return self.finalize(record, self.verdict(record, view, history), view)

    def verdict(self, record: DecisionRecord, view: AssignmentView | None,
                history: list[DecisionRecord] | None = None, *, may_still_land: bool = False) -> Verdict:
        """MTurk makes each change once, so a change already owned by another SUCCEEDED record of this
        assignment is not this record's: two SUCCEEDED records never share one change (two writers may
        send the same feedback, so the change's time and feedback alone cannot tell them apart)."""
        verdict = evidence.judge(record, view, may_still_land=may_still_land)
        if verdict is Verdict.APPLIED and _owned_by_another(record, history or self._audit.history(record.assignment_id)):
            return Verdict.NOT_APPLIED
        return verdict

    def finalize(self, record: DecisionRecord, verdict: Verdict, view: AssignmentView | None) -> DecisionState | None:
        try:
            if verdict is Verdict.APPLIED:
                self._audit.finalize(record, DecisionState.SUCCEEDED, self._clock())
                return DecisionState.SUCCEEDED
            self._audit.finalize(record, DecisionState.FAILED, self._clock(), NOT_APPLIED, _not_applied(record, view))
            return DecisionState.FAILED
        except RecordAlreadyFinal:
            return None

    def settle_lease_holder(self, assignment_id: str, decision_key: str) -> bool:
        """Settle the record an expired lease belongs to; True when the lease is free afterwards."""
        record = self._audit.record(assignment_id, decision_key)
        if record is None or record.state is not DecisionState.PENDING:
            return False
        self.settle(record, self.view(assignment_id))
        return True


def _owned_by_another(record: DecisionRecord, history: list[DecisionRecord]) -> bool:
    target = RESULTING_STATUS[record.action]
    return any(other.decision_id != record.decision_id and other.state is DecisionState.SUCCEEDED
               and RESULTING_STATUS[other.action] is target for other in history)


def _not_applied(record: DecisionRecord, view: AssignmentView | None) -> str:
    shown = f"MTurk shows {view.status}" if view else "MTurk has no such assignment"
    return (f"Reconciled: {shown}, and no {record.action.value} made after this decision was written carries "
            "its feedback; it was not applied.")
