"""The CLI end to end against the offline stack: real signing, local gateway, Lambda handler, moto, simulator."""
from __future__ import annotations

import csv
import io
import json
import uuid
from datetime import timedelta

import pytest

from local.stack import DEMO_MTURK_KEY, DEMO_PRINCIPAL


class TestSingleDecisions:
    def test_reject_then_show_then_reverse_then_history(self, cli, sim, seed):
        # Given a submitted assignment of a known worker
        worker = "A" + uuid.uuid4().hex[:12].upper()
        assignment_id = seed("Submitted", worker_id=worker)
        # When the requester rejects it
        rejected = cli("reject", assignment_id, "--feedback", "The labels do not match the signs.",
                       "--reason", "QA rule 7")
        # Then MTurk has the rejection with the feedback, and the CLI says so
        assert rejected.exit_code == 0, rejected.output
        assert f"Rejected assignment {assignment_id}" in rejected.stdout and "Submitted → Rejected" in rejected.stdout
        state = sim.get_assignment_state(assignment_id)
        assert (state.status, state.feedback) == ("Rejected", "The labels do not match the signs.")
        # When they reverse it
        reversed_ = cli("reverse", assignment_id, "--reason", "QA rule 7 was wrong")
        assert reversed_.exit_code == 0, reversed_.output
        assert sim.get_assignment_state(assignment_id).status == "Approved"
        assert "$0.60" in reversed_.stdout
        # Then show has MTurk's view and both decisions, newest first
        shown = cli("show", assignment_id)
        assert shown.exit_code == 0, shown.output
        assert "Approved" in shown.stdout and "QA rule 7 was wrong" in shown.stdout
        history_part = shown.stdout.split("Decision history (newest first)")[1]
        assert history_part.index("reverse") < history_part.index("reject")
        # And the worker's history lists them, as JSON for a script
        history = cli("--json", "history", "--worker", worker, "--all", "--limit", "1")
        assert history.exit_code == 0, history.output
        assert [d["action"] for d in json.loads(history.stdout)["decisions"]] == ["reverse", "reject"]

    def test_approve_with_json_output(self, cli, sim, seed):
        # Given
        assignment_id = seed("Submitted")
        # When
        result = cli("--json", "approve", assignment_id, "--feedback", "Thanks!")
        # Then
        assert result.exit_code == 0, result.output
        body = json.loads(result.stdout)
        assert body["decision"]["action"] == "approve" and body["assignment"]["status"] == "Approved"
        assert body["decision"]["actor"] == DEMO_PRINCIPAL.arn
        assert sim.get_assignment_state(assignment_id).status == "Approved"

    def test_repeating_with_the_same_idempotency_key_never_writes_twice(self, cli, sim, seed):
        # Given
        assignment_id = seed("Submitted")
        sim.reset_call_log()
        # When
        first = cli("--json", "reject", assignment_id, "--feedback", "no", "--idempotency-key", "cli-key-1")
        second = cli("--json", "reject", assignment_id, "--feedback", "no", "--idempotency-key", "cli-key-1")
        # Then
        assert first.exit_code == second.exit_code == 0, second.output
        assert json.loads(first.stdout) == json.loads(second.stdout)
        assert sim.count_calls("RejectAssignment") == 1

    def test_dry_run_changes_nothing(self, cli, sim, seed):
        # Given
        assignment_id = seed("Rejected", days_ago=3)
        # When
        result = cli("reverse", assignment_id, "--dry-run")
        # Then
        assert result.exit_code == 0, result.output
        assert "Nothing was changed" in result.stdout and "Rejected → Approved" in result.stdout
        assert sim.get_assignment_state(assignment_id).status == "Rejected"


