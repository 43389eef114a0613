"""Strings that are not valid Unicode: refused on input like any other bad parameter, and never able to break
the simulator's own answers.

A JSON `\\ud800` escape without its other half is valid JSON but not Unicode text. botocore's serializer sends
it as that escape, so both a boto3 client and a raw request can carry one.
"""

from __future__ import annotations

import json

import pytest
import requests
from botocore.model import Shape

from local.mturk_simulator.operations import HANDLERS
from local.mturk_simulator.validation import service_model
from tests.simulator.sim_helpers import KEY, admin, raw_call

LONE = "a\ud800b"


def _decoded(response) -> dict:
    """The answer as a client reads it: strict UTF-8, then JSON."""
    return json.loads(response.content.decode("utf-8"))


def _string_paths(shape: Shape, depth: int = 0):
    """(path of member names, list positions as 0) to every string member of an input shape."""
    if shape.type_name == "string":
        yield ()
    elif shape.type_name == "structure" and depth < 4:
        for name, member in shape.members.items():
            for rest in _string_paths(member, depth + 1):
                yield (name, *rest)
    elif shape.type_name == "list" and depth < 4:
        for rest in _string_paths(shape.member, depth + 1):
            yield (0, *rest)


def _params_with(path: tuple, value: str):
    if not path:
        return value
    head, *rest = path
    inner = _params_with(tuple(rest), value)
    return [inner] if head == 0 else {head: inner}


def _string_parameters():
    model = service_model()
    for operation in sorted(HANDLERS):
        input_shape = model.operation_model(operation).input_shape
        for path in _string_paths(input_shape) if input_shape is not None else ():
            yield pytest.param(operation, path, id=f"{operation}.{'.'.join(str(p) for p in path)}")


def test_every_supported_operation_has_been_enumerated():
    # When / Then
    assert len(list(_string_parameters())) >= len(HANDLERS) - 2  # GetAccountBalance takes no parameters


class TestRefusedOnInput:
    def test_given_boto3_reject_with_lone_surrogate_then_validation_exception_and_nothing_changes(self, sim, mturk):
        # Given
        assignment_id = sim.add_assignment(sim.add_hit(KEY))
        # When
        with pytest.raises(mturk.exceptions.ClientError) as raised:
            mturk.reject_assignment(AssignmentId=assignment_id, RequesterFeedback=LONE)
        # Then
        error = raised.value.response["Error"]
        assert raised.value.response["ResponseMetadata"]["HTTPStatusCode"] == 400
        assert error["Code"] == "ValidationException"
        assert "'requesterFeedback'" in error["Message"] and "valid Unicode" in error["Message"]
        assert "\\ud800" in error["Message"]  # the value is shown escaped, as text
        state = sim.get_assignment_state(assignment_id)
        assert (state.status, state.feedback) == ("Submitted", None)
        [call] = sim.calls("RejectAssignment")
        assert (call.outcome, call.http_status, call.applied) == ("ValidationException", 400, False)

    def test_given_refused_surrogate_then_every_read_still_answers(self, sim, server, mturk):
        # Given
        hit_id = sim.add_hit(KEY)
        assignment_id = sim.add_assignment(hit_id)
        with pytest.raises(mturk.exceptions.ClientError):
            mturk.approve_assignment(AssignmentId=assignment_id, RequesterFeedback=LONE)
        # When
        assignment = mturk.get_assignment(AssignmentId=assignment_id)["Assignment"]
        listed = mturk.list_assignments_for_hit(HITId=hit_id)["Assignments"]
        hit = mturk.get_hit(HITId=hit_id)["HIT"]
        # Then
        assert assignment["AssignmentStatus"] == "Submitted" and "RequesterFeedback" not in assignment
        assert [a["AssignmentId"] for a in listed] == [assignment_id] and hit["HITId"] == hit_id
        for path in ("/state", f"/assignments/{assignment_id}", f"/hits/{hit_id}", "/calls"):
            response = admin(server, "GET", path)
            assert response.status_code == 200, path
            _decoded(response)

    @pytest.mark.parametrize("operation,path", list(_string_parameters()))
    def test_given_lone_surrogate_in_any_string_parameter_then_400_validation_exception_naming_it(
            self, sim, server, operation, path):
        # Given
        params = _params_with(path, LONE)
        # When
        response = raw_call(server, operation, params)
        # Then
        body = _decoded(response)
        assert response.status_code == 400, body
        assert body["__type"] == "ValidationException"
        member = ".".join(f"{p[:1].lower()}{p[1:]}" for p in path if isinstance(p, str))
        constraint = "Member must be valid Unicode text"
        if path[-1] == 0:  # a list of strings is reported at the list, as for its other element constraints
            constraint = f"Member must satisfy constraint: [{constraint}"
        assert f"'{member}' failed to satisfy constraint: {constraint}" in body["Message"]
        [call] = sim.calls(operation)
        assert call.outcome == "ValidationException" and not call.applied

    @pytest.mark.parametrize("params", [{"\udc00Unknown": "x"}, {"MaxResults": 5, "Extra": ["\ud800"]}],
                             ids=["key", "value-of-unknown-member"])
    def test_given_lone_surrogate_in_an_unknown_member_then_400_with_an_encodable_message(self, server, params):
        # When
        response = raw_call(server, "ListHITs", params)
        # Then
        body = _decoded(response)
        assert (response.status_code, body["__type"]) == (400, "ValidationException")
        assert "Member is not defined in the input shape" in body["Message"]

    def test_given_a_valid_surrogate_pair_then_accepted_as_one_character(self, sim, mturk):
        # Given
        assignment_id = sim.add_assignment(sim.add_hit(KEY))
        # When
        mturk.reject_assignment(AssignmentId=assignment_id, RequesterFeedback="Thanks \U0001F600")
        # Then
        assert sim.get_assignment_state(assignment_id).feedback == "Thanks \U0001F600"

    def test_given_website_reject_with_lone_surrogate_then_request_error_and_nothing_changes(self, sim, server):
        # Given
        assignment_id = sim.add_assignment(sim.add_hit(KEY))
        # When
        response = admin(server, "POST", "/website/reject", {"assignmentId": assignment_id, "feedback": LONE})
        # Then
        body = _decoded(response)
        assert response.status_code == 400 and body["turkErrorCode"] == "AWS.MechanicalTurk.InvalidParameterValue"
        assert "valid Unicode" in body["error"]
        assert sim.get_assignment_state(assignment_id).status == "Submitted"


