"""Automatic reversals waiting for their time: provisional rejections, scheduled reversals, funds retries.

One item per assignment. `pending` is set while the reversal is waiting or running, which makes two sparse
indexes: `by-due` (what the sweep runs next) and `by-deadline` (what the deadline guard counts). A third,
`by-state` (state, due time), lists the settled ones for GET /scheduled-reversals; the waiting and running
ones it lists from `by-due`. Every
change of state is one conditional write: a sweep claims an item (PENDING → RUNNING, with an owner and an
expiry) before it acts, and confirm or cancel succeed only from PENDING, so they can never both win.
"""
from __future__ import annotations

import base64
import binascii
import json
from dataclasses import replace
from datetime import UTC, datetime
from typing import Any

from pynamodb.attributes import NumberAttribute, UnicodeAttribute, UTCDateTimeAttribute
from pynamodb.exceptions import PynamoDBException
from pynamodb.expressions.condition import Condition
from pynamodb.indexes import AllProjection
from pynamodb.models import Model

from mturk_decisions.adapters.dynamo import ModelStore, TableIndex, bound
from mturk_decisions.domain.errors import AuditUnavailable, InvalidCursor, ReversalAlreadyScheduled
from mturk_decisions.domain.rules import iso
from mturk_decisions.domain.schedule import (
    ACTIVE_STATES,
    PENDING,
    RUNNING,
    ScheduledReversal,
    SchedulePage,
    ScheduleQuery,
)

PENDING_MARKER = "PENDING"


class ByDueIndex(TableIndex["ScheduledReversalItem"]):
    """Waiting and running reversals by due time (sparse: `pending`)."""

    class Meta:
        index_name = "by-due"
        projection = AllProjection()

    pending = UnicodeAttribute(hash_key=True)
    due_key = UnicodeAttribute(range_key=True)


class ByDeadlineIndex(TableIndex["ScheduledReversalItem"]):
    """Waiting and running reversals by MTurk's deadline (sparse: `pending`)."""

    class Meta:
        index_name = "by-deadline"
        projection = AllProjection()

    pending = UnicodeAttribute(hash_key=True)
    deadline_key = UnicodeAttribute(range_key=True)


class ByStateIndex(TableIndex["ScheduledReversalItem"]):
    """Every reversal by state, then due time."""

    class Meta:
        index_name = "by-state"
        projection = AllProjection()

    state = UnicodeAttribute(hash_key=True)
    due_key = UnicodeAttribute(range_key=True)


class ScheduledReversalItem(Model):
    """An assignment's automatic reversal (bound to a table by `schedule_model`)."""

    assignment_id = UnicodeAttribute(hash_key=True)
    kind = UnicodeAttribute()
    state = UnicodeAttribute()
    due_key = UnicodeAttribute()
    deadline_key = UnicodeAttribute()
    created_at = UTCDateTimeAttribute(null=True)
    actor = UnicodeAttribute(null=True)
    reason = UnicodeAttribute(null=True)
    feedback = UnicodeAttribute(null=True)
    attempts = NumberAttribute(default=0)
    last_error = UnicodeAttribute(null=True)
    decision_id = UnicodeAttribute(null=True)
    rejection_decision_id = UnicodeAttribute(null=True)
    claimed_by = UnicodeAttribute(null=True)
    claimed_until = UTCDateTimeAttribute(null=True)
    pending = UnicodeAttribute(null=True)
    hit_id = UnicodeAttribute(null=True)
    worker_id = UnicodeAttribute(null=True)
    by_due = ByDueIndex()
    by_deadline = ByDeadlineIndex()
    by_state = ByStateIndex()


def schedule_model(table_name: str, region: str | None = None,
                   host: str | None = None) -> type[ScheduledReversalItem]:
    """The schedule table's Model bound to one table (see adapters.dynamo)."""
    return bound(ScheduledReversalItem, table_name, region, host)


