"""In-memory stand-ins for the service's two ports, for tests of the rules without AWS or HTTP."""
from __future__ import annotations

from dataclasses import replace
from datetime import datetime, timedelta, timezone
from decimal import Decimal

from mturk_decisions.domain.errors import AssignmentNotFound, AuditUnavailable, MTurkFault, WrongAssignmentState
from mturk_decisions.domain.model import AssignmentView, DecisionRecord, DecisionState
from mturk_decisions.service.ports import Page

NOW = datetime(2026, 11, 23, 12, 0, tzinfo=timezone.utc)


def assignment(assignment_id="ASSIGN1", status="Submitted", submitted_days_ago=1, reward="0.50", max_assignments=3,
               hit_status="Reviewable", worker_id="AWORKER1", hit_id="HIT1") -> AssignmentView:
    return AssignmentView(
        assignment_id=assignment_id, hit_id=hit_id, worker_id=worker_id, status=status,
        submitted_at=NOW - timedelta(days=submitted_days_ago), reward=Decimal(reward),
        max_assignments=max_assignments, hit_status=hit_status,
    )


class FakeMTurk:
    def __init__(self, *assignments: AssignmentView, balance: str = "100.00") -> None:
        self.assignments = {a.assignment_id: a for a in assignments}
        self.balance = Decimal(balance)
        self.writes: list[tuple] = []
        self.fail_next_write: Exception | None = None
        self.apply_then_fail: Exception | None = None

    def get_assignment(self, assignment_id):
        if assignment_id not in self.assignments:
            raise AssignmentNotFound(f"no {assignment_id}")
        return self.assignments[assignment_id]

    def get_balance(self):
        return self.balance

    def reject(self, assignment_id, feedback):
        self._write("reject", assignment_id, "Submitted", "Rejected", feedback)

    def approve(self, assignment_id, feedback, override_rejection):
        allowed = ("Submitted", "Rejected") if override_rejection else ("Submitted",)
        self._write("approve", assignment_id, allowed, "Approved", feedback)

    def list_assignments_for_hit(self, hit_id, statuses=None):
        return iter([a for a in self.assignments.values() if a.hit_id == hit_id])

    def _write(self, op, assignment_id, allowed, new_status, feedback):
        if self.fail_next_write:
            error, self.fail_next_write = self.fail_next_write, None
            raise error
        current = self.get_assignment(assignment_id)
        if current.status not in (allowed if isinstance(allowed, tuple) else (allowed,)):
            raise WrongAssignmentState("This operation can be called with a status of: Submitted")
        self.writes.append((op, assignment_id, feedback))
        self.assignments[assignment_id] = replace(current, status=new_status, requester_feedback=feedback)
        if self.apply_then_fail:
            error, self.apply_then_fail = self.apply_then_fail, None
            raise error


class InMemoryAuditStore:
    def __init__(self) -> None:
        self.records: dict[str, DecisionRecord] = {}
        self.fail_write_ahead = False
        self.fail_finalize = False

    def write_ahead(self, record):
        if self.fail_write_ahead:
            raise AuditUnavailable("audit down")
        self.records[record.decision_id] = replace(record)

    def finalize(self, record, state, finalized_at, error_code=None, error_message=None):
        if self.fail_finalize:
            raise RuntimeError("finalize failed")
        stored = self.records[record.decision_id]
        assert stored.state is DecisionState.PENDING
        self.records[record.decision_id] = replace(stored, state=state, finalized_at=finalized_at,
                                                   error_code=error_code, error_message=error_message)

    def history(self, assignment_id, limit=50):
        found = [r for r in self.records.values() if r.assignment_id == assignment_id]
        return sorted(found, key=lambda r: r.created_at, reverse=True)[:limit]

    def pending(self, limit=100):
        found = [r for r in self.records.values() if r.state is DecisionState.PENDING]
        return sorted(found, key=lambda r: r.created_at)[:limit]

    def by_worker(self, worker_id, since, until, limit, cursor):
        return Page([r for r in self.records.values() if r.worker_id == worker_id][:limit], None)

    def by_hit(self, hit_id, since, until, limit, cursor):
        return Page([r for r in self.records.values() if r.hit_id == hit_id][:limit], None)


__all__ = ["FakeMTurk", "InMemoryAuditStore", "assignment", "NOW", "MTurkFault"]


class InMemoryScheduleStore:
    def __init__(self) -> None:
        self.items = {}

    def put(self, schedule):
        self.items[schedule.assignment_id] = schedule

    def get(self, assignment_id):
        return self.items.get(assignment_id)

    def settle(self, schedule, state, **changes):
        if self.items[schedule.assignment_id].state != "PENDING":
            return False
        self.items[schedule.assignment_id] = replace(schedule, state=state, **changes)
        return True

    def reschedule(self, schedule, due_at, **changes):
        return self.settle(schedule, "PENDING", due_at=due_at, **changes)

    def due(self, now, limit=100):
        return sorted((s for s in self.items.values() if s.state == "PENDING" and s.due_at <= now),
                      key=lambda s: s.due_at)[:limit]

    def closing_before(self, moment, limit=1000):
        return [s for s in self.items.values() if s.state == "PENDING" and s.deadline <= moment][:limit]
