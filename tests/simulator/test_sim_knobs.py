"""Test knobs: clock, throttling, injected ServiceFaults, latency and the call log."""

from __future__ import annotations

import threading
import time
from datetime import UTC, datetime, timedelta
from decimal import Decimal

import pytest
from botocore.config import Config
from botocore.retries.standard import RetryContext, ThrottledRetryableChecker

from local.mturk_simulator import ApiError, Clock, MTurkSimulator
from tests.simulator.sim_helpers import KEY, OTHER_KEY, OTHER_SECRET, T0, T0_MS, error_of, make_client

RETRYING = Config(retries={"mode": "standard", "total_max_attempts": 5})


# ----- clock -----

def test_clock_follows_wall_time_until_set():
    # Given
    clock = Clock()
    # When / Then
    assert abs(clock.now() - datetime.now(UTC)) < timedelta(seconds=1)
    assert not clock.frozen


def test_clock_set_advance_freeze_resume():
    # Given
    clock = Clock()
    # When / Then setting and advancing it freezes it
    assert clock.set(datetime(2026, 3, 1, 9, 30)) == datetime(2026, 3, 1, 9, 30, tzinfo=UTC)  # naive is UTC
    assert clock.advance(days=30, seconds=1) == datetime(2026, 3, 31, 9, 30, 1, tzinfo=UTC)
    assert clock.now() == clock.now() and clock.frozen
    # When it resumes
    clock.resume()
    time.sleep(0.01)
    # Then it moves again, and advancing adds to it
    assert not clock.frozen and clock.now() > datetime(2026, 3, 31, 9, 30, 1, tzinfo=UTC)
    before = clock.now()
    assert clock.advance(hours=2) - before >= timedelta(hours=2)
    # And after a reset it follows wall time
    clock.reset()
    assert abs(clock.now() - datetime.now(UTC)) < timedelta(seconds=1)


def test_responses_and_error_texts_use_the_simulated_clock(sim, mturk):
    # Given the simulated clock 10 days past T0
    assignment_id = sim.add_assignment(sim.add_hit(KEY))
    later = sim.clock.advance(days=10)
    # When the assignment is approved and approved again
    mturk.approve_assignment(AssignmentId=assignment_id)
    with pytest.raises(mturk.exceptions.RequestError) as exc:
        mturk.approve_assignment(AssignmentId=assignment_id)
    # Then the approval time and the error's milliseconds are simulated time
    assert mturk.get_assignment(AssignmentId=assignment_id)["Assignment"]["ApprovalTime"] == later
    assert error_of(exc)[1].endswith(f"({int(later.timestamp() * 1000)})")


# ----- throttling -----

def test_throttle_answers_throttling_exception_that_botocore_recognises(sim, mturk):
    # Given 1 call per second with a burst of 2
    sim.set_throttle(1, burst=2)
    # When a client without retries calls three times at once
    mturk.get_account_balance()
    mturk.get_account_balance()
    with pytest.raises(mturk.exceptions.ClientError) as exc:
        mturk.get_account_balance()
    # Then the third is throttled, as AWS answers it
    assert error_of(exc) == ("ThrottlingException", "Rate exceeded")
    assert exc.value.response["ResponseMetadata"]["HTTPStatusCode"] == 400
    # And botocore's standard retry mode classifies it as throttling
    assert ThrottledRetryableChecker().is_retryable(RetryContext(attempt_number=1, parsed_response=exc.value.response))
    assert sim.count_calls("GetAccountBalance", outcome="ThrottlingException") == 1


def test_retrying_client_gets_through_the_throttle(sim, server):
    # Given 20 calls per second, no burst, and a client with standard retries
    sim.set_throttle(20, burst=1)
    client = make_client(server, config=RETRYING)
    # When it calls three times back to back
    for _ in range(3):
        client.get_account_balance()
    # Then every call succeeded, some after being throttled and retried
    assert sim.count_calls("GetAccountBalance", outcome="ok") == 3
    assert sim.count_calls("GetAccountBalance", outcome="ThrottlingException") >= 1


