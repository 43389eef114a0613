from datetime import timedelta
from decimal import Decimal

import pytest

from mturk_decisions.api.http_errors import http_status
from mturk_decisions.domain.errors import (
    AssignmentNotFound,
    AuditUnavailable,
    DecisionInProgress,
    InsufficientFunds,
    MTurkFault,
    MTurkThrottled,
    ReversalWindowClosed,
    WrongAssignmentState,
)
from mturk_decisions.domain.model import Action, DecisionRequest, DecisionState, Source
from mturk_decisions.service.decisions import DecisionService
from tests.fakes import NOW, FakeMTurk, InMemoryAuditStore, assignment


class Clock:
    def __init__(self, now):
        self.now = now

    def __call__(self):
        return self.now


def make(*assignments, balance="100.00", clock=lambda: NOW):
    mturk, audit = FakeMTurk(*assignments, balance=balance, clock=clock), InMemoryAuditStore()
    return DecisionService(mturk, audit, clock=clock), mturk, audit


def reject(aid="ASSIGN1", feedback="Answers were random"):
    return DecisionRequest(assignment_id=aid, action=Action.REJECT, feedback=feedback, reason="qa rule 7",
                           actor="arn:aws:iam::123456789012:user/alice", request_id="req-1")


def reverse(aid="ASSIGN1"):
    return DecisionRequest(assignment_id=aid, action=Action.REVERSE, reason="bad QA rule")


def test_given_submitted_when_rejected_then_mturk_called_once_and_audit_succeeded():
    # Given
    service, mturk, audit = make(assignment())
    # When
    outcome = service.decide(reject())
    # Then
    assert mturk.writes == [("reject", "ASSIGN1", "Answers were random")]
    [record] = audit.records.values()
    assert record.state is DecisionState.SUCCEEDED
    assert (record.action, record.source, record.previous_status) == (Action.REJECT, Source.API, "Submitted")
    assert (record.worker_id, record.hit_id, record.reason) == ("AWORKER1", "HIT1", "qa rule 7")
    assert record.actor.endswith("user/alice") and record.request_id == "req-1"
    assert outcome.audit_finalized


def test_given_recent_rejection_when_reversed_then_approved_with_override_and_cost_recorded():
    # Given
    service, mturk, audit = make(assignment(status="Rejected", submitted_days_ago=3))
    # When
    outcome = service.decide(reverse())
    # Then
    assert mturk.assignments["ASSIGN1"].status == "Approved"
    assert outcome.plan.cost.total == Decimal("0.60")
    assert next(iter(audit.records.values())).fee == Decimal("0.10")


def test_given_unknown_assignment_then_not_found_and_nothing_written():
    # Given
    service, mturk, audit = make()
    # When / Then
    with pytest.raises(AssignmentNotFound):
        service.decide(reject("NOPE"))
    assert not audit.records and not mturk.writes


def test_given_old_rejection_when_reversed_then_refused_before_any_write():
    # Given
    service, mturk, audit = make(assignment(status="Rejected", submitted_days_ago=40))
    # When / Then
    with pytest.raises(ReversalWindowClosed):
        service.decide(reverse())
    assert not audit.records and not mturk.writes


def test_given_short_balance_when_reversed_then_402_and_nothing_written():
    # Given
    service, mturk, audit = make(assignment(status="Rejected"), balance="0.59")
    # When / Then
    with pytest.raises(InsufficientFunds):
        service.decide(reverse())
    assert not audit.records and not mturk.writes


def test_when_planned_then_checks_run_and_nothing_written():
    # Given
    service, mturk, audit = make(assignment(status="Rejected"))
    # When
    plan = service.plan(reverse())
    # Then
    assert plan.checks == ("feedback", "state", "reversal-window", "hit-not-disposed", "funds")
    assert plan.balance == Decimal("100.00")
    assert not audit.records and not mturk.writes


@pytest.mark.parametrize("failure", [MTurkFault("down"), MTurkThrottled("slow")])
def test_given_mturk_fails_then_audit_failed_with_error_and_error_raised(failure):
    # Given
    service, mturk, audit = make(assignment())
    mturk.fail_next_write = failure
    # When / Then
    with pytest.raises(type(failure)) as raised:
        service.decide(reject())
    [record] = audit.records.values()
    assert record.state is DecisionState.FAILED and record.error_code == failure.code
    assert raised.value.details["decisionId"] == record.decision_id


def test_given_audit_unwritable_then_mturk_never_called():
    # Given
    service, mturk, audit = make(assignment())
    audit.fail_write_ahead = True
    # When / Then
    with pytest.raises(AuditUnavailable):
        service.decide(reject())
    assert not mturk.writes


def test_given_finalize_fails_then_decision_stands_and_record_stays_pending():
    # Given
    service, mturk, audit = make(assignment())
    audit.fail_finalize = True
    # When
    outcome = service.decide(reject())
    # Then
    assert not outcome.audit_finalized
    assert next(iter(audit.records.values())).state is DecisionState.PENDING
    assert len(mturk.writes) == 1


def ambiguous(error, answered=True):
    """An error as the gateway raises it after an attempt that may have landed (a fault, a lost answer)."""
    error.possibly_applied, error.last_attempt_answered = True, answered
    return error


def test_given_our_write_landed_and_its_retry_reads_wrong_state_then_succeeded_on_evidence():
    # Given MTurk applied our rejection, lost the answer, and the gateway's retry read "wrong state"
    service, mturk, audit = make(assignment())
    mturk.apply_then_fail = ambiguous(WrongAssignmentState("This operation can be called with a status of: Submitted"))
    # When
    outcome = service.decide(reject())
    # Then MTurk's record shows our change (time after the write-ahead, our feedback): SUCCEEDED, one write
    assert outcome.record.state is DecisionState.SUCCEEDED
    assert len(mturk.writes) == 1


