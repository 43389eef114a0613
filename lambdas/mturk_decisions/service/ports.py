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
