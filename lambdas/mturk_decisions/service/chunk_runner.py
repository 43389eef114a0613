"""Applying one chunk of a batch with as many MTurk calls in flight as the allowed rate needs.

A real MTurk call from Lambda takes 100-250 ms, so one call at a time caps a worker at 4-10 calls/s
whatever MTurk allows. The pacer governs the *rate* (AIMD, shared by every worker environment); the
window governs how many items are in flight at once: enough to keep that rate busy at the observed
latency (rate x latency, plus a margin), never more than `MAX_WINDOW`. A throttle lowers the rate, and the
window with it. Assignment states are read page by page (ListAssignmentsForHIT) while earlier items are
already being applied. Each item still takes its assignment's decision lease, so nothing is applied twice.
"""
from __future__ import annotations

import math
import threading
from collections.abc import Callable, Iterable, Iterator
from concurrent.futures import FIRST_COMPLETED, Future, ThreadPoolExecutor, wait
from dataclasses import dataclass, field
from decimal import Decimal
from typing import TYPE_CHECKING, Generic, TypeVar

from mturk_decisions.domain.errors import DecisionError, DecisionInProgress

if TYPE_CHECKING:
    from concurrent.futures._base import DoneAndNotDoneFutures

#: More in flight than this buys nothing MTurk allows (50 calls/s at 250 ms is 13) and only holds memory.
MAX_WINDOW = 32
T = TypeVar("T")
R = TypeVar("R")


class Window:
    """How many items to keep in flight: rate x latency x `headroom`, at least 1."""

    def __init__(self, rate: Callable[[], float], latency: Callable[[], float], headroom: float = 1.5) -> None:
        self._rate, self._latency, self._headroom = rate, latency, headroom

    def size(self) -> int:
        return max(1, min(MAX_WINDOW, math.ceil(self._rate() * self._latency() * self._headroom) + 1))


SEQUENTIAL = Window(lambda: 0.0, lambda: 0.0)


class Budget:
    """The balance a chunk may still spend, shared by the items in flight: a cost is reserved before its
    decision is applied and given back if the decision does not happen."""

    def __init__(self, balance: Decimal) -> None:
        self._left, self._lock = balance, threading.Lock()

    @property
    def left(self) -> Decimal:
        with self._lock:
            return self._left

    def reserve(self, cost: Decimal) -> bool:
        with self._lock:
            if cost > self._left:
                return False
            self._left -= cost
            return True

    def refund(self, cost: Decimal) -> None:
        with self._lock:
            self._left += cost


@dataclass
class RunResult(Generic[T, R]):
    """What `act` returned for each piece that ran (`statuses`), and the pieces never started."""

    statuses: list[R] = field(default_factory=list)
    #: Items never started (the invocation ran short of time): they go on in a new message.
    not_started: list[T] = field(default_factory=list)
    busy: DecisionInProgress | None = None
    #: A retryable error (MTurk throttling or failing after its retries): nothing more was started.
    stopped_by: DecisionError | None = None


def run_in_window(work: Iterable[T], act: Callable[[T], R], window: Window,
                  may_start: Callable[[int], bool]) -> RunResult[T, R]:
    """Run `act` on each piece of `work` with at most `window.size()` at once. `may_start(n)` is asked before
    the n-th start (n from 0): False stops starting (the rest is `not_started`). A DecisionInProgress is
    remembered and the run goes on; a retryable DecisionError stops further starts."""
    result: RunResult[T, R] = RunResult()
    pending = iter(work)
    with ThreadPoolExecutor(max_workers=MAX_WINDOW, thread_name_prefix="chunk") as pool:
        running: set[Future[R]] = set()
        for index, piece in enumerate(pending):
            while len(running) >= window.size():
                running = _collect(wait(running, return_when=FIRST_COMPLETED), result)
            if result.stopped_by is not None:
                break  # what is left stays queued for SQS's redelivery
            if not may_start(index):
                result.not_started = [piece, *pending]
                break
            running.add(pool.submit(act, piece))
        _collect(wait(running), result)
    return result


def _collect(waited: DoneAndNotDoneFutures[R], result: RunResult[T, R]) -> set[Future[R]]:
    done, still_running = waited
    for future in done:
        try:
            result.statuses.append(future.result())
        except DecisionInProgress as busy:
            result.busy = busy
        except DecisionError as error:
            if not error.retryable:
                raise
            result.stopped_by = result.stopped_by or error
    return set(still_running)


def chain(first: Iterator[T], rest: Callable[[], Iterable[T]]) -> Iterator[T]:
    """`first`, then what `rest()` gives once `first` is exhausted (computed only then)."""
    yield from first
    yield from rest()
