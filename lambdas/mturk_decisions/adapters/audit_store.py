"""The audit table, through PynamoDB.

Keys: `assignment_id` + `decision_key` (`<created ISO>#<decision id>`), so an assignment's history and
the by-worker / by-hit indexes all read newest first with a plain range condition for since/until.
`pending` is set only while a record is PENDING, which makes `by-pending` a sparse index for the reconciler.
`day` (the decision's UTC day, `YYYY-MM-DD`) makes `by-day`: every decision in a time range, one day's
partition after the other (records written before `day` existed are not in it).

The same partition holds the assignment's decision lease (`decision_key` = `~lease`, which sorts after
every record and carries none of the indexed attributes): taken in one transaction with the write-ahead
record, released in one transaction with its finalize, so one decision at a time may write to MTurk.
Released means its holder is removed (an update, not a delete): no writer needs DeleteItem on the audit.
"""
from __future__ import annotations

import base64
import binascii
import functools
import json
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from decimal import Decimal
from typing import Any, ParamSpec, TypeVar

from pynamodb.attributes import NumberAttribute, UnicodeAttribute, UTCDateTimeAttribute
from pynamodb.exceptions import GetError, PutError, PynamoDBException, TransactWriteError, UpdateError
from pynamodb.expressions.condition import Condition
from pynamodb.expressions.update import Action as UpdateAction
from pynamodb.indexes import AllProjection
from pynamodb.models import Model
from pynamodb.transactions import TransactWrite

from mturk_decisions.adapters.dynamo import ModelStore, TableIndex, bound
from mturk_decisions.domain.errors import AuditUnavailable, DecisionInProgress, InvalidCursor, RecordAlreadyFinal
from mturk_decisions.domain.model import Action, DecisionLease, DecisionRecord, DecisionState, Source
from mturk_decisions.domain.rules import iso
from mturk_decisions.service.ports import JoinedWrite, Page

INDEX_BY_WORKER = "by-worker"
INDEX_BY_HIT = "by-hit"
INDEX_BY_PENDING = "by-pending"
INDEX_BY_DAY = "by-day"
PENDING_MARKER = "PENDING"
_KEY_SEPARATOR = "#"
_AFTER_ANY_ID = "~"  # sorts after every decision id, so `until` includes its own moment
P = ParamSpec("P")
R = TypeVar("R")
LEASE_KEY = "~lease"  # after every record key (they start with a year), so history reads stop before it


def _reading(read: Callable[P, R]) -> Callable[P, R]:
    """A read DynamoDB could not answer (throttled, unreachable) is AuditUnavailable: 503 and retryable, not a
    500 for the caller, and a worker's chunk is tried again as after any retryable error."""

    @functools.wraps(read)
    def reading(*args: P.args, **kwargs: P.kwargs) -> R:
        try:
            return read(*args, **kwargs)
        except PynamoDBException as error:
            raise AuditUnavailable(f"The audit could not be read ({type(error).__name__}); nothing was changed. "
                                   "Retry shortly.") from None

    return reading


class _AuditIndex(TableIndex["AuditRecord"]):
    """An audit index: its partition (declared by the subclass) and `decision_key`, newest first."""

    decision_key = UnicodeAttribute(range_key=True)


class ByWorkerIndex(_AuditIndex):
    class Meta:
        index_name = INDEX_BY_WORKER
        projection = AllProjection()

    worker_id = UnicodeAttribute(hash_key=True)


class ByHitIndex(_AuditIndex):
    class Meta:
        index_name = INDEX_BY_HIT
        projection = AllProjection()

    hit_id = UnicodeAttribute(hash_key=True)


class ByPendingIndex(_AuditIndex):
    class Meta:
        index_name = INDEX_BY_PENDING
        projection = AllProjection()

    pending = UnicodeAttribute(hash_key=True)


class ByDayIndex(_AuditIndex):
    class Meta:
        index_name = INDEX_BY_DAY
        projection = AllProjection()

    day = UnicodeAttribute(hash_key=True)


