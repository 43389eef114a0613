"""Batches in DynamoDB: one META item and one item per row (`ITEM#<line>`), all under the batch id.

Counts and progress are derived from the items on read, so a worker that dies mid-chunk can never
leave a counter out of step with the items it had already finished.

A batch is stored before it is queued, with `unqueued` set on its META item until every chunk has been
sent: the sparse `by-unqueued` index lets the reconciler find and re-queue a batch whose send failed.
"""
from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta, timezone

from pynamodb.attributes import BooleanAttribute, NumberAttribute, UnicodeAttribute, UTCDateTimeAttribute
from pynamodb.exceptions import PutError, PynamoDBException, UpdateError
from pynamodb.models import Model

from mturk_decisions.adapters.dynamo import ModelStore, bound_model, string_index
from mturk_decisions.domain.batch import WORKABLE_STATUSES, BatchItem, BatchNotFound, ItemStatus
from mturk_decisions.domain.errors import AuditUnavailable
from mturk_decisions.domain.model import Action

META = "META"
ITEM_PREFIX = "ITEM#"
UNQUEUED_MARKER = "UNQUEUED"
INDEX_BY_UNQUEUED = "by-unqueued"
RETENTION = timedelta(days=90)


def item_key(line: int) -> str:
    return f"{ITEM_PREFIX}{line:07d}"


def batch_model(table_name: str, region: str | None = None, host: str | None = None) -> type[Model]:
    """One Model class per table binding (see adapters.dynamo)."""
    attributes = {
        "batch_id": UnicodeAttribute(hash_key=True),
        "item_key": UnicodeAttribute(range_key=True),
        # META
        "created_at": UTCDateTimeAttribute(null=True),
        "actor": UnicodeAttribute(null=True),
        "origin": UnicodeAttribute(null=True),
        "total": NumberAttribute(null=True),
        # items
        "line": NumberAttribute(null=True),
        "assignment_id": UnicodeAttribute(null=True),
        "action": UnicodeAttribute(null=True),
        "approve_or_reverse": BooleanAttribute(null=True),
        "feedback": UnicodeAttribute(null=True),
        "reason": UnicodeAttribute(null=True),
        "hit_id": UnicodeAttribute(null=True),
        "status": UnicodeAttribute(null=True),
        "code": UnicodeAttribute(null=True),
        "message": UnicodeAttribute(null=True),
        "decision_id": UnicodeAttribute(null=True),
        "updated_at": UTCDateTimeAttribute(null=True),
        "expires_at": NumberAttribute(null=True),
        "completed_at": UTCDateTimeAttribute(null=True),
        "unqueued": UnicodeAttribute(null=True),
        "by_unqueued": string_index(INDEX_BY_UNQUEUED, "unqueued", "batch_id"),
    }
    return bound_model("BatchEntryModel", table_name, region, host, attributes)


@dataclass(frozen=True)
class BatchInfo:
    batch_id: str
    created_at: datetime
    actor: str
    origin: str
    total: int
    hit_id: str | None = None


@dataclass(frozen=True)
class StoredItem:
    item: BatchItem
    status: ItemStatus
    code: str | None = None
    message: str | None = None
    decision_id: str | None = None


