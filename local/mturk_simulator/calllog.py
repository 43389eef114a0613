"""A thread-safe record of every API request the simulator answered."""

from __future__ import annotations

import threading
from dataclasses import asdict, dataclass, field
from datetime import datetime
from typing import Any


@dataclass(frozen=True)
class CallRecord:
    operation: str | None
    access_key_id: str | None
    params: dict[str, Any]
    outcome: str
    """``"ok"`` or the error code answered (``RequestError``, ``ThrottlingException``, ...)."""
    http_status: int
    sim_time: datetime
    request_id: str
    applied: bool = False
    """Whether the call changed state; true for a write answered with an injected "after" fault."""
    error_message: str | None = field(default=None)

    def to_json(self) -> dict[str, Any]:
        record = asdict(self)
        record["sim_time"] = self.sim_time.isoformat()
        return record


class CallLog:
    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._records: list[CallRecord] = []

    def append(self, record: CallRecord) -> None:
        with self._lock:
            self._records.append(record)

    def records(self, operation: str | None = None, outcome: str | None = None,
                access_key_id: str | None = None) -> list[CallRecord]:
        with self._lock:
            records = list(self._records)
        return [
            r for r in records
            if (operation is None or r.operation == operation)
            and (outcome is None or r.outcome == outcome)
            and (access_key_id is None or r.access_key_id == access_key_id)
        ]

    def reset(self) -> None:
        with self._lock:
            self._records.clear()
