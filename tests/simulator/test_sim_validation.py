"""Server-side validation driven by botocore's MTurk model, seen by clients that skip their own."""

from __future__ import annotations

import pytest

from tests.simulator.sim_helpers import KEY, raw_call


def _validation_error(exc_info) -> str:
    error = exc_info.value.response["Error"]
    assert error["Code"] == "ValidationException"
    assert exc_info.value.response["ResponseMetadata"]["HTTPStatusCode"] == 400
    return error["Message"]


def test_pattern_violation(unvalidated):
    # When an assignment id breaks the model's EntityId pattern
    with pytest.raises(unvalidated.exceptions.ClientError) as exc:
        unvalidated.get_assignment(AssignmentId="x")
    # Then AWS's validation message names the member and the pattern
    assert _validation_error(exc) == (
        "1 validation error detected: Value 'x' at 'assignmentId' failed to satisfy constraint: "
        "Member must satisfy regular expression pattern: ^[A-Z0-9]+$"
    )


def test_length_violation(unvalidated):
    # When / Then
    with pytest.raises(unvalidated.exceptions.ClientError) as exc:
        unvalidated.get_hit(HITId="A" * 65)
    assert _validation_error(exc) == (
        f"1 validation error detected: Value '{'A' * 65}' at 'hITId' failed to satisfy constraint: "
        "Member must have length less than or equal to 64"
    )


def test_several_violations_are_reported_together(unvalidated):
    # When / Then
    with pytest.raises(unvalidated.exceptions.ClientError) as exc:
        unvalidated.get_hit(HITId="")
    assert _validation_error(exc) == (
        "2 validation errors detected: "
        "Value '' at 'hITId' failed to satisfy constraint: Member must have length greater than or equal to 1; "
        "Value '' at 'hITId' failed to satisfy constraint: Member must satisfy regular expression pattern: ^[A-Z0-9]+$"
    )


def test_required_member_missing(unvalidated):
    # When / Then
    # RejectAssignment requires RequesterFeedback in the model
    with pytest.raises(unvalidated.exceptions.ClientError) as exc:
        unvalidated.reject_assignment(AssignmentId="3ABC")
    assert _validation_error(exc) == (
        "1 validation error detected: Value null at 'requesterFeedback' failed to satisfy constraint: Member must not be null"
    )


def test_integer_range(unvalidated):
    # When / Then
    with pytest.raises(unvalidated.exceptions.ClientError) as exc:
        unvalidated.list_hits(MaxResults=101)
    assert _validation_error(exc) == (
        "1 validation error detected: Value '101' at 'maxResults' failed to satisfy constraint: "
        "Member must have value less than or equal to 100"
    )


def test_enum_violation(unvalidated):
    # When / Then
    with pytest.raises(unvalidated.exceptions.ClientError) as exc:
        unvalidated.list_reviewable_hits(Status="Assignable")
    assert _validation_error(exc) == (
        "1 validation error detected: Value 'Assignable' at 'status' failed to satisfy constraint: "
        "Member must satisfy enum value set: [Reviewable, Reviewing]"
    )


def test_enum_violation_inside_a_list(unvalidated):
    # When / Then
    with pytest.raises(unvalidated.exceptions.ClientError) as exc:
        unvalidated.list_assignments_for_hit(HITId="3ABC", AssignmentStatuses=["Submitted", "Pending"])
    assert _validation_error(exc) == (
        "1 validation error detected: Value '[Submitted, Pending]' at 'assignmentStatuses' failed to satisfy constraint: "
        "Member must satisfy constraint: [Member must satisfy enum value set: [Submitted, Approved, Rejected]]"
    )


@pytest.mark.parametrize("operation, params, path, kind", [
    ("ListHITs", {"MaxResults": "10"}, "maxResults", "integer"),
    ("ListHITs", {"MaxResults": True}, "maxResults", "integer"),
    ("ApproveAssignment", {"AssignmentId": "3ABC", "OverrideRejection": "true"}, "overrideRejection", "boolean"),
    ("GetHIT", {"HITId": 123}, "hITId", "string"),
    ("ListAssignmentsForHIT", {"HITId": "3ABC", "AssignmentStatuses": "Submitted"}, "assignmentStatuses", "list"),
])
def test_type_violations(server, operation, params, path, kind):
    # When a raw signed request carries a member of the wrong JSON type
    response = raw_call(server, operation, params)
    # Then it is refused as a validation error naming the type
    assert response.status_code == 400
    body = response.json()
    assert body["__type"] == "ValidationException"
    assert f"at '{path}' failed to satisfy constraint: Member must be of type {kind}" in body["Message"]


def test_unknown_member(server):
    # When
    response = raw_call(server, "GetAccountBalance", {"Verbose": True})
    # Then
    assert response.status_code == 400
    assert response.json() == {
        "__type": "ValidationException",
        "Message": "1 validation error detected: Value 'true' at 'verbose' failed to satisfy constraint: "
                   "Member is not defined in the input shape",
    }


@pytest.mark.parametrize("body", [b"{not json", b"[1, 2]", b"\xff\xfe"])
def test_body_that_is_not_a_json_object(server, body):
    # When
    response = raw_call(server, "GetAccountBalance", body)
    # Then
    assert response.status_code == 400
    assert response.json()["__type"] == "SerializationException"


def test_empty_body_means_no_parameters(sim, server):
    # When
    response = raw_call(server, "GetAccountBalance", b"")
    # Then
    assert response.status_code == 200
    assert response.json() == {"AvailableBalance": "100.00"}


def test_valid_raw_request_passes(sim, server):
    # Given
    hit_id = sim.add_hit(KEY)
    # When
    response = raw_call(server, "ListAssignmentsForHIT", {"HITId": hit_id, "AssignmentStatuses": ["Submitted"], "MaxResults": 5})
    # Then
    assert response.status_code == 200
    assert response.json() == {"NumResults": 0, "Assignments": []}
    assert response.headers["Content-Type"] == "application/x-amz-json-1.1"
