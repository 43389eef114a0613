"""The API's answers, parsed once into small typed objects the renderer shows (`--json` prints the answers as-is).

Parsing is lenient: a missing or oddly typed field becomes None (or 0 for a count), never an exception, so a
newer API with more fields, or an older one with fewer, still renders. Display fields keep the API's text.
"""
from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from typing import Any

Json = Mapping[str, Any]


def mapping(value: Any) -> Json:
    """`value` if it is a JSON object, else an empty one."""
    return value if isinstance(value, Mapping) else {}


def objects(value: Any) -> list[Json]:
    """The JSON objects of a list (anything else in it is left out)."""
    return [item for item in value or [] if isinstance(item, Mapping)] if isinstance(value, list) else []


def opt_str(value: Any) -> str | None:
    return None if value is None else str(value)


def as_int(value: Any) -> int:
    """A count: 0 when missing or not a number."""
    try:
        return int(value)
    except (TypeError, ValueError):
        return 0


def opt_int(value: Any) -> int | None:
    return None if value is None or isinstance(value, bool) or not str(value).lstrip("-").isdigit() else int(value)


@dataclass(frozen=True)
class Cost:
    """What a decision or a batch costs: MTurk's reward plus its fee."""

    total: str | None = None
    reward: str | None = None
    fee: str | None = None

    @classmethod
    def parse(cls, value: Any) -> Cost | None:
        """None when the answer has no cost (missing, null, empty or not an object)."""
        if not value or not isinstance(value, Mapping):
            return None
        return cls(opt_str(value.get("total")), opt_str(value.get("reward")), opt_str(value.get("fee")))


@dataclass(frozen=True)
class Notification:
    """The e-mail to the worker after a decision (MTurk NotifyWorkers): sent, or why not."""

    status: str
    subject: str | None
    failures: tuple[tuple[str | None, str | None], ...]

    @property
    def sent(self) -> bool:
        return self.status.upper() == "SENT"

    @classmethod
    def parse(cls, value: Any) -> Notification | None:
        if not isinstance(value, Mapping):
            return None
        failures = tuple((opt_str(f.get("code")), opt_str(f.get("message"))) for f in objects(value.get("failures")))
        return cls(str(value.get("status", "")), opt_str(value.get("subject")), failures)


@dataclass(frozen=True)
class Decision:
    """One audit record: a reject, reverse or approve, its state and who decided it."""

    assignment_id: str | None = None
    worker_id: str | None = None
    hit_id: str | None = None
    decision_id: str | None = None
    action: str | None = None
    state: str | None = None
    previous_status: str | None = None
    feedback: str | None = None
    reason: str | None = None
    actor: str | None = None
    source: str | None = None
    error_code: str | None = None
    created_at: str | None = None
    finalized_at: str | None = None
    notification: Notification | None = None

    @classmethod
    def parse(cls, value: Any) -> Decision:
        d = mapping(value)
        return cls(
            assignment_id=opt_str(d.get("assignmentId")), worker_id=opt_str(d.get("workerId")),
            hit_id=opt_str(d.get("hitId")), decision_id=opt_str(d.get("decisionId")), action=opt_str(d.get("action")),
            state=opt_str(d.get("state")), previous_status=opt_str(d.get("previousStatus")),
            feedback=opt_str(d.get("feedback")), reason=opt_str(d.get("reason")), actor=opt_str(d.get("actor")),
            source=opt_str(d.get("source")), error_code=opt_str(d.get("errorCode")),
            created_at=opt_str(d.get("createdAt")), finalized_at=opt_str(d.get("finalizedAt")),
            notification=Notification.parse(d.get("notification")))

    def value(self, column: str) -> str | None:
        """A table column (named by its JSON key) of this decision."""
        return {"assignmentId": self.assignment_id, "workerId": self.worker_id, "hitId": self.hit_id,
                "decisionId": self.decision_id, "action": self.action, "state": self.state,
                "previousStatus": self.previous_status, "feedback": self.feedback, "reason": self.reason,
                "actor": self.actor, "source": self.source, "errorCode": self.error_code,
                "createdAt": self.created_at, "finalizedAt": self.finalized_at}.get(column)


