"""Every supported operation through a real boto3 client, including pagination."""

from __future__ import annotations

from datetime import datetime, timedelta
from decimal import Decimal

import pytest

from tests.simulator.sim_helpers import KEY, T0, T0_MS, TARGET_PREFIX, error_of, signed_request


def test_get_account_balance_returns_the_requester_balance(sim, mturk):
    # Given a requester with $100.00
    # When they ask for their balance
    response = mturk.get_account_balance()
    # Then it comes back as a string amount, with a request id
    assert response["AvailableBalance"] == "100.00"
    assert response["ResponseMetadata"]["RequestId"]


def test_get_hit_returns_the_hit_with_datetimes_and_counters(sim, mturk):
    # Given a 3-assignment HIT with one submitted and one rejected assignment
    hit_id = sim.add_hit(KEY, reward="0.75", max_assignments=3, title="Label cats", hit_type_id="3TYPE")
    sim.add_assignment(hit_id)
    sim.add_assignment(hit_id, status="Rejected", feedback="No answer")
    # When the requester gets the HIT
    hit = mturk.get_hit(HITId=hit_id)["HIT"]
    # Then botocore parses the timestamps and the counters add up
    assert isinstance(hit["CreationTime"], datetime) and hit["CreationTime"] == T0
    assert hit["Expiration"] > hit["CreationTime"]
    assert (hit["HITId"], hit["HITTypeId"], hit["Title"], hit["Reward"]) == (hit_id, "3TYPE", "Label cats", "0.75")
    assert hit["HITStatus"] == "Assignable"
    assert hit["MaxAssignments"] == 3
    assert hit["NumberOfAssignmentsAvailable"] == 1
    assert hit["NumberOfAssignmentsCompleted"] == 1
    assert hit["NumberOfAssignmentsPending"] == 0


def test_get_hit_unknown_answers_hit_does_not_exist(mturk):
    # When / Then
    with pytest.raises(mturk.exceptions.RequestError) as exc:
        mturk.get_hit(HITId="3NOSUCHHIT")
    assert error_of(exc) == ("RequestError", f"Hit 3NOSUCHHIT does not exist. ({T0_MS})")
    assert exc.value.response["TurkErrorCode"] == "AWS.MechanicalTurk.HITDoesNotExist"
    assert exc.value.response["ResponseMetadata"]["HTTPStatusCode"] == 400
    assert exc.value.response["ResponseMetadata"]["RequestId"]


def test_get_assignment_returns_assignment_and_hit(sim, mturk):
    # Given a submitted assignment from worker A1SIMWORKER
    hit_id = sim.add_hit(KEY)
    assignment_id = sim.add_assignment(hit_id, worker_id="A1SIMWORKER", answer="<answer/>")
    # When the requester gets it
    response = mturk.get_assignment(AssignmentId=assignment_id)
    # Then both the assignment and its HIT come back
    assignment = response["Assignment"]
    assert response["HIT"]["HITId"] == hit_id
    assert assignment["AssignmentId"] == assignment_id
    assert assignment["WorkerId"] == "A1SIMWORKER"
    assert assignment["AssignmentStatus"] == "Submitted"
    assert assignment["SubmitTime"] == T0
    assert assignment["AcceptTime"] < assignment["SubmitTime"] < assignment["AutoApprovalTime"]
    assert assignment["Answer"] == "<answer/>"
    assert "ApprovalTime" not in assignment and "RejectionTime" not in assignment


def test_get_assignment_unknown_answers_assignment_does_not_exist(mturk):
    # When / Then
    with pytest.raises(mturk.exceptions.RequestError) as exc:
        mturk.get_assignment(AssignmentId="3NOSUCHASSIGNMENT")
    assert error_of(exc) == ("RequestError", f"Assignment 3NOSUCHASSIGNMENT does not exist. ({T0_MS})")
    assert exc.value.response["TurkErrorCode"] == "AWS.MechanicalTurk.AssignmentDoesNotExist"


def test_generated_ids_look_like_mturk_ids(sim):
    # Given
    hit_id = sim.add_hit(KEY)
    assignment = sim.get_assignment_state(sim.add_assignment(hit_id))
    hit = sim.get_hit_state(hit_id)
    # When / Then
    for generated in (hit_id, assignment.assignment_id, hit.hit_type_id):
        assert len(generated) == 30 and generated.isalnum() and generated.upper() == generated
    assert assignment.worker_id.startswith("A") and assignment.worker_id.isalnum() and assignment.worker_id.isupper()


