"""Uploaded batches end to end on the offline stack: POST /batches/uploads → presigned PUT to S3 (moto) →
S3 notification → uploads queue → parser → PLANNED or INVALID → GET .../plan → POST .../apply → worker."""
from __future__ import annotations

import csv
import io
import threading
import time
import uuid
from concurrent.futures import ThreadPoolExecutor
from datetime import timedelta

import boto3
import pytest
import requests

from local.stack import DEMO_MTURK_KEY, REGION
from mturk_decisions import wiring

HEADER = ["HITId", "AssignmentId", "WorkerId", "AssignmentStatus", "Answer.essay", "Approve", "Reject"]
SETTLED = ("PLANNED", "INVALID")


def results_csv(rows) -> bytes:
    out = io.StringIO()
    writer = csv.writer(out)
    writer.writerow(HEADER)
    for row in rows:
        writer.writerow([row.get(name, "") for name in HEADER])
    return ("\ufeff" + out.getvalue()).encode()


def upload(api, data: bytes, content_type: str = "text/csv", reason: str | None = None) -> str:
    created = api.post("/batches/uploads", {"reason": reason} if reason else {})
    assert created.status_code == 201, created.text
    body = created.json()
    put = requests.put(body["upload"]["url"], data=data, headers={"Content-Type": content_type}, timeout=30)
    assert put.status_code == 200, put.text
    return body["batchId"]


def settled_plan(api, batch_id: str, query: str = "", timeout: float = 60) -> dict:
    deadline = time.monotonic() + timeout
    while True:
        body = api.get(f"/batches/{batch_id}/plan{query}").json()
        if body.get("status") in SETTLED or time.monotonic() > deadline:
            return body
        time.sleep(0.2)


def wait_for_batch(api, batch_id: str, timeout: float = 60) -> dict:
    deadline = time.monotonic() + timeout
    while True:
        body = api.get(f"/batches/{batch_id}?limit=1000").json()
        if body["status"] == "COMPLETED" or time.monotonic() > deadline:
            return body
        time.sleep(0.2)


def queued_chunks(stack) -> int:
    sqs = boto3.client("sqs", region_name=REGION, endpoint_url=stack.moto_url)
    attributes = sqs.get_queue_attributes(QueueUrl=stack.env["WORK_QUEUE_URL"], AttributeNames=[
        "ApproximateNumberOfMessages", "ApproximateNumberOfMessagesNotVisible"])["Attributes"]
    return sum(int(value) for value in attributes.values())


@pytest.fixture()
def hit_with(sim):
    def _hit(*statuses, days_ago=2, reward="0.50"):
        hit = sim.add_hit(DEMO_MTURK_KEY[0], reward=reward, max_assignments=max(len(statuses), 1))
        return hit, [sim.add_assignment(hit, status=status, submitted_at=sim.clock.now() - timedelta(days=days_ago))
                     for status in statuses]
    return _hit


def test_given_a_good_upload_when_planned_and_applied_then_every_row_is_decided_as_planned(api, sim, hit_with, stack):
    # Given a batch-results CSV with long free-text answers: an approval, a reversal, a rejection, a skipped row
    hit, (submitted, rejected, to_reject, untouched) = hit_with("Submitted", "Rejected", "Submitted", "Submitted")
    essay = "A long answer, with commas, \"quotes\" and\nline breaks. " * 200
    data = results_csv([
        {"HITId": hit, "AssignmentId": submitted, "Answer.essay": essay, "Approve": "x"},
        {"HITId": hit, "AssignmentId": rejected, "Answer.essay": essay, "Approve": "x"},
        {"HITId": hit, "AssignmentId": to_reject, "Answer.essay": essay, "Reject": "The essay is off topic."},
        {"HITId": hit, "AssignmentId": untouched, "Answer.essay": essay},
    ])
    # When it is uploaded
    batch_id = upload(api, data, reason="weekly review")
    # Then the batch is PLANNED: each row's outcome, the cost against the balance, the skipped row
    plan = settled_plan(api, batch_id)
    assert plan["status"] == "PLANNED", plan
    outcomes = {item["assignmentId"]: item["outcome"] for item in plan["plan"]["items"]}
    assert outcomes == {submitted: "approve", rejected: "reverse", to_reject: "reject", untouched: "skip"}
    totals = plan["plan"]["totals"]
    assert (totals["approve"], totals["reverse"], totals["reject"], totals["skipped"]) == (1, 1, 1, 1)
    assert totals["cost"]["reward"] == "1.00" and totals["sufficientFunds"] is True
    assert plan["size"] == len(data) and plan["total"] == 4
    # And GET /batches/{id} shows it PLANNED, nothing applied yet
    assert api.get(f"/batches/{batch_id}").json()["status"] == "PLANNED"
    assert sim.get_assignment_state(submitted).status == "Submitted"
    # When it is applied (twice, with one Idempotency-Key: one queueing)
    key = {"Idempotency-Key": str(uuid.uuid4())}
    first = api.post(f"/batches/{batch_id}/apply", headers=key)
    again = api.post(f"/batches/{batch_id}/apply", headers=key)
    # Then it is queued once and applied by the worker, as POST /batches would have
    assert first.status_code == again.status_code == 202, first.text
    assert first.json() == again.json() and first.json()["queued"] == 3
    body = wait_for_batch(api, batch_id)
    assert body["counts"]["succeeded"] == 3 and body["counts"]["skipped"] == 1, body
    assert [sim.get_assignment_state(a).status for a in (submitted, rejected, to_reject)] == \
        ["Approved", "Approved", "Rejected"]
    history = api.get(f"/assignments/{rejected}").json()["history"]
    assert history[0]["batchId"] == batch_id and history[0]["reason"] == "weekly review"


