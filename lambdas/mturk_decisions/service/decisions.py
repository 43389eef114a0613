"""The decision protocol: pre-check, plan, lease + write-ahead audit, MTurk call, finalize + release.

One writer per assignment: the write-ahead record is written in one transaction with the assignment's
decision lease, so a second decision while the first runs is refused (`DECISION_IN_PROGRESS`) before
anything reaches MTurk. An outcome is SUCCEEDED only when MTurk answered success to our call, or, after
a fault or a lost answer, when MTurk's record of the assignment shows *our* change (see `evidence`) and no
other SUCCEEDED decision of the assignment owns that change (MTurk makes each change once).

Plain Python over two ports (MTurk and the audit store), so every rule is testable without AWS.
"""
from __future__ import annotations

import uuid
from collections.abc import Callable
from dataclasses import dataclass, replace
from datetime import UTC, datetime, timedelta
from decimal import Decimal

from mturk_decisions.domain import rules
from mturk_decisions.domain.errors import DecisionError, DecisionInProgress, InvalidRequest, RecordAlreadyFinal
from mturk_decisions.domain.model import (
    RESULTING_STATUS,
    Action,
    AssignmentView,
    DecisionRecord,
    DecisionRequest,
    DecisionState,
    Plan,
)
from mturk_decisions.domain.notice import (
    FAILED,
    SENT,
    NotificationResult,
    NotifyFailure,
    WorkerNotice,
    batches_of,
)
from mturk_decisions.service.evidence import Verdict
from mturk_decisions.service.ports import AuditStore, JoinedWrite, MTurkGateway, Page
from mturk_decisions.service.settlement import Settlement

#: Longer than the longest function timeout (the batch worker's 900 s): an unexpired lease means its
#: holder may still be running.
LEASE_DURATION = timedelta(seconds=960)
#: What a refused caller is told to wait: a live decision finishes within about a second; a crashed one
#: waits for its lease to expire and its record to be settled.
RETRY_STALE_LEASE_SECONDS = 60
#: The longest time range GET /decisions lists without a worker or HIT (one index query per day).
MAX_RANGE = timedelta(days=31)


def utc_now() -> datetime:
    return datetime.now(UTC)


class DecisionObserver:
    """Hooks for metrics and logs, so the service stays free of observability imports."""

    def decided(self, request: DecisionRequest, outcome: str, record: DecisionRecord | None = None) -> None: ...

    def finalize_failed(self, record: DecisionRecord, error: Exception) -> None: ...

    def notification_not_recorded(self, record: DecisionRecord, error: Exception) -> None: ...


class CompositeObserver(DecisionObserver):
    def __init__(self, *observers: DecisionObserver) -> None:
        self._observers = observers

    def decided(self, request: DecisionRequest, outcome: str, record: DecisionRecord | None = None) -> None:
        for observer in self._observers:
            observer.decided(request, outcome, record)

    def finalize_failed(self, record: DecisionRecord, error: Exception) -> None:
        for observer in self._observers:
            observer.finalize_failed(record, error)

    def notification_not_recorded(self, record: DecisionRecord, error: Exception) -> None:
        for observer in self._observers:
            observer.notification_not_recorded(record, error)


@dataclass(frozen=True)
class DecisionOutcome:
    record: DecisionRecord
    plan: Plan
    #: False when the SUCCEEDED/FAILED state could not be written and the record stays PENDING.
    audit_finalized: bool = True
    #: The caller's `JoinedWrite` landed in the finalize's transaction: it has nothing left to write.
    joined_written: bool = False


@dataclass(frozen=True)
class AssignmentDetails:
    assignment: AssignmentView
    reversal_deadline: datetime | None
    history: list[DecisionRecord]


