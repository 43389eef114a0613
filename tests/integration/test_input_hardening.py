"""Bad input never reaches storage and never answers 500: every route that takes a body, end to end.

Bodies are sent raw, as a client's bytes: `\\ud800` below is the JSON escape (six ASCII characters), which
`json.loads` turns into a Python str holding a lone surrogate that DynamoDB cannot store.
"""
from __future__ import annotations

import pytest

from local.mturk_simulator.faults import WRITE_OPERATIONS
from local.stack import DEMO_MTURK_KEY

DEEP = b"[" * 1000 + b"]" * 1000
HUGE_INT = b"9" * 5000


def history_of(api, assignment_id):
    response = api.get(f"/assignments/{assignment_id}")
    assert response.status_code == 200, response.text
    return response.json()["history"]


def mturk_writes(sim, *ids):
    """Writes the simulator answered that name one of these assignments, HITs or HIT types."""
    return [call for call in sim.calls() if call.operation in WRITE_OPERATIONS
            and any(i in str(call.params) for i in ids)]


def assert_refused(response, code, **expected):
    assert response.status_code == 400, response.text
    body = response.json()
    assert body["code"] == code, body
    for name, value in expected.items():
        assert body.get(name) == value, body
    assert body["message"] and body["requestId"]
    return body


def hit_and_type_of(sim, assignment_id):
    hit_id = sim.get_assignment_state(assignment_id).hit_id
    return hit_id, sim.get_hit_state(hit_id).hit_type_id


@pytest.fixture()
def submitted(seed):
    return seed("Submitted")


@pytest.fixture()
def rejected(seed):
    return seed("Rejected", days_ago=2, worker_id="AWORKERHARDEN1")


DECISIONS = ["reject", "reverse", "approve"]
STATE_FOR = {"reject": "Submitted", "reverse": "Rejected", "approve": "Submitted"}


class TestLoneSurrogateInFeedbackAndReason:
    @pytest.mark.parametrize("dry_run", [False, True], ids=["live", "dry-run"])
    @pytest.mark.parametrize("action", DECISIONS)
    def test_given_lone_surrogate_in_feedback_when_decided_then_400_invalid_unicode_and_nothing_written(
            self, api, sim, seed, action, dry_run):
        # Given
        assignment_id = seed(STATE_FOR[action], days_ago=2)
        # When
        query = "?dryRun=true" if dry_run else ""
        response = api.post(f"/assignments/{assignment_id}/{action}{query}", raw=rb'{"feedback": "a\ud800b"}')
        # Then
        body = assert_refused(response, "INVALID_FEEDBACK", rule="INVALID_UNICODE", position=1)
        assert "Feedback" in body["message"] and "U+D800" in body["message"]
        assert history_of(api, assignment_id) == []
        assert mturk_writes(sim, assignment_id) == []

    def test_given_lone_surrogate_in_reason_when_rejected_then_400_naming_reason(self, api, sim, submitted):
        # When
        response = api.post(f"/assignments/{submitted}/reject", raw=rb'{"feedback": "ok", "reason": "\udfff"}')
        # Then
        assert_refused(response, "INVALID_REQUEST", field="reason")
        assert history_of(api, submitted) == []
        assert mturk_writes(sim, submitted) == []

    def test_given_idempotency_key_and_lone_surrogate_when_rejected_then_400_and_a_retry_is_refused_alike(
            self, api, sim, submitted):
        # Given
        headers = {"Idempotency-Key": "harden-surrogate-1"}
        raw = rb'{"feedback": "bad \ud83d half"}'
        # When
        first = api.post(f"/assignments/{submitted}/reject", raw=raw, headers=headers)
        second = api.post(f"/assignments/{submitted}/reject", raw=raw, headers=headers)
        # Then
        for response in (first, second):
            assert_refused(response, "INVALID_FEEDBACK", rule="INVALID_UNICODE")
        assert history_of(api, submitted) == []
        assert mturk_writes(sim, submitted) == []

    def test_given_scheduled_reversal_with_lone_surrogate_then_400_and_nothing_scheduled(self, api, sim, rejected):
        # When
        response = api.post(f"/assignments/{rejected}/reverse",
                            raw=rb'{"feedback": "\udc00", "at": "2099-01-01T00:00:00Z"}')
        # Then
        assert_refused(response, "INVALID_FEEDBACK", rule="INVALID_UNICODE")
        details = api.get(f"/assignments/{rejected}").json()
        assert details["history"] == [] and "scheduledReversal" not in details
        assert mturk_writes(sim, rejected) == []

    def test_given_valid_surrogate_pair_in_feedback_then_accepted(self, api, sim, submitted):
        # Given an emoji written as a JSON surrogate pair: one astral character, valid Unicode
        raw = rb'{"feedback": "Thanks \ud83d\ude00 but the answer is missing"}'
        # When
        response = api.post(f"/assignments/{submitted}/reject", raw=raw)
        # Then
        assert response.status_code == 200, response.text
        assert sim.get_assignment_state(submitted).feedback == "Thanks \U0001F600 but the answer is missing"

    def test_given_lone_surrogate_in_hit_reversal_feedback_then_400_and_nothing_queued(self, api, sim, rejected):
        # Given
        hit_id, _ = hit_and_type_of(sim, rejected)
        # When
        response = api.post(f"/hits/{hit_id}/reversals", raw=rb'{"feedback": "x\udbffy"}')
        # Then
        assert_refused(response, "INVALID_FEEDBACK", rule="INVALID_UNICODE")
        assert history_of(api, rejected) == []
        assert mturk_writes(sim, rejected, hit_id) == []