def test_given_an_applied_upload_when_applied_again_without_a_key_then_nothing_is_queued_twice(api, sim, hit_with,
                                                                                             stack):
    # Given an uploaded batch, planned and applied
    hit, (a,) = hit_with("Submitted")
    batch_id = upload(api, results_csv([{"HITId": hit, "AssignmentId": a, "Approve": "x"}]))
    assert settled_plan(api, batch_id)["status"] == "PLANNED"
    assert api.post(f"/batches/{batch_id}/apply").status_code == 202
    wait_for_batch(api, batch_id)
    # When it is applied again
    again = api.post(f"/batches/{batch_id}/apply")
    # Then it answers the batch as it is, and queues nothing
    assert again.status_code == 202 and again.json()["status"] == "COMPLETED", again.text
    assert queued_chunks(stack) == 0


def test_given_a_planned_upload_when_applied_twice_at_once_then_it_is_queued_once(api, sim, hit_with, stack):
    # Given a planned upload of three approvals, and every chunk the API sends recorded
    hit, ids = hit_with("Submitted", "Submitted", "Submitted")
    batch_id = upload(api, results_csv([{"HITId": hit, "AssignmentId": a, "Approve": "x"} for a in ids]))
    assert settled_plan(api, batch_id)["status"] == "PLANNED"
    batches = wiring.current().batch_service()
    sent, send = [], batches._queue.send
    batches._queue.send = lambda chunks: (sent.append(list(chunks)), send(chunks))[1]
    # When two callers apply it at the same moment, without an Idempotency-Key
    start = threading.Barrier(2)

    def apply(_):
        start.wait()
        return api.post(f"/batches/{batch_id}/apply")

    try:
        with ThreadPoolExecutor(2) as pool:
            answers = list(pool.map(apply, range(2)))
    finally:
        batches._queue.send = send
    # Then both are answered 202, its chunks were sent once, and each assignment is approved once
    assert [answer.status_code for answer in answers] == [202, 202], [answer.text for answer in answers]
    assert len(sent) == 1 and [chunk.lines for chunk in sent[0]] == [[2, 3, 4]]
    assert wait_for_batch(api, batch_id)["counts"]["succeeded"] == 3
    for assignment_id in ids:
        assert sum(1 for c in sim.calls("ApproveAssignment", outcome="ok")
                   if c.params["AssignmentId"] == assignment_id) == 1


@pytest.mark.parametrize("case", ["not a csv", "empty", "bad rows", "wrong content type"])
def test_given_a_bad_upload_then_the_batch_is_invalid_with_a_clear_error_and_nothing_is_queued(api, sim, hit_with,
                                                                                             stack, case):
    # Given an upload that is not a usable batch-results CSV
    hit, (a, b) = hit_with("Submitted", "Submitted")
    data, content_type, expected = {
        "not a csv": (b"PK\x03\x04" + bytes(range(256)) * 8, "text/csv", "ZIP archive"),
        "empty": (b"", "text/csv", "empty"),
        "bad rows": (results_csv([{"HITId": hit, "AssignmentId": a, "Approve": "yes"},
                                  {"HITId": hit, "AssignmentId": b, "Approve": "x", "Reject": "also rejected"},
                                  {"HITId": hit, "AssignmentId": a, "Approve": "x"}]), "text/csv", "bad row"),
        "wrong content type": (results_csv([{"HITId": hit, "AssignmentId": a, "Approve": "x"}]),
                               "application/vnd.ms-excel", "text/csv"),
    }[case]
    # When it is uploaded
    batch_id = upload(api, data, content_type)
    # Then the batch is INVALID, saying why (line-numbered errors for bad rows)
    plan = settled_plan(api, batch_id)
    assert plan["status"] == "INVALID", plan
    assert expected in plan["message"], plan["message"]
    assert plan["code"] == "INVALID_BATCH" and plan["errors"] and all(e["message"] for e in plan["errors"])
    if case == "bad rows":
        assert plan["errorCount"] == 2
        assert [(e["line"], e["assignmentId"], e["field"]) for e in plan["errors"]] == [(2, a, "Approve"),
                                                                                         (3, b, "Approve|Reject")]
    # And applying it is refused with the same errors; nothing was stored or queued
    refused = api.post(f"/batches/{batch_id}/apply")
    assert refused.status_code == 400 and refused.json()["code"] == "INVALID_BATCH", refused.text
    assert api.get(f"/batches/{batch_id}").json()["status"] == "INVALID"
    assert api.get(f"/batches/{batch_id}").json()["items"] == []
    assert queued_chunks(stack) == 0
    assert sim.get_assignment_state(a).status == "Submitted"


