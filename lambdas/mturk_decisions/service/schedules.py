"""Reversals without a person at the keyboard: provisional rejections, scheduled reversals, funds retries.

Every automatic reversal goes through the same DecisionService (same pre-checks, same audit, source
`schedule`) and always before MTurk's 30-day window closes: due times are clamped to the deadline
less a safety margin, and reversals still waiting near their deadline are counted for the alarm.
"""
from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import datetime, timedelta

from mturk_decisions.domain.schedule import PENDING, ScheduledReversal, parse_duration  # noqa: F401
from mturk_decisions.domain import rules
from mturk_decisions.domain.errors import (
    AuditUnavailable,
    DecisionError,
    InsufficientFunds,
    MTurkCredentialsInvalid,
    MTurkFault,
    MTurkThrottled,
    ReversalWindowClosed,
    WrongAssignmentState,
)
from mturk_decisions.domain.model import Action, AssignmentView, DecisionRequest, Source
from mturk_decisions.service.decisions import DecisionOutcome, DecisionService, utc_now
from mturk_decisions.service.ports import ScheduleStore

SAFETY_MARGIN = timedelta(hours=6)
LAST_TRY_BEFORE_DEADLINE = timedelta(minutes=30)
TRANSIENT = (MTurkThrottled, MTurkFault, AuditUnavailable, MTurkCredentialsInvalid)


class ScheduleNotFound(DecisionError):
    code = "SCHEDULE_NOT_FOUND"
    status = 404


class ReversalWindowClosing(DecisionError):
    code = "REVERSAL_WINDOW_CLOSING"
    status = 409


