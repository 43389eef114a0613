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
    # Given
    mturk, audit = crashed_decision("after-write-ahead")
    # When
    Reconciler(mturk, audit, clock=lambda: NOW).run()
    # Then
    [record] = audit.records.values()
    assert record.state is DecisionState.FAILED and record.error_code == "NOT_APPLIED"
    assert mturk.writes == []


def test_young_pending_records_are_left_alone():
    # Given
    mturk, audit = crashed_decision("after-mturk-call")
    # When
    report = Reconciler(mturk, audit, clock=lambda: NOW - timedelta(hours=1), older_than=timedelta(minutes=15)).run()
    # Then
    assert report.examined == 0
    assert next(iter(audit.records.values())).state is DecisionState.PENDING


# ----- evidence, not status (issue #9) -----

from dataclasses import replace  # noqa: E402

from mturk_decisions.domain.model import Action, DecisionRecord, Source  # noqa: E402


def legacy_pending(audit, decision_id, action, created_at, feedback=None, assignment_id="A1"):
    """A PENDING record written without a lease (or whose lease is gone), as older versions left them."""
    record = DecisionRecord(decision_id=decision_id, assignment_id=assignment_id, hit_id="HIT1", worker_id="AWORKER1",
                            action=action, source=Source.API, actor="tester", created_at=created_at,
                            previous_status="Submitted", feedback=feedback)
    audit.records[decision_id] = record
    return record


def test_given_an_applied_reject_later_reversed_then_the_reject_is_succeeded_not_failed():
    # Given our rejection landed (its finalize was lost) and the requester reversed it afterwards
    mturk, audit = FakeMTurk(assignment("A1"), clock=lambda: NOW - timedelta(minutes=50)), InMemoryAuditStore()
    legacy_pending(audit, "r1", Action.REJECT, NOW - timedelta(hours=1), feedback="ours")
    mturk.reject("A1", "ours")
    mturk.clock = lambda: NOW - timedelta(minutes=40)
    mturk.approve("A1", "sorry", override_rejection=True)
    # When
    Reconciler(mturk, audit, clock=lambda: NOW).run()
    # Then
    assert audit.records["r1"].state is DecisionState.SUCCEEDED


def test_given_an_unsent_api_reject_and_a_website_rejection_then_failed():
    # Given our reject was written ahead but never sent; the website rejected with its own feedback later
    mturk, audit = FakeMTurk(assignment("A1"), clock=lambda: NOW - timedelta(minutes=50)), InMemoryAuditStore()
    legacy_pending(audit, "r1", Action.REJECT, NOW - timedelta(hours=1), feedback="ours")
    mturk.reject("A1", "the website's")
    # When
    Reconciler(mturk, audit, clock=lambda: NOW).run()
    # Then the website's change is not claimed as ours
    assert audit.records["r1"].state is DecisionState.FAILED and audit.records["r1"].error_code == "NOT_APPLIED"


def test_given_two_attempts_then_the_applied_one_succeeds_and_the_unsent_one_fails():
    # Given attempt 1 landed at 12:10; attempt 2 was written at 12:20 and never sent (same feedback)
    mturk, audit = FakeMTurk(assignment("A1"), clock=lambda: NOW - timedelta(minutes=50)), InMemoryAuditStore()
    legacy_pending(audit, "first", Action.REJECT, NOW - timedelta(hours=1), feedback="same")
    mturk.reject("A1", "same")
    legacy_pending(audit, "second", Action.REJECT, NOW - timedelta(minutes=40), feedback="same")
    # When
    report = Reconciler(mturk, audit, clock=lambda: NOW).run()
    # Then one SUCCEEDED record for the one change, and it is the applied one
    assert audit.records["first"].state is DecisionState.SUCCEEDED
    assert audit.records["second"].state is DecisionState.FAILED
    assert report.succeeded == ["first"] and report.failed == ["second"]


def test_given_a_record_already_final_and_one_that_fails_then_the_run_goes_on():
    # Given the index still lists a record another writer finalized, and one whose settlement raises
    mturk = FakeMTurk(assignment("A1"), assignment("A2"), assignment("A3"))
    audit = InMemoryAuditStore()
    stale = legacy_pending(audit, "stale", Action.REJECT, NOW - timedelta(hours=3), feedback="x")
    broken = legacy_pending(audit, "broken", Action.REJECT, NOW - timedelta(hours=2), feedback="x", assignment_id="A2")
    legacy_pending(audit, "fine", Action.REJECT, NOW - timedelta(hours=1), feedback="x", assignment_id="A3")
    pending = audit.pending()
    audit.records["stale"] = replace(stale, state=DecisionState.SUCCEEDED)
    audit.pending = lambda limit=100: pending
    original = audit.finalize

    def finalize(record, *args, **kwargs):
        if record.decision_id == broken.decision_id:
            raise RuntimeError("throttled by DynamoDB")
        return original(record, *args, **kwargs)

    audit.finalize = finalize
    errors = []
    # When
    report = Reconciler(mturk, audit, clock=lambda: NOW, on_error=lambda r, e: errors.append(r.decision_id)).run()
    # Then the stale entry is skipped, the broken one reported, and the third settled
    assert report.already_final == ["stale"] and report.errors == ["broken"] and errors == ["broken"]
    assert audit.records["fine"].state is DecisionState.FAILED


def test_given_a_live_lease_then_an_old_record_is_left_for_its_writer():
    # Given a decision whose writer still holds an unexpired lease (a long batch invocation)
    mturk, audit = FakeMTurk(assignment("A1")), InMemoryAuditStore()
    record = legacy_pending(audit, "live", Action.REJECT, NOW - timedelta(minutes=20), feedback="x")
    from mturk_decisions.domain.model import DecisionLease

    audit.leases["A1"] = DecisionLease("A1", "live", "live", NOW + timedelta(minutes=1))
    # When
    report = Reconciler(mturk, audit, clock=lambda: NOW).run()
    # Then
    assert report.left_pending == ["live"] and audit.records[record.decision_id].state is DecisionState.PENDING


def test_given_an_unsent_older_attempt_and_an_applied_newer_one_then_the_newer_owns_the_change():
    # Given attempt 1 was written at 11:00 and never sent; attempt 2 was written at 11:20 and landed at 11:21
    mturk, audit = FakeMTurk(assignment("A1"), clock=lambda: NOW - timedelta(minutes=39)), InMemoryAuditStore()
    legacy_pending(audit, "unsent", Action.REJECT, NOW - timedelta(hours=1), feedback="same")
    legacy_pending(audit, "applied", Action.REJECT, NOW - timedelta(minutes=40), feedback="same")
    mturk.reject("A1", "same")
    # When
    Reconciler(mturk, audit, clock=lambda: NOW).run()
    # Then the unsent attempt is not credited with the change
    assert audit.records["applied"].state is DecisionState.SUCCEEDED
    assert audit.records["unsent"].state is DecisionState.FAILED
