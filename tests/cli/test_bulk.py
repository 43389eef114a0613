"""`apply`, `reverse-hit` and `batch` with a fake API: plan, confirmation, submission, watching, exit codes."""
from __future__ import annotations

import json

import pytest

BATCH_ID = "0123456789abcdef0123456789abcdef"
CSV = b'"HITId","AssignmentId","WorkerId","Approve","Reject"\r\n"H1","A1","W1","x",""\r\n"H1","A2","W2","","Blank"\r\n'

PLAN = {"dryRun": True, "plan": {
    "items": [
        {"line": 2, "assignmentId": "ASSIGN1", "hitId": "H1", "workerId": "AW1", "action": "approve",
         "outcome": "approve", "cost": {"reward": "0.50", "fee": "0.10", "total": "0.60"}},
        {"line": 3, "assignmentId": "ASSIGN2", "hitId": "H1", "workerId": "AW2", "action": "reject", "outcome": "reject"},
        {"line": 4, "assignmentId": "ASSIGN3", "hitId": "H2", "workerId": "AW3", "action": "reverse",
         "outcome": "refused", "code": "REVERSAL_WINDOW_CLOSED", "message": "Submitted more than 30 days ago."},
        {"line": 5, "assignmentId": "ASSIGN4", "outcome": "skip", "message": "neither Approve nor Reject is filled in"},
    ],
    "totals": {"reject": 1, "reverse": 0, "approve": 1, "refused": 1, "skipped": 1,
               "cost": {"reward": "0.50", "fee": "0.10", "total": "0.60"}, "balance": "100.00",
               "balanceAfter": "99.40", "sufficientFunds": True}}}
ACCEPTED = {"batchId": BATCH_ID, "status": "QUEUED", "total": 3, "queued": 2, "skipped": 1,
            "skippedRows": [{"line": 5, "assignmentId": "ASSIGN4", "reason": "neither Approve nor Reject is filled in"}]}


def status(state, done, counts, items=(), cursor=None, total=3):
    base = {"queued": 0, "succeeded": 0, "failed": 0, "refused": 0, "skipped": 0}
    return (200, {"batchId": BATCH_ID, "status": state, "createdAt": "2026-11-23T16:00:00Z",
                  "actor": "arn:aws:iam::000000000000:user/demo-requester", "source": "csv", "total": total,
                  "done": done, "progress": round(done / total, 4), "counts": {**base, **counts},
                  "items": list(items), "nextCursor": cursor})


RUNNING = status("RUNNING", 1, {"queued": 1, "succeeded": 1, "skipped": 1})
DONE_OK = status("COMPLETED", 3, {"succeeded": 2, "skipped": 1}, items=[
    {"line": 2, "assignmentId": "ASSIGN1", "action": "approve", "status": "SUCCEEDED", "decisionId": "d1"}])
DONE_FAILED = status("COMPLETED", 3, {"succeeded": 1, "failed": 1, "skipped": 1}, items=[
    {"line": 2, "assignmentId": "ASSIGN1", "action": "approve", "status": "SUCCEEDED", "decisionId": "d1"},
    {"line": 3, "assignmentId": "ASSIGN2", "action": "reject", "status": "FAILED", "code": "MTURK_FAULT",
     "message": "MTurk kept failing"}])


@pytest.fixture()
def results_csv(tmp_path):
    path = tmp_path / "Batch_42_batch_results.csv"
    path.write_bytes(CSV)
    return path


@pytest.fixture()
def batches(fake_api):
    fake_api.on("POST", "/batches", (200, PLAN), when=lambda c: c.dry_run)
    fake_api.on("POST", "/batches", (202, ACCEPTED), when=lambda c: not c.dry_run)
    return fake_api