def test_given_an_upload_over_the_maximum_then_it_is_refused_before_and_after_the_put(api, stack, sim, hit_with):
    # Given the documented maximum size of an upload
    from mturk_decisions import wiring

    uploads = wiring.current().upload_service()
    # When a caller announces a larger file
    refused = api.post("/batches/uploads", {"contentLength": uploads.max_bytes + 1})
    # Then it is refused at once, naming the maximum
    assert refused.status_code == 400 and refused.json()["field"] == "contentLength", refused.text
    assert refused.json()["maxBytes"] == uploads.max_bytes
    # And when a larger file arrives anyway (the limit lowered here, so the test does not PUT 256 MB)
    hit, (a,) = hit_with("Submitted")
    data = results_csv([{"HITId": hit, "AssignmentId": a, "Approve": "x", "Answer.essay": "x" * 4096}])
    saved = uploads.max_bytes
    uploads.max_bytes = 1024
    try:
        batch_id = upload(api, data)
        plan = settled_plan(api, batch_id)
    finally:
        uploads.max_bytes = saved
    # Then the batch is INVALID for its size, and nothing is stored or queued
    assert plan["status"] == "INVALID" and "at most" in plan["message"], plan
    assert plan["code"] == "INVALID_BATCH" and plan["errors"] == [{"field": "upload", "message": plan["message"]}]
    assert plan["size"] == len(data)
    assert api.get(f"/batches/{batch_id}").json()["items"] == []
    assert queued_chunks(stack) == 0
    assert sim.get_assignment_state(a).status == "Submitted"


def test_given_a_batch_awaiting_its_upload_when_applied_then_409_not_ready(api):
    # Given a batch whose CSV has not been PUT yet
    created = api.post("/batches/uploads").json()
    # When it is applied
    refused = api.post(f"/batches/{created['batchId']}/apply")
    # Then it is refused: not ready, with Retry-After
    assert refused.status_code == 409 and refused.json()["code"] == "BATCH_NOT_READY", refused.text
    assert refused.headers.get("Retry-After") == "5"
    assert api.get(f"/batches/{created['batchId']}").json()["status"] == "AWAITING_UPLOAD"


def test_given_a_planned_upload_when_its_plan_is_paged_and_filtered_then_pages_join_up(api, sim, hit_with):
    # Given an uploaded batch of 7 rows, 2 refused (unknown assignments)
    hit, ids = hit_with(*["Submitted"] * 5)
    rows = [{"HITId": hit, "AssignmentId": a, "Approve": "x"} for a in ids]
    rows += [{"HITId": hit, "AssignmentId": f"3NOSUCHASSIGNMENT{n:013d}", "Approve": "x"} for n in range(2)]
    batch_id = upload(api, results_csv(rows))
    assert settled_plan(api, batch_id)["status"] == "PLANNED"
    # When its plan is read 3 items at a time, and only the refused items
    lines, cursor = [], ""
    while True:
        page = api.get(f"/batches/{batch_id}/plan?limit=3{cursor}").json()
        lines += [item["line"] for item in page["plan"]["items"]]
        if not page.get("nextCursor"):
            break
        cursor = f"&cursor={page['nextCursor']}"
    refused = api.get(f"/batches/{batch_id}/plan?outcome=refused").json()["plan"]
    # Then the pages cover every row once, in order, and the filter finds the refused ones
    assert lines == list(range(2, 9))
    assert [item["code"] for item in refused["items"]] == ["ASSIGNMENT_NOT_FOUND"] * 2
    assert refused["totals"]["refused"] == 2 and refused["totals"]["approve"] == 5


@pytest.mark.parametrize("cursor", ["%C2%B3", "%D9%A3", "-1", "1e3", "9999999999"], ids=[
    "superscript-three", "arabic-indic-three", "negative", "exponent", "too-long"])
def test_given_a_cursor_that_is_not_ascii_digits_when_a_plan_or_batch_page_is_read_then_400_invalid_cursor(
        api, sim, hit_with, cursor):
    # Given a planned upload (its plan and its items are paged by line cursors)
    hit, ids = hit_with("Submitted")
    batch_id = upload(api, results_csv([{"HITId": hit, "AssignmentId": ids[0], "Approve": "x"}]))
    assert settled_plan(api, batch_id)["status"] == "PLANNED"
    for path in (f"/batches/{batch_id}/plan", f"/batches/{batch_id}"):
        # When a page is asked for with a cursor str.isdigit() accepts but int() does not (or no line at all)
        answer = api.get(f"{path}?cursor={cursor}")
        # Then it is refused as the caller's mistake, never a 500
        assert answer.status_code == 400 and answer.json()["code"] == "INVALID_CURSOR", (path, answer.text)