def test_throttled_writes_are_not_applied(sim, mturk):
    # Given
    assignment_id = sim.add_assignment(sim.add_hit(KEY))
    sim.set_throttle(0.01, burst=1)
    mturk.get_account_balance()
    # When / Then
    with pytest.raises(mturk.exceptions.ClientError):
        mturk.approve_assignment(AssignmentId=assignment_id)
    assert sim.get_assignment_state(assignment_id).status == "Submitted"


def test_throttle_is_per_requester_and_ignores_the_simulated_clock(sim, server, mturk):
    # Given one call per 100 seconds for each requester
    sim.add_requester(OTHER_KEY, OTHER_SECRET)
    other = make_client(server, key=OTHER_KEY, secret=OTHER_SECRET)
    sim.set_throttle(0.01, burst=1)
    mturk.get_account_balance()
    # Then the other requester has its own bucket
    other.get_account_balance()
    # And moving the simulated clock does not refill the bucket
    sim.clock.advance(days=1)
    with pytest.raises(mturk.exceptions.ClientError) as exc:
        mturk.get_account_balance()
    assert error_of(exc)[0] == "ThrottlingException"
    # Until throttling is switched off
    sim.set_throttle(None)
    mturk.get_account_balance()


# ----- faults -----

def test_fault_before_applies_nothing(sim, mturk):
    # Given every write fails before it is applied
    assignment_id = sim.add_assignment(sim.add_hit(KEY))
    sim.set_fault_rate(1.0, when="before")
    # When approving
    with pytest.raises(mturk.exceptions.ServiceFault) as exc:
        mturk.approve_assignment(AssignmentId=assignment_id)
    # Then a 500 ServiceFault is answered and nothing changed; reads are unaffected
    assert exc.value.response["ResponseMetadata"]["HTTPStatusCode"] == 500
    assert sim.get_assignment_state(assignment_id).status == "Submitted"
    assert mturk.get_account_balance()["AvailableBalance"] == "100.00"
    (record,) = sim.calls("ApproveAssignment")
    assert (record.outcome, record.http_status, record.applied) == ("ServiceFault", 500, False)


def test_fault_after_applies_the_write_then_fails(sim, mturk):
    # Given every write fails after it is applied
    assignment_id = sim.add_assignment(sim.add_hit(KEY, reward="1.00"))
    sim.set_fault_rate(1.0, when="after")
    # When approving
    with pytest.raises(mturk.exceptions.ServiceFault):
        mturk.approve_assignment(AssignmentId=assignment_id)
    # Then the approval went through and was charged even though the caller saw a fault
    assert sim.get_assignment_state(assignment_id).status == "Approved"
    assert sim.balance(KEY) == Decimal("98.80")
    (record,) = sim.calls("ApproveAssignment")
    assert (record.outcome, record.applied) == ("ServiceFault", True)


def test_fault_after_makes_a_retrying_client_see_a_status_error(sim, server):
    # Given a client that retries 500s, and writes that fail after being applied
    client = make_client(server, config=RETRYING)
    assignment_id = sim.add_assignment(sim.add_hit(KEY))
    sim.set_fault_rate(1.0, when="after")
    # When it rejects
    with pytest.raises(client.exceptions.RequestError) as exc:
        client.reject_assignment(AssignmentId=assignment_id, RequesterFeedback="No")
    # Then the retry finds the assignment already rejected: the caller must reconcile with GetAssignment
    assert error_of(exc)[1] == f"This operation can be called with a status of: Submitted ({T0_MS})"
    assert [r.outcome for r in sim.calls("RejectAssignment")] == ["ServiceFault", "RequestError"]
    assert sim.get_assignment_state(assignment_id).status == "Rejected"


def test_fault_ops_all_or_named(sim, mturk):
    # Given
    hit_id = sim.add_hit(KEY)
    sim.set_fault_rate(1.0, ops="all")
    # When / Then
    with pytest.raises(mturk.exceptions.ServiceFault):
        mturk.get_account_balance()
    # And with one operation named, only that one faults
    sim.set_fault_rate(1.0, ops=["GetHIT"])
    mturk.get_account_balance()
    with pytest.raises(mturk.exceptions.ServiceFault):
        mturk.get_hit(HITId=hit_id)
    # And at rate 0 nothing faults
    sim.set_fault_rate(0)
    mturk.get_hit(HITId=hit_id)