class TestApplyConfirmation:
    def test_given_the_plan_when_the_user_declines_then_exit_1_and_only_the_dry_run_was_sent(self, run, batches,
                                                                                              results_csv):
        # When the requester answers "n" at the confirmation
        result = run("apply", str(results_csv), input="n\n")
        # Then nothing was changed: one call, the dry run, and exit code 1
        assert result.exit_code == 1, result.output
        assert "Nothing was changed" in result.stderr
        assert [c.dry_run for c in batches.calls] == [True]
        # And the plan was shown: counts, the refused item with its reason, cost against the balance
        out = result.stdout
        for fragment in ("Plan for Batch_42_batch_results.csv", "refused by a pre-check", "REVERSAL_WINDOW_CLOSED",
                         "Submitted more than 30 days ago.", "ASSIGN3", "$0.60", "$100.00 → $99.40",
                         "Sufficient funds: yes"):
            assert fragment in out, fragment
        assert "Apply 2 decision(s) costing $0.60?" in result.stderr

    def test_given_eof_at_the_prompt_then_aborted(self, run, batches, results_csv):
        # Given a results CSV and an API that plans and accepts batches
        # When
        result = run("apply", str(results_csv), input="")
        # Then
        assert result.exit_code == 1 and "Nothing was changed" in result.stderr
        assert len(batches.calls) == 1

    def test_given_yes_at_the_prompt_then_submitted_as_csv_watched_and_summarised(self, run, batches, results_csv):
        # Given
        batches.on("GET", f"/batches/{BATCH_ID}", RUNNING, DONE_OK)
        # When
        result = run("apply", str(results_csv), "--reason", "batch 42", input="y\n")
        # Then
        assert result.exit_code == 0, result.output
        dry, real = batches.calls_to("POST", "/batches")
        assert dry.data == real.data == CSV and real.content_type == "text/csv" and not real.dry_run
        assert real.query == {"reason": "batch 42"} and real.retry is False
        assert len(batches.calls_to("GET", "/batches/")) >= 2
        assert f"Batch {BATCH_ID} QUEUED: 2 item(s) queued, 1 skipped." in result.stdout
        assert "neither Approve nor Reject is filled in" in result.stdout
        assert "COMPLETED" in result.stdout and "succeeded" in result.stdout

    def test_given_yes_flag_then_no_dry_run_and_no_prompt(self, run, batches, results_csv):
        # Given
        batches.on("GET", f"/batches/{BATCH_ID}", DONE_OK)
        # When
        result = run("apply", str(results_csv), "--yes")
        # Then
        assert result.exit_code == 0, result.output
        assert [c.dry_run for c in batches.calls_to("POST")] == [False]
        assert "Apply" not in result.stderr

    def test_given_failed_items_then_exit_1_with_the_failures_listed(self, run, batches, results_csv):
        # Given
        batches.on("GET", f"/batches/{BATCH_ID}", RUNNING, DONE_FAILED)
        # When
        result = run("apply", str(results_csv), "--yes")
        # Then
        assert result.exit_code == 1
        assert "MTURK_FAULT" in result.stdout and "ASSIGN2" in result.stdout
        assert "1 failed and 0 refused" in result.stderr
        assert f"mturk-decisions batch {BATCH_ID} --items --status FAILED" in result.stderr

    def test_given_dead_lettered_items_then_exit_1_with_them_listed_and_what_to_do(self, run, batches, results_csv):
        # Given a batch whose chunk went to the DLQ after its retries
        dead = status("COMPLETED", 3, {"succeeded": 1, "deadLettered": 1, "skipped": 1}, items=[
            {"line": 3, "assignmentId": "ASSIGN2", "action": "reject", "status": "DEAD_LETTERED",
             "code": "MTURK_THROTTLED", "message": "Its chunk went to the dead-letter queue after its retries"}])
        batches.on("GET", f"/batches/{BATCH_ID}", RUNNING, dead)
        # When
        result = run("apply", str(results_csv), "--yes")
        # Then the items are listed, the exit code says the batch did not fully happen, and how to finish it
        assert result.exit_code == 1
        assert "ASSIGN2" in result.stdout and "DEAD_LETTERED" in result.stdout
        assert "dead-letter queue" in result.stderr and "--status DEAD_LETTERED" in result.stderr

    def test_no_watch_prints_the_batch_id_and_how_to_watch(self, run, batches, results_csv):
        # Given a results CSV and an API that plans and accepts batches
        # When
        result = run("apply", str(results_csv), "--yes", "--no-watch")
        # Then
        assert result.exit_code == 0
        assert batches.calls_to("GET") == []
        assert f"mturk-decisions batch {BATCH_ID} --watch" in result.stdout

    def test_dry_run_only_plans(self, run, batches, results_csv):
        # Given a results CSV and an API that plans and accepts batches
        # When
        result = run("apply", str(results_csv), "--dry-run")
        # Then
        assert result.exit_code == 0 and len(batches.calls) == 1 and batches.calls[0].dry_run
        assert "REVERSAL_WINDOW_CLOSED" in result.stdout

    def test_insufficient_funds_in_the_plan_is_a_warning_before_the_prompt(self, run, fake_api, results_csv):
        # Given
        poor = json.loads(json.dumps(PLAN))
        poor["plan"]["totals"].update(balance="0.10", balanceAfter="-0.50", sufficientFunds=False)
        fake_api.on("POST", "/batches", (200, poor))
        # When
        result = run("apply", str(results_csv), input="n\n")
        # Then
        assert result.exit_code == 1
        assert "Sufficient funds: no" in result.stdout
        assert "https://requester.mturk.com/account" in result.stderr

    def test_nothing_to_apply_when_everything_is_refused(self, run, fake_api, results_csv):
        # Given
        refused = json.loads(json.dumps(PLAN))
        refused["plan"]["totals"].update(reject=0, approve=0, refused=3)
        fake_api.on("POST", "/batches", (200, refused))
        # When
        result = run("apply", str(results_csv))
        # Then
        assert result.exit_code == 3 and len(fake_api.calls) == 1
        assert "Nothing was changed" in result.stdout