class TestLoneSurrogateElsewhere:
    @pytest.mark.parametrize("raw,field", [
        (rb'{"feedback": "ok", "provisionalFor": "PT1H\ud800"}', "provisionalFor"),
        (rb'{"feedback": "ok", "\ud800": 1}', "\\ud800"),
        (rb'{"feedback": "ok", "extra": {"deeper": ["fine", "\udc01"]}}', "extra.deeper[1]"),
    ], ids=["provisionalFor", "unknown-key", "nested-unknown-field"])
    def test_given_lone_surrogate_in_another_field_when_rejected_then_400_naming_its_path(
            self, api, sim, submitted, raw, field):
        # When
        response = api.post(f"/assignments/{submitted}/reject", raw=raw)
        # Then
        assert_refused(response, "INVALID_REQUEST", field=field)
        assert history_of(api, submitted) == []
        assert mturk_writes(sim, submitted) == []

    def test_given_lone_surrogate_in_worker_ids_then_400_naming_the_element(self, api, sim, rejected):
        # Given
        hit_id, _ = hit_and_type_of(sim, rejected)
        # When
        response = api.post(f"/hits/{hit_id}/reversals", raw=rb'{"workerIds": ["AWORKERHARDEN1", "A\ud800"]}')
        # Then
        assert_refused(response, "INVALID_REQUEST", field="workerIds[1]")
        assert history_of(api, rejected) == []
        assert mturk_writes(sim, rejected, hit_id) == []

    @pytest.mark.parametrize("member", ["feedback", "reason", "hitId", "action"])
    def test_given_lone_surrogate_in_a_batch_item_then_400_naming_item_and_member(self, api, sim, submitted, member):
        # Given
        item = {"assignmentId": submitted, "action": "reject", "feedback": "no", "reason": "r", "hitId": "ABC"}
        members = ", ".join(f'"{k}": "{v}"' for k, v in item.items() if k != member)
        raw = ('{"items": [{"assignmentId": "OTHERASSIGNMENT1", "action": "approve"}, {' + members
               + f', "{member}": "\\ud800"' + "}]}").encode()
        # When
        response = api.post("/batches", raw=raw)
        # Then
        assert_refused(response, "INVALID_REQUEST", field=f"items[1].{member}")
        assert history_of(api, submitted) == []
        assert mturk_writes(sim, submitted) == []

    def test_given_lone_surrogate_in_notifications_body_then_400_and_settings_untouched(self, api, sim, submitted):
        # Given
        _, hit_type = hit_and_type_of(sim, submitted)
        # When
        response = api.request("PUT", f"/hit-types/{hit_type}/notifications", raw=rb'{"active": true, "x": "\ud800"}')
        # Then
        assert_refused(response, "INVALID_REQUEST", field="x")
        assert mturk_writes(sim, hit_type) == []
        assert sim.get_notification_settings(DEMO_MTURK_KEY[0], hit_type) is None