class AuditRecord(Model):
    """A decision's record in the audit table (bound to a table by `audit_model`)."""

    assignment_id = UnicodeAttribute(hash_key=True)
    decision_key = UnicodeAttribute(range_key=True)
    decision_id = UnicodeAttribute()
    hit_id = UnicodeAttribute()
    worker_id = UnicodeAttribute()
    action = UnicodeAttribute()
    source = UnicodeAttribute()
    actor = UnicodeAttribute()
    state = UnicodeAttribute()
    previous_status = UnicodeAttribute()
    created_at = UTCDateTimeAttribute()
    finalized_at = UTCDateTimeAttribute(null=True)
    feedback = UnicodeAttribute(null=True)
    reason = UnicodeAttribute(null=True)
    request_id = UnicodeAttribute(null=True)
    batch_id = UnicodeAttribute(null=True)
    reward = UnicodeAttribute(null=True)
    fee = UnicodeAttribute(null=True)
    error_code = UnicodeAttribute(null=True)
    error_message = UnicodeAttribute(null=True)
    pending = UnicodeAttribute(null=True)
    idempotency_key = UnicodeAttribute(null=True)
    notification = UnicodeAttribute(null=True)  # JSON: the message sent to the worker, MTurk's answer
    day = UnicodeAttribute(null=True)  # the decision's UTC day (YYYY-MM-DD): the by-day index
    by_day = ByDayIndex()
    by_worker = ByWorkerIndex()
    by_hit = ByHitIndex()
    by_pending = ByPendingIndex()


class DecisionLeaseItem(Model):
    """The decision lease, a second shape of item in the audit table (see the module docstring)."""

    assignment_id = UnicodeAttribute(hash_key=True)
    decision_key = UnicodeAttribute(range_key=True)
    holder_decision_id = UnicodeAttribute(null=True)  # absent: the lease is free
    holder_decision_key = UnicodeAttribute(null=True)
    lease_expires_at = NumberAttribute(null=True)  # epoch seconds


def audit_model(table_name: str, region: str | None = None, host: str | None = None) -> type[AuditRecord]:
    """The audit Model bound to one table (see adapters.dynamo)."""
    return bound(AuditRecord, table_name, region, host)


def lease_model(table_name: str, region: str | None = None, host: str | None = None) -> type[DecisionLeaseItem]:
    """The decision lease bound to the audit table."""
    return bound(DecisionLeaseItem, table_name, region, host)


def decision_key(created_at: datetime, decision_id: str) -> str:
    return f"{iso(created_at)}{_KEY_SEPARATOR}{decision_id}"


