"""The audit, listed: GET /decisions for one worker, one HIT, or a time range (newest first). A Powertools `Router`
included into the API's resolver (`api/routes.py`)."""
from __future__ import annotations

from datetime import UTC, datetime
from typing import Annotated, Any, Optional

from aws_lambda_powertools.event_handler.api_gateway import Router
from aws_lambda_powertools.event_handler.openapi.params import Query

from mturk_decisions import wiring
from mturk_decisions.api.models import DecisionPage
from mturk_decisions.api.openapi import operation
from mturk_decisions.api.responses import decision_json
from mturk_decisions.api.schemas import ASSIGNMENT_ID_PATTERN, WORKER_ID_PATTERN
from mturk_decisions.domain.errors import InvalidCursor, InvalidRequest

router = Router()  # type: ignore[no-untyped-call]  # Powertools' Router.__init__ is not annotated


@router.get("/decisions", **operation(
    "The audit for one worker or one HIT, or every decision in a time range, newest first", "listDecisions",
    ok={200: (DecisionPage, "One page of decisions.")}, errors=(InvalidCursor,),
    description="Give exactly one of `workerId` or `hitId` (with optional `since`, `until`), or neither and both "
                "`since` and `until`: every decision in that range (at most 31 days), from the audit's `by-day` "
                "index (decisions recorded before that index existed are not listed)."))
def list_decisions(
    workerId: Annotated[Optional[str], Query(max_length=64, pattern=WORKER_ID_PATTERN)] = None,
    hitId: Annotated[Optional[str], Query(max_length=64, pattern=ASSIGNMENT_ID_PATTERN)] = None,
    since: Annotated[Optional[str], Query(description="ISO 8601 date or time (UTC if no offset)")] = None,
    until: Annotated[Optional[str], Query(description="ISO 8601 date or time (UTC if no offset)")] = None,
    limit: Annotated[int, Query(ge=1, le=100)] = 25,
    cursor: Annotated[Optional[str], Query(max_length=2048)] = None,
) -> dict[str, Any]:
    in_range = not workerId and not hitId and bool(since) and bool(until)
    if bool(workerId) == bool(hitId) and not in_range:
        raise InvalidRequest("Give exactly one of the query parameters workerId or hitId, or neither and both since "
                             "and until (every decision in that range).", field="workerId|hitId")
    low, high = _moment("since", since), _moment("until", until, end_of_day=True)
    if low and high and low > high:
        raise InvalidRequest("since must not be later than until.", field="since")
    service = wiring.current().service
    if workerId:
        page = service.decisions_for_worker(workerId, low, high, limit, cursor)
    elif hitId:
        page = service.decisions_for_hit(hitId, low, high, limit, cursor)
    elif low is not None and high is not None:  # in range: neither id, both times
        page = service.decisions_in_range(low, high, limit, cursor)
    else:
        raise AssertionError("refused above: neither an id nor a range")
    return {"decisions": [decision_json(r) for r in page.records], "nextCursor": page.cursor}


def _moment(name: str, value: str | None, end_of_day: bool = False) -> datetime | None:
    if not value:
        return None
    try:
        moment = datetime.fromisoformat(value.replace("Z", "+00:00"))
    except ValueError:
        raise InvalidRequest(f"{name} must be an ISO 8601 date or time, e.g. 2026-11-01 or 2026-11-01T12:00:00Z.",
                             field=name) from None
    if end_of_day and len(value) == 10:
        moment = moment.replace(hour=23, minute=59, second=59, microsecond=999000)
    return moment.replace(tzinfo=UTC) if moment.tzinfo is None else moment.astimezone(UTC)