ROUTES_WITH_BODIES = [
    ("POST", "/assignments/{assignment}/reject"),
    ("POST", "/assignments/{assignment}/reverse"),
    ("POST", "/assignments/{assignment}/approve"),
    ("POST", "/batches"),
    ("POST", "/hits/{hit}/reversals"),
    ("PUT", "/hit-types/{hit_type}/notifications"),
]


def _route(template, sim, assignment_id):
    hit_id, hit_type = hit_and_type_of(sim, assignment_id)
    return template.format(assignment=assignment_id, hit=hit_id, hit_type=hit_type)


class TestDeepNesting:
    @pytest.mark.parametrize("method,template", ROUTES_WITH_BODIES, ids=[t for _, t in ROUTES_WITH_BODIES])
    def test_given_body_nested_1000_deep_then_400_naming_body_on_every_route(self, api, sim, seed, method, template):
        # Given
        assignment_id = seed("Rejected", days_ago=2)
        # When
        response = api.request(method, _route(template, sim, assignment_id), raw=b'{"feedback": ' + DEEP + b"}")
        # Then
        body = assert_refused(response, "INVALID_REQUEST", field="body")
        assert "64" in body["message"]
        assert history_of(api, assignment_id) == []
        assert mturk_writes(sim, assignment_id, *hit_and_type_of(sim, assignment_id)) == []

    def test_given_body_of_only_brackets_then_400_not_500(self, api, submitted):
        # When
        response = api.post(f"/assignments/{submitted}/reject", raw=b"[" * 100_000)
        # Then
        assert_refused(response, "INVALID_REQUEST", field="body")

    def test_given_brackets_inside_strings_then_not_counted_as_nesting(self, api, sim, submitted):
        # Given feedback text full of brackets and an escaped quote
        feedback = '[' * 200 + '\\" {{{' + ']' * 3
        # When
        response = api.post(f"/assignments/{submitted}/reject?dryRun=true", raw=f'{{"feedback": "{feedback}"}}'.encode())
        # Then
        assert response.status_code == 200, response.text


class TestNumbers:
    @pytest.mark.parametrize("method,template", ROUTES_WITH_BODIES, ids=[t for _, t in ROUTES_WITH_BODIES])
    def test_given_5000_digit_integer_then_400_naming_the_field_on_every_route(self, api, sim, seed, method, template):
        # Given
        assignment_id = seed("Rejected", days_ago=2)
        # When
        response = api.request(method, _route(template, sim, assignment_id), raw=b'{"reason": ' + HUGE_INT + b"}")
        # Then
        body = assert_refused(response, "INVALID_REQUEST", field="reason")
        assert "4300" in body["message"]
        assert history_of(api, assignment_id) == []
        assert mturk_writes(sim, assignment_id, *hit_and_type_of(sim, assignment_id)) == []

    def test_given_huge_integer_in_a_batch_item_then_400_naming_item_path(self, api, sim, submitted):
        # Given
        raw = (b'{"items": [{"assignmentId": "A1", "action": "approve"}, {"assignmentId": "A2", "action": "approve"},'
               b' {"assignmentId": "' + submitted.encode() + b'", "action": "approve", "line": -' + HUGE_INT + b"}]}")
        # When
        response = api.post("/batches", raw=raw)
        # Then
        assert_refused(response, "INVALID_REQUEST", field="items[2].line")
        assert mturk_writes(sim, submitted) == []

    @pytest.mark.parametrize("literal", [b"NaN", b"Infinity", b"-Infinity", b"1e999"])
    def test_given_non_finite_number_then_400_naming_the_field(self, api, sim, submitted, literal):
        # Given
        _, hit_type = hit_and_type_of(sim, submitted)
        # When
        response = api.request("PUT", f"/hit-types/{hit_type}/notifications", raw=b'{"active": ' + literal + b"}")
        # Then
        assert_refused(response, "INVALID_REQUEST", field="active")
        assert mturk_writes(sim, hit_type) == []

    def test_given_nan_as_the_whole_body_then_400_naming_body(self, api, submitted):
        # When
        response = api.post(f"/assignments/{submitted}/approve", raw=b"NaN")
        # Then
        assert_refused(response, "INVALID_REQUEST", field="body")


