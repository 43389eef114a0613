"""In-memory stand-ins for the service's two ports, for tests of the rules without AWS or HTTP."""
from __future__ import annotations

from collections.abc import Callable, Iterator
from dataclasses import replace
from datetime import UTC, datetime, timedelta
from decimal import Decimal
from typing import Any

from mturk_decisions.domain.errors import (
    AssignmentNotFound,
    AuditUnavailable,
    DecisionInProgress,
    MTurkFault,
    RecordAlreadyFinal,
    WrongAssignmentState,
)
from mturk_decisions.domain.model import AssignmentView, DecisionLease, DecisionRecord, DecisionState
from mturk_decisions.domain.notice import NotifyFailure
from mturk_decisions.domain.schedule import ScheduledReversal, SchedulePage, ScheduleQuery
from mturk_decisions.service.ports import Page

NOW = datetime(2026, 11, 23, 12, 0, tzinfo=UTC)


def assignment(assignment_id="ASSIGN1", status="Submitted", submitted_days_ago=1, reward="0.50", max_assignments=3,
               hit_status="Reviewable", worker_id="AWORKER1", hit_id="HIT1") -> AssignmentView:
    submitted = NOW - timedelta(days=submitted_days_ago)
    return AssignmentView(
        assignment_id=assignment_id, hit_id=hit_id, worker_id=worker_id, status=status,
        submitted_at=submitted, reward=Decimal(reward),
        max_assignments=max_assignments, hit_status=hit_status,
        rejected_at=submitted if status == "Rejected" else None,  # as MTurk stamps a seeded decision
        approved_at=submitted if status == "Approved" else None,
    )


class FakeMTurk:
    """MTurk's rules for one requester: a write stamps the change's time (from `clock`) and feedback."""

    def __init__(self, *assignments: AssignmentView, balance: str = "100.00", clock: Callable[[], datetime] = lambda: NOW) -> None:
        self.clock = clock
        self.assignments = {a.assignment_id: a for a in assignments}
        self.balance = Decimal(balance)
        self.writes: list[tuple[str, str, str | None]] = []
        self.fail_next_write: Exception | None = None
        self.apply_then_fail: Exception | None = None
        #: Every NotifyWorkers call: (subject, message, worker ids); workers MTurk cannot notify, by id ->
        #: (failure code, message); an error every NotifyWorkers call raises.
        self.notices: list[tuple[str, str, list[str]]] = []
        self.unnotifiable: dict[str, tuple[str, str]] = {}
        self.fail_notify: Exception | None = None

    def get_assignment(self, assignment_id: str) -> AssignmentView:
        if assignment_id not in self.assignments:
            raise AssignmentNotFound(f"no {assignment_id}")
        return self.assignments[assignment_id]

    def get_balance(self) -> Decimal:
        return self.balance

    def reject(self, assignment_id: str, feedback: str) -> None:
        self._write("reject", assignment_id, "Submitted", "Rejected", feedback)

    def approve(self, assignment_id: str, feedback: str | None, override_rejection: bool) -> None:
        allowed = ("Submitted", "Rejected") if override_rejection else ("Submitted",)
        self._write("approve", assignment_id, allowed, "Approved", feedback)

    def list_assignments_for_hit(self, hit_id: str, statuses: list[str] | None = None) -> Iterator[AssignmentView]:
        return iter([a for a in self.assignments.values() if a.hit_id == hit_id])

    def notify_workers(self, subject: str, message: str, worker_ids: list[str]) -> list[NotifyFailure]:
        assert 1 <= len(worker_ids) <= 100, "MTurk takes 1-100 WorkerIds a call"
        if self.fail_notify:
            raise self.fail_notify
        self.notices.append((subject, message, list(worker_ids)))
        return [NotifyFailure(w, *self.unnotifiable[w]) for w in worker_ids if w in self.unnotifiable]

    def _write(self, op: str, assignment_id: str, allowed: str | tuple[str, ...], new_status: str,
               feedback: str | None) -> None:
        if self.fail_next_write:
            error, self.fail_next_write = self.fail_next_write, None
            raise error
        current = self.get_assignment(assignment_id)
        if current.status not in (allowed if isinstance(allowed, tuple) else (allowed,)):
            raise WrongAssignmentState("This operation can be called with a status of: Submitted")
        self.writes.append((op, assignment_id, feedback))
        stamp: dict[str, Any] = {"rejected_at": self.clock()} if new_status == "Rejected" else {"approved_at": self.clock()}
        kept = current.requester_feedback if feedback is None else feedback
        self.assignments[assignment_id] = replace(current, status=new_status, requester_feedback=kept, **stamp)
        if self.apply_then_fail:
            error, self.apply_then_fail = self.apply_then_fail, None
            raise error


