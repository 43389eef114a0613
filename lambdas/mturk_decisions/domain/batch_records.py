"""What the batch store keeps, as plain data: a batch's META (`BatchInfo`, `UploadInfo` of an uploaded one),
its items (`StoredItem`) and an uploaded batch's planned rows (`PlannedEntry`). Here rather than beside the
PynamoDB models (adapters/batch_store.py), so the services and the API routes that use them do not import
PynamoDB and botocore before a request needs the table."""
from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime
from enum import Enum
from typing import Any

from mturk_decisions.domain.batch import BatchItem, ItemStatus


class UploadPhase(str, Enum):  # noqa: UP042 - StrEnum would change str() and f-strings of members
    """An uploaded batch before it is applied (then it is QUEUED, RUNNING, COMPLETED like any batch)."""

    AWAITING_UPLOAD = "AWAITING_UPLOAD"
    PARSING = "PARSING"
    INVALID = "INVALID"
    PLANNED = "PLANNED"


@dataclass(frozen=True)
class BatchInfo:
    batch_id: str
    created_at: datetime
    actor: str
    origin: str
    total: int
    hit_id: str | None = None
    #: Items by status, kept by the writes (None for a batch stored before counters existed).
    counts: dict[ItemStatus, int] | None = None
    completed_at: datetime | None = None
    #: An uploaded batch not applied yet: its UploadPhase (value); None once applied, and for other batches.
    phase: str | None = None
    #: The message each worker is sent once their decision succeeds ({subject, message}), if any.
    notice: dict[str, Any] | None = None


@dataclass(frozen=True)
class UploadInfo:
    """META of an uploaded batch, beyond BatchInfo."""

    key: str
    expires_at: datetime
    max_bytes: int
    reason: str | None = None
    size: int | None = None
    parse_started_at: datetime | None = None
    planned_at: datetime | None = None
    applied_at: datetime | None = None
    problems: dict[str, Any] = field(default_factory=dict)
    totals: dict[str, Any] = field(default_factory=dict)


@dataclass(frozen=True)
class PlannedEntry:
    """One row of an uploaded batch as stored: the item (or a skipped row) and its planned outcome."""

    line: int
    assignment_id: str
    outcome: str  # reject | reverse | approve | refused | skip
    action: str | None = None
    hit_id: str | None = None
    worker_id: str | None = None
    code: str | None = None
    message: str | None = None
    reward: str | None = None
    fee: str | None = None


@dataclass(frozen=True)
class StoredItem:
    item: BatchItem
    status: ItemStatus
    code: str | None = None
    message: str | None = None
    decision_id: str | None = None