class TestApplyErrors:
    def test_invalid_batch_shows_the_errors_by_line_and_exits_3(self, run, fake_api, results_csv):
        # Given
        fake_api.on("POST", "/batches", (400, {
            "code": "INVALID_BATCH", "message": "The CSV has 2 invalid rows.",
            "errors": [{"line": 3, "assignmentId": "ASSIGN2", "field": "Approve|Reject",
                        "message": "both Approve and Reject are filled in"},
                       {"line": 7, "field": "AssignmentId", "message": "missing"}]}))
        # When
        result = run("apply", str(results_csv))
        # Then
        assert result.exit_code == 3
        err = result.stderr
        assert "400 INVALID_BATCH" in err and "both Approve and Reject are filled in" in err
        assert "line" in err and " 3 " in err and " 7 " in err and "ASSIGN2" in err
        assert "Fix the listed lines" in err and len(fake_api.calls) == 1

    def test_json_mode_with_yes_prints_only_the_final_batch_status(self, run, batches, results_csv):
        # Given
        batches.on("GET", f"/batches/{BATCH_ID}", RUNNING, DONE_OK)
        # When
        result = run("--json", "apply", str(results_csv), "--yes")
        # Then
        assert result.exit_code == 0
        body = json.loads(result.stdout)
        assert body["batchId"] == BATCH_ID and body["status"] == "COMPLETED"

    def test_json_mode_with_confirmation_keeps_the_plan_and_prompt_off_stdout(self, run, batches, results_csv):
        # Given
        batches.on("GET", f"/batches/{BATCH_ID}", DONE_OK)
        # When
        result = run("--json", "apply", str(results_csv), "--no-watch", input="y\n")
        # Then
        assert result.exit_code == 0
        assert json.loads(result.stdout) == ACCEPTED
        assert "Plan for" in result.stderr and "Apply 2 decision(s)" in result.stderr

    def test_json_dry_run_is_the_plan(self, run, batches, results_csv):
        # Given a results CSV and an API that plans and accepts batches
        # When
        result = run("--json", "apply", str(results_csv), "--dry-run")
        # Then
        assert json.loads(result.stdout) == PLAN

    def test_batch_routes_missing_on_an_old_stack_is_explained(self, run, fake_api, results_csv):
        # Given a results CSV
        # When
        result = run("apply", str(results_csv), "--yes")  # the fake answers 404 NOT_FOUND for unknown routes
        # Then
        assert result.exit_code == 3 and "older than this CLI" in result.stderr


