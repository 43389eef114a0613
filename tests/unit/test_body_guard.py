"""api.body_guard: what a JSON body and a path may hold before any route parses them."""
from __future__ import annotations

import ast
import base64
import inspect
import json
import time

import pytest

from mturk_decisions.api import body_guard
from mturk_decisions.api.body_guard import FIELD_RULES, check_depth, check_path, parse_json, problem, refusal
from mturk_decisions.domain.errors import InvalidFeedback, InvalidRequest, MalformedJson


def nested(levels: int) -> str:
    """A body `levels` deep: an object holding lists."""
    return '{"a": ' + "[" * (levels - 1) + "]" * (levels - 1) + "}"


def refused_field(raw, **kwargs) -> str:
    with pytest.raises(InvalidRequest) as raised:
        parse_json(raw, **kwargs)
    raised.value.message.encode("utf-8")  # every answer can be written anywhere
    return raised.value.details["field"]


class TestDepth:
    def test_given_64_levels_when_parsed_then_accepted(self):
        # Given / When / Then
        assert parse_json(nested(64))["a"] is not None

    def test_given_65_levels_when_parsed_then_refused_naming_body(self):
        # Given
        raw = nested(65)
        # When / Then
        assert refused_field(raw) == "body"

    def test_given_1000_levels_when_parsed_then_refused_before_json_recursion(self):
        # When / Then
        assert refused_field("[" * 1000 + "]" * 1000) == "body"

    def test_given_unclosed_brackets_only_then_refused_as_too_deep(self):
        # When / Then
        assert refused_field("{" * 100_000) == "body"

    @pytest.mark.parametrize("text", [
        json.dumps({"feedback": "[" * 500 + "{" * 500}),
        json.dumps({"feedback": 'quote \" then [[[[' * 100}),
        json.dumps({"feedback": "backslash at the end \\", "other": "[" * 100}),
    ], ids=["brackets", "escaped-quotes", "trailing-backslash"])
    def test_given_brackets_inside_strings_then_not_counted(self, text):
        # When / Then
        check_depth(text)
        assert parse_json(text)

    def test_given_deep_nesting_after_an_unterminated_string_then_no_crash(self):
        # Given text that is not JSON: its string never ends
        raw = '{"a": "open' + "[" * 100
        # When / Then: malformed, never a RecursionError
        with pytest.raises(MalformedJson):
            parse_json(raw)


class TestNumbers:
    def test_given_4300_digits_then_kept(self):
        # Given
        raw = '{"n": ' + "9" * 4300 + "}"
        # When / Then
        assert parse_json(raw)["n"] == int("9" * 4300)

    @pytest.mark.parametrize("sign", ["", "-"])
    def test_given_4301_digits_then_refused_naming_the_field(self, sign):
        # Given
        raw = '{"items": [1, 2, {"line": ' + sign + "9" * 4301 + "}]}"
        # When / Then
        assert refused_field(raw) == "items[2].line"

    @pytest.mark.parametrize("literal", ["NaN", "Infinity", "-Infinity", "1e999", "-1E400"])
    def test_given_non_finite_number_then_refused_naming_the_field(self, literal):
        # When / Then
        assert refused_field('{"x": {"y": [0, ' + literal + "]}}") == "x.y[1]"

    def test_given_non_finite_number_as_the_whole_body_then_body(self):
        # When / Then
        assert refused_field("NaN") == "body"

    def test_given_large_but_finite_float_then_kept(self):
        # When / Then
        assert parse_json('{"x": 1e308}')["x"] == 1e308


class TestUnicode:
    @pytest.mark.parametrize("raw,field", [
        (r'{"workerIds": ["AOK", "A\ud800"]}', "workerIds[1]"),
        (r'{"items": [{"assignmentId": "X\udfffY"}]}', "items[0].assignmentId"),
        (r'{"\ud800": 1}', "\\ud800"),
        (r'{"a": {"\udc00b": 1}}', "a.\\udc00b"),
        (r'["ok", "\ud800"]', "body[1]"),
        (r'"\ud800"', "body"),
    ], ids=["list-element", "item-member", "key", "nested-key", "top-level-list", "top-level-string"])
    def test_given_lone_surrogate_then_refused_naming_its_path(self, raw, field):
        # When / Then
        assert refused_field(raw) == field

    def test_given_first_problem_then_it_is_the_one_named(self):
        # Given two problems, a value before a key in document order
        raw = r'{"a": "\ud800", "\udc00": NaN}'
        # When / Then
        assert refused_field(raw) == "a"

    def test_given_surrogate_pairs_then_accepted_as_one_character(self):
        # When / Then
        assert parse_json(r'{"f": "\ud83d\ude00", "\ud83d\ude01": 1}') == {"f": "\U0001F600", "\U0001F601": 1}

    def test_given_lone_surrogate_in_top_level_feedback_with_field_rules_then_the_domain_rule_answers(self):
        # When
        with pytest.raises(InvalidFeedback) as raised:
            parse_json(r'{"feedback": "a\ud800"}', FIELD_RULES)
        # Then
        assert raised.value.details["rule"] == "INVALID_UNICODE" and raised.value.details["position"] == 1

    def test_given_lone_surrogate_in_top_level_reason_with_field_rules_then_reason_named(self):
        # When / Then
        assert refused_field(r'{"reason": "\udbff"}', field_rules=FIELD_RULES) == "reason"

    def test_given_nested_feedback_then_generic_refusal_with_its_path(self):
        # When / Then
        assert refused_field(r'{"items": [{"feedback": "\ud800"}]}', field_rules=FIELD_RULES) == "items[0].feedback"

    def test_given_a_huge_key_then_the_field_named_is_short(self):
        # When / Then
        assert len(refused_field('{"' + "k" * 10_000 + r'\ud800": 1}')) < 80


