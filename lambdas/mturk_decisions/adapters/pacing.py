"""Adaptive pacing of MTurk calls for bulk work: just under the throttle, never hammering it.

Additive increase, multiplicative decrease: each success nudges the rate up a little; each
ThrottlingException cuts it by a tenth. The rate then saw-tooths in the top ~10% below MTurk's
limit, with about one throttled call per hundred.
"""
from __future__ import annotations

import threading
import time
from collections.abc import Callable


class AdaptivePacer:
    def __init__(
        self,
        initial_rate: float = 5.0,
        min_rate: float = 0.5,
        max_rate: float = 100.0,
        decrease: float = 0.9,
        increase_per_success: float = 0.01,
        clock: Callable[[], float] = time.monotonic,
        sleep: Callable[[float], None] = time.sleep,
    ) -> None:
        self.rate = initial_rate
        self.min_rate, self.max_rate = min_rate, max_rate
        self.decrease, self.increase = decrease, increase_per_success
        self._clock, self._sleep = clock, sleep
        self._next = 0.0
        self._lock = threading.Lock()
        self.throttles = 0
        self.calls = 0

    def acquire(self) -> None:
        with self._lock:
            now = self._clock()
            start = max(now, self._next)
            self._next = start + 1.0 / self.rate
            self.calls += 1
        if start > now:
            self._sleep(start - now)

    def on_success(self) -> None:
        with self._lock:
            self.rate = min(self.max_rate, self.rate + self.increase * self.rate)

    def on_throttle(self) -> None:
        with self._lock:
            self.throttles += 1
            self.rate = max(self.min_rate, self.rate * self.decrease)
            self._next = self._clock() + 1.0 / self.rate
