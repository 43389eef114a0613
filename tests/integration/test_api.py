"""The decision API end to end: signed HTTP → local gateway → Lambda handler → moto + MTurk simulator."""
from __future__ import annotations

import uuid
from decimal import Decimal

import pytest

from local.stack import DEMO_MTURK_KEY


def audit_of(api, assignment_id):
    return api.get(f"/assignments/{assignment_id}").json()["history"]


class TestReject:
    def test_given_submitted_when_rejected_then_mturk_rejected_and_audited(self, api, sim, seed):
        # Given
        assignment_id = seed("Submitted")
        # When
        response = api.post(f"/assignments/{assignment_id}/reject",
                            {"feedback": "The answers did not match the image.", "reason": "QA rule 7"})
        # Then
        assert response.status_code == 200, response.text
        decision = response.json()["decision"]
        assert decision["state"] == "SUCCEEDED" and decision["action"] == "reject"
        assert decision["actor"] == "arn:aws:iam::000000000000:user/demo-requester"
        assert decision["source"] == "api" and decision["previousStatus"] == "Submitted"
        state = sim.get_assignment_state(assignment_id)
        assert state.status == "Rejected"
        assert state.feedback == "The answers did not match the image."
        [record] = audit_of(api, assignment_id)
        assert record["reason"] == "QA rule 7" and record["state"] == "SUCCEEDED"

    def test_reason_is_never_sent_to_mturk(self, api, sim, seed):
        # Given
        assignment_id = seed("Submitted")
        sim.reset_call_log()
        # When
        api.post(f"/assignments/{assignment_id}/reject", {"feedback": "visible", "reason": "internal-only-note"})
        # Then
        [call] = sim.calls("RejectAssignment")
        assert "internal-only-note" not in str(call.params)

    @pytest.mark.parametrize(
        "feedback,rule",
        [("x" * 1025, "MAX_LENGTH"), ("bad\x07bell", "FORBIDDEN_CHARACTER"), ("   ", "REQUIRED")],
        ids=["too-long", "bell-character", "blank"],
    )
    def test_given_invalid_feedback_then_400_naming_the_rule_and_nothing_written(self, api, sim, seed, feedback, rule):
        # Given
        assignment_id = seed("Submitted")
        sim.reset_call_log()
        # When
        response = api.post(f"/assignments/{assignment_id}/reject", {"feedback": feedback})
        # Then
        assert response.status_code == 400
        assert response.json()["code"] == "INVALID_FEEDBACK" and response.json()["rule"] == rule
        assert sim.count_calls("RejectAssignment") == 0
        assert audit_of(api, assignment_id) == []

    def test_given_unknown_assignment_then_404(self, api, sim):
        # When
        response = api.post("/assignments/NOSUCHASSIGNMENT000000000000001/reject", {"feedback": "x"})
        # Then
        assert response.status_code == 404
        assert response.json()["code"] == "ASSIGNMENT_NOT_FOUND"

    def test_given_approved_assignment_then_409_with_current_state(self, api, seed):
        # Given
        assignment_id = seed("Approved")
        # When
        response = api.post(f"/assignments/{assignment_id}/reject", {"feedback": "too late"})
        # Then
        assert response.status_code == 409
        assert response.json()["code"] == "INVALID_ASSIGNMENT_STATE"
        assert response.json()["currentStatus"] == "Approved"


