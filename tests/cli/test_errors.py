"""Every kind of API error: its exit code, its code/message/details on stderr, and what to do about it."""
from __future__ import annotations

import json

import pytest

from mturk_decisions_cli.errors import ExitCode, TransportError, exit_code_for_status

AID = "3YM12KYBHYJ0H7SAKGI4N4GYSZ6P2B"


@pytest.mark.parametrize("status,code", [
    (400, 3), (402, 3), (404, 3), (409, 3), (413, 3), (422, 3),
    (401, 4), (403, 4),
    (429, 5), (500, 5), (502, 5), (503, 5), (504, 5),
])
def test_exit_code_per_http_status(status, code):
    # When / Then
    assert exit_code_for_status(status) == code


ERRORS = {
    "invalid-feedback": (400, {"code": "INVALID_FEEDBACK", "message": "Feedback has a forbidden character.",
                               "rule": "FORBIDDEN_CHARACTER", "position": 3, "codepoint": 7},
                         ["INVALID_FEEDBACK", "rule: FORBIDDEN_CHARACTER", "position: 3", "U+0007"]),
    "invalid-request": (400, {"code": "INVALID_REQUEST", "message": "The request is not valid",
                              "errors": [{"field": "feedback", "message": "Input should be a valid string"}]},
                        ["INVALID_REQUEST", "feedback", "Input should be a valid string"]),
    "insufficient-funds": (402, {"code": "INSUFFICIENT_FUNDS", "message": "Balance too low.", "balance": "1.20",
                                 "amountNeeded": "1.40", "reward": "1.00", "fee": "0.40", "shortfall": "0.20"},
                           ["402 INSUFFICIENT_FUNDS", "balance: $1.20", "amountNeeded: $1.40",
                            "https://requester.mturk.com/account", "$0.20"]),
    "not-found": (404, {"code": "ASSIGNMENT_NOT_FOUND", "message": "No such assignment."},
                  ["404 ASSIGNMENT_NOT_FOUND", "sandbox or production"]),
    "wrong-state": (409, {"code": "INVALID_ASSIGNMENT_STATE", "message": "Not rejected.",
                          "currentStatus": "Submitted", "requiredStatus": "Rejected"},
                    ["currentStatus: Submitted", "requiredStatus: Rejected", "mturk-decisions show"]),
    "window-closed": (409, {"code": "REVERSAL_WINDOW_CLOSED", "message": "Too late.",
                            "submittedAt": "2026-10-14T10:00:00Z", "deadline": "2026-11-13T10:00:00Z"},
                      ["REVERSAL_WINDOW_CLOSED", "deadline: 2026-11-13T10:00:00Z",
                       "MTurk no longer allows reversing this rejection"]),
    "disposed": (409, {"code": "HIT_DISPOSED", "message": "Disposed.", "hitId": "3HIT"},
                 ["HIT_DISPOSED", "hitId: 3HIT", "disposed HIT"]),
    "key-reused": (422, {"code": "IDEMPOTENCY_KEY_REUSED", "message": "Different body."},
                   ["IDEMPOTENCY_KEY_REUSED", "use a new key"]),
    "mturk-rejected": (422, {"code": "MTURK_REQUEST_REJECTED", "message": "MTurk said no."},
                       ["MTURK_REQUEST_REJECTED", "MTurk said no."]),
    "forbidden": (403, {"code": "ACCESS_DENIED", "message": "The request signature we calculated does not match"},
                  ["403 ACCESS_DENIED", "credentials", "region", "--api-url"]),
    "unsigned": (403, {"code": "MISSING_AUTHENTICATION_TOKEN", "message": "Missing Authentication Token"},
                 ["MISSING_AUTHENTICATION_TOKEN", "stage"]),
    "throttled": (429, {"code": "MTURK_THROTTLED", "message": "MTurk is throttling.", "retryAfterSeconds": 30},
                  ["MTURK_THROTTLED", "retryAfterSeconds: 30", "retry after 30 s"]),
    "mturk-fault": (502, {"code": "MTURK_FAULT", "message": "MTurk kept failing.", "decisionId": "d-1"},
                    ["MTURK_FAULT", "decisionId: d-1", "--idempotency-key"]),
    "credentials": (502, {"code": "MTURK_CREDENTIALS_INVALID", "message": "Bad secret."},
                    ["MTURK_CREDENTIALS_INVALID", "Secrets Manager"]),
    "audit-down": (503, {"code": "AUDIT_UNAVAILABLE", "message": "Audit down.", "requestId": "r-9"},
                   ["AUDIT_UNAVAILABLE", "Nothing was sent to MTurk", "requestId: r-9"]),
}


