import csv
import io

import pytest
from hypothesis import given
from hypothesis import strategies as st

from mturk_decisions.domain.batch import InvalidBatch, parse_item_list, parse_results_csv
from mturk_decisions.domain.model import Action

HEADER = ["HITId", "HITTypeId", "Title", "AssignmentId", "WorkerId", "AssignmentStatus", "Input.image_url",
          "Answer.label", "Approve", "Reject"]


def results_csv(rows, header=HEADER, bom=False) -> str:
    out = io.StringIO()
    writer = csv.writer(out, quoting=csv.QUOTE_ALL)
    writer.writerow(header)
    for row in rows:
        writer.writerow([row.get(name, "") for name in header])
    return ("\ufeff" if bom else "") + out.getvalue()


def row(assignment_id, approve="", reject="", hit="HIT1", status="Submitted", **extra):
    return {"HITId": hit, "AssignmentId": assignment_id, "WorkerId": "AW1", "AssignmentStatus": status,
            "Approve": approve, "Reject": reject, **extra}


def test_given_website_csv_with_bom_and_extra_columns_then_rows_become_items_with_line_numbers():
    # Given
    text = results_csv([row("A1", approve="x"), row("A2", reject="Blank answers"), row("A3")], bom=True)
    # When
    parsed = parse_results_csv(text, reason="QA fix")
    # Then
    assert [(i.line, i.assignment_id, i.action, i.approve_or_reverse) for i in parsed.items] == [
        (2, "A1", Action.APPROVE, True), (3, "A2", Action.REJECT, False)]
    assert parsed.items[1].feedback == "Blank answers" and parsed.items[0].reason == "QA fix"
    assert parsed.items[0].hit_id == "HIT1"
    assert [(s.line, s.assignment_id) for s in parsed.skipped] == [(4, "A3")]


def test_given_quoted_multiline_cell_then_line_numbers_follow_physical_lines():
    # Given
    text = results_csv([row("A1", approve="x", **{"Answer.label": "two\nlines"}), row("A2", reject="no, sorry")])
    # When
    parsed = parse_results_csv(text)
    # Then
    assert [i.line for i in parsed.items] == [2, 4]
    assert parsed.items[1].feedback == "no, sorry"


def test_uppercase_X_and_spaces_approve():
    # When / Then
    assert parse_results_csv(results_csv([row("A1", approve=" X ")])).items[0].action is Action.APPROVE


@pytest.mark.parametrize("bad,message", [
    (row("A1", approve="yes"), "Approve must be 'x'"),
    (row("A1", approve="x", reject="no"), "both Approve and Reject"),
    (row("a-1", approve="x"), "not an MTurk assignment id"),
    (row("A1", reject="bad\x01char"), "control character"),
    (row("A1", reject="x" * 1025), "1024"),
])
def test_given_a_bad_row_then_400_names_its_line_and_nothing_is_kept(bad, message):
    # Given
    text = results_csv([row("A0", approve="x"), bad])
    # When / Then
    with pytest.raises(InvalidBatch) as raised:
        parse_results_csv(text)
    [error] = raised.value.details["errors"]
    assert error["line"] == 3 and message in error["message"]


def test_given_duplicate_assignment_then_both_lines_named():
    # When / Then
    with pytest.raises(InvalidBatch) as raised:
        parse_results_csv(results_csv([row("A1", approve="x"), row("A1", reject="no")]))
    assert "line 2" in raised.value.details["errors"][0]["message"]


def test_given_header_without_approve_column_then_invalid():
    # When / Then
    with pytest.raises(InvalidBatch, match="Approve"):
        parse_results_csv("AssignmentId,Reject\nA1,no\n")


@pytest.mark.parametrize("text", ["", "\ufeff"])
def test_given_empty_csv_then_invalid(text):
    # When / Then
    with pytest.raises(InvalidBatch):
        parse_results_csv(text)


def test_json_items_are_validated_each_with_its_position():
    # When / Then
    with pytest.raises(InvalidBatch) as raised:
        parse_item_list([{"assignmentId": "A1", "action": "reject"},
                         {"assignmentId": "A2", "action": "delete"},
                         {"assignmentId": "A3", "action": "reverse", "colour": "red"}])
    assert [e["line"] for e in raised.value.details["errors"]] == [1, 2, 3]


def test_json_items_become_batch_items():
    # When
    parsed = parse_item_list([{"assignmentId": "A1", "action": "reverse", "reason": "oops", "hitId": "H1"}])
    # Then
    assert parsed.items[0].action is Action.REVERSE and parsed.items[0].hit_id == "H1"


@given(st.lists(st.tuples(st.sampled_from(["", "x"]), st.text(max_size=40)), min_size=1, max_size=20))
def test_property_every_row_is_an_item_a_skip_or_an_error(cells):
    # Given
    rows = [row(f"A{i}", approve=a, reject=r) for i, (a, r) in enumerate(cells)]
    # When
    try:
        parsed = parse_results_csv(results_csv(rows))
    except InvalidBatch as invalid:
        assert invalid.details["errors"] or invalid.details == {"errors": []}
        return
    # Then
    assert len(parsed.items) + len(parsed.skipped) == len(rows)
    assert sorted(i.line for i in parsed.items) + [] == sorted(i.line for i in parsed.items)


def test_given_a_free_text_answer_longer_than_the_csv_modules_default_then_the_row_is_read():
    # Given a results CSV whose Answer.label cell holds 200,000 characters (beyond csv's default 131,072)
    text = results_csv([row("A1", reject="Blank answers", **{"Answer.label": "w" * 200_000})])
    # When it is parsed as a request body
    parsed = parse_results_csv(text)
    # Then the row is a decision like any other (the same limit as an uploaded CSV's, not "unreadable CSV")
    assert [(i.line, i.assignment_id) for i in parsed.items] == [(2, "A1")]
