from datetime import timedelta
from decimal import Decimal

import pytest

from mturk_decisions.api.http_errors import http_status
from mturk_decisions.domain import rules
from mturk_decisions.domain.errors import (
    HitDisposed,
    InsufficientFunds,
    InvalidFeedback,
    InvalidRequest,
    ReversalWindowClosed,
    WrongAssignmentState,
)
from mturk_decisions.domain.model import Action, Cost
from tests.fakes import NOW, assignment


class TestFeedback:
    def test_given_1024_multibyte_characters_when_validated_then_accepted(self):
        # Given
        feedback = "é" * 1024
        # When / Then
        assert rules.validate_feedback(feedback, required=True) == feedback

    def test_given_1025_characters_when_validated_then_max_length_rule_named(self):
        # When / Then
        with pytest.raises(InvalidFeedback) as raised:
            rules.validate_feedback("x" * 1025, required=True)
        assert raised.value.details["rule"] == "MAX_LENGTH"
        assert raised.value.details["length"] == 1025

    @pytest.mark.parametrize("codepoint", [*range(9), 11, 12, *range(14, 32)])
    def test_given_forbidden_control_character_when_validated_then_rule_and_position_named(self, codepoint):
        # When / Then
        with pytest.raises(InvalidFeedback) as raised:
            rules.validate_feedback(f"ab{chr(codepoint)}", required=True)
        assert raised.value.details == {"rule": "FORBIDDEN_CHARACTER", "position": 2, "codepoint": codepoint}

    @pytest.mark.parametrize("allowed", ["\t", "\n", "\r", " ", "\x7f"])
    def test_given_tab_newline_or_return_when_validated_then_accepted(self, allowed):
        # When / Then
        assert rules.validate_feedback(f"line{allowed}next", required=True)

    @pytest.mark.parametrize("missing", [None, "", "   \n"])
    def test_given_reject_without_visible_feedback_then_required_rule(self, missing):
        # When / Then
        with pytest.raises(InvalidFeedback) as raised:
            rules.validate_feedback(missing, required=True)
        assert raised.value.details["rule"] == "REQUIRED"

    def test_given_optional_feedback_missing_then_none(self):
        # When / Then
        assert rules.validate_feedback("", required=False) is None

    def test_given_reason_over_1000_characters_then_invalid_request(self):
        # When / Then
        with pytest.raises(InvalidRequest):
            rules.validate_reason("r" * 1001)


class TestCost:
    @pytest.mark.parametrize(
        "reward,max_assignments,fee",
        [("0.50", 3, "0.10"), ("0.50", 10, "0.20"), ("0.01", 1, "0.01"), ("0.05", 9, "0.01"), ("1.23", 1, "0.25")],
    )
    def test_fee_is_20_percent_40_from_ten_assignments_min_one_cent(self, reward, max_assignments, fee):
        # When / Then
        assert rules.mturk_fee(Decimal(reward), max_assignments) == Decimal(fee)

    def test_rejection_costs_nothing(self):
        # When / Then
        assert rules.cost_of(Action.REJECT, assignment()) is None

    def test_given_balance_short_when_checked_then_402_details(self):
        # When / Then
        with pytest.raises(InsufficientFunds) as raised:
            rules.check_funds(Cost(Decimal("0.50"), Decimal("0.10")), Decimal("0.59"))
        assert http_status(raised.value) == 402
        assert raised.value.details["balance"] == "0.59"
        assert raised.value.details["amountNeeded"] == "0.60"

    def test_given_exact_balance_then_allowed(self):
        # When / Then it raises nothing
        rules.check_funds(Cost(Decimal("0.50"), Decimal("0.10")), Decimal("0.60"))


class TestStateAndWindow:
    @pytest.mark.parametrize(
        "action,status",
        [(Action.REJECT, "Approved"), (Action.REJECT, "Rejected"), (Action.REVERSE, "Submitted"),
         (Action.REVERSE, "Approved"), (Action.APPROVE, "Rejected"), (Action.APPROVE, "Approved")],
    )
    def test_given_wrong_status_then_409_with_current_status(self, action, status):
        # When / Then
        with pytest.raises(WrongAssignmentState) as raised:
            rules.check_state(action, assignment(status=status))
        assert http_status(raised.value) == 409
        assert raised.value.details["currentStatus"] == status

    def test_given_rejection_29_days_old_then_reversible_with_deadline(self):
        # Given
        view = assignment(status="Rejected", submitted_days_ago=29)
        # When / Then
        assert rules.check_reversible(view, NOW) == view.submitted_at + timedelta(days=30)

    def test_given_rejection_exactly_30_days_old_then_window_closed_with_deadline(self):
        # Given
        view = assignment(status="Rejected", submitted_days_ago=30)
        # When / Then
        with pytest.raises(ReversalWindowClosed) as raised:
            rules.check_reversible(view, NOW)
        assert raised.value.details["deadline"] == rules.iso(view.submitted_at + timedelta(days=30))

    def test_given_disposed_hit_then_hit_disposed(self):
        # When / Then
        with pytest.raises(HitDisposed):
            rules.check_reversible(assignment(status="Rejected", hit_status="Disposed"), NOW)
