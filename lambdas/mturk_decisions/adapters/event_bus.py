"""The service's own events on its EventBridge bus, for requesters to build on.

Publishing never fails a decision: a lost event is logged and counted, the audit stays the record.
"""
from __future__ import annotations

import json
from collections.abc import Callable
from typing import Any

SOURCE = "mturk-decisions"
ASSIGNMENT_REJECTED = "Assignment Rejected"
REJECTION_REVERSED = "Rejection Reversed"
REVERSAL_FAILED = "Reversal Failed"
BATCH_COMPLETED = "Batch Completed"
REVERSAL_REQUESTED = "Reversal Requested"


class EventBusPublisher:
    def __init__(self, bus_name: str, client: Any, on_error: Callable[[str, Exception], None] = lambda t, e: None):
        self._bus, self._client, self._on_error = bus_name, client, on_error

    def connect(self) -> None:
        """Make the client now (a `Lazy` one is made on its first use otherwise)."""
        from mturk_decisions.adapters.aws_clients import resolved

        resolved(self._client)

    def publish(self, detail_type: str, detail: dict[str, Any]) -> None:
        try:
            answer = self._client.put_events(Entries=[{
                "EventBusName": self._bus, "Source": SOURCE, "DetailType": detail_type,
                "Detail": json.dumps(detail, default=str),
            }])
            if answer.get("FailedEntryCount"):
                raise RuntimeError(answer["Entries"][0].get("ErrorCode", "PutEvents failed"))
        except Exception as error:
            self._on_error(detail_type, error)
