"""Each access key is its own requester: balance, HITs and assignments are never shared."""

from __future__ import annotations

from decimal import Decimal

import pytest

from tests.simulator.sim_helpers import KEY, OTHER_KEY, OTHER_SECRET, T0_MS, error_of, make_client


@pytest.fixture
def other(sim, server):
    sim.add_requester(OTHER_KEY, OTHER_SECRET, balance="5.00")
    return make_client(server, key=OTHER_KEY, secret=OTHER_SECRET)


def test_requesters_see_only_their_own_balance_and_hits(sim, mturk, other):
    # Given one HIT per requester
    mine = sim.add_hit(KEY)
    theirs = sim.add_hit(OTHER_KEY)
    # Then each sees its own balance and HITs only
    assert mturk.get_account_balance()["AvailableBalance"] == "100.00"
    assert other.get_account_balance()["AvailableBalance"] == "5.00"
    assert [h["HITId"] for h in mturk.list_hits()["HITs"]] == [mine]
    assert [h["HITId"] for h in other.list_hits()["HITs"]] == [theirs]


def test_another_requesters_hit_and_assignment_do_not_exist(sim, mturk, other):
    # Given a HIT and reviewable assignment of another requester
    hit_id = sim.add_hit(OTHER_KEY, status="Reviewable")
    assignment_id = sim.add_assignment(hit_id)
    # When requester A reaches for them
    with pytest.raises(mturk.exceptions.RequestError) as get_hit:
        mturk.get_hit(HITId=hit_id)
    with pytest.raises(mturk.exceptions.RequestError) as list_assignments:
        mturk.list_assignments_for_hit(HITId=hit_id)
    with pytest.raises(mturk.exceptions.RequestError) as get_assignment:
        mturk.get_assignment(AssignmentId=assignment_id)
    with pytest.raises(mturk.exceptions.RequestError) as reject:
        mturk.reject_assignment(AssignmentId=assignment_id, RequesterFeedback="Not yours")
    with pytest.raises(mturk.exceptions.RequestError) as approve:
        mturk.approve_assignment(AssignmentId=assignment_id)
    # Then they do not exist for A, and nothing changed for B
    assert error_of(get_hit)[1] == error_of(list_assignments)[1] == f"Hit {hit_id} does not exist. ({T0_MS})"
    assert error_of(get_assignment)[1] == error_of(reject)[1] == error_of(approve)[1] == \
        f"Assignment {assignment_id} does not exist. ({T0_MS})"
    assert mturk.list_reviewable_hits()["NumResults"] == 0
    assert sim.get_assignment_state(assignment_id).status == "Submitted"
    assert sim.balance(OTHER_KEY) == Decimal("5.00") and sim.balance(KEY) == Decimal("100.00")


def test_approval_charges_the_owner_only(sim, mturk, other):
    # Given
    assignment_id = sim.add_assignment(sim.add_hit(OTHER_KEY, reward="1.00"))
    # When
    other.approve_assignment(AssignmentId=assignment_id)
    # Then
    assert sim.balance(OTHER_KEY) == Decimal("3.80")
    assert sim.balance(KEY) == Decimal("100.00")
