"""A cold decision's MTurk reads made ahead (adapters/mturk.py `read_ahead`, api/read_ahead.py): a read made in the
background answers the request's own read once, only the reads, never stale, and anything that fails is made again
by the real call with its retries."""
from __future__ import annotations

import dataclasses
import sys
import threading
import time

import pytest
from botocore.exceptions import ClientError

from mturk_decisions import wiring
from mturk_decisions.adapters import mturk as mturk_adapter
from mturk_decisions.adapters.aws_clients import Lazy
from mturk_decisions.adapters.mturk import Boto3MTurkGateway, RetryPolicy
from mturk_decisions.api import read_ahead
from mturk_decisions.config import Settings
from mturk_decisions.domain.errors import MTurkCredentialsInvalid, NotConfigured

ASSIGNMENT = "3READAHEADASSIGNMENT000000001"
OTHER = "3READAHEADASSIGNMENT000000002"


class CountingMTurk:
    """An MTurk client that notes each call (operation, assignment, thread) and answers after `latency` seconds;
    the first `throttles` calls are throttled."""

    def __init__(self, latency: float = 0.05, throttles: int = 0) -> None:
        self.latency, self.throttles = latency, throttles
        self.calls: list[tuple[str, str | None, str]] = []
        self._lock = threading.Lock()

    def _note(self, operation: str, assignment: str | None) -> None:
        with self._lock:
            self.calls.append((operation, assignment, threading.current_thread().name))
            throttled = self.throttles > 0
            self.throttles -= 1
        time.sleep(self.latency)
        if throttled:
            raise ClientError({"Error": {"Code": "ThrottlingException", "Message": "Rate exceeded"},
                               "ResponseMetadata": {"HTTPStatusCode": 400}}, "GetAssignment")

    def get_assignment(self, AssignmentId: str) -> dict:  # boto3 names it so
        self._note("GetAssignment", AssignmentId)
        return {"Assignment": {"AssignmentId": AssignmentId, "WorkerId": "AWORKER1", "HITId": "3HIT1",
                               "AssignmentStatus": "Submitted"}, "HIT": {"HITId": "3HIT1", "Reward": "0.50"}}

    def get_account_balance(self) -> dict:
        self._note("GetAccountBalance", None)
        return {"AvailableBalance": "10.00"}

    def operations(self) -> list[str]:
        return [operation for operation, _, _ in self.calls]


def gateway_of(client, retries: list | None = None) -> Boto3MTurkGateway:
    return Boto3MTurkGateway(lambda: client, retry=RetryPolicy(max_attempts=3, base_delay=0.001),
                             on_retry=lambda *retry: (retries if retries is not None else []).append(retry))


def test_given_a_read_ahead_when_the_decision_reads_the_assignment_then_mturk_was_asked_once_in_the_background():
    # Given an assignment read ahead
    client = CountingMTurk()
    gateway = gateway_of(client)
    gateway.read_ahead(ASSIGNMENT)
    # When the decision reads it, twice
    first = gateway.get_assignment(ASSIGNMENT)
    again = gateway.get_assignment(ASSIGNMENT)
    # Then the first read was answered by the read made ahead, in its own thread, and the second asked MTurk again
    assert first.assignment_id == again.assignment_id == ASSIGNMENT and first.status == "Submitted"
    assert client.calls == [("GetAssignment", ASSIGNMENT, "mturk-read-ahead"),
                            ("GetAssignment", ASSIGNMENT, "MainThread")]


def test_given_a_reversal_read_ahead_when_it_plans_then_the_assignment_and_the_balance_were_read_once_each():
    # Given an assignment and the balance read ahead (a reversal costs money)
    client = CountingMTurk()
    gateway = gateway_of(client)
    gateway.read_ahead(ASSIGNMENT, balance=True)
    # When the decision reads both
    view, balance = gateway.get_assignment(ASSIGNMENT), gateway.get_balance()
    # Then each was read once, both in the background
    assert view.assignment_id == ASSIGNMENT and str(balance) == "10.00"
    assert sorted(client.calls) == [("GetAccountBalance", None, "mturk-read-ahead"),
                                    ("GetAssignment", ASSIGNMENT, "mturk-read-ahead")]


