"""Bulk decisions end to end: POST /batches and /hits/{id}/reversals → SQS → worker → MTurk + audit."""
from __future__ import annotations

import csv
import io
import time
import uuid
from datetime import timedelta
from decimal import Decimal

import pytest

from local.stack import DEMO_MTURK_KEY
from mturk_decisions import wiring
from mturk_decisions.adapters.work_queue import Chunk
from mturk_decisions.domain.batch import ItemStatus

HEADER = ["HITId", "HITTypeId", "Title", "Reward", "AssignmentId", "WorkerId", "AssignmentStatus",
          "Answer.label", "Approve", "Reject"]


def results_csv(rows) -> bytes:
    out = io.StringIO()
    writer = csv.writer(out, quoting=csv.QUOTE_ALL)
    writer.writerow(HEADER)
    for row in rows:
        writer.writerow([row.get(name, "") for name in HEADER])
    return ("\ufeff" + out.getvalue()).encode()


def wait_for(api, batch_id, timeout=60):
    deadline = time.monotonic() + timeout
    while True:
        body = api.get(f"/batches/{batch_id}?limit=1000").json()
        if body["status"] == "COMPLETED" or time.monotonic() > deadline:
            return body
        time.sleep(0.2)


@pytest.fixture()
def hit_with(sim):
    def _hit(*statuses, days_ago=2, workers=None, reward="0.50"):
        hit = sim.add_hit(DEMO_MTURK_KEY[0], reward=reward, max_assignments=max(len(statuses), 1))
        ids = []
        for index, status in enumerate(statuses):
            worker = workers[index] if workers else None
            ids.append(sim.add_assignment(hit, worker_id=worker, status=status,
                                          submitted_at=sim.clock.now() - timedelta(days=days_ago)))
        return hit, ids
    return _hit


def test_given_json_items_when_batched_then_202_and_every_item_applied_and_audited(api, sim, hit_with):
    # Given
    hit, (a, b, c) = hit_with("Submitted", "Rejected", "Submitted")
    # When
    response = api.post("/batches", {"items": [
        {"assignmentId": a, "action": "reject", "feedback": "Blank answers", "reason": "QA rule 3", "hitId": hit},
        {"assignmentId": b, "action": "reverse", "reason": "bad QA rule", "hitId": hit},
        {"assignmentId": c, "action": "approve"},
    ]})
    # Then
    assert response.status_code == 202, response.text
    batch_id = response.json()["batchId"]
    body = wait_for(api, batch_id)
    assert body["counts"]["succeeded"] == 3 and body["progress"] == 1.0
    assert [sim.get_assignment_state(x).status for x in (a, b, c)] == ["Rejected", "Approved", "Approved"]
    record = api.get(f"/assignments/{b}").json()["history"][0]
    assert record["source"] == "batch" and record["batchId"] == batch_id and record["reason"] == "bad QA rule"


def test_given_website_csv_then_approve_x_reverses_rejected_and_approves_submitted(api, sim, hit_with):
    # Given
    hit, (rejected, submitted, to_reject, untouched) = hit_with("Rejected", "Submitted", "Submitted", "Submitted")
    text = results_csv([
        {"HITId": hit, "AssignmentId": rejected, "AssignmentStatus": "Rejected", "Approve": "x"},
        {"HITId": hit, "AssignmentId": submitted, "AssignmentStatus": "Submitted", "Approve": "x",
         "Answer.label": "multi\nline, \"quoted\""},
        {"HITId": hit, "AssignmentId": to_reject, "AssignmentStatus": "Submitted", "Reject": "Off-topic labels"},
        {"HITId": hit, "AssignmentId": untouched, "AssignmentStatus": "Submitted"},
    ])
    # When
    response = api.request("POST", "/batches?reason=fix%20batch%2017", raw=text, headers={"Content-Type": "text/csv"})
    # Then
    assert response.status_code == 202, response.text
    assert response.json()["skippedRows"] == [{"line": 6, "assignmentId": untouched,
                                               "reason": "neither Approve nor Reject is filled in"}]
    body = wait_for(api, response.json()["batchId"])
    assert body["counts"] == {"queued": 0, "succeeded": 3, "failed": 0, "refused": 0, "skipped": 1, "deadLettered": 0}
    assert sim.get_assignment_state(rejected).status == "Approved"
    assert sim.get_assignment_state(submitted).status == "Approved"
    assert sim.get_assignment_state(to_reject).feedback == "Off-topic labels"
    history = api.get(f"/assignments/{rejected}").json()["history"]
    assert history[0]["action"] == "reverse" and history[0]["reason"] == "fix batch 17"