class DynamoAuditStore(ModelStore[AuditRecord]):
    def __init__(self, model: type[AuditRecord], lease: type[DecisionLeaseItem] | None = None) -> None:
        super().__init__(model)
        meta = model.Meta
        self._lease = lease or lease_model(meta.table_name, meta.region, meta.host)

    @classmethod
    def bind(cls, table_name: str, region: str | None, host: str | None) -> type[AuditRecord]:
        return audit_model(table_name, region, host)

    def connect(self) -> None:
        """Make the DynamoDB client of this store's transactions now (else on its first request)."""
        _ = self._model._get_connection().connection.client

    def write_ahead(self, record: DecisionRecord, lease_expires_at: datetime) -> None:
        """The PENDING record and the assignment's lease, in one transaction: both or neither."""
        key = decision_key(record.created_at, record.decision_id)
        lease = self._lease(record.assignment_id, LEASE_KEY, holder_decision_id=record.decision_id,
                            holder_decision_key=key, lease_expires_at=int(lease_expires_at.timestamp()))
        try:
            with TransactWrite(connection=self._model._get_connection().connection) as transaction:
                transaction.save(lease, condition=self._lease.holder_decision_id.does_not_exist(),
                                 return_values="ALL_OLD")
                transaction.save(self._to_item(record), condition=self._model.decision_key.does_not_exist())
        except TransactWriteError as error:
            holder = _lease_in(error, 0)
            if holder is not None or _condition_failed(error, 0):
                raise self._in_progress(holder or self.lease(record.assignment_id), record.assignment_id) from None
            raise _audit_unavailable(error) from None
        except PynamoDBException as error:
            raise _audit_unavailable(error) from None

    def lease(self, assignment_id: str) -> DecisionLease | None:
        try:
            item = self._lease.get(assignment_id, LEASE_KEY, consistent_read=True)
        except self._lease.DoesNotExist:
            return None
        except GetError as error:
            raise _audit_unavailable(error) from None
        if item.holder_decision_id is None:
            return None
        return DecisionLease(item.assignment_id, item.holder_decision_id, item.holder_decision_key,
                             datetime.fromtimestamp(int(item.lease_expires_at), UTC))

    def acquire_run_lock(self, name: str, owner: str, expires_at: datetime, now: datetime) -> bool:
        """One run of a periodic job at a time (the reconciler), across every environment: a lease item
        of its own (`~run:<name>`), taken with a conditional update, no reserved concurrency needed."""
        leases = self._lease
        lock = leases(f"~run:{name}", LEASE_KEY)
        free = leases.holder_decision_id.does_not_exist() | (leases.lease_expires_at < int(now.timestamp()))
        try:
            lock.update(actions=[leases.holder_decision_id.set(owner), leases.holder_decision_key.set(name),
                                 leases.lease_expires_at.set(int(expires_at.timestamp()))], condition=free)
        except UpdateError as error:
            if error.cause_response_code == "ConditionalCheckFailedException":
                return False
            raise
        return True

    def release_run_lock(self, name: str, owner: str) -> None:
        leases = self._lease
        try:
            leases(f"~run:{name}", LEASE_KEY).update(
                actions=[leases.holder_decision_id.remove(), leases.lease_expires_at.remove()],
                condition=leases.holder_decision_id == owner)
        except UpdateError as error:
            if error.cause_response_code != "ConditionalCheckFailedException":
                raise

    def record(self, assignment_id: str, key: str) -> DecisionRecord | None:
        try:
            return self._to_record(self._model.get(assignment_id, key, consistent_read=True))
        except self._model.DoesNotExist:
            return None

    def reload(self, record: DecisionRecord) -> DecisionRecord | None:
        return self.record(record.assignment_id, decision_key(record.created_at, record.decision_id))

    def _in_progress(self, holder: DecisionLease | None, assignment_id: str) -> DecisionInProgress:
        error = DecisionInProgress(
            f"Another decision for assignment {assignment_id} is in progress; nothing was sent to MTurk. "
            "Retry shortly: its outcome will be in GET /assignments/{id}.".replace("{id}", assignment_id),
            holderDecisionId=holder.decision_id if holder else None,
        )
        error.lease = holder
        return error

    def record_external(self, record: DecisionRecord) -> bool:
        """Record a decision made outside the service (already final). False if it was recorded before:
        its key is derived from the source event, so a redelivered notification is recorded once."""
        try:
            self._to_item(record).save(condition=self._model.decision_key.does_not_exist())
        except PutError as error:
            if error.cause_response_code == "ConditionalCheckFailedException":
                return False
            raise
        return True

    def finalize(
        self,
        record: DecisionRecord,
        state: DecisionState,
        finalized_at: datetime,
        error_code: str | None = None,
        error_message: str | None = None,
        joined: JoinedWrite | None = None,
    ) -> bool:
        """PENDING → final, and the lease this record holds released, in one transaction, with `joined`'s writes
        when there are some. If only `joined`'s part could not be written (its condition, or a conflict on its
        items), the record is finalized alone and False tells the caller to write its part itself.
        Raises RecordAlreadyFinal when another writer settled the record first."""
        try:
            self._finalize(record, state, finalized_at, error_code, error_message, joined)
        except TransactWriteError as error:
            if _condition_failed(error, 0):
                raise RecordAlreadyFinal(record.decision_id) from None
            if joined is None:
                raise
            return self.finalize(record, state, finalized_at, error_code, error_message)
        return joined is not None

    def _finalize(self, record: DecisionRecord, state: DecisionState, finalized_at: datetime,
                  error_code: str | None, error_message: str | None, joined: JoinedWrite | None) -> None:
        m = self._model
        actions: list[UpdateAction] = [m.state.set(state.value), m.finalized_at.set(finalized_at), m.pending.remove()]
        if error_code:
            actions.append(m.error_code.set(error_code))
        if error_message:
            actions.append(m.error_message.set(error_message[:2000]))
        item = m(record.assignment_id, decision_key(record.created_at, record.decision_id))
        lease, leases = self._lease(record.assignment_id, LEASE_KEY), self._lease
        release: list[UpdateAction] = [leases.holder_decision_id.remove(), leases.holder_decision_key.remove(),
                   leases.lease_expires_at.remove()]
        mine = leases.holder_decision_id.does_not_exist() | (leases.holder_decision_id == record.decision_id)
        with TransactWrite(connection=m._get_connection().connection) as transaction:
            transaction.update(item, actions=actions, condition=m.state == DecisionState.PENDING.value)
            transaction.update(lease, actions=release, condition=mine)
            if joined is not None:
                joined.join(transaction, record.decision_id, finalized_at)

    @_reading
    def history(self, assignment_id: str, limit: int = 50) -> list[DecisionRecord]:
        results = self._model.query(assignment_id, self._model.decision_key < LEASE_KEY, scan_index_forward=False,
                                    limit=limit, consistent_read=True)
        return [self._to_record(item) for item in results]

    def record_notification(self, record: DecisionRecord, notification: dict[str, Any]) -> None:
        """The message sent to the worker after the decision, and MTurk's answer, on the decision's record."""
        m = self._model
        item = m(record.assignment_id, decision_key(record.created_at, record.decision_id))
        try:
            item.update(actions=[m.notification.set(json.dumps(notification, ensure_ascii=False))],
                        condition=m.decision_key.exists())
        except PynamoDBException as error:
            raise _audit_unavailable(error) from None

    @_reading
    def pending(self, limit: int = 100) -> list[DecisionRecord]:
        results = self._model.by_pending.query(PENDING_MARKER, limit=limit)
        return [self._to_record(item) for item in results]

    @_reading
    def by_worker(self, worker_id: str, since: datetime | None, until: datetime | None, limit: int,
                  cursor: str | None) -> Page:
        return self._page(self._model.by_worker, "worker_id", worker_id, since, until, limit, cursor)

    @_reading
    def by_hit(self, hit_id: str, since: datetime | None, until: datetime | None, limit: int,
               cursor: str | None) -> Page:
        return self._page(self._model.by_hit, "hit_id", hit_id, since, until, limit, cursor)

    @_reading
    def in_range(self, since: datetime, until: datetime, limit: int, cursor: str | None) -> Page:
        """Every decision from `since` to `until`, newest first: the `by-day` index, one day after the other
        (newest day first), until a page is full. The cursor is the index key of the page's last record."""
        condition = _range_condition(self._model.decision_key, since, until)
        days = _days_back(since, until)
        start = decode_cursor(cursor, "day", None) if cursor else None
        if start is not None:
            if start["day"]["S"] not in days:
                raise InvalidCursor("The cursor is not valid for this query; start again without it.", field="cursor")
            days = days[days.index(start["day"]["S"]):]
        records: list[AuditRecord] = []
        for day in days:
            results = self._model.by_day.query(day, range_key_condition=condition, scan_index_forward=False,
                                               last_evaluated_key=start, page_size=limit + 1)
            start = None
            for item in results:
                records.append(item)
                if len(records) > limit:
                    break
            if len(records) > limit:
                break
        more, records = len(records) > limit, records[:limit]
        last = records[-1] if more else None
        key = {"assignment_id": {"S": last.assignment_id}, "decision_key": {"S": last.decision_key},
               "day": {"S": last.day}} if last else None
        return Page([self._to_record(item) for item in records], encode_cursor(key) if key else None)

    def _page(self, index: TableIndex[AuditRecord], hash_name: str, hash_value: str, since: datetime | None,
              until: datetime | None, limit: int, cursor: str | None) -> Page:
        start_key = decode_cursor(cursor, hash_name, hash_value) if cursor else None
        condition = _range_condition(self._model.decision_key, since, until)
        results = index.query(
            hash_value,
            range_key_condition=condition,
            scan_index_forward=False,
            limit=limit,
            last_evaluated_key=start_key,
        )
        records = [self._to_record(item) for item in results]
        last_key = results.last_evaluated_key if len(records) >= limit else None
        return Page(records=records, cursor=encode_cursor(last_key) if last_key else None)

    def _to_item(self, record: DecisionRecord) -> AuditRecord:
        return self._model(
            record.assignment_id,
            decision_key(record.created_at, record.decision_id),
            decision_id=record.decision_id,
            hit_id=record.hit_id,
            worker_id=record.worker_id,
            action=record.action.value,
            source=record.source.value,
            actor=record.actor,
            state=record.state.value,
            previous_status=record.previous_status,
            created_at=record.created_at,
            feedback=record.feedback,
            reason=record.reason,
            request_id=record.request_id,
            batch_id=record.batch_id,
            reward=None if record.reward is None else str(record.reward),
            fee=None if record.fee is None else str(record.fee),
            pending=PENDING_MARKER if record.state is DecisionState.PENDING else None,
            finalized_at=record.finalized_at,
            idempotency_key=record.idempotency_key,
            notification=json.dumps(record.notification, ensure_ascii=False) if record.notification else None,
            day=_day(record.created_at),
        )

    @staticmethod
    def _to_record(item: AuditRecord) -> DecisionRecord:
        return DecisionRecord(
            decision_id=item.decision_id,
            assignment_id=item.assignment_id,
            hit_id=item.hit_id,
            worker_id=item.worker_id,
            action=Action(item.action),
            source=Source(item.source),
            actor=item.actor,
            created_at=item.created_at.astimezone(UTC),
            previous_status=item.previous_status,
            state=DecisionState(item.state),
            feedback=item.feedback,
            reason=item.reason,
            request_id=item.request_id,
            batch_id=item.batch_id,
            reward=None if item.reward is None else Decimal(item.reward),
            fee=None if item.fee is None else Decimal(item.fee),
            finalized_at=item.finalized_at,
            error_code=item.error_code,
            error_message=item.error_message,
            idempotency_key=item.idempotency_key,
            notification=json.loads(item.notification) if item.notification else None,
        )