class TestReverse:
    def test_given_recent_rejection_when_reversed_then_approved_and_paid(self, api, sim, seed):
        # Given
        assignment_id = seed("Rejected", days_ago=3)
        # When
        response = api.post(f"/assignments/{assignment_id}/reverse", {"reason": "bad QA rule"})
        # Then
        assert response.status_code == 200, response.text
        assert response.json()["cost"] == {"reward": "0.50", "fee": "0.10", "total": "0.60"}
        assert sim.get_assignment_state(assignment_id).status == "Approved"
        assert sim.balance(DEMO_MTURK_KEY[0]) == Decimal("99.40")

    def test_reverse_without_body_is_accepted(self, api, sim, seed):
        # Given
        assignment_id = seed("Rejected", days_ago=3)
        # When
        response = api.request("POST", f"/assignments/{assignment_id}/reverse", raw=b"")
        # Then
        assert response.status_code == 200, response.text

    def test_given_40_day_old_rejection_then_409_with_deadline(self, api, sim, seed):
        # Given
        assignment_id = seed("Rejected", days_ago=40)
        sim.reset_call_log()
        # When
        response = api.post(f"/assignments/{assignment_id}/reverse", {})
        # Then
        assert response.status_code == 409
        body = response.json()
        assert body["code"] == "REVERSAL_WINDOW_CLOSED" and body["deadline"].endswith("Z")
        assert sim.count_calls("ApproveAssignment") == 0

    def test_given_disposed_hit_then_409_hit_disposed(self, api, seed):
        # Given
        assignment_id = seed("Rejected", days_ago=2, hit_status="Disposed")
        # When
        response = api.post(f"/assignments/{assignment_id}/reverse", {})
        # Then
        assert response.status_code == 409 and response.json()["code"] == "HIT_DISPOSED"

    def test_given_short_balance_then_402_with_balance_and_amount(self, api, sim, seed):
        # Given
        assignment_id = seed("Rejected", days_ago=2, reward="1.00", max_assignments=10)
        sim.set_balance(DEMO_MTURK_KEY[0], "1.20")
        # When
        response = api.post(f"/assignments/{assignment_id}/reverse", {})
        # Then
        assert response.status_code == 402
        body = response.json()
        assert (body["code"], body["balance"], body["amountNeeded"]) == ("INSUFFICIENT_FUNDS", "1.20", "1.40")
        assert sim.get_assignment_state(assignment_id).status == "Rejected"

    def test_given_submitted_assignment_then_reverse_is_409(self, api, seed):
        # Given
        assignment_id = seed("Submitted")
        # When
        response = api.post(f"/assignments/{assignment_id}/reverse", {})
        # Then
        assert response.status_code == 409 and response.json()["currentStatus"] == "Submitted"


class TestApprove:
    def test_given_submitted_when_approved_then_approved(self, api, sim, seed):
        # Given
        assignment_id = seed("Submitted")
        # When
        response = api.post(f"/assignments/{assignment_id}/approve", {"feedback": "Thanks!"})
        # Then
        assert response.status_code == 200, response.text
        assert sim.get_assignment_state(assignment_id).status == "Approved"


class TestDryRun:
    def test_when_dry_run_then_plan_returned_and_nothing_written(self, api, sim, seed):
        # Given
        assignment_id = seed("Rejected", days_ago=5)
        sim.reset_call_log()
        # When
        response = api.post(f"/assignments/{assignment_id}/reverse?dryRun=true", {"reason": "try"})
        # Then
        assert response.status_code == 200
        plan = response.json()["plan"]
        assert plan["resultingStatus"] == "Approved" and plan["cost"]["total"] == "0.60"
        assert plan["balance"] == "100.00" and "reversalDeadline" in plan
        assert sim.count_calls("ApproveAssignment") == 0
        assert sim.get_assignment_state(assignment_id).status == "Rejected"
        assert audit_of(api, assignment_id) == []

    def test_dry_run_still_refuses_what_would_fail(self, api, seed):
        # Given
        assignment_id = seed("Rejected", days_ago=45)
        # When
        response = api.post(f"/assignments/{assignment_id}/reverse?dryRun=true", {})
        # Then
        assert response.status_code == 409 and response.json()["code"] == "REVERSAL_WINDOW_CLOSED"


class TestIdempotency:
    def test_given_same_key_twice_then_one_mturk_write_and_same_answer(self, api, sim, seed):
        # Given
        assignment_id = seed("Submitted")
        key = str(uuid.uuid4())
        sim.reset_call_log()
        first = api.post(f"/assignments/{assignment_id}/reject", {"feedback": "no"}, headers={"Idempotency-Key": key})
        # When
        second = api.post(f"/assignments/{assignment_id}/reject", {"feedback": "no"}, headers={"Idempotency-Key": key})
        # Then
        assert first.status_code == second.status_code == 200
        assert first.json() == second.json()
        assert sim.count_calls("RejectAssignment") == 1
        assert len(audit_of(api, assignment_id)) == 1

    def test_given_key_reused_with_other_body_then_422(self, api, seed):
        # Given
        assignment_id = seed("Submitted")
        key = str(uuid.uuid4())
        api.post(f"/assignments/{assignment_id}/reject", {"feedback": "one"}, headers={"Idempotency-Key": key})
        # When
        response = api.post(f"/assignments/{assignment_id}/reject", {"feedback": "two"}, headers={"Idempotency-Key": key})
        # Then
        assert response.status_code == 422 and response.json()["code"] == "IDEMPOTENCY_KEY_REUSED"

    def test_without_key_a_repeat_is_refused_by_state(self, api, seed):
        # Given
        assignment_id = seed("Submitted")
        api.post(f"/assignments/{assignment_id}/reject", {"feedback": "one"})
        # When
        response = api.post(f"/assignments/{assignment_id}/reject", {"feedback": "one"})
        # Then
        assert response.status_code == 409