class TestRefusals:
    def test_a_40_day_old_rejection_is_refused_with_exit_3_and_the_deadline(self, cli, sim, seed):
        # Given a rejection submitted 40 days ago
        assignment_id = seed("Rejected", days_ago=40)
        deadline = (sim.clock.now() - timedelta(days=10)).strftime("%Y-%m-%d")
        # When the requester tries to reverse it
        result = cli("reverse", assignment_id)
        # Then exit 3, the code, the deadline (30 days after submission) and what to do
        assert result.exit_code == 3, result.output
        assert "409 REVERSAL_WINDOW_CLOSED" in result.stderr
        assert f"deadline: {deadline}" in result.stderr
        assert "MTurk no longer allows reversing this rejection" in result.stderr
        assert sim.get_assignment_state(assignment_id).status == "Rejected"

    def test_insufficient_funds_shows_balance_and_amount_needed(self, cli, sim, seed):
        # Given
        assignment_id = seed("Rejected", days_ago=2, reward="1.00", max_assignments=10)
        sim.set_balance(DEMO_MTURK_KEY[0], "1.20")
        # When
        result = cli("reverse", assignment_id)
        # Then
        assert result.exit_code == 3
        assert "402 INSUFFICIENT_FUNDS" in result.stderr
        assert "balance: $1.20" in result.stderr and "amountNeeded: $1.40" in result.stderr
        assert "https://requester.mturk.com/account" in result.stderr

    def test_unknown_assignment_is_exit_3(self, cli):
        # When
        result = cli("show", "NOSUCHASSIGNMENT000000000000001")
        # Then
        assert result.exit_code == 3 and "ASSIGNMENT_NOT_FOUND" in result.stderr

    def test_invalid_feedback_names_the_rule(self, cli, seed):
        # When
        result = cli("reject", seed("Submitted"), "--feedback", "bad\x07bell")
        # Then
        assert result.exit_code == 3
        assert "INVALID_FEEDBACK" in result.stderr and "FORBIDDEN_CHARACTER" in result.stderr


class TestAuth:
    def test_wrong_secret_is_exit_4_with_what_to_check(self, cli, seed, monkeypatch):
        # Given
        monkeypatch.setenv("AWS_SECRET_ACCESS_KEY", "not-the-demo-secret")
        # When
        result = cli("reject", seed("Submitted"), "--feedback", "x")
        # Then
        assert result.exit_code == 4, result.output
        assert "403" in result.stderr and "credentials" in result.stderr

    def test_unknown_key_is_exit_4(self, cli, monkeypatch):
        # Given
        monkeypatch.setenv("AWS_ACCESS_KEY_ID", "FAKEUNKNOWNKEY000001")
        # When
        result = cli("history", "--worker", "A1")
        # Then
        assert result.exit_code == 4

    def test_unreachable_api_is_exit_6(self, cli, monkeypatch):
        # When
        result = cli("--api-url", "http://127.0.0.1:9/v1", "show", "3XAMPLE")
        # Then
        assert result.exit_code == 6 and "Could not connect to http://127.0.0.1:9/v1 (connection refused)." in result.stderr


# -- bulk -------------------------------------------------------------------------------------------------
HEADER = ["HITId", "HITTypeId", "Title", "Reward", "AssignmentId", "WorkerId", "AssignmentStatus",
          "Answer.label", "Approve", "Reject"]


def results_csv(path, rows) -> str:
    """A batch-results CSV as the requester website exports it (BOM, every field quoted)."""
    out = io.StringIO()
    writer = csv.writer(out, quoting=csv.QUOTE_ALL)
    writer.writerow(HEADER)
    for row in rows:
        writer.writerow([row.get(name, "") for name in HEADER])
    path.write_bytes(("\ufeff" + out.getvalue()).encode())
    return str(path)


@pytest.fixture()
def hit_with(sim):
    def _hit(*statuses, days_ago=2, workers=None, reward="0.50"):
        hit = sim.add_hit(DEMO_MTURK_KEY[0], reward=reward, max_assignments=max(len(statuses), 1))
        ids = [sim.add_assignment(hit, worker_id=workers[i] if workers else None, status=status,
                                  submitted_at=sim.clock.now() - timedelta(days=days_ago))
               for i, status in enumerate(statuses)]
        return hit, ids
    return _hit


