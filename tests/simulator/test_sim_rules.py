"""MTurk's review rules and their exact error texts, through a real boto3 client."""

from __future__ import annotations

from datetime import timedelta
from decimal import Decimal

import pytest

from local.mturk_simulator import mturk_fee
from local.mturk_simulator.model import money
from tests.simulator.sim_helpers import KEY, T0, T0_MS

STATUS_ERROR = f"This operation can be called with a status of: Submitted ({T0_MS})"


def _request_error(mturk, call, **params):
    with pytest.raises(mturk.exceptions.RequestError) as exc:
        call(**params)
    return exc.value.response["Error"]["Message"], exc.value.response["TurkErrorCode"]


# ----- status transitions -----

@pytest.mark.parametrize("status", ["Approved", "Rejected"])
def test_reject_only_from_submitted(sim, mturk, status):
    # Given an assignment already reviewed
    assignment_id = sim.add_assignment(sim.add_hit(KEY), status=status)
    # When it is rejected
    message, turk_code = _request_error(mturk, mturk.reject_assignment, AssignmentId=assignment_id, RequesterFeedback="No")
    # Then MTurk's status error comes back and nothing changes
    assert (message, turk_code) == (STATUS_ERROR, "AWS.MechanicalTurk.InvalidAssignmentState")
    assert sim.get_assignment_state(assignment_id).status == status


@pytest.mark.parametrize("override", [False, True])
def test_approved_is_final(sim, mturk, override):
    # Given
    assignment_id = sim.add_assignment(sim.add_hit(KEY), status="Approved")
    # When
    message, turk_code = _request_error(mturk, mturk.approve_assignment, AssignmentId=assignment_id, OverrideRejection=override)
    # Then
    assert (message, turk_code) == (STATUS_ERROR, "AWS.MechanicalTurk.InvalidAssignmentState")
    assert sim.balance(KEY) == Decimal("100.00")


def test_approving_a_rejected_assignment_without_override_is_a_status_error(sim, mturk):
    # Given
    assignment_id = sim.add_assignment(sim.add_hit(KEY), status="Rejected")
    # When
    message, _ = _request_error(mturk, mturk.approve_assignment, AssignmentId=assignment_id)
    # Then
    assert message == STATUS_ERROR
    assert sim.get_assignment_state(assignment_id).status == "Rejected"


def test_override_on_a_submitted_assignment_just_approves_it(sim, mturk):
    # Given
    assignment_id = sim.add_assignment(sim.add_hit(KEY))
    # When
    mturk.approve_assignment(AssignmentId=assignment_id, OverrideRejection=True)
    # Then
    assert sim.get_assignment_state(assignment_id).status == "Approved"


def test_override_reverses_a_rejection_and_charges(sim, mturk):
    # Given an assignment rejected through the API on a $0.50 HIT
    assignment_id = sim.add_assignment(sim.add_hit(KEY, reward="0.50"))
    mturk.reject_assignment(AssignmentId=assignment_id, RequesterFeedback="Wrong")
    assert sim.balance(KEY) == Decimal("100.00")
    # When the rejection is overridden a day later with new feedback
    sim.clock.advance(days=1)
    mturk.approve_assignment(AssignmentId=assignment_id, OverrideRejection=True, RequesterFeedback="Sorry, our mistake")
    # Then it is approved, the approval time is the simulated now and reward + 20% fee is charged
    state = sim.get_assignment_state(assignment_id)
    assert (state.status, state.approval_time, state.feedback) == ("Approved", T0 + timedelta(days=1), "Sorry, our mistake")
    assert state.rejection_time == T0
    assert sim.balance(KEY) == Decimal("99.40")


@pytest.mark.parametrize("age", [timedelta(days=30), timedelta(days=29, hours=23), timedelta(seconds=1)])
def test_override_allowed_up_to_30_days_after_submission(sim, mturk, age):
    # Given an assignment submitted at T0 and rejected
    assignment_id = sim.add_assignment(sim.add_hit(KEY), status="Rejected", submitted_at=T0)
    # When the rejection is overridden `age` later (exactly 30 days still counts)
    sim.clock.advance(seconds=age.total_seconds())
    mturk.approve_assignment(AssignmentId=assignment_id, OverrideRejection=True)
    # Then it is approved
    assert sim.get_assignment_state(assignment_id).status == "Approved"


