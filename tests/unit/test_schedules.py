from datetime import timedelta

import pytest

from mturk_decisions.api.http_errors import http_status
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
def test_iso_durations_and_plain_seconds_are_parsed(text, seconds):
    # When / Then
    assert parse_duration(text) == timedelta(seconds=seconds)


@pytest.mark.parametrize("text", ["2 days", "P", "PT", "P1DT", "PT0S", "-PT1H", "P1W"])
def test_bad_durations_are_refused(text):
    # When / Then
    with pytest.raises(InvalidRequest):
        parse_duration(text)


def test_given_grace_beyond_the_window_then_due_is_clamped_six_hours_before_the_deadline():
    # Given
    scheduler, mturk, store, clock = make(assignment(submitted_days_ago=29, status="Submitted"))
    request = DecisionRequest(assignment_id="ASSIGN1", action=Action.REJECT, feedback="no")
    # When
    _, schedule = scheduler.reject_provisionally(request, timedelta(days=5))
    # Then
    assert schedule.due_at == schedule.deadline - timedelta(hours=6)
    assert mturk.assignments["ASSIGN1"].status == "Rejected"


def test_given_the_window_about_to_close_then_a_provisional_rejection_is_refused_before_rejecting():
    # Given
    scheduler, mturk, store, clock = make(assignment(submitted_days_ago=29.9, status="Submitted"))
    request = DecisionRequest(assignment_id="ASSIGN1", action=Action.REJECT, feedback="no")
    # When / Then
    with pytest.raises(ReversalWindowClosing):
        scheduler.reject_provisionally(request, timedelta(days=1))
    assert mturk.writes == [] and store.items == {}


def test_given_funds_never_arrive_then_retries_stop_as_expired_before_the_deadline():
    # Given
    scheduler, mturk, store, clock = make(assignment(submitted_days_ago=1, status="Rejected"), balance="0")
    request = DecisionRequest(assignment_id="ASSIGN1", action=Action.REVERSE)
    scheduler.retry_for_funds(mturk.assignments["ASSIGN1"], request)
    # When the sweeper runs every six hours
    for _ in range(400):
        clock.now += timedelta(hours=6)
        scheduler.sweep()
        if store.items["ASSIGN1"].state != "PENDING":
            break
    # Then
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
    # When / Then
    with pytest.raises(MalformedEvent) as raised:
        parse(event)
    assert reason in raised.value.reason


def test_a_well_formed_reversal_request_names_its_actor():
    # When
    detail, actor = parse({"detail-type": "Reversal Requested", "source": "acme.qa",
                           "detail": {"hitId": "H1", "workerIds": ["AW1"], "requester": "qa-bot"}})
    # Then
    assert actor == "event:acme.qa (claimed requester: qa-bot)" and detail["workerIds"] == ["AW1"]


# ----- claims before acts, and what confirm/cancel answer (issue #9) -----

from mturk_decisions.domain.errors import MTurkFault, ScheduleNotPending  # noqa: E402


def provisional_due_now(scheduler, mturk, store, clock):
    request = DecisionRequest(assignment_id="ASSIGN1", action=Action.REJECT, feedback="no")
    scheduler.reject_provisionally(request, timedelta(hours=1))
    clock.now += timedelta(hours=2)


@pytest.mark.parametrize("requester_action", ["confirm", "cancel"])
def test_given_the_sweep_is_reversing_when_the_requester_confirms_then_409_running_and_one_outcome(requester_action):
    # Given a provisional rejection now due, and a sweep that has claimed it and is calling MTurk
    scheduler, mturk, store, clock = make(assignment())
    provisional_due_now(scheduler, mturk, store, clock)
    answers = []
    real_approve = mturk.approve

    def approve_while_the_requester_acts(*args, **kwargs):
        with pytest.raises(ScheduleNotPending) as raised:
            getattr(scheduler, requester_action)("ASSIGN1")
        answers.append(raised.value)
        return real_approve(*args, **kwargs)

    mturk.approve = approve_while_the_requester_acts
    # When
    report = scheduler.sweep()
    # Then the requester was told RUNNING (409), the reversal ran once, and now the answer is DONE
    assert http_status(answers[0]) == 409 and answers[0].details["state"] == "RUNNING"
    assert report.reversed == ["ASSIGN1"] and store.items["ASSIGN1"].state == "DONE"
    with pytest.raises(ScheduleNotPending) as after:
        scheduler.confirm("ASSIGN1")
    assert after.value.details["state"] == "DONE"


def test_given_the_requester_confirmed_first_then_the_sweep_does_nothing():
    # Given
    scheduler, mturk, store, clock = make(assignment())
    provisional_due_now(scheduler, mturk, store, clock)
    # When / Then the requester confirms
    assert scheduler.confirm("ASSIGN1").state == "CONFIRMED"
    # And the sweep then reverses nothing
    report = scheduler.sweep()
    assert report.reversed == [] and [w[0] for w in mturk.writes] == ["reject"]