def test_given_a_read_ahead_throttled_when_the_decision_reads_then_the_real_call_is_made_with_its_retries():
    # Given a read ahead that MTurk throttles, and a retry noted for each retry the gateway makes
    client, retries = CountingMTurk(throttles=2), []
    gateway = gateway_of(client, retries)
    gateway.read_ahead(ASSIGNMENT)
    # When the decision reads the assignment
    view = gateway.get_assignment(ASSIGNMENT)
    # Then the read ahead was tried once, without retries; the real call was retried after its throttle, and answered
    assert view.assignment_id == ASSIGNMENT
    assert [thread for _, _, thread in client.calls] == ["mturk-read-ahead", "MainThread", "MainThread"]
    assert retries == [("GetAssignment", "throttle", 1)]


def test_given_reads_ahead_dropped_at_the_end_of_a_request_when_a_later_one_reads_then_mturk_is_asked_afresh():
    # Given an assignment read ahead for a request that ended without using it (its body was refused)
    client = CountingMTurk()
    gateway = gateway_of(client)
    gateway.read_ahead(ASSIGNMENT)
    gateway.drop_reads_ahead()
    # When a later request reads the assignment
    gateway.get_assignment(ASSIGNMENT)
    # Then MTurk was asked again: the later request is not answered from the earlier read
    assert [thread for _, _, thread in client.calls][-1] == "MainThread" and len(client.calls) == 2


def test_given_a_read_ahead_older_than_its_limit_when_the_decision_reads_then_mturk_is_asked_afresh(monkeypatch):
    # Given an assignment read ahead, then a clock past the read's age limit
    client = CountingMTurk(latency=0)
    gateway = gateway_of(client)
    gateway.read_ahead(ASSIGNMENT)
    started = time.monotonic()
    monkeypatch.setattr(mturk_adapter.time, "monotonic", lambda: started + mturk_adapter.READ_AHEAD_SECONDS + 1)
    # When the decision reads it
    gateway.get_assignment(ASSIGNMENT)
    # Then the old read was not used
    assert len(client.calls) == 2 and client.calls[-1][2] == "MainThread"


def test_given_a_read_ahead_of_another_assignment_when_one_is_read_then_it_is_not_answered_from_it():
    # Given another assignment read ahead
    client = CountingMTurk()
    gateway = gateway_of(client)
    gateway.read_ahead(OTHER)
    # When this one is read
    view = gateway.get_assignment(ASSIGNMENT)
    # Then MTurk was asked for this one
    assert view.assignment_id == ASSIGNMENT and ("GetAssignment", ASSIGNMENT, "MainThread") in client.calls


def test_given_the_secret_cannot_be_read_when_reading_ahead_then_nothing_is_raised_and_the_real_read_answers_it():
    # Given a gateway whose MTurk keys cannot be read
    def no_keys():
        raise MTurkCredentialsInvalid("Could not read the MTurk keys.")

    gateway = Boto3MTurkGateway(no_keys)
    # When it reads ahead, then reads
    gateway.read_ahead(ASSIGNMENT)
    # Then the read ahead failed quietly; the decision's own read answers the problem
    with pytest.raises(MTurkCredentialsInvalid):
        gateway.get_assignment(ASSIGNMENT)


# ---- which requests read ahead ---------------------------------------------------------------------------------
def event(path: str, body: str | None = '{"feedback": "The answers do not match."}', method: str = "POST",
          content_type: str = "application/json", encoded: bool = False) -> dict:
    return {"httpMethod": method, "path": path, "body": body, "isBase64Encoded": encoded,
            "headers": {"Content-Type": content_type}}