@dataclass(frozen=True)
class AssignmentView:
    """MTurk's current view of an assignment (GET /assignments/ID, or after a decision)."""

    assignment_id: str | None = None
    status: str | None = None
    previous_status: str | None = None
    worker_id: str | None = None
    hit_id: str | None = None
    hit_title: str | None = None
    hit_status: str | None = None
    reward: str | None = None
    submitted_at: str | None = None
    approved_at: str | None = None
    rejected_at: str | None = None
    requester_feedback: str | None = None
    reversal_deadline: str | None = None
    #: None when the answer does not say.
    reversible: bool | None = None

    @classmethod
    def parse(cls, value: Any) -> AssignmentView:
        v = mapping(value)
        return cls(
            assignment_id=opt_str(v.get("assignmentId")), status=opt_str(v.get("status")),
            previous_status=opt_str(v.get("previousStatus")), worker_id=opt_str(v.get("workerId")),
            hit_id=opt_str(v.get("hitId")), hit_title=opt_str(v.get("hitTitle")),
            hit_status=opt_str(v.get("hitStatus")), reward=opt_str(v.get("reward")),
            submitted_at=opt_str(v.get("submittedAt")), approved_at=opt_str(v.get("approvedAt")),
            rejected_at=opt_str(v.get("rejectedAt")), requester_feedback=opt_str(v.get("requesterFeedback")),
            reversal_deadline=opt_str(v.get("reversalDeadline")),
            reversible=bool(v.get("reversible")) if "reversible" in v else None)


@dataclass(frozen=True)
class Schedule:
    """An automatic reversal: provisional, scheduled or funds retry (`scheduledReversal`)."""

    assignment_id: str | None = None
    hit_id: str | None = None
    worker_id: str | None = None
    kind: str | None = None
    state: str | None = None
    due_at: str | None = None
    deadline: str | None = None
    attempts: int | None = None
    last_error: str | None = None
    reason: str | None = None
    decision_id: str | None = None

    @property
    def pending(self) -> bool:
        return (self.state or "").upper() == "PENDING"

    @classmethod
    def parse(cls, value: Any) -> Schedule:
        s = mapping(value)
        return cls(
            assignment_id=opt_str(s.get("assignmentId")), hit_id=opt_str(s.get("hitId")),
            worker_id=opt_str(s.get("workerId")), kind=opt_str(s.get("kind")), state=opt_str(s.get("state")),
            due_at=opt_str(s.get("dueAt")), deadline=opt_str(s.get("deadline")), attempts=opt_int(s.get("attempts")),
            last_error=opt_str(s.get("lastError")), reason=opt_str(s.get("reason")),
            decision_id=opt_str(s.get("decisionId")))

    @classmethod
    def of(cls, answer: Any) -> Schedule | None:
        """The answer's `scheduledReversal`, or None when it has none."""
        value = mapping(answer).get("scheduledReversal")
        return cls.parse(value) if isinstance(value, Mapping) else None


@dataclass(frozen=True)
class DecisionAnswer:
    """The answer to reject / reverse / approve: the decision and the assignment after it (or, for `reverse
    --at`, only the reversal scheduled)."""

    decided: bool
    decision: Decision
    assignment: AssignmentView
    cost: Cost | None
    notification: Notification | None
    schedule: Schedule | None
    warning: str | None

    @classmethod
    def parse(cls, value: Any) -> DecisionAnswer:
        body = mapping(value)
        return cls("decision" in body, Decision.parse(body.get("decision")),
                   AssignmentView.parse(body.get("assignment")), Cost.parse(body.get("cost")),
                   Notification.parse(body.get("notification")), Schedule.of(body),
                   str(body["warning"]) if body.get("warning") else None)


