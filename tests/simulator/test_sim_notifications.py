"""MTurk notifications to SQS, read back from a moto server: settings, documents, delivery and the website path."""

from __future__ import annotations

import itertools
import json
import os
import re
import socket
import subprocess
import sys
from pathlib import Path
from types import SimpleNamespace

import boto3
import pytest
from moto.server import ThreadedMotoServer

from local.mturk_simulator import ApiError, MTurkSimulator
from tests.simulator.sim_helpers import KEY, OTHER_KEY, OTHER_SECRET, T0, T0_MS, admin, error_of, make_client

REPO = Path(__file__).resolve().parents[2]
HIT_TYPE = "3NOTIFYHITTYPE"
T0_STAMP = "2026-01-15T12:00:00Z"
DOC_KEYS = ["Events", "EventDocId", "SourceAccount", "CustomerId", "EventDocVersion"]
_queue_numbers = itertools.count()


# ----- moto and SQS helpers -----

@pytest.fixture(scope="module")
def moto_url():
    moto = ThreadedMotoServer(ip_address="127.0.0.1", port=0, verbose=False)
    moto.start()
    host, port = moto.get_host_and_port()
    yield f"http://{host}:{port}"
    moto.stop()


@pytest.fixture(scope="module")
def sqs(moto_url):
    return boto3.client("sqs", region_name="us-east-1", endpoint_url=moto_url,
                        aws_access_key_id="testing", aws_secret_access_key="testing")


@pytest.fixture
def queue(sqs):
    """A fresh standard queue on moto; its URL is what MTurk's Destination takes."""
    return sqs.create_queue(QueueName=f"mturk-notifications-{os.getpid()}-{next(_queue_numbers)}")["QueueUrl"]


def drain(sqs, queue_url: str) -> list[dict]:
    """Every message now on the queue, parsed, oldest first; deleted as read."""
    documents = []
    while True:
        messages = sqs.receive_message(QueueUrl=queue_url, MaxNumberOfMessages=10, WaitTimeSeconds=0).get("Messages", [])
        if not messages:
            return documents
        for message in messages:
            documents.append(json.loads(message["Body"]))
            sqs.delete_message(QueueUrl=queue_url, ReceiptHandle=message["ReceiptHandle"])


def spec(queue_url: str, *event_types: str, version: str = "2014-08-15", transport: str = "SQS") -> dict:
    return {"Destination": queue_url, "Transport": transport, "Version": version,
            "EventTypes": list(event_types or ("AssignmentRejected", "AssignmentApproved"))}


def event_of(document: dict) -> dict:
    (event,) = document["Events"]
    return event


def closed_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


@pytest.fixture
def hit_id(sim):
    return sim.add_hit(KEY, reward="1.00", max_assignments=5, hit_type_id=HIT_TYPE)


# ----- the document, one per change -----

def test_api_rejection_sends_one_mturk_notification_document(sim, mturk, sqs, queue, hit_id):
    # Given a HIT type whose notifications go to an SQS queue
    assignment_id = sim.add_assignment(hit_id)
    mturk.update_notification_settings(HITTypeId=HIT_TYPE, Notification=spec(queue), Active=True)
    # When one of its assignments is rejected through the API
    mturk.reject_assignment(AssignmentId=assignment_id, RequesterFeedback="Answer missing")
    # Then exactly one message arrives, in MTurk's format, from the simulated clock
    (document,) = drain(sqs, queue)
    assert list(document) == DOC_KEYS
    assert document["Events"] == [{"EventType": "AssignmentRejected", "EventTimestamp": T0_STAMP, "HITId": hit_id,
                                   "AssignmentId": assignment_id, "HITTypeId": HIT_TYPE}]
    assert re.fullmatch(r"[0-9a-f]{40}", document["EventDocId"])
    requester = sim.requester_info(KEY)
    assert re.fullmatch(r"\d{12}", requester["accountId"]) and re.fullmatch(r"A[A-Z0-9]{12}", requester["customerId"])
    assert (document["SourceAccount"], document["CustomerId"]) == (requester["accountId"], requester["customerId"])
    assert document["EventDocVersion"] == "2014-08-15"
    # And the notification log says what was sent
    (record,) = sim.notification_log
    assert (record.operation, record.access_key_id, record.destination, record.ok, record.error) == (
        "RejectAssignment", KEY, queue, True, None)
    assert record.event_doc_id == document["EventDocId"] and record.events == document["Events"]
    assert json.loads(record.body) == document and record.message_id and not record.duplicate


