"""One pacer for the requester's MTurk rate, shared by every batch worker environment of the deployment.

MTurk limits a requester, not a Lambda environment: two workers pacing themselves separately would each
aim at the whole limit. The shared state is one item of the batch table: the rate (the same AIMD as
`AdaptivePacer`: slow start, multiplicative decrease on a throttle, a gentle climb that slows near the
remembered ceiling) and the next free call slot (GCRA). A worker takes a block of slots at a time (about a
quarter of a second's worth) with one conditional update, reporting its successes and throttles since the
last block, and spaces its calls inside the block; a throttle ends its block at once.
"""
from __future__ import annotations

import threading
import time
from collections.abc import Callable
from dataclasses import dataclass

from pynamodb.attributes import BooleanAttribute, NumberAttribute, UnicodeAttribute
from pynamodb.exceptions import UpdateError
from pynamodb.expressions.update import Action as UpdateAction
from pynamodb.models import Model

from mturk_decisions.adapters.dynamo import bound
from mturk_decisions.adapters.pacing import LatencyAverage

BLOCK_SECONDS = 0.25
PACER_KEY = ("~pacer", "mturk")


@dataclass(frozen=True)
class Aimd:
    """The rate policy (the same numbers as AdaptivePacer's defaults)."""

    initial_rate: float = 5.0
    min_rate: float = 0.5
    max_rate: float = 100.0
    decrease: float = 0.9
    increase: float = 0.005
    slow_start_increase: float = 0.10

    def step(self, rate: float, ceiling: float | None, slow_start: bool, successes: int,
             throttles: int) -> tuple[float, float | None, bool]:
        for _ in range(throttles):
            ceiling = rate if ceiling is None else (ceiling + rate) / 2
            rate, slow_start = max(self.min_rate, rate * self.decrease), False
        for _ in range(successes if not throttles else 0):
            near = ceiling is not None and rate >= 0.95 * ceiling
            grow = self.slow_start_increase if slow_start else self.increase / 10 if near else self.increase
            rate = min(self.max_rate, rate * (1 + grow))
        return rate, ceiling, slow_start


class SharedPacerItem(Model):
    """The shared pacer's one item of the batch table (`PACER_KEY`) (bound by `pacer_model`)."""

    batch_id = UnicodeAttribute(hash_key=True)
    item_key = UnicodeAttribute(range_key=True)
    rate = NumberAttribute(null=True)
    ceiling = NumberAttribute(null=True)
    slow_start = BooleanAttribute(null=True)
    next_free = NumberAttribute(null=True)
    version = NumberAttribute(null=True)


def pacer_model(table_name: str, region: str | None = None, host: str | None = None) -> type[SharedPacerItem]:
    return bound(SharedPacerItem, table_name, region, host)


class DynamoRateBucket:
    """The shared state, read and advanced with optimistic concurrency (a version number)."""

    def __init__(self, model: type[SharedPacerItem], policy: Aimd) -> None:
        self._model, self._policy = model, policy

    def take(self, seconds: float, successes: int, throttles: int, now: float) -> tuple[float, float, int]:
        """(start of the block, rate, slots): the caller may make `slots` calls, 1/rate apart, from `start`."""
        m = self._model
        for _ in range(20):
            state: tuple[float, float | None, bool, float, int | None]
            try:
                item = m.get(*PACER_KEY, consistent_read=True)
                state = (float(item.rate), None if item.ceiling is None else float(item.ceiling),
                         bool(item.slow_start), float(item.next_free), int(item.version))
            except m.DoesNotExist:
                state = (self._policy.initial_rate, None, True, 0.0, None)
            rate, ceiling, slow_start = self._policy.step(state[0], state[1], state[2], successes, throttles)
            slots = max(1, round(rate * seconds))
            start = max(now, state[3])
            if self._advance(state[4], rate, ceiling, slow_start, start + slots / rate):
                return start, rate, slots
        raise RuntimeError("the shared MTurk pacer is contended beyond 20 attempts")

    def _advance(self, version: int | None, rate: float, ceiling: float | None, slow_start: bool,
                 next_free: float) -> bool:
        m = self._model
        expected = m.version.does_not_exist() if version is None else (m.version == version)
        actions: list[UpdateAction] = [m.rate.set(rate), m.slow_start.set(slow_start), m.next_free.set(next_free),
                   m.version.set((version or 0) + 1)]
        actions.append(m.ceiling.set(ceiling) if ceiling is not None else m.ceiling.remove())
        try:
            m(*PACER_KEY).update(actions=actions, condition=expected)
        except UpdateError as error:
            if error.cause_response_code == "ConditionalCheckFailedException":
                return False
            raise
        return True


class SharedPacer:
    """`acquire` / `on_success` / `on_throttle` like AdaptivePacer, over a bucket every worker shares."""

    def __init__(self, bucket: DynamoRateBucket, block_seconds: float = BLOCK_SECONDS,
                 clock: Callable[[], float] = time.time, sleep: Callable[[float], None] = time.sleep) -> None:
        self._bucket, self._block = bucket, block_seconds
        self._clock, self._sleep = clock, sleep
        self._lock = threading.Lock()
        self._slots: list[float] = []
        self._successes = self._pending_throttles = 0
        self.rate = 0.0
        self.throttles = self.calls = 0
        self.latency = LatencyAverage()

    def acquire(self) -> None:
        with self._lock:
            if not self._slots:
                self._refill()
            slot = self._slots.pop(0)
            self.calls += 1
        wait = slot - self._clock()
        if wait > 0:
            self._sleep(wait)

    def _refill(self) -> None:
        start, rate, count = self._bucket.take(self._block, self._successes, self._pending_throttles, self._clock())
        self._successes = self._pending_throttles = 0
        self.rate = rate
        self._slots = [start + index / rate for index in range(count)]

    def on_success(self) -> None:
        with self._lock:
            self._successes += 1

    def on_throttle(self) -> None:
        """Slow down at once: the rest of this block is given up, and the next one is taken at the lower rate."""
        with self._lock:
            self.throttles += 1
            self._pending_throttles += 1
            self._slots.clear()
