"""The small interfaces the services depend on. Adapters implement them; tests fake them."""
from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass
from datetime import datetime
from decimal import Decimal
from typing import TYPE_CHECKING, Any, Protocol

from mturk_decisions.domain.batch import BatchItem, ItemStatus
from mturk_decisions.domain.model import AssignmentView, DecisionLease, DecisionRecord, DecisionState
from mturk_decisions.domain.notice import NotifyFailure
from mturk_decisions.domain.schedule import ScheduledReversal, SchedulePage, ScheduleQuery

if TYPE_CHECKING:
    from mturk_decisions.adapters.work_queue import Chunk
    from mturk_decisions.domain.batch_records import BatchInfo, StoredItem


class MTurkGateway(Protocol):
    def get_assignment(self, assignment_id: str) -> AssignmentView: ...

    def get_balance(self) -> Decimal: ...

    def reject(self, assignment_id: str, feedback: str) -> None: ...

    def approve(self, assignment_id: str, feedback: str | None, override_rejection: bool) -> None: ...

    def list_assignments_for_hit(self, hit_id: str, statuses: list[str] | None = None) -> Iterator[AssignmentView]: ...

    def notify_workers(self, subject: str, message: str, worker_ids: list[str]) -> list[NotifyFailure]:
        """MTurk NotifyWorkers (at most 100 workers): the workers it could not notify, with its failure code."""


@dataclass(frozen=True)
class Page:
    records: list[DecisionRecord]
    cursor: str | None


class JoinedWrite(Protocol):
    """Another table's writes that land in the same DynamoDB transaction as a decision's SUCCEEDED finalize:
    a batch item settling with its decision, both or neither. The audit store adds them to its transaction."""

    def join(self, transaction: object, decision_id: str, at: datetime) -> None: ...


class AuditStore(Protocol):
    def write_ahead(self, record: DecisionRecord, lease_expires_at: datetime) -> None:
        """Persist a PENDING record and take the assignment's decision lease, atomically. Raises
        DecisionInProgress (with the holder's lease) if another decision holds it, AuditUnavailable if the
        store cannot be written."""

    def finalize(
        self,
        record: DecisionRecord,
        state: DecisionState,
        finalized_at: datetime,
        error_code: str | None = None,
        error_message: str | None = None,
        joined: JoinedWrite | None = None,
    ) -> bool:
        """PENDING → `state`, releasing the lease the record holds, atomically. Raises RecordAlreadyFinal.
        True when `joined` landed in the same transaction; False without one, or when its own write failed (the
        record is then finalized alone, and `joined`'s owner writes its part itself)."""

    def lease(self, assignment_id: str) -> DecisionLease | None:
        """The assignment's decision lease (strongly consistent read), if one is held."""

    def record(self, assignment_id: str, key: str) -> DecisionRecord | None:
        """One record by its key (a lease's `decision_key`)."""

    def reload(self, record: DecisionRecord) -> DecisionRecord | None:
        """The stored version of a record."""

    def acquire_run_lock(self, name: str, owner: str, expires_at: datetime, now: datetime) -> bool:
        """One run of a periodic job at a time: False when another run holds an unexpired lock."""

    def release_run_lock(self, name: str, owner: str) -> None: ...

    def history(self, assignment_id: str, limit: int = 50) -> list[DecisionRecord]: ...

    def pending(self, limit: int = 100) -> list[DecisionRecord]:
        """Records still PENDING, oldest first (a sparse index: only PENDING records are in it)."""

    def by_worker(
        self, worker_id: str, since: datetime | None, until: datetime | None, limit: int, cursor: str | None
    ) -> Page: ...

    def by_hit(
        self, hit_id: str, since: datetime | None, until: datetime | None, limit: int, cursor: str | None
    ) -> Page: ...

    def in_range(self, since: datetime, until: datetime, limit: int, cursor: str | None) -> Page:
        """Every decision from `since` to `until`, newest first (the `by-day` index, a day at a time)."""

    def record_notification(self, record: DecisionRecord, notification: dict[str, Any]) -> None:
        """Keep the message sent to the worker after a decision, and MTurk's answer, on its audit record."""

    def record_external(self, record: DecisionRecord) -> bool:
        """Record a decision made outside the service (already final); False if it was recorded before."""


class BatchStore(Protocol):
    """Batches and their rows (adapters.batch_store.DynamoBatchStore); META keeps the counts."""

    def create(self, info: BatchInfo, items: list[BatchItem], skipped: list[tuple[int, str | None, str]]) -> bool:
        """Rows, then META (conditionally); False when the batch id exists already."""

    def exists(self, batch_id: str) -> bool: ...

    def info(self, batch_id: str) -> BatchInfo: ...

    def items(self, batch_id: str, lines: list[int]) -> list[StoredItem]: ...

    def all_items(self, batch_id: str) -> list[StoredItem]: ...

    def items_page(self, batch_id: str, after_line: int, limit: int,
                   status: ItemStatus | None = None) -> tuple[list[StoredItem], int | None]: ...

    def mark(self, batch_id: str, line: int, status: ItemStatus, code: str | None = None,
             message: str | None = None, decision_id: str | None = None, at: datetime | None = None,
             was: ItemStatus = ItemStatus.QUEUED) -> bool:
        """From `was` to `status`, moving META's counters in the same transaction; False if it was not `was`."""

    def settling(self, batch_id: str, line: int, was: ItemStatus = ItemStatus.QUEUED) -> JoinedWrite:
        """The item's SUCCEEDED (from `was`) and META's counters, to land with its decision's finalize."""

    def mark_queued(self, batch_id: str) -> None: ...

    def unqueued(self, created_before: datetime, limit: int = 25) -> list[BatchInfo]: ...

    def mark_completed(self, batch_id: str, at: datetime) -> bool: ...


class WorkQueue(Protocol):
    def send(self, chunks: list[Chunk]) -> None: ...


class EventPublisher(Protocol):
    """The service's event bus (adapters.event_bus.EventBusPublisher)."""

    def publish(self, detail_type: str, detail: dict[str, Any]) -> None: ...


class ScheduleStore(Protocol):
    """Pending automatic reversals (adapters.schedule_store.DynamoScheduleStore); every change is conditional."""

    def create(self, schedule: ScheduledReversal) -> bool:
        """Store unless one is active (ReversalAlreadyScheduled); False if this rejection's exists already."""

    def get(self, assignment_id: str) -> ScheduledReversal | None: ...

    def claim(self, schedule: ScheduledReversal, owner: str, until: datetime, now: datetime) -> ScheduledReversal | None:
        """PENDING and due, or RUNNING with an expired claim → RUNNING for `owner`; None otherwise."""

    def transition(self, schedule: ScheduledReversal, new: ScheduledReversal) -> bool:
        """From the state (and owner) `schedule` was read in to `new`; False if it changed meanwhile."""

    def due(self, now: datetime, limit: int = 100) -> list[ScheduledReversal]: ...

    def closing_before(self, moment: datetime, limit: int = 1000) -> list[ScheduledReversal]: ...

    def listing(self, query: ScheduleQuery) -> SchedulePage:
        """One page of automatic reversals by due time, earliest first (index queries, no scan)."""