class DynamoScheduleStore(ModelStore[ScheduledReversalItem]):
    @classmethod
    def bind(cls, table_name: str, region: str | None, host: str | None) -> type[ScheduledReversalItem]:
        return schedule_model(table_name, region, host)

    def create(self, schedule: ScheduledReversal) -> bool:
        """Store a new automatic reversal unless one is active. False when this very rejection's schedule
        exists already (a retried request, a redelivered notification): creating it is idempotent."""
        m = self._model
        free = m.assignment_id.does_not_exist() | (~m.state.is_in(*ACTIVE_STATES) & self._other_rejection(schedule))
        try:
            self._to_item(schedule).save(condition=free)
            return True
        except PynamoDBException as error:
            if not _condition_failed(error):
                raise _unavailable(error) from None
        existing = self.get(schedule.assignment_id)
        if existing and schedule.rejection_decision_id and existing.rejection_decision_id == schedule.rejection_decision_id:
            return False
        raise ReversalAlreadyScheduled(
            f"Assignment {schedule.assignment_id} already has an automatic reversal ({existing.kind if existing else '?'}, "
            f"{existing.state if existing else '?'}); confirm or cancel it first.",
            scheduledReversal=existing.to_json() if existing else None)

    def get(self, assignment_id: str) -> ScheduledReversal | None:
        try:
            return self._to_schedule(self._model.get(assignment_id, consistent_read=True))
        except self._model.DoesNotExist:
            return None

    def claim(self, schedule: ScheduledReversal, owner: str, until: datetime, now: datetime) -> ScheduledReversal | None:
        """PENDING and due (or RUNNING with an expired claim) → RUNNING for `owner`; None if someone else
        holds it or it is no longer waiting."""
        m = self._model
        claimable = ((m.state == PENDING) & (m.due_key <= iso(now))) | ((m.state == RUNNING) & (m.claimed_until < now))
        claimed = replace(schedule, state=RUNNING, claimed_by=owner, claimed_until=until)
        return claimed if self._save_if(claimed, claimable) else None

    def transition(self, schedule: ScheduledReversal, new: ScheduledReversal) -> bool:
        """Move from the state `schedule` was read in (its owner too, while RUNNING) to `new`."""
        m = self._model
        expected = m.state == schedule.state
        if schedule.state == RUNNING:
            expected = expected & (m.claimed_by == schedule.claimed_by)
        if schedule.rejection_decision_id:
            expected = expected & (m.rejection_decision_id == schedule.rejection_decision_id)
        return self._save_if(new, expected)

    def due(self, now: datetime, limit: int = 100) -> list[ScheduledReversal]:
        results = self._model.by_due.query(PENDING_MARKER, self._model.due_key <= iso(now), limit=limit)
        return [self._to_schedule(item) for item in results]

    def closing_before(self, moment: datetime, limit: int = 1000) -> list[ScheduledReversal]:
        results = self._model.by_deadline.query(PENDING_MARKER, self._model.deadline_key <= iso(moment), limit=limit)
        return [self._to_schedule(item) for item in results]

    def listing(self, query: ScheduleQuery) -> SchedulePage:
        """One page by due time, earliest first: the waiting and running ones from `by-due`, one other state
        from `by-state` (index queries, never a scan); HIT and kind filter the index's items."""
        m = self._model
        index, hash_name, hash_value = (m.by_due, "pending", PENDING_MARKER) if tuple(query.states) == ACTIVE_STATES \
            else (m.by_state, "state", query.states[0])
        start = _decode_cursor(query.cursor, hash_name, hash_value) if query.cursor else None
        results = index.query(hash_value, range_key_condition=m.due_key < iso(query.due_before) if query.due_before
                              else None, filter_condition=self._filters(query), last_evaluated_key=start,
                              page_size=max(query.limit + 1, 25))
        items: list[ScheduledReversalItem] = []
        for item in results:
            items.append(item)
            if len(items) > query.limit:
                break
        more, items = len(items) > query.limit, items[:query.limit]
        cursor = _encode_cursor(items[-1], hash_name) if more else None
        return SchedulePage([self._to_schedule(item) for item in items], cursor)

    def _filters(self, query: ScheduleQuery) -> Condition | None:
        m = self._model
        conditions = [m.hit_id == query.hit_id if query.hit_id else None, m.kind == query.kind if query.kind else None]
        combined = None
        for condition in conditions:
            if condition is not None:
                combined = condition if combined is None else combined & condition
        return combined

    def _other_rejection(self, schedule: ScheduledReversal) -> Condition:
        m = self._model
        if schedule.rejection_decision_id is None:
            return m.assignment_id.exists()
        other: Condition = m.rejection_decision_id.does_not_exist() | (m.rejection_decision_id != schedule.rejection_decision_id)
        return other

    def _save_if(self, new: ScheduledReversal, condition: Condition) -> bool:
        try:
            self._to_item(new).save(condition=condition)
        except PynamoDBException as error:
            if _condition_failed(error):
                return False
            raise _unavailable(error) from None
        return True

    def _to_item(self, s: ScheduledReversal) -> ScheduledReversalItem:
        return self._model(
            s.assignment_id, kind=s.kind, state=s.state, due_key=iso(s.due_at), deadline_key=iso(s.deadline),
            created_at=s.created_at, actor=s.actor, reason=s.reason, feedback=s.feedback, attempts=s.attempts,
            last_error=s.last_error, decision_id=s.decision_id, rejection_decision_id=s.rejection_decision_id,
            claimed_by=s.claimed_by if s.state == RUNNING else None,
            claimed_until=s.claimed_until if s.state == RUNNING else None,
            pending=PENDING_MARKER if s.state in ACTIVE_STATES else None, hit_id=s.hit_id, worker_id=s.worker_id,
        )

    @staticmethod
    def _to_schedule(item: ScheduledReversalItem) -> ScheduledReversal:
        return ScheduledReversal(
            assignment_id=item.assignment_id, kind=item.kind, due_at=_parse(item.due_key),
            deadline=_parse(item.deadline_key), state=item.state, created_at=item.created_at, actor=item.actor or "unknown",
            reason=item.reason, feedback=item.feedback, attempts=int(item.attempts or 0), last_error=item.last_error,
            decision_id=item.decision_id, rejection_decision_id=item.rejection_decision_id,
            claimed_by=item.claimed_by, claimed_until=item.claimed_until, hit_id=item.hit_id, worker_id=item.worker_id,
        )


