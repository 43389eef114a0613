from datetime import timedelta

from mturk_decisions.domain.model import DecisionState
from mturk_decisions.service.decisions import DecisionService
from mturk_decisions.service.reconciler import Reconciler
from tests.fakes import NOW, FakeMTurk, InMemoryAuditStore, assignment


class Crash(Exception):
    """Stands for the Lambda being killed: nothing after it runs."""


def crashed_decision(step: str):
    mturk, audit = FakeMTurk(assignment("A1"), assignment("A2")), InMemoryAuditStore()
    service = DecisionService(mturk, audit, clock=lambda: NOW - timedelta(hours=1))
    from mturk_decisions.domain.model import Action, DecisionRequest

    request = DecisionRequest(assignment_id="A1", action=Action.REJECT, feedback="no")
    if step == "after-write-ahead":
        mturk.fail_next_write = Crash()
    else:
        audit.fail_finalize = True
    try:
        service.decide(request)
    except Crash:
        pass
    audit.fail_finalize = False
    return mturk, audit


def test_given_crash_after_mturk_call_then_reconciler_finalizes_succeeded_without_a_write():
    # Given the MTurk rejection landed but the finalize was lost
    mturk, audit = crashed_decision("after-mturk-call")
    writes_before = len(mturk.writes)
    # When
    report = Reconciler(mturk, audit, clock=lambda: NOW).run()
    # Then
    [record] = audit.records.values()
    assert record.state is DecisionState.SUCCEEDED and report.succeeded == [record.decision_id]
    assert len(mturk.writes) == writes_before == 1


def test_given_crash_before_mturk_call_then_reconciler_finalizes_failed_not_applied():
    mturk, audit = crashed_decision("after-write-ahead")
    Reconciler(mturk, audit, clock=lambda: NOW).run()
    [record] = audit.records.values()
    assert record.state is DecisionState.FAILED and record.error_code == "NOT_APPLIED"
    assert mturk.writes == []


def test_young_pending_records_are_left_alone():
    mturk, audit = crashed_decision("after-mturk-call")
    report = Reconciler(mturk, audit, clock=lambda: NOW - timedelta(hours=1), older_than=timedelta(minutes=15)).run()
    assert report.examined == 0
    assert next(iter(audit.records.values())).state is DecisionState.PENDING
