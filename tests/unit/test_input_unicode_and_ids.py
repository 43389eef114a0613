"""Feedback and reason that are not valid Unicode, and ids with something trailing them."""
from __future__ import annotations

import pytest

from mturk_decisions.domain import rules
from mturk_decisions.domain.batch import InvalidBatch, parse_item_list, parse_results_csv
from mturk_decisions.domain.errors import InvalidFeedback, InvalidRequest
from mturk_decisions.domain.ids import is_mturk_id, is_worker_id

LONE = ["\ud800", "\udbff", "\udc00", "\udfff"]


class TestFeedbackUnicode:
    @pytest.mark.parametrize("surrogate", LONE)
    def test_given_lone_surrogate_in_feedback_when_validated_then_invalid_unicode_rule_with_position(self, surrogate):
        # Given
        feedback = f"ab{surrogate}c"
        # When
        with pytest.raises(InvalidFeedback) as raised:
            rules.validate_feedback(feedback, required=False)
        # Then
        assert raised.value.details == {"rule": "INVALID_UNICODE", "position": 2, "codepoint": ord(surrogate)}
        assert raised.value.message.startswith("Feedback") and f"U+{ord(surrogate):04X}" in raised.value.message

    def test_given_astral_character_when_validated_then_accepted(self):
        # Given an emoji (one code point; a JSON surrogate pair decodes to it)
        feedback = "Thanks \U0001F600"
        # When / Then
        assert rules.validate_feedback(feedback, required=True) == feedback

    def test_given_error_message_when_encoded_then_it_is_valid_utf8(self):
        # Given
        with pytest.raises(InvalidFeedback) as raised:
            rules.validate_feedback("x\ud800", required=True)
        # When / Then: the answer can be written anywhere
        raised.value.message.encode("utf-8")

    def test_given_text_when_searched_then_the_first_unpaired_surrogate_is_named(self):
        # When / Then
        assert rules.lone_surrogate_at("ok") is None
        assert rules.lone_surrogate_at("\U0001F600\udc00") == 1


class TestReasonUnicode:
    def test_given_lone_surrogate_in_reason_when_validated_then_invalid_request_naming_reason(self):
        # When
        with pytest.raises(InvalidRequest) as raised:
            rules.validate_reason("internal \udfff note")
        # Then
        assert raised.value.details["field"] == "reason"
        assert raised.value.details["position"] == 9
        raised.value.message.encode("utf-8")

    def test_given_valid_reason_then_kept(self):
        # When / Then
        assert rules.validate_reason("QA rule 7 \U0001F600") == "QA rule 7 \U0001F600"


class TestIds:
    @pytest.mark.parametrize("value", ["A", "3ABC", "Z" * 64])
    def test_given_mturk_id_then_accepted(self, value):
        # When / Then
        assert is_mturk_id(value)

    @pytest.mark.parametrize("value", ["ABC\n", "ABC\r\n", "\nABC", "", "abc", "Z" * 65, "AB C", None, 12, "ÄBC"])
    def test_given_anything_else_then_refused(self, value):
        # When / Then
        assert not is_mturk_id(value)

    @pytest.mark.parametrize("value", ["AWORKER1", "A1"])
    def test_given_worker_id_then_accepted(self, value):
        # When / Then
        assert is_worker_id(value)

    @pytest.mark.parametrize("value", ["AWORKER1\n", "A", "BWORKER", "A" + "B" * 64, "aWORKER", None])
    def test_given_not_a_worker_id_then_refused(self, value):
        # When / Then
        assert not is_worker_id(value)


class TestBatchIds:
    @pytest.mark.parametrize("member", ["assignmentId", "hitId"])
    def test_given_json_item_id_with_trailing_newline_when_parsed_then_the_line_and_member_are_named(self, member):
        # Given
        item = {"assignmentId": "3ASSIGNMENT", "action": "approve", "hitId": "3HIT"}
        item[member] += "\n"
        # When
        with pytest.raises(InvalidBatch) as raised:
            parse_item_list([item])
        # Then
        [error] = raised.value.details["errors"]
        assert error["line"] == 1 and error["field"] == member

    def test_given_csv_hit_id_with_inner_newline_then_refused(self):
        # Given a quoted HITId cell whose id is followed by a newline and more text
        text = 'HITId,AssignmentId,Approve,Reject\n"3HIT\nX",3ASSIGNMENT,x,\n'
        # When
        with pytest.raises(InvalidBatch) as raised:
            parse_results_csv(text)
        # Then
        assert raised.value.details["errors"][0]["field"] == "HITId"

    @pytest.mark.parametrize("surrogate", LONE)
    def test_given_csv_reject_cell_with_lone_surrogate_then_the_row_is_refused_naming_feedback(self, surrogate):
        # Given
        text = f"AssignmentId,Approve,Reject\n3ASSIGNMENT,,bad {surrogate} text\n"
        # When
        with pytest.raises(InvalidBatch) as raised:
            parse_results_csv(text)
        # Then
        [error] = raised.value.details["errors"]
        assert error["line"] == 2 and error["field"] == "feedback" and "surrogate" in error["message"]

    def test_given_csv_reason_with_lone_surrogate_then_every_row_names_reason(self):
        # Given
        text = "AssignmentId,Approve,Reject\n3ASSIGNMENT,,bad\n"
        # When
        with pytest.raises(InvalidBatch) as raised:
            parse_results_csv(text, reason="why \ud800")
        # Then
        assert raised.value.details["errors"][0]["field"] == "reason"

    def test_given_json_item_feedback_with_lone_surrogate_then_named(self):
        # When
        with pytest.raises(InvalidBatch) as raised:
            parse_item_list([{"assignmentId": "3A", "action": "reject", "feedback": "\udc00"}])
        # Then
        assert raised.value.details["errors"][0]["field"] == "feedback"
