"""A message to the worker after a decision (MTurk NotifyWorkers): its rules, and what MTurk answered.

MTurk sends it by e-mail, to workers the requester has approved or rejected work from. Its limits are
MTurk's: a subject of 1-200 characters, a message of 1-4,096, at most 100 workers a call. A worker MTurk
cannot notify is a failure status in its answer (`SoftFailure` may work later, `HardFailure` will not),
not an error of the call.
"""
from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from mturk_decisions.domain.errors import InvalidNotification

SUBJECT_MAX_CHARS = 200
MESSAGE_MAX_CHARS = 4096
#: MTurk's NotifyWorkers takes at most this many WorkerIds a call.
WORKERS_PER_CALL = 100
SENT, FAILED = "SENT", "FAILED"
#: ASCII controls other than tab, line feed and carriage return (as for feedback), and DEL.
_FORBIDDEN = frozenset([*range(9), 11, 12, *range(14, 32), 127])
_LIMITS = {"subject": SUBJECT_MAX_CHARS, "message": MESSAGE_MAX_CHARS}


@dataclass(frozen=True)
class WorkerNotice:
    """What the requester asked to tell the worker (`notifyWorker`)."""

    subject: str
    message: str

    def to_json(self) -> dict[str, Any]:
        return {"subject": self.subject, "message": self.message}


@dataclass(frozen=True)
class NotifyFailure:
    """One worker MTurk did not notify: MTurk's failure code (SoftFailure, HardFailure) or ours for a failed call."""

    worker_id: str
    code: str
    message: str

    def to_json(self) -> dict[str, Any]:
        return {"workerId": self.worker_id, "code": self.code, "message": self.message}


@dataclass(frozen=True)
class NotificationResult:
    """The notice as sent to one worker and MTurk's answer for that worker, as the audit keeps it."""

    notice: WorkerNotice
    status: str  # SENT | FAILED
    sent_at: datetime
    failures: list[NotifyFailure] = field(default_factory=list)

    def answer_json(self) -> dict[str, Any]:
        """The `notification` of a decision's answer."""
        return {"status": self.status, "failures": [failure.to_json() for failure in self.failures]}

    def audit_json(self) -> dict[str, Any]:
        from mturk_decisions.domain.rules import iso

        return {**self.notice.to_json(), **self.answer_json(), "sentAt": iso(self.sent_at)}


def validate_notice(subject: object, message: object) -> WorkerNotice:
    """MTurk's rules for NotifyWorkers' Subject and MessageText, checked before anything is decided."""
    values = {"subject": subject, "message": message}
    for name, value in values.items():
        _check(name, value)
    return WorkerNotice(subject=subject, message=message)  # type: ignore[arg-type]


def _check(name: str, value: object) -> None:
    field_name, limit = f"notifyWorker.{name}", _LIMITS[name]
    if not isinstance(value, str) or not value.strip():
        raise InvalidNotification(f"notifyWorker.{name} must be text the worker can read, 1-{limit} characters.",
                                  field=field_name, rule="REQUIRED")
    if len(value) > limit:
        raise InvalidNotification(f"notifyWorker.{name} is {len(value)} characters; MTurk accepts at most {limit}.",
                                  field=field_name, rule="MAX_LENGTH", maxLength=limit, length=len(value))
    for position, char in enumerate(value):
        if ord(char) in _FORBIDDEN or 0xD800 <= ord(char) <= 0xDFFF:
            raise InvalidNotification(
                f"notifyWorker.{name} holds the control character U+{ord(char):04X} at position {position}; "
                "only tab, line feed and carriage return are allowed.", field=field_name,
                rule="FORBIDDEN_CHARACTER", position=position, codepoint=f"U+{ord(char):04X}")


def batches_of(worker_ids: list[str], size: int = WORKERS_PER_CALL) -> list[list[str]]:
    """The workers of one NotifyWorkers call each (distinct, in order)."""
    distinct = list(dict.fromkeys(worker_ids))
    return [distinct[i:i + size] for i in range(0, len(distinct), size)]
