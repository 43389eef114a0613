"""Properties (hypothesis): feedback validation agrees with MTurk's rule, and CSV parsing accounts for every row.

- `validate_feedback` (the service's pre-check) and the simulator's own RequesterFeedback rule (what MTurk
  enforces) accept and refuse exactly the same strings; for a rejection the service is stricter only on
  blank feedback (a worker must see a reason).
- `parse_results_csv` on generated requester-website batch-results files: every non-blank row becomes an
  item, a skip, or an error carrying its line number, and what the website wrote comes back unchanged.
"""
from __future__ import annotations

import csv
import io
import re
from datetime import UTC, datetime

import pytest
from hypothesis import HealthCheck, assume, example, given, settings
from hypothesis import strategies as st

from local.mturk_simulator import rules as mturk_rules
from local.mturk_simulator.errors import ApiError
from mturk_decisions.domain.batch import InvalidBatch, parse_results_csv
from mturk_decisions.domain.errors import InvalidFeedback
from mturk_decisions.domain.model import Action
from mturk_decisions.domain.rules import validate_feedback
from tests.reliability.harness import finding, scaled

EXAMPLES = scaled(300, 3000)
NOW = datetime(2026, 11, 1, tzinfo=UTC)
PROPERTY = settings(max_examples=EXAMPLES, deadline=None, suppress_health_check=[HealthCheck.too_slow])

# Text that reaches the interesting places: control characters, the 1024 boundary, non-ASCII, astral.
_alphabet = st.one_of(st.characters(min_codepoint=0, max_codepoint=40), st.characters(blacklist_categories=("Cs",)))
_short = st.text(_alphabet, max_size=12)
feedback_text = st.one_of(
    st.text(_alphabet, max_size=40),
    # around the 1024-character limit, with anything at either end
    st.builds(lambda head, fill, size, tail: head + fill * max(0, size - len(head) - len(tail)) + tail,
              _short, st.characters(blacklist_categories=("Cs",)), st.integers(1010, 1040), _short),
    st.builds(lambda body, n: body * n, st.text(st.characters(blacklist_categories=("Cs",)), min_size=1, max_size=3),
              st.integers(340, 1100)),
)


def mturk_accepts(feedback: str) -> bool:
    try:
        mturk_rules.check_feedback(feedback, NOW)
    except ApiError:
        return False
    return True


def service_accepts(feedback: str, required: bool) -> bool:
    try:
        validate_feedback(feedback, required=required)
    except InvalidFeedback:
        return False
    return True


@PROPERTY
@given(feedback_text)
@example("x" * 1024)
@example("x" * 1025)
@example("tab\tnew\nline\r")
@example("\x0b")
@example("\x7f")
@example("😀" * 1024)
def test_feedback_rule_agrees_with_mturk_on_every_string(feedback):
    # When / Then
    assert service_accepts(feedback, required=False) == mturk_accepts(feedback), repr(feedback[:80])


@PROPERTY
@given(feedback_text)
@example("")
@example("   \t\r\n")
def test_reject_feedback_is_mturks_rule_plus_visible_text(feedback):
    expected = mturk_accepts(feedback) and bool(feedback.strip())
    # When / Then
    assert service_accepts(feedback, required=True) == expected, repr(feedback[:80])


# ----- the requester website's batch-results CSV -----

HEADER = ["HITId", "HITTypeId", "Title", "Reward", "AssignmentId", "WorkerId", "AssignmentStatus",
          "Input.image_url", "Answer.label", "Approve", "Reject"]
ids = st.text("ABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789", min_size=30, max_size=30)
cell_text = st.text(st.characters(blacklist_categories=("Cs",), blacklist_characters="\x00"), max_size=60)
good_feedback = st.text(st.characters(blacklist_categories=("Cs", "Cc"), blacklist_characters="\x00") | st.sampled_from("\t\n\r"),
                        min_size=1, max_size=80).filter(lambda text: text.strip() != "")


@st.composite
def website_rows(draw, bad_rows: bool):
    """(rows, kinds): a batch-results file's rows and what each one is meant to be."""
    count = draw(st.integers(1, 25))
    assignment_ids = draw(st.lists(ids, min_size=count, max_size=count, unique=True))
    rows, kinds = [], []
    for assignment_id in assignment_ids:
        kind = draw(st.sampled_from(["approve", "reject", "skip"] + (["bad"] if bad_rows else [])))
        row = {name: draw(cell_text) for name in ("Title", "Input.image_url", "Answer.label")}
        row.update({"HITId": draw(ids), "HITTypeId": draw(ids), "Reward": "$0.50", "AssignmentId": assignment_id,
                    "WorkerId": "A" + draw(ids)[:13], "AssignmentStatus": draw(st.sampled_from(["Submitted", "Rejected"])),
                    "Approve": "", "Reject": ""})
        if kind == "approve":
            row["Approve"] = draw(st.sampled_from(["x", "X", " x "]))
        elif kind == "reject":
            row["Reject"] = draw(good_feedback)
        elif kind == "bad":
            problem = draw(st.sampled_from(["approve-value", "both", "assignment-id", "feedback-control",
                                            "feedback-long"]))
            if problem == "approve-value":
                row["Approve"] = draw(st.sampled_from(["yes", "1", "xx", "✓"]))
            elif problem == "both":
                row["Approve"], row["Reject"] = "x", draw(good_feedback)
            elif problem == "assignment-id":
                row["AssignmentId"] = draw(st.sampled_from(["lower-case-id", "3ABC/DEF", "A" * 65, "3ABC DEF"]))
            elif problem == "feedback-control":
                row["Reject"] = draw(good_feedback) + "\x0b"
            else:
                row["Reject"] = "y" * 1025
        rows.append(row)
        kinds.append(kind)
    return rows, kinds


