"""Batches in DynamoDB: one META item and one item per row (`ITEM#<line>`), all under the batch id.

Counts are kept on META by the writes themselves: each item's change of status and its META counters
move in one transaction, so a worker that dies mid-chunk can never leave a counter out of step with the
items it finished, and a batch's status reads a fixed number of items whatever its size.

A batch is stored before it is queued, with `unqueued` set on its META item until every chunk has been
sent: the sparse `by-unqueued` index lets the reconciler find and re-queue a batch whose send failed.

An uploaded batch (service/uploads.py) carries its `phase` on META until it is applied: AWAITING_UPLOAD (the
CSV is awaited at a presigned URL), PARSING, then INVALID (its errors kept on META, no item written) or
PLANNED (its items written with each one's planned outcome, and its chunks as `CHUNK#<n>` items, so applying
it reads a few items whatever its size). Applying removes the phase and sets `unqueued` in one conditional
update (only one apply queues it); from then on it is a batch like any other.
"""
from __future__ import annotations

import json
import random
import time
from collections.abc import Iterable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import TYPE_CHECKING, Any

from pynamodb.attributes import BooleanAttribute, NumberAttribute, UnicodeAttribute, UTCDateTimeAttribute
from pynamodb.exceptions import PutError, PynamoDBException, TransactWriteError, UpdateError
from pynamodb.expressions.condition import Condition
from pynamodb.expressions.update import Action as UpdateAction
from pynamodb.indexes import AllProjection
from pynamodb.models import Model
from pynamodb.transactions import TransactWrite

from mturk_decisions.adapters.dynamo import ModelStore, TableIndex, bound
from mturk_decisions.adapters.work_queue import Chunk
from mturk_decisions.domain.batch import BatchItem, BatchNotFound, ItemStatus, SkippedRow
from mturk_decisions.domain.batch_records import BatchInfo, PlannedEntry, StoredItem, UploadInfo, UploadPhase
from mturk_decisions.domain.errors import AuditUnavailable
from mturk_decisions.domain.model import Action

if TYPE_CHECKING:
    from concurrent.futures import Future

META = "META"
ITEM_PREFIX = "ITEM#"
CHUNK_PREFIX = "CHUNK#"
UNQUEUED_MARKER = "UNQUEUED"
INDEX_BY_UNQUEUED = "by-unqueued"
RETENTION = timedelta(days=90)
#: Attempts of an item's change whose transaction met another on META (DynamoDB's TransactionConflict), and the
#: longest pause before the next (random, longer each time: the items in flight spread out).
CONFLICT_ATTEMPTS = 5
CONFLICT_BACKOFF_SECONDS = 0.05


def counter_name(status: ItemStatus) -> str:
    """META's counter of the items in `status` (e.g. `count_SUCCEEDED`)."""
    return f"count_{status.value}"


def item_key(line: int) -> str:
    return f"{ITEM_PREFIX}{line:07d}"


class ByUnqueuedIndex(TableIndex["BatchEntry"]):
    """The batches stored but not (fully) queued: a sparse index on META's `unqueued`."""

    class Meta:
        index_name = INDEX_BY_UNQUEUED
        projection = AllProjection()

    unqueued = UnicodeAttribute(hash_key=True)
    batch_id = UnicodeAttribute(range_key=True)


