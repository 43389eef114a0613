"""Automatic reversals, listed: GET /scheduled-reversals (provisional rejections, scheduled reversals and funds
retries, by due time). A Powertools `Router` included into the API's resolver (`api/routes.py`); domain errors
are answered by the resolver's handlers.

    GET /scheduled-reversals?state=&hitId=&kind=&dueBefore=&limit=&cursor=
"""
from __future__ import annotations

from datetime import UTC, datetime
from enum import Enum
from typing import TYPE_CHECKING, Annotated, Any, Optional

from aws_lambda_powertools.event_handler.api_gateway import Router
from aws_lambda_powertools.event_handler.openapi.params import Query

from mturk_decisions import wiring
from mturk_decisions.api.models import ScheduledReversalPage
from mturk_decisions.api.openapi import operation
from mturk_decisions.api.schemas import ASSIGNMENT_ID_PATTERN
from mturk_decisions.domain.errors import InvalidCursor, InvalidRequest, NotConfigured
from mturk_decisions.domain.schedule import ACTIVE_STATES, KINDS, STATES, ScheduleQuery

router = Router()  # type: ignore[no-untyped-call]  # Powertools' Router.__init__ is not annotated

if TYPE_CHECKING:  # mypy reads an Enum's members from literals only; these are the domain's states and kinds
    class ScheduleState(str, Enum):  # noqa: UP042 - as the run-time ones (str Enums)
        """A schedule's state."""

    class ScheduleKind(str, Enum):  # noqa: UP042
        """A schedule's kind."""
else:
    ScheduleState = Enum("ScheduleState", {state: state for state in STATES}, type=str)
    ScheduleKind = Enum("ScheduleKind", {kind.replace("-", "_").upper(): kind for kind in KINDS}, type=str)
_LISTED = ("The automatic reversals, by due time (earliest first). Without `state`: the pending ones (PENDING "
           "and RUNNING).")


@router.get("/scheduled-reversals", **operation(
    "Automatic reversals (provisional, scheduled, funds retries) by due time", "listScheduledReversals",
    ok={200: (ScheduledReversalPage, _LISTED)}, errors=(InvalidCursor, NotConfigured)))
def list_scheduled_reversals(
    state: Annotated[Optional[ScheduleState], Query(description="Only this state (default: PENDING and RUNNING).")]
    = None,
    hitId: Annotated[Optional[str], Query(max_length=64, pattern=ASSIGNMENT_ID_PATTERN,
                                          description="Only this HIT's.")] = None,
    kind: Annotated[Optional[ScheduleKind], Query(description="Only this kind.")] = None,
    dueBefore: Annotated[Optional[str], Query(description="Only those due before this ISO 8601 time (UTC if no "
                                                          "offset).")] = None,
    limit: Annotated[int, Query(ge=1, le=100)] = 25,
    cursor: Annotated[Optional[str], Query(max_length=2048)] = None,
) -> dict[str, Any]:
    query = ScheduleQuery(states=(state.value,) if state else ACTIVE_STATES, hit_id=hitId,
                          kind=kind.value if kind else None, due_before=_moment("dueBefore", dueBefore), limit=limit,
                          cursor=cursor)
    page = wiring.current().reversal_scheduler().listing(query)
    return {"scheduledReversals": [s.listing_json() for s in page.schedules], "nextCursor": page.cursor}


def _moment(name: str, value: str | None) -> datetime | None:
    if not value:
        return None
    try:
        moment = datetime.fromisoformat(value.replace("Z", "+00:00"))
    except ValueError:
        raise InvalidRequest(f"{name} must be an ISO 8601 date or time, e.g. 2026-12-01 or 2026-12-01T12:00:00Z.",
                             field=name) from None
    return moment.replace(tzinfo=UTC) if moment.tzinfo is None else moment.astimezone(UTC)
