"""`mturk-decisions pending` and the --notify-subject / --notify-message options, against a fake API client."""
from __future__ import annotations

import json

import pytest

from tests.cli.test_commands import AID, DECISION, HIT

NOTICE = {"subject": "Your rejected work was approved", "message": "We reversed the rejection."}


def schedule(assignment_id, due="2026-12-02T10:00:00.000Z", state="PENDING", kind="provisional"):
    return {"assignmentId": assignment_id, "hitId": HIT, "workerId": "A2DEMOWORKERBOB", "kind": kind, "state": state,
            "dueAt": due, "deadline": "2026-12-31T17:23:29.000Z", "createdAt": "2026-12-02T09:00:00.000Z",
            "actor": "arn:aws:iam::000000000000:user/demo-requester", "reason": None, "attempts": 0,
            "lastError": None}


def page(ids, cursor):
    return 200, {"scheduledReversals": [schedule(i) for i in ids], "nextCursor": cursor}


class TestPending:
    def test_given_pending_reversals_then_a_table_by_due_time_and_the_filters_are_sent(self, run, fake_api):
        # Given one page of pending automatic reversals
        fake_api.on("GET", "/scheduled-reversals", page(["3AAA", "3BBB"], None))
        # When listed with every filter
        result = run("pending", "--state", "pending", "--hit", HIT, "--kind", "provisional", "--due-before",
                     "2026-12-03T00:00:00Z", "--limit", "10")
        # Then the query says so, and the table lists each with its HIT, worker and due time
        assert result.exit_code == 0, result.output
        assert fake_api.calls[0].query == {"state": "PENDING", "hitId": HIT, "kind": "provisional",
                                           "dueBefore": "2026-12-03T00:00:00Z", "limit": 10}
        assert "3AAA" in result.stdout and "3BBB" in result.stdout and "A2DEMOWORKERBOB" in result.stdout
        assert "2026-12-02 10:00:00Z" in result.stdout and "PENDING automatic reversals" in result.stdout

    def test_given_more_pages_then_without_all_it_says_how_to_get_them(self, run, fake_api):
        # Given
        fake_api.on("GET", "/scheduled-reversals", page(["3AAA"], "CURSOR1"))
        # When
        result = run("pending", "--limit", "1")
        # Then
        assert len(fake_api.calls) == 1 and "--cursor CURSOR1" in result.stdout

    def test_given_all_then_every_page_is_merged_in_json(self, run, fake_api):
        # Given two pages
        fake_api.on("GET", "/scheduled-reversals", page(["3AAA"], "c1"), page(["3BBB"], None))
        # When
        result = run("--json", "pending", "--all", "--limit", "1")
        # Then both pages, one JSON document
        assert [c.query.get("cursor") for c in fake_api.calls] == [None, "c1"]
        body = json.loads(result.stdout)
        assert [s["assignmentId"] for s in body["scheduledReversals"]] == ["3AAA", "3BBB"]
        assert body["nextCursor"] is None

    def test_given_none_then_it_says_so(self, run, fake_api):
        # Given
        fake_api.on("GET", "/scheduled-reversals", (200, {"scheduledReversals": [], "nextCursor": None}))
        # When
        result = run("pending")
        # Then
        assert result.exit_code == 0 and "No pending automatic reversals." in result.stdout

    def test_given_a_bad_state_then_usage_error_and_nothing_sent(self, run, fake_api):
        # When
        result = run("pending", "--state", "SOON")
        # Then
        assert result.exit_code == 2 and fake_api.calls == []


class TestNotifyOptions:
    @pytest.mark.parametrize("command", ["reverse", "reject"])
    def test_given_both_options_then_notify_worker_is_sent_and_the_outcome_shown(self, run, fake_api, command):
        # Given the API sent the message
        answer = {**DECISION, "notification": {"status": "SENT", "failures": []}}
        fake_api.on("POST", f"/assignments/{AID}/{command}", (200, answer))
        # When
        extra = ["--feedback", "Incomplete."] if command == "reject" else []
        result = run(command, AID, *extra, "--notify-subject", NOTICE["subject"], "--notify-message",
                     NOTICE["message"])
        # Then the body carries notifyWorker, and the worker was told
        assert result.exit_code == 0, result.output
        assert fake_api.calls[0].json["notifyWorker"] == NOTICE
        assert "worker told" in result.stdout and "sent" in result.stdout

    def test_given_mturk_could_not_send_then_the_failure_is_shown_and_the_decision_stands(self, run, fake_api):
        # Given
        answer = {**DECISION, "notification": {"status": "FAILED", "failures": [
            {"workerId": "A1DEMOWORKERALICE", "code": "HardFailure", "message": "never reviewed"}]}}
        fake_api.on("POST", f"/assignments/{AID}/reverse", (200, answer))
        # When
        result = run("reverse", AID, "--notify-subject", "s", "--notify-message", "m")
        # Then
        assert result.exit_code == 0
        assert "HardFailure" in result.stdout and "the decision stands" in result.stdout

    @pytest.mark.parametrize("given", [["--notify-subject", "s"], ["--notify-message", "m"]])
    def test_given_only_one_option_then_usage_error_and_nothing_sent(self, run, fake_api, given):
        # When
        result = run("reverse", AID, *given)
        # Then
        assert result.exit_code == 2 and "--notify-subject and --notify-message" in result.stderr
        assert fake_api.calls == []

    def test_given_reverse_hit_with_both_then_the_batch_body_carries_it(self, run, fake_api):
        # Given the API accepts the batch
        fake_api.on("POST", f"/hits/{HIT}/reversals",
                    (202, {"batchId": "b" * 32, "status": "QUEUED", "total": 1, "queued": 1, "skipped": 0,
                           "skippedRows": []}))
        # When
        result = run("reverse-hit", HIT, "--yes", "--no-watch", "--notify-subject", NOTICE["subject"],
                     "--notify-message", NOTICE["message"])
        # Then
        assert result.exit_code == 0, result.output
        assert fake_api.calls[0].json["notifyWorker"] == NOTICE

    def test_given_an_invalid_notification_then_the_hint_names_the_option(self, run, fake_api):
        # Given
        fake_api.on("POST", f"/assignments/{AID}/reverse", (400, {
            "code": "INVALID_NOTIFICATION", "message": "notifyWorker.subject is 201 characters; MTurk accepts at "
            "most 200.", "field": "notifyWorker.subject", "rule": "MAX_LENGTH"}))
        # When
        result = run("reverse", AID, "--notify-subject", "s" * 201, "--notify-message", "m")
        # Then
        assert result.exit_code == 3 and "--notify-subject" in result.stderr

    def test_given_show_of_a_decision_with_a_notification_then_it_is_listed(self, run, fake_api):
        # Given
        decision = {**DECISION["decision"], "notification": {**NOTICE, "status": "SENT", "failures": []}}
        fake_api.on("GET", f"/assignments/{AID}", (200, {
            "assignment": {"assignmentId": AID, "status": "Approved", "workerId": "A1", "hitId": HIT, "reward": "0.5",
                           "hitStatus": "Assignable"}, "history": [decision]}))
        # When
        result = run("show", AID)
        # Then
        assert result.exit_code == 0, result.output
        assert "worker told" in result.stdout and NOTICE["subject"] in result.stdout