@dataclass(frozen=True)
class SinglePlan:
    """The dry run of a single decision: what would happen, its cost, the checks that passed."""

    action: str
    assignment_id: str
    current_status: str
    resulting_status: str
    worker_id: str | None = None
    hit_id: str | None = None
    feedback: str | None = None
    reason: str | None = None
    cost: Cost | None = None
    balance: str | None = None
    balance_after: str | None = None
    reversal_deadline: str | None = None
    checks_passed: tuple[str, ...] = ()

    @classmethod
    def parse(cls, value: Any) -> SinglePlan:
        p = mapping(mapping(value).get("plan"))
        checks = p.get("checksPassed")
        return cls(
            action=str(p.get("action", "?")), assignment_id=str(p.get("assignmentId", "?")),
            current_status=str(p.get("currentStatus", "?")), resulting_status=str(p.get("resultingStatus", "?")),
            worker_id=opt_str(p.get("workerId")), hit_id=opt_str(p.get("hitId")), feedback=opt_str(p.get("feedback")),
            reason=opt_str(p.get("reason")), cost=Cost.parse(p.get("cost")), balance=opt_str(p.get("balance")),
            balance_after=opt_str(p.get("balanceAfter")),
            reversal_deadline=opt_str(p.get("reversalDeadline")) if p.get("reversalDeadline") else None,
            checks_passed=tuple(map(str, checks)) if checks and isinstance(checks, Iterable) else ())


@dataclass(frozen=True)
class AssignmentDetails:
    """GET /assignments/ID: MTurk's view, the decision history (newest first), a pending automatic reversal."""

    view: AssignmentView
    history: list[Decision]
    schedule: Schedule | None

    @classmethod
    def parse(cls, value: Any) -> AssignmentDetails:
        body = mapping(value)
        return cls(AssignmentView.parse(body.get("assignment")), [Decision.parse(d) for d in objects(body.get("history"))],
                   Schedule.of(body))


@dataclass(frozen=True)
class Problem:
    """A line of an INVALID_BATCH / INVALID_REQUEST error: which line or field, and what is wrong."""

    has_line: bool
    line: Any
    assignment_id: str | None
    field: str | None
    message: str | None

    @classmethod
    def parse(cls, value: Any) -> Problem:
        if not isinstance(value, Mapping):
            return cls(False, None, None, None, str(value))
        return cls("line" in value, value.get("line"), opt_str(value.get("assignmentId")) or None,
                   opt_str(value.get("field")), opt_str(value.get("message")))


@dataclass(frozen=True)
class Skip:
    """A row of a batch nobody will decide, and why."""

    line: Any
    why: str

    @classmethod
    def parse(cls, value: Json) -> Skip:
        return cls(value.get("line"), str(value.get("reason") or value.get("message") or "-"))


@dataclass(frozen=True)
class BatchItem:
    """One item of a batch or of its plan: a row of the CSV (or a worker of the HIT) and its outcome."""

    line: Any = None
    assignment_id: str | None = None
    worker_id: str | None = None
    action: str | None = None
    outcome: str | None = None
    status: str | None = None
    code: str | None = None
    message: str | None = None
    decision_id: str | None = None
    current_status: str | None = None

    @classmethod
    def parse(cls, value: Json) -> BatchItem:
        return cls(
            line=value.get("line"), assignment_id=opt_str(value.get("assignmentId")),
            worker_id=opt_str(value.get("workerId")), action=opt_str(value.get("action")),
            outcome=opt_str(value.get("outcome")), status=opt_str(value.get("status")), code=opt_str(value.get("code")),
            message=opt_str(value.get("message")), decision_id=opt_str(value.get("decisionId")),
            current_status=opt_str(value.get("currentStatus")))

    @property
    def skipped(self) -> bool:
        return self.outcome in ("skip", "skipped")