def _condition_failed(error: TransactWriteError, index: int) -> bool:
    reasons = error.cancellation_reasons if error.cause_response_code == "TransactionCanceledException" else []
    reason = reasons[index] if len(reasons) > index else None
    return reason is not None and reason.code == "ConditionalCheckFailed"


def _lease_in(error: TransactWriteError, index: int) -> DecisionLease | None:
    """The lease that blocked the transaction, from its cancellation reason (ReturnValuesOnConditionCheckFailure)."""
    if not _condition_failed(error, index):
        return None
    reason = error.cancellation_reasons[index]
    item = (reason.raw_item if reason else None) or {}
    try:
        return DecisionLease(item["assignment_id"]["S"], item["holder_decision_id"]["S"],
                             item["holder_decision_key"]["S"],
                             datetime.fromtimestamp(int(item["lease_expires_at"]["N"]), UTC))
    except (KeyError, TypeError, ValueError):
        return None


def _audit_unavailable(error: Exception) -> AuditUnavailable:
    return AuditUnavailable(
        "The decision was not sent to MTurk because the audit record could not be written "
        f"({type(error).__name__}). Nothing was changed; retry shortly.",
    )


def _range_condition(attribute: UnicodeAttribute, since: datetime | None, until: datetime | None) -> Condition | None:
    low = iso(since) if since else None
    high = f"{iso(until)}{_AFTER_ANY_ID}" if until else None
    if low and high:
        return attribute.between(low, high)
    if low:
        return attribute >= low
    if high:
        return attribute <= high
    return None


