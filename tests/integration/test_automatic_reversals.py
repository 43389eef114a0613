"""Reversals without a person at the keyboard: events, provisional rejections, schedules, funds retries,
MTurk notifications and the reconciler — with moto, the simulator and its controllable clock."""
from __future__ import annotations

import json
import time
import uuid
from datetime import timedelta

import boto3
import pytest

from local.stack import DEMO_MTURK_KEY, REGION
from mturk_decisions import wiring


def wait_until(predicate, timeout=20.0, every=0.2):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        value = predicate()
        if value:
            return value
        time.sleep(every)
    return predicate()


@pytest.fixture()
def events(stack):
    return boto3.client("events", region_name=REGION, endpoint_url=stack.moto_url)


@pytest.fixture()
def sqs(stack):
    return boto3.client("sqs", region_name=REGION, endpoint_url=stack.moto_url)


@pytest.fixture()
def frozen(sim):
    sim.clock.freeze()
    return sim


def request_reversal(events, stack, detail):
    events.put_events(Entries=[{"EventBusName": stack.env["EVENT_BUS_NAME"], "Source": "mturk-decisions.requester",
                                "DetailType": "Reversal Requested", "Detail": json.dumps(detail)}])


def drain(sqs, url, wait=1):
    messages = []
    while True:
        got = sqs.receive_message(QueueUrl=url, MaxNumberOfMessages=10, WaitTimeSeconds=wait,
                                  MessageAttributeNames=["All"]).get("Messages", [])
        if not got:
            return messages
        for message in got:
            sqs.delete_message(QueueUrl=url, ReceiptHandle=message["ReceiptHandle"])
        messages += got


class TestReversalRequestedEvents:
    def test_given_a_reversal_requested_event_then_the_assignment_is_reversed_and_audited(self, api, sim, seed,
                                                                                         events, stack):
        # Given
        assignment_id = seed("Rejected", days_ago=3)
        # When
        request_reversal(events, stack, {"assignmentId": assignment_id, "reason": "appeal upheld", "requester": "qa-bot"})
        # Then
        assert wait_until(lambda: sim.get_assignment_state(assignment_id).status == "Approved")
        record = wait_until(lambda: api.get(f"/assignments/{assignment_id}").json()["history"])[0]
        assert record["source"] == "event" and record["actor"] == "event:mturk-decisions.requester (claimed requester: qa-bot)"

    def test_given_a_hit_event_with_workers_then_a_batch_reverses_only_them(self, sim, events, stack):
        # Given
        hit = sim.add_hit(DEMO_MTURK_KEY[0], max_assignments=2)
        keep = sim.add_assignment(hit, worker_id="AKEEPWORKER1", status="Rejected")
        undo = sim.add_assignment(hit, worker_id="AUNDOWORKER2", status="Rejected")
        # When
        request_reversal(events, stack, {"hitId": hit, "workerIds": ["AUNDOWORKER2"]})
        # Then
        assert wait_until(lambda: sim.get_assignment_state(undo).status == "Approved", timeout=30)
        assert sim.get_assignment_state(keep).status == "Rejected"

    @pytest.mark.parametrize("detail,reason", [
        ({"assignmentId": "A1", "hitId": "H1"}, "exactly one"),
        ({"assignmentId": "not valid"}, "not an MTurk id"),
        ({"assignmentId": "A1", "colour": "red"}, "unknown detail field"),
    ])
    def test_given_a_malformed_event_then_it_lands_in_the_dlq_with_its_reason(self, events, sqs, stack, detail, reason):
        # Given
        drain(sqs, stack.env["EVENTS_DLQ_URL"], wait=0)
        # When
        request_reversal(events, stack, detail)
        # Then
        messages = wait_until(lambda: drain(sqs, stack.env["EVENTS_DLQ_URL"]), timeout=20)
        assert len(messages) == 1
        body = json.loads(messages[0]["Body"])
        assert reason in body["reason"] and json.loads(body["body"])["detail"] == detail
        assert reason in messages[0]["MessageAttributes"]["reason"]["StringValue"]


