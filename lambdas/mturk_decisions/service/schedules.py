"""Reversals without a person at the keyboard: provisional rejections, scheduled reversals, funds retries.

Every automatic reversal goes through the same DecisionService (same pre-checks, same lease and audit,
source `schedule`) and always before MTurk's 30-day window closes: due times are clamped to the deadline
less a safety margin, and reversals still waiting near their deadline are counted for the alarm.

Sweeps run in parallel with each other and with the requester: a sweep claims an item (PENDING → RUNNING)
before it acts, and confirm / cancel succeed only from PENDING, so exactly one of them wins.
"""
from __future__ import annotations

import uuid
from collections.abc import Callable
from dataclasses import dataclass, field, replace
from datetime import datetime, timedelta
from typing import Any

from mturk_decisions.domain import rules
from mturk_decisions.domain.errors import (
    AuditUnavailable,
    DecisionError,
    DecisionInProgress,
    InsufficientFunds,
    MTurkCredentialsInvalid,
    MTurkFault,
    MTurkThrottled,
    ReversalWindowClosed,
    ReversalWindowClosing,
    ScheduleNotFound,
    ScheduleNotPending,
    WrongAssignmentState,
)
from mturk_decisions.domain.model import Action, AssignmentView, DecisionRequest, DecisionState, Source
from mturk_decisions.domain.schedule import PENDING, ScheduledReversal, SchedulePage, ScheduleQuery
from mturk_decisions.service.decisions import LEASE_DURATION, DecisionOutcome, DecisionService, utc_now
from mturk_decisions.service.ports import ScheduleStore

__all__ = ["ReversalScheduler", "ReversalWindowClosing", "ScheduleNotFound", "SweepReport"]

SAFETY_MARGIN = timedelta(hours=6)
LAST_TRY_BEFORE_DEADLINE = timedelta(minutes=30)
#: A claim outlives any sweep invocation, like a decision lease.
CLAIM_DURATION = LEASE_DURATION
TRANSIENT = (MTurkThrottled, MTurkFault, AuditUnavailable, MTurkCredentialsInvalid, DecisionInProgress)


@dataclass
class SweepReport:
    reversed: list[str] = field(default_factory=list)
    rescheduled: list[str] = field(default_factory=list)
    failed: list[str] = field(default_factory=list)
    #: Due items another sweep (or the requester) holds: left alone.
    skipped: list[str] = field(default_factory=list)
    near_deadline: int = 0


