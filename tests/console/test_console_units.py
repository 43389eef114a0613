"""The console's pure parts: the feedback rules as the worker will see them, the chart's counts, form parsing."""
from __future__ import annotations

from datetime import UTC, date

from mturk_decisions_cli.console.app import Form, parse_form
from mturk_decisions_cli.console.chart import bar_chart, per_day
from mturk_decisions_cli.console.feedback import check_feedback, check_notification, normalized
from mturk_decisions_cli.local_proxy import LocalRequest


def test_given_feedback_with_control_characters_when_checked_then_every_position_is_named():
    # Given feedback with a BEL and a vertical tab, and a tab and line break (which MTurk accepts)
    text = "A\u0007b\tc\nd\u000b"
    # When it is checked
    problem = check_feedback(text, required=True)
    # Then the rule is FORBIDDEN_CHARACTER, and both refused characters are located
    assert problem.rule == "FORBIDDEN_CHARACTER" and problem.positions == (1, 7)
    assert "U+0007 at position 1" in problem.message


def test_given_feedback_at_and_over_the_limit_when_checked_then_only_the_excess_is_refused():
    # Given 1,024 characters, and 1,026
    # When each is checked
    # Then the first passes; the second breaks MAX_LENGTH, its last two characters marked
    assert check_feedback("x" * 1024, required=True) is None
    problem = check_feedback("x" * 1026, required=True)
    assert problem.rule == "MAX_LENGTH" and problem.positions == (1024, 1025)


def test_given_empty_or_blank_feedback_when_rejecting_then_required_and_when_reversing_then_fine():
    # Given no feedback, or only spaces
    # When checked for a rejection and for a reversal
    # Then a rejection needs visible text; a reversal takes none
    assert check_feedback("", required=True).rule == "REQUIRED"
    assert check_feedback("   ", required=True).rule == "REQUIRED"
    assert check_feedback("", required=False) is None


def test_given_a_textarea_value_when_normalized_then_line_breaks_are_what_was_typed():
    # Given a browser's CR LF line breaks
    # When normalized
    # Then each is one line feed, as counted in the page
    assert normalized("a\r\nb\r\n") == "a\nb\n"


def test_given_a_message_to_the_worker_when_checked_then_mturk_limits_apply():
    # Given subjects and messages at and over NotifyWorkers' limits
    # When checked
    # Then only the ones over a limit, or empty, are refused
    assert check_notification("s" * 200, "m" * 4096) is None
    assert "200" in check_notification("s" * 201, "m")
    assert "4096" in check_notification("s", "m" * 4097)
    assert check_notification("", "m")


def test_given_decisions_when_counted_per_day_then_only_succeeded_ones_in_range_count():
    # Given decisions on two days, one FAILED, one outside the range
    decisions = [{"createdAt": "2026-11-02T10:00:00Z", "action": "reject", "state": "SUCCEEDED"},
                 {"createdAt": "2026-11-02T11:00:00Z", "action": "reverse", "state": "SUCCEEDED"},
                 {"createdAt": "2026-11-03T11:00:00Z", "action": "reject", "state": "FAILED"},
                 {"createdAt": "2026-10-01T11:00:00Z", "action": "reject", "state": "SUCCEEDED"},
                 {"createdAt": None, "action": "reject", "state": "SUCCEEDED"}]
    # When counted for three days from November 1
    counts = per_day(decisions, date(2026, 11, 1), 3)
    # Then November 2 holds one rejection and one reversal, and the chart draws a bar for each day and series
    assert counts[date(2026, 11, 2)] == {"reject": 1, "reverse": 1}
    assert sum(sum(c.values()) for c in counts.values()) == 2
    svg = bar_chart(counts)
    assert svg.count("<rect") == 9 and "11-02: 1 rejections" in svg


def test_given_a_multipart_upload_when_parsed_then_the_file_and_fields_are_read():
    # Given a browser's multipart form with a CSV file and a text field
    body = (b"--B\r\nContent-Disposition: form-data; name=\"csv\"; filename=\"r.csv\"\r\nContent-Type: text/csv\r\n\r\n"
            b"a,b\r\n1,2\r\n\r\n--B\r\nContent-Disposition: form-data; name=\"reason\"\r\n\r\nQA \xc3\xa9\r\n--B--\r\n")
    request = LocalRequest("POST", "/batches/plan", "x=1", "127.0.0.1:1", "multipart/form-data; boundary=B", body)
    # When parsed
    form = parse_form(request)
    # Then the file keeps its bytes and name, the field its text, the query its values
    assert form.files["csv"] == ("r.csv", b"a,b\r\n1,2\r\n")
    assert form.get("reason") == "QA é" and form.get("x") == "1"


def test_given_a_form_without_a_valid_key_when_asked_then_a_new_idempotency_key_is_made():
    # Given forms with a valid key and with a bad one
    good = Form({"key": ["2b0c6a4e-9d47-4d3f-8d8f-3a5b3a0d9c11"]})
    # When their keys are asked
    # Then the valid one is kept, the bad one replaced by a fresh uuid
    assert good.idempotency_key() == "2b0c6a4e-9d47-4d3f-8d8f-3a5b3a0d9c11"
    assert Form({"key": ["x"]}).idempotency_key() != "x"


class _FakeApi:
    """An API that lists all decisions in a time range (as GET /decisions without workerId/hitId will)."""

    base_url = "http://127.0.0.1:8787/v1"

    def __init__(self, answers):
        self.answers, self.asked = answers, []

    def request(self, method, path, **kwargs):
        from mturk_decisions_cli.client import ApiResponse

        self.asked.append((method, path, kwargs.get("query")))
        status, body = self.answers.get(path, (404, {"code": "NOT_FOUND", "message": "No route."}))
        return ApiResponse(status, body)


def _overview(answers) -> tuple[str, _FakeApi]:
    from mturk_decisions_cli.console.app import Console

    api = _FakeApi(answers)
    page = Console(api, api.base_url)(LocalRequest("GET", "/", "", "127.0.0.1:1", "", b""))
    return page.body.decode(), api


def test_given_an_api_that_lists_decisions_by_time_when_the_overview_opens_then_it_draws_the_chart():
    # Given an API answering GET /decisions?since=... with two decisions of today
    from datetime import datetime

    today = datetime.now(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")
    decisions = [{"createdAt": today, "action": "reject", "state": "SUCCEEDED"},
                 {"createdAt": today, "action": "reverse", "state": "SUCCEEDED"}]
    # When the Overview is drawn
    html, api = _overview({"/decisions": (200, {"decisions": decisions, "nextCursor": None})})
    # Then it asked for a time range only, and drew the chart with both decisions
    assert api.asked[0][2]["since"] and "workerId" not in api.asked[0][2]
    assert '<svg class="chart"' in html and "2 decision(s)" in html
    # And the missing GET /scheduled-reversals is said in words, not as a failure
    assert "cannot list automatic reversals" in html


def test_given_an_api_that_refuses_a_time_range_only_when_the_overview_opens_then_no_data_and_why():
    # Given an API answering 400 INVALID_REQUEST to GET /decisions without workerId or hitId
    refusal = {"code": "INVALID_REQUEST", "message": "Give exactly one of the query parameters workerId or hitId."}
    # When the Overview is drawn
    html, _ = _overview({"/decisions": (400, refusal)})
    # Then it says there is no data, with the API's code and message
    assert 'id="chart-no-data"' in html and "INVALID_REQUEST" in html and "exactly one of" in html