class TestProvisionalRejections:
    def test_given_unconfirmed_provisional_rejection_then_reversed_when_grace_ends_before_day_30(self, api, frozen,
                                                                                               seed):
        # Given
        sim = frozen
        assignment_id = seed("Submitted", days_ago=1)
        # When
        response = api.post(f"/assignments/{assignment_id}/reject",
                            {"feedback": "Looks copied", "provisionalFor": "P2D"})
        # Then
        assert response.status_code == 200, response.text
        schedule = response.json()["scheduledReversal"]
        assert schedule["kind"] == "provisional" and schedule["state"] == "PENDING"
        # And a day later the sweep reverses nothing
        scheduler = wiring.current().reversal_scheduler()
        sim.clock.advance(days=1)
        assert scheduler.sweep().reversed == []
        # When the grace ends
        sim.clock.advance(days=1, minutes=1)
        report = scheduler.sweep()
        # Then the sweep reverses it, and the history says so
        assert report.reversed == [assignment_id]
        assert sim.get_assignment_state(assignment_id).status == "Approved"
        history = api.get(f"/assignments/{assignment_id}").json()
        assert [h["action"] for h in history["history"]] == ["reverse", "reject"]
        assert history["history"][0]["source"] == "schedule"
        assert history["scheduledReversal"]["state"] == "DONE"

    def test_given_a_long_grace_then_the_reversal_is_due_before_the_window_closes(self, api, frozen, seed):
        # Given
        assignment_id = seed("Submitted", days_ago=20)
        # When
        schedule = api.post(f"/assignments/{assignment_id}/reject",
                            {"feedback": "Looks copied", "provisionalFor": "P25D"}).json()["scheduledReversal"]
        # Then
        assert schedule["dueAt"] < schedule["deadline"]
        # And a sweep before day 30 reverses it
        frozen.clock.advance(days=9, hours=20)
        assert wiring.current().reversal_scheduler().sweep().reversed == [assignment_id]

    def test_given_confirmed_provisional_rejection_then_never_reversed(self, api, frozen, seed):
        # Given
        assignment_id = seed("Submitted")
        api.post(f"/assignments/{assignment_id}/reject", {"feedback": "Looks copied", "provisionalFor": "PT1H"})
        # When
        confirmed = api.post(f"/assignments/{assignment_id}/confirm")
        # Then
        assert confirmed.status_code == 200 and confirmed.json()["scheduledReversal"]["state"] == "CONFIRMED"
        # And three days later no sweep reverses it
        frozen.clock.advance(days=3)
        assert wiring.current().reversal_scheduler().sweep().reversed == []
        assert frozen.get_assignment_state(assignment_id).status == "Rejected"

    def test_confirm_without_provisional_rejection_is_404(self, api, seed):
        # When
        response = api.post(f"/assignments/{seed('Rejected')}/confirm")
        # Then
        assert response.status_code == 404 and response.json()["code"] == "SCHEDULE_NOT_FOUND"

    def test_bad_provisional_duration_is_400(self, api, seed):
        # When
        response = api.post(f"/assignments/{seed('Submitted')}/reject", {"feedback": "x", "provisionalFor": "2 days"})
        # Then
        assert response.status_code == 400 and response.json()["field"] == "provisionalFor"


class TestScheduledReversals:
    def test_given_a_scheduled_reversal_then_it_fires_at_its_time(self, api, frozen, seed):
        # Given
        assignment_id = seed("Rejected", days_ago=2)
        at = (frozen.clock.now() + timedelta(hours=5)).isoformat()
        # When
        response = api.post(f"/assignments/{assignment_id}/reverse", {"at": at, "reason": "after appeal review"})
        # Then
        assert response.status_code == 202, response.text
        # And it fires at its time, not before
        scheduler = wiring.current().reversal_scheduler()
        frozen.clock.advance(hours=4)
        assert scheduler.sweep().reversed == []
        frozen.clock.advance(hours=1, seconds=1)
        assert scheduler.sweep().reversed == [assignment_id]
        assert frozen.get_assignment_state(assignment_id).status == "Approved"

    def test_given_a_cancelled_scheduled_reversal_then_it_never_fires(self, api, frozen, seed):
        # Given
        assignment_id = seed("Rejected", days_ago=2)
        api.post(f"/assignments/{assignment_id}/reverse", {"at": (frozen.clock.now() + timedelta(hours=1)).isoformat()})
        # When
        cancelled = api.delete(f"/assignments/{assignment_id}/scheduled-reversal")
        # Then
        assert cancelled.status_code == 200 and cancelled.json()["scheduledReversal"]["state"] == "CANCELLED"
        # And it never fires
        frozen.clock.advance(hours=2)
        assert wiring.current().reversal_scheduler().sweep().reversed == []
        assert frozen.get_assignment_state(assignment_id).status == "Rejected"

    def test_a_time_after_the_deadline_is_refused(self, api, frozen, seed):
        # Given
        assignment_id = seed("Rejected", days_ago=29)
        # When
        response = api.post(f"/assignments/{assignment_id}/reverse",
                            {"at": (frozen.clock.now() + timedelta(days=2)).isoformat()})
        # Then
        assert response.status_code == 409 and response.json()["code"] == "REVERSAL_WINDOW_CLOSING"


