"""`apply` with a CSV over 5 MB: uploaded to S3 with a progress bar, planned by the service, then the same
confirmation, apply and watch as a small file (end to end on the offline stack, and the switch alone)."""
from __future__ import annotations

import csv
import io
import json
from datetime import timedelta

import pytest

from local.stack import DEMO_MTURK_KEY
from mturk_decisions_cli import uploads

HEADER = ["HITId", "AssignmentId", "WorkerId", "AssignmentStatus", "Answer.essay", "Approve", "Reject"]
ESSAY = "An essay answer, with commas, \"quotes\" and\nline breaks, as the website exports free text. " * 40


def large_csv(path, rows, min_bytes: int = uploads.UPLOAD_THRESHOLD_BYTES + 1) -> str:
    """A batch-results CSV over `min_bytes`: the rows, then rows marked neither Approve nor Reject (skipped)."""
    out = io.StringIO()
    writer = csv.writer(out, quoting=csv.QUOTE_ALL)
    writer.writerow(HEADER)
    for row in rows:
        writer.writerow([row.get(name, "") for name in HEADER])
    filler = 0
    while out.tell() < min_bytes:
        filler += 1
        writer.writerow(["", f"3FILLER{filler:023d}", "AFILLER", "Submitted", ESSAY, "", ""])
    path.write_bytes(("\ufeff" + out.getvalue()).encode())
    return str(path)


@pytest.fixture(autouse=True)
def quick_polls(monkeypatch):
    monkeypatch.setattr(uploads, "POLL_SECONDS", 0.05)
    monkeypatch.setattr(uploads, "POLL_MAX_SECONDS", 0.2)


@pytest.fixture()
def hit_with(sim):
    def _hit(*statuses, days_ago=2):
        hit = sim.add_hit(DEMO_MTURK_KEY[0], reward="0.50", max_assignments=max(len(statuses), 1))
        return hit, [sim.add_assignment(hit, status=status, submitted_at=sim.clock.now() - timedelta(days=days_ago))
                     for status in statuses]
    return _hit


class TestUploadEndToEnd:
    def test_given_a_6_mb_csv_when_confirmed_then_it_is_uploaded_planned_applied_and_watched(self, cli, sim,
                                                                                           hit_with, tmp_path):
        # Given a results CSV over 5 MB: a rejection, a reversal, and many unmarked rows
        hit, (to_reject, to_reverse) = hit_with("Submitted", "Rejected")
        path = large_csv(tmp_path / "Batch_9_batch_results.csv", [
            {"HITId": hit, "AssignmentId": to_reject, "Reject": "The essay is off topic."},
            {"HITId": hit, "AssignmentId": to_reverse, "Approve": "x"}])
        # When the requester applies it and confirms the plan
        result = cli("apply", path, "--reason", "batch 9 review", input="y\n")
        # Then it went to S3 with a progress bar, the plan was shown, and the batch ran to completion
        assert result.exit_code == 0, result.output
        assert "Uploading" in result.stdout and "upload ━" in result.stderr
        assert "Plan for Batch_9_batch_results.csv" in result.stdout and "COMPLETED" in result.stdout
        assert sim.get_assignment_state(to_reject).feedback == "The essay is off topic."
        assert sim.get_assignment_state(to_reverse).status == "Approved"

    def test_given_a_6_mb_csv_when_dry_run_then_the_plan_is_shown_and_nothing_is_applied(self, cli, sim, hit_with,
                                                                                       tmp_path):
        # Given a results CSV over 5 MB with one unknown assignment
        hit, (a,) = hit_with("Submitted")
        path = large_csv(tmp_path / "results.csv", [{"HITId": hit, "AssignmentId": a, "Approve": "x"},
                                                    {"HITId": hit, "AssignmentId": "3NOSUCHASSIGNMENT0000000000001",
                                                     "Approve": "x"}])
        # When it is applied with --dry-run
        result = cli("apply", path, "--dry-run")
        # Then the plan names the refused item, and nothing changed
        assert result.exit_code == 0, result.output
        assert "ASSIGNMENT_NOT_FOUND" in result.stdout and "refused by a pre-check" in result.stdout
        assert sim.get_assignment_state(a).status == "Submitted"

    def test_given_a_6_mb_csv_with_bad_rows_then_exit_3_with_their_lines_and_nothing_applied(self, cli, sim,
                                                                                           hit_with, tmp_path):
        # Given a results CSV over 5 MB whose second row is marked both Approve and Reject
        hit, (a, b) = hit_with("Submitted", "Submitted")
        path = large_csv(tmp_path / "results.csv", [{"HITId": hit, "AssignmentId": a, "Approve": "x"},
                                                    {"HITId": hit, "AssignmentId": b, "Approve": "x", "Reject": "both"}])
        # When it is applied
        result = cli("apply", path, "--yes")
        # Then the service refused it: exit 3, INVALID_BATCH naming the row; nothing applied
        assert result.exit_code == 3, result.output
        assert "INVALID_BATCH" in result.stderr and b in result.stderr
        assert sim.get_assignment_state(a).status == "Submitted"


