"""MTurk notifications (website decisions) audited as the event says, never swallowed, never mistaken
for the service's own decisions (issue #9)."""
from datetime import timedelta

import pytest

from mturk_decisions.domain.errors import AuditUnavailable, DecisionInProgress
from mturk_decisions.domain.model import Action, DecisionRequest, DecisionState, Source
from mturk_decisions.service.decisions import DecisionService
from mturk_decisions.service.notifications import FEEDBACK_REPLACED, NotificationIngest
from mturk_decisions.service.schedules import ReversalScheduler
from tests.fakes import NOW, FakeMTurk, InMemoryAuditStore, InMemoryScheduleStore, assignment


def world(*views, grace=None):
    mturk, audit, store = FakeMTurk(*views), InMemoryAuditStore(), InMemoryScheduleStore()
    scheduler = ReversalScheduler(DecisionService(mturk, audit, clock=lambda: NOW), store, clock=lambda: NOW)
    ingest = NotificationIngest(mturk, audit, scheduler, grace, clock=lambda: NOW)
    return ingest, mturk, audit, store


def document(event_type, assignment_id="ASSIGN1", doc="doc-1", at=NOW):
    return {"EventDocId": doc, "Events": [{"EventType": event_type, "AssignmentId": assignment_id,
                                           "EventTimestamp": at.isoformat().replace("+00:00", "Z")}]}


def website_records(audit):
    return [r for r in audit.records.values() if r.source is Source.MTURK_NOTIFICATION]


def test_given_the_schedule_cannot_be_stored_then_the_message_fails_and_its_redelivery_creates_it():
    # Given website rejections are provisional, and the schedule table fails once
    ingest, mturk, audit, store = world(assignment(), grace=timedelta(hours=48))
    mturk.reject("ASSIGN1", "website feedback")
    real_create = store.create
    store.create = lambda schedule: (_ for _ in ()).throw(AuditUnavailable("throttled"))
    # When the notification arrives
    with pytest.raises(AuditUnavailable):
        ingest.ingest(document("AssignmentRejected"))
    # Then the failure reached SQS (the message is retried), and its redelivery creates the schedule
    store.create = real_create
    report = ingest.ingest(document("AssignmentRejected"))
    assert report.duplicates == ["ASSIGN1"] and report.provisional == ["ASSIGN1"]
    assert store.items["ASSIGN1"].state == "PENDING" and len(website_records(audit)) == 1


def test_given_the_services_own_decision_still_pending_then_the_notification_is_retried_later():
    # Given the service's own reject is written ahead (PENDING) and MTurk already notified the change
    ingest, mturk, audit, store = world(assignment())
    service = DecisionService(mturk, audit, clock=lambda: NOW)
    plan = service.plan(DecisionRequest(assignment_id="ASSIGN1", action=Action.REJECT, feedback="ours"))
    audit.write_ahead(service._new_record(plan), NOW + timedelta(minutes=16))
    mturk.reject("ASSIGN1", "ours")
    # When
    with pytest.raises(DecisionInProgress):
        ingest.ingest(document("AssignmentRejected"))
    # Then nothing was recorded as the website's: a PENDING record proves nothing yet
    assert website_records(audit) == []


def test_given_the_services_own_succeeded_decision_then_the_notification_is_its_own():
    # Given
    ingest, mturk, audit, store = world(assignment())
    DecisionService(mturk, audit, clock=lambda: NOW).decide(
        DecisionRequest(assignment_id="ASSIGN1", action=Action.REJECT, feedback="ours"))
    # When
    report = ingest.ingest(document("AssignmentRejected"))
    # Then
    assert report.own_decisions == ["ASSIGN1"] and website_records(audit) == []


def test_given_an_approval_after_a_rejection_then_it_is_recorded_as_a_reversal():
    # Given a rejected assignment whose rejection was reversed on the website
    ingest, mturk, audit, store = world(assignment(status="Rejected"))
    mturk.approve("ASSIGN1", None, override_rejection=True)
    # When
    ingest.ingest(document("AssignmentApproved"))
    # Then
    [record] = website_records(audit)
    assert (record.action, record.previous_status) == (Action.REVERSE, "Rejected")


def test_given_a_plain_approval_then_it_is_an_approve_from_submitted():
    # Given
    ingest, mturk, audit, store = world(assignment())
    mturk.approve("ASSIGN1", "great", override_rejection=False)
    # When
    ingest.ingest(document("AssignmentApproved"))
    # Then
    [record] = website_records(audit)
    assert (record.action, record.previous_status, record.feedback) == (Action.APPROVE, "Submitted", "great")


def test_given_a_late_rejection_notice_after_a_reversal_then_its_feedback_is_not_the_reversals():
    # Given the website rejected at 12:00 and reversed at 12:10 with new feedback; the rejection's notice is late
    ingest, mturk, audit, store = world(assignment())
    mturk.clock = lambda: NOW
    mturk.reject("ASSIGN1", "the rejection's feedback")
    mturk.clock = lambda: NOW + timedelta(minutes=10)
    mturk.approve("ASSIGN1", "sorry, reversed", override_rejection=True)
    # When
    ingest.ingest(document("AssignmentRejected", at=NOW))
    # Then the record does not claim the reversal's text was the rejection's feedback
    [record] = website_records(audit)
    assert record.action is Action.REJECT and record.feedback is None and record.reason == FEEDBACK_REPLACED
    assert record.state is DecisionState.SUCCEEDED


@pytest.mark.parametrize("event_type", [["AssignmentRejected"], {"type": "AssignmentRejected"}, 7],
                         ids=["list", "object", "number"])
def test_given_an_event_type_that_is_not_text_when_ingested_then_it_is_ignored_not_retried(event_type):
    # Given a notification whose EventType is not a string (an unhashable list or object among them)
    ingest, mturk, audit, store = world(assignment())
    # When it is ingested
    report = ingest.ingest(document(event_type))
    # Then it is ignored like any type the service does not record (no TypeError that SQS would retry until the
    # dead-letter queue), and nothing is audited
    assert report.ignored == ["?"] and website_records(audit) == []