def test_approve_then_reject_round_trip_changes_status(sim, mturk):
    # Given two submitted assignments
    hit_id = sim.add_hit(KEY)
    to_approve, to_reject = sim.add_assignment(hit_id), sim.add_assignment(hit_id)
    # When one is approved and the other rejected
    assert mturk.approve_assignment(AssignmentId=to_approve, RequesterFeedback="Thanks")["ResponseMetadata"]["HTTPStatusCode"] == 200
    mturk.reject_assignment(AssignmentId=to_reject, RequesterFeedback="Empty answer")
    # Then GetAssignment shows the new states, times and feedback
    approved = mturk.get_assignment(AssignmentId=to_approve)["Assignment"]
    rejected = mturk.get_assignment(AssignmentId=to_reject)["Assignment"]
    assert (approved["AssignmentStatus"], approved["ApprovalTime"], approved["RequesterFeedback"]) == ("Approved", T0, "Thanks")
    assert (rejected["AssignmentStatus"], rejected["RejectionTime"], rejected["RequesterFeedback"]) == ("Rejected", T0, "Empty answer")
    assert mturk.get_hit(HITId=hit_id)["HIT"]["NumberOfAssignmentsCompleted"] == 2


def test_list_hits_paginates_in_creation_order_and_skips_disposed(sim, mturk):
    # Given 5 HITs created a minute apart, one of them disposed
    hit_ids = [sim.add_hit(KEY, created_at=T0 + timedelta(minutes=i)) for i in range(5)]
    sim.set_hit_status(hit_ids[2], "Disposed")
    # When listing two at a time
    first = mturk.list_hits(MaxResults=2)
    second = mturk.list_hits(MaxResults=2, NextToken=first["NextToken"])
    # Then pages follow each other, NumResults counts the page and the last page has no token
    assert [h["HITId"] for h in first["HITs"]] == hit_ids[:2] and first["NumResults"] == 2
    assert [h["HITId"] for h in second["HITs"]] == hit_ids[3:] and "NextToken" not in second
    # And botocore's paginator walks the same list
    pages = mturk.get_paginator("list_hits").paginate(PaginationConfig={"PageSize": 1})
    assert [h["HITId"] for page in pages for h in page["HITs"]] == [hit_ids[i] for i in (0, 1, 3, 4)]


def test_list_hits_default_page_size_is_10(sim, mturk):
    # Given
    for _ in range(12):
        sim.add_hit(KEY)
    # When
    response = mturk.list_hits()
    # Then
    assert response["NumResults"] == 10 and "NextToken" in response


def test_list_assignments_for_hit_filters_by_status_and_paginates(sim, mturk):
    # Given a HIT with 5 assignments: 3 submitted, 1 approved, 1 rejected
    hit_id = sim.add_hit(KEY, max_assignments=5)
    statuses = ["Submitted", "Approved", "Submitted", "Rejected", "Submitted"]
    ids = [sim.add_assignment(hit_id, status=s, submitted_at=T0 - timedelta(hours=5 - i)) for i, s in enumerate(statuses)]
    # When listing only Submitted ones, two per page
    first = mturk.list_assignments_for_hit(HITId=hit_id, AssignmentStatuses=["Submitted"], MaxResults=2)
    second = mturk.list_assignments_for_hit(HITId=hit_id, AssignmentStatuses=["Submitted"], MaxResults=2,
                                            NextToken=first["NextToken"])
    # Then only Submitted ones come back, in submit order
    assert [a["AssignmentId"] for a in first["Assignments"] + second["Assignments"]] == [ids[0], ids[2], ids[4]]
    assert (first["NumResults"], second["NumResults"]) == (2, 1)
    assert "NextToken" not in second
    # And several statuses, or none, widen the filter
    reviewed = mturk.list_assignments_for_hit(HITId=hit_id, AssignmentStatuses=["Approved", "Rejected"])
    assert [a["AssignmentId"] for a in reviewed["Assignments"]] == [ids[1], ids[3]]
    assert mturk.list_assignments_for_hit(HITId=hit_id)["NumResults"] == 5