class DynamoBatchStore(ModelStore):
    model_factory = staticmethod(batch_model)

    def create(self, info: BatchInfo, items: list[BatchItem], skipped: list[tuple[int, str | None, str]]) -> bool:
        """Write every row, then META (conditionally), before anything is queued; skipped rows are stored
        final, for the record. False when META existed already (a concurrent submit with the same id)."""
        m = self._model
        expires = int((info.created_at + RETENTION).timestamp())
        try:
            with m.batch_write() as writer:
                for item in items:
                    writer.save(m(info.batch_id, item_key(item.line), line=item.line,
                                  assignment_id=item.assignment_id, action=item.action.value,
                                  approve_or_reverse=item.approve_or_reverse or None, feedback=item.feedback,
                                  reason=item.reason, hit_id=item.hit_id, status=ItemStatus.QUEUED.value,
                                  expires_at=expires))
                for line, assignment_id, why in skipped:
                    writer.save(m(info.batch_id, item_key(line), line=line, assignment_id=assignment_id,
                                  status=ItemStatus.SKIPPED.value, message=why, expires_at=expires))
            m(info.batch_id, META, created_at=info.created_at, actor=info.actor, origin=info.origin, total=info.total,
              hit_id=info.hit_id, expires_at=expires, unqueued=UNQUEUED_MARKER).save(condition=m.batch_id.does_not_exist())
        except PutError as error:
            if error.cause_response_code == "ConditionalCheckFailedException":
                return False
            raise _unavailable(error) from None
        except PynamoDBException as error:
            raise _unavailable(error) from None
        return True

    def exists(self, batch_id: str) -> bool:
        try:
            self._model.get(batch_id, META, consistent_read=True, attributes_to_get=["batch_id"])
        except self._model.DoesNotExist:
            return False
        return True

    def info(self, batch_id: str) -> BatchInfo:
        try:
            meta = self._model.get(batch_id, META)
        except self._model.DoesNotExist:
            raise BatchNotFound(f"No batch {batch_id}.", batchId=batch_id) from None
        return BatchInfo(meta.batch_id, meta.created_at, meta.actor, meta.origin, int(meta.total), meta.hit_id)

    def items(self, batch_id: str, lines: list[int]) -> list[StoredItem]:
        keys = [(batch_id, item_key(line)) for line in lines]
        found = [self._stored(entry) for entry in self._model.batch_get(keys)]
        return sorted(found, key=lambda stored: stored.item.line)

    def all_items(self, batch_id: str) -> list[StoredItem]:
        query = self._model.query(batch_id, self._model.item_key.startswith(ITEM_PREFIX))
        return [self._stored(entry) for entry in query]

    def mark_queued(self, batch_id: str) -> None:
        """Every chunk was sent: the batch leaves the sparse `by-unqueued` index."""
        self._model(batch_id, META).update(actions=[self._model.unqueued.remove()])

    def unqueued(self, created_before: datetime, limit: int = 25) -> list[BatchInfo]:
        """Batches stored but not (fully) queued, created before `created_before` (older ones are stranded)."""
        found = self._model.by_unqueued.query(UNQUEUED_MARKER, limit=limit)
        infos = [BatchInfo(m.batch_id, m.created_at, m.actor, m.origin, int(m.total), m.hit_id) for m in found]
        return [info for info in infos if info.created_at < created_before]

    def mark(self, batch_id: str, line: int, status: ItemStatus, code: str | None = None,
             message: str | None = None, decision_id: str | None = None, at: datetime | None = None) -> bool:
        """Record an item's outcome once: a redelivered message cannot overwrite a final outcome."""
        m = self._model
        actions = [m.status.set(status.value), m.updated_at.set(at or datetime.now(timezone.utc))]
        actions += [attr.set(value) for attr, value in ((m.code, code), (m.message, message and message[:1000]),
                                                        (m.decision_id, decision_id)) if value]
        try:
            m(batch_id, item_key(line)).update(actions=actions,
                                               condition=m.status.is_in(*(s.value for s in WORKABLE_STATUSES)))
        except UpdateError as error:
            if error.cause_response_code == "ConditionalCheckFailedException":
                return False
            raise
        return True

    def mark_completed(self, batch_id: str, at: datetime) -> bool:
        m = self._model
        try:
            m(batch_id, META).update(actions=[m.completed_at.set(at)],
                                     condition=m.completed_at.does_not_exist() & m.batch_id.exists())
        except UpdateError as error:
            if error.cause_response_code == "ConditionalCheckFailedException":
                return False
            raise
        return True

    @staticmethod
    def _stored(entry: Model) -> StoredItem:
        action = Action(entry.action) if entry.action else None  # skipped rows have none
        item = BatchItem(int(entry.line), entry.assignment_id or "", action, entry.feedback, entry.reason,
                         entry.hit_id, bool(entry.approve_or_reverse))
        return StoredItem(item, ItemStatus(entry.status), entry.code, entry.message, entry.decision_id)




def _unavailable(error: PynamoDBException) -> AuditUnavailable:
    return AuditUnavailable(f"The batch could not be stored ({type(error).__name__}); nothing was queued. "
                            "Retry shortly.")