class ReversalScheduler:
    def __init__(
        self,
        decisions: DecisionService,
        store: ScheduleStore,
        clock: Callable[[], datetime] = utc_now,
        on_schedule_failed: Callable[[ScheduledReversal, DecisionError], None] = lambda schedule, error: None,
        margin: timedelta = SAFETY_MARGIN,
        retry_after: timedelta = timedelta(minutes=5),
        funds_backoff: timedelta = timedelta(minutes=15),
        funds_backoff_cap: timedelta = timedelta(hours=6),
        new_owner: Callable[[], str] = lambda: uuid.uuid4().hex,
    ) -> None:
        self._decisions, self._store, self._clock = decisions, store, clock
        self._on_failed, self._new_owner = on_schedule_failed, new_owner
        self._margin, self._retry_after = margin, retry_after
        self._funds_backoff, self._funds_cap = funds_backoff, funds_backoff_cap

    # ----- requested through the API -----

    def reject_provisionally(self, request: DecisionRequest, grace: timedelta) -> tuple[DecisionOutcome, ScheduledReversal]:
        """Reject now; reverse automatically when the grace period ends unless confirmed first.

        The schedule is written before MTurk is called, so no rejection can exist without its reversal; it is
        removed only when MTurk surely did not apply the rejection (an unknown outcome keeps it)."""
        plan = self._decisions.plan(request)
        decision_id = self._decisions.new_decision_id()
        schedule = self.provisional(plan.assignment, grace, request.actor, rejection_decision_id=decision_id)
        try:
            outcome = self._decisions.apply(plan, decision_id)
        except DecisionError as failure:
            if failure.details.get("auditState") != DecisionState.PENDING.value:
                self._store.transition(schedule, replace(schedule, state="CANCELLED",
                                                         last_error=f"the rejection failed: {failure.code}"))
            raise
        return outcome, schedule

    def provisional(self, view: AssignmentView, grace: timedelta, actor: str, since: datetime | None = None,
                    rejection_decision_id: str | None = None) -> ScheduledReversal:
        """A reversal due when the grace period ends, unless the rejection is confirmed first. Idempotent
        per rejection: a second call for the same rejection returns the stored schedule."""
        deadline = rules.reversal_deadline(view) or self._clock() + rules.REVERSAL_WINDOW
        due = self._due((since or self._clock()) + grace, deadline)
        schedule = ScheduledReversal(view.assignment_id, "provisional", due, deadline, created_at=self._clock(),
                                     actor=actor, reason=f"provisional rejection not confirmed within {grace}",
                                     rejection_decision_id=rejection_decision_id, **_whose(view))
        if self._store.create(schedule):
            return schedule
        return self._store.get(view.assignment_id) or schedule

    def schedule_reversal(self, request: DecisionRequest, at: datetime) -> ScheduledReversal:
        plan = self._decisions.plan(request)  # state, window, HIT and funds as of now; funds again at due time
        deadline = rules.reversal_deadline(plan.assignment)
        if deadline is not None and at > deadline - self._margin:
            raise ReversalWindowClosing(
                f"{rules.iso(at)} is too close to the reversal deadline {rules.iso(deadline)}: automatic reversals "
                f"must be due at least {_hours(self._margin)} before it, at {rules.iso(deadline - self._margin)} or "
                "earlier. Choose an earlier time, or reverse now.", deadline=rules.iso(deadline),
                latestAt=rules.iso(deadline - self._margin))
        schedule = ScheduledReversal(request.assignment_id, "scheduled", max(at, self._clock()),
                                     deadline or at + self._margin, created_at=self._clock(), actor=request.actor,
                                     reason=request.reason, feedback=request.feedback, **_whose(plan.assignment))
        self._store.create(schedule)
        return schedule

    def retry_for_funds(self, view: AssignmentView, request: DecisionRequest) -> ScheduledReversal | None:
        """A reversal refused for funds is retried on a schedule, with backoff, until its window closes."""
        deadline = rules.reversal_deadline(view)
        if deadline is None or self._clock() >= deadline - self._margin:
            return None
        schedule = ScheduledReversal(view.assignment_id, "funds-retry", self._due(self._clock() + self._funds_backoff,
                                     deadline), deadline, created_at=self._clock(), actor=request.actor,
                                     reason=request.reason, feedback=request.feedback, attempts=1,
                                     last_error=InsufficientFunds.code, **_whose(view))
        self._store.create(schedule)
        return schedule

    def confirm(self, assignment_id: str) -> ScheduledReversal:
        """The rejection stands: the automatic reversal will not run (any kind, only while PENDING)."""
        return self._settle_pending(assignment_id, "CONFIRMED")

    def cancel(self, assignment_id: str) -> ScheduledReversal:
        return self._settle_pending(assignment_id, "CANCELLED")

    def get(self, assignment_id: str) -> ScheduledReversal | None:
        return self._store.get(assignment_id)

    def listing(self, query: ScheduleQuery) -> SchedulePage:
        """Automatic reversals by due time, earliest first (GET /scheduled-reversals)."""
        return self._store.listing(query)

    def _settle_pending(self, assignment_id: str, state: str) -> ScheduledReversal:
        schedule = self._store.get(assignment_id)
        if schedule is None:
            raise ScheduleNotFound(f"Assignment {assignment_id} has no automatic reversal to act on.")
        if schedule.state == PENDING:
            settled = replace(schedule, state=state)
            if self._store.transition(schedule, settled):
                return settled
            schedule = self._store.get(assignment_id) or schedule
        raise ScheduleNotPending(
            f"The automatic reversal of assignment {assignment_id} is {schedule.state}, not PENDING: "
            + _NOT_PENDING_HINTS.get(schedule.state, "it can no longer be confirmed or cancelled."),
            state=schedule.state, scheduledReversal=schedule.to_json())

    # ----- the sweep (every minute) -----

    def sweep(self, limit: int = 100) -> SweepReport:
        report, owner = SweepReport(), self._new_owner()
        for schedule in self._store.due(self._clock(), limit=limit):
            now = self._clock()
            claimed = self._store.claim(schedule, owner, now + CLAIM_DURATION, now)
            if claimed is None:
                report.skipped.append(schedule.assignment_id)
                continue
            self._run(claimed, report)
        report.near_deadline = len(self._store.closing_before(self._clock() + timedelta(hours=48)))
        return report

    def _run(self, schedule: ScheduledReversal, report: SweepReport) -> None:
        request = DecisionRequest(assignment_id=schedule.assignment_id, action=Action.REVERSE,
                                  feedback=schedule.feedback, reason=schedule.reason or f"{schedule.kind} reversal",
                                  actor=f"schedule:{schedule.kind} (requested by {schedule.actor})",
                                  source=Source.SCHEDULE)
        try:
            outcome = self._decisions.decide(request)
        except InsufficientFunds as error:
            self._later(schedule, error, self._funds_delay(schedule.attempts), report)
        except TRANSIENT as error:
            self._later(schedule, error, self._retry_after, report)
        except WrongAssignmentState as error:
            self._not_rejected(schedule, error, report)
        except ReversalWindowClosed as error:
            self._fail(schedule, error, report, state="EXPIRED")
        except DecisionError as error:
            self._fail(schedule, error, report)
        else:
            self._store.transition(schedule, replace(schedule, state="DONE", decision_id=outcome.record.decision_id,
                                                     attempts=schedule.attempts + 1))
            report.reversed.append(schedule.assignment_id)

    def _not_rejected(self, schedule: ScheduledReversal, error: WrongAssignmentState, report: SweepReport) -> None:
        status = error.details.get("currentStatus")
        if status == "Approved":
            self._store.transition(schedule, replace(schedule, state="DONE", last_error="already approved by someone else"))
            report.reversed.append(schedule.assignment_id)
        elif status == "Submitted":
            self._store.transition(schedule, replace(schedule, state="CANCELLED",
                                                     last_error="the rejection it would reverse was never applied"))
            report.failed.append(schedule.assignment_id)
        else:
            self._fail(schedule, error, report)

    def _later(self, schedule: ScheduledReversal, error: DecisionError, delay: timedelta, report: SweepReport) -> None:
        """Try again later (back to PENDING, so it stays confirmable) — while MTurk still allows it."""
        now = self._clock()
        due = min(now + delay, schedule.deadline - LAST_TRY_BEFORE_DEADLINE)
        if due <= now:
            closing = ReversalWindowClosed(f"{error.message} The reversal window closes at "
                                           f"{rules.iso(schedule.deadline)}; giving up.",
                                           deadline=rules.iso(schedule.deadline))
            self._fail(schedule, closing, report, state="EXPIRED")
            return
        self._store.transition(schedule, replace(schedule, state=PENDING, due_at=due, attempts=schedule.attempts + 1,
                                                 last_error=error.code))
        report.rescheduled.append(schedule.assignment_id)

    def _fail(self, schedule: ScheduledReversal, error: DecisionError, report: SweepReport,
              state: str = "FAILED") -> None:
        self._store.transition(schedule, replace(schedule, state=state, last_error=f"{error.code}: {error.message}"[:500],
                                                 attempts=schedule.attempts + 1))
        report.failed.append(schedule.assignment_id)
        self._on_failed(schedule, error)

    def _funds_delay(self, attempts: int) -> timedelta:
        return min(self._funds_cap, self._funds_backoff * (1 << min(max(0, attempts - 1), 16)))

    def _due(self, wanted: datetime, deadline: datetime) -> datetime:
        latest = deadline - self._margin
        if latest <= self._clock():
            raise ReversalWindowClosing(
                f"The reversal window closes at {rules.iso(deadline)}, too soon to schedule an automatic reversal "
                "safely. Decide now instead.", deadline=rules.iso(deadline))
        return min(wanted, latest)


_NOT_PENDING_HINTS = {
    "RUNNING": "it is being reversed right now; check GET /assignments/{id} in a few seconds.",
    "DONE": "the rejection has already been reversed.",
    "EXPIRED": "the reversal window closed before it could run.",
    "CONFIRMED": "the rejection was already confirmed.",
    "CANCELLED": "it was already cancelled.",
    "FAILED": "it failed; see lastError.",
}


def _whose(view: AssignmentView) -> dict[str, Any]:
    """The HIT and worker a schedule is listed with."""
    return {"hit_id": view.hit_id or None, "worker_id": view.worker_id or None}


def _hours(delta: timedelta) -> str:
    return f"{delta.total_seconds() / 3600:g} hours"