def test_given_two_sweeps_at_once_then_one_claims_and_the_other_skips():
    # Given a due reversal, and a second sweep starting while the first is calling MTurk
    scheduler, mturk, store, clock = make(assignment())
    provisional_due_now(scheduler, mturk, store, clock)
    second = []
    real_approve = mturk.approve

    def approve_while_another_sweep_runs(*args, **kwargs):
        second.append(scheduler.sweep())
        return real_approve(*args, **kwargs)

    mturk.approve = approve_while_another_sweep_runs
    # When
    first = scheduler.sweep()
    # Then
    assert first.reversed == ["ASSIGN1"] and second[0].skipped == ["ASSIGN1"] and second[0].reversed == []
    assert [w[0] for w in mturk.writes] == ["reject", "approve"]


def test_given_the_rejections_answer_was_lost_then_its_provisional_schedule_is_kept():
    # Given MTurk's answer to the provisional rejection never arrived and MTurk shows no change yet
    scheduler, mturk, store, clock = make(assignment())
    lost = MTurkFault("read timeout")
    lost.possibly_applied, lost.last_attempt_answered = True, False
    mturk.fail_next_write = lost
    request = DecisionRequest(assignment_id="ASSIGN1", action=Action.REJECT, feedback="no")
    # When
    with pytest.raises(MTurkFault) as raised:
        scheduler.reject_provisionally(request, timedelta(hours=1))
    # Then the rejection may still land, so its automatic reversal must still exist
    assert raised.value.details["auditState"] == "PENDING"
    assert store.items["ASSIGN1"].state == "PENDING"


def test_given_the_rejections_answer_was_lost_after_it_landed_then_it_succeeded_with_its_schedule():
    # Given
    scheduler, mturk, store, clock = make(assignment())
    lost = MTurkFault("read timeout")
    lost.possibly_applied, lost.last_attempt_answered = True, False
    mturk.apply_then_fail = lost
    request = DecisionRequest(assignment_id="ASSIGN1", action=Action.REJECT, feedback="no")
    # When
    outcome, schedule = scheduler.reject_provisionally(request, timedelta(hours=1))
    # Then
    assert outcome.record.state.value == "SUCCEEDED" and store.items["ASSIGN1"].state == "PENDING"


def test_given_a_definite_refusal_then_the_provisional_schedule_is_cancelled():
    # Given
    scheduler, mturk, store, clock = make(assignment())
    mturk.fail_next_write = MTurkFault("down")
    request = DecisionRequest(assignment_id="ASSIGN1", action=Action.REJECT, feedback="no")
    # When / Then
    with pytest.raises(MTurkFault):
        scheduler.reject_provisionally(request, timedelta(hours=1))
    assert store.items["ASSIGN1"].state == "CANCELLED"


def test_given_a_funds_refusal_then_the_provisional_reversal_stays_confirmable():
    # Given a provisional rejection due while the balance is empty
    scheduler, mturk, store, clock = make(assignment(), balance="0")
    provisional_due_now(scheduler, mturk, store, clock)
    # When the sweep is refused for funds
    report = scheduler.sweep()
    # Then it is rescheduled as the same provisional reversal, and the requester can still confirm it
    assert report.rescheduled == ["ASSIGN1"] and store.items["ASSIGN1"].kind == "provisional"
    assert store.items["ASSIGN1"].last_error == "INSUFFICIENT_FUNDS"
    assert scheduler.confirm("ASSIGN1").state == "CONFIRMED"


def test_given_a_time_inside_the_safety_margin_then_a_scheduled_reversal_is_refused():
    # Given a rejection whose window closes in 10 days
    scheduler, mturk, store, clock = make(assignment(status="Rejected", submitted_days_ago=20))
    deadline = mturk.assignments["ASSIGN1"].submitted_at + timedelta(days=30)
    request = DecisionRequest(assignment_id="ASSIGN1", action=Action.REVERSE)
    # When a reversal is scheduled one second before the deadline
    with pytest.raises(ReversalWindowClosing) as raised:
        scheduler.schedule_reversal(request, deadline - timedelta(seconds=1))
    # Then it is refused with the latest acceptable time, and nothing is stored
    assert http_status(raised.value) == 409 and "latestAt" in raised.value.details and store.items == {}
    assert scheduler.schedule_reversal(request, deadline - timedelta(hours=7)).state == "PENDING"


@pytest.mark.parametrize("text", ["P9999999999D", "PT99999999999S", "P31D", "9" * 40])
def test_durations_that_overflow_or_exceed_the_window_are_invalid_requests(text):
    # When / Then
    with pytest.raises(InvalidRequest):
        parse_duration(text)


def test_confirm_without_a_schedule_is_404():
    # Given
    from mturk_decisions.domain.errors import ScheduleNotFound

    scheduler, mturk, store, clock = make(assignment())
    # When / Then
    with pytest.raises(ScheduleNotFound):
        scheduler.confirm("ASSIGN1")