def test_each_approval_and_override_sends_its_own_notification(sim, mturk, sqs, queue, hit_id):
    # Given settings with botocore's documented version "2006-05-05", a submitted and a rejected assignment
    submitted = sim.add_assignment(hit_id)
    rejected = sim.add_assignment(hit_id, status="Rejected", feedback="No")
    mturk.update_notification_settings(HITTypeId=HIT_TYPE, Notification=spec(queue, version="2006-05-05"))
    # When the first is approved and, an hour later, the rejection of the second is overridden
    mturk.approve_assignment(AssignmentId=submitted)
    sim.clock.advance(hours=1)
    mturk.approve_assignment(AssignmentId=rejected, OverrideRejection=True)
    # Then one AssignmentApproved per change, each with its own EventDocId and time; documents are 2014-08-15
    first, second = drain(sqs, queue)
    assert (event_of(first)["EventType"], event_of(first)["AssignmentId"], event_of(first)["EventTimestamp"]) == (
        "AssignmentApproved", submitted, T0_STAMP)
    assert (event_of(second)["EventType"], event_of(second)["AssignmentId"], event_of(second)["EventTimestamp"]) == (
        "AssignmentApproved", rejected, "2026-01-15T13:00:00Z")
    assert first["EventDocId"] != second["EventDocId"]
    assert {first["EventDocVersion"], second["EventDocVersion"]} == {"2014-08-15"}


def test_refused_calls_and_faults_before_the_change_send_nothing(sim, mturk, sqs, queue, hit_id):
    # Given notifications on, an approved assignment and an empty balance
    approved = sim.add_assignment(hit_id, status="Approved")
    submitted = sim.add_assignment(hit_id)
    mturk.update_notification_settings(HITTypeId=HIT_TYPE, Notification=spec(queue))
    sim.set_balance(KEY, "0.00")
    # When MTurk's rules refuse calls, or a fault hits before the change
    with pytest.raises(mturk.exceptions.RequestError):
        mturk.reject_assignment(AssignmentId=approved, RequesterFeedback="No")
    with pytest.raises(mturk.exceptions.RequestError):
        mturk.approve_assignment(AssignmentId=submitted)
    sim.set_fault_rate(1.0, when="before")
    with pytest.raises(mturk.exceptions.ServiceFault):
        mturk.reject_assignment(AssignmentId=submitted, RequesterFeedback="No")
    # Then nothing is sent
    assert drain(sqs, queue) == [] and sim.notification_log == []


def test_fault_after_the_change_still_notifies(sim, mturk, sqs, queue, hit_id):
    # Given notifications on and writes that fail after being applied
    assignment_id = sim.add_assignment(hit_id)
    mturk.update_notification_settings(HITTypeId=HIT_TYPE, Notification=spec(queue))
    sim.set_fault_rate(1.0, when="after")
    # When the rejection is answered with a ServiceFault
    with pytest.raises(mturk.exceptions.ServiceFault):
        mturk.reject_assignment(AssignmentId=assignment_id, RequesterFeedback="No")
    # Then the change happened, so MTurk notifies anyway
    assert [event_of(d)["EventType"] for d in drain(sqs, queue)] == ["AssignmentRejected"]


def test_only_subscribed_event_types_are_sent(sim, mturk, sqs, queue, hit_id):
    # Given settings for rejections only
    first, second = sim.add_assignment(hit_id), sim.add_assignment(hit_id)
    mturk.update_notification_settings(HITTypeId=HIT_TYPE, Notification=spec(queue, "AssignmentRejected"))
    # When one assignment is approved and the other rejected
    mturk.approve_assignment(AssignmentId=first)
    mturk.reject_assignment(AssignmentId=second, RequesterFeedback="No")
    # Then only the rejection is notified
    assert [(event_of(d)["EventType"], event_of(d)["AssignmentId"]) for d in drain(sqs, queue)] == [
        ("AssignmentRejected", second)]


