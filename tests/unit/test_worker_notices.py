"""Messages to workers after a decision (notifyWorker): the rules checked before anything is decided, the
NotifyWorkers calls (100 workers each) made only after success, the audit record keeping the message and
MTurk's answer, and a failure reported without undoing the decision."""
from __future__ import annotations

from dataclasses import replace

import pytest

from mturk_decisions.api.http_errors import http_status
from mturk_decisions.domain.errors import InvalidNotification, MTurkFault
from mturk_decisions.domain.model import Action, DecisionRequest, DecisionState
from mturk_decisions.domain.notice import WorkerNotice, batches_of, validate_notice
from mturk_decisions.service.decisions import DecisionService
from tests.fakes import NOW, FakeMTurk, InMemoryAuditStore, assignment

NOTICE = WorkerNotice("Your rejected work was approved", "We reversed the rejection.")


def make(*assignments):
    mturk, audit = FakeMTurk(*assignments), InMemoryAuditStore()
    return DecisionService(mturk, audit, clock=lambda: NOW), mturk, audit


def reverse(aid="ASSIGN1"):
    return DecisionRequest(assignment_id=aid, action=Action.REVERSE, reason="QA rule 7 was wrong")


class TestTheRules:
    @pytest.mark.parametrize("subject, message, field, rule", [
        ("", "text", "notifyWorker.subject", "REQUIRED"),
        ("   ", "text", "notifyWorker.subject", "REQUIRED"),
        ("s" * 201, "text", "notifyWorker.subject", "MAX_LENGTH"),
        ("subject", "m" * 4097, "notifyWorker.message", "MAX_LENGTH"),
        ("subject", "", "notifyWorker.message", "REQUIRED"),
        ("sub\x00ject", "text", "notifyWorker.subject", "FORBIDDEN_CHARACTER"),
        ("subject", "bell\x07", "notifyWorker.message", "FORBIDDEN_CHARACTER"),
        ("subject", "half \ud800", "notifyWorker.message", "FORBIDDEN_CHARACTER"),
    ])
    def test_given_text_mturk_would_refuse_then_invalid_notification_names_field_and_rule(self, subject, message,
                                                                                         field, rule):
        # When
        with pytest.raises(InvalidNotification) as refused:
            validate_notice(subject, message)
        # Then
        assert http_status(refused.value) == 400 and refused.value.code == "INVALID_NOTIFICATION"
        assert (refused.value.details["field"], refused.value.details["rule"]) == (field, rule)

    def test_given_the_longest_texts_and_line_breaks_then_accepted(self):
        # When
        notice = validate_notice("s" * 200, "line one\r\nline two\ttabbed" + "m" * 4000)
        # Then
        assert notice.subject == "s" * 200

    def test_given_250_workers_then_three_calls_of_at_most_100_without_duplicates(self):
        # Given
        workers = [f"AW{n}" for n in range(250)] + ["AW1"]
        # When / Then
        assert [len(group) for group in batches_of(workers)] == [100, 100, 50]


class TestSendingAfterTheDecision:
    def test_given_a_reversal_that_succeeded_then_the_worker_is_notified_and_the_audit_keeps_it(self):
        # Given a reversal that succeeded
        service, mturk, audit = make(assignment(status="Rejected", worker_id="AWORKER1"))
        outcome = service.decide(reverse())
        # When its worker is told
        result = service.notify_workers([outcome.record], NOTICE)[outcome.record.decision_id]
        # Then one NotifyWorkers call, after the approval
        assert mturk.notices == [(NOTICE.subject, NOTICE.message, ["AWORKER1"])]
        assert result.answer_json() == {"status": "SENT", "failures": []}
        # And the audit record keeps the message and MTurk's answer
        kept = audit.records[outcome.record.decision_id].notification
        assert (kept["subject"], kept["message"], kept["status"]) == (NOTICE.subject, NOTICE.message, "SENT")
        assert kept["sentAt"]

    def test_given_mturk_cannot_notify_the_worker_then_failed_with_its_reason_and_the_decision_stands(self):
        # Given a reversal that succeeded, and a worker MTurk cannot notify
        service, mturk, audit = make(assignment(status="Rejected", worker_id="AWORKER1"))
        mturk.unnotifiable["AWORKER1"] = ("HardFailure", "never reviewed")
        outcome = service.decide(reverse())
        # When the worker is told
        result = service.notify_workers([outcome.record], NOTICE)[outcome.record.decision_id]
        # Then FAILED with MTurk's code, and the reversal is untouched
        assert result.answer_json() == {"status": "FAILED", "failures": [
            {"workerId": "AWORKER1", "code": "HardFailure", "message": "never reviewed"}]}
        assert audit.records[outcome.record.decision_id].state is DecisionState.SUCCEEDED
        assert mturk.assignments["ASSIGN1"].status == "Approved"

    def test_given_notify_workers_fails_after_its_retries_then_failed_and_nothing_is_undone(self):
        # Given a reversal that succeeded, and NotifyWorkers failing
        service, mturk, audit = make(assignment(status="Rejected", worker_id="AWORKER1"))
        outcome = service.decide(reverse())
        mturk.fail_notify = MTurkFault("MTurk failed NotifyWorkers 6 times in a row")
        # When the worker is told
        result = service.notify_workers([outcome.record], NOTICE)[outcome.record.decision_id]
        # Then the failure is reported with the error's code; the decision stands and the audit says FAILED
        assert result.status == "FAILED" and result.failures[0].code == "MTURK_FAULT"
        assert audit.records[outcome.record.decision_id].notification["status"] == "FAILED"
        assert mturk.writes == [("approve", "ASSIGN1", None)]

    def test_given_the_audit_cannot_keep_it_then_the_result_is_still_answered(self):
        # Given
        service, mturk, audit = make(assignment(status="Rejected", worker_id="AWORKER1"))
        outcome = service.decide(reverse())
        audit.fail_write_ahead = True  # the fake's record_notification fails too
        # When
        result = service.notify_workers([outcome.record], NOTICE)[outcome.record.decision_id]
        # Then
        assert result.status == "SENT" and len(mturk.notices) == 1

    def test_given_150_decisions_then_two_calls_of_100_and_50(self):
        # Given 150 reversals of 150 workers
        views = [assignment(f"ASSIGN{n}", status="Rejected", worker_id=f"AWORKER{n}") for n in range(150)]
        service, mturk, audit = make(*views)
        records = [service.decide(reverse(f"ASSIGN{n}")).record for n in range(150)]
        # When their workers are told
        results = service.notify_workers(records, NOTICE)
        # Then two NotifyWorkers calls, and every decision's record keeps its answer
        assert [len(call[2]) for call in mturk.notices] == [100, 50]
        assert len(results) == 150 and all(r.notification for r in audit.records.values())

    def test_given_a_refused_decision_then_nothing_would_be_sent(self):
        # Given an assignment that is not rejected: the reversal is refused before MTurk is called
        service, mturk, _ = make(assignment(status="Submitted"))
        with pytest.raises(Exception):
            service.decide(reverse())
        # Then no notification was made (the API only notifies after a decision returns)
        assert mturk.notices == []


def test_given_a_record_with_its_notification_then_the_audit_round_trips_it():
    # Given
    service, mturk, audit = make(assignment(status="Rejected"))
    outcome = service.decide(reverse())
    # When
    service.notify_workers([outcome.record], NOTICE)
    # Then
    stored = audit.reload(outcome.record)
    assert replace(stored).notification["status"] == "SENT"
