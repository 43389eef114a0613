"""One pacer for the whole deployment: worker environments share the requester's MTurk rate through one
item of the batch table (adapters/shared_pacer.py), so two of them never exceed it together."""
from __future__ import annotations

import threading
import time

from local.stack import REGION
from mturk_decisions.adapters.shared_pacer import PACER_KEY, Aimd, DynamoRateBucket, SharedPacer, pacer_model


def _fresh_bucket(stack, policy):
    model = pacer_model(stack.env["BATCH_TABLE_NAME"], REGION, stack.moto_url)
    try:
        model.get(*PACER_KEY).delete()
    except model.DoesNotExist:
        pass
    return DynamoRateBucket(model, policy)


def test_two_worker_environments_together_stay_within_the_rate(stack):
    # Given two environments' pacers over the same shared bucket, the rate held at 20 calls/s
    policy = Aimd(initial_rate=20.0, max_rate=20.0)
    pacers = [SharedPacer(_fresh_bucket(stack, policy)) for _ in range(2)]
    calls: list[float] = []
    lock = threading.Lock()

    def environment(pacer: SharedPacer, threads: int = 4, seconds: float = 2.0) -> None:
        def worker() -> None:
            end = time.monotonic() + seconds
            while time.monotonic() < end:
                pacer.acquire()
                with lock:
                    calls.append(time.monotonic())
                pacer.on_success()

        pool = [threading.Thread(target=worker) for _ in range(threads)]
        for thread in pool:
            thread.start()
        for thread in pool:
            thread.join()

    # When both call MTurk as fast as their pacers let them, with 4 calls in flight each
    both = [threading.Thread(target=environment, args=(pacer,)) for pacer in pacers]
    for thread in both:
        thread.start()
    for thread in both:
        thread.join()
    # Then, together, they made no more than 20 calls in any second (one block of slack at the start)
    calls.sort()
    busiest = max(sum(1 for t in calls if start <= t < start + 1.0) for start in calls)
    assert busiest <= 20 + 5, busiest
    assert len(calls) >= 30  # and they did use the rate


def test_a_throttle_seen_by_one_environment_slows_the_other(stack):
    # Given two environments sharing the bucket at 10 calls/s
    policy = Aimd(initial_rate=10.0, max_rate=10.0)
    first, second = SharedPacer(_fresh_bucket(stack, policy)), SharedPacer(_fresh_bucket(stack, policy))
    first.acquire()
    second.acquire()
    # When the first is throttled
    first.on_throttle()
    first.acquire()
    # Then the shared rate is lower for the second too, at its next block
    second._slots.clear()
    second.acquire()
    assert first.rate < 10.0 and second.rate == first.rate
