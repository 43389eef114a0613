from datetime import timedelta

import pytest

from mturk_decisions.domain.errors import InvalidRequest
from mturk_decisions.domain.model import Action, DecisionRequest
from mturk_decisions.domain.schedule import parse_duration
from mturk_decisions.service.decisions import DecisionService
from mturk_decisions.service.reversal_requests import MalformedEvent, parse
from mturk_decisions.service.schedules import ReversalScheduler, ReversalWindowClosing
from tests.fakes import NOW, FakeMTurk, InMemoryAuditStore, InMemoryScheduleStore, assignment


class Clock:
    def __init__(self):
        self.now = NOW

    def __call__(self):
        return self.now


def make(*views, balance="100.00"):
    clock = Clock()
    mturk, store = FakeMTurk(*views, balance=balance), InMemoryScheduleStore()
    scheduler = ReversalScheduler(DecisionService(mturk, InMemoryAuditStore(), clock=clock), store, clock=clock)
    return scheduler, mturk, store, clock


@pytest.mark.parametrize("text,seconds", [("PT48H", 172800), ("P2D", 172800), ("P1DT1H30M", 91800),
                                          ("PT90S", 90), ("3600", 3600)])
def test_durations(text, seconds):
    assert parse_duration(text) == timedelta(seconds=seconds)


@pytest.mark.parametrize("text", ["2 days", "P", "PT", "P1DT", "PT0S", "-PT1H", "P1W"])
def test_bad_durations_are_refused(text):
    with pytest.raises(InvalidRequest):
        parse_duration(text)


def test_given_grace_beyond_the_window_then_due_is_clamped_six_hours_before_the_deadline():
    scheduler, mturk, store, clock = make(assignment(submitted_days_ago=29, status="Submitted"))
    request = DecisionRequest(assignment_id="ASSIGN1", action=Action.REJECT, feedback="no")
    _, schedule = scheduler.reject_provisionally(request, timedelta(days=5))
    assert schedule.due_at == schedule.deadline - timedelta(hours=6)
    assert mturk.assignments["ASSIGN1"].status == "Rejected"


def test_given_the_window_about_to_close_then_a_provisional_rejection_is_refused_before_rejecting():
    scheduler, mturk, store, clock = make(assignment(submitted_days_ago=29.9, status="Submitted"))
    request = DecisionRequest(assignment_id="ASSIGN1", action=Action.REJECT, feedback="no")
    with pytest.raises(ReversalWindowClosing):
        scheduler.reject_provisionally(request, timedelta(days=1))
    assert mturk.writes == [] and store.items == {}


def test_given_funds_never_arrive_then_retries_stop_as_expired_before_the_deadline():
    scheduler, mturk, store, clock = make(assignment(submitted_days_ago=1, status="Rejected"), balance="0")
    request = DecisionRequest(assignment_id="ASSIGN1", action=Action.REVERSE)
    scheduler.retry_for_funds(mturk.assignments["ASSIGN1"], request)
    for _ in range(400):
        clock.now += timedelta(hours=6)
        scheduler.sweep()
        if store.items["ASSIGN1"].state != "PENDING":
            break
    final = store.items["ASSIGN1"]
    assert final.state == "EXPIRED" and "REVERSAL_WINDOW_CLOSED" in final.last_error
    assert final.attempts > 10 and mturk.writes == []


@pytest.mark.parametrize("event,reason", [
    ("text", "not a JSON object"),
    ({"detail-type": "Other", "detail": {}}, "detail-type"),
    ({"detail-type": "Reversal Requested", "detail": []}, "detail must be an object"),
    ({"detail-type": "Reversal Requested", "detail": {"assignmentId": "A1", "workerIds": ["AW1"]}}, "workerIds"),
    ({"detail-type": "Reversal Requested", "detail": {"hitId": "H1", "reason": 5}}, "reason must be a string"),
])
def test_malformed_reversal_requests_name_their_reason(event, reason):
    with pytest.raises(MalformedEvent) as raised:
        parse(event)
    assert reason in raised.value.reason


def test_a_well_formed_reversal_request_names_its_actor():
    detail, actor = parse({"detail-type": "Reversal Requested", "source": "acme.qa",
                           "detail": {"hitId": "H1", "workerIds": ["AW1"], "requester": "qa-bot"}})
    assert actor == "event:acme.qa/qa-bot" and detail["workerIds"] == ["AW1"]
