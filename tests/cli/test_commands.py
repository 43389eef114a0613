"""Commands with a fake API client: arguments, what is sent, what is shown, and `--json`."""
from __future__ import annotations

import json
import uuid

import pytest

AID = "3YM12KYBHYJ0H7SAKGI4N4GYSZ6P2B"
HIT = "3DP71HITDEMO000000000000000001"
DECISION = {
    "decision": {"decisionId": "ae0f-1", "assignmentId": AID, "hitId": HIT, "workerId": "A1DEMOWORKERALICE",
                 "action": "reject", "state": "SUCCEEDED", "previousStatus": "Submitted",
                 "feedback": "The labels do not match the signs.", "reason": "QA rule 7",
                 "actor": "arn:aws:iam::000000000000:user/demo-requester", "source": "api",
                 "createdAt": "2026-11-23T15:57:16.101Z", "finalizedAt": "2026-11-23T15:57:16.130Z"},
    "assignment": {"assignmentId": AID, "previousStatus": "Submitted", "status": "Rejected"},
}


class TestArguments:
    @pytest.mark.parametrize("args,fragment", [
        (["reject", AID], "Missing option '--feedback'"),
        (["reject"], "Missing argument 'ASSIGNMENT_ID'"),
        (["history"], "exactly one of --worker or --hit"),
        (["history", "--worker", "A1", "--hit", "H1"], "exactly one of --worker or --hit"),
        (["history", "--worker", "A1", "--since", "yesterday"], "ISO 8601"),
        (["history", "--worker", "A1", "--limit", "0"], "--limit"),
        (["batch", "b1", "--status", "DONE"], "--status"),
        (["--timeout", "0", "show", AID], "--timeout"),
        (["apply", "/no/such/file.csv"], "No such file"),
        (["nosuchcommand"], "No such command"),
    ])
    def test_usage_errors_exit_2_and_send_nothing(self, run, fake_api, args, fragment):
        # When
        result = run(*args)
        # Then
        assert result.exit_code == 2, result.output
        assert fragment in result.stderr
        assert fake_api.calls == []

    def test_apply_of_an_empty_file_is_a_usage_error(self, run, fake_api, tmp_path):
        # Given
        empty = tmp_path / "results.csv"
        empty.write_bytes(b"  \n")
        # When
        result = run("apply", str(empty))
        # Then
        assert result.exit_code == 2 and "empty" in result.stderr and fake_api.calls == []

    def test_apply_from_stdin_needs_yes_or_dry_run(self, run, fake_api):
        # When
        result = run("apply", "-", input="a,b\n")
        # Then
        assert result.exit_code == 2 and "--yes or --dry-run" in result.stderr