class TestApply:
    def test_decline_at_the_prompt_changes_nothing(self, cli, sim, hit_with, tmp_path):
        # Given
        hit, (a, b) = hit_with("Submitted", "Rejected")
        path = results_csv(tmp_path / "results.csv", [{"HITId": hit, "AssignmentId": a, "Reject": "Blank"},
                                                      {"HITId": hit, "AssignmentId": b, "Approve": "x"}])
        sim.reset_call_log()
        # When
        result = cli("apply", path, input="n\n")
        # Then
        assert result.exit_code == 1, result.output
        assert "Nothing was changed" in result.stderr and "Plan for results.csv" in result.stdout
        assert sim.count_calls("RejectAssignment") == sim.count_calls("ApproveAssignment") == 0

    def test_confirmed_csv_is_applied_watched_and_summarised(self, cli, sim, hit_with, tmp_path):
        # Given a results CSV: one to reject, one rejection to reverse, one 40 days too old, one unmarked
        hit, (to_reject, to_reverse, untouched) = hit_with("Submitted", "Rejected", "Submitted")
        old_hit, (too_old,) = hit_with("Rejected", days_ago=40)
        path = results_csv(tmp_path / "Batch_7_batch_results.csv", [
            {"HITId": hit, "AssignmentId": to_reject, "AssignmentStatus": "Submitted", "Reject": "Off-topic labels"},
            {"HITId": hit, "AssignmentId": to_reverse, "AssignmentStatus": "Rejected", "Approve": "x"},
            {"HITId": hit, "AssignmentId": untouched, "AssignmentStatus": "Submitted"},
            {"HITId": old_hit, "AssignmentId": too_old, "AssignmentStatus": "Rejected", "Approve": "x"},
        ])
        # When the requester confirms the plan
        result = cli("apply", path, "--reason", "batch 7 review", input="y\n")
        # Then the plan showed the refusal, the batch ran to completion, and the refused item makes it exit 1
        assert "REVERSAL_WINDOW_CLOSED" in result.stdout and "Plan for Batch_7_batch_results.csv" in result.stdout
        assert "COMPLETED" in result.stdout, result.output
        assert result.exit_code == 1 and "0 failed and 1 refused" in result.stderr
        assert sim.get_assignment_state(to_reject).feedback == "Off-topic labels"
        assert sim.get_assignment_state(to_reverse).status == "Approved"
        assert sim.get_assignment_state(untouched).status == "Submitted"

    def test_all_good_csv_with_yes_exits_0_and_json_is_the_final_status(self, cli, sim, hit_with, tmp_path):
        # Given
        hit, (a, b) = hit_with("Submitted", "Submitted")
        path = results_csv(tmp_path / "results.csv", [{"HITId": hit, "AssignmentId": a, "Approve": "x"},
                                                      {"HITId": hit, "AssignmentId": b, "Reject": "Blank answers"}])
        # When
        result = cli("--json", "apply", path, "--yes")
        # Then
        assert result.exit_code == 0, result.output
        body = json.loads(result.stdout)
        assert body["status"] == "COMPLETED" and body["counts"]["succeeded"] == 2
        assert [sim.get_assignment_state(x).status for x in (a, b)] == ["Approved", "Rejected"]

    def test_invalid_csv_is_exit_3_with_line_numbers(self, cli, sim, hit_with, tmp_path):
        # Given
        hit, (a, b) = hit_with("Submitted", "Submitted")
        path = results_csv(tmp_path / "results.csv", [{"HITId": hit, "AssignmentId": a, "Approve": "x"},
                                                      {"HITId": hit, "AssignmentId": b, "Approve": "x", "Reject": "both"}])
        # When
        result = cli("apply", path, "--yes")
        # Then
        assert result.exit_code == 3, result.output
        assert "INVALID_BATCH" in result.stderr and b in result.stderr
        assert sim.get_assignment_state(a).status == "Submitted"


