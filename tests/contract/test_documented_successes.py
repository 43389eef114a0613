"""Every documented success, produced for real, is the answer the document describes.

Generated requests (tests/reliability/test_fuzz_api.py) mostly name assignments that do not exist; here each
operation is called on seeded assignments, HITs and batches so that its 200 and 202 answers (and a few
errors with headers) are checked by schemathesis against the document: status code, content type, body
schema and headers.
"""
from __future__ import annotations

from datetime import timedelta

import pytest

schemathesis = pytest.importorskip("schemathesis")

from schemathesis.checks import not_a_server_error  # noqa: E402
from schemathesis.specs.openapi.checks import (  # noqa: E402
    content_type_conformance,
    response_headers_conformance,
    response_schema_conformance,
    status_code_conformance,
)

from local.stack import DEMO_PRINCIPAL  # noqa: E402
from tests.contract.test_openapi_document import DOCUMENT  # noqa: E402
from tests.integration.test_input_hardening import hit_and_type_of  # noqa: E402
from tests.reliability.harness import SigV4RequestsAuth  # noqa: E402

SCHEMA = schemathesis.openapi.from_dict(DOCUMENT)
CHECKS = [not_a_server_error, status_code_conformance, content_type_conformance, response_schema_conformance,
          response_headers_conformance]
SIGNED = SigV4RequestsAuth(DEMO_PRINCIPAL.access_key_id, DEMO_PRINCIPAL.secret_access_key)


@pytest.fixture()
def call(stack):
    """Call an operation by its operationId and check the answer against the document; return it."""

    def _call(operation_id: str, status: int, **case):
        operation = SCHEMA.find_operation_by_id(operation_id)
        made = operation.Case(**case)
        response = made.call(base_url=stack.gateway.url, auth=SIGNED, timeout=30)
        made.validate_response(response, checks=CHECKS)
        assert response.status_code == status, response.text
        return response.json()

    return _call


def test_given_decisions_then_each_answer_is_documented(call, seed):
    # Given a submitted assignment, a rejected one and another submitted one
    submitted, rejected, approvable = seed("Submitted"), seed("Rejected", days_ago=2), seed("Submitted")
    # When each decision is planned, then made
    plan = call("rejectAssignment", 200, path_parameters={"assignmentId": submitted}, query={"dryRun": "true"},
                body={"feedback": "Labels missing."}, media_type="application/json")
    decided = call("rejectAssignment", 200, path_parameters={"assignmentId": submitted},
                   body={"feedback": "Labels missing.", "reason": "QA 7"}, media_type="application/json",
                   headers={"Idempotency-Key": "contract-reject-1"})
    reversed_ = call("reverseAssignment", 200, path_parameters={"assignmentId": rejected})
    approved = call("approveAssignment", 200, path_parameters={"assignmentId": approvable},
                    body={"feedback": "Thanks"}, media_type="application/json")
    # Then (the checks passed in `call`)
    assert plan["dryRun"] is True and decided["decision"]["state"] == "SUCCEEDED"
    assert reversed_["assignment"]["status"] == "Approved" and approved["cost"]["total"]


def test_given_automatic_reversals_then_each_answer_is_documented(call, seed, sim):
    # Given a provisional rejection, and a reversal scheduled for later
    provisional, scheduled = seed("Submitted"), seed("Rejected", days_ago=2)
    call("rejectAssignment", 200, path_parameters={"assignmentId": provisional},
         body={"feedback": "Looks copied", "provisionalFor": "PT48H"}, media_type="application/json")
    at = (sim.clock.now() + timedelta(days=3)).isoformat()
    accepted = call("reverseAssignment", 202, path_parameters={"assignmentId": scheduled}, body={"at": at},
                    media_type="application/json")
    # When they are read, confirmed and cancelled
    details = call("getAssignment", 200, path_parameters={"assignmentId": provisional})
    confirmed = call("confirmProvisionalRejection", 200, path_parameters={"assignmentId": provisional})
    cancelled = call("cancelScheduledReversal", 200, path_parameters={"assignmentId": scheduled})
    # Then
    assert accepted["scheduledReversal"]["kind"] == "scheduled"
    assert details["scheduledReversal"]["kind"] == "provisional"
    assert confirmed["scheduledReversal"]["state"] == "CONFIRMED"
    assert cancelled["scheduledReversal"]["state"] == "CANCELLED"


def test_given_batches_then_each_answer_is_documented(call, seed, sim):
    # Given assignments of one HIT
    first = seed("Submitted")
    hit_id, hit_type_id = hit_and_type_of(sim, first)
    second = seed("Rejected", hit_id=hit_id, days_ago=2)
    items = {"items": [{"assignmentId": first, "action": "approve", "hitId": hit_id},
                       {"assignmentId": "3NOSUCHASSIGNMENT000000000000001", "action": "reject", "feedback": "No"}]}
    csv = f"HITId,AssignmentId,Approve,Reject\r\n{hit_id},{second},x,\r\n{hit_id},{first},,\r\n".encode()
    # When they are planned, submitted (JSON and CSV) and followed
    plan = call("submitBatch", 200, query={"dryRun": "true"}, body=items, media_type="application/json")
    submitted = call("submitBatch", 202, body=items, media_type="application/json")
    call("submitBatch", 202, body=csv, media_type="text/csv", query={"reason": "contract"})
    progress = call("getBatch", 200, path_parameters={"batchId": submitted["batchId"]}, query={"limit": 1})
    hit_plan = call("reverseHit", 200, path_parameters={"hitId": hit_id}, query={"dryRun": "true"})
    call("reverseHit", 202, path_parameters={"hitId": hit_id}, body={"reason": "contract"},
         media_type="application/json")
    # Then
    assert [item["outcome"] for item in plan["plan"]["items"]] == ["approve", "refused"]
    assert progress["total"] == 2 and len(progress["items"]) == 1 and progress["nextCursor"] == "1"
    assert hit_plan["plan"]["totals"]["reverse"] == 1


def test_given_the_audit_and_notifications_then_each_answer_is_documented(call, seed, sim):
    # Given a decision in the audit
    assignment_id = seed("Submitted", worker_id="ACONTRACTWORKER1")
    hit_id, hit_type_id = hit_and_type_of(sim, assignment_id)
    call("approveAssignment", 200, path_parameters={"assignmentId": assignment_id})
    # When the audit is listed by worker and by HIT, and notifications are set
    by_worker = call("listDecisions", 200, query={"workerId": "ACONTRACTWORKER1", "limit": 1})
    by_hit = call("listDecisions", 200, query={"hitId": hit_id})
    settings = call("setHitTypeNotifications", 200, path_parameters={"hitTypeId": hit_type_id},
                    body={"active": True}, media_type="application/json")
    # Then
    assert by_worker["decisions"][0]["assignmentId"] == assignment_id and by_hit["nextCursor"] is None
    assert settings["hitTypeId"] == hit_type_id and settings["active"] is True


def test_given_mturk_throttles_then_the_429_and_its_retry_after_are_documented(call, seed, sim):
    # Given MTurk throttling every call after the first
    assignment_id = seed("Submitted")
    sim.set_throttle(0.001, burst=1)
    # When
    body = call("rejectAssignment", 429, path_parameters={"assignmentId": assignment_id},
                body={"feedback": "no"}, media_type="application/json")
    # Then
    assert body["code"] == "MTURK_THROTTLED" and body["retryAfterSeconds"] >= 1
