"""A pending automatic reversal: provisional rejection, scheduled reversal or funds retry."""
from __future__ import annotations

import re
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from mturk_decisions.domain.errors import InvalidRequest
from mturk_decisions.domain.rules import iso

PENDING = "PENDING"
#: Claimed by a sweep that is reversing it now; confirm and cancel are refused until it is final.
RUNNING = "RUNNING"
ACTIVE_STATES = (PENDING, RUNNING)
#: Every state of an automatic reversal, and every kind.
STATES = (PENDING, RUNNING, "DONE", "CANCELLED", "CONFIRMED", "FAILED", "EXPIRED")
KINDS = ("provisional", "scheduled", "funds-retry")
#: Longest automatic-reversal delay: MTurk's whole reversal window.
MAX_DURATION = timedelta(days=30)
_DURATION = re.compile(r"P(?:(?P<days>[0-9]{1,12})D)?(?:T(?:(?P<hours>[0-9]{1,12})H)?(?:(?P<minutes>[0-9]{1,12})M)?(?:(?P<seconds>[0-9]{1,12})S)?)?")


@dataclass(frozen=True)
class ScheduledReversal:
    assignment_id: str
    kind: str  # provisional | scheduled | funds-retry
    due_at: datetime
    deadline: datetime
    state: str = PENDING  # PENDING | RUNNING | DONE | CANCELLED | CONFIRMED | FAILED | EXPIRED
    created_at: datetime | None = None
    actor: str = "unknown"
    reason: str | None = None
    feedback: str | None = None
    attempts: int = 0
    last_error: str | None = None
    decision_id: str | None = None
    #: The rejection a provisional reversal belongs to (its decision id): a redelivered notification or a
    #: retried request finds its own schedule, and a failed rejection cancels only its own.
    rejection_decision_id: str | None = None
    claimed_by: str | None = None
    claimed_until: datetime | None = None
    #: The assignment's HIT and worker, stored since GET /scheduled-reversals lists them (older items: None).
    hit_id: str | None = None
    worker_id: str | None = None

    def to_json(self) -> dict[str, Any]:
        body = {
            "assignmentId": self.assignment_id, "kind": self.kind, "state": self.state, "dueAt": iso(self.due_at),
            "deadline": iso(self.deadline), "createdAt": iso(self.created_at), "actor": self.actor,
            "reason": self.reason, "attempts": self.attempts, "lastError": self.last_error,
            "decisionId": self.decision_id, "rejectionDecisionId": self.rejection_decision_id,
            "hitId": self.hit_id, "workerId": self.worker_id,
        }
        return {k: v for k, v in body.items() if v is not None}

    def listing_json(self) -> dict[str, Any]:
        """One item of GET /scheduled-reversals: every listed field present, null when unknown."""
        listed = ("assignmentId", "hitId", "workerId", "kind", "state", "dueAt", "deadline", "createdAt", "actor",
                  "reason", "attempts", "lastError")
        body = self.to_json()
        return {**{name: body.get(name) for name in listed}, **body}


@dataclass(frozen=True)
class ScheduleQuery:
    """GET /scheduled-reversals: which automatic reversals, by due time (earliest first)."""

    states: tuple[str, ...] = ACTIVE_STATES
    hit_id: str | None = None
    kind: str | None = None
    #: Only those due strictly before this moment.
    due_before: datetime | None = None
    limit: int = 25
    cursor: str | None = None


@dataclass(frozen=True)
class SchedulePage:
    schedules: list[ScheduledReversal]
    cursor: str | None




def parse_duration(value: str | int, field: str = "provisionalFor") -> timedelta:
    """ISO 8601 durations (`PT48H`, `P2DT12H`, `PT90S`) or plain seconds, at most 30 days."""
    if isinstance(value, int) or (isinstance(value, str) and value.isascii() and value.isdigit() and len(value) <= 12):
        seconds = int(value)
    else:
        match = _DURATION.fullmatch(value or "") if isinstance(value, str) else None
        if not match or value in ("P", "PT") or value.endswith("T"):
            raise InvalidRequest(f"{field} must be an ISO 8601 duration like PT48H or P3D, not {value!r}.", field=field)
        parts = {k: int(v or 0) for k, v in match.groupdict().items()}
        seconds = parts["days"] * 86400 + parts["hours"] * 3600 + parts["minutes"] * 60 + parts["seconds"]
    if seconds <= 0:
        raise InvalidRequest(f"{field} must be longer than zero.", field=field)
    if seconds > MAX_DURATION.total_seconds():
        raise InvalidRequest(f"{field} must be at most P30D: MTurk allows reversals for 30 days after submission.",
                             field=field, maxDuration="P30D")
    return timedelta(seconds=seconds)