def test_given_csv_with_a_bad_row_then_400_with_line_and_nothing_queued(api, sim, hit_with):
    # Given
    hit, (a, b) = hit_with("Submitted", "Submitted")
    text = results_csv([{"HITId": hit, "AssignmentId": a, "Approve": "x"},
                        {"HITId": hit, "AssignmentId": b, "Approve": "x", "Reject": "both"}])
    sim.reset_call_log()
    # When
    response = api.request("POST", "/batches", raw=text, headers={"Content-Type": "text/csv"})
    # Then
    assert response.status_code == 400
    assert response.json()["code"] == "INVALID_BATCH" and response.json()["errors"][0]["line"] == 3
    time.sleep(0.5)
    assert sim.get_assignment_state(a).status == "Submitted" and sim.count_calls() == 0


def test_refusals_are_reported_per_item_not_fatal(api, sim, hit_with):
    # Given
    hit, (old,) = hit_with("Rejected", days_ago=40)
    _, (fresh,) = hit_with("Rejected")
    # When
    response = api.post("/batches", {"items": [{"assignmentId": old, "action": "reverse"},
                                               {"assignmentId": fresh, "action": "reverse"},
                                               {"assignmentId": "NOSUCHASSIGNMENT0000000000009", "action": "reverse"}]})
    body = wait_for(api, response.json()["batchId"])
    # Then
    by_id = {item["assignmentId"]: item for item in body["items"]}
    assert by_id[old]["status"] == "REFUSED" and by_id[old]["code"] == "REVERSAL_WINDOW_CLOSED"
    assert by_id[fresh]["status"] == "SUCCEEDED"
    assert by_id["NOSUCHASSIGNMENT0000000000009"]["code"] == "ASSIGNMENT_NOT_FOUND"


def test_dry_run_totals_cost_against_the_simulator_balance_and_writes_nothing(api, sim, hit_with):
    # Given
    hit, ids = hit_with("Rejected", "Rejected", "Rejected", reward="1.00")
    sim.set_balance(DEMO_MTURK_KEY[0], "3.00")
    sim.reset_call_log()
    # When
    response = api.post(f"/hits/{hit}/reversals?dryRun=true", {"reason": "oops"})
    # Then
    assert response.status_code == 200, response.text
    totals = response.json()["plan"]["totals"]
    assert totals["reverse"] == 3
    assert totals["cost"] == {"reward": "3.00", "fee": "0.60", "total": "3.60"}
    assert (totals["balance"], totals["balanceAfter"], totals["sufficientFunds"]) == ("3.00", "-0.60", False)
    assert sim.count_calls("ApproveAssignment") == 0
    assert all(sim.get_assignment_state(x).status == "Rejected" for x in ids)


def test_hit_reversal_with_worker_filter_reverses_only_those_workers(api, sim, hit_with):
    # Given
    workers = ["AWORKERONE1", "AWORKERTWO2", "AWORKERTHREE3"]
    hit, ids = hit_with("Rejected", "Rejected", "Rejected", workers=workers)
    # When
    response = api.post(f"/hits/{hit}/reversals", {"workerIds": ["AWORKERONE1", "AWORKERTHREE3"], "reason": "appeal"})
    # Then
    assert response.status_code == 202, response.text
    body = wait_for(api, response.json()["batchId"])
    assert body["counts"]["succeeded"] == 2
    assert [sim.get_assignment_state(x).status for x in ids] == ["Approved", "Rejected", "Approved"]


def test_hit_reversal_without_filter_reverses_every_rejection(api, sim, hit_with):
    # Given
    hit, ids = hit_with("Rejected", "Rejected", "Approved", "Submitted")
    # When
    body = wait_for(api, api.post(f"/hits/{hit}/reversals", {}).json()["batchId"])
    # Then
    assert body["total"] == 2 and body["counts"]["succeeded"] == 2
    assert [sim.get_assignment_state(x).status for x in ids] == ["Approved", "Approved", "Approved", "Submitted"]


def test_hit_without_rejections_is_a_clear_400(api, hit_with):
    # Given
    hit, _ = hit_with("Submitted")
    # When
    response = api.post(f"/hits/{hit}/reversals", {})
    # Then
    assert response.status_code == 400 and "nothing to reverse" in response.json()["message"]