def test_inactive_settings_send_nothing_until_reactivated(sim, mturk, sqs, queue, hit_id):
    # Given settings stored inactive
    a1, a2, a3 = (sim.add_assignment(hit_id) for _ in range(3))
    mturk.update_notification_settings(HITTypeId=HIT_TYPE, Notification=spec(queue), Active=False)
    assert sim.get_notification_settings(KEY, HIT_TYPE) == {"HITTypeId": HIT_TYPE, "Notification": spec(queue), "Active": False}
    # When an assignment is rejected
    mturk.reject_assignment(AssignmentId=a1, RequesterFeedback="No")
    # Then nothing is sent
    assert drain(sqs, queue) == []
    # When the settings are re-enabled with Active alone and another is rejected
    mturk.update_notification_settings(HITTypeId=HIT_TYPE, Active=True)
    mturk.reject_assignment(AssignmentId=a2, RequesterFeedback="No")
    # Then that one is notified
    assert [event_of(d)["AssignmentId"] for d in drain(sqs, queue)] == [a2]
    # And a replacement specification without Active keeps them active; disabling stops them again
    mturk.update_notification_settings(HITTypeId=HIT_TYPE, Notification=spec(queue, "AssignmentApproved"))
    assert sim.get_notification_settings(KEY, HIT_TYPE)["Active"] is True
    mturk.update_notification_settings(HITTypeId=HIT_TYPE, Active=False)
    mturk.approve_assignment(AssignmentId=a3)
    assert drain(sqs, queue) == []


def test_other_hit_types_and_other_requesters_are_not_notified(sim, server, mturk, sqs, queue, hit_id):
    # Given notifications for HIT_TYPE only; a HIT of another type; another requester using the same type ID
    sim.add_requester(OTHER_KEY, OTHER_SECRET)
    other_type_assignment = sim.add_assignment(sim.add_hit(KEY, hit_type_id="3OTHERHITTYPE"))
    other_requester_assignment = sim.add_assignment(sim.add_hit(OTHER_KEY, hit_type_id=HIT_TYPE))
    mturk.update_notification_settings(HITTypeId=HIT_TYPE, Notification=spec(queue))
    # When both are rejected
    mturk.reject_assignment(AssignmentId=other_type_assignment, RequesterFeedback="No")
    make_client(server, key=OTHER_KEY, secret=OTHER_SECRET).reject_assignment(
        AssignmentId=other_requester_assignment, RequesterFeedback="No")
    # Then nothing is sent: settings belong to one requester's HIT type
    assert drain(sqs, queue) == []


def test_duplicate_notifications_knob_sends_everything_twice(sim, mturk, sqs, queue, hit_id):
    # Given duplicate delivery switched on
    assignment_id = sim.add_assignment(hit_id)
    mturk.update_notification_settings(HITTypeId=HIT_TYPE, Notification=spec(queue))
    sim.set_duplicate_notifications(True)
    # When one assignment is rejected
    mturk.reject_assignment(AssignmentId=assignment_id, RequesterFeedback="No")
    # Then the same document arrives twice (at-least-once delivery), recorded as an original and a duplicate
    first, second = drain(sqs, queue)
    assert first == second
    assert [r.duplicate for r in sim.notification_log] == [False, True]
    assert len({r.event_doc_id for r in sim.notification_log}) == 1
    # And switching it off sends once again
    sim.set_duplicate_notifications(False)
    mturk.send_test_event_notification(Notification=spec(queue), TestEventType="Ping")
    assert len(drain(sqs, queue)) == 1


# ----- settings validation -----

