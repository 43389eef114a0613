"""The OpenAPI document says what the API answers (issue 11): every status of every operation, one error
schema, typed bodies, 202 for accepted work, both bodies of POST /batches, SigV4 on every operation,
`Idempotency-Key` and `Retry-After` where they apply; the committed `openapi.json` is the code's document."""
from __future__ import annotations

import json
import re
from pathlib import Path

import pytest
from openapi_spec_validator import validate

from mturk_decisions.api.openapi import GATEWAY, GATEWAY_BODY, OTHER_GATEWAY_CODES, _error_classes, document_json

ROOT = Path(__file__).resolve().parents[2]
COMMITTED = ROOT / "openapi.json"
DOCUMENT = json.loads(document_json())
EVERY = {400, 403, 414, 429, 431, 502, 503, 504}
BODY = {413, 415}
#: Every status each operation can answer: its own, the body's, and what every operation can answer.
STATUSES = {
    ("post", "/assignments/{assignmentId}/reject"): {200, 404, 409, 422} | BODY | EVERY,
    ("post", "/assignments/{assignmentId}/reverse"): {200, 202, 402, 404, 409, 422} | BODY | EVERY,
    ("post", "/assignments/{assignmentId}/approve"): {200, 402, 404, 409, 422} | BODY | EVERY,
    ("post", "/assignments/{assignmentId}/confirm"): {200, 404, 409} | EVERY,
    ("delete", "/assignments/{assignmentId}/scheduled-reversal"): {200, 404, 409} | EVERY,
    ("put", "/hit-types/{hitTypeId}/notifications"): {200, 404, 422} | BODY | EVERY,
    ("get", "/assignments/{assignmentId}"): {200, 404, 422} | EVERY,
    ("get", "/decisions"): {200} | EVERY,
    ("get", "/scheduled-reversals"): {200, 503} | EVERY,
    ("post", "/batches"): {200, 202, 409, 422} | BODY | EVERY,
    ("post", "/hits/{hitId}/reversals"): {200, 202, 404, 409, 422} | BODY | EVERY,
    ("get", "/batches/{batchId}"): {200, 404} | EVERY,
    ("post", "/batches/uploads"): {201, 409, 422} | BODY | EVERY,
    ("get", "/batches/{batchId}/plan"): {200, 404, 422} | EVERY,
    ("post", "/batches/{batchId}/apply"): {202, 404, 409, 422} | EVERY,
}
IDEMPOTENT = {"rejectAssignment", "reverseAssignment", "approveAssignment", "submitBatch", "reverseHit",
              "createUpload", "applyUpload"}


def operations():
    for path, methods in DOCUMENT["paths"].items():
        for method, operation in methods.items():
            yield method, path, operation


def resolve(schema: dict) -> dict:
    name = schema["$ref"].rsplit("/", 1)[-1]
    return DOCUMENT["components"]["schemas"][name]


def test_given_the_code_then_the_committed_openapi_json_is_its_document():
    # Given the document the routes generate, When the committed file is read
    committed = COMMITTED.read_text(encoding="utf-8")
    # Then they are the same text
    assert committed == document_json(), "openapi.json is out of date: run `make openapi` and commit it"


def test_given_the_document_then_it_is_valid_openapi_3_1():
    # When / Then
    assert DOCUMENT["openapi"].startswith("3.1")
    validate(DOCUMENT)


def test_given_every_operation_then_it_lists_every_status_it_can_answer():
    # When
    documented = {(method, path): {int(status) for status in operation["responses"]}
                  for method, path, operation in operations()}
    # Then
    assert documented == STATUSES


def test_given_every_error_answer_then_it_is_the_one_shared_error_schema():
    # When / Then: no Powertools HTTPValidationError, every 4xx and 5xx is ErrorBody, described by its codes
    assert "HTTPValidationError" not in DOCUMENT["components"]["schemas"]
    for method, path, operation in operations():
        for status, response in operation["responses"].items():
            if int(status) >= 400:
                assert response["content"]["application/json"]["schema"] == {"$ref": "#/components/schemas/ErrorBody"}
                assert re.search(r": [A-Z_0-9]+", response["description"]), (method, path, status)
    error_body = DOCUMENT["components"]["schemas"]["ErrorBody"]
    assert error_body["required"] == ["code", "message"]
    assert error_body["properties"]["code"] == {"$ref": "#/components/schemas/ErrorCode"}