class DecisionService:
    def __init__(
        self,
        mturk: MTurkGateway,
        audit: AuditStore,
        clock: Callable[[], datetime] = utc_now,
        observer: DecisionObserver | None = None,
        new_id: Callable[[], str] = lambda: str(uuid.uuid4()),
    ) -> None:
        self._mturk = mturk
        self._audit = audit
        self._clock = clock
        self._observer = observer or DecisionObserver()
        self._new_id = new_id
        self._settlement = Settlement(mturk, audit, clock)

    def plan(
        self, request: DecisionRequest, assignment: AssignmentView | None = None, balance: Decimal | None = None
    ) -> Plan:
        """Run every pre-check; nothing is written. Raises the first failed check as a DecisionError.

        Bulk callers pass the assignment view they already read (one page lists 100) and the balance they
        track, so a decision costs one MTurk write and nothing more.
        """
        request = self._validated(request)
        view = assignment or self._mturk.get_assignment(request.assignment_id)
        checks = ["feedback"]
        rules.check_state(request.action, view)
        checks.append("state")
        deadline = None
        if request.action is Action.REVERSE:
            deadline = rules.check_reversible(view, self._clock())
            checks += ["reversal-window", "hit-not-disposed"]
        cost = rules.cost_of(request.action, view)
        if cost is None:
            balance = None
        else:
            balance = self._mturk.get_balance() if balance is None else balance
            rules.check_funds(cost, balance)
            checks.append("funds")
        return Plan(
            request=request,
            assignment=view,
            resulting_status=RESULTING_STATUS[request.action],
            cost=cost,
            balance=balance,
            reversal_deadline=deadline,
            checks=tuple(checks),
        )

    def decide(self, request: DecisionRequest) -> DecisionOutcome:
        try:
            plan = self.plan(request)
        except DecisionError as refused:
            self._observer.decided(request, f"refused:{refused.code}")
            raise
        return self.apply(plan)

    def apply(self, plan: Plan, decision_id: str | None = None, joined: JoinedWrite | None = None) -> DecisionOutcome:
        """Lease + write-ahead, call MTurk once, finalize + release. A failed finalize leaves PENDING (and
        the lease held) for the reconciler. A SUCCEEDED finalize carries `joined` in its transaction (a batch
        item settling with its decision: one DynamoDB round trip, and never one without the other)."""
        record = self._new_record(plan, decision_id)
        self._write_ahead(record, plan)
        try:
            self._call_mturk(plan)
        except DecisionError as failure:
            return self._after_refusal(record, plan, failure, joined)
        return self._succeeded(record, plan, joined)

    def _write_ahead(self, record: DecisionRecord, plan: Plan) -> None:
        """Take the lease with the record. A lease left by a crashed decision (expired) is taken over only
        once that decision's record has been settled by evidence."""
        for attempt in (1, 2):
            try:
                self._audit.write_ahead(record, record.created_at + LEASE_DURATION)
                return
            except DecisionInProgress as busy:
                lease = busy.lease
                stale = lease is not None and lease.expired(self._clock())
                if stale:
                    busy.retry_after = busy.details["retryAfterSeconds"] = RETRY_STALE_LEASE_SECONDS
                if attempt == 2 or lease is None or not stale or not self._settlement.settle_lease_holder(
                        lease.assignment_id, lease.decision_key):
                    self._observer.decided(plan.request, f"refused:{busy.code}")
                    raise

    def _after_refusal(self, record: DecisionRecord, plan: Plan, failure: DecisionError,
                       joined: JoinedWrite | None = None) -> DecisionOutcome:
        """MTurk refused, or failed after its retries. A definite refusal is FAILED; after a fault or a lost
        answer, MTurk's record of the assignment decides; if it cannot, the record stays PENDING."""
        verdict = self._evidence_after(record, failure)
        if verdict is Verdict.APPLIED:
            return self._succeeded(record, plan, joined)
        finalized = verdict is Verdict.NOT_APPLIED and self._finalize(
            record, DecisionState.FAILED, failure.code, failure.message)[0]
        self._observer.decided(plan.request, f"failed:{failure.code}", record)
        failure.details.setdefault("decisionId", record.decision_id)
        if not finalized:
            failure.details["auditState"] = DecisionState.PENDING.value
        raise failure

    def _evidence_after(self, record: DecisionRecord, failure: DecisionError) -> Verdict:
        if not failure.possibly_applied:
            return Verdict.NOT_APPLIED  # every attempt was refused or throttled: nothing landed
        try:
            view = self._settlement.view(record.assignment_id)
            return self._settlement.verdict(record, view, may_still_land=not failure.last_attempt_answered)
        except DecisionError:
            return Verdict.UNKNOWN  # MTurk or the audit cannot be read now: the evidence is missing, not negative

    def _succeeded(self, record: DecisionRecord, plan: Plan, joined: JoinedWrite | None = None) -> DecisionOutcome:
        finalized, joined_written = self._finalize(record, DecisionState.SUCCEEDED, joined=joined)
        self._observer.decided(plan.request, "succeeded", record)
        return DecisionOutcome(record=record, plan=plan, audit_finalized=finalized, joined_written=joined_written)

    def notify_workers(self, records: list[DecisionRecord], notice: WorkerNotice) -> dict[str, NotificationResult]:
        """After the decisions succeeded: tell their workers (MTurk NotifyWorkers, 100 workers a call). Each
        decision's audit record keeps the message and MTurk's answer for its worker; a worker MTurk could not
        notify, or a call that failed after its retries, is reported, never undoes a decision. By decision id."""
        by_worker: dict[str, list[DecisionRecord]] = {}
        for record in records:
            by_worker.setdefault(record.worker_id, []).append(record)
        results: dict[str, NotificationResult] = {}
        for workers in batches_of(list(by_worker)):
            failures, sent_at = self._send_notice(notice, workers), self._clock()
            for worker in workers:
                failure = failures.get(worker)
                result = NotificationResult(notice, FAILED if failure else SENT, sent_at, [failure] if failure else [])
                for record in by_worker[worker]:
                    self._keep_notification(record, result)
                    results[record.decision_id] = result
        return results

    def _send_notice(self, notice: WorkerNotice, workers: list[str]) -> dict[str, NotifyFailure]:
        try:
            failures = self._mturk.notify_workers(notice.subject, notice.message, workers)
        except DecisionError as error:
            return {worker: NotifyFailure(worker, error.code, error.message) for worker in workers}
        return {failure.worker_id: failure for failure in failures}

    def _keep_notification(self, record: DecisionRecord, result: NotificationResult) -> None:
        record.notification = result.audit_json()
        try:
            self._audit.record_notification(record, record.notification)
        except Exception as error:
            self._observer.notification_not_recorded(record, error)

    def decided_with_key(self, request: DecisionRequest) -> DecisionRecord | None:
        """The decision an earlier request with the same Idempotency-Key made (its answer was lost, or its
        idempotency record expired): SUCCEEDED → that decision; still PENDING → DecisionInProgress."""
        for record in self._audit.history(request.assignment_id):
            if record.idempotency_key != request.idempotency_key or record.action is not request.action:
                continue
            if record.state is DecisionState.SUCCEEDED:
                return record
            if record.state is DecisionState.PENDING:
                raise DecisionInProgress(f"The decision of this Idempotency-Key ({record.decision_id}) is still in "
                                         "progress; retry shortly for its answer.", holderDecisionId=record.decision_id)
        return None

    def now(self) -> datetime:
        """The service's clock: the one the 30-day window is judged by."""
        return self._clock()

    @property
    def audit(self) -> AuditStore:
        return self._audit

    def describe(self, assignment_id: str) -> AssignmentDetails:
        view = self._mturk.get_assignment(assignment_id)
        return AssignmentDetails(
            assignment=view,
            reversal_deadline=rules.reversal_deadline(view),
            history=self._audit.history(assignment_id),
        )

    def decisions_for_worker(self, worker_id: str, since: datetime | None, until: datetime | None, limit: int,
                             cursor: str | None) -> Page:
        return self._audit.by_worker(worker_id, since, until, limit, cursor)

    def decisions_for_hit(self, hit_id: str, since: datetime | None, until: datetime | None, limit: int,
                          cursor: str | None) -> Page:
        return self._audit.by_hit(hit_id, since, until, limit, cursor)

    def decisions_in_range(self, since: datetime, until: datetime, limit: int, cursor: str | None) -> Page:
        """Every decision in a time range of at most `MAX_RANGE` (one index query per day), newest first."""
        if until - since > MAX_RANGE:
            raise InvalidRequest(f"A time range without workerId or hitId may span at most {MAX_RANGE.days} days; "
                                 f"this one spans {(until - since).days} days. Narrow since/until.", field="since",
                                 maxDays=MAX_RANGE.days)
        return self._audit.in_range(since, until, limit, cursor)

    def _validated(self, request: DecisionRequest) -> DecisionRequest:
        feedback = rules.validate_feedback(request.feedback, required=request.action is Action.REJECT)
        reason = rules.validate_reason(request.reason)
        return replace(request, feedback=feedback, reason=reason)

    def _call_mturk(self, plan: Plan) -> None:
        request = plan.request
        if request.action is Action.REJECT:
            self._mturk.reject(request.assignment_id, request.feedback or "")
        else:
            self._mturk.approve(request.assignment_id, request.feedback,
                                override_rejection=request.action is Action.REVERSE)

    def _new_record(self, plan: Plan, decision_id: str | None = None) -> DecisionRecord:
        request, view = plan.request, plan.assignment
        return DecisionRecord(
            decision_id=decision_id or self._new_id(),
            assignment_id=view.assignment_id,
            hit_id=view.hit_id,
            worker_id=view.worker_id,
            action=request.action,
            source=request.source,
            actor=request.actor,
            created_at=self._clock(),
            previous_status=view.status,
            feedback=request.feedback,
            reason=request.reason,
            request_id=request.request_id,
            batch_id=request.batch_id,
            reward=view.reward,
            fee=plan.cost.fee if plan.cost else None,
            idempotency_key=request.idempotency_key,
        )

    def new_decision_id(self) -> str:
        return self._new_id()

    def _finalize(self, record: DecisionRecord, state: DecisionState, code: str | None = None,
                  message: str | None = None, joined: JoinedWrite | None = None) -> tuple[bool, bool]:
        """(the record is final in `state`, `joined` landed with it)."""
        finalized_at = self._clock()
        try:
            joined_written = self._audit.finalize(record, state, finalized_at, code, message, joined)
        except RecordAlreadyFinal:
            return self._settled_elsewhere(record, state), False
        except Exception as error:
            self._observer.finalize_failed(record, error)
            return False, False
        record.state, record.finalized_at = state, finalized_at
        record.error_code, record.error_message = code, message
        return True, bool(joined_written)

    def _settled_elsewhere(self, record: DecisionRecord, state: DecisionState) -> bool:
        """Another writer settled our record first (after our lease expired): keep what it recorded."""
        stored = self._audit.reload(record)
        if stored is None:
            return False
        record.state, record.finalized_at = stored.state, stored.finalized_at
        record.error_code, record.error_message = stored.error_code, stored.error_message
        return stored.state is state