class TestMTurkTrouble:
    def test_given_mturk_always_throttling_then_429_with_retry_after(self, api, sim, seed):
        # Given
        assignment_id = seed("Submitted")
        sim.set_throttle(0.001, burst=1)
        # When
        response = api.post(f"/assignments/{assignment_id}/reject", {"feedback": "no"})
        # Then
        assert response.status_code == 429
        assert response.json()["code"] == "MTURK_THROTTLED"
        assert int(response.headers["Retry-After"]) >= 1

    def test_given_mturk_faulting_on_writes_then_502_and_audit_failed(self, api, sim, seed):
        # Given
        assignment_id = seed("Submitted")
        sim.set_fault_rate(1.0, when="before")
        # When
        response = api.post(f"/assignments/{assignment_id}/reject", {"feedback": "no"})
        # Then
        assert response.status_code == 502 and response.json()["code"] == "MTURK_FAULT"
        sim.set_fault_rate(None)
        [record] = audit_of(api, assignment_id)
        assert record["state"] == "FAILED" and record["errorCode"] == "MTURK_FAULT"
        assert sim.get_assignment_state(assignment_id).status == "Submitted"

    def test_given_fault_after_apply_then_retry_reconciles_to_success_with_one_write(self, api, sim, seed):
        # Given MTurk applies the first write, then answers ServiceFault
        assignment_id = seed("Submitted")
        sim.set_fault_rate(1.0, when="after", ops=["RejectAssignment"])
        sim.reset_call_log()
        # When the gateway retries and MTurk says the state is no longer Submitted
        response = api.post(f"/assignments/{assignment_id}/reject", {"feedback": "no"})
        # Then the decision is reported applied, and MTurk saw one successful change
        assert response.status_code == 200, response.text
        assert sim.get_assignment_state(assignment_id).status == "Rejected"
        assert audit_of(api, assignment_id)[0]["state"] == "SUCCEEDED"

    def test_given_transient_throttle_then_retried_and_succeeds(self, api, sim, seed):
        # Given
        assignment_id = seed("Submitted")
        sim.set_throttle(5, burst=1)
        # When
        response = api.post(f"/assignments/{assignment_id}/reject", {"feedback": "no"})
        # Then
        assert response.status_code == 200, response.text


class TestBadInput:
    def test_malformed_json_is_400(self, api, seed):
        # Given
        assignment_id = seed("Submitted")
        # When
        response = api.request("POST", f"/assignments/{assignment_id}/reject", raw=b"{not json")
        # Then
        assert response.status_code == 400 and response.json()["code"] == "MALFORMED_JSON"

    # `{}` is the feedback rule REQUIRED (INVALID_FEEDBACK): tests/contract/test_documented_answers.py
    @pytest.mark.parametrize("body", [{"feedback": 12}, {"feedback": "ok", "colour": "red"}, ["feedback"]])
    def test_schema_errors_are_400_with_fields(self, api, seed, body):
        # Given
        assignment_id = seed("Submitted")
        # When
        response = api.post(f"/assignments/{assignment_id}/reject", body)
        # Then
        assert response.status_code == 400
        assert response.json()["code"] == "INVALID_REQUEST" and response.json()["errors"]

    def test_bad_assignment_id_is_400(self, api):
        # When
        response = api.post("/assignments/not-an-id/reject", {"feedback": "x"})
        # Then
        assert response.status_code == 400 and response.json()["code"] == "INVALID_REQUEST"

    def test_unknown_route_is_404_json(self, api):
        # When
        response = api.get("/nothing-here")
        # Then
        assert response.status_code == 404 and response.json()["code"] == "NOT_FOUND"


class TestAuth:
    def test_unsigned_request_is_403(self, api, seed):
        # Given
        assignment_id = seed("Submitted")
        # When
        response = api.post(f"/assignments/{assignment_id}/reject", {"feedback": "x"}, sign=False)
        # Then
        assert response.status_code == 403 and response.json()["code"] == "MISSING_AUTHENTICATION_TOKEN"

    def test_wrongly_signed_request_is_403(self, stack, seed):
        # Given
        from local.stack import DEMO_PRINCIPAL
        from tests.integration.conftest import SignedApi

        impostor = SignedApi(stack.gateway.url, DEMO_PRINCIPAL.access_key_id, "not-the-secret")
        # When
        response = impostor.post(f"/assignments/{seed('Submitted')}/reject", {"feedback": "x"})
        # Then
        assert response.status_code == 403 and response.json()["code"] == "ACCESS_DENIED"

    def test_unknown_key_is_403(self, stack, seed):
        # Given
        from tests.integration.conftest import SignedApi

        stranger = SignedApi(stack.gateway.url, "UNKNOWNKEY0000000000", "whatever")
        # When
        response = stranger.get("/decisions?workerId=A1")
        # Then
        assert response.status_code == 403


