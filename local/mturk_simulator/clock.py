"""A controllable clock: wall-clock time until it is set, frozen or shifted."""

from __future__ import annotations

import os
import threading
from datetime import UTC, datetime, timedelta
from pathlib import Path


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
        self._published_to: Path | None = None

    def publish_to(self, path: Path) -> None:
        """Keep this clock's state in `path` (`ClockFile` reads it): other processes on this machine read the
        clock from a file instead of asking for it over HTTP."""
        with self._lock:
            self._published_to = path
            self._publish()

    def _publish(self) -> None:
        """Under the lock, after every change: written whole, then renamed into place (readers never see half)."""
        if self._published_to is None:
            return
        offset = self._offset // timedelta(microseconds=1)
        state = f"frozen {self._frozen_at.isoformat()}" if self._frozen_at else f"offset {offset}"
        partial = self._published_to.with_name(f"{self._published_to.name}.{os.getpid()}.partial")
        partial.write_text(state)
        os.replace(partial, self._published_to)

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
            self._publish()
            return self._frozen_at

    def freeze(self) -> datetime:
        return self.set(self.now())

    def resume(self) -> None:
        """Let a stopped clock tick again from the time it shows."""
        with self._lock:
            if self._frozen_at is not None:
                self._offset = self._frozen_at - datetime.now(UTC)
                self._frozen_at = None
                self._publish()

    def advance(self, seconds: float = 0, *, minutes: float = 0, hours: float = 0, days: float = 0) -> datetime:
        delta = timedelta(seconds=seconds, minutes=minutes, hours=hours, days=days)
        with self._lock:
            if self._frozen_at is not None:
                self._frozen_at += delta
            else:
                self._offset += delta
            self._publish()
        return self.now()

    def reset(self) -> None:
        """Back to plain wall-clock time."""
        with self._lock:
            self._frozen_at = None
            self._offset = timedelta()
            self._publish()


class ClockFile:
    """A `Clock` published to a file (`Clock.publish_to`), read by another process: each reading opens the file,
    so a clock set, frozen or advanced is seen by the next reading, as over HTTP, for a few microseconds."""

    def __init__(self, path: Path) -> None:
        self._path = path

    def __call__(self) -> datetime:
        kind, value = self._path.read_text().split()
        if kind == "frozen":
            return datetime.fromisoformat(value)
        return datetime.now(UTC) + timedelta(microseconds=int(value))
