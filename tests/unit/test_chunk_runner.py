"""Several items of a chunk in flight at once (service/chunk_runner.py) and the AIMD step of the shared pacer."""
import threading
import time
from decimal import Decimal

import pytest

from mturk_decisions.adapters.shared_pacer import Aimd
from mturk_decisions.domain.errors import DecisionInProgress, MTurkThrottled
from mturk_decisions.service.chunk_runner import MAX_WINDOW, Budget, Window, run_in_window


def test_the_window_keeps_rate_times_latency_in_flight_with_headroom():
    # Given 20 calls/s allowed and 150 ms per call
    # When / Then about 3 calls are needed in flight, plus headroom
    assert Window(lambda: 20.0, lambda: 0.150).size() == 6
    # And 50 calls/s at 250 ms needs more; never beyond the cap; at least one
    assert Window(lambda: 50.0, lambda: 0.250).size() == 20
    assert Window(lambda: 1000.0, lambda: 1.0).size() == MAX_WINDOW
    assert Window(lambda: 0.0, lambda: 0.0).size() == 1


def test_given_a_window_of_four_then_four_items_run_at_once_and_no_more():
    # Given items that take 50 ms each and a window of 4
    running, peak, lock = [0], [0], threading.Lock()

    def act(item):
        with lock:
            running[0] += 1
            peak[0] = max(peak[0], running[0])
        time.sleep(0.05)
        with lock:
            running[0] -= 1
        return item

    # When 12 items run
    began = time.monotonic()
    result = run_in_window(range(12), act, Window(lambda: 6.0, lambda: 0.5, headroom=1.0), lambda index: True)
    # Then at most 4 were in flight, the 12 took about 3 rounds, and every item ran once
    assert peak[0] == 4
    assert sorted(result.statuses) == list(range(12)) and time.monotonic() - began < 0.5


def test_given_time_runs_short_then_the_rest_is_not_started():
    # When
    result = run_in_window(range(10), lambda item: item, Window(lambda: 1.0, lambda: 0.0),
                           may_start=lambda index: index < 4)
    # Then
    assert sorted(result.statuses) == [0, 1, 2, 3] and result.not_started == [4, 5, 6, 7, 8, 9]


def test_given_a_retryable_error_then_nothing_more_starts_and_a_busy_item_is_remembered():
    # Given the third item finds its assignment busy and the fifth is throttled for good
    def act(item):
        if item == 2:
            raise DecisionInProgress("busy")
        if item == 4:
            raise MTurkThrottled("slow down")
        return item

    # When run one at a time
    result = run_in_window(range(10), act, Window(lambda: 0.0, lambda: 0.0), lambda index: True)
    # Then the run stopped starting items after the throttle; the others stay queued for a redelivery
    assert result.stopped_by is not None and result.busy is not None
    assert result.statuses == [0, 1, 3] and result.not_started == []


def test_the_budget_is_shared_by_the_items_in_flight():
    # Given
    budget = Budget(Decimal("1.20"))
    # When / Then two reservations fit, a third does not
    assert budget.reserve(Decimal("0.60")) and budget.reserve(Decimal("0.60"))
    assert not budget.reserve(Decimal("0.60"))
    # And a refund frees its share
    budget.refund(Decimal("0.60"))
    assert budget.left == Decimal("0.60")


@pytest.mark.parametrize("throttles,expected", [(1, 9.0), (2, 8.1)])
def test_aimd_a_throttle_cuts_the_rate_by_a_tenth_and_remembers_the_ceiling(throttles, expected):
    # When
    rate, ceiling, slow_start = Aimd().step(10.0, None, True, successes=5, throttles=throttles)
    # Then
    assert rate == pytest.approx(expected) and ceiling is not None and slow_start is False


def test_aimd_slow_start_then_gentle_growth_near_the_ceiling():
    # Given
    policy = Aimd(max_rate=50)
    # When / Then
    assert policy.step(5.0, None, True, successes=1, throttles=0)[0] == pytest.approx(5.5)
    assert policy.step(20.0, 20.5, False, successes=1, throttles=0)[0] == pytest.approx(20.0 * 1.0005)
    assert policy.step(49.9, None, True, successes=10, throttles=0)[0] == 50