def test_given_throttled_mturk_then_no_item_is_lost(api, sim, hit_with):
    # Given
    hit, ids = hit_with(*["Rejected"] * 40)
    sim.set_throttle(15, burst=3)
    sim.reset_call_log()
    # When
    response = api.post(f"/hits/{hit}/reversals", {"reason": "bulk"})
    body = wait_for(api, response.json()["batchId"], timeout=90)
    # Then
    assert body["counts"]["succeeded"] == 40, body["counts"]
    assert sim.count_calls("ApproveAssignment", outcome="ok") == 40
    assert all(sim.get_assignment_state(x).status == "Approved" for x in ids)


def test_given_a_redelivered_chunk_then_no_item_is_applied_twice(api, sim, hit_with, stack):
    # Given a batch that has completed
    hit, ids = hit_with("Submitted", "Submitted")
    response = api.post("/batches", {"items": [{"assignmentId": i, "action": "approve", "hitId": hit} for i in ids]})
    batch_id = response.json()["batchId"]
    wait_for(api, batch_id)
    sim.reset_call_log()
    # When SQS delivers the same chunk again
    wiring.current().batch_service().process(Chunk(batch_id, hit, [1, 2]), redelivered=True)
    # Then MTurk sees no write and the balance is charged once
    assert sim.count_calls("ApproveAssignment") == 0
    assert sim.balance(DEMO_MTURK_KEY[0]) == Decimal("100.00") - 2 * Decimal("0.60")


def test_given_crash_after_mturk_write_then_redelivery_settles_from_audit_without_second_write(api, sim, hit_with):
    # Given an item whose MTurk write landed and whose decision is SUCCEEDED in the audit, but whose own outcome
    # was never recorded: its change could not join the decision's finalize (the item is read as FAILED, so its
    # condition fails and the record is finalized alone), and the worker died before its separate mark
    hit, (assignment_id,) = hit_with("Rejected")
    batches = wiring.current().batch_service()
    store = batches._store
    original_mark, original_settling = store.mark, store.settling
    crashed = {"done": False}

    def crash_once(batch_id, line, *args, **kwargs):
        ours = store.items(batch_id, [line])[0].item.assignment_id == assignment_id
        if ours and not crashed["done"]:
            crashed["done"] = True
            raise RuntimeError("worker killed after the MTurk call")
        return original_mark(batch_id, line, *args, **kwargs)

    store.mark = crash_once
    store.settling = lambda batch_id, line, was=ItemStatus.QUEUED: original_settling(batch_id, line, ItemStatus.FAILED)
    try:
        response = api.post("/batches", {"items": [{"assignmentId": assignment_id, "action": "reverse", "hitId": hit}]})
        body = wait_for(api, response.json()["batchId"])
    finally:
        store.mark, store.settling = original_mark, original_settling
    # Then the redelivered chunk marked it SUCCEEDED from the audit, with one MTurk write in all
    assert crashed["done"] and body["counts"]["succeeded"] == 1
    approvals = [c for c in sim.calls("ApproveAssignment", outcome="ok") if c.params["AssignmentId"] == assignment_id]
    assert len(approvals) == 1
    history = api.get(f"/assignments/{assignment_id}").json()["history"]
    assert [h["state"] for h in history] == ["SUCCEEDED"]


def test_batch_status_paginates_items(api, sim, hit_with):
    # Given
    hit, ids = hit_with(*["Submitted"] * 5)
    batch_id = api.post("/batches", {"items": [{"assignmentId": i, "action": "approve"} for i in ids]}).json()["batchId"]
    wait_for(api, batch_id)
    # When
    first = api.get(f"/batches/{batch_id}?limit=2").json()
    second = api.get(f"/batches/{batch_id}?limit=2&cursor={first['nextCursor']}").json()
    third = api.get(f"/batches/{batch_id}?limit=2&cursor={second['nextCursor']}").json()
    # Then
    lines = [i["line"] for page in (first, second, third) for i in page["items"]]
    assert lines == [1, 2, 3, 4, 5] and third["nextCursor"] is None


@pytest.mark.parametrize("path,code,status", [
    ("/batches/" + "0" * 32, "BATCH_NOT_FOUND", 404),
    ("/batches/not-a-batch", "INVALID_REQUEST", 400),
])
def test_unknown_or_bad_batch_ids_are_404_or_400(api, path, code, status):
    # When
    response = api.get(path)
    # Then
    assert response.status_code == status and response.json()["code"] == code


