"""A pending automatic reversal: provisional rejection, scheduled reversal or funds retry."""
from __future__ import annotations

import re
from dataclasses import dataclass
from datetime import datetime, timedelta

from mturk_decisions.domain.errors import InvalidRequest
from mturk_decisions.domain.rules import iso

PENDING = "PENDING"
_DURATION = re.compile(r"^P(?:(?P<days>\d+)D)?(?:T(?:(?P<hours>\d+)H)?(?:(?P<minutes>\d+)M)?(?:(?P<seconds>\d+)S)?)?$")


@dataclass(frozen=True)
class ScheduledReversal:
    assignment_id: str
    kind: str  # provisional | scheduled | funds-retry
    due_at: datetime
    deadline: datetime
    state: str = PENDING  # PENDING | DONE | CANCELLED | CONFIRMED | FAILED | EXPIRED
    created_at: datetime | None = None
    actor: str = "unknown"
    reason: str | None = None
    feedback: str | None = None
    attempts: int = 0
    last_error: str | None = None
    decision_id: str | None = None

    def to_json(self) -> dict:
        body = {
            "assignmentId": self.assignment_id, "kind": self.kind, "state": self.state, "dueAt": iso(self.due_at),
            "deadline": iso(self.deadline), "createdAt": iso(self.created_at), "actor": self.actor,
            "reason": self.reason, "attempts": self.attempts, "lastError": self.last_error,
            "decisionId": self.decision_id,
        }
        return {k: v for k, v in body.items() if v is not None}




def parse_duration(value: str | int, field: str = "provisionalFor") -> timedelta:
    """ISO 8601 durations (`PT48H`, `P2DT12H`, `PT90S`) or plain seconds."""
    if isinstance(value, int) or (isinstance(value, str) and value.isdigit()):
        seconds = int(value)
    else:
        match = _DURATION.match(value or "")
        if not match or value in ("P", "PT") or value.endswith("T"):
            raise InvalidRequest(f"{field} must be an ISO 8601 duration like PT48H or P3D, not {value!r}.", field=field)
        parts = {k: int(v or 0) for k, v in match.groupdict().items()}
        seconds = parts["days"] * 86400 + parts["hours"] * 3600 + parts["minutes"] * 60 + parts["seconds"]
    if seconds <= 0:
        raise InvalidRequest(f"{field} must be longer than zero.", field=field)
    return timedelta(seconds=seconds)