class TestFundsRetries:
    def test_given_no_funds_then_the_reversal_is_retried_and_succeeds_after_top_up(self, api, frozen, seed, events,
                                                                                  stack):
        # Given
        sim = frozen
        assignment_id = seed("Rejected", days_ago=2)
        sim.set_balance(DEMO_MTURK_KEY[0], "0.00")
        # When
        request_reversal(events, stack, {"assignmentId": assignment_id, "reason": "appeal"})
        # Then a funds retry is scheduled
        scheduler = wiring.current().reversal_scheduler()
        schedule = wait_until(lambda: scheduler.get(assignment_id))
        assert schedule.kind == "funds-retry" and schedule.state == "PENDING"
        # And a sweep while there are still no funds backs off
        sim.clock.advance(minutes=16)
        report = scheduler.sweep()
        assert report.rescheduled == [assignment_id]  # still no funds: backs off
        assert scheduler.get(assignment_id).attempts == 2
        # When the balance is topped up
        sim.set_balance(DEMO_MTURK_KEY[0], "50.00")
        sim.clock.advance(hours=1)
        # Then the next sweep reverses it
        assert scheduler.sweep().reversed == [assignment_id]
        assert sim.get_assignment_state(assignment_id).status == "Approved"


class TestMTurkNotifications:
    def test_given_notifications_on_and_a_website_rejection_delivered_twice_then_audited_once(self, api, sim, seed):
        # Given notifications for the HIT type, set up through the service, and MTurk delivering twice
        assignment_id = seed("Submitted")
        hit_type = sim.get_hit_state(sim.get_assignment_state(assignment_id).hit_id).hit_type_id
        response = api.request("PUT", f"/hit-types/{hit_type}/notifications", {"active": True})
        assert response.status_code == 200, response.text
        sim.set_duplicate_notifications(True)
        try:
            # When the requester rejects on the MTurk website
            sim.website_reject(assignment_id, "Rejected on the website")
            # Then the audit shows it once, from the notification
            assert wait_until(lambda: api.get(f"/assignments/{assignment_id}").json()["history"])
            time.sleep(1.5)
        finally:
            sim.set_duplicate_notifications(False)
        history = api.get(f"/assignments/{assignment_id}").json()["history"]
        assert len(history) == 1 and history[0]["source"] == "mturk-notification"
        assert history[0]["feedback"] == "Rejected on the website" and history[0]["actor"] == "mturk:requester-website"
        assert sum(1 for n in sim.notification_log if n.ok) == 2

    def notification(self, assignment_id, hit_id, doc_id, event_type="AssignmentRejected"):
        return json.dumps({"Events": [{"EventType": event_type, "EventTimestamp": "2026-11-23T12:00:00Z",
                                       "HITId": hit_id, "AssignmentId": assignment_id, "HITTypeId": "HT1"}],
                           "EventDocId": doc_id, "SourceAccount": "000000000000", "CustomerId": "A1REQUESTER",
                           "EventDocVersion": "2014-08-15"})

    def test_given_a_website_rejection_delivered_twice_then_audited_once(self, api, sim, seed, sqs, stack):
        # Given a rejection made on the requester website, which MTurk notifies at least once
        assignment_id = seed("Submitted")
        sim.invoke("RejectAssignment", DEMO_MTURK_KEY[0], {"AssignmentId": assignment_id,
                                                            "RequesterFeedback": "website says no"})
        hit_id = sim.get_assignment_state(assignment_id).hit_id
        doc_id = uuid.uuid4().hex
        # When the same notification arrives twice
        for _ in range(2):
            sqs.send_message(QueueUrl=stack.env["NOTIFICATIONS_QUEUE_URL"],
                             MessageBody=self.notification(assignment_id, hit_id, doc_id))
        # Then the audit has it once, with source mturk-notification
        history = wait_until(lambda: api.get(f"/assignments/{assignment_id}").json()["history"])
        time.sleep(1.5)
        history = api.get(f"/assignments/{assignment_id}").json()["history"]
        assert len(history) == 1
        assert history[0]["source"] == "mturk-notification" and history[0]["feedback"] == "website says no"

    def test_the_services_own_decisions_are_not_recorded_twice(self, api, seed, sqs, stack, sim):
        # Given
        assignment_id = seed("Submitted")
        api.post(f"/assignments/{assignment_id}/reject", {"feedback": "no"})
        hit_id = sim.get_assignment_state(assignment_id).hit_id
        # When MTurk notifies that rejection
        sqs.send_message(QueueUrl=stack.env["NOTIFICATIONS_QUEUE_URL"],
                         MessageBody=self.notification(assignment_id, hit_id, uuid.uuid4().hex))
        # Then
        time.sleep(2)
        assert len(api.get(f"/assignments/{assignment_id}").json()["history"]) == 1

    def test_a_malformed_notification_goes_to_the_dlq_with_its_reason(self, sqs, stack):
        # Given
        drain(sqs, stack.env["NOTIFICATIONS_DLQ_URL"], wait=0)
        # When
        sqs.send_message(QueueUrl=stack.env["NOTIFICATIONS_QUEUE_URL"], MessageBody='{"Events": []}')
        # Then
        [message] = wait_until(lambda: drain(sqs, stack.env["NOTIFICATIONS_DLQ_URL"]))
        assert "EventDocId" in json.loads(message["Body"])["reason"]


