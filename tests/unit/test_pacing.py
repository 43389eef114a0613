import pytest

from mturk_decisions.adapters.pacing import AdaptivePacer


class FakeTime:
    def __init__(self):
        self.now = 0.0

    def clock(self):
        return self.now

    def sleep(self, seconds):
        self.now += seconds


def run(pacer, time, limit, seconds, burst=1.0, later_limit=None):
    """A token bucket at `limit` calls/s in front of the pacer (the limit may change half-way)."""
    ok = throttled = 0
    tokens, last = burst, 0.0
    while time.now < seconds:
        if later_limit and time.now > seconds / 2:
            limit = later_limit
        pacer.acquire()
        tokens = min(burst, tokens + (time.now - last) * limit)
        last = time.now
        if tokens >= 1:
            tokens -= 1
            ok += 1
            pacer.on_success()
        else:
            throttled += 1
            pacer.on_throttle()
    return ok, throttled


@pytest.mark.parametrize("burst", [1.0, 20.0])
def test_given_a_limit_then_the_pacer_finds_it_and_stays_just_under(burst):
    # Given
    time = FakeTime()
    pacer = AdaptivePacer(initial_rate=5, clock=time.clock, sleep=time.sleep)
    # When
    ok, throttled = run(pacer, time, limit=20, seconds=120, burst=burst)
    # Then
    assert ok / 120 >= 0.9 * 20
    assert throttled / (ok + throttled) <= 0.03


@pytest.mark.parametrize("later_limit", [10, 30])
def test_given_the_limit_changes_then_the_pacer_follows(later_limit):
    # Given
    time = FakeTime()
    pacer = AdaptivePacer(initial_rate=5, clock=time.clock, sleep=time.sleep)
    # When
    ok, throttled = run(pacer, time, limit=20, seconds=240, later_limit=later_limit)
    # Then
    assert ok / 240 >= 0.85 * (20 + later_limit) / 2
    assert throttled / (ok + throttled) <= 0.04


def test_slow_start_reaches_the_limit_within_seconds():
    # Given
    time = FakeTime()
    pacer = AdaptivePacer(initial_rate=5, clock=time.clock, sleep=time.sleep)
    # When
    run(pacer, time, limit=20, seconds=3)
    # Then
    assert not pacer.in_slow_start and pacer.rate >= 15
