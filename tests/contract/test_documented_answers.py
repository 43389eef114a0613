"""Answers that match the documentation (issue 11): each test reproduces one finding, through the signed
local gateway, and checks the answer the README's Errors table and the OpenAPI document give."""
from __future__ import annotations

import http.client
import json
from urllib.parse import urlsplit

import pytest

UNKNOWN = "3NOSUCHTHING00000000000000000001"


def refused(response, status: int, code: str) -> dict:
    assert response.status_code == status, response.text
    assert response.headers["Content-Type"].startswith("application/json"), response.headers
    body = response.json()
    assert body["code"] == code, body
    return body


class TestFormEncodedBodies:
    @pytest.mark.parametrize("action", ["reject", "reverse", "approve"])
    def test_given_curls_default_form_encoding_when_deciding_then_415_with_the_hint(self, api, sim, seed, action):
        # Given an assignment, and the body `curl -d '{"feedback":"x"}'` sends (form-encoded, not JSON)
        assignment_id = seed("Submitted")
        # When
        response = api.request("POST", f"/assignments/{assignment_id}/{action}", raw=b'{"feedback":"x"}',
                               headers={"Content-Type": "application/x-www-form-urlencoded"})
        # Then 415 with the hint to send JSON, and nothing reached MTurk
        body = refused(response, 415, "UNSUPPORTED_MEDIA_TYPE")
        assert "Content-Type: application/json" in body["message"] and "curl -d" in body["message"]
        assert sim.count_calls("RejectAssignment") + sim.count_calls("ApproveAssignment") == 0

    @pytest.mark.parametrize("content_type", ["application/x-www-form-urlencoded", "multipart/form-data; boundary=x",
                                              "application/xml"])
    def test_given_a_body_that_is_neither_json_nor_csv_when_batching_then_415(self, api, content_type):
        # When
        response = api.request("POST", "/batches", raw=b"--x\r\n\r\nitems\r\n--x--\r\n",
                               headers={"Content-Type": content_type})
        # Then
        refused(response, 415, "UNSUPPORTED_MEDIA_TYPE")


class TestUnknownHits:
    def test_given_an_unknown_hit_when_reversing_it_then_404_hit_not_found(self, api):
        # When
        response = api.post(f"/hits/{UNKNOWN}/reversals", {})
        # Then
        body = refused(response, 404, "HIT_NOT_FOUND")
        assert body["hitId"] == UNKNOWN

    def test_given_an_unknown_hit_when_planning_its_reversal_then_404_hit_not_found(self, api):
        # When
        response = api.post(f"/hits/{UNKNOWN}/reversals?dryRun=true", {})
        # Then
        refused(response, 404, "HIT_NOT_FOUND")

    def test_given_an_unknown_hit_type_when_setting_notifications_then_404_hit_not_found(self, api):
        # When
        response = api.request("PUT", f"/hit-types/{UNKNOWN}/notifications", {"active": True})
        # Then
        body = refused(response, 404, "HIT_NOT_FOUND")
        assert body["hitTypeId"] == UNKNOWN

    def test_given_a_batch_item_naming_an_unknown_hit_then_its_assignment_is_planned_as_usual(self, api, seed):
        # Given an assignment, listed under a HIT MTurk does not know
        assignment_id = seed("Submitted")
        items = [{"assignmentId": assignment_id, "action": "approve", "hitId": UNKNOWN}]
        # When
        response = api.post("/batches?dryRun=true", {"items": items})
        # Then the item is read on its own: no MTURK_REQUEST_REJECTED anywhere
        assert response.status_code == 200, response.text
        assert [item["outcome"] for item in response.json()["plan"]["items"]] == ["approve"]


class TestMissingFeedback:
    @pytest.mark.parametrize("raw", [b"{}", b'{"feedback": null}', b""], ids=["empty-object", "null", "no-body"])
    def test_given_no_feedback_when_rejecting_then_400_invalid_feedback_rule_required(self, api, sim, seed, raw):
        # Given
        assignment_id = seed("Submitted")
        # When
        response = api.request("POST", f"/assignments/{assignment_id}/reject", raw=raw)
        # Then
        body = refused(response, 400, "INVALID_FEEDBACK")
        assert body["rule"] == "REQUIRED"
        assert sim.count_calls("RejectAssignment") == 0

    def test_given_feedback_missing_next_to_an_unknown_field_then_both_are_named(self, api, seed):
        # Given a misspelled field: the caller is told about it, not only about the missing feedback
        assignment_id = seed("Submitted")
        # When
        response = api.post(f"/assignments/{assignment_id}/reject", {"feedbak": "typo"})
        # Then
        body = refused(response, 400, "INVALID_REQUEST")
        assert {error["field"] for error in body["errors"]} == {"feedback", "feedbak"}


class TestIdsInWords:
    @pytest.mark.parametrize("path,field,words", [
        ("/assignments/lower-case", "assignmentId", "an MTurk id: 1–64 capital letters and digits"),
        ("/batches/NOT-A-BATCH", "batchId", "a batch id: 32 lowercase hexadecimal digits"),
        ("/decisions?workerId=B123", "workerId", "an MTurk worker id: A, then 1–63 capital letters and digits"),
    ])
    def test_given_a_malformed_id_then_the_answer_says_what_an_id_is_in_words(self, api, path, field, words):
        # When
        response = api.get(path)
        # Then no regular expression, the id's shape in words, and the field named
        body = refused(response, 400, "INVALID_REQUEST")
        assert body["field"] == field and words in body["message"], body
        assert "pattern" not in body["message"] and "^" not in body["message"]