@pytest.mark.parametrize("age", [timedelta(days=30, seconds=1), timedelta(days=45)])
def test_override_refused_more_than_30_days_after_submission(sim, mturk, age):
    # Given an assignment submitted at T0 and rejected
    assignment_id = sim.add_assignment(sim.add_hit(KEY), status="Rejected", submitted_at=T0)
    # When the rejection is overridden `age` later
    ms = int(sim.clock.advance(seconds=age.total_seconds()).timestamp() * 1000)
    message, turk_code = _request_error(mturk, mturk.approve_assignment, AssignmentId=assignment_id, OverrideRejection=True)
    # Then MTurk refuses and nothing changes
    assert message == (
        f"Assignment {assignment_id} was submitted more than 30 days ago and its rejection can no longer be overridden. ({ms})"
    )
    assert turk_code == "AWS.MechanicalTurk.InvalidAssignmentState"
    assert sim.get_assignment_state(assignment_id).status == "Rejected"
    assert sim.balance(KEY) == Decimal("100.00")


def test_override_refused_when_hit_is_disposed(sim, mturk):
    # Given a rejected assignment whose HIT has been disposed
    hit_id = sim.add_hit(KEY)
    assignment_id = sim.add_assignment(hit_id, status="Rejected")
    sim.set_hit_status(hit_id, "Disposed")
    # When the rejection is overridden
    message, turk_code = _request_error(mturk, mturk.approve_assignment, AssignmentId=assignment_id, OverrideRejection=True)
    # Then MTurk refuses
    assert message == f"The HIT for assignment {assignment_id} has been disposed and its rejection can no longer be overridden. ({T0_MS})"
    assert turk_code == "AWS.MechanicalTurk.InvalidAssignmentState"
    assert sim.get_assignment_state(assignment_id).status == "Rejected"


def test_unknown_assignment_on_approve_and_reject(mturk):
    # When / Then
    for call, params in ((mturk.approve_assignment, {}), (mturk.reject_assignment, {"RequesterFeedback": "x"})):
        message, turk_code = _request_error(mturk, call, AssignmentId="3MISSING", **params)
        assert message == f"Assignment 3MISSING does not exist. ({T0_MS})"
        assert turk_code == "AWS.MechanicalTurk.AssignmentDoesNotExist"


# ----- funds -----

@pytest.mark.parametrize("reward, max_assignments, fee", [
    ("0.50", 3, "0.10"),     # 20%
    ("0.50", 9, "0.10"),
    ("0.50", 10, "0.20"),    # 40% from 10 assignments
    ("1.00", 25, "0.40"),
    ("0.01", 1, "0.01"),     # minimum fee
    ("0.04", 1, "0.01"),     # 0.008 -> minimum
    ("0.03", 10, "0.01"),    # 0.012 -> 0.01
    ("0.13", 1, "0.03"),     # 0.026 -> 0.03, half up
    ("0.125", 1, "0.03"),    # reward rounds to 0.13 first
    ("0.05", 10, "0.02"),    # 0.020
])
def test_fee_is_20_or_40_percent_rounded_half_up_with_a_one_cent_minimum(reward, max_assignments, fee):
    # When / Then
    assert mturk_fee(money(reward), max_assignments) == Decimal(fee)


def test_fee_rounds_half_up_to_cents():
    # When / Then
    # 0.0625 * 0.40 = 0.025 exactly: half up gives 0.03 (banker's rounding would give 0.02)
    assert mturk_fee(Decimal("0.0625"), 10) == Decimal("0.03")


@pytest.mark.parametrize("max_assignments, expected_balance", [(3, "98.80"), (10, "98.60")])
def test_approval_debits_reward_plus_fee(sim, mturk, max_assignments, expected_balance):
    # Given a $1.00 HIT with `max_assignments`
    assignment_id = sim.add_assignment(sim.add_hit(KEY, reward="1.00", max_assignments=max_assignments))
    # When the assignment is approved
    mturk.approve_assignment(AssignmentId=assignment_id)
    # Then reward + 20% (or 40% from 10 assignments) is debited
    assert mturk.get_account_balance()["AvailableBalance"] == expected_balance


def test_rejection_costs_nothing(sim, mturk):
    # Given
    assignment_id = sim.add_assignment(sim.add_hit(KEY, reward="5.00"))
    # When
    mturk.reject_assignment(AssignmentId=assignment_id, RequesterFeedback="No")
    # Then
    assert sim.balance(KEY) == Decimal("100.00")