class TestReverseHit:
    def test_body_has_workers_feedback_and_reason_and_follows_the_same_flow(self, run, fake_api):
        # Given
        fake_api.on("POST", "/hits/HIT1/reversals", (200, PLAN), when=lambda c: c.dry_run)
        fake_api.on("POST", "/hits/HIT1/reversals", (202, ACCEPTED), when=lambda c: not c.dry_run)
        fake_api.on("GET", f"/batches/{BATCH_ID}", DONE_OK)
        # When
        result = run("reverse-hit", "HIT1", "--worker", "AW1", "--worker", "AW2", "--worker", "AW1",
                     "--reason", "appeal", "--feedback", "Sorry!", input="y\n")
        # Then
        assert result.exit_code == 0, result.output
        dry, real = fake_api.calls_to("POST")
        assert dry.dry_run and not real.dry_run and real.retry is False
        assert real.json == {"feedback": "Sorry!", "reason": "appeal", "workerIds": ["AW1", "AW2"]}
        assert "Plan for HIT HIT1" in result.stdout

    def test_decline_sends_nothing_for_real(self, run, fake_api):
        # Given
        fake_api.on("POST", "/hits/HIT1/reversals", (200, PLAN))
        # When
        result = run("reverse-hit", "HIT1", input="n\n")
        # Then
        assert result.exit_code == 1 and [c.dry_run for c in fake_api.calls] == [True]


class TestBatch:
    def test_status_shows_progress_and_counts(self, run, fake_api):
        # Given
        fake_api.on("GET", f"/batches/{BATCH_ID}", RUNNING)
        # When
        result = run("batch", BATCH_ID)
        # Then
        assert result.exit_code == 0
        assert "RUNNING" in result.stdout and "1/3 (33%)" in result.stdout and "csv" in result.stdout

    def test_items_follow_next_cursor_with_the_status_filter(self, run, fake_api):
        # Given
        item = lambda n: {"line": n, "assignmentId": f"ASSIGN{n}", "action": "reverse", "status": "REFUSED",
                          "code": "HIT_DISPOSED", "message": "disposed"}
        fake_api.on("GET", f"/batches/{BATCH_ID}",
                    status("COMPLETED", 3, {"refused": 3}, [item(1), item(2)], cursor="2"),
                    status("COMPLETED", 3, {"refused": 3}, [item(3)]))
        # When
        result = run("batch", BATCH_ID, "--items", "--status", "refused", "--limit", "2")
        # Then
        assert result.exit_code == 0
        assert [c.query for c in fake_api.calls] == [{"limit": 2, "status": "REFUSED"},
                                                     {"limit": 2, "status": "REFUSED", "cursor": "2"}]
        assert all(f"ASSIGN{n}" in result.stdout for n in (1, 2, 3)) and "HIT_DISPOSED" in result.stdout

    def test_items_json_merges_the_pages(self, run, fake_api):
        # Given
        fake_api.on("GET", f"/batches/{BATCH_ID}",
                    status("COMPLETED", 3, {"succeeded": 3}, [{"line": 1}], cursor="1"),
                    status("COMPLETED", 3, {"succeeded": 3}, [{"line": 2}, {"line": 3}]))
        # When
        body = json.loads(run("--json", "batch", BATCH_ID, "--items").stdout)
        # Then
        assert [i["line"] for i in body["items"]] == [1, 2, 3] and body["nextCursor"] is None

    def test_watch_until_completed_with_failures_exits_1(self, run, fake_api):
        # Given
        fake_api.on("GET", f"/batches/{BATCH_ID}", RUNNING, RUNNING, DONE_FAILED)
        # When
        result = run("batch", BATCH_ID, "--watch")
        # Then
        assert result.exit_code == 1 and "MTURK_FAULT" in result.stdout

    def test_unknown_batch_is_exit_3_with_a_hint(self, run, fake_api):
        # Given
        fake_api.on("GET", f"/batches/{BATCH_ID}", (404, {"code": "BATCH_NOT_FOUND", "message": "No such batch."}))
        # When
        result = run("batch", BATCH_ID)
        # Then
        assert result.exit_code == 3 and "BATCH_NOT_FOUND" in result.stderr and "batchId" in result.stderr

    def test_watch_survives_missing_optional_keys(self, run, fake_api):
        # Given
        fake_api.on("GET", f"/batches/{BATCH_ID}", (200, {"batchId": BATCH_ID, "status": "COMPLETED"}))
        # When
        result = run("batch", BATCH_ID, "--watch")
        # Then
        assert result.exit_code == 0, result.output
