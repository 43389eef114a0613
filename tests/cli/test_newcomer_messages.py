"""Issue 11 (part 3): a newcomer's first hour. The connection error says all of it and what to do; a refusal
nothing can change says so (and what to do instead) instead of "fix and run again"; tables never split an id."""
from __future__ import annotations

import socket

import pytest
import requests
from botocore.credentials import Credentials
from urllib3.exceptions import MaxRetryError, NameResolutionError, NewConnectionError

from mturk_decisions_cli.client import ApiClient, connection_reason, network_hint
from mturk_decisions_cli.errors import ApiError, TransportError, hint_for, refusals_hint
from mturk_decisions_cli.render import Renderer
from tests.cli.conftest import FAKE_KEY
from tests.cli.test_bulk import BATCH_ID, CSV, status

AID = "3YM12KYBHYJ0H7SAKGI4N4GYSZ6P2B"


# -- connection errors --------------------------------------------------------------------------------------
def test_given_no_demo_running_when_a_command_runs_then_the_whole_reason_and_what_to_do_are_said():
    # Given nothing listens on the local API URL
    client = ApiClient("http://127.0.0.1:9/v1", Credentials(*FAKE_KEY), "us-east-1", timeout=2, retries=0)
    # When a request is sent
    with pytest.raises(TransportError) as raised:
        client.request("GET", "/assignments/A1")
    # Then the message is whole (no cut-off urllib3 text) and the hint names make demo and where the URL comes from
    assert raised.value.message == "Could not connect to http://127.0.0.1:9/v1 (connection refused)."
    assert "make demo" in raised.value.hint
    assert "--api-url / MTURK_DECISIONS_API_URL" in raised.value.hint


def test_given_the_cli_against_no_demo_when_run_then_stderr_says_it_in_two_whole_lines(run, isolated_env,
                                                                                       monkeypatch):
    # Given a local API URL where nothing listens, and credentials
    monkeypatch.setenv("AWS_ACCESS_KEY_ID", FAKE_KEY[0])
    monkeypatch.setenv("AWS_SECRET_ACCESS_KEY", FAKE_KEY[1])
    from click.testing import CliRunner

    from mturk_decisions_cli import main as cli_main

    # When `show` runs with no retries
    outcome = CliRunner().invoke(cli_main.cli, ["--api-url", "http://127.0.0.1:9/v1", "--retries", "0", "show", AID])
    # Then exit 6 with the complete message and the hint, nothing cut off
    assert outcome.exit_code == 6
    assert outcome.stderr.splitlines() == [
        "Error: Could not connect to http://127.0.0.1:9/v1 (connection refused).",
        "What to do: Is `make demo` running (it prints its API URL)? Check --api-url / MTURK_DECISIONS_API_URL "
        "(or the config file).",
    ]


def test_given_an_unknown_host_when_connecting_then_the_reason_is_dns_and_the_hint_is_the_deployed_stack():
    # Given requests' error for a host name that does not resolve, wrapped as urllib3 wraps it
    inner = NameResolutionError("nonexistent.invalid", None, socket.gaierror(-2, "Name or service not known"))
    error = requests.exceptions.ConnectionError(MaxRetryError(None, "/v1", inner))
    # When / Then it is explained in a few words, and the hint points at the stack's ApiUrl, not the demo
    assert connection_reason(error) == "the host name does not resolve"
    hint = network_hint("https://abc.execute-api.us-east-1.amazonaws.com/v1")
    assert "ApiUrl" in hint and "make demo" not in hint


def test_given_a_refused_connection_wrapped_by_urllib3_then_the_reason_is_connection_refused():
    # Given
    inner = NewConnectionError(None, "Failed to establish a new connection: [Errno 111] Connection refused")
    inner.__cause__ = ConnectionRefusedError(111, "Connection refused")
    # When / Then
    assert connection_reason(requests.exceptions.ConnectionError(MaxRetryError(None, "/", inner))) == \
        "connection refused"


# -- final and fixable refusals -----------------------------------------------------------------------------
FINAL = [
    (409, {"code": "REVERSAL_WINDOW_CLOSED", "message": "Too late.", "deadline": "2026-11-13T10:00:00Z"}),
    (409, {"code": "HIT_DISPOSED", "message": "Disposed.", "hitId": "3HIT"}),
    (409, {"code": "INVALID_ASSIGNMENT_STATE", "message": "Cannot reject: its status is Approved.",
           "currentStatus": "Approved", "requiredStatus": "Submitted"}),
]


@pytest.mark.parametrize("status_code,body", FINAL, ids=["window-closed", "disposed", "already-approved"])
def test_given_a_final_refusal_then_the_hint_says_nothing_can_change_it_and_what_to_do_instead(status_code, body):
    # When the CLI explains a refusal nothing can change
    hint = hint_for(ApiError(status_code, body))
    # Then it says so, never "run again", and offers what the requester can do instead
    assert hint.startswith("This is final: nothing can change it")
    assert "bonus" in hint or "qualification" in hint


@pytest.mark.parametrize("body", [
    {"code": "INSUFFICIENT_FUNDS", "message": "Balance too low.", "shortfall": "0.20"},
    {"code": "INVALID_ASSIGNMENT_STATE", "message": "Not rejected.", "currentStatus": "Submitted",
     "requiredStatus": "Rejected"},
])
def test_given_a_fixable_refusal_then_the_hint_is_not_final(body):
    # When / Then
    assert "final" not in hint_for(ApiError(409, body))


