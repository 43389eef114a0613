"""The two small interfaces the decision service depends on. Adapters implement them; tests fake them."""
from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass
from datetime import datetime
from decimal import Decimal
from typing import Protocol

from mturk_decisions.domain.model import AssignmentView, DecisionRecord, DecisionState


class MTurkGateway(Protocol):
    def get_assignment(self, assignment_id: str) -> AssignmentView: ...

    def get_balance(self) -> Decimal: ...

    def reject(self, assignment_id: str, feedback: str) -> None: ...

    def approve(self, assignment_id: str, feedback: str | None, override_rejection: bool) -> None: ...

    def list_assignments_for_hit(self, hit_id: str, statuses: list[str] | None = None) -> Iterator[AssignmentView]: ...


@dataclass(frozen=True)
class Page:
    records: list[DecisionRecord]
    cursor: str | None


class AuditStore(Protocol):
    def write_ahead(self, record: DecisionRecord) -> None:
        """Persist a PENDING record; raise AuditUnavailable if it cannot be written."""

    def finalize(
        self,
        record: DecisionRecord,
        state: DecisionState,
        finalized_at: datetime,
        error_code: str | None = None,
        error_message: str | None = None,
    ) -> None: ...

    def history(self, assignment_id: str, limit: int = 50) -> list[DecisionRecord]: ...

    def pending(self, limit: int = 100) -> list[DecisionRecord]:
        """Records still PENDING, oldest first (a sparse index: only PENDING records are in it)."""

    def by_worker(
        self, worker_id: str, since: datetime | None, until: datetime | None, limit: int, cursor: str | None
    ) -> Page: ...

    def by_hit(
        self, hit_id: str, since: datetime | None, until: datetime | None, limit: int, cursor: str | None
    ) -> Page: ...


class BatchStore(Protocol):
    """Batches and their rows (adapters.batch_store.DynamoBatchStore)."""

    def create(self, info, items, skipped) -> None: ...

    def info(self, batch_id: str): ...

    def items(self, batch_id: str, lines: list[int]) -> list: ...

    def all_items(self, batch_id: str) -> list: ...

    def mark(self, batch_id: str, line: int, status, code=None, message=None, decision_id=None, at=None) -> bool: ...

    def mark_completed(self, batch_id: str, at: datetime) -> bool: ...


class WorkQueue(Protocol):
    def send(self, chunks: list) -> None: ...


class ScheduleStore(Protocol):
    """Pending automatic reversals (adapters.schedule_store.DynamoScheduleStore)."""

    def put(self, schedule) -> None: ...

    def get(self, assignment_id: str): ...

    def settle(self, schedule, state: str, **changes) -> bool: ...

    def reschedule(self, schedule, due_at: datetime, **changes) -> bool: ...

    def due(self, now: datetime, limit: int = 100) -> list: ...

    def closing_before(self, moment: datetime, limit: int = 1000) -> list: ...