class TestSingleDecisions:
    def test_reject_posts_feedback_and_reason_with_a_fresh_idempotency_key(self, run, fake_api):
        # Given the API accepts the rejection
        fake_api.on("POST", f"/assignments/{AID}/reject", (200, DECISION))
        # When rejecting
        result = run("reject", AID, "--feedback", "The labels do not match the signs.", "--reason", "QA rule 7")
        # Then one call, JSON body, a uuid4 Idempotency-Key, and a readable confirmation
        assert result.exit_code == 0, result.output
        [call] = fake_api.calls
        assert call.json == {"feedback": "The labels do not match the signs.", "reason": "QA rule 7"}
        assert uuid.UUID(call.headers["Idempotency-Key"]).version == 4
        assert call.query == {}
        assert f"Rejected assignment {AID}" in result.stdout
        assert "Submitted → Rejected" in result.stdout and "A1DEMOWORKERALICE" in result.stdout
        assert "SUCCEEDED" in result.stdout and "ae0f-1" in result.stdout

    def test_each_invocation_gets_its_own_key_unless_one_is_given(self, run, fake_api):
        # Given
        fake_api.on("POST", f"/assignments/{AID}/reject", (200, DECISION))
        # When
        run("reject", AID, "--feedback", "x")
        run("reject", AID, "--feedback", "x")
        run("reject", AID, "--feedback", "x", "--idempotency-key", "my-key-1")
        # Then
        keys = [c.headers["Idempotency-Key"] for c in fake_api.calls]
        assert keys[0] != keys[1] and keys[2] == "my-key-1"

    @pytest.mark.parametrize("command", ["reverse", "approve"])
    def test_reverse_and_approve_send_only_the_options_given(self, run, fake_api, command):
        # Given
        answer = {**DECISION, "decision": {**DECISION["decision"], "action": command}, "cost": {
            "reward": "0.50", "fee": "0.10", "total": "0.60"}}
        fake_api.on("POST", f"/assignments/{AID}/{command}", (200, answer))
        # When
        result = run(command, AID)
        # Then
        assert result.exit_code == 0, result.output
        assert fake_api.calls[0].json == {}
        assert "$0.60" in result.stdout and "reward $0.50" in result.stdout

    def test_dry_run_sends_dry_run_true_without_key_and_shows_the_plan(self, run, fake_api):
        # Given
        plan = {"dryRun": True, "plan": {"action": "reverse", "assignmentId": AID, "hitId": HIT, "workerId": "A3",
                                         "currentStatus": "Rejected", "resultingStatus": "Approved",
                                         "checksPassed": ["state", "window", "funds"],
                                         "cost": {"reward": "0.50", "fee": "0.10", "total": "0.60"},
                                         "balance": "100.00", "balanceAfter": "99.40",
                                         "reversalDeadline": "2026-12-20T10:00:00Z"},
                "message": "Dry run: every pre-check passed."}
        fake_api.on("POST", f"/assignments/{AID}/reverse", (200, plan))
        # When
        result = run("reverse", AID, "--dry-run", "--reason", "try")
        # Then
        assert result.exit_code == 0
        [call] = fake_api.calls
        assert call.dry_run and "Idempotency-Key" not in call.headers and call.json == {"reason": "try"}
        assert "Nothing was changed" in result.stdout and "Rejected → Approved" in result.stdout
        assert "$100.00 → $99.40" in result.stdout and "2026-12-20 10:00:00Z" in result.stdout

    def test_json_output_is_the_api_answer_and_only_that(self, run, fake_api):
        # Given
        fake_api.on("POST", f"/assignments/{AID}/reject", (200, DECISION))
        # When
        result = run("--json", "reject", AID, "--feedback", "x")
        # Then
        assert result.exit_code == 0
        assert json.loads(result.stdout) == DECISION

    def test_audit_warning_is_shown(self, run, fake_api):
        # Given
        fake_api.on("POST", f"/assignments/{AID}/reject", (200, {**DECISION, "warning": "stays PENDING"}))
        # When
        result = run("reject", AID, "--feedback", "x")
        # Then
        assert result.exit_code == 0 and "Warning: stays PENDING" in result.stderr


SHOW = {
    "assignment": {"assignmentId": AID, "hitId": HIT, "workerId": "A3DEMOWORKERCAROL", "status": "Approved",
                   "submittedAt": "2026-11-21T10:00:00Z", "approvedAt": "2026-11-23T10:00:00Z", "reward": "0.50",
                   "hitStatus": "Assignable", "hitTitle": "Label street signs", "reversalDeadline": "2026-12-21T10:00:00Z",
                   "reversible": False},
    "history": [
        {"decisionId": "d2", "action": "reverse", "state": "SUCCEEDED", "previousStatus": "Rejected",
         "reason": "bad QA rule", "actor": "arn:aws:iam::000000000000:user/demo-requester", "source": "api",
         "createdAt": "2026-11-23T10:00:00Z"},
        {"decisionId": "d1", "action": "reject", "state": "FAILED", "previousStatus": "Submitted",
         "feedback": "Wrong", "actor": "arn:aws:iam::000000000000:user/demo-requester", "source": "batch",
         "createdAt": "2026-11-22T10:00:00Z", "errorCode": "MTURK_FAULT"},
    ],
}


