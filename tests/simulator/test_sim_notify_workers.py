"""NotifyWorkers in the simulator: MTurk's limits and errors, failure statuses for workers it cannot notify,
and the messages kept for tests."""
from __future__ import annotations

import pytest
from botocore.exceptions import ClientError

from tests.simulator.sim_helpers import KEY


@pytest.fixture
def reviewed(sim):
    """Two workers whose work the requester rejected and approved, and one it never reviewed."""
    hit_id = sim.add_hit(KEY, max_assignments=3)
    sim.add_assignment(hit_id, worker_id="AREJECTED1", status="Rejected")
    sim.add_assignment(hit_id, worker_id="AAPPROVED1", status="Approved")
    sim.add_assignment(hit_id, worker_id="ASUBMITTED1", status="Submitted")
    return hit_id


def test_given_reviewed_workers_when_notified_then_each_gets_the_message(sim, mturk, reviewed):
    # When the two reviewed workers are notified
    answer = mturk.notify_workers(Subject="Your rejected work was approved", MessageText="Sorry about that.",
                                  WorkerIds=["AREJECTED1", "AAPPROVED1"])
    # Then no failure, and the simulator keeps one message per worker
    assert answer["NotifyWorkersFailureStatuses"] == []
    assert [(m.worker_id, m.subject) for m in sim.worker_messages()] == [
        ("AREJECTED1", "Your rejected work was approved"), ("AAPPROVED1", "Your rejected work was approved")]


def test_given_an_unknown_or_unreviewed_worker_then_a_hard_failure_status_not_an_error(sim, mturk, reviewed):
    # When a worker never reviewed and one never seen are notified with a reviewed one
    answer = mturk.notify_workers(Subject="Hello", MessageText="Text",
                                  WorkerIds=["AREJECTED1", "ASUBMITTED1", "ANEVERSEEN1"])
    # Then the call succeeds with a HardFailure for each of the two, and only the reviewed worker got it
    failures = {f["WorkerId"]: f for f in answer["NotifyWorkersFailureStatuses"]}
    assert set(failures) == {"ASUBMITTED1", "ANEVERSEEN1"}
    assert all(f["NotifyWorkersFailureCode"] == "HardFailure" and f["NotifyWorkersFailureMessage"]
               for f in failures.values())
    assert [m.worker_id for m in sim.worker_messages()] == ["AREJECTED1"]


@pytest.mark.parametrize("params, words", [
    ({"Subject": "x" * 201, "MessageText": "ok"}, "Subject cannot be longer than 200"),
    ({"Subject": "ok", "MessageText": "x" * 4097}, "MessageText cannot be longer than 4096"),
    ({"Subject": "", "MessageText": "ok"}, "Subject must not be empty"),
    ({"Subject": "ok", "MessageText": "   "}, "MessageText must not be empty"),
], ids=["subject-201", "message-4097", "empty-subject", "blank-message"])
def test_given_a_subject_or_message_beyond_mturks_limits_then_request_error(sim, mturk, reviewed, params, words):
    # When
    with pytest.raises(ClientError) as raised:
        mturk.notify_workers(WorkerIds=["AREJECTED1"], **params)
    # Then a RequestError saying which limit, and nothing was sent
    assert raised.value.response["Error"]["Code"] == "RequestError"
    assert words in raised.value.response["Error"]["Message"]
    assert sim.worker_messages() == []


def test_given_exactly_the_limits_then_accepted(sim, mturk, reviewed):
    # Given a worker whose work the requester rejected
    # When
    answer = mturk.notify_workers(Subject="s" * 200, MessageText="m" * 4096, WorkerIds=["AREJECTED1"])
    # Then
    assert answer["NotifyWorkersFailureStatuses"] == []


def test_given_101_workers_then_request_error(sim, mturk, reviewed):
    # When 101 workers are named in one call
    with pytest.raises(ClientError) as raised:
        mturk.notify_workers(Subject="s", MessageText="m", WorkerIds=[f"AWORKER{n:04d}" for n in range(101)])
    # Then MTurk's limit of 100
    assert raised.value.response["Error"]["Code"] == "RequestError"
    assert "between 1 and 100" in raised.value.response["Error"]["Message"]


def test_given_no_worker_then_refused(sim, unvalidated, reviewed):
    # When / Then
    with pytest.raises(ClientError) as raised:
        unvalidated.notify_workers(Subject="s", MessageText="m", WorkerIds=[])
    assert raised.value.response["Error"]["Code"] == "RequestError"


def test_given_a_malformed_worker_id_then_validation_error(sim, unvalidated, reviewed):
    # When a worker id does not look like MTurk's (A, then capitals and digits)
    with pytest.raises(ClientError) as raised:
        unvalidated.notify_workers(Subject="s", MessageText="m", WorkerIds=["not-a-worker"])
    # Then MTurk's validation error names the pattern, and nothing was sent
    assert raised.value.response["Error"]["Code"] == "ValidationException"
    assert "workerIds" in raised.value.response["Error"]["Message"]
    assert sim.worker_messages() == []


def test_given_messages_then_the_admin_endpoint_lists_them(sim, server, mturk, reviewed):
    # Given a message sent to a worker whose work the requester rejected
    import requests

    mturk.notify_workers(Subject="Hello", MessageText="Text", WorkerIds=["AREJECTED1"])
    # When
    answer = requests.get(f"{server.url}/_admin/worker-messages?workerId=AREJECTED1", timeout=5).json()
    # Then
    assert [(m["workerId"], m["subject"]) for m in answer["messages"]] == [("AREJECTED1", "Hello")]
