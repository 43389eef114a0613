"""What the API answers when things happen at once, and what it records (issue #9): one writer per
assignment, idempotency scoped to the caller, answers that outlive a lost save, schedules that are claimed."""
from __future__ import annotations

import time
import uuid
from datetime import timedelta

import boto3
import pytest

from local.gateway import LocalPrincipal
from mturk_decisions import wiring
from mturk_decisions.domain.model import Action, DecisionRequest
from tests.integration.conftest import SignedApi

OTHER = LocalPrincipal(access_key_id="LOCALOTHERCALLERKEY1", secret_access_key="other-caller-secret-not-a-real-key",
                       arn="arn:aws:iam::000000000000:user/other-requester")


@pytest.fixture()
def other_api(stack):
    """A second IAM principal of the same account."""
    stack.gateway.principals[OTHER.access_key_id] = OTHER
    return SignedApi(stack.gateway.url, OTHER.access_key_id, OTHER.secret_access_key)


def history(api, assignment_id):
    return api.get(f"/assignments/{assignment_id}").json()["history"]


def test_given_a_decision_in_flight_then_a_second_caller_gets_409_decision_in_progress(api, sim, seed):
    # Given a decision holds the assignment's lease (written ahead, its MTurk call not answered yet)
    assignment_id = seed("Submitted")
    service = wiring.current().service
    plan = service.plan(DecisionRequest(assignment_id=assignment_id, action=Action.REJECT, feedback="first"))
    holder = service._new_record(plan)
    service.audit.write_ahead(holder, sim.clock.now() + timedelta(minutes=16))
    sim.reset_call_log()
    # When another caller decides
    response = api.post(f"/assignments/{assignment_id}/reject", {"feedback": "second"})
    # Then 409 with Retry-After and the holder's decision id; nothing reached MTurk; no second record
    assert response.status_code == 409, response.text
    body = response.json()
    assert body["code"] == "DECISION_IN_PROGRESS" and body["holderDecisionId"] == holder.decision_id
    assert response.headers["Retry-After"] == "1"
    assert sim.count_calls("RejectAssignment") == 0
    assert [h["decisionId"] for h in history(api, assignment_id)] == [holder.decision_id]


def test_given_another_principal_replays_a_key_then_it_is_a_different_request(api, other_api, sim, seed):
    # Given the first principal rejected with a key
    assignment_id = seed("Submitted")
    key = {"Idempotency-Key": str(uuid.uuid4())}
    first = api.post(f"/assignments/{assignment_id}/reject", {"feedback": "no"}, headers=key)
    # When a second principal sends the same key and body
    second = other_api.post(f"/assignments/{assignment_id}/reject", {"feedback": "no"}, headers=key)
    # Then it does not receive the first principal's decision: its own request is refused by state
    assert first.status_code == 200
    assert second.status_code == 409 and second.json()["code"] == "INVALID_ASSIGNMENT_STATE"
    assert "decision" not in second.json()


def test_given_the_answer_cannot_be_saved_after_mturk_applied_then_200_with_a_warning(api, sim, seed, monkeypatch):
    # Given the idempotency store fails when the answer is saved
    assignment_id = seed("Submitted")
    persistence = wiring.current().idempotency_persistence

    def save_fails(*args, **kwargs):
        raise RuntimeError("DynamoDB: ProvisionedThroughputExceeded")

    monkeypatch.setattr(persistence, "save_success", save_fails)
    # When
    response = api.post(f"/assignments/{assignment_id}/reject", {"feedback": "no"},
                        headers={"Idempotency-Key": str(uuid.uuid4())})
    # Then the decision stands and says so: never "nothing was changed"
    assert response.status_code == 200, response.text
    assert response.json()["decision"]["state"] == "SUCCEEDED"
    assert "could not be saved" in response.headers["Warning"]
    assert sim.get_assignment_state(assignment_id).status == "Rejected"


def test_given_the_in_progress_record_expired_then_a_retry_answers_the_first_decision(api, sim, seed, stack):
    # Given a keyed rejection whose function died after deciding: its idempotency record is still
    # IN_PROGRESS, and has expired
    assignment_id = seed("Submitted")
    key = {"Idempotency-Key": str(uuid.uuid4())}
    first = api.post(f"/assignments/{assignment_id}/reject", {"feedback": "no"}, headers=key).json()
    table = boto3.resource("dynamodb", endpoint_url=stack.moto_url).Table(stack.env["IDEMPOTENCY_TABLE_NAME"])
    for item in table.scan()["Items"]:
        if item.get("data", "").find(first["decision"]["decisionId"]) >= 0:
            table.update_item(Key={"id": item["id"]}, UpdateExpression="SET #s = :s, in_progress_expiration = :past",
                              ExpressionAttributeNames={"#s": "status"},
                              ExpressionAttributeValues={":s": "INPROGRESS", ":past": int(time.time() * 1000) - 1})
    # When the caller retries with the same key
    retry = api.post(f"/assignments/{assignment_id}/reject", {"feedback": "no"}, headers=key)
    # Then it answers the first decision (from the audit), not 409
    assert retry.status_code == 200, retry.text
    assert retry.json()["decision"]["decisionId"] == first["decision"]["decisionId"]
    assert len(history(api, assignment_id)) == 1