class InMemoryAuditStore:
    """The audit table's semantics: the write-ahead takes the assignment's lease in the same step, the
    finalize releases it; a second holder is refused with DecisionInProgress."""

    def __init__(self) -> None:
        self.records: dict[str, DecisionRecord] = {}
        self.leases: dict[str, DecisionLease] = {}
        self.fail_write_ahead = False
        self.fail_finalize = False

    def write_ahead(self, record: DecisionRecord, lease_expires_at: datetime) -> None:
        if self.fail_write_ahead:
            raise AuditUnavailable("audit down")
        holder = self.leases.get(record.assignment_id)
        if holder is not None:
            error = DecisionInProgress(f"{holder.decision_id} holds {record.assignment_id}",
                                       holderDecisionId=holder.decision_id)
            error.lease = holder
            raise error
        self.records[record.decision_id] = replace(record)
        self.leases[record.assignment_id] = DecisionLease(record.assignment_id, record.decision_id,
                                                          record.decision_id, lease_expires_at)

    def finalize(self, record: DecisionRecord, state: DecisionState, finalized_at: datetime,
                 error_code: str | None = None, error_message: str | None = None, joined: object = None) -> bool:
        """In memory there is no transaction to join: False, and `joined`'s owner writes its part itself."""
        if self.fail_finalize:
            raise RuntimeError("finalize failed")
        stored = self.records[record.decision_id]
        if stored.state is not DecisionState.PENDING:
            raise RecordAlreadyFinal(record.decision_id)
        self.records[record.decision_id] = replace(stored, state=state, finalized_at=finalized_at,
                                                   error_code=error_code, error_message=error_message)
        lease = self.leases.get(record.assignment_id)
        if lease is not None and lease.decision_id == record.decision_id:
            del self.leases[record.assignment_id]
        return False

    def record_external(self, record: DecisionRecord) -> bool:
        if record.decision_id in self.records:
            return False
        self.records[record.decision_id] = replace(record)
        return True

    def lease(self, assignment_id: str) -> DecisionLease | None:
        return self.leases.get(assignment_id)

    def record(self, assignment_id: str, key: str) -> DecisionRecord | None:
        return self.records.get(key)

    def reload(self, record: DecisionRecord) -> DecisionRecord | None:
        return self.records.get(record.decision_id)

    def acquire_run_lock(self, name: str, owner: str, expires_at: datetime, now: datetime) -> bool:
        holder = self.leases.get(f"~run:{name}")
        if holder is not None and not holder.expired(now):
            return False
        self.leases[f"~run:{name}"] = DecisionLease(f"~run:{name}", owner, name, expires_at)
        return True

    def release_run_lock(self, name: str, owner: str) -> None:
        holder = self.leases.get(f"~run:{name}")
        if holder is not None and holder.decision_id == owner:
            del self.leases[f"~run:{name}"]

    def history(self, assignment_id: str, limit: int = 50) -> list[DecisionRecord]:
        found = [r for r in self.records.values() if r.assignment_id == assignment_id]
        return sorted(found, key=lambda r: r.created_at, reverse=True)[:limit]

    def pending(self, limit: int = 100) -> list[DecisionRecord]:
        found = [r for r in self.records.values() if r.state is DecisionState.PENDING]
        return sorted(found, key=lambda r: r.created_at)[:limit]

    def by_worker(self, worker_id: str, since: datetime | None, until: datetime | None, limit: int,
                  cursor: str | None) -> Page:
        return Page([r for r in self.records.values() if r.worker_id == worker_id][:limit], None)

    def by_hit(self, hit_id: str, since: datetime | None, until: datetime | None, limit: int,
               cursor: str | None) -> Page:
        return Page([r for r in self.records.values() if r.hit_id == hit_id][:limit], None)

    def in_range(self, since: datetime, until: datetime, limit: int, cursor: str | None) -> Page:
        found = sorted((r for r in self.records.values() if since <= r.created_at <= until),
                       key=lambda r: r.created_at, reverse=True)
        return Page(found[:limit], None)

    def record_notification(self, record: DecisionRecord, notification: dict[str, Any]) -> None:
        if self.fail_write_ahead:
            raise AuditUnavailable("audit down")
        self.records[record.decision_id] = replace(self.records[record.decision_id], notification=notification)