@pytest.mark.parametrize("name", list(ERRORS))
def test_given_an_api_error_when_rejecting_then_exit_code_details_and_hint(run, fake_api, name):
    # Given the API answers this error
    status, body, expected = ERRORS[name]
    fake_api.on("POST", f"/assignments/{AID}/reject", (status, body, {"Retry-After": "30"} if status == 429 else {}))
    # When a requester rejects
    result = run("--retries", "0", "reject", AID, "--feedback", "no")
    # Then the exit code is the status's, stderr names the code, the details and what to do, stdout is empty
    assert result.exit_code == exit_code_for_status(status), result.output
    for fragment in expected:
        assert fragment in result.stderr, (fragment, result.stderr)
    assert "What to do:" in result.stderr
    assert result.stdout == ""


def test_given_json_mode_then_the_error_body_is_on_stdout_as_is(run, fake_api):
    # Given
    body = {"code": "REVERSAL_WINDOW_CLOSED", "message": "Too late.", "deadline": "2026-11-13T10:00:00Z",
            "requestId": "r-1"}
    fake_api.on("POST", f"/assignments/{AID}/reverse", (409, body))
    # When
    result = run("--json", "reverse", AID)
    # Then
    assert result.exit_code == ExitCode.REFUSED
    assert json.loads(result.stdout) == body
    assert "REVERSAL_WINDOW_CLOSED" in result.stderr


def test_given_unreachable_api_then_exit_6_with_network_hint(run, fake_api):
    # Given
    def unreachable(call):
        raise TransportError("Could not reach the API at http://127.0.0.1:9/v1: Connection refused",
                             hint="Check --api-url")

    fake_api.request = lambda *a, **k: unreachable(None)
    # When
    result = run("show", AID)
    # Then
    assert result.exit_code == ExitCode.NETWORK_OR_CONFIG
    assert "Could not reach the API" in result.stderr and "Check --api-url" in result.stderr


def test_api_messages_are_printed_as_text_not_markup(run, fake_api):
    # Given
    fake_api.on("POST", f"/assignments/{AID}/reject",
                (400, {"code": "INVALID_REQUEST", "message": "bad [bold]value[/bold] in [feedback]"}))
    # When
    result = run("reject", AID, "--feedback", "x")
    # Then
    assert "bad [bold]value[/bold] in [feedback]" in result.stderr


def test_exit_codes_are_documented_in_help(run):
    # When
    result = run("--help")
    # Then
    assert result.exit_code == 0
    for line in ("0  success", "1  aborted", "2  usage error", "3  refused by a pre-check", "4  authentication",
                 "5  MTurk throttled", "6  network or configuration"):
        assert line in result.stdout
    assert "Exit codes" in run("apply", "--help").stdout


def test_a_timed_out_write_tells_how_to_retry_it_safely(run, fake_api):
    # Given
    def timeout(*args, **kwargs):
        fake_api.calls.append(kwargs)
        raise TransportError("The API did not answer within 30 s (POST /prod/assignments/X/reject).")

    fake_api.request = timeout
    # When
    result = run("reject", AID, "--feedback", "no", "--idempotency-key", "key-42")
    # Then
    assert result.exit_code == ExitCode.NETWORK_OR_CONFIG
    assert "did not answer within 30 s" in result.stderr
    assert "--idempotency-key key-42" in result.stderr and "safe" in result.stderr


def test_an_unknown_hit_gets_a_hint_naming_what_to_check():
    # Given the API's 404 for an unknown HIT
    from mturk_decisions_cli.errors import ApiError, hint_for

    error = ApiError(404, {"code": "HIT_NOT_FOUND", "message": "MTurk has no HIT 3XYZ for this requester.",
                           "hitId": "3XYZ"})
    # When / Then the hint says which id to check, and that nothing changed
    hint = hint_for(error)
    assert "HIT id" in hint and "Nothing was changed" in hint