class TestReverseHitAndBatch:
    def test_reverse_hit_for_some_workers_then_batch_items(self, cli, sim, hit_with):
        workers = ["AWORKERONE1", "AWORKERTWO2", "AWORKERTHREE3"]
        hit, ids = hit_with("Rejected", "Rejected", "Rejected", workers=workers)
        # When reversing two workers' rejections, without watching
        result = cli("--json", "reverse-hit", hit, "--worker", "AWORKERONE1", "--worker", "AWORKERTHREE3",
                     "--reason", "appeal", "--yes", "--no-watch")
        assert result.exit_code == 0, result.output
        batch_id = json.loads(result.stdout)["batchId"]
        # Then watching the batch ends with both reversed and exit 0
        watched = cli("batch", batch_id, "--watch")
        assert watched.exit_code == 0, watched.output
        assert "COMPLETED" in watched.stdout
        assert [sim.get_assignment_state(x).status for x in ids] == ["Approved", "Rejected", "Approved"]
        # And its items can be listed, all pages, filtered
        items = cli("--json", "batch", batch_id, "--items", "--limit", "1", "--status", "succeeded")
        assert items.exit_code == 0, items.output
        assert sorted(i["assignmentId"] for i in json.loads(items.stdout)["items"]) == sorted([ids[0], ids[2]])

    def test_reverse_hit_dry_run_shows_the_cost_against_the_balance(self, cli, sim, hit_with):
        # Given
        hit, ids = hit_with("Rejected", "Rejected", reward="1.00")
        sim.set_balance(DEMO_MTURK_KEY[0], "2.00")
        # When
        result = cli("reverse-hit", hit, "--dry-run")
        # Then
        assert result.exit_code == 0, result.output
        assert "$2.40" in result.stdout and "$2.00 → -$0.40" in result.stdout
        assert "Sufficient funds: no" in result.stdout
        assert all(sim.get_assignment_state(x).status == "Rejected" for x in ids)

    def test_unknown_batch_is_exit_3(self, cli):
        # When
        result = cli("batch", "0" * 32)
        # Then
        assert result.exit_code == 3 and "BATCH_NOT_FOUND" in result.stderr


class TestAutomaticReversals:
    def test_provisional_rejection_shows_its_schedule_and_can_be_confirmed(self, cli, sim, seed):
        # Given
        assignment_id = seed("Submitted")
        # When
        rejected = cli("reject", assignment_id, "--feedback", "Looks copied", "--provisional-for", "48h")
        # Then
        assert rejected.exit_code == 0, rejected.output
        assert "Provisional" in rejected.stdout and "provisional" in rejected.stdout
        # And its automatic reversal is pending
        shown = cli("--json", "show", assignment_id)
        assert json.loads(shown.stdout)["scheduledReversal"]["state"] == "PENDING"
        # When the rejection is confirmed
        confirmed = cli("confirm", assignment_id)
        # Then it stays rejected
        assert confirmed.exit_code == 0, confirmed.output
        assert "CONFIRMED" in confirmed.stdout
        assert sim.get_assignment_state(assignment_id).status == "Rejected"

    def test_scheduled_reversal_can_be_cancelled(self, cli, sim, seed):
        # Given
        assignment_id = seed("Rejected", days_ago=2)
        at = (sim.clock.now() + timedelta(hours=5)).strftime("%Y-%m-%dT%H:%M:%SZ")
        # When
        scheduled = cli("reverse", assignment_id, "--at", at)
        # Then
        assert scheduled.exit_code == 0, scheduled.output
        assert "Reversal scheduled" in scheduled.stdout
        # When it is cancelled
        cancelled = cli("--json", "cancel-reversal", assignment_id)
        # Then the assignment stays rejected
        assert cancelled.exit_code == 0, cancelled.output
        assert json.loads(cancelled.stdout)["scheduledReversal"]["state"] == "CANCELLED"
        assert sim.get_assignment_state(assignment_id).status == "Rejected"

    def test_confirm_without_a_provisional_rejection_is_exit_3(self, cli, seed):
        # When
        result = cli("confirm", seed("Rejected"))
        # Then
        assert result.exit_code == 3 and "SCHEDULE_NOT_FOUND" in result.stderr