def test_given_someone_else_made_the_change_when_mturk_refuses_then_failed_not_succeeded():
    # Given the assignment was rejected elsewhere between our plan and our call (MTurk shows "Rejected")
    service, mturk, audit = make(assignment())
    plan = service.plan(reject())
    mturk.reject("ASSIGN1", "the website's feedback")
    # When our call is refused for the wrong state (a first attempt: nothing of ours can have landed)
    with pytest.raises(WrongAssignmentState) as raised:
        service.apply(plan)
    # Then the refusal is FAILED with MTurk's message, although MTurk's status equals our target
    [record] = audit.records.values()
    assert record.state is DecisionState.FAILED and record.error_code == "INVALID_ASSIGNMENT_STATE"
    assert "status of: Submitted" in raised.value.message
    assert raised.value.details["decisionId"] == record.decision_id


def test_given_a_fault_and_another_writers_feedback_on_mturk_then_failed():
    # Given our call faulted after retries while another writer rejected with other feedback
    service, mturk, audit = make(assignment())
    plan = service.plan(reject(feedback="ours"))
    mturk.reject("ASSIGN1", "theirs")
    mturk.fail_next_write = ambiguous(MTurkFault("down"))
    # When
    with pytest.raises(MTurkFault):
        service.apply(plan)
    # Then the change MTurk shows is not ours: FAILED
    [record] = audit.records.values()
    assert record.state is DecisionState.FAILED


def test_given_a_fault_and_the_same_change_already_audited_as_another_decision_then_failed():
    # Given two approvals with the same feedback planned at once; the first lands and is audited SUCCEEDED
    service, mturk, audit = make(assignment())
    approval = DecisionRequest(assignment_id="ASSIGN1", action=Action.APPROVE, feedback="Thanks")
    second = service.plan(approval)
    first = service.decide(approval)
    # When the second's call faults (it may have landed) and MTurk shows an approval with its feedback
    mturk.fail_next_write = ambiguous(MTurkFault("down"))
    with pytest.raises(MTurkFault):
        service.apply(second)
    # Then MTurk made that change once and the first decision owns it: the second is FAILED, not SUCCEEDED
    states = sorted((r.decision_id == first.record.decision_id, r.state) for r in audit.records.values())
    assert states == [(False, DecisionState.FAILED), (True, DecisionState.SUCCEEDED)]
    assert len(mturk.writes) == 1 and audit.lease("ASSIGN1") is None


def test_given_faults_answered_and_nothing_changed_then_failed_and_lease_released():
    # Given
    service, mturk, audit = make(assignment())
    mturk.fail_next_write = ambiguous(MTurkFault("down"))
    # When / Then
    with pytest.raises(MTurkFault):
        service.decide(reject())
    [record] = audit.records.values()
    assert record.state is DecisionState.FAILED and audit.lease("ASSIGN1") is None


def test_given_last_answer_lost_and_nothing_changed_yet_then_pending_for_the_reconciler():
    # Given the last attempt got no answer: the write may still land
    service, mturk, audit = make(assignment())
    mturk.fail_next_write = ambiguous(MTurkFault("timeout"), answered=False)
    # When
    with pytest.raises(MTurkFault) as raised:
        service.decide(reject())
    # Then the record stays PENDING, its lease held, and the caller is told so
    [record] = audit.records.values()
    assert record.state is DecisionState.PENDING and raised.value.details["auditState"] == "PENDING"
    assert audit.lease("ASSIGN1").decision_id == record.decision_id


def test_given_a_decision_in_flight_when_a_second_decides_then_409_and_nothing_sent():
    # Given a first decision holds the assignment's lease (its MTurk call has not returned)
    service, mturk, audit = make(assignment())
    first = service.plan(reject(feedback="first"))
    audit.write_ahead(service._new_record(first), NOW + timedelta(minutes=16))
    # When a second decision runs
    with pytest.raises(DecisionInProgress) as raised:
        service.decide(reject(feedback="second"))
    # Then it is refused before MTurk, with the holder's id, and leaves no record
    assert http_status(raised.value) == 409 and raised.value.details["retryAfterSeconds"] == 1
    assert raised.value.details["holderDecisionId"] == audit.lease("ASSIGN1").decision_id
    assert not mturk.writes and len(audit.records) == 1


def test_given_an_expired_lease_of_a_crashed_decision_then_settled_by_evidence_and_taken_over():
    # Given a decision crashed after its write-ahead (nothing sent) and its lease expired
    clock = Clock(NOW)
    service, mturk, audit = make(assignment(), clock=clock)
    crashed = service._new_record(service.plan(reject(feedback="crashed")))
    audit.write_ahead(crashed, NOW + timedelta(minutes=16))
    clock.now = NOW + timedelta(minutes=17)
    # When a new decision runs
    outcome = service.decide(reject(feedback="new"))
    # Then the crashed record is FAILED NOT_APPLIED and the new decision succeeded
    assert audit.records[crashed.decision_id].state is DecisionState.FAILED
    assert audit.records[crashed.decision_id].error_code == "NOT_APPLIED"
    assert outcome.record.state is DecisionState.SUCCEEDED and mturk.writes == [("reject", "ASSIGN1", "new")]


def test_describe_returns_view_deadline_and_history_newest_first():
    # Given
    service, mturk, audit = make(assignment())
    service.decide(reject())
    # When
    details = service.describe("ASSIGN1")
    # Then
    assert details.assignment.status == "Rejected"
    assert details.reversal_deadline is not None
    assert [r.action for r in details.history] == [Action.REJECT]