class TestShow:
    def test_show_renders_the_mturk_view_and_the_history(self, run, fake_api):
        # Given
        fake_api.on("GET", f"/assignments/{AID}", (200, SHOW))
        # When
        result = run("show", AID)
        # Then
        assert result.exit_code == 0, result.output
        out = result.stdout
        for fragment in (AID, "Approved", "A3DEMOWORKERCAROL", "Label street signs", "$0.50",
                         "2026-12-21 10:00:00Z", "reversible", "Decision history (newest first)", "reverse",
                         "bad QA rule", "MTURK_FAULT", "FAILED"):
            assert fragment in out, fragment
        assert out.index("reverse") < out.index("reject")

    def test_show_in_json_mode_prints_the_api_answer(self, run, fake_api):
        # Given
        fake_api.on("GET", f"/assignments/{AID}", (200, SHOW))
        # When
        result = run("--json", "show", AID)
        # Then
        assert json.loads(result.stdout) == SHOW

    def test_show_without_history(self, run, fake_api):
        # Given
        fake_api.on("GET", f"/assignments/{AID}", (200, {"assignment": {"assignmentId": AID, "status": "Submitted"}}))
        # When
        result = run("show", AID)
        # Then
        assert result.exit_code == 0 and "No decisions recorded" in result.stdout


def page(ids, cursor):
    return (200, {"decisions": [{"decisionId": i, "assignmentId": f"ASSIGN{i}", "action": "reject",
                                 "state": "SUCCEEDED", "createdAt": "2026-11-23T10:00:00Z"} for i in ids],
                  "nextCursor": cursor})


class TestHistory:
    def test_history_sends_the_filters(self, run, fake_api):
        # Given
        fake_api.on("GET", "/decisions", page(["d1"], None))
        # When
        result = run("history", "--worker", "A1DEMOWORKERALICE", "--since", "2026-11-01", "--until",
                     "2026-11-30T12:00:00Z", "--limit", "10")
        # Then
        assert result.exit_code == 0, result.output
        assert fake_api.calls[0].query == {"workerId": "A1DEMOWORKERALICE", "since": "2026-11-01",
                                           "until": "2026-11-30T12:00:00Z", "limit": 10}
        assert "ASSIGNd1" in result.stdout and "worker A1DEMOWORKERALICE" in result.stdout

    def test_one_page_without_all_tells_how_to_get_more(self, run, fake_api):
        # Given
        fake_api.on("GET", "/decisions", page(["d1", "d2"], "CURSOR+1"))
        # When
        result = run("history", "--hit", HIT, "--limit", "2")
        # Then
        assert len(fake_api.calls) == 1 and fake_api.calls[0].query["hitId"] == HIT
        assert "--cursor CURSOR+1" in result.stdout

    def test_all_follows_next_cursor_to_the_end(self, run, fake_api):
        # Given
        fake_api.on("GET", "/decisions", page(["d1", "d2"], "c1"), page(["d3", "d4"], "c2"), page(["d5"], None))
        # When
        result = run("--json", "history", "--worker", "A1", "--limit", "2", "--all")
        # Then
        assert result.exit_code == 0
        assert [c.query.get("cursor") for c in fake_api.calls] == [None, "c1", "c2"]
        body = json.loads(result.stdout)
        assert [d["decisionId"] for d in body["decisions"]] == ["d1", "d2", "d3", "d4", "d5"]
        assert body["nextCursor"] is None

    def test_no_decisions_in_the_period_says_so(self, run, fake_api):
        # Given
        fake_api.on("GET", "/decisions", (200, {"decisions": [], "nextCursor": None}))
        # When
        result = run("history", "--worker", "A1", "--since", "2026-01-01")
        # Then
        assert "No decisions for worker A1 in that period." in result.stdout


def test_version_prints_the_program_name(run):
    # When
    result = run("--version")
    # Then
    assert result.exit_code == 0 and "mturk-decisions" in result.stdout


