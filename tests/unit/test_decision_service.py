from decimal import Decimal

import pytest

from mturk_decisions.domain.errors import (
    AssignmentNotFound, AuditUnavailable, InsufficientFunds, MTurkFault, MTurkThrottled, ReversalWindowClosed,
    WrongAssignmentState,
)
from mturk_decisions.domain.model import Action, DecisionRequest, DecisionState, Source
from mturk_decisions.service.decisions import DecisionService
from tests.fakes import NOW, FakeMTurk, InMemoryAuditStore, assignment


def make(*assignments, balance="100.00"):
    mturk, audit = FakeMTurk(*assignments, balance=balance), InMemoryAuditStore()
    return DecisionService(mturk, audit, clock=lambda: NOW), mturk, audit


def reject(aid="ASSIGN1", feedback="Answers were random"):
    return DecisionRequest(assignment_id=aid, action=Action.REJECT, feedback=feedback, reason="qa rule 7",
                           actor="arn:aws:iam::123456789012:user/alice", request_id="req-1")


def reverse(aid="ASSIGN1"):
    return DecisionRequest(assignment_id=aid, action=Action.REVERSE, reason="bad QA rule")


def test_given_submitted_when_rejected_then_mturk_called_once_and_audit_succeeded():
    service, mturk, audit = make(assignment())
    outcome = service.decide(reject())
    assert mturk.writes == [("reject", "ASSIGN1", "Answers were random")]
    [record] = audit.records.values()
    assert record.state is DecisionState.SUCCEEDED
    assert (record.action, record.source, record.previous_status) == (Action.REJECT, Source.API, "Submitted")
    assert (record.worker_id, record.hit_id, record.reason) == ("AWORKER1", "HIT1", "qa rule 7")
    assert record.actor.endswith("user/alice") and record.request_id == "req-1"
    assert outcome.audit_finalized


def test_given_recent_rejection_when_reversed_then_approved_with_override_and_cost_recorded():
    service, mturk, audit = make(assignment(status="Rejected", submitted_days_ago=3))
    outcome = service.decide(reverse())
    assert mturk.assignments["ASSIGN1"].status == "Approved"
    assert outcome.plan.cost.total == Decimal("0.60")
    assert next(iter(audit.records.values())).fee == Decimal("0.10")


def test_given_unknown_assignment_then_not_found_and_nothing_written():
    service, mturk, audit = make()
    with pytest.raises(AssignmentNotFound):
        service.decide(reject("NOPE"))
    assert not audit.records and not mturk.writes


def test_given_old_rejection_when_reversed_then_refused_before_any_write():
    service, mturk, audit = make(assignment(status="Rejected", submitted_days_ago=40))
    with pytest.raises(ReversalWindowClosed):
        service.decide(reverse())
    assert not audit.records and not mturk.writes


def test_given_short_balance_when_reversed_then_402_and_nothing_written():
    service, mturk, audit = make(assignment(status="Rejected"), balance="0.59")
    with pytest.raises(InsufficientFunds):
        service.decide(reverse())
    assert not audit.records and not mturk.writes


def test_when_planned_then_checks_run_and_nothing_written():
    service, mturk, audit = make(assignment(status="Rejected"))
    plan = service.plan(reverse())
    assert plan.checks == ("feedback", "state", "reversal-window", "hit-not-disposed", "funds")
    assert plan.balance == Decimal("100.00")
    assert not audit.records and not mturk.writes


@pytest.mark.parametrize("failure", [MTurkFault("down"), MTurkThrottled("slow")])
def test_given_mturk_fails_then_audit_failed_with_error_and_error_raised(failure):
    service, mturk, audit = make(assignment())
    mturk.fail_next_write = failure
    with pytest.raises(type(failure)) as raised:
        service.decide(reject())
    [record] = audit.records.values()
    assert record.state is DecisionState.FAILED and record.error_code == failure.code
    assert raised.value.details["decisionId"] == record.decision_id


def test_given_audit_unwritable_then_mturk_never_called():
    service, mturk, audit = make(assignment())
    audit.fail_write_ahead = True
    with pytest.raises(AuditUnavailable):
        service.decide(reject())
    assert not mturk.writes


def test_given_finalize_fails_then_decision_stands_and_record_stays_pending():
    service, mturk, audit = make(assignment())
    audit.fail_finalize = True
    outcome = service.decide(reject())
    assert not outcome.audit_finalized
    assert next(iter(audit.records.values())).state is DecisionState.PENDING
    assert len(mturk.writes) == 1


def test_given_write_applied_but_retry_sees_wrong_state_then_treated_as_applied():
    # Given MTurk applied the rejection, then a retried call answered "status of: Submitted"
    service, mturk, audit = make(assignment())
    mturk.apply_then_fail = WrongAssignmentState("This operation can be called with a status of: Submitted")
    # When
    service.decide(reject())
    # Then the decision succeeded, with one MTurk write
    assert next(iter(audit.records.values())).state is DecisionState.SUCCEEDED
    assert len(mturk.writes) == 1


def test_given_assignment_changed_concurrently_then_conflict_with_current_state():
    service, mturk, audit = make(assignment())
    mturk.fail_next_write = WrongAssignmentState("status of: Submitted")
    with pytest.raises(WrongAssignmentState) as raised:
        service.decide(reject())
    assert raised.value.details["currentStatus"] == "Submitted"
    assert next(iter(audit.records.values())).state is DecisionState.FAILED


def test_describe_returns_view_deadline_and_history_newest_first():
    service, mturk, audit = make(assignment())
    service.decide(reject())
    details = service.describe("ASSIGN1")
    assert details.assignment.status == "Rejected"
    assert details.reversal_deadline is not None
    assert [r.action for r in details.history] == [Action.REJECT]