@pytest.mark.parametrize("override", [False, True])
def test_insufficient_funds_leaves_everything_unchanged(sim, mturk, override):
    # Given $0.59 and a $0.50 assignment costing $0.60 with fee
    assignment_id = sim.add_assignment(sim.add_hit(KEY, reward="0.50"), status="Rejected" if override else "Submitted")
    sim.set_balance(KEY, "0.59")
    before = sim.get_assignment_state(assignment_id)
    # When it is approved
    message, turk_code = _request_error(mturk, mturk.approve_assignment, AssignmentId=assignment_id,
                                        OverrideRejection=override, RequesterFeedback="new feedback")
    # Then MTurk's insufficient-funds error comes back and nothing changed
    assert message == (
        "This Requester has insufficient funds in their account to complete this transaction. "
        f"Please visit https://requester.mturk.com/account to purchase prepaid HITs. ({T0_MS})"
    )
    assert turk_code == "AWS.MechanicalTurk.InsufficientFunds"
    assert sim.balance(KEY) == Decimal("0.59")
    assert sim.get_assignment_state(assignment_id) == before


def test_exact_balance_is_enough(sim, mturk):
    # Given
    assignment_id = sim.add_assignment(sim.add_hit(KEY, reward="0.50"))
    sim.set_balance(KEY, "0.60")
    # When
    mturk.approve_assignment(AssignmentId=assignment_id)
    # Then
    assert sim.balance(KEY) == Decimal("0.00")


# ----- feedback -----

@pytest.mark.parametrize("feedback", ["x" * 1024, "é" * 1024, "🙂" * 1024, "tab\there\nnew line\r\nok", ""])
def test_feedback_allowed(sim, mturk, feedback):
    # Given feedback of at most 1024 characters (however many bytes) with only tab/LF/CR controls
    assignment_id = sim.add_assignment(sim.add_hit(KEY))
    # When rejecting with it
    mturk.reject_assignment(AssignmentId=assignment_id, RequesterFeedback=feedback)
    # Then it is stored as given
    assert mturk.get_assignment(AssignmentId=assignment_id)["Assignment"].get("RequesterFeedback", "") == feedback


@pytest.mark.parametrize("feedback", ["x" * 1025, "é" * 1025, "🙂" * 1025])
@pytest.mark.parametrize("operation", ["approve_assignment", "reject_assignment"])
def test_feedback_over_1024_characters_refused(sim, mturk, feedback, operation):
    # Given
    assignment_id = sim.add_assignment(sim.add_hit(KEY))
    # When
    message, turk_code = _request_error(mturk, getattr(mturk, operation), AssignmentId=assignment_id, RequesterFeedback=feedback)
    # Then
    assert message == f"RequesterFeedback cannot be longer than 1024 characters (got 1025). ({T0_MS})"
    assert turk_code == "AWS.MechanicalTurk.InvalidParameterValue"
    assert sim.get_assignment_state(assignment_id).status == "Submitted"


@pytest.mark.parametrize("code", [0, 1, 8, 11, 12, 14, 27, 31])
@pytest.mark.parametrize("operation", ["approve_assignment", "reject_assignment"])
def test_feedback_with_forbidden_control_character_refused(sim, mturk, code, operation):
    # Given feedback with a control character from each forbidden class (0-8, 11, 12, 14-31)
    assignment_id = sim.add_assignment(sim.add_hit(KEY))
    # When approving or rejecting with it
    message, turk_code = _request_error(mturk, getattr(mturk, operation), AssignmentId=assignment_id,
                                        RequesterFeedback=f"bad{chr(code)}char")
    # Then the parameter is refused, naming the character and the rule
    assert message == (
        f"RequesterFeedback contains the control character U+{code:04X}, which is not allowed; "
        f"the only control characters allowed are tab, line feed and carriage return. ({T0_MS})"
    )
    assert turk_code == "AWS.MechanicalTurk.InvalidParameterValue"
    assert sim.get_assignment_state(assignment_id).status == "Submitted"


# ----- counters -----

def test_hit_counters_follow_reviews(sim, mturk):
    # Given
    hit_id = sim.add_hit(KEY, max_assignments=4)
    first, second, _ = (sim.add_assignment(hit_id) for _ in range(3))
    # When
    hit = mturk.get_hit(HITId=hit_id)["HIT"]
    # Then
    assert (hit["NumberOfAssignmentsAvailable"], hit["NumberOfAssignmentsCompleted"]) == (1, 0)
    # When one is approved and one rejected
    mturk.approve_assignment(AssignmentId=first)
    mturk.reject_assignment(AssignmentId=second, RequesterFeedback="No")
    # Then both count as completed
    hit = mturk.get_hit(HITId=hit_id)["HIT"]
    assert (hit["NumberOfAssignmentsAvailable"], hit["NumberOfAssignmentsCompleted"]) == (1, 2)