@pytest.mark.parametrize("change, code, message", [
    ({"Transport": "SNS", "Destination": "arn:aws:sns:us-east-1:123456789012:topic"},
     "RequestError", "Only SQS destinations are supported by the MTurk simulator."),
    ({"Transport": "Email", "Destination": "me@example.com"},
     "RequestError", "Only SQS destinations are supported by the MTurk simulator."),
    ({"Destination": "arn:aws:sqs:us-east-1:123456789012:queue"}, "RequestError", "is not an Amazon SQS queue URL"),
    ({"Destination": "https://sqs.us-east-1.amazonaws.com/queue-without-account"}, "RequestError",
     "is not an Amazon SQS queue URL"),
    ({"Destination": "https://sqs.us-east-1.amazonaws.com/123456789012/q.fifo"}, "RequestError", "FIFO"),
    ({"Version": "2017-01-17"}, "RequestError", "Version 2017-01-17 is not a supported notification version"),
    ({"EventTypes": []}, "RequestError", "EventTypes must list at least one event type."),
    ({"EventTypes": ["AssignmentRejected", "Ping"]}, "RequestError", "only valid for the SendTestEventNotification"),
    ({"EventTypes": ["AssignmentExploded"]}, "ValidationException", "Member must satisfy enum value set"),
    ({"Transport": "Pigeon"}, "ValidationException", "Member must satisfy enum value set: [Email, SQS, SNS]"),
])
def test_bad_notification_specifications_are_refused(sim, mturk, hit_id, change, code, message):
    # Given an otherwise valid specification with one bad member
    notification = dict(spec("https://sqs.us-east-1.amazonaws.com/123456789012/q"), **change)
    # When it is set
    with pytest.raises(mturk.exceptions.ClientError) as exc:
        mturk.update_notification_settings(HITTypeId=HIT_TYPE, Notification=notification)
    # Then it is refused and nothing is stored
    assert error_of(exc)[0] == code and message in error_of(exc)[1]
    if code == "RequestError":
        assert error_of(exc)[1].endswith(f" ({T0_MS})")
        expected_turk = ("AWS.MechanicalTurk.UnsupportedOperation" if "Only SQS" in message
                         else "AWS.MechanicalTurk.InvalidParameterValue")
        assert exc.value.response["TurkErrorCode"] == expected_turk
    assert sim.get_notification_settings(KEY, HIT_TYPE) is None


def test_settings_need_a_known_hit_type_and_notification_or_active(sim, server, mturk, queue, hit_id):
    # Given
    sim.add_requester(OTHER_KEY, OTHER_SECRET)
    other_type = sim.add_hit_type(OTHER_KEY, "3OTHERSTYPE")
    cases = [
        ({"HITTypeId": "3NOSUCHTYPE", "Notification": spec(queue)}, "HIT type 3NOSUCHTYPE does not exist.",
         "AWS.MechanicalTurk.HITTypeDoesNotExist"),
        ({"HITTypeId": other_type, "Notification": spec(queue)}, f"HIT type {other_type} does not exist.",
         "AWS.MechanicalTurk.HITTypeDoesNotExist"),
        ({"HITTypeId": HIT_TYPE}, "You must specify either the Notification parameter or the Active parameter.",
         "AWS.MechanicalTurk.InvalidParameterValue"),
        ({"HITTypeId": HIT_TYPE, "Active": True},
         f"HIT type {HIT_TYPE} has no notification specification; provide Notification to change Active.",
         "AWS.MechanicalTurk.InvalidParameterValue"),
    ]
    # When / Then each is refused as MTurk refuses it
    for params, message, turk_code in cases:
        with pytest.raises(mturk.exceptions.RequestError) as exc:
            mturk.update_notification_settings(**params)
        assert (error_of(exc)[1], exc.value.response["TurkErrorCode"]) == (f"{message} ({T0_MS})", turk_code)
    # A HIT type registered without HITs can be set up; the owner sees it, the call log marks it applied
    registered = sim.add_hit_type(KEY)
    # When
    mturk.update_notification_settings(HITTypeId=registered, Notification=spec(queue))
    # Then
    assert sim.get_notification_settings(KEY, registered)["Active"] is True
    assert [(r.outcome, r.applied) for r in sim.calls("UpdateNotificationSettings")][-1] == ("ok", True)
    (requester,) = [r for r in admin(server, "GET", "/state").json()["requesters"] if r["accessKeyId"] == KEY]
    assert requester["notificationSettings"] == [{"HITTypeId": registered, "Notification": spec(queue), "Active": True}]
    assert set(requester["hitTypes"]) == {HIT_TYPE, registered}


