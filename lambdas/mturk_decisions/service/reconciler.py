"""The reconciler: settles audit records left PENDING by a writer that stopped between its write-ahead and
its finalize (a crash, a timeout, a lost answer that MTurk's record could not explain yet).

A record is settled only once its writer is surely gone: its lease has expired (or it holds none, and it
is older than `older_than`). MTurk's record of the assignment is the evidence (see `evidence`): a change of
the record's kind made after its write-ahead, with its feedback → SUCCEEDED; otherwise FAILED NOT_APPLIED.
An assignment's records are settled oldest first, a change is owned by one SUCCEEDED record only, and each
record is settled on its own: one that fails is logged and counted, and the run goes on. It never calls an
MTurk write, so nothing can be applied twice.
"""
from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import datetime, timedelta

from mturk_decisions.domain.errors import DecisionError
from mturk_decisions.domain.model import (
    RESULTING_STATUS,
    AssignmentStatus,
    AssignmentView,
    DecisionLease,
    DecisionRecord,
    DecisionState,
)
from mturk_decisions.service.decisions import utc_now
from mturk_decisions.service.evidence import Verdict
from mturk_decisions.service.ports import AuditStore, MTurkGateway
from mturk_decisions.service.settlement import NOT_APPLIED, Settlement

__all__ = ["NOT_APPLIED", "ReconcileReport", "Reconciler"]


@dataclass
class ReconcileReport:
    examined: int = 0
    succeeded: list[str] = field(default_factory=list)
    failed: list[str] = field(default_factory=list)
    left_pending: list[str] = field(default_factory=list)
    #: Settled by another writer between our read and our write (a stale index entry): nothing to do.
    already_final: list[str] = field(default_factory=list)
    #: Records whose settlement raised; each is logged by the caller's `on_error`, and the run went on.
    errors: list[str] = field(default_factory=list)

    @property
    def findings(self) -> int:
        return len(self.succeeded) + len(self.failed)


class Reconciler:
    def __init__(
        self,
        mturk: MTurkGateway,
        audit: AuditStore,
        clock: Callable[[], datetime] = utc_now,
        older_than: timedelta = timedelta(minutes=16),
        limit: int = 200,
        on_error: Callable[[DecisionRecord, Exception], None] = lambda record, error: None,
    ) -> None:
        self._audit, self._clock = audit, clock
        self._older_than, self._limit, self._on_error = older_than, limit, on_error
        self._settlement = Settlement(mturk, audit, clock)

    def run(self) -> ReconcileReport:
        report = ReconcileReport()
        for assignment_id, records in self._pending_by_assignment().items():
            try:
                self._settle_assignment(assignment_id, records, report)
            except Exception as error:
                report.errors += [record.decision_id for record in records]
                self._on_error(records[0], error)
        return report

    def _pending_by_assignment(self) -> dict[str, list[DecisionRecord]]:
        """PENDING records (the sparse index is oldest first), grouped by assignment in that order."""
        groups: dict[str, list[DecisionRecord]] = {}
        for record in sorted(self._audit.pending(limit=self._limit), key=lambda r: r.created_at):
            groups.setdefault(record.assignment_id, []).append(record)
        return groups

    def _settle_assignment(self, assignment_id: str, records: list[DecisionRecord], report: ReconcileReport) -> None:
        now = self._clock()
        lease = self._audit.lease(assignment_id)
        settleable = [r for r in records if self._writer_gone(r, lease, now)]
        report.left_pending += [r.decision_id for r in records if r not in settleable]
        if not settleable:
            return
        try:
            view = self._settlement.view(assignment_id)
        except DecisionError:  # MTurk throttled or failing: try again at the next run
            report.left_pending += [r.decision_id for r in settleable]
            return
        history = self._audit.history(assignment_id)
        verdicts = _one_owner_per_change({r.decision_id: self._settlement.verdict(r, view, history) for r in settleable},
                                         settleable)
        for record in settleable:
            report.examined += 1
            self._settle_one(record, verdicts[record.decision_id], view, report)

    def _settle_one(self, record: DecisionRecord, verdict: Verdict, view: AssignmentView | None,
                    report: ReconcileReport) -> None:
        try:
            state = self._settlement.finalize(record, verdict, view)
        except Exception as error:
            report.errors.append(record.decision_id)
            self._on_error(record, error)
            return
        if state is DecisionState.SUCCEEDED:
            report.succeeded.append(record.decision_id)
        elif state is DecisionState.FAILED:
            report.failed.append(record.decision_id)
        else:
            report.already_final.append(record.decision_id)

    def _writer_gone(self, record: DecisionRecord, lease: DecisionLease | None, now: datetime) -> bool:
        if lease is not None and lease.decision_id == record.decision_id:
            return lease.expired(now)
        return record.created_at <= now - self._older_than


def _one_owner_per_change(verdicts: dict[str, Verdict], records: list[DecisionRecord]) -> dict[str, Verdict]:
    """Several PENDING attempts may match one change (a retry after a crash, without a lease in older
    versions): the change belongs to the latest attempt written before it; the earlier ones were not sent."""
    owners: dict[AssignmentStatus, DecisionRecord] = {}
    for record in records:  # oldest first: the last applicable one wins
        if verdicts[record.decision_id] is Verdict.APPLIED:
            owners[RESULTING_STATUS[record.action]] = record
    return {decision_id: (Verdict.NOT_APPLIED if verdict is Verdict.APPLIED and decision_id not in
                          {owner.decision_id for owner in owners.values()} else verdict)
            for decision_id, verdict in verdicts.items()}