class TestTheSwitch:
    def test_given_a_file_of_exactly_5_mb_then_it_is_posted_as_before(self, run, fake_api, tmp_path):
        # Given a CSV of exactly the threshold
        path = tmp_path / "results.csv"
        path.write_bytes(b"AssignmentId,Approve,Reject\n" + b"x" * (uploads.UPLOAD_THRESHOLD_BYTES - 28))
        fake_api.on("POST", "/batches", (400, {"code": "INVALID_BATCH", "message": "bad", "errors": []}))
        # When it is applied
        run("apply", str(path), "--yes")
        # Then it went in the request body (POST /batches), not to S3
        assert fake_api.calls_to("POST", "/batches") and not fake_api.calls_to("POST", "/batches/uploads")

    def test_given_a_file_over_5_mb_then_it_is_uploaded_and_applied_after_its_plan(self, run, fake_api, tmp_path,
                                                                                 monkeypatch):
        # Given a CSV one byte over the threshold, and S3 accepting the PUT
        path = tmp_path / "results.csv"
        path.write_bytes(b"AssignmentId,Approve,Reject\n" + b"x" * (uploads.UPLOAD_THRESHOLD_BYTES - 27))
        puts = []

        class Answer:
            status_code, text = 200, ""

        def put(url, headers, data, timeout):
            puts.append((url, headers, sum(len(chunk) for chunk in iter(lambda: data.read(65536), b""))))
            return Answer()

        monkeypatch.setattr(uploads.requests, "put", put)
        batch = "a" * 32
        totals = {"reject": 0, "reverse": 0, "approve": 1, "refused": 0, "skipped": 0,
                  "cost": {"reward": "0.50", "fee": "0.10", "total": "0.60"}, "balance": "10.00",
                  "balanceAfter": "9.40", "sufficientFunds": True}
        fake_api.on("POST", "/batches/uploads", (201, {"batchId": batch, "status": "AWAITING_UPLOAD", "upload": {
            "method": "PUT", "url": "https://bucket.s3.amazonaws.com/uploads/x.csv?sig",
            "headers": {"Content-Type": "text/csv"}, "expiresAt": "2026-12-01T00:15:00Z"}, "maxBytes": 1 << 28}))
        fake_api.on("GET", f"/batches/{batch}/plan", (200, {"batchId": batch, "status": "PARSING"}),
                    (200, {"batchId": batch, "status": "PLANNED", "plan": {"items": [], "totals": totals}}))
        fake_api.on("POST", f"/batches/{batch}/apply", (202, {"batchId": batch, "status": "QUEUED", "total": 1,
                                                              "queued": 1, "skipped": 0}))
        # When it is applied with --yes and without watching
        result = run("--json", "apply", str(path), "--yes", "--no-watch")
        # Then the file was PUT whole, with its content type and length, the plan awaited, then applied once
        assert result.exit_code == 0, result.output
        assert puts == [("https://bucket.s3.amazonaws.com/uploads/x.csv?sig",
                         {"Content-Type": "text/csv", "Content-Length": str(path.stat().st_size)}, path.stat().st_size)]
        assert fake_api.calls_to("POST", "/batches/uploads")[0].json["contentLength"] == path.stat().st_size
        assert len(fake_api.calls_to("POST", f"/batches/{batch}/apply")) == 1
        assert "Idempotency-Key" in fake_api.calls_to("POST", f"/batches/{batch}/apply")[0].headers
        assert not fake_api.calls_to("POST", "/batches?") and json.loads(result.stdout)["batchId"] == batch

    def test_given_a_file_over_the_upload_maximum_then_a_usage_error_and_nothing_sent(self, run, fake_api, tmp_path,
                                                                                     monkeypatch):
        # Given a CSV over the upload maximum (lowered here: the test writes 6 MB, not 256)
        monkeypatch.setattr(uploads, "UPLOAD_MAX_BYTES", uploads.UPLOAD_THRESHOLD_BYTES + 10)
        path = tmp_path / "results.csv"
        path.write_bytes(b"AssignmentId,Approve,Reject\n" + b"x" * (uploads.UPLOAD_THRESHOLD_BYTES + 100))
        # When it is applied
        result = run("apply", str(path), "--yes")
        # Then click's usage error (exit 2) says to split it, and nothing was sent
        assert result.exit_code == 2 and "split it" in result.output, result.output
        assert fake_api.calls == []
