"""The service's own events on its EventBridge bus, for requesters to build on.

Publishing never fails a decision: a lost event is logged and counted, the audit stays the record.
"""
from __future__ import annotations

import json
import threading
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from typing import Any

SOURCE = "mturk-decisions"
ASSIGNMENT_REJECTED = "Assignment Rejected"
REJECTION_REVERSED = "Rejection Reversed"
REVERSAL_FAILED = "Reversal Failed"
BATCH_COMPLETED = "Batch Completed"
REVERSAL_REQUESTED = "Reversal Requested"


#: PutEvents' most entries in one call.
MAX_ENTRIES = 10


class EventBusPublisher:
    def __init__(self, bus_name: str, client: Any, on_error: Callable[[str, Exception], None] = lambda t, e: None):
        self._bus, self._client, self._on_error = bus_name, client, on_error
        self._lock = threading.Lock()
        self._waiting: list[tuple[str, dict[str, Any]]] | None = None

    def connect(self) -> None:
        """Make the client now (a `Lazy` one is made on its first use otherwise)."""
        from mturk_decisions.adapters.aws_clients import resolved

        resolved(self._client)

    @contextmanager
    def batched(self) -> Iterator[None]:
        """Within: events are sent 10 to a PutEvents as they accumulate, the rest on leaving (a batch chunk's
        decisions make a tenth of the calls). An environment killed meanwhile loses the events not sent yet,
        at most 9: the audit stays the record."""
        with self._lock:
            if self._waiting is not None:  # already batching: the outer block sends
                nested = True
            else:
                nested, self._waiting = False, []
        try:
            yield
        finally:
            if not nested:
                with self._lock:
                    waiting, self._waiting = self._waiting or [], None
                if waiting:
                    self._send(waiting)

    def publish(self, detail_type: str, detail: dict[str, Any]) -> None:
        entry = {"EventBusName": self._bus, "Source": SOURCE, "DetailType": detail_type,
                 "Detail": json.dumps(detail, default=str)}
        with self._lock:
            if self._waiting is None:
                ready = [(detail_type, entry)]
            else:
                self._waiting.append((detail_type, entry))
                if len(self._waiting) < MAX_ENTRIES:
                    return
                ready, self._waiting = self._waiting, []
        self._send(ready)

    def _send(self, events: list[tuple[str, dict[str, Any]]]) -> None:
        try:
            answer = self._client.put_events(Entries=[entry for _, entry in events])
        except Exception as error:
            for detail_type, _ in events:
                self._on_error(detail_type, error)
            return
        if answer.get("FailedEntryCount"):
            results = answer.get("Entries") or [{"ErrorCode": "PutEvents failed"}] * len(events)
            for (detail_type, _), result in zip(events, results, strict=False):
                if result.get("ErrorCode"):
                    self._on_error(detail_type, RuntimeError(result["ErrorCode"]))