class BatchEntry(Model):
    """One item of the batch table: META, a row (`ITEM#<line>`) or a chunk (`CHUNK#<n>`) (bound by `batch_model`)."""

    batch_id = UnicodeAttribute(hash_key=True)
    item_key = UnicodeAttribute(range_key=True)
    # META
    created_at = UTCDateTimeAttribute(null=True)
    actor = UnicodeAttribute(null=True)
    origin = UnicodeAttribute(null=True)
    total = NumberAttribute(null=True)
    # items
    line = NumberAttribute(null=True)
    assignment_id = UnicodeAttribute(null=True)
    action = UnicodeAttribute(null=True)
    approve_or_reverse = BooleanAttribute(null=True)
    feedback = UnicodeAttribute(null=True)
    reason = UnicodeAttribute(null=True)  # an item's reason; on an uploaded batch's META, the upload's
    hit_id = UnicodeAttribute(null=True)
    status = UnicodeAttribute(null=True)
    code = UnicodeAttribute(null=True)
    message = UnicodeAttribute(null=True)
    decision_id = UnicodeAttribute(null=True)
    updated_at = UTCDateTimeAttribute(null=True)
    expires_at = NumberAttribute(null=True)
    completed_at = UTCDateTimeAttribute(null=True)
    unqueued = UnicodeAttribute(null=True)
    unqueued_at = UTCDateTimeAttribute(null=True)
    # META of an uploaded batch (service/uploads.py)
    phase = UnicodeAttribute(null=True)
    upload_key = UnicodeAttribute(null=True)
    upload_expires_at = UTCDateTimeAttribute(null=True)
    upload_max_bytes = NumberAttribute(null=True)
    upload_size = NumberAttribute(null=True)
    parse_started_at = UTCDateTimeAttribute(null=True)
    planned_at = UTCDateTimeAttribute(null=True)
    applied_at = UTCDateTimeAttribute(null=True)
    problems = UnicodeAttribute(null=True)  # JSON: {message, errors (the first 200), errorCount}
    plan_totals = UnicodeAttribute(null=True)  # JSON: counts by outcome, reward and fee
    # items of an uploaded batch: the planned outcome (its own attribute: GET .../plan filters on it) and the
    # rest of the plan (JSON: worker, code, message, reward, fee); CHUNK# items: the lines of a chunk (JSON)
    plan_outcome = UnicodeAttribute(null=True)
    plan = UnicodeAttribute(null=True)
    lines = UnicodeAttribute(null=True)
    # META of a batch whose workers are told once their decision succeeds (JSON: {subject, message})
    notify_worker = UnicodeAttribute(null=True)
    # META's counters of the items in each ItemStatus (`counter_name`), kept by the writes
    count_QUEUED = NumberAttribute(null=True)
    count_SUCCEEDED = NumberAttribute(null=True)
    count_FAILED = NumberAttribute(null=True)
    count_REFUSED = NumberAttribute(null=True)
    count_SKIPPED = NumberAttribute(null=True)
    count_DEAD_LETTERED = NumberAttribute(null=True)
    by_unqueued = ByUnqueuedIndex()


def batch_model(table_name: str, region: str | None = None, host: str | None = None) -> type[BatchEntry]:
    """The batch table's Model bound to one table (see adapters.dynamo)."""
    return bound(BatchEntry, table_name, region, host)


def counter(model: type[BatchEntry], status: ItemStatus) -> NumberAttribute:
    """META's counter attribute for `status` (for update actions)."""
    attribute: NumberAttribute = getattr(model, counter_name(status))
    return attribute