@pytest.mark.parametrize("body", [{}, {"items": []}, {"items": "x"}, {"rows": []}])
def test_bad_batch_bodies_are_400(api, body):
    # When
    response = api.post("/batches", body)
    # Then
    assert response.status_code == 400, response.text


# ----- completion, stranded batches, dead letters, retried submits (issue #9) -----


def test_given_the_completion_check_failed_once_then_the_redelivery_announces_the_batch(api, sim, hit_with):
    # Given a batch whose last chunk's completion check fails once (the worker dies right there)
    hit, ids = hit_with("Submitted", "Submitted")
    batches = wiring.current().batch_service()
    store, announced = batches._store, []
    original_complete, original_announce = store.mark_completed, batches._on_completed
    failures = {"left": 1}

    def fail_once(batch_id, at):
        if failures["left"]:
            failures["left"] -= 1
            raise RuntimeError("killed before the completion check")
        return original_complete(batch_id, at)

    store.mark_completed, batches._on_completed = fail_once, announced.append
    try:
        response = api.post("/batches", {"items": [{"assignmentId": i, "action": "approve", "hitId": hit} for i in ids]})
        body = wait_for(api, response.json()["batchId"])
        deadline = time.monotonic() + 20
        while not announced and time.monotonic() < deadline:  # the chunk comes back, with nothing left queued
            time.sleep(0.1)
    finally:
        store.mark_completed, batches._on_completed = original_complete, original_announce
    # Then the batch is COMPLETED and announced exactly once, by the redelivery
    assert body["status"] == "COMPLETED" and failures["left"] == 0
    assert [status.info.batch_id for status in announced] == [response.json()["batchId"]]


def test_given_sqs_refuses_the_send_then_503_with_the_batch_id_and_the_reconciler_queues_it(api, sim, hit_with):
    # Given the work queue refuses messages
    hit, ids = hit_with("Submitted", "Submitted")
    batches = wiring.current().batch_service()
    queue, original_send = batches._queue, batches._queue.send

    def refuse(chunks):
        raise RuntimeError("SQS: ServiceUnavailable")

    queue.send = refuse
    try:
        # When a batch is submitted
        response = api.post("/batches", {"items": [{"assignmentId": i, "action": "approve", "hitId": hit} for i in ids]})
    finally:
        queue.send = original_send
    # Then the caller gets 503 with the batchId (the batch is stored, nothing is lost) and a Retry-After
    assert response.status_code == 503, response.text
    body = response.json()
    assert body["code"] == "QUEUE_UNAVAILABLE" and response.headers["Retry-After"] == "60"
    batch_id = body["batchId"]
    assert api.get(f"/batches/{batch_id}").json()["counts"]["queued"] == 2
    # And once it is stranded long enough, the reconciler queues it and the worker applies it
    sim.clock.advance(minutes=6)
    assert batches.requeue_stranded() == [batch_id]
    assert wait_for(api, batch_id)["counts"]["succeeded"] == 2
    assert batches.requeue_stranded() == []


def test_given_a_chunk_on_its_last_delivery_fails_then_its_items_show_as_dead_lettered(api, sim, hit_with, stack):
    # Given a stored batch whose chunk fails (MTurk down) on the delivery that sends it to the DLQ
    from mturk_decisions.domain.batch import parse_item_list
    from mturk_decisions.domain.errors import MTurkFault

    hit, ids = hit_with("Submitted", "Submitted")
    batches = wiring.current().batch_service()
    queue, original_send = batches._queue, batches._queue.send
    sent = []
    queue.send = sent.extend
    try:
        submission = batches.submit(parse_item_list([{"assignmentId": i, "action": "approve", "hitId": hit}
                                                     for i in ids]), "tester", "json")
    finally:
        queue.send = original_send
    sim.set_fault_rate(1.0, ops="all")
    # When
    with pytest.raises(MTurkFault):
        batches.process(sent[0], redelivered=True, final_attempt=True)
    sim.set_fault_rate(None)
    # Then GET /batches shows them dead-lettered, the batch is COMPLETED (nothing left queued)
    body = api.get(f"/batches/{submission.batch_id}").json()
    assert body["counts"]["deadLettered"] == 2 and body["counts"]["queued"] == 0 and body["status"] == "COMPLETED"
    assert {item["status"] for item in body["items"]} == {"DEAD_LETTERED"}
    # And a redrive from the DLQ applies them after all
    batches.process(sent[0], redelivered=True)
    assert api.get(f"/batches/{submission.batch_id}").json()["counts"]["succeeded"] == 2


