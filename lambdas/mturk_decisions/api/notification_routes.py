"""MTurk's notifications of a HIT type, set: PUT /hit-types/{hitTypeId}/notifications has MTurk tell this service
of rejections and approvals made anywhere (service/notifications.py records them). A Powertools `Router`
included into the API's resolver (`api/routes.py`)."""
from __future__ import annotations

from typing import Annotated, Any, Optional

from aws_lambda_powertools.event_handler.api_gateway import Router
from aws_lambda_powertools.event_handler.openapi.params import Path

from mturk_decisions import wiring
from mturk_decisions.api.models import NotificationSettingsAnswer
from mturk_decisions.api.openapi import MTURK, operation
from mturk_decisions.api.schemas import ASSIGNMENT_ID_PATTERN, NotificationsBody
from mturk_decisions.domain.errors import HitNotFound, NotConfigured
from mturk_decisions.service.notifications import EVENT_ACTIONS as NOTIFIED_EVENTS

router = Router()  # type: ignore[no-untyped-call]  # Powertools' Router.__init__ is not annotated

HitTypeId = Annotated[str, Path(pattern=ASSIGNMENT_ID_PATTERN, description="The MTurk HIT type id.")]


@router.put("/hit-types/<hitTypeId>/notifications", **operation(
    "Have MTurk notify this service of rejections and approvals made anywhere (e.g. the website)",
    "setHitTypeNotifications", ok={200: (NotificationSettingsAnswer, "MTurk's notification settings, as set.")},
    errors=(*MTURK, HitNotFound, NotConfigured), body=True))
def notifications(hitTypeId: HitTypeId, body: Optional[NotificationsBody] = None) -> dict[str, Any]:
    body = body or NotificationsBody()
    deps = wiring.current()
    queue = deps.settings.notifications_queue_url
    if not queue:
        raise NotConfigured("MTurk notifications need NOTIFICATIONS_QUEUE_URL in the function's environment.")
    deps.mturk.update_notification_settings(hitTypeId, queue, list(NOTIFIED_EVENTS), body.active)
    return {"hitTypeId": hitTypeId, "active": body.active, "destination": queue, "eventTypes": list(NOTIFIED_EVENTS)}


