"""A batch item settles with its decision: the item's SUCCEEDED and META's counters land in the same DynamoDB
transaction as the decision's SUCCEEDED finalize (never one without the other, one round trip fewer), and an
item's own change survives meeting another transaction on META (DynamoDB's TransactionConflict)."""
from __future__ import annotations

import json
import uuid
from datetime import UTC, datetime, timedelta

import pytest
from botocore.awsrequest import AWSResponse

from local.stack import DEMO_MTURK_KEY
from mturk_decisions import wiring
from mturk_decisions.domain.batch import BatchItem, ItemStatus
from mturk_decisions.domain.batch_records import BatchInfo
from mturk_decisions.domain.model import Action
from tests.integration.test_batches import wait_for
from tests.waiting import wait_until


@pytest.fixture()
def rejected_hit(sim):
    def _hit(count: int) -> tuple[str, list[str]]:
        hit = sim.add_hit(DEMO_MTURK_KEY[0], reward="0.50", max_assignments=count)
        submitted = sim.clock.now() - timedelta(days=2)
        return hit, [sim.add_assignment(hit, status="Rejected", submitted_at=submitted) for _ in range(count)]
    return _hit


@pytest.fixture()
def transaction_conflicts():
    """The next `n` TransactWriteItems of the batch table's client are cancelled with TransactionConflict on
    their second item (META), as DynamoDB answers when another transaction holds it: a before-call hook answers
    in DynamoDB's place."""
    store = wiring.current().batch_service()._store
    client = store._model._get_connection().connection.client
    left = {"conflicts": 0, "answered": 0}

    def answer(params, **_):
        if left["conflicts"] <= 0:
            return None
        left["conflicts"] -= 1
        left["answered"] += 1
        reasons = [{"Code": "None"}, {"Code": "TransactionConflict", "Message": "Transaction is ongoing for the item"}]
        body = {"Error": {"Code": "TransactionCanceledException", "Message": "Transaction cancelled, please refer "
                          "cancellation reasons for specific reasons [None, TransactionConflict]"},
                "CancellationReasons": reasons}
        return AWSResponse("https://dynamodb", 400, {}, None), body

    client.meta.events.register_first("before-call.dynamodb.TransactWriteItems", answer)
    yield store, left
    client.meta.events.unregister("before-call.dynamodb.TransactWriteItems", answer)


def test_given_a_batch_of_reversals_when_it_runs_then_each_success_settles_in_its_decisions_finalize(
        api, sim, rejected_hit, monkeypatch):
    # Given three rejected assignments, and the batch store's separate marks counted
    hit, ids = rejected_hit(3)
    store = wiring.current().batch_service()._store
    marks: list[str] = []
    mark = store.mark
    monkeypatch.setattr(store, "mark", lambda *args, **kwargs: marks.append(args[2].value) or mark(*args, **kwargs))
    # When they are reversed as one batch
    response = api.post("/batches", {"items": [{"assignmentId": i, "action": "reverse", "hitId": hit} for i in ids]})
    body = wait_for(api, response.json()["batchId"])
    # Then every item is SUCCEEDED with its decision, counted, and none needed a mark of its own
    assert body["counts"]["succeeded"] == 3 and body["counts"]["queued"] == 0
    decided = {i: api.get(f"/assignments/{i}").json()["history"][0] for i in ids}
    assert {item["assignmentId"]: item["decisionId"] for item in body["items"]} == {
        i: record["decisionId"] for i, record in decided.items()}
    assert {record["state"] for record in decided.values()} == {"SUCCEEDED"}
    assert ItemStatus.SUCCEEDED.value not in marks


def test_given_the_items_change_cannot_join_when_its_decision_succeeds_then_both_are_still_recorded(
        api, sim, rejected_hit, monkeypatch):
    # Given an item whose change cannot land with its decision (read as FAILED: its condition fails)
    hit, (assignment_id,) = rejected_hit(1)
    store = wiring.current().batch_service()._store
    settling = store.settling
    monkeypatch.setattr(store, "settling", lambda batch_id, line, was=ItemStatus.QUEUED: settling(
        batch_id, line, ItemStatus.FAILED))
    # When it is reversed in a batch
    response = api.post("/batches", {"items": [{"assignmentId": assignment_id, "action": "reverse", "hitId": hit}]})
    body = wait_for(api, response.json()["batchId"])
    # Then the decision was finalized alone and the item marked by itself: SUCCEEDED both, counted once
    assert body["counts"]["succeeded"] == 1 and body["items"][0]["status"] == "SUCCEEDED"
    assert api.get(f"/assignments/{assignment_id}").json()["history"][0]["state"] == "SUCCEEDED"
    assert [c.params["AssignmentId"] for c in sim.calls("ApproveAssignment", outcome="ok")].count(assignment_id) == 1


def test_given_a_conflict_on_meta_when_an_item_is_marked_then_it_is_tried_again_and_counted_once(
        transaction_conflicts):
    # Given a stored batch of one queued item, and DynamoDB answering the next two transactions with a conflict
    store, conflicts = transaction_conflicts
    batch_id = f"settle-{uuid.uuid4().hex[:12]}"
    info = BatchInfo(batch_id, datetime.now(UTC), "tester", "test", 1)
    assert store.create(info, [BatchItem(1, "A" * 30, Action.REVERSE)], [])
    store.mark_queued(batch_id)  # not left for the reconciler to queue
    conflicts["conflicts"] = 2
    # When the item is marked REFUSED
    marked = store.mark(batch_id, 1, ItemStatus.REFUSED, code="ASSIGNMENT_NOT_FOUND", message="no such assignment")
    # Then the mark landed on its third attempt: the item REFUSED, META's counters moved once
    assert marked and conflicts["answered"] == 2
    assert [s.status for s in store.items(batch_id, [1])] == [ItemStatus.REFUSED]
    counts = store.info(batch_id).counts or {}
    assert counts.get(ItemStatus.REFUSED) == 1 and counts.get(ItemStatus.QUEUED) == 0


def test_given_a_batch_of_twelve_when_it_runs_then_its_decisions_events_go_ten_to_a_put_events(
        api, sim, rejected_hit, stack):
    # Given twelve rejected assignments, and moto's PutEvents requests counted with their entries
    hit, ids = rejected_hit(12)
    sent: list[int] = []

    def count(prefix, operation, body):
        if operation == "PutEvents":
            sent.append(len(json.loads(body)["Entries"]))

    stack.moto.app.observers.append(count)
    try:
        # When they are reversed as one batch
        response = api.post("/batches", {"items": [{"assignmentId": i, "action": "reverse", "hitId": hit} for i in ids]})
        body = wait_for(api, response.json()["batchId"])
        # (the batch's own event is published after its status says COMPLETED: waited for, not raced)
        wait_until(lambda: sum(sent) >= 13, "the thirteenth event: the batch's own")
    finally:
        stack.moto.app.observers.remove(count)
    # Then the twelve Rejection Reversed events went in two calls (10 and 2), and the batch's own event in one
    assert body["counts"]["succeeded"] == 12
    assert sorted(sent) == [1, 2, 10]