@pytest.mark.parametrize("route", ["batches", "hit-reversals"])
def test_given_an_idempotency_key_when_a_submit_is_retried_then_the_same_batch(api, sim, hit_with, route):
    # Given a batch submitted with an Idempotency-Key
    hit, ids = hit_with("Rejected", "Rejected")
    key = {"Idempotency-Key": f"submit-{uuid.uuid4()}"}
    if route == "batches":
        send = lambda: api.post("/batches", {"items": [{"assignmentId": i, "action": "reverse"} for i in ids]},
                                headers=key)
    else:
        send = lambda: api.post(f"/hits/{hit}/reversals", {"reason": "bad rule"}, headers=key)
    first = send()
    # When the same submit is retried
    second = send()
    # Then it is the same batch, and every assignment is reversed once
    assert first.status_code == second.status_code == 202, second.text
    assert first.json()["batchId"] == second.json()["batchId"]
    assert wait_for(api, first.json()["batchId"])["counts"]["succeeded"] == 2
    assert sum(1 for c in sim.calls("ApproveAssignment", outcome="ok") if c.params["AssignmentId"] in ids) == 2


def test_given_the_time_budget_runs_out_then_the_rest_continues_in_a_new_message_each_applied_once(
        api, sim, hit_with):
    # Given a stored batch of 5 approvals and a worker invocation with time for two items only
    from mturk_decisions.domain.batch import parse_item_list

    hit, ids = hit_with(*["Submitted"] * 5)
    batches = wiring.current().batch_service()
    sent, original = [], batches._queue.send
    batches._queue.send = sent.extend
    try:
        submission = batches.submit(parse_item_list([{"assignmentId": i, "action": "approve", "hitId": hit}
                                                     for i in ids]), "tester", "json")
        clock = iter([600.0] + [30.0] * 10)  # seconds left before each item after the first
        # When the invocation processes the chunk
        outcomes = batches.process(sent[0], seconds_left=lambda: next(clock))
    finally:
        batches._queue.send = original
    # Then two items were applied, the other three went back to the queue as a new chunk (not a failure)
    assert outcomes == {"SUCCEEDED": 2, "continued": 3}
    continuation = sent[1]
    assert continuation.lines == [3, 4, 5] and continuation.batch_id == submission.batch_id
    # And the continuation finishes the batch, each assignment approved exactly once
    batches.process(continuation)
    body = api.get(f"/batches/{submission.batch_id}").json()
    assert body["status"] == "COMPLETED" and body["counts"]["succeeded"] == 5
    for assignment_id in ids:
        assert sum(1 for c in sim.calls("ApproveAssignment", outcome="ok")
                   if c.params["AssignmentId"] == assignment_id) == 1


def test_given_a_chunk_cut_off_by_the_time_budget_when_sqs_redelivers_it_too_then_each_item_is_applied_once(
        api, sim, hit_with):
    # Given a stored batch of 5 approvals whose first invocation had time for two items only, and ended before
    # SQS could delete its message (so the chunk comes back as well as its continuation)
    from mturk_decisions.domain.batch import parse_item_list

    hit, ids = hit_with(*["Submitted"] * 5)
    batches = wiring.current().batch_service()
    sent, original = [], batches._queue.send
    batches._queue.send = sent.extend
    try:
        submission = batches.submit(parse_item_list([{"assignmentId": i, "action": "approve", "hitId": hit}
                                                     for i in ids]), "tester", "json")
        chunk = sent[0]
        clock = iter([600.0] + [30.0] * 10)
        assert batches.process(chunk, seconds_left=lambda: next(clock)) == {"SUCCEEDED": 2, "continued": 3}
        # When SQS redelivers the whole chunk, and then the continuation arrives
        redelivered = batches.process(chunk, redelivered=True)
        continued = batches.process(sent[1])
    finally:
        batches._queue.send = original
    # Then the redelivery finished the three items left, the continuation found nothing to do
    assert redelivered == {"SUCCEEDED": 3} and not continued
    body = api.get(f"/batches/{submission.batch_id}").json()
    assert body["status"] == "COMPLETED" and body["counts"]["succeeded"] == 5 and body["counts"]["queued"] == 0
    # And every assignment was approved exactly once
    for assignment_id in ids:
        assert sum(1 for c in sim.calls("ApproveAssignment", outcome="ok")
                   if c.params["AssignmentId"] == assignment_id) == 1