def test_given_refused_batch_items_then_the_hint_separates_final_from_fixable():
    # Given refused items: two final (window closed, already approved), one fixable (funds)
    items = [{"code": "REVERSAL_WINDOW_CLOSED"}, {"code": "INVALID_ASSIGNMENT_STATE",
                                                  "message": "Cannot reject X: its status is Approved."},
             {"code": "INSUFFICIENT_FUNDS"}]
    # Then only final ones: final, with the bonus; mixed: fix the one, the two are final; none final: fix and rerun
    assert refusals_hint(items[:1]).startswith("These refusals are final (1 REVERSAL_WINDOW_CLOSED)")
    assert "bonus" in refusals_hint(items[:1])
    mixed = refusals_hint(items)
    assert mixed.startswith("Fix the 1 other refused item(s)") and "1 REVERSAL_WINDOW_CLOSED, 1 already Approved" in mixed
    assert refusals_hint(items[2:]) == "Fix the refused items listed above (see their codes) and run again."


def test_given_a_plan_whose_items_are_all_finally_refused_when_applied_then_no_fix_and_run_again(run, fake_api,
                                                                                                 tmp_path):
    # Given a results CSV whose every actionable row is a reversal past the 30-day window
    plan = {"dryRun": True, "plan": {"items": [
        {"line": 2, "assignmentId": AID, "action": "reverse", "outcome": "refused", "code": "REVERSAL_WINDOW_CLOSED",
         "message": "Submitted more than 30 days ago."}],
        "totals": {"reject": 0, "reverse": 0, "approve": 0, "refused": 1, "skipped": 0}}}
    fake_api.on("POST", "/batches", (200, plan))
    path = tmp_path / "results.csv"
    path.write_bytes(CSV)
    # When it is applied
    result = run("apply", str(path))
    # Then exit 3, and the hint says the refusal is final and what to do instead, not "fix ... and run again"
    assert result.exit_code == 3, result.output
    assert "run again." not in result.stderr.replace("running again gets the same answer", "")
    assert "These refusals are final (1 REVERSAL_WINDOW_CLOSED)" in result.stderr and "bonus" in result.stderr


def test_given_a_batch_that_ended_with_final_refusals_when_watched_then_the_hint_says_they_are_final(run, fake_api,
                                                                                                    tmp_path):
    # Given a batch whose one refused item is on a disposed HIT
    done = status("COMPLETED", 2, {"succeeded": 1, "refused": 1}, total=2, items=[
        {"line": 3, "assignmentId": AID, "action": "reverse", "status": "REFUSED", "code": "HIT_DISPOSED",
         "message": "Its HIT has been disposed."}])
    fake_api.on("POST", "/batches", (202, {"batchId": BATCH_ID, "status": "QUEUED", "total": 2, "queued": 2}))
    fake_api.on("GET", f"/batches/{BATCH_ID}*", done)
    path = tmp_path / "results.csv"
    path.write_bytes(CSV)
    # When it is applied without a confirmation and watched to the end
    result = run("apply", str(path), "--yes")
    # Then exit 1 and the hint says the refused item is final, not "fix the cause and apply those items again"
    assert result.exit_code == 1, result.output
    assert "These refusals are final (1 HIT_DISPOSED)" in result.stderr
    assert "fix the cause" not in result.stderr


# -- tables -------------------------------------------------------------------------------------------------
HISTORY = [
    {"createdAt": "2026-11-23T15:57:16.101Z", "action": "reverse", "state": "SUCCEEDED", "previousStatus": "Rejected",
     "actor": "arn:aws:iam::000000000000:user/demo-requester", "source": "api", "reason": "bad QA rule",
     "assignmentId": AID, "workerId": "A1DEMOWORKERALICE", "hitId": "3DP71HITEXAMPLE0000000000000001"},
    {"createdAt": "2026-11-22T15:57:16.101Z", "action": "reject", "state": "SUCCEEDED", "previousStatus": "Submitted",
     "actor": "arn:aws:sts::123456789012:assumed-role/QualityReviewers/alice@example.com",
     "source": "mturk-notification", "feedback": "The labels do not match the signs at all, sorry.",
     "assignmentId": AID, "workerId": "A1DEMOWORKERALICE", "hitId": "3DP71HITEXAMPLE0000000000000001",
     "errorCode": "MTURK_REQUEST_REJECTED"},
]


@pytest.mark.parametrize("columns", ["80", "100", "120", "200"])
def test_given_a_history_when_rendered_at_any_width_then_no_identifier_is_split(monkeypatch, capsys, columns):
    # Given a terminal `columns` wide
    monkeypatch.setenv("COLUMNS", columns)
    renderer = Renderer()
    # When the history of decisions is rendered as `history --worker` shows it
    renderer.human.print(renderer.decisions_table(HISTORY, columns=(
        "createdAt", "action", "state", "assignmentId", "hitId", "actor", "feedback", "reason", "error")))
    out = capsys.readouterr().out
    lines = out.splitlines()
    # Then nothing is wider than the terminal, and every identifier shown is shown whole on one line
    assert max(len(line) for line in lines) <= int(columns)
    for value in (AID, "2026-11-23 15:57:16Z", "SUCCEEDED", "demo-requester", "alice@example.com",
                  "MTURK_REQUEST_REJECTED", "3DP71HITEXAMPLE0000000000000001"):
        whole = any(value in line for line in lines)
        piece = any(value[: len(value) // 2] in line for line in lines)
        assert whole or not piece, f"{value} is split at {columns} columns:\n{out}"
    assert "…" not in "".join(line for line in lines if AID[:10] in line)
    # And the actor is its ARN's last segment (the full ARN is in --json)
    assert "arn:aws" not in out and ("demo-requester" in out or int(columns) < 120)