def render(rows, quoting, terminator, bom) -> tuple[str, list[int]]:
    """The file's text and each row's first physical line (line breaks: CRLF, LF or a lone CR)."""
    out = io.StringIO(newline="")
    writer = csv.writer(out, quoting=quoting, lineterminator=terminator)
    writer.writerow(HEADER)
    lines = []
    for row in rows:
        lines.append(len(re.findall(r"\r\n|\r|\n", out.getvalue())) + 1)
        writer.writerow([row.get(name, "") for name in HEADER])
    return ("\ufeff" if bom else "") + out.getvalue(), lines


# How the file is written: quoting, line terminator, BOM. (Python's QUOTE_MINIMAL leaves a lone CR unquoted
# unless CR is in the line terminator, which no spreadsheet does: it is paired with CRLF only.)
layout = st.tuples(st.sampled_from([(csv.QUOTE_ALL, "\r\n"), (csv.QUOTE_ALL, "\n"), (csv.QUOTE_MINIMAL, "\r\n")]),
                   st.booleans()).map(lambda choice: (*choice[0], choice[1]))


@PROPERTY
@given(website_rows(bad_rows=False), layout)
def test_a_website_csv_round_trips_row_by_row(generated, fmt):
    # Given
    rows, kinds = generated
    text, lines = render(rows, *fmt)
    # When
    parsed = parse_results_csv(text, reason="property")
    # Then
    items = {item.line: item for item in parsed.items}
    skipped = {row.line: row for row in parsed.skipped}
    assert set(items) | set(skipped) == set(lines) and not set(items) & set(skipped)
    for row, kind, line in zip(rows, kinds, lines):
        if kind == "skip":
            assert skipped[line].assignment_id == row["AssignmentId"]
            continue
        item = items[line]
        assert item.assignment_id == row["AssignmentId"] and item.hit_id == row["HITId"]
        assert item.reason == "property"
        if kind == "approve":
            assert item.action is Action.APPROVE and item.approve_or_reverse and item.feedback is None
        else:
            assert item.action is Action.REJECT and item.feedback == row["Reject"]


@PROPERTY
@given(website_rows(bad_rows=True), layout)
def test_every_bad_row_is_reported_with_its_line_and_nothing_else_is(generated, fmt):
    # Given
    rows, kinds = generated
    assume("bad" in kinds)
    text, lines = render(rows, *fmt)
    # When / Then
    with pytest.raises(InvalidBatch) as refused:
        parse_results_csv(text)
    reported = {error["line"] for error in refused.value.details["errors"]}
    expected = {line for line, kind in zip(lines, kinds) if kind == "bad"}
    assert reported == expected
    assert refused.value.details["errorCount"] == len(expected)


@settings(max_examples=EXAMPLES, deadline=None)
@given(st.text(max_size=400))
def test_arbitrary_text_is_parsed_or_refused_never_crashes(text):
    # When / Then it is parsed, or refused naming lines
    try:
        parsed = parse_results_csv("AssignmentId,Approve,Reject\n" + text)
    except InvalidBatch as refused:
        assert all(isinstance(error.get("line"), int) for error in refused.details.get("errors", []))
        return
    # And each parsed line is read once, after the header
    lines = [item.line for item in parsed.items] + [row.line for row in parsed.skipped]
    assert len(lines) == len(set(lines)) and all(line >= 2 for line in lines)


@finding("F4")
@pytest.mark.parametrize("hit_id", ["3abc-lower", "3ABC/../X", "H" * 65])
def test_a_malformed_hit_id_in_the_csv_is_a_row_error_like_in_json(hit_id):
    # Given
    text = "HITId,AssignmentId,Approve,Reject\r\n" + f"{hit_id},3ABCDEFGHIJKLMNOPQRSTUVWXYZ0123,x,\r\n"
    # When / Then
    with pytest.raises(InvalidBatch) as refused:
        parse_results_csv(text)
    assert [error["line"] for error in refused.value.details["errors"]] == [2]
