"""Automatic reversals waiting for their time: provisional rejections, scheduled reversals, funds retries.

One item per assignment. `pending` is set only while the reversal is waiting, which makes two sparse
indexes: `by-due` (what the sweep runs next) and `by-deadline` (what the deadline guard counts).
The schedule is data, so it survives redeploys; cancelling is one conditional update.
"""
from __future__ import annotations

from dataclasses import replace
from datetime import datetime, timezone

from pynamodb.attributes import NumberAttribute, UnicodeAttribute, UTCDateTimeAttribute
from pynamodb.exceptions import PynamoDBException
from pynamodb.models import Model

from mturk_decisions.adapters.dynamo import ModelStore, bound_model, string_index
from mturk_decisions.domain.errors import AuditUnavailable
from mturk_decisions.domain.rules import iso
from mturk_decisions.domain.schedule import PENDING, ScheduledReversal

def schedule_model(table_name: str, region: str | None = None, host: str | None = None) -> type[Model]:
    attributes = {
        "assignment_id": UnicodeAttribute(hash_key=True),
        "kind": UnicodeAttribute(),
        "state": UnicodeAttribute(),
        "due_key": UnicodeAttribute(),
        "deadline_key": UnicodeAttribute(),
        "created_at": UTCDateTimeAttribute(null=True),
        "actor": UnicodeAttribute(null=True),
        "reason": UnicodeAttribute(null=True),
        "feedback": UnicodeAttribute(null=True),
        "attempts": NumberAttribute(default=0),
        "last_error": UnicodeAttribute(null=True),
        "decision_id": UnicodeAttribute(null=True),
        "pending": UnicodeAttribute(null=True),
        "by_due": string_index("by-due", "pending", "due_key"),
        "by_deadline": string_index("by-deadline", "pending", "deadline_key"),
    }
    return bound_model("ScheduledReversalModel", table_name, region, host, attributes)


class DynamoScheduleStore(ModelStore):
    model_factory = staticmethod(schedule_model)

    def put(self, schedule: ScheduledReversal) -> None:
        try:
            self._to_item(schedule).save()
        except PynamoDBException as error:
            raise AuditUnavailable(f"The reversal schedule could not be stored ({type(error).__name__}); "
                                   "nothing was changed. Retry shortly.") from None

    def get(self, assignment_id: str) -> ScheduledReversal | None:
        try:
            return self._to_schedule(self._model.get(assignment_id))
        except self._model.DoesNotExist:
            return None

    def settle(self, schedule: ScheduledReversal, state: str, **changes) -> bool:
        """Leave PENDING for a final state, only if still PENDING (a cancel and a sweep can race)."""
        return self._update(schedule.assignment_id, replace(schedule, state=state, **changes))

    def reschedule(self, schedule: ScheduledReversal, due_at: datetime, **changes) -> bool:
        return self._update(schedule.assignment_id, replace(schedule, due_at=due_at, **changes))

    def due(self, now: datetime, limit: int = 100) -> list[ScheduledReversal]:
        results = self._model.by_due.query(PENDING, self._model.due_key <= _key(now), limit=limit)
        return [self._to_schedule(item) for item in results]

    def closing_before(self, moment: datetime, limit: int = 1000) -> list[ScheduledReversal]:
        results = self._model.by_deadline.query(PENDING, self._model.deadline_key <= _key(moment), limit=limit)
        return [self._to_schedule(item) for item in results]

    def _update(self, assignment_id: str, new: ScheduledReversal) -> bool:
        try:
            self._to_item(new).save(condition=self._model.state == PENDING)
        except PynamoDBException as error:
            if getattr(error, "cause_response_code", None) == "ConditionalCheckFailedException":
                return False
            raise
        return True

    def _to_item(self, s: ScheduledReversal) -> Model:
        return self._model(
            s.assignment_id, kind=s.kind, state=s.state, due_key=_key(s.due_at), deadline_key=_key(s.deadline),
            created_at=s.created_at, actor=s.actor, reason=s.reason, feedback=s.feedback, attempts=s.attempts,
            last_error=s.last_error, decision_id=s.decision_id, pending=PENDING if s.state == PENDING else None,
        )

    @staticmethod
    def _to_schedule(item: Model) -> ScheduledReversal:
        return ScheduledReversal(
            assignment_id=item.assignment_id, kind=item.kind, due_at=_parse(item.due_key),
            deadline=_parse(item.deadline_key), state=item.state, created_at=item.created_at, actor=item.actor or "unknown",
            reason=item.reason, feedback=item.feedback, attempts=int(item.attempts or 0), last_error=item.last_error,
            decision_id=item.decision_id,
        )


def _key(moment: datetime) -> str:
    return iso(moment)


def _parse(key: str) -> datetime:
    return datetime.fromisoformat(key.replace("Z", "+00:00")).astimezone(timezone.utc)