def _raw_http(url: str, request_line: bytes) -> tuple[int, dict, bytes]:
    parts = urlsplit(url)
    connection = http.client.HTTPConnection(parts.hostname, parts.port, timeout=10)
    connection.connect()
    connection.sock.sendall(request_line + b"\r\nHost: localhost\r\nContent-Length: 0\r\n\r\n")
    response = http.client.HTTPResponse(connection.sock)
    response.begin()
    body = response.read()
    connection.close()
    return response.status, dict(response.getheaders()), body


class TestGatewayErrorsInJson:
    def test_given_a_method_api_gateway_has_no_route_for_then_403_json(self, stack):
        # When
        status, headers, body = _raw_http(stack.gateway.url, b"FROBNICATE /v1/decisions HTTP/1.1")
        # Then API Gateway's answer, in JSON
        assert status == 403 and headers["Content-Type"] == "application/json"
        assert json.loads(body) == {"code": "MISSING_AUTHENTICATION_TOKEN", "message": "Missing Authentication Token"}

    def test_given_a_request_line_too_long_then_414_json(self, stack):
        # When
        long_line = b"GET /v1/decisions?cursor=" + b"x" * 70_000 + b" HTTP/1.1"
        status, headers, body = _raw_http(stack.gateway.url, long_line)
        # Then
        assert status == 414 and headers["Content-Type"] == "application/json"
        assert json.loads(body)["code"] == "REQUEST_URI_TOO_LONG"


class TestInvalidUtf8:
    def test_given_json_with_bytes_that_are_not_utf8_then_400_naming_the_byte(self, api, sim, seed):
        # Given a Latin-1 é (0xE9) at byte 17 of the body
        assignment_id = seed("Submitted")
        raw = b'{"feedback": "caf\xe9 au lait"}'
        # When
        response = api.request("POST", f"/assignments/{assignment_id}/reject", raw=raw)
        # Then nothing is decided with a U+FFFD in the worker's feedback
        body = refused(response, 400, "MALFORMED_JSON")
        assert body["byteOffset"] == 17 and "byte 17" in body["message"]
        assert sim.count_calls("RejectAssignment") == 0

    def test_given_a_csv_with_bytes_that_are_not_utf8_then_400_naming_the_byte_line_and_column(self, api, seed):
        # Given a batch-results CSV saved as Latin-1: the é of "réponse" is the byte 0xE9
        assignment_id = seed("Submitted")
        header = b"AssignmentId,Approve,Reject\r\n"
        row = assignment_id.encode() + b",,Trop court: r\xe9ponse\r\n"
        offset = len(header) + len(assignment_id) + len(",,Trop court: r")
        # When
        response = api.request("POST", "/batches", raw=header + row, headers={"Content-Type": "text/csv"})
        # Then
        body = refused(response, 400, "INVALID_BATCH")
        assert body["byteOffset"] == offset
        [error] = body["errors"]
        assert error["line"] == 2 and error["field"] == "Reject" and error["assignmentId"] == assignment_id
        assert f"byte {offset}" in error["message"]

    def test_given_bytes_that_are_not_utf8_only_in_columns_the_api_ignores_then_the_csv_is_accepted(self, api, seed):
        # Given a worker's answer (a column the API does not read) that is not UTF-8
        assignment_id = seed("Submitted")
        raw = b"AssignmentId,Answer.text,Approve,Reject\r\n" + assignment_id.encode() + b",caf\xe9,x,\r\n"
        # When
        response = api.request("POST", "/batches?dryRun=true", raw=raw, headers={"Content-Type": "text/csv"})
        # Then
        assert response.status_code == 200, response.text


class TestCsvRowErrorsNameTheirField:
    def test_given_a_row_with_both_approve_and_reject_then_its_error_names_both_columns(self, api, seed):
        # Given
        assignment_id = seed("Submitted")
        raw = f"AssignmentId,Approve,Reject\r\n{assignment_id},x,Not good\r\n".encode()
        # When
        response = api.request("POST", "/batches", raw=raw, headers={"Content-Type": "text/csv"})
        # Then
        body = refused(response, 400, "INVALID_BATCH")
        assert body["errors"] == [{"line": 2, "assignmentId": assignment_id, "field": "Approve|Reject",
                                   "message": "both Approve and Reject are filled in; keep one"}]

    @pytest.mark.parametrize("rows,field", [
        pytest.param("3DUPLICATE,x,\r\n3DUPLICATE,x,\r\n", "AssignmentId", id="duplicate"),
        pytest.param("3ROW,," + "y" * 1_100 + "\r\n", "feedback", id="feedback-too-long"),
        pytest.param("3ROW,yes,\r\n", "Approve", id="approve-value"),
    ])
    def test_given_any_bad_row_then_every_error_carries_a_field(self, api, rows, field):
        # When
        response = api.request("POST", "/batches", raw=f"AssignmentId,Approve,Reject\r\n{rows}".encode(),
                               headers={"Content-Type": "text/csv"})
        # Then
        body = refused(response, 400, "INVALID_BATCH")
        assert [error["field"] for error in body["errors"]] == [field]