def test_pagination_does_not_skip_items_that_change_status_between_pages(sim, mturk):
    # Given 4 submitted assignments
    hit_id = sim.add_hit(KEY, max_assignments=4)
    ids = [sim.add_assignment(hit_id, submitted_at=T0 - timedelta(minutes=4 - i)) for i in range(4)]
    # When the first page of Submitted is rejected before fetching the second
    first = mturk.list_assignments_for_hit(HITId=hit_id, AssignmentStatuses=["Submitted"], MaxResults=2)
    for item in first["Assignments"]:
        mturk.reject_assignment(AssignmentId=item["AssignmentId"], RequesterFeedback="No")
    second = mturk.list_assignments_for_hit(HITId=hit_id, AssignmentStatuses=["Submitted"], MaxResults=2,
                                            NextToken=first["NextToken"])
    # Then the second page still holds the other two
    assert [a["AssignmentId"] for a in second["Assignments"]] == ids[2:]


def test_list_assignments_for_unknown_hit_answers_hit_does_not_exist(mturk):
    # When / Then
    with pytest.raises(mturk.exceptions.RequestError) as exc:
        mturk.list_assignments_for_hit(HITId="3NOSUCHHIT")
    assert error_of(exc)[1] == f"Hit 3NOSUCHHIT does not exist. ({T0_MS})"


def test_invalid_next_token_is_a_request_error(sim, mturk):
    # Given
    hit_id = sim.add_hit(KEY)
    # When / Then
    with pytest.raises(mturk.exceptions.RequestError) as exc:
        mturk.list_assignments_for_hit(HITId=hit_id, NextToken="not-a-token")
    assert exc.value.response["TurkErrorCode"] == "AWS.MechanicalTurk.InvalidParameterValue"


def test_list_reviewable_hits_filters_by_status_and_type_and_paginates(sim, mturk):
    # Given HITs in several states and two HIT types
    reviewable = [sim.add_hit(KEY, status="Reviewable", hit_type_id="3TYPEA", created_at=T0 + timedelta(seconds=i)) for i in range(3)]
    other_type = sim.add_hit(KEY, status="Reviewable", hit_type_id="3TYPEB", created_at=T0 + timedelta(seconds=9))
    reviewing = sim.add_hit(KEY, status="Reviewing")
    sim.add_hit(KEY, status="Assignable")
    # When listing reviewable HITs (default status Reviewable) two per page
    first = mturk.list_reviewable_hits(MaxResults=2)
    second = mturk.list_reviewable_hits(MaxResults=2, NextToken=first["NextToken"])
    # Then all Reviewable ones come back across pages
    assert [h["HITId"] for h in first["HITs"] + second["HITs"]] == reviewable + [other_type]
    # And Status and HITTypeId narrow the list
    assert [h["HITId"] for h in mturk.list_reviewable_hits(Status="Reviewing")["HITs"]] == [reviewing]
    assert [h["HITId"] for h in mturk.list_reviewable_hits(HITTypeId="3TYPEB")["HITs"]] == [other_type]


def test_hit_becomes_reviewable_when_all_assignments_are_in(sim, mturk):
    # Given
    hit_id = sim.add_hit(KEY, max_assignments=2)
    # When
    sim.add_assignment(hit_id)
    # Then
    assert mturk.get_hit(HITId=hit_id)["HIT"]["HITStatus"] == "Assignable"
    # When the second one is in
    sim.add_assignment(hit_id)
    # Then
    assert mturk.get_hit(HITId=hit_id)["HIT"]["HITStatus"] == "Reviewable"
    # And no third one can be added
    with pytest.raises(ValueError):
        sim.add_assignment(hit_id)


def test_other_model_operations_answer_not_supported(mturk):
    # When calling an operation the model has but the simulator does not implement
    with pytest.raises(mturk.exceptions.RequestError) as exc:
        mturk.create_hit_type(Title="t", Description="d", Reward="0.10", AssignmentDurationInSeconds=60)
    # Then the error says so plainly
    assert error_of(exc) == ("RequestError", f"Operation CreateHITType is not supported by the MTurk simulator. ({T0_MS})")


@pytest.mark.parametrize("target", [f"{TARGET_PREFIX}.LaunchRockets", "DynamoDB_20120810.GetItem", None])
def test_unknown_target_answers_unknown_operation(server, target):
    # Given
    headers = {"Content-Type": "application/x-amz-json-1.1"} | ({"X-Amz-Target": target} if target else {})
    # When
    response = signed_request(server.url + "/", b"{}", headers)
    # Then
    assert response.status_code == 400
    assert response.json()["__type"] == "UnknownOperationException"
    assert response.headers["x-amzn-RequestId"]


def test_balance_helpers_use_decimal(sim):
    # When
    sim.set_balance(KEY, "12.34")
    # Then
    assert sim.balance(KEY) == Decimal("12.34")
