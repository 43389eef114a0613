"""Batches in DynamoDB: one META item and one item per row (`ITEM#<line>`), all under the batch id.

Counts are kept on META by the writes themselves: each item's change of status and its META counters
move in one transaction, so a worker that dies mid-chunk can never leave a counter out of step with the
items it finished, and a batch's status reads a fixed number of items whatever its size.

A batch is stored before it is queued, with `unqueued` set on its META item until every chunk has been
sent: the sparse `by-unqueued` index lets the reconciler find and re-queue a batch whose send failed.
"""
from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta, timezone

from pynamodb.attributes import BooleanAttribute, NumberAttribute, UnicodeAttribute, UTCDateTimeAttribute
from pynamodb.exceptions import PutError, PynamoDBException, TransactWriteError, UpdateError
from pynamodb.models import Model
from pynamodb.transactions import TransactWrite

from mturk_decisions.adapters.dynamo import ModelStore, bound_model, string_index
from mturk_decisions.domain.batch import WORKABLE_STATUSES, BatchItem, BatchNotFound, ItemStatus
from mturk_decisions.domain.errors import AuditUnavailable
from mturk_decisions.domain.model import Action

META = "META"
ITEM_PREFIX = "ITEM#"
UNQUEUED_MARKER = "UNQUEUED"
INDEX_BY_UNQUEUED = "by-unqueued"
RETENTION = timedelta(days=90)


def counter_name(status: ItemStatus) -> str:
    """META's counter of the items in `status` (e.g. `count_SUCCEEDED`)."""
    return f"count_{status.value}"


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
        **{counter_name(status): NumberAttribute(null=True) for status in ItemStatus},
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
    #: Items by status, kept by the writes (None for a batch stored before counters existed).
    counts: dict[ItemStatus, int] | None = None
    completed_at: datetime | None = None


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
            counters = {counter_name(status): 0 for status in ItemStatus}
            counters.update({counter_name(ItemStatus.QUEUED): len(items), counter_name(ItemStatus.SKIPPED): len(skipped)})
            m(info.batch_id, META, created_at=info.created_at, actor=info.actor, origin=info.origin, total=info.total,
              hit_id=info.hit_id, expires_at=expires, unqueued=UNQUEUED_MARKER,
              **counters).save(condition=m.batch_id.does_not_exist())
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
        counts = None
        if getattr(meta, counter_name(ItemStatus.QUEUED)) is not None:
            counts = {status: int(getattr(meta, counter_name(status)) or 0) for status in ItemStatus}
        return BatchInfo(meta.batch_id, meta.created_at, meta.actor, meta.origin, int(meta.total), meta.hit_id,
                         counts, meta.completed_at)

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
             message: str | None = None, decision_id: str | None = None, at: datetime | None = None,
             was: ItemStatus = ItemStatus.QUEUED) -> bool:
        """Record an item's outcome once (only from the status `was` it was read in: a redelivered message
        cannot overwrite a final outcome), and move META's counters with it, in one transaction."""
        m = self._model
        actions = [m.status.set(status.value), m.updated_at.set(at or datetime.now(timezone.utc))]
        actions += [attr.set(value) for attr, value in ((m.code, code), (m.message, message and message[:1000]),
                                                        (m.decision_id, decision_id)) if value]
        moved = [getattr(m, counter_name(was)).add(-1), getattr(m, counter_name(status)).add(1)]
        try:
            with TransactWrite(connection=m._get_connection().connection) as transaction:
                transaction.update(m(batch_id, item_key(line)), actions=actions, condition=m.status == was.value)
                transaction.update(m(batch_id, META), actions=moved, condition=m.batch_id.exists())
        except TransactWriteError as error:
            reasons = error.cancellation_reasons if error.cause_response_code == "TransactionCanceledException" else []
            if reasons and reasons[0] is not None and reasons[0].code == "ConditionalCheckFailed":
                return False
            raise
        return True

    def items_page(self, batch_id: str, after_line: int, limit: int,
                   status: ItemStatus | None = None) -> tuple[list[StoredItem], int | None]:
        """Up to `limit` items after `after_line` (in line order), optionally of one status; and the line to
        continue after, if more may follow. Reads about `limit` items, whatever the batch's size."""
        m = self._model
        found: list[StoredItem] = []
        start = item_key(after_line)
        while len(found) < limit:
            page = m.query(batch_id, m.item_key.between(f"{start}~", f"{ITEM_PREFIX}~"),
                           filter_condition=(m.status == status.value) if status else None, limit=limit)
            found += [self._stored(entry) for entry in page]
            if page.last_evaluated_key is None:
                return found[:limit], (found[limit - 1].item.line if len(found) > limit else None)
            start = page.last_evaluated_key["item_key"]["S"]
        return found[:limit], found[limit - 1].item.line

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