class TestAnswersNeverBreak:
    def test_given_stored_feedback_with_lone_surrogate_then_reads_answer_it_escaped(self, sim, server, mturk):
        # Given a string seeded through the Python API, which skips the API's validation
        hit_id = sim.add_hit(KEY, title="title \udfff")
        assignment_id = sim.add_assignment(hit_id, status="Rejected", feedback=LONE)
        # When
        assignment = mturk.get_assignment(AssignmentId=assignment_id)
        state = admin(server, "GET", "/state")
        # Then: valid UTF-8 JSON whose escape decodes back to the stored string
        assert assignment["Assignment"]["RequesterFeedback"] == LONE
        assert assignment["HIT"]["Title"] == "title \udfff"
        assert state.status_code == 200
        assert _decoded(state)["requesters"][0]["hits"][0]["Assignments"][0]["RequesterFeedback"] == LONE

    def test_given_refused_call_then_the_call_log_answers_over_http(self, sim, server):
        # Given
        raw_call(server, "GetAssignment", {"AssignmentId": LONE})
        # When
        response = admin(server, "GET", "/calls?operation=GetAssignment")
        # Then
        [call] = _decoded(response)["calls"]
        assert call["params"] == {"AssignmentId": LONE} and call["outcome"] == "ValidationException"

    @pytest.mark.parametrize("body", [b"[" * 100_000 + b"]" * 100_000, b'{"MaxResults": NaN}',
                                      b'{"MaxResults": ' + b"9" * 5000 + b"}"], ids=["deep", "nan", "huge-int"])
    def test_given_a_body_python_cannot_parse_then_serialization_exception_not_500(self, server, body):
        # When
        response = raw_call(server, "ListHITs", body)
        # Then
        assert (response.status_code, _decoded(response)["__type"]) == (400, "SerializationException")


def test_given_an_admin_body_nested_too_deeply_then_400_not_a_dropped_connection(server):
    # When
    response = requests.post(f"{server.url}/_admin/clock", data=b"[" * 100_000 + b"]" * 100_000, timeout=10)
    # Then
    assert response.status_code == 400 and "nested" in _decoded(response)["error"]