SCHEDULE = {"assignmentId": AID, "kind": "provisional", "state": "PENDING", "dueAt": "2026-11-25T16:00:00Z",
            "deadline": "2026-12-23T16:00:00Z", "actor": "arn:aws:iam::000000000000:user/demo-requester"}


class TestAutomaticReversals:
    @pytest.mark.parametrize("given,sent", [("48h", "PT48H"), ("3d", "P3D"), ("90m", "PT90M"), ("pt2h", "PT2H"),
                                            ("P1DT12H", "P1DT12H")])
    def test_provisional_for_accepts_iso_durations_and_shorthands(self, run, fake_api, given, sent):
        # Given
        fake_api.on("POST", f"/assignments/{AID}/reject", (200, {**DECISION, "scheduledReversal": SCHEDULE}))
        # When
        result = run("reject", AID, "--feedback", "Looks copied", "--provisional-for", given)
        # Then
        assert result.exit_code == 0, result.output
        assert fake_api.calls[0].json == {"feedback": "Looks copied", "provisionalFor": sent}
        assert "Provisional" in result.stdout and "2026-11-25 16:00:00Z" in result.stdout
        assert f"mturk-decisions confirm {AID}" in result.stdout

    def test_a_bad_duration_is_a_usage_error(self, run, fake_api):
        # When
        result = run("reject", AID, "--feedback", "x", "--provisional-for", "2 days")
        # Then
        assert result.exit_code == 2 and "ISO 8601 duration" in result.stderr and fake_api.calls == []

    def test_reverse_at_a_time_is_scheduled(self, run, fake_api):
        # Given
        scheduled = {**SCHEDULE, "kind": "scheduled"}
        fake_api.on("POST", f"/assignments/{AID}/reverse", (202, {"scheduledReversal": scheduled, "message": "later"}))
        # When
        result = run("reverse", AID, "--at", "2026-11-25T16:00:00Z", "--reason", "after appeal")
        # Then
        assert result.exit_code == 0, result.output
        assert fake_api.calls[0].json == {"reason": "after appeal", "at": "2026-11-25T16:00:00Z"}
        assert "Reversal scheduled" in result.stdout and f"cancel-reversal {AID}" in result.stdout

    def test_reverse_at_needs_a_time(self, run, fake_api):
        # When
        result = run("reverse", AID, "--at", "2026-11-25")
        # Then
        assert result.exit_code == 2 and "date and a time" in result.stderr

    def test_confirm_and_cancel_reversal_call_their_routes(self, run, fake_api):
        # Given
        fake_api.on("POST", f"/assignments/{AID}/confirm", (200, {"scheduledReversal": {**SCHEDULE, "state": "CONFIRMED"}}))
        fake_api.on("DELETE", f"/assignments/{AID}/scheduled-reversal",
                    (200, {"scheduledReversal": {**SCHEDULE, "state": "CANCELLED"}}))
        # When
        confirmed = run("confirm", AID)
        cancelled = run("--json", "cancel-reversal", AID)
        # Then
        assert confirmed.exit_code == cancelled.exit_code == 0
        assert "it will not be reversed" in confirmed.stdout and "CONFIRMED" in confirmed.stdout
        assert json.loads(cancelled.stdout)["scheduledReversal"]["state"] == "CANCELLED"
        assert [(c.method, c.path) for c in fake_api.calls] == [
            ("POST", f"/assignments/{AID}/confirm"), ("DELETE", f"/assignments/{AID}/scheduled-reversal")]

    def test_nothing_to_confirm_is_exit_3(self, run, fake_api):
        # Given
        fake_api.on("POST", f"/assignments/{AID}/confirm",
                    (404, {"code": "SCHEDULE_NOT_FOUND", "message": "No provisional rejection."}))
        # When
        result = run("confirm", AID)
        # Then
        assert result.exit_code == 3 and "no pending automatic reversal" in result.stderr