class TestReconciler:
    def test_given_crash_after_mturk_call_then_pending_is_finalized_succeeded_without_second_write(self, api, frozen,
                                                                                                  seed, stack):
        # Given the finalize step crashes once (the Lambda died after MTurk applied the rejection)
        sim = frozen
        assignment_id = seed("Submitted")
        audit = wiring.current().service.audit
        original = audit.finalize

        def crash(*args, **kwargs):
            raise RuntimeError("killed before finalize")

        audit.finalize = crash
        try:
            response = api.post(f"/assignments/{assignment_id}/reject", {"feedback": "no"})
        finally:
            audit.finalize = original
        assert response.status_code == 200 and "warning" in response.json()
        assert api.get(f"/assignments/{assignment_id}").json()["history"][0]["state"] == "PENDING"
        sim.reset_call_log()
        # When the reconciler runs after the in-flight window
        sim.clock.advance(minutes=16)
        report = wiring.current().reconciler().run()
        # Then it is SUCCEEDED, and MTurk saw no second write
        assert assignment_id in [r for r in [audit.history(assignment_id)[0].assignment_id]]
        assert report.succeeded and api.get(f"/assignments/{assignment_id}").json()["history"][0]["state"] == "SUCCEEDED"
        assert sim.count_calls("RejectAssignment") == 0


class TestServiceEvents:
    def test_decisions_are_published_on_the_bus(self, api, seed, events, sqs, stack):
        # Given a queue observing the bus
        observer = sqs.create_queue(QueueName=f"observer-{uuid.uuid4().hex[:8]}")["QueueUrl"]
        arn = sqs.get_queue_attributes(QueueUrl=observer, AttributeNames=["QueueArn"])["Attributes"]["QueueArn"]
        rule = f"observe-{uuid.uuid4().hex[:8]}"
        events.put_rule(Name=rule, EventBusName=stack.env["EVENT_BUS_NAME"],
                        EventPattern=json.dumps({"source": ["mturk-decisions"]}))
        events.put_targets(Rule=rule, EventBusName=stack.env["EVENT_BUS_NAME"], Targets=[{"Id": "o", "Arn": arn}])
        # When an assignment is rejected, then the rejection reversed
        assignment_id = seed("Submitted")
        api.post(f"/assignments/{assignment_id}/reject", {"feedback": "no"})
        api.post(f"/assignments/{assignment_id}/reverse", {})
        # Then
        messages = wait_until(lambda: drain(sqs, observer))
        kinds = sorted(json.loads(m["Body"])["detail-type"] for m in messages)
        assert kinds == ["Assignment Rejected", "Rejection Reversed"]


def test_two_reconciler_runs_never_overlap(stack, sim):
    # Given a reconciler run in progress (it holds the run lock)
    from local.runtime import LambdaContext
    from mturk_decisions.handlers.reconciler import RUN_LOCK, handler

    audit = wiring.current().service.audit
    now = sim.clock.now()
    assert audit.acquire_run_lock(RUN_LOCK, "the-running-one", now + timedelta(minutes=5), now)
    try:
        # When the schedule fires again (or Lambda retries an invocation)
        answer = handler({"source": "aws.events"}, LambdaContext("mturk-decisions-reconciler", 300))
        # Then the second run does nothing
        assert answer == {"skipped": True}
    finally:
        audit.release_run_lock(RUN_LOCK, "the-running-one")
    # And once the first run released the lock, the next one runs
    assert "examined" in handler({"source": "aws.events"}, LambdaContext("mturk-decisions-reconciler", 300))