_OUTCOMES = ("reject", "reverse", "approve", "refused")


@dataclass(frozen=True)
class BatchPlan:
    """The dry run of a batch: counts by outcome, cost against the balance, the refused and skipped items."""

    counts: dict[str, int]
    cost: Cost | None
    balance: str | None
    balance_after: str | None
    sufficient_funds: bool | None
    refused: list[BatchItem]
    skipped: list[Skip]

    @property
    def actionable(self) -> int:
        """The decisions the batch would apply."""
        return sum(self.counts[outcome] for outcome in ("reject", "reverse", "approve"))

    @classmethod
    def parse(cls, value: Any) -> BatchPlan:
        plan = mapping(mapping(value).get("plan"))
        raw_items = objects(plan.get("items"))
        items = [BatchItem.parse(i) for i in raw_items]
        totals = mapping(plan.get("totals"))
        counts = {o: as_int(totals[o]) if o in totals else sum(1 for i in items if i.outcome == o) for o in _OUTCOMES}
        counts["skipped"] = as_int(totals["skipped"]) if "skipped" in totals else sum(1 for i in items if i.skipped)
        sufficient = totals.get("sufficientFunds")
        return cls(counts, Cost.parse(totals.get("cost")), opt_str(totals.get("balance")),
                   opt_str(totals.get("balanceAfter")), None if sufficient is None else bool(sufficient),
                   [i for i in items if i.outcome == "refused"],
                   [Skip.parse(raw) for raw, item in zip(raw_items, items, strict=True) if item.skipped])


@dataclass(frozen=True)
class BatchAccepted:
    """The answer to a batch submission (202): its id, how many items were queued, the rows skipped."""

    batch_id: str | None
    status: str
    queued: int
    queued_label: str
    skipped_label: str
    skipped_rows: list[Skip]

    @classmethod
    def parse(cls, value: Any) -> BatchAccepted:
        body = mapping(value)
        return cls(opt_str(body.get("batchId")) if body.get("batchId") else None, str(body.get("status", "QUEUED")),
                   as_int(body.get("queued", body.get("total"))), str(body.get("queued", body.get("total", "?"))),
                   str(body.get("skipped", 0)), [Skip.parse(r) for r in objects(body.get("skippedRows"))])


_COUNT_KEYS = ("queued", "succeeded", "failed", "refused", "skipped")


@dataclass(frozen=True)
class BatchStatus:
    """GET /batches/ID: where a batch is, its counts by item status, and (a page of) its items."""

    batch_id: str | None
    status: str | None
    total: int | None
    done: int | None
    progress: float | None
    created_at: str | None
    actor: str | None
    source: str | None
    counts: dict[str, int] = field(default_factory=dict)
    items: list[BatchItem] = field(default_factory=list)
    next_cursor: str | None = None

    @property
    def state(self) -> str:
        """The status in capitals ("?" when the answer has none)."""
        return str(self.status or "?").upper()

    def count(self, key: str) -> int:
        return self.counts.get(key, 0)

    @classmethod
    def parse(cls, value: Any) -> BatchStatus:
        body = mapping(value)
        progress = body.get("progress")
        counts = mapping(body.get("counts"))
        return cls(
            batch_id=opt_str(body.get("batchId")), status=opt_str(body.get("status")), total=opt_int(body.get("total")),
            done=opt_int(body.get("done")), progress=float(progress) if isinstance(progress, (int, float)) else None,
            created_at=opt_str(body.get("createdAt")) if body.get("createdAt") else None,
            actor=opt_str(body.get("actor")) if body.get("actor") else None,
            source=opt_str(body.get("source")) if body.get("source") else None,
            counts={str(k): as_int(v) for k, v in counts.items()},
            items=[BatchItem.parse(i) for i in objects(body.get("items"))],
            next_cursor=opt_str(body.get("nextCursor")) if body.get("nextCursor") else None)