class DynamoBatchStore(ModelStore[BatchEntry]):
    @classmethod
    def bind(cls, table_name: str, region: str | None, host: str | None) -> type[BatchEntry]:
        return batch_model(table_name, region, host)

    def create(self, info: BatchInfo, items: list[BatchItem], skipped: list[tuple[int, str | None, str]]) -> bool:
        """Write every row, then META (conditionally), before anything is queued; skipped rows are stored
        final, for the record. False when META existed already (a concurrent submit with the same id)."""
        m = self._model
        expires = int((info.created_at + RETENTION).timestamp())
        try:
            with m.batch_write() as writer:
                for item in items:
                    writer.save(m(info.batch_id, item_key(item.line), line=item.line,
                                  assignment_id=item.assignment_id, action=item.action and item.action.value,
                                  approve_or_reverse=item.approve_or_reverse or None, feedback=item.feedback,
                                  reason=item.reason, hit_id=item.hit_id, status=ItemStatus.QUEUED.value,
                                  expires_at=expires))
                for line, assignment_id, why in skipped:
                    writer.save(m(info.batch_id, item_key(line), line=line, assignment_id=assignment_id,
                                  status=ItemStatus.SKIPPED.value, message=why, expires_at=expires))
            counters: dict[str, Any] = {counter_name(status): 0 for status in ItemStatus}
            counters.update({counter_name(ItemStatus.QUEUED): len(items), counter_name(ItemStatus.SKIPPED): len(skipped)})
            m(info.batch_id, META, created_at=info.created_at, actor=info.actor, origin=info.origin, total=info.total,
              hit_id=info.hit_id, expires_at=expires, unqueued=UNQUEUED_MARKER,
              notify_worker=json.dumps(info.notice, ensure_ascii=False) if info.notice else None,
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
        return self._info(self._meta(batch_id))

    @staticmethod
    def _info(meta: BatchEntry) -> BatchInfo:
        counts = None
        if getattr(meta, counter_name(ItemStatus.QUEUED)) is not None:
            counts = {status: int(getattr(meta, counter_name(status)) or 0) for status in ItemStatus}
        return BatchInfo(meta.batch_id, meta.created_at, meta.actor, meta.origin, int(meta.total), meta.hit_id,
                         counts, meta.completed_at, meta.phase,
                         json.loads(meta.notify_worker) if meta.notify_worker else None)

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
        """Batches stored but not (fully) queued since before `created_before` (older ones are stranded): since
        they were stored, or for an uploaded batch since it was applied."""
        found = [m for m in self._model.by_unqueued.query(UNQUEUED_MARKER, limit=limit)
                 if (m.unqueued_at or m.created_at) < created_before]
        return [BatchInfo(m.batch_id, m.created_at, m.actor, m.origin, int(m.total), m.hit_id) for m in found]

    def mark(self, batch_id: str, line: int, status: ItemStatus, code: str | None = None,
             message: str | None = None, decision_id: str | None = None, at: datetime | None = None,
             was: ItemStatus = ItemStatus.QUEUED) -> bool:
        """Record an item's outcome once (only from the status `was` it was read in: a redelivered message
        cannot overwrite a final outcome), and move META's counters with it, in one transaction. Every item of a
        batch moves META: a transaction that met another one on it (TransactionConflict) is tried again."""
        change, attempt = _ItemChange(self._model, batch_id, line, was, status, code, message), 1
        while True:
            try:
                with TransactWrite(connection=self._model._get_connection().connection) as transaction:
                    change.join(transaction, decision_id, at or datetime.now(UTC))
                return True
            except TransactWriteError as error:
                reasons = error.cancellation_reasons if error.cause_response_code == "TransactionCanceledException" else []
                if reasons and reasons[0] is not None and reasons[0].code == "ConditionalCheckFailed":
                    return False
                if attempt == CONFLICT_ATTEMPTS or not any(r is not None and r.code == "TransactionConflict"
                                                           for r in reasons):
                    raise
            time.sleep(random.uniform(0, CONFLICT_BACKOFF_SECONDS * attempt))
            attempt += 1

    def settling(self, batch_id: str, line: int, was: ItemStatus = ItemStatus.QUEUED) -> _ItemChange:
        """The item's SUCCEEDED and META's counters, to land in its decision's finalize transaction."""
        return _ItemChange(self._model, batch_id, line, was, ItemStatus.SUCCEEDED)

    def items_page(self, batch_id: str, after_line: int, limit: int,
                   status: ItemStatus | None = None) -> tuple[list[StoredItem], int | None]:
        """Up to `limit` items after `after_line` (in line order), optionally of one status; and the line to
        continue after, if more may follow. Reads about `limit` items, whatever the batch's size."""
        m = self._model
        entries, after = self._page(batch_id, after_line, limit, (m.status == status.value) if status else None)
        return [self._stored(entry) for entry in entries], after

    def _page(self, batch_id: str, after_line: int, limit: int,
              condition: Condition | None) -> tuple[list[BatchEntry], int | None]:
        m = self._model
        found: list[BatchEntry] = []
        start = item_key(after_line)
        while len(found) < limit:
            page = m.query(batch_id, m.item_key.between(f"{start}~", f"{ITEM_PREFIX}~"),
                           filter_condition=condition, limit=limit)
            found += list(page)
            if page.last_evaluated_key is None:
                return found[:limit], (int(found[limit - 1].line) if len(found) > limit else None)
            start = page.last_evaluated_key["item_key"]["S"]
        return found[:limit], int(found[limit - 1].line)

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


    # ----- uploaded batches (service/uploads.py) -----

    def create_upload(self, info: BatchInfo, upload: UploadInfo) -> bool:
        """META of a batch whose CSV is awaited (AWAITING_UPLOAD, no item yet); False if the id exists."""
        m = self._model
        counters: dict[str, Any] = {counter_name(status): 0 for status in ItemStatus}
        try:
            m(info.batch_id, META, created_at=info.created_at, actor=info.actor, origin=info.origin, total=0,
              expires_at=int((info.created_at + RETENTION).timestamp()), phase=UploadPhase.AWAITING_UPLOAD.value,
              upload_key=upload.key, upload_expires_at=upload.expires_at, upload_max_bytes=upload.max_bytes,
              reason=upload.reason, **counters).save(condition=m.batch_id.does_not_exist())
        except PutError as error:
            if error.cause_response_code == "ConditionalCheckFailedException":
                return False
            raise _unavailable(error) from None
        return True

    def upload(self, batch_id: str) -> tuple[BatchInfo, UploadInfo | None]:
        """The batch and, for an uploaded one, its upload (one read)."""
        meta = self._meta(batch_id)
        info = self._info(meta)
        if meta.upload_key is None:
            return info, None
        return info, UploadInfo(meta.upload_key, meta.upload_expires_at, int(meta.upload_max_bytes), meta.reason,
                                None if meta.upload_size is None else int(meta.upload_size), meta.parse_started_at,
                                meta.planned_at, meta.applied_at, json.loads(meta.problems or "{}"),
                                json.loads(meta.plan_totals or "{}"))

    def begin_parse(self, batch_id: str, size: int, at: datetime, stale_before: datetime) -> bool:
        """AWAITING_UPLOAD → PARSING, or a PARSING whose parser started before `stale_before` (it died: its
        timeout is over) taken over; False otherwise (another parser has it, or it is past parsing)."""
        m = self._model
        fresh = m.phase == UploadPhase.AWAITING_UPLOAD.value
        stale = (m.phase == UploadPhase.PARSING.value) & (m.parse_started_at < stale_before)
        return self._transition(batch_id, [m.phase.set(UploadPhase.PARSING.value), m.parse_started_at.set(at),
                                           m.upload_size.set(size)], fresh | stale)

    def mark_invalid(self, batch_id: str, problems: dict[str, Any], at: datetime) -> bool:
        """A refused upload: INVALID with its problems (the first 200 errors and their count); nothing queued."""
        m = self._model
        return self._transition(batch_id, [m.phase.set(UploadPhase.INVALID.value), m.planned_at.set(at),
                                           m.problems.set(json.dumps(problems, default=str))],
                                m.phase.is_in(UploadPhase.AWAITING_UPLOAD.value, UploadPhase.PARSING.value))

    @contextmanager
    def writing_plan(self, batch_id: str, created_at: datetime) -> Iterator[PlanWriter]:
        """Items, skipped rows and chunks, written 25 to a BatchWriteItem as they come (puts: a parser that
        takes over from a dead one writes the same items again)."""
        writer = PlanWriter(_writing_client(self._model), self._model.Meta.table_name, batch_id,
                            int((created_at + RETENTION).timestamp()))
        try:
            yield writer
        except BaseException:
            writer.close(failed=True)
            raise
        writer.close()

    def finish_plan(self, batch_id: str, queued: int, skipped: int, totals: dict[str, Any], at: datetime) -> bool:
        """PARSING → PLANNED, with the counts and the plan's totals; False if it was not PARSING."""
        m = self._model
        actions: list[UpdateAction] = [m.phase.set(UploadPhase.PLANNED.value), m.total.set(queued + skipped), m.planned_at.set(at),
                   counter(m, ItemStatus.QUEUED).set(queued),
                   counter(m, ItemStatus.SKIPPED).set(skipped),
                   m.plan_totals.set(json.dumps(totals, default=str))]
        return self._transition(batch_id, actions, m.phase == UploadPhase.PARSING.value)

    def begin_apply(self, batch_id: str, at: datetime) -> bool:
        """PLANNED → applied: the phase goes, `unqueued` is set (the reconciler's safety net) in the same
        conditional update, so only one apply queues the batch. False if it was not PLANNED."""
        m = self._model
        return self._transition(batch_id, [m.phase.remove(), m.unqueued.set(UNQUEUED_MARKER), m.unqueued_at.set(at),
                                           m.applied_at.set(at)], m.phase == UploadPhase.PLANNED.value)

    def chunks(self, batch_id: str) -> list[Chunk]:
        """The chunks the parser stored for an uploaded batch (a few hundred items for 100,000 rows)."""
        m = self._model
        return [Chunk(batch_id, entry.hit_id, json.loads(entry.lines))
                for entry in m.query(batch_id, m.item_key.startswith(CHUNK_PREFIX))]

    def plan_page(self, batch_id: str, after_line: int, limit: int,
                  outcome: str | None = None) -> tuple[list[PlannedEntry], int | None]:
        """Up to `limit` planned rows after `after_line`, optionally of one outcome (as `items_page`)."""
        m = self._model
        entries, after = self._page(batch_id, after_line, limit, (m.plan_outcome == outcome) if outcome else None)
        return [_planned(entry) for entry in entries], after

    def _meta(self, batch_id: str) -> BatchEntry:
        try:
            return self._model.get(batch_id, META)
        except self._model.DoesNotExist:
            raise BatchNotFound(f"No batch {batch_id}.", batchId=batch_id) from None

    def _transition(self, batch_id: str, actions: list[UpdateAction], condition: Condition) -> bool:
        m = self._model
        try:
            m(batch_id, META).update(actions=actions, condition=condition & m.batch_id.exists())
        except UpdateError as error:
            if error.cause_response_code == "ConditionalCheckFailedException":
                return False
            raise
        return True

    @staticmethod
    def _stored(entry: BatchEntry) -> StoredItem:
        action = Action(entry.action) if entry.action else None  # skipped rows have none
        item = BatchItem(int(entry.line), entry.assignment_id or "", action, entry.feedback, entry.reason,
                         entry.hit_id, bool(entry.approve_or_reverse))
        return StoredItem(item, ItemStatus(entry.status), entry.code, entry.message, entry.decision_id)




@dataclass(frozen=True)
class _ItemChange:
    """One item from `was` to `status` (conditionally: only from `was`) and META's counters moved with it: the
    two updates of one transaction, the batch store's own (`mark`) or a decision's finalize (`settling`)."""

    model: type[BatchEntry]
    batch_id: str
    line: int
    was: ItemStatus
    status: ItemStatus
    code: str | None = None
    message: str | None = None

    def join(self, transaction: object, decision_id: str | None, at: datetime) -> None:
        assert isinstance(transaction, TransactWrite)
        m = self.model
        actions: list[UpdateAction] = [m.status.set(self.status.value), m.updated_at.set(at)]
        actions += [attr.set(value) for attr, value in ((m.code, self.code), (m.message, self.message and self.message[:1000]),
                                                        (m.decision_id, decision_id)) if value]
        moved: list[UpdateAction] = [counter(m, self.was).add(-1), counter(m, self.status).add(1)]
        transaction.update(m(self.batch_id, item_key(self.line)), actions=actions, condition=m.status == self.was.value)
        transaction.update(m(self.batch_id, META), actions=moved, condition=m.batch_id.exists())


def _writing_client(model: type[BatchEntry]) -> Any:
    """A DynamoDB client for PlanWriter's threads, as PynamoDB's (its session, region, endpoint) but without
    botocore's parameter validation: the writer builds every request itself, and validating a 25-item
    BatchWriteItem costs more of the parser's CPU than building it."""
    from botocore.config import Config

    connection = model._get_connection().connection
    config = Config(parameter_validation=False, max_pool_connections=PlanWriter.THREADS + 1,
                    retries={"mode": "standard", "max_attempts": 5})
    return connection.session.create_client("dynamodb", connection.region, endpoint_url=connection.host, config=config)


def _planned(entry: BatchEntry) -> PlannedEntry:
    plan = json.loads(entry.plan or "{}")
    return PlannedEntry(int(entry.line), entry.assignment_id or "", entry.plan_outcome or "skip", entry.action,
                        entry.hit_id, plan.get("worker"), plan.get("code"), plan.get("message") or entry.message,
                        plan.get("reward"), plan.get("fee"))


class PlanWriter:
    """Writes an uploaded batch's rows as they are planned (`DynamoBatchStore.writing_plan`): 25 to a
    BatchWriteItem, a few requests in flight at once (the parser keeps reading while DynamoDB writes), items
    given to DynamoDB as its own JSON (a PynamoDB model per row costs more than the write itself). At most
    IN_FLIGHT requests are pending: memory does not grow with the batch."""

    BATCH, THREADS, IN_FLIGHT, ATTEMPTS = 25, 4, 8, 10

    def __init__(self, client: Any, table_name: str, batch_id: str, expires_at: int) -> None:
        from concurrent.futures import ThreadPoolExecutor

        self._client, self._table, self._batch_id = client, table_name, batch_id
        self._expires = {"N": str(expires_at)}
        self._pending: list[dict[str, Any]] = []
        self._in_flight: list[Future[None]] = []
        self._pool = ThreadPoolExecutor(self.THREADS, thread_name_prefix="plan-writer")

    def item(self, item: BatchItem, entry: PlannedEntry) -> None:
        """A decision, QUEUED (applied by the worker once the batch is applied), with its planned outcome."""
        plan = {"worker": entry.worker_id, "code": entry.code, "message": entry.message and entry.message[:1000],
                "reward": entry.reward, "fee": entry.fee}
        self._put(item_key(item.line), line=item.line, assignment_id=item.assignment_id, action=item.action and item.action.value,
                  approve_or_reverse=item.approve_or_reverse or None, feedback=item.feedback, reason=item.reason,
                  hit_id=item.hit_id, status=ItemStatus.QUEUED.value, plan_outcome=entry.outcome,
                  plan=json.dumps({k: v for k, v in plan.items() if v is not None}, separators=(",", ":")))

    def skipped(self, row: SkippedRow) -> None:
        self._put(item_key(row.line), line=row.line, assignment_id=row.assignment_id, status=ItemStatus.SKIPPED.value,
                  message=row.reason, plan_outcome="skip")

    def chunks(self, chunks: Iterable[Chunk]) -> None:
        for number, chunk in enumerate(chunks, start=1):
            self._put(f"{CHUNK_PREFIX}{number:05d}", hit_id=chunk.hit_id, lines=json.dumps(chunk.lines))

    def close(self, failed: bool = False) -> None:
        """Send what is left and wait for every request (the first error is raised); `failed`: just stop."""
        try:
            if self._pending and not failed:
                self._send()
            for future in self._in_flight:
                future.result() if not failed else future.cancel()
        finally:
            self._pool.shutdown(wait=True, cancel_futures=failed)

    def _put(self, key: str, **attributes: Any) -> None:
        item: dict[str, dict[str, Any]] = {"batch_id": {"S": self._batch_id}, "item_key": {"S": key},
                                           "expires_at": self._expires}
        for name, value in attributes.items():
            if value is not None:
                item[name] = ({"BOOL": value} if isinstance(value, bool) else
                              {"N": str(value)} if isinstance(value, int) else {"S": str(value)})
        self._pending.append({"PutRequest": {"Item": item}})
        if len(self._pending) == self.BATCH:
            self._send()

    def _send(self) -> None:
        while len(self._in_flight) >= self.IN_FLIGHT:
            self._in_flight.pop(0).result()
        self._in_flight.append(self._pool.submit(self._write, self._pending))
        self._pending = []

    def _write(self, requests: list[dict[str, Any]]) -> None:
        """One BatchWriteItem, and its unprocessed items again with backoff (DynamoDB's throughput per key)."""
        import random
        import time

        unprocessed = {self._table: requests}
        for attempt in range(self.ATTEMPTS):
            unprocessed = self._client.batch_write_item(RequestItems=unprocessed).get("UnprocessedItems") or {}
            if not unprocessed:
                return
            time.sleep(min(2.0, 0.05 * 2 ** attempt) * (0.5 + random.random()))
        raise AuditUnavailable(f"DynamoDB left {len(unprocessed.get(self._table, []))} rows unwritten after "
                               f"{self.ATTEMPTS} attempts; the upload is parsed again.")


def _unavailable(error: PynamoDBException) -> AuditUnavailable:
    return AuditUnavailable(f"The batch could not be stored ({type(error).__name__}); nothing was queued. "
                            "Retry shortly.")