__all__ = ["NOW", "FakeMTurk", "InMemoryAuditStore", "MTurkFault", "assignment"]


class InMemoryScheduleStore:
    """The schedule table's semantics: conditional creation, claims and transitions."""

    def __init__(self) -> None:
        self.items: dict[str, ScheduledReversal] = {}

    def create(self, schedule: ScheduledReversal) -> bool:
        from mturk_decisions.domain.errors import ReversalAlreadyScheduled
        from mturk_decisions.domain.schedule import ACTIVE_STATES

        existing = self.items.get(schedule.assignment_id)
        same = existing is not None and schedule.rejection_decision_id is not None \
            and existing.rejection_decision_id == schedule.rejection_decision_id
        if same:
            return False
        if existing is not None and existing.state in ACTIVE_STATES:
            raise ReversalAlreadyScheduled(f"{schedule.assignment_id} has one")
        self.items[schedule.assignment_id] = schedule
        return True

    def get(self, assignment_id: str) -> ScheduledReversal | None:
        return self.items.get(assignment_id)

    def claim(self, schedule: ScheduledReversal, owner: str, until: datetime,
              now: datetime) -> ScheduledReversal | None:
        current = self.items.get(schedule.assignment_id)
        if current is None or not (
                (current.state == "PENDING" and current.due_at <= now)
                or (current.state == "RUNNING" and current.claimed_until is not None and current.claimed_until < now)):
            return None
        claimed = replace(current, state="RUNNING", claimed_by=owner, claimed_until=until)
        self.items[schedule.assignment_id] = claimed
        return claimed

    def transition(self, schedule: ScheduledReversal, new: ScheduledReversal) -> bool:
        current = self.items.get(schedule.assignment_id)
        if current is None or current.state != schedule.state or (
                schedule.state == "RUNNING" and current.claimed_by != schedule.claimed_by) or (
                schedule.rejection_decision_id and current.rejection_decision_id != schedule.rejection_decision_id):
            return False
        self.items[schedule.assignment_id] = new
        return True

    def due(self, now: datetime, limit: int = 100) -> list[ScheduledReversal]:
        return sorted((s for s in self.items.values() if s.state in ("PENDING", "RUNNING") and s.due_at <= now),
                      key=lambda s: s.due_at)[:limit]

    def closing_before(self, moment: datetime, limit: int = 1000) -> list[ScheduledReversal]:
        return [s for s in self.items.values() if s.state in ("PENDING", "RUNNING") and s.deadline <= moment][:limit]

    def listing(self, query: ScheduleQuery) -> SchedulePage:
        """By due time (then assignment), a page after the cursor: the last assignment id listed."""
        found = sorted((s for s in self.items.values() if s.state in query.states
                        and query.hit_id in (None, s.hit_id) and query.kind in (None, s.kind)
                        and (query.due_before is None or s.due_at < query.due_before)),
                       key=lambda s: (s.due_at, s.assignment_id))
        if query.cursor:
            after = self.items[query.cursor]
            found = [s for s in found if (s.due_at, s.assignment_id) > (after.due_at, after.assignment_id)]
        page = found[:query.limit]
        return SchedulePage(page, page[-1].assignment_id if len(found) > query.limit else None)