class TestIdsWithTrailingNewline:
    @pytest.mark.parametrize("member", ["assignmentId", "hitId"])
    def test_given_batch_item_id_with_trailing_newline_then_400_and_nothing_queued(self, api, sim, submitted, member):
        # Given
        hit_id, _ = hit_and_type_of(sim, submitted)
        item = {"assignmentId": submitted, "action": "approve", "hitId": hit_id}
        item[member] += "\n"
        # When
        response = api.post("/batches", {"items": [item]})
        # Then
        body = assert_refused(response, "INVALID_BATCH")
        assert body["errors"][0]["field"] == member
        assert history_of(api, submitted) == []
        assert mturk_writes(sim, submitted) == []

    def test_given_worker_id_with_trailing_newline_then_400(self, api, sim, rejected):
        # Given
        hit_id, _ = hit_and_type_of(sim, rejected)
        # When
        response = api.post(f"/hits/{hit_id}/reversals", {"workerIds": ["AWORKERHARDEN1\n"]})
        # Then
        assert_refused(response, "INVALID_REQUEST")
        assert history_of(api, rejected) == []
        assert mturk_writes(sim, rejected, hit_id) == []

    @pytest.mark.parametrize("suffix", ["%0A", "%0D%0A", "%0A%0A"])
    @pytest.mark.parametrize("action", DECISIONS)
    def test_given_path_id_with_trailing_newline_when_decided_then_400_and_nothing_written(
            self, api, sim, seed, action, suffix):
        # Given
        assignment_id = seed(STATE_FOR[action], days_ago=2)
        # When
        response = api.post(f"/assignments/{assignment_id}{suffix}/{action}", {"feedback": "no"})
        # Then
        assert_refused(response, "INVALID_REQUEST", field="assignmentId")
        assert history_of(api, assignment_id) == []
        assert mturk_writes(sim, assignment_id) == []

    def test_given_trailing_newline_after_the_last_path_segment_then_400_not_another_assignment(self, api, submitted):
        # When the id is the last segment, where a regex `$` would match before the newline
        response = api.get(f"/assignments/{submitted}%0A")
        # Then
        assert_refused(response, "INVALID_REQUEST", field="assignmentId")

    @pytest.mark.parametrize("template,field", [
        ("/hits/{hit}%0A/reversals", "hitId"),
        ("/hit-types/{hit_type}%0A/notifications", "hitTypeId"),
    ])
    def test_given_other_path_ids_with_trailing_newline_then_400(self, api, sim, submitted, template, field):
        # When
        method = "PUT" if "notifications" in template else "POST"
        response = api.request(method, _route(template, sim, submitted), {})
        # Then
        assert_refused(response, "INVALID_REQUEST", field=field)
        assert mturk_writes(sim, *hit_and_type_of(sim, submitted)) == []


class TestStillAccepted:
    def test_given_csv_batch_then_the_json_guard_does_not_apply(self, api, sim, submitted):
        # Given a CSV (not JSON) full of brackets
        hit_id, _ = hit_and_type_of(sim, submitted)
        csv_text = f"HITId,AssignmentId,Approve,Reject\n{hit_id},{submitted},,{'[' * 100}\n"
        # When
        response = api.request("POST", "/batches?dryRun=true", raw=csv_text.encode(), headers={"Content-Type": "text/csv"})
        # Then
        assert response.status_code == 200, response.text

    def test_given_64_levels_of_nesting_then_the_guard_lets_the_route_answer(self, api, submitted):
        # Given a body exactly 64 levels deep (the object plus 63 lists)
        raw = b'{"feedback": ' + b"[" * 63 + b"]" * 63 + b"}"
        # When
        response = api.post(f"/assignments/{submitted}/reject", raw=raw)
        # Then pydantic refuses the list where a string belongs, naming the field
        assert_refused(response, "INVALID_REQUEST")
        assert "feedback" in response.json()["message"]

    def test_given_malformed_json_then_the_routes_own_answer(self, api, submitted):
        # When
        response = api.post(f"/assignments/{submitted}/reject", raw=b'{"feedback": ')
        # Then
        assert response.status_code == 400 and response.json()["code"] == "MALFORMED_JSON"