def _documented_error_codes() -> set[str]:
    """The codes of the Errors table in docs/api.md (the API's reference; the README links to it)."""
    readme = (ROOT / "docs" / "api.md").read_text(encoding="utf-8")
    section = readme[readme.index("### Errors"):]
    section = section[:section.index("\n### ", 1)]
    rows = [line.split("|")[2] for line in section.splitlines() if line.startswith("| ") and "`" in line]
    return {code for row in rows for code in re.findall(r"`([A-Z][A-Z0-9_]+)`", row)}


def test_given_the_code_enum_then_it_is_every_code_the_api_and_its_gateway_answer_and_the_docs_list():
    # Given the domain's errors and the gateway's
    domain = {error.code for error in _error_classes()}
    gateway = {error.code for error in GATEWAY + GATEWAY_BODY} | set(OTHER_GATEWAY_CODES)
    # When
    enum = set(DOCUMENT["components"]["schemas"]["ErrorCode"]["enum"])
    # Then the enum is exactly those, and the Errors table of docs/api.md lists each one
    assert "HIT_NOT_FOUND" in domain
    assert enum == domain | gateway
    assert _documented_error_codes() == enum


def test_given_every_success_then_its_body_is_typed():
    # When / Then: each 2xx body is a named model (or a choice of named models) with typed properties
    for method, path, operation in operations():
        for status, response in operation["responses"].items():
            if int(status) >= 300:
                continue
            schema = response["content"]["application/json"]["schema"]
            choices = schema.get("anyOf", [schema])
            for choice in choices:
                model = resolve(choice)
                assert model["type"] == "object" and model["properties"] and model["required"], (method, path, status)
                assert model.get("additionalProperties") is not True, (method, path, status)


@pytest.mark.parametrize("operation_id", ["submitBatch", "reverseHit", "reverseAssignment"])
def test_given_work_accepted_for_later_then_202_is_documented(operation_id):
    # When
    [operation] = [op for _, _, op in operations() if op["operationId"] == operation_id]
    # Then
    assert "202" in operation["responses"]


def test_given_post_batches_then_both_json_and_csv_bodies_are_documented():
    # When
    body = DOCUMENT["paths"]["/batches"]["post"]["requestBody"]
    # Then
    assert body["required"] is True
    assert body["content"]["application/json"]["schema"] == {"$ref": "#/components/schemas/BatchRequest"}
    assert body["content"]["text/csv"]["schema"]["type"] == "string"
    assert resolve({"$ref": "#/components/schemas/BatchItemRequest"})["additionalProperties"] is False


def test_given_every_operation_then_it_is_sigv4_signed():
    # When
    scheme = DOCUMENT["components"]["securitySchemes"]["sigv4"]
    # Then API Gateway's awsSigv4 auth type, in the Authorization header, on every operation
    assert scheme == {**scheme, "type": "apiKey", "in": "header", "name": "Authorization",
                      "x-amazon-apigateway-authtype": "awsSigv4"}
    assert DOCUMENT["security"] == [{"sigv4": []}]
    assert all(operation["security"] == [{"sigv4": []}] for _, _, operation in operations())


def test_given_the_writes_then_exactly_they_take_an_idempotency_key():
    # When
    taking = {operation["operationId"] for _, _, operation in operations()
              if any(p["name"] == "Idempotency-Key" and p["in"] == "header" for p in operation.get("parameters", []))}
    # Then
    assert taking == IDEMPOTENT


def test_given_answers_that_carry_retry_after_then_the_header_is_documented_there_only():
    # When / Then: 409 where DECISION_IN_PROGRESS or REQUEST_IN_PROGRESS can answer, 429 where MTurk's throttle
    # can, 503 where QUEUE_UNAVAILABLE can; the gateway's own 429 THROTTLED carries none
    carriers = ("DECISION_IN_PROGRESS", "REQUEST_IN_PROGRESS", "MTURK_THROTTLED", "QUEUE_UNAVAILABLE")
    for method, path, operation in operations():
        for status, response in operation["responses"].items():
            carries = any(code in response["description"] for code in carriers)
            assert ("Retry-After" in response.get("headers", {})) == carries, (method, path, status)
            if carries:
                assert status in ("409", "429", "503")


def test_given_a_batch_accepted_then_a_link_leads_to_its_progress():
    # When
    links = DOCUMENT["paths"]["/batches"]["post"]["responses"]["202"]["links"]
    # Then
    assert links["GetBatch"] == {**links["GetBatch"], "operationId": "getBatch",
                                 "parameters": {"batchId": "$response.body#/batchId"}}


def test_given_the_running_api_then_it_serves_the_committed_document(api):
    # When
    response = api.get("/swagger?format=json")
    # Then
    assert response.status_code == 200, response.text
    assert response.json() == json.loads(COMMITTED.read_text(encoding="utf-8"))