def encode_cursor(last_key: dict[str, Any]) -> str:
    raw = json.dumps(last_key, separators=(",", ":"), sort_keys=True).encode()
    return base64.urlsafe_b64encode(raw).decode().rstrip("=")


def _day(moment: datetime) -> str:
    return moment.astimezone(UTC).date().isoformat()


def _days_back(since: datetime, until: datetime) -> list[str]:
    """The UTC days from `until`'s back to `since`'s (the caller bounds the range)."""
    first, last = since.astimezone(UTC).date(), until.astimezone(UTC).date()
    return [(last - timedelta(days=n)).isoformat() for n in range((last - first).days + 1)]


def decode_cursor(cursor: str, hash_name: str, hash_value: str | None) -> dict[str, Any]:
    """A cursor only continues the query it came from: same index and same worker or HIT (any day for `by-day`)."""
    try:
        padded = cursor + "=" * (-len(cursor) % 4)
        key: dict[str, Any] = json.loads(base64.urlsafe_b64decode(padded.encode()))
        valid = (
            isinstance(key, dict)
            and isinstance(key.get(hash_name, {}).get("S"), str)
            and (hash_value is None or key[hash_name]["S"] == hash_value)
            and isinstance(key.get("decision_key", {}).get("S"), str)
            and isinstance(key.get("assignment_id", {}).get("S"), str)
        )
    except (ValueError, binascii.Error, UnicodeDecodeError, AttributeError):
        valid = False
    if not valid:
        raise InvalidCursor("The cursor is not valid for this query; start again without it.", field="cursor")
    return key