# ----- SendTestEventNotification -----

def test_send_test_event_notification_delivers_a_ping(sim, mturk, sqs, queue):
    # Given no settings at all, and a specification that does not list Ping
    # When a Ping test event is sent
    mturk.send_test_event_notification(Notification=spec(queue, "AssignmentSubmitted"), TestEventType="Ping")
    # Then a Ping document arrives at the destination
    (document,) = drain(sqs, queue)
    assert list(document) == DOC_KEYS
    assert document["Events"] == [{"EventType": "Ping", "EventTimestamp": T0_STAMP}]
    assert document["CustomerId"] == sim.requester_info(KEY)["customerId"]
    assert sim.notification_log[0].operation == "SendTestEventNotification"
    # And other test event types come with placeholder IDs
    mturk.send_test_event_notification(Notification=spec(queue), TestEventType="AssignmentRejected")
    event = event_of(drain(sqs, queue)[0])
    assert event["EventType"] == "AssignmentRejected" and {"HITId", "AssignmentId", "HITTypeId"} <= set(event)
    # And the specification is validated like UpdateNotificationSettings' (Ping allowed in EventTypes)
    mturk.send_test_event_notification(Notification=spec(queue, "Ping"), TestEventType="Ping")
    assert len(drain(sqs, queue)) == 1
    with pytest.raises(mturk.exceptions.RequestError) as exc:
        mturk.send_test_event_notification(Notification=spec(queue, transport="SNS"), TestEventType="Ping")
    assert error_of(exc)[1] == f"Only SQS destinations are supported by the MTurk simulator. ({T0_MS})"


# ----- endpoint and failures -----

def test_endpoint_sends_aws_shaped_queue_urls_to_the_local_sqs(sim, server, mturk, sqs, moto_url, queue):
    # Given a destination written as a real AWS queue URL and the SQS endpoint pointed at moto over admin
    aws_url = "https://sqs.us-east-1.amazonaws.com/123456789012/" + queue.rsplit("/", 1)[1]
    assert admin(server, "POST", "/notifications/sqs-endpoint", {"endpointUrl": moto_url + "/"}).json() == {
        "endpointUrl": moto_url}
    # When a test event is sent
    mturk.send_test_event_notification(Notification=spec(aws_url), TestEventType="Ping")
    # Then it lands in the moto queue of that name
    assert [event_of(d)["EventType"] for d in drain(sqs, queue)] == ["Ping"]
    assert (sim.notification_log[0].endpoint_url, sim.notification_log[0].destination) == (moto_url, aws_url)
    # And the endpoint can be given to the constructor, read back and cleared
    assert MTurkSimulator(sqs_endpoint_url=moto_url).sqs_endpoint_url == moto_url
    assert admin(server, "GET", "/notifications/sqs-endpoint").json() == {"endpointUrl": moto_url}
    assert admin(server, "POST", "/notifications/sqs-endpoint", {"endpointUrl": None}).json() == {"endpointUrl": None}
    assert admin(server, "POST", "/notifications/sqs-endpoint", {"endpointUrl": "ftp://x"}).status_code == 400
    assert admin(server, "POST", "/notifications/sqs-endpoint", {}).status_code == 400


def test_unreachable_sqs_does_not_fail_the_mturk_call(sim, mturk, hit_id, capsys):
    # Given notifications to a queue whose SQS endpoint nobody listens on
    assignment_id = sim.add_assignment(hit_id)
    sim.set_sqs_endpoint(f"http://127.0.0.1:{closed_port()}")
    mturk.update_notification_settings(HITTypeId=HIT_TYPE,
                                       Notification=spec("http://127.0.0.1:9/123456789012/unreachable"))
    # When an assignment is rejected
    mturk.reject_assignment(AssignmentId=assignment_id, RequesterFeedback="No")
    # Then the call succeeds, and the failed delivery is logged and reported on stderr
    assert sim.get_assignment_state(assignment_id).status == "Rejected"
    assert sim.calls("RejectAssignment")[0].outcome == "ok"
    (record,) = sim.notification_log
    assert record.ok is False and "EndpointConnectionError" in record.error and record.message_id is None
    assert f"notification {record.event_doc_id}" in capsys.readouterr().err


