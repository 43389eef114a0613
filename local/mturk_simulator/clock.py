"""A controllable clock: wall-clock time until it is set, frozen or shifted."""

from __future__ import annotations

import threading
from datetime import UTC, datetime, timedelta


def _utc(when: datetime) -> datetime:
    return when.replace(tzinfo=UTC) if when.tzinfo is None else when.astimezone(UTC)


class Clock:
    """Simulated time used by every MTurk rule and timestamp.

    Runs with the wall clock (plus an offset that ``advance`` grows) until
    ``set``/``freeze`` stops it; ``resume`` lets a stopped clock tick again.
    """

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._frozen_at: datetime | None = None
        self._offset = timedelta()

    def now(self) -> datetime:
        with self._lock:
            if self._frozen_at is not None:
                return self._frozen_at
            return datetime.now(UTC) + self._offset

    def epoch_ms(self) -> int:
        return int(self.now().timestamp() * 1000)

    @property
    def frozen(self) -> bool:
        return self._frozen_at is not None

    def set(self, when: datetime) -> datetime:
        """Stop the clock at ``when`` (naive datetimes are taken as UTC)."""
        with self._lock:
            self._frozen_at = _utc(when)
            return self._frozen_at

    def freeze(self) -> datetime:
        return self.set(self.now())

    def resume(self) -> None:
        """Let a stopped clock tick again from the time it shows."""
        with self._lock:
            if self._frozen_at is not None:
                self._offset = self._frozen_at - datetime.now(UTC)
                self._frozen_at = None

    def advance(self, seconds: float = 0, *, minutes: float = 0, hours: float = 0, days: float = 0) -> datetime:
        delta = timedelta(seconds=seconds, minutes=minutes, hours=hours, days=days)
        with self._lock:
            if self._frozen_at is not None:
                self._frozen_at += delta
            else:
                self._offset += delta
        return self.now()

    def reset(self) -> None:
        """Back to plain wall-clock time."""
        with self._lock:
            self._frozen_at = None
            self._offset = timedelta()