def _condition_failed(error: PynamoDBException) -> bool:
    return getattr(error, "cause_response_code", None) == "ConditionalCheckFailedException"


def _unavailable(error: PynamoDBException) -> AuditUnavailable:
    return AuditUnavailable(f"The reversal schedule could not be stored ({type(error).__name__}); "
                            "nothing was changed. Retry shortly.")


def _parse(key: str) -> datetime:
    return datetime.fromisoformat(key.replace("Z", "+00:00")).astimezone(UTC)


def _encode_cursor(item: ScheduledReversalItem, hash_name: str) -> str:
    """The index key of the last item listed: where the next page starts."""
    key = {"assignment_id": item.assignment_id, "due_key": item.due_key, hash_name: getattr(item, hash_name)}
    raw = json.dumps(key, separators=(",", ":"), sort_keys=True).encode()
    return base64.urlsafe_b64encode(raw).decode().rstrip("=")


def _decode_cursor(cursor: str, hash_name: str, hash_value: str) -> dict[str, Any]:
    """A cursor continues only the listing it came from (the same index and partition)."""
    try:
        key = json.loads(base64.urlsafe_b64decode((cursor + "=" * (-len(cursor) % 4)).encode()))
        valid = (isinstance(key, dict) and set(key) == {"assignment_id", "due_key", hash_name}
                 and key[hash_name] == hash_value and all(isinstance(v, str) for v in key.values()))
    except (ValueError, binascii.Error, UnicodeDecodeError, AttributeError):
        valid = False
    if not valid:
        raise InvalidCursor("The cursor is not valid for this listing; start again without it.", field="cursor")
    return {name: {"S": value} for name, value in key.items()}