@pytest.mark.parametrize(("request_event", "reads"), [
    (event(f"/assignments/{ASSIGNMENT}/reject"), (ASSIGNMENT, False)),
    (event(f"/assignments/{ASSIGNMENT}/reverse", body=None), (ASSIGNMENT, True)),
    (event(f"/assignments/{ASSIGNMENT}/reverse", body='{"reason": "bad QA rule"}'), (ASSIGNMENT, True)),
    (event(f"/assignments/{ASSIGNMENT}/approve", body="{}"), (ASSIGNMENT, True)),
    (event(f"/assignments/{ASSIGNMENT}/reject", body='{"reason": "no feedback"}'), None),
    (event(f"/assignments/{ASSIGNMENT}/reject", body='{"feedback": "   "}'), None),
    (event(f"/assignments/{ASSIGNMENT}/reverse", body='{"at": "2027-01-01T00:00:00Z"}'), None),
    (event(f"/assignments/{ASSIGNMENT}/reject", body="{"), None),
    (event(f"/assignments/{ASSIGNMENT}/reject", body='["feedback"]'), None),
    (event(f"/assignments/{ASSIGNMENT}/reject", content_type="application/x-www-form-urlencoded"), None),
    (event(f"/assignments/{ASSIGNMENT}/reject", encoded=True), None),
    (event(f"/assignments/{ASSIGNMENT}/reject", method="GET"), None),
    (event(f"/assignments/{ASSIGNMENT}/confirm"), None),
    (event(f"/assignments/{ASSIGNMENT}/reject/"), None),
    (event("/assignments/not-an-id/reject"), None),
    (event(f"/assignments/{ASSIGNMENT}/reject", body='{"feedback": "x", "pad": "' + "y" * 20_000 + '"}'), None),
])
def test_given_a_request_when_the_gate_looks_at_it_then_only_a_likely_decision_reads_ahead(request_event, reads):
    # Given a request (path, method, body) / When the gate looks at it
    chosen = read_ahead.reads_for(request_event)
    # Then only a likely decision reads ahead: the assignment, and the balance for what costs money
    assert chosen == reads


class RecordingGateway:
    def __init__(self) -> None:
        self.done: list[tuple] = []

    def read_ahead(self, assignment_id: str, balance: bool = False) -> None:
        self.done.append(("read_ahead", assignment_id, balance))

    def drop_reads_ahead(self) -> None:
        self.done.append(("drop",))


@pytest.fixture()
def recording_gateway():
    gateway = RecordingGateway()
    dependencies = wiring.build(Settings.from_env({"AUDIT_TABLE_NAME": "t", "IDEMPOTENCY_TABLE_NAME": "t",
                                                   "MTURK_SECRET_ID": "t", "AWS_REGION": "us-east-1"}))
    with wiring.installed(dataclasses.replace(dependencies, gateway=Lazy.of(gateway))):
        yield gateway


def test_given_a_cold_environment_when_a_decision_is_served_then_its_reads_are_made_ahead_and_dropped_after(
        recording_gateway, monkeypatch):
    # Given an environment whose assignment routes are not built yet
    monkeypatch.delitem(sys.modules, read_ahead.ASSIGNMENT_ROUTES, raising=False)
    # When a reject is served, and fails inside the block
    with pytest.raises(RuntimeError), read_ahead.reading_ahead(event(f"/assignments/{ASSIGNMENT}/reject")):
        raise RuntimeError("the route failed")
    # Then its assignment was read ahead, and whatever was left was dropped when the request ended
    assert recording_gateway.done == [("read_ahead", ASSIGNMENT, False), ("drop",)]


def test_given_the_assignment_routes_built_when_a_decision_is_served_then_nothing_is_read_ahead(
        recording_gateway, monkeypatch):
    # Given a warm environment (or one restored from a snapshot): its assignment routes are built
    monkeypatch.setitem(sys.modules, read_ahead.ASSIGNMENT_ROUTES, sys.modules[__name__])
    # When a reject is served
    with read_ahead.reading_ahead(event(f"/assignments/{ASSIGNMENT}/reject")):
        pass
    # Then nothing was read ahead: there is nothing to overlap
    assert recording_gateway.done == []


def test_given_the_gateway_cannot_be_made_when_a_cold_decision_is_served_then_the_request_goes_on(monkeypatch):
    # Given a cold environment whose dependencies cannot be built (a setting missing)
    monkeypatch.delitem(sys.modules, read_ahead.ASSIGNMENT_ROUTES, raising=False)

    def broken():
        raise NotConfigured("AUDIT_TABLE_NAME is not set in the function's environment.")

    monkeypatch.setattr(wiring, "current", broken)
    served = []
    # When a reject is served
    with read_ahead.reading_ahead(event(f"/assignments/{ASSIGNMENT}/reject")):
        served.append("served")
    # Then the request went on, to be answered by its route
    assert served == ["served"]