class TestHistoryAndAudit:
    def test_get_assignment_shows_mturk_view_and_history_newest_first(self, api, seed):
        # Given
        assignment_id = seed("Submitted")
        api.post(f"/assignments/{assignment_id}/reject", {"feedback": "first pass"})
        api.post(f"/assignments/{assignment_id}/reverse", {"reason": "mistake"})
        # When
        body = api.get(f"/assignments/{assignment_id}").json()
        # Then
        assert body["assignment"]["status"] == "Approved"
        assert [d["action"] for d in body["history"]] == ["reverse", "reject"]

    def test_decisions_by_worker_and_hit_paginate_newest_first(self, api, sim, seed):
        # Given
        worker = "A" + uuid.uuid4().hex[:12].upper()
        hit = sim.add_hit(DEMO_MTURK_KEY[0], max_assignments=5)
        ids = [seed("Submitted", worker_id=worker if i < 3 else None, hit_id=hit) for i in range(5)]
        for assignment_id in ids:
            assert api.post(f"/assignments/{assignment_id}/reject", {"feedback": "no"}).status_code == 200
        # When
        first = api.get(f"/decisions?workerId={worker}&limit=2").json()
        # Then
        assert len(first["decisions"]) == 2 and first["nextCursor"]
        rest = api.get(f"/decisions?workerId={worker}&limit=2&cursor={first['nextCursor']}").json()
        seen = [d["assignmentId"] for d in first["decisions"] + rest["decisions"]]
        assert sorted(seen) == sorted(ids[:3]) and len(seen) == 3
        times = [d["createdAt"] for d in first["decisions"] + rest["decisions"]]
        assert times == sorted(times, reverse=True)
        by_hit = api.get(f"/decisions?hitId={hit}&limit=100").json()
        assert len(by_hit["decisions"]) == 5

    def test_decisions_since_until_filter(self, api, seed):
        # Given
        worker = "A" + uuid.uuid4().hex[:12].upper()
        # When
        api.post(f"/assignments/{seed('Submitted', worker_id=worker)}/reject", {"feedback": "no"})
        # Then
        assert api.get(f"/decisions?workerId={worker}&since=2000-01-01").json()["decisions"]
        assert api.get(f"/decisions?workerId={worker}&until=2000-01-01").json()["decisions"] == []

    @pytest.mark.parametrize("query,code", [
        ("", "INVALID_REQUEST"), ("workerId=A1&hitId=H1", "INVALID_REQUEST"), ("workerId=A1&since=yesterday", "INVALID_REQUEST"),
        ("workerId=A1&cursor=garbage", "INVALID_CURSOR"), ("workerId=A1&limit=0", "INVALID_REQUEST"),
    ])
    def test_bad_queries_are_400(self, api, query, code):
        # When
        response = api.get(f"/decisions?{query}")
        # Then
        assert response.status_code == 400 and response.json()["code"] == code

    def test_a_cursor_from_another_worker_is_refused(self, api, seed):
        # Given
        worker = "A" + uuid.uuid4().hex[:12].upper()
        for _ in range(2):
            api.post(f"/assignments/{seed('Submitted', worker_id=worker)}/reject", {"feedback": "no"})
        cursor = api.get(f"/decisions?workerId={worker}&limit=1").json()["nextCursor"]
        # When
        response = api.get(f"/decisions?workerId=AOTHER&cursor={cursor}")
        # Then
        assert response.status_code == 400 and response.json()["code"] == "INVALID_CURSOR"


class TestOpenApi:
    def test_swagger_json_lists_every_route(self, api):
        # When
        response = api.get("/swagger?format=json")
        # Then
        assert response.status_code == 200
        paths = response.json()["paths"]
        assert {"/assignments/{assignmentId}/reject", "/assignments/{assignmentId}/reverse",
                "/assignments/{assignmentId}/approve", "/assignments/{assignmentId}", "/decisions"} <= set(paths)
