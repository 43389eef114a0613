import boto3
import pytest
from botocore.stub import Stubber

from mturk_decisions.adapters.mturk import Boto3MTurkGateway, RetryPolicy, resolve_endpoint
from mturk_decisions.domain.errors import (
    AssignmentNotFound,
    InsufficientFunds,
    MTurkCredentialsInvalid,
    MTurkFault,
    MTurkThrottled,
    WrongAssignmentState,
)


@pytest.fixture()
def stubbed():
    client = boto3.client("mturk", region_name="us-east-1", aws_access_key_id="fake", aws_secret_access_key="fake")
    with Stubber(client) as stubber:
        sleeps, retries = [], []
        gateway = Boto3MTurkGateway(lambda: client, retry=RetryPolicy(max_attempts=4), sleep=sleeps.append,
                                    on_retry=lambda op, kind, attempt: retries.append((op, kind, attempt)))
        yield gateway, stubber, sleeps, retries


def reject_error(stubber, code, message, status=400):
    stubber.add_client_error("reject_assignment", service_error_code=code, service_message=message,
                             http_status_code=status)


def reject_ok(stubber):
    stubber.add_response("reject_assignment", {}, {"AssignmentId": "A1", "RequesterFeedback": "no"})


def test_given_throttle_reported_as_request_error_then_retried_with_backoff(stubbed):
    # Given MTurk answers a throttle as RequestError, which botocore does not retry
    gateway, stubber, sleeps, retries = stubbed
    reject_error(stubber, "RequestError", "Rate exceeded (1700000000000)")
    reject_ok(stubber)
    # When
    gateway.reject("A1", "no")
    # Then it was retried once, after a bounded backoff
    assert retries == [("RejectAssignment", "throttle", 1)]
    assert len(sleeps) == 1 and 0 <= sleeps[0] <= 0.2


def test_given_throttling_exception_persists_then_throttled_error_after_max_attempts(stubbed):
    # Given
    gateway, stubber, sleeps, retries = stubbed
    for _ in range(4):
        reject_error(stubber, "ThrottlingException", "Rate exceeded")
    # When / Then
    with pytest.raises(MTurkThrottled) as raised:
        gateway.reject("A1", "no")
    assert raised.value.retry_after >= 1 and len(sleeps) == 3
    assert all(s <= 5.0 for s in sleeps)


def test_given_service_fault_then_retried_then_fault_error(stubbed):
    # Given
    gateway, stubber, sleeps, _ = stubbed
    # When / Then one fault is retried and the call succeeds
    reject_error(stubber, "ServiceFault", "Try again", status=500)
    reject_ok(stubber)
    gateway.reject("A1", "no")
    # And faults that persist end in a fault error
    for _ in range(4):
        reject_error(stubber, "ServiceFault", "Try again", status=500)
    with pytest.raises(MTurkFault):
        gateway.reject("A1", "no")


@pytest.mark.parametrize(
    "message,error",
    [
        ("Assignment A1 does not exist. (1700000000000)", AssignmentNotFound),
        ("This operation can be called with a status of: Submitted (1700000000000)", WrongAssignmentState),
        ("This Requester has insufficient funds in their account to complete this transaction. (1)", InsufficientFunds),
    ],
)
def test_request_errors_become_domain_errors_without_retry(stubbed, message, error):
    # Given
    gateway, stubber, sleeps, _ = stubbed
    reject_error(stubber, "RequestError", message)
    # When / Then
    with pytest.raises(error):
        gateway.reject("A1", "no")
    assert sleeps == []


def test_refused_credentials_become_a_clear_error(stubbed):
    # Given
    gateway, stubber, _, _ = stubbed
    reject_error(stubber, "UnrecognizedClientException", "The security token included in the request is invalid.")
    # When / Then
    with pytest.raises(MTurkCredentialsInvalid):
        gateway.reject("A1", "no")


def test_assignments_of_a_hit_are_read_100_per_page(stubbed):
    # Given
    gateway, stubber, _, _ = stubbed
    hit = {"HITId": "H1", "Reward": "0.50", "MaxAssignments": 150, "HITStatus": "Reviewable"}
    stubber.add_response("get_hit", {"HIT": hit}, {"HITId": "H1"})
    page = lambda n, start: [{"AssignmentId": f"A{start + i}", "WorkerId": "AW", "HITId": "H1",
                              "AssignmentStatus": "Rejected"} for i in range(n)]
    stubber.add_response("list_assignments_for_hit", {"Assignments": page(100, 0), "NextToken": "t1", "NumResults": 100},
                         {"HITId": "H1", "MaxResults": 100, "AssignmentStatuses": ["Rejected"]})
    stubber.add_response("list_assignments_for_hit", {"Assignments": page(50, 100), "NumResults": 50},
                         {"HITId": "H1", "MaxResults": 100, "AssignmentStatuses": ["Rejected"], "NextToken": "t1"})
    # When
    views = list(gateway.list_assignments_for_hit("H1", ["Rejected"]))
    # Then
    assert len(views) == 150 and views[0].max_assignments == 150


@pytest.mark.parametrize("setting,url", [
    ("sandbox", "https://mturk-requester-sandbox.us-east-1.amazonaws.com"),
    ("", "https://mturk-requester-sandbox.us-east-1.amazonaws.com"),
    ("production", "https://mturk-requester.us-east-1.amazonaws.com"),
    ("http://127.0.0.1:8799/", "http://127.0.0.1:8799"),
])
def test_endpoint_setting_resolves_to_its_url(setting, url):
    # When / Then
    assert resolve_endpoint(setting) == url


def test_unknown_endpoint_setting_is_refused():
    # When / Then
    with pytest.raises(ValueError):
        resolve_endpoint("prod")


def test_given_a_cold_gateway_when_its_first_calls_go_out_then_each_warm_up_runs_once_while_one_waits():
    # Given a gateway whose client answers after 0.2 s, and two warm-ups that note their thread and the answers
    import threading
    import time

    answers, warmed = [], []

    class SlowClient:
        def get_account_balance(self):
            time.sleep(0.2)
            answers.append("answered")
            return {"AvailableBalance": "10.00"}

    def warm_up(name):
        return lambda: warmed.append((name, threading.current_thread().name, len(answers)))

    gateway = Boto3MTurkGateway(lambda: SlowClient(), while_calls_wait=(warm_up("first"), warm_up("second")))
    # When three calls are made one after the other
    for _ in range(3):
        gateway.get_balance()
    # Then each warm-up ran once, in a thread of its own, while its call waited: the first before any answer came,
    # the second after the first answer and before the second
    assert warmed == [("first", "warm-while-mturk-answers", 0), ("second", "warm-while-mturk-answers", 1)]