@dataclass
class SweepReport:
    reversed: list[str] = field(default_factory=list)
    rescheduled: list[str] = field(default_factory=list)
    failed: list[str] = field(default_factory=list)
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
    ) -> None:
        self._decisions, self._store, self._clock = decisions, store, clock
        self._on_failed = on_schedule_failed
        self._margin, self._retry_after = margin, retry_after
        self._funds_backoff, self._funds_cap = funds_backoff, funds_backoff_cap

    # ----- requested through the API -----

    def reject_provisionally(self, request: DecisionRequest, grace: timedelta) -> tuple[DecisionOutcome, ScheduledReversal]:
        """Reject now; reverse automatically when the grace period ends unless confirmed first.

        The schedule is written before MTurk is called, so no rejection can exist without its reversal."""
        plan = self._decisions.plan(request)
        schedule = self.provisional(plan.assignment, grace, request.actor)
        try:
            outcome = self._decisions.apply(plan)
        except DecisionError as failure:
            self._store.settle(schedule, "CANCELLED", last_error=f"the rejection failed: {failure.code}")
            raise
        return outcome, schedule

    def provisional(self, view: AssignmentView, grace: timedelta, actor: str, since: datetime | None = None
                    ) -> ScheduledReversal:
        """A reversal due when the grace period ends, unless the rejection is confirmed first."""
        deadline = rules.reversal_deadline(view) or self._clock() + rules.REVERSAL_WINDOW
        due = self._due((since or self._clock()) + grace, deadline)
        schedule = ScheduledReversal(view.assignment_id, "provisional", due, deadline, created_at=self._clock(),
                                     actor=actor, reason=f"provisional rejection not confirmed within {grace}")
        self._store.put(schedule)
        return schedule

    def schedule_reversal(self, request: DecisionRequest, at: datetime) -> ScheduledReversal:
        plan = self._decisions.plan(request)  # state, window, HIT and funds as of now; funds again at due time
        deadline = rules.reversal_deadline(plan.assignment) or at
        if at >= deadline:
            raise ReversalWindowClosing(
                f"{rules.iso(at)} is after the reversal deadline {rules.iso(deadline)}: MTurk would refuse it then. "
                "Choose an earlier time.", deadline=rules.iso(deadline))
        schedule = ScheduledReversal(request.assignment_id, "scheduled", max(at, self._clock()), deadline,
                                     created_at=self._clock(), actor=request.actor, reason=request.reason,
                                     feedback=request.feedback)
        self._store.put(schedule)
        return schedule

    def retry_for_funds(self, view: AssignmentView, request: DecisionRequest) -> ScheduledReversal | None:
        """A reversal refused for funds is retried on a schedule, with backoff, until its window closes."""
        deadline = rules.reversal_deadline(view)
        if deadline is None or self._clock() >= deadline - self._margin:
            return None
        schedule = ScheduledReversal(view.assignment_id, "funds-retry", self._due(self._clock() + self._funds_backoff,
                                     deadline), deadline, created_at=self._clock(), actor=request.actor,
                                     reason=request.reason, feedback=request.feedback, attempts=1,
                                     last_error=InsufficientFunds.code)
        self._store.put(schedule)
        return schedule

    def confirm(self, assignment_id: str) -> ScheduledReversal:
        schedule = self._pending(assignment_id, kinds=("provisional",))
        self._store.settle(schedule, "CONFIRMED")
        return self._store.get(assignment_id)

    def cancel(self, assignment_id: str) -> ScheduledReversal:
        schedule = self._pending(assignment_id)
        self._store.settle(schedule, "CANCELLED")
        return self._store.get(assignment_id)

    def get(self, assignment_id: str) -> ScheduledReversal | None:
        return self._store.get(assignment_id)

    # ----- the sweep (every minute) -----

    def sweep(self, limit: int = 100) -> SweepReport:
        report = SweepReport()
        now = self._clock()
        for schedule in self._store.due(now, limit=limit):
            self._run(schedule, report)
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
            self._later(schedule, error, self._funds_delay(schedule.attempts), report, kind="funds-retry")
        except TRANSIENT as error:
            self._later(schedule, error, self._retry_after, report)
        except WrongAssignmentState as error:
            if error.details.get("currentStatus") == "Approved":
                self._store.settle(schedule, "DONE", last_error="already approved by someone else")
                report.reversed.append(schedule.assignment_id)
            else:
                self._fail(schedule, error, report)
        except ReversalWindowClosed as error:
            self._fail(schedule, error, report, state="EXPIRED")
        except DecisionError as error:
            self._fail(schedule, error, report)
        else:
            self._store.settle(schedule, "DONE", decision_id=outcome.record.decision_id, attempts=schedule.attempts + 1)
            report.reversed.append(schedule.assignment_id)

    def _later(self, schedule: ScheduledReversal, error: DecisionError, delay: timedelta, report: SweepReport,
               kind: str | None = None) -> None:
        """Try again later — but only while MTurk still allows the reversal."""
        now = self._clock()
        due = min(now + delay, schedule.deadline - LAST_TRY_BEFORE_DEADLINE)
        if due <= now:
            closing = ReversalWindowClosed(f"{error.message} The reversal window closes at "
                                           f"{rules.iso(schedule.deadline)}; giving up.",
                                           deadline=rules.iso(schedule.deadline))
            self._fail(schedule, closing, report, state="EXPIRED")
            return
        self._store.reschedule(schedule, due, kind=kind or schedule.kind, attempts=schedule.attempts + 1,
                               last_error=error.code)
        report.rescheduled.append(schedule.assignment_id)

    def _fail(self, schedule: ScheduledReversal, error: DecisionError, report: SweepReport, state: str = "FAILED"):
        self._store.settle(schedule, state, last_error=f"{error.code}: {error.message}"[:500],
                           attempts=schedule.attempts + 1)
        report.failed.append(schedule.assignment_id)
        self._on_failed(schedule, error)

    def _funds_delay(self, attempts: int) -> timedelta:
        return min(self._funds_cap, self._funds_backoff * (2 ** min(max(0, attempts - 1), 16)))

    def _due(self, wanted: datetime, deadline: datetime) -> datetime:
        latest = deadline - self._margin
        if latest <= self._clock():
            raise ReversalWindowClosing(
                f"The reversal window closes at {rules.iso(deadline)}, too soon to schedule an automatic reversal "
                "safely. Decide now instead.", deadline=rules.iso(deadline))
        return min(wanted, latest)

    def _pending(self, assignment_id: str, kinds: tuple[str, ...] | None = None) -> ScheduledReversal:
        schedule = self._store.get(assignment_id)
        if schedule is None or schedule.state != PENDING or (kinds and schedule.kind not in kinds):
            what = "provisional rejection" if kinds == ("provisional",) else "pending automatic reversal"
            raise ScheduleNotFound(f"Assignment {assignment_id} has no {what} to act on.",
                                   state=schedule.state if schedule else None)
        return schedule