# ----- the requester website -----

def test_website_actions_follow_the_api_rules_log_and_notify(sim, mturk, sqs, queue, hit_id):
    # Given notifications on and a submitted assignment
    assignment_id = sim.add_assignment(hit_id)
    mturk.update_notification_settings(HITTypeId=HIT_TYPE, Notification=spec(queue))
    sim.reset_call_log()
    # When the requester rejects it on the website, then reverses the rejection there
    rejected = sim.website_reject(assignment_id, "Answer missing")
    sim.clock.advance(minutes=5)
    approved = sim.website_approve(assignment_id, feedback="Sorry", override_rejection=True)
    # Then the assignment changed as through the API, and the approval was paid
    assert (rejected.status, rejected.feedback) == ("Rejected", "Answer missing")
    assert (approved.status, approved.feedback) == ("Approved", "Sorry")
    assert str(sim.balance(KEY)) == "98.80"
    # And both were notified like API calls
    assert [(event_of(d)["EventType"], event_of(d)["EventTimestamp"]) for d in drain(sqs, queue)] == [
        ("AssignmentRejected", T0_STAMP), ("AssignmentApproved", "2026-01-15T12:05:00Z")]
    assert [r.operation for r in sim.notification_log] == ["Website.RejectAssignment", "Website.ApproveAssignment"]
    # And the call log shows website actions, not API calls
    assert [(r.operation, r.access_key_id, r.outcome, r.applied) for r in sim.calls()] == [
        ("Website.RejectAssignment", KEY, "ok", True), ("Website.ApproveAssignment", KEY, "ok", True)]
    assert sim.calls()[0].params == {"AssignmentId": assignment_id, "RequesterFeedback": "Answer missing"}


def test_website_refusals_raise_like_the_api_and_send_nothing(sim, mturk, sqs, queue, hit_id):
    # Given
    approved = sim.add_assignment(hit_id, status="Approved")
    submitted = sim.add_assignment(hit_id)
    mturk.update_notification_settings(HITTypeId=HIT_TYPE, Notification=spec(queue))
    sim.set_balance(KEY, "1.00")
    sim.reset_call_log()
    # When / Then
    with pytest.raises(ApiError) as status_error:
        sim.website_reject(approved, "No")
    with pytest.raises(ApiError) as funds_error:
        sim.website_approve(submitted)
    with pytest.raises(ApiError) as missing_error:
        sim.website_approve("3NOSUCHASSIGNMENT")
    with pytest.raises(ApiError) as feedback_error:
        sim.website_reject(submitted, "x" * 1025)
    assert (status_error.value.turk_code, status_error.value.message) == (
        "AWS.MechanicalTurk.InvalidAssignmentState", f"This operation can be called with a status of: Submitted ({T0_MS})")
    assert funds_error.value.turk_code == "AWS.MechanicalTurk.InsufficientFunds"
    assert missing_error.value.turk_code == "AWS.MechanicalTurk.AssignmentDoesNotExist"
    assert feedback_error.value.turk_code == "AWS.MechanicalTurk.InvalidParameterValue"
    assert sim.get_assignment_state(submitted).status == "Submitted" and str(sim.balance(KEY)) == "1.00"
    assert [(r.operation, r.access_key_id, r.outcome, r.applied) for r in sim.calls()] == [
        ("Website.RejectAssignment", KEY, "RequestError", False), ("Website.ApproveAssignment", KEY, "RequestError", False),
        ("Website.ApproveAssignment", None, "RequestError", False), ("Website.RejectAssignment", KEY, "RequestError", False)]
    assert drain(sqs, queue) == [] and sim.notification_log == []


# ----- admin routes -----