class TestMalformed:
    @pytest.mark.parametrize("raw", ['{"a": ', "{'a': 1}", "", b"\xff\xfe{}", '{"a": 1} trailing'])
    def test_given_text_that_is_not_json_then_malformed_json(self, raw):
        # When / Then
        with pytest.raises(MalformedJson):
            parse_json(raw)

    def test_given_utf8_bytes_then_parsed(self):
        # When / Then
        assert parse_json('{"f": "é"}'.encode()) == {"f": "é"}


class TestLargeBodies:
    @pytest.mark.parametrize("text", [
        "[" + "[]," * 1_000_000 + "[]]",
        "[" * 10_000_000,
        json.dumps({"items": [{"assignmentId": f"3A{i:08d}", "action": "reject", "feedback": "x" * 900}
                              for i in range(10_000)]}),
        '"' + '\\"' * 5_000_000,
        "[" + '"\\ud83d\\ude00",' * 700_000 + '"\\ud800"]',
    ], ids=["many-small-lists", "ten-million-brackets", "ten-thousand-items", "escaped-quotes", "many-pairs"])
    def test_given_a_10_mb_body_then_answered_in_well_under_the_lambda_timeout(self, text):
        # When
        started = time.perf_counter()
        try:
            parse_json(text)
        except (InvalidRequest, MalformedJson):
            pass
        # Then
        assert time.perf_counter() - started < 5


def event(path="/assignments/3ABC/reject", body=None, content_type="application/json", **extra):
    headers = {"Content-Type": content_type} if content_type is not None else {}
    return {"path": path, "body": body, "headers": headers, "requestContext": {"requestId": "req-1"}, **extra}


class TestProblem:
    @pytest.mark.parametrize("content_type", ["application/json", "application/json; charset=utf-8", None, ""])
    def test_given_json_body_too_deep_then_refused(self, content_type):
        # When / Then
        assert problem(event(body="[" * 100, content_type=content_type)).details["field"] == "body"

    @pytest.mark.parametrize("content_type", ["text/csv", "text/plain; charset=utf-8", "application/csv"])
    def test_given_csv_upload_then_not_screened_as_json(self, content_type):
        # When / Then
        assert problem(event("/batches", "[" * 100, content_type)) is None

    @pytest.mark.parametrize("content_type", ["Application/JSON", "application/x-www-form-urlencoded"])
    def test_given_batches_with_another_type_then_screened_as_the_route_reads_it(self, content_type):
        # When / Then
        assert problem(event("/batches", "[" * 100, content_type)) is not None

    def test_given_form_body_on_a_decision_route_then_left_to_the_route(self):
        # When / Then
        assert problem(event(body="[" * 100, content_type="application/x-www-form-urlencoded")) is None

    def test_given_malformed_json_then_left_to_the_routes_own_answer(self):
        # When / Then
        assert problem(event(body='{"feedback": ')) is None

    def test_given_base64_body_then_decoded_and_screened(self):
        # When / Then
        body = base64.b64encode(rb'{"x": "\ud800"}').decode()
        assert problem(event(body=body, isBase64Encoded=True)).details["field"] == "x"

    def test_given_base64_body_that_is_not_utf8_then_malformed(self):
        # When / Then
        body = base64.b64encode(b"\xff{}").decode()
        assert isinstance(problem(event(body=body, isBase64Encoded=True)), MalformedJson)

    @pytest.mark.parametrize("path,field", [
        ("/assignments/3ABC\n/reject", "assignmentId"),
        ("/assignments/3ABC\n", "assignmentId"),
        ("/assignments/3ABC\r\n/approve", "assignmentId"),
        ("/hits/3HIT\n/reversals", "hitId"),
        ("/hit-types/3TYPE\x00/notifications", "hitTypeId"),
        ("/batches/abc\t", "batchId"),
        ("/assignments\n/3ABC", "path"),
        ("/assignments/3\ud800", "assignmentId"),
    ])
    def test_given_control_character_in_the_path_then_the_parameter_is_named(self, path, field):
        # When / Then
        assert problem(event(path, None)).details["field"] == field

    def test_given_clean_request_then_no_problem(self):
        # Given a valid surrogate pair (one emoji) and a clean path
        # When / Then
        assert problem(event(body='{"feedback": "Thanks \\ud83d\\ude00"}')) is None
        check_path("/assignments/3ABC/reject")


class TestRefusal:
    def test_given_a_domain_error_when_answered_then_it_has_the_routes_error_shape(self):
        # Given
        error = InvalidRequest("nope", field="body")
        # When
        response = refusal(error, "req-1")
        # Then
        assert response["statusCode"] == 400
        assert response["headers"] == {"Content-Type": "application/json"}
        assert json.loads(response["body"]) == {"code": "INVALID_REQUEST", "message": "nope", "field": "body",
                                                "requestId": "req-1"}


def test_given_the_guard_module_then_every_function_is_at_most_60_lines():
    # Given
    tree = ast.parse(inspect.getsource(body_guard))
    # When
    lengths = {node.name: node.end_lineno - node.lineno + 1 for node in ast.walk(tree)
               if isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef))}
    # Then
    assert max(lengths.values()) <= 60, lengths
