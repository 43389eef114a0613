"""Adaptive pacing of MTurk calls for bulk work: just under the throttle, never hammering it.

Like TCP: a slow start (each success raises the rate by a tenth) finds MTurk's limit within a few
dozen calls; from the first ThrottlingException on, multiplicative decrease (a throttle cuts the rate
by a tenth) and a gentle increase keep it there. The pacer remembers where throttling starts (a moving
average of the rates that were throttled) and creeps much more slowly within 5% of it, so it probes the
limit rarely — about one throttled call in a hundred — yet still finds a limit that was raised.
"""
from __future__ import annotations

import threading
import time
from collections.abc import Callable
from typing import Protocol


class Pacer(Protocol):
    """What the MTurk gateway asks of a pacer (AdaptivePacer here, SharedPacer across environments)."""

    latency: LatencyAverage

    def acquire(self) -> None: ...

    def on_success(self) -> None: ...

    def on_throttle(self) -> None: ...


class AdaptivePacer:
    def __init__(
        self,
        initial_rate: float = 5.0,
        min_rate: float = 0.5,
        max_rate: float = 100.0,
        decrease: float = 0.9,
        increase_per_success: float = 0.005,
        slow_start_increase: float = 0.10,
        clock: Callable[[], float] = time.monotonic,
        sleep: Callable[[float], None] = time.sleep,
    ) -> None:
        self.rate = initial_rate
        self.min_rate, self.max_rate = min_rate, max_rate
        self.decrease, self.increase = decrease, increase_per_success
        self.slow_start_increase = slow_start_increase
        self.in_slow_start = True
        self.ceiling: float | None = None
        self._clock, self._sleep = clock, sleep
        self._next = 0.0
        self._lock = threading.Lock()
        self.throttles = 0
        self.calls = 0
        self.latency = LatencyAverage()

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
            if self.in_slow_start:
                step = self.slow_start_increase
            elif self.ceiling is not None and self.rate >= 0.95 * self.ceiling:
                step = self.increase / 10
            else:
                step = self.increase
            self.rate = min(self.max_rate, self.rate * (1 + step))

    def on_throttle(self) -> None:
        with self._lock:
            self.throttles += 1
            self.in_slow_start = False
            self.ceiling = self.rate if self.ceiling is None else (self.ceiling + self.rate) / 2
            self.rate = max(self.min_rate, self.rate * self.decrease)
            self._next = self._clock() + 1.0 / self.rate


class LatencyAverage:
    """An exponentially weighted average of MTurk call latencies (seconds): the chunk runner sizes its window
    by it. Starts at a realistic guess, so the first calls of an invocation already overlap."""

    def __init__(self, initial: float = 0.15, weight: float = 0.2) -> None:
        self.seconds, self._weight, self._lock = initial, weight, threading.Lock()

    def observe(self, seconds: float) -> None:
        with self._lock:
            self.seconds += self._weight * (seconds - self.seconds)

    def __call__(self) -> float:
        return self.seconds