def test_notification_admin_routes(sim, server, mturk, sqs, queue, hit_id):
    # Given
    first, second = sim.add_assignment(hit_id), sim.add_assignment(hit_id)
    mturk.update_notification_settings(HITTypeId=HIT_TYPE, Notification=spec(queue))
    # When / Then duplicates are switched on over admin
    assert admin(server, "POST", "/notifications/duplicates", {"enabled": True}).json() == {"enabled": True}
    assert admin(server, "GET", "/notifications/duplicates").json() == {"enabled": True}
    assert admin(server, "POST", "/notifications/duplicates", {"enabled": "yes"}).status_code == 400
    # Website reject and approve over admin
    rejected = admin(server, "POST", "/website/reject", {"assignmentId": first, "feedback": "No"})
    assert (rejected.status_code, rejected.json()["AssignmentStatus"]) == (200, "Rejected")
    approved = admin(server, "POST", "/website/approve", {"assignmentId": second})
    assert (approved.status_code, approved.json()["AssignmentStatus"]) == (200, "Approved")
    # Refusals answer as MTurk would describe them
    again = admin(server, "POST", "/website/reject", {"assignmentId": first, "feedback": "No"})
    assert again.status_code == 400 and again.json() == {
        "error": f"This operation can be called with a status of: Submitted ({T0_MS})", "code": "RequestError",
        "turkErrorCode": "AWS.MechanicalTurk.InvalidAssignmentState"}
    assert admin(server, "POST", "/website/approve", {"assignmentId": "3NOPE"}).status_code == 404
    assert admin(server, "POST", "/website/reject", {"assignmentId": second}).json() == {"error": "missing feedback"}
    # The log lists both deliveries of each document
    log = admin(server, "GET", "/notifications").json()
    assert (log["count"], log["duplicates"], log["sqsEndpoint"]) == (4, True, None)
    assert [(n["operation"], n["duplicate"], n["ok"]) for n in log["notifications"]] == [
        ("Website.RejectAssignment", False, True), ("Website.RejectAssignment", True, True),
        ("Website.ApproveAssignment", False, True), ("Website.ApproveAssignment", True, True)]
    assert log["notifications"][0]["sim_time"] == T0.isoformat()
    assert len(drain(sqs, queue)) == 4
    assert admin(server, "DELETE", "/notifications").status_code == 200
    assert admin(server, "GET", "/notifications").json()["count"] == 0
    # A reset forgets settings and switches duplicates off
    assert admin(server, "POST", "/reset").status_code == 200
    assert admin(server, "GET", "/state").json()["notifications"] == {"sqsEndpoint": None, "duplicates": False}


# ----- the process, as the local stack runs it -----

def test_process_with_sqs_endpoint_flag_delivers_to_moto(sqs, moto_url, queue):
    # Given the simulator started as a process pointed at moto, seeded over admin
    process = subprocess.Popen(
        [sys.executable, "-m", "local.mturk_simulator", "--port", "0", "--sqs-endpoint", moto_url,
         "--requester", "SIMKEYNOTIFY:notify-secret"],
        cwd=REPO, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
        env={**os.environ, "PYTHONPATH": str(REPO)},
    )
    try:
        url = process.stdout.readline().strip()
        assert url.startswith("http://127.0.0.1:"), process.stderr.read()
        running = SimpleNamespace(url=url)
        assert admin(running, "GET", "/notifications/sqs-endpoint").json() == {"endpointUrl": moto_url}
        hit_id = admin(running, "POST", "/hits", {"accessKeyId": "SIMKEYNOTIFY", "hitTypeId": HIT_TYPE}).json()["hitId"]
        assignment_id = admin(running, "POST", "/assignments", {"hitId": hit_id}).json()["assignmentId"]
        client = make_client(running, key="SIMKEYNOTIFY", secret="notify-secret")
        client.update_notification_settings(HITTypeId=HIT_TYPE, Notification=spec(queue), Active=True)
        # When the requester rejects on the website
        assert admin(running, "POST", "/website/reject", {"assignmentId": assignment_id, "feedback": "No"}).status_code == 200
        # Then the notification is on the moto queue
        (document,) = drain(sqs, queue)
        assert (event_of(document)["EventType"], event_of(document)["AssignmentId"]) == ("AssignmentRejected", assignment_id)
        assert document["CustomerId"] == admin(running, "GET", "/requesters/SIMKEYNOTIFY").json()["customerId"]
    finally:
        process.terminate()
        process.wait(timeout=10)