def test_given_a_provisional_duration_that_overflows_then_400_even_in_a_dry_run(api, seed):
    # Given
    assignment_id = seed("Submitted")
    # When / Then with or without a dry run
    for query in ("?dryRun=true", ""):
        response = api.post(f"/assignments/{assignment_id}/reject{query}",
                            {"feedback": "no", "provisionalFor": "P9999999999D"})
        assert response.status_code == 400, response.text
        assert response.json()["code"] == "INVALID_REQUEST" and response.json()["field"] == "provisionalFor"


def test_given_a_reversal_time_inside_the_safety_margin_then_409_window_closing(api, sim, seed):
    # Given
    assignment_id = seed("Rejected", days_ago=20)
    deadline = sim.get_assignment_state(assignment_id).submit_time + timedelta(days=30)
    # When
    response = api.post(f"/assignments/{assignment_id}/reverse",
                        {"at": (deadline - timedelta(seconds=1)).isoformat()})
    # Then
    assert response.status_code == 409 and response.json()["code"] == "REVERSAL_WINDOW_CLOSING"
    assert "latestAt" in response.json()


def test_given_the_sweep_holds_a_schedule_then_confirm_and_cancel_answer_409_with_its_state(api, sim, seed):
    # Given a provisional rejection, due, claimed by a sweep that is reversing it
    assignment_id = seed("Submitted")
    api.post(f"/assignments/{assignment_id}/reject", {"feedback": "no", "provisionalFor": "PT1H"})
    sim.clock.advance(hours=2)
    store = wiring.current().scheduler._store
    now = sim.clock.now()
    assert store.claim(store.get(assignment_id), "sweep-1", now + timedelta(minutes=16), now) is not None
    # When the requester confirms, or cancels
    for method, path in (("POST", "confirm"), ("DELETE", "scheduled-reversal")):
        response = api.request(method, f"/assignments/{assignment_id}/{path}")
        # Then 409 with the real state; nothing changed
        assert response.status_code == 409, response.text
        assert response.json()["code"] == "SCHEDULE_NOT_PENDING" and response.json()["state"] == "RUNNING"
    assert store.get(assignment_id).state == "RUNNING"



def test_given_an_idempotency_key_when_a_scheduled_reversal_is_retried_then_one_schedule(api, sim, seed):
    # Given a reversal scheduled for tomorrow with a key
    assignment_id = seed("Rejected", days_ago=2)
    key = {"Idempotency-Key": str(uuid.uuid4())}
    body = {"at": (sim.clock.now() + timedelta(days=1)).isoformat(), "reason": "after review"}
    first = api.post(f"/assignments/{assignment_id}/reverse", body, headers=key)
    # When the same request is retried
    second = api.post(f"/assignments/{assignment_id}/reverse", body, headers=key)
    # Then the same answer (202, the same schedule), not REVERSAL_ALREADY_SCHEDULED
    assert first.status_code == second.status_code == 202, second.text
    assert first.json() == second.json()
    # And without the key the retry is refused: an automatic reversal already waits
    third = api.post(f"/assignments/{assignment_id}/reverse", body)
    assert third.status_code == 409 and third.json()["code"] == "REVERSAL_ALREADY_SCHEDULED"


def test_given_the_audit_table_cannot_be_read_when_decisions_are_listed_then_503_audit_unavailable(api, monkeypatch):
    # Given DynamoDB failing every query of the audit's by-worker index (throttled, unreachable)
    from pynamodb.exceptions import QueryError

    from mturk_decisions import wiring

    audit = wiring.current().service.audit

    def failing(*args, **kwargs):
        raise QueryError("Failed to query items: Could not connect to the endpoint URL")

    monkeypatch.setattr(audit._model.by_worker, "query", failing)
    # When a requester lists a worker's decisions
    response = api.get("/decisions?workerId=A1UNREADABLEAUDIT")
    # Then a retryable 503 with its code, not a 500
    assert response.status_code == 503, response.text
    assert response.json()["code"] == "AUDIT_UNAVAILABLE"