def test_fault_sequence_is_reproducible_with_a_seed():
    # Given
    def outcomes(seed):
        simulator = MTurkSimulator()
        simulator.add_requester(KEY, "s")
        simulator.set_fault_rate(0.5, seed=seed, ops="all")
        results = []
        for _ in range(30):
            try:
                simulator.invoke("GetAccountBalance", KEY, {})
                results.append("ok")
            except ApiError as error:
                results.append(error.code)
        return results

    # When
    first = outcomes(7)
    # Then
    assert first == outcomes(7)
    assert 0 < first.count("ServiceFault") < 30


def test_fault_settings_are_checked():
    # Given
    simulator = MTurkSimulator()
    # When / Then each bad setting is refused
    for bad in ({"p": 1.5}, {"p": 0.5, "when": "during"}, {"p": 0.5, "ops": "reads"}):
        with pytest.raises(ValueError):
            simulator.set_fault_rate(**bad)


# ----- latency -----

def test_latency_delays_every_call(sim, mturk):
    # Given
    mturk.get_account_balance()
    sim.set_latency(0.3)
    started = time.monotonic()
    # When
    mturk.get_account_balance()
    # Then
    assert time.monotonic() - started >= 0.3
    # And without latency it is quick again
    sim.set_latency(0)
    started = time.monotonic()
    mturk.get_account_balance()
    assert time.monotonic() - started < 0.3


# ----- call log -----

def test_call_log_records_every_request(sim, server, mturk):
    # Given a successful read, a failed write and a call with an unknown key
    assignment_id = sim.add_assignment(sim.add_hit(KEY))
    mturk.get_assignment(AssignmentId=assignment_id)
    with pytest.raises(mturk.exceptions.RequestError):
        mturk.reject_assignment(AssignmentId="3MISSING", RequesterFeedback="No")
    stranger = make_client(server, key="SIMKEYSTRANGER")
    with pytest.raises(stranger.exceptions.ClientError):
        stranger.get_account_balance()
    # Then each is in the log with operation, key, params, outcome and simulated time
    ok, failed, refused = sim.calls()
    assert (ok.operation, ok.access_key_id, ok.params, ok.outcome, ok.http_status, ok.sim_time) == \
        ("GetAssignment", KEY, {"AssignmentId": assignment_id}, "ok", 200, T0)
    assert (failed.operation, failed.outcome, failed.applied) == ("RejectAssignment", "RequestError", False)
    assert failed.params == {"AssignmentId": "3MISSING", "RequesterFeedback": "No"}
    assert failed.error_message.startswith("Assignment 3MISSING does not exist.")
    assert (refused.access_key_id, refused.outcome, refused.http_status) == ("SIMKEYSTRANGER", "UnrecognizedClientException", 400)
    assert ok.request_id != failed.request_id
    # And the helpers filter and reset it
    assert sim.count_calls() == 3
    assert sim.count_calls("RejectAssignment", outcome="RequestError") == 1
    assert sim.count_calls(access_key_id=KEY) == 2
    sim.reset_call_log()
    assert sim.count_calls() == 0


def test_concurrent_approvals_of_one_assignment_succeed_once(sim, server):
    # Given one submitted assignment and 10 clients racing to approve it
    assignment_id = sim.add_assignment(sim.add_hit(KEY, reward="1.00"))
    clients = [make_client(server) for _ in range(10)]
    outcomes: list[str] = []
    barrier = threading.Barrier(len(clients))

    def approve(client):
        barrier.wait()
        try:
            client.approve_assignment(AssignmentId=assignment_id)
            outcomes.append("ok")
        except client.exceptions.RequestError:
            outcomes.append("RequestError")

    threads = [threading.Thread(target=approve, args=(c,)) for c in clients]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    # Then exactly one approval went through and was charged once, and all ten were logged
    assert sorted(outcomes) == ["RequestError"] * 9 + ["ok"]
    assert sim.balance(KEY) == Decimal("98.80")
    assert sim.count_calls("ApproveAssignment") == 10
    assert sim.count_calls("ApproveAssignment", outcome="ok") == 1
