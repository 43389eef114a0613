"""The service's events on its bus: one PutEvents per event, or up to 10 to a call within `batched()`."""
from __future__ import annotations

import threading

from mturk_decisions.adapters.event_bus import REJECTION_REVERSED, EventBusPublisher


class FakeEvents:
    def __init__(self, fail_every: int | None = None) -> None:
        self.calls: list[list[dict]] = []
        self._fail_every = fail_every

    def put_events(self, Entries):  # boto3's parameter name
        self.calls.append(Entries)
        results = [{"ErrorCode": "InternalFailure"} if self._fail_every and (i + 1) % self._fail_every == 0
                   else {"EventId": f"e{i}"} for i in range(len(Entries))]
        return {"FailedEntryCount": sum(1 for r in results if "ErrorCode" in r), "Entries": results}


def test_given_a_batched_block_when_23_events_are_published_from_threads_then_3_calls_carry_them_all():
    # Given a publisher and a batched block
    client, errors = FakeEvents(), []
    publisher = EventBusPublisher("bus", client, on_error=lambda kind, error: errors.append(kind))
    # When 23 events are published from 4 threads inside it
    with publisher.batched():
        threads = [threading.Thread(target=lambda start=start: [publisher.publish(REJECTION_REVERSED, {"n": n})
                                                                 for n in range(start, 23, 4)]) for start in range(4)]
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join()
    # Then three calls carried them (10, 10, 3), each event once, none lost
    assert sorted(len(call) for call in client.calls) == [3, 10, 10]
    assert sorted(int(entry["Detail"].split(":")[1].strip(" }")) for call in client.calls for entry in call) == list(
        range(23))
    assert errors == []


def test_given_no_batched_block_when_events_are_published_then_each_has_its_call_and_failures_are_reported():
    # Given a publisher whose bus refuses every second entry
    client, errors = FakeEvents(fail_every=2), []
    publisher = EventBusPublisher("bus", client, on_error=lambda kind, error: errors.append(kind))
    # When two events are published one by one, then four in a batched block
    publisher.publish(REJECTION_REVERSED, {"n": 1})
    publisher.publish(REJECTION_REVERSED, {"n": 2})
    with publisher.batched():
        for n in range(4):
            publisher.publish(REJECTION_REVERSED, {"n": n})
    # Then 2 single calls and one of 4; the two refused entries of the block are reported (single calls: none
    # refused, each is its call's first entry)
    assert [len(call) for call in client.calls] == [1, 1, 4]
    assert errors == [REJECTION_REVERSED, REJECTION_REVERSED]
