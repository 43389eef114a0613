"""Per-requester token-bucket throttling, on real monotonic time."""

from __future__ import annotations

import threading
import time
from collections.abc import Callable
from dataclasses import dataclass


@dataclass
class _Bucket:
    tokens: float
    updated: float


class Throttle:
    """Allows ``rate_per_second`` calls per key on average, bursts up to ``burst``.

    Uses monotonic time, not the simulated clock, because clients back off in real time.
    """

    def __init__(self, monotonic: Callable[[], float] = time.monotonic) -> None:
        self._monotonic = monotonic
        self._lock = threading.Lock()
        self._rate: float | None = None
        self._burst = 1.0
        self._buckets: dict[str, _Bucket] = {}

    def configure(self, rate_per_second: float | None, burst: float | None = None) -> None:
        """``rate_per_second=None`` disables throttling; ``burst`` defaults to max(1, rate)."""
        if rate_per_second is not None and rate_per_second <= 0:
            raise ValueError("rate_per_second must be positive (or None to disable)")
        if burst is not None and burst < 1:
            raise ValueError("burst must be at least 1")
        with self._lock:
            self._rate = rate_per_second
            self._burst = float(burst if burst is not None else max(1.0, rate_per_second or 1.0))
            self._buckets.clear()

    @property
    def settings(self) -> dict[str, float | int | None]:
        return {"ratePerSecond": self._rate, "burst": self._burst if self._rate is not None else None}

    def allow(self, key: str) -> bool:
        with self._lock:
            if self._rate is None:
                return True
            now = self._monotonic()
            bucket = self._buckets.setdefault(key, _Bucket(tokens=self._burst, updated=now))
            bucket.tokens = min(self._burst, bucket.tokens + (now - bucket.updated) * self._rate)
            bucket.updated = now
            if bucket.tokens >= 1:
                bucket.tokens -= 1
                return True
            return False
