"""Small presentation rules: money, times, principals, and no colour codes when not on a terminal."""
from __future__ import annotations

import pytest

from mturk_decisions_cli.render import money, principal, shorten, when


@pytest.mark.parametrize("value,shown", [("0.6", "$0.60"), ("100.00", "$100.00"), ("-0.40", "-$0.40"), ("0", "$0.00"),
                                         (None, "-"), ("n/a", "$n/a")])
def test_money_is_shown_in_dollars_and_cents(value, shown):
    # When / Then
    assert money(value) == shown


def test_times_drop_the_milliseconds_and_keep_the_zone():
    # When / Then
    assert when("2026-11-23T15:57:16.101Z") == "2026-11-23 15:57:16Z"
    assert when("2026-11-23") == "2026-11-23" and when(None) == "-"


def test_principals_are_shown_without_the_arn_prefix():
    # When / Then
    assert principal("arn:aws:iam::000000000000:user/demo-requester") == "user/demo-requester"
    assert principal("arn:aws:sts::1:assumed-role/Reviewer/alice") == "assumed-role/Reviewer/alice"
    assert principal("local") == "local"


def test_shorten_collapses_whitespace():
    # When / Then
    assert shorten("a\n  b", 10) == "a b" and shorten("x" * 20, 10) == "x" * 9 + "…"


def test_no_ansi_codes_when_stdout_is_not_a_terminal(run, fake_api):
    # Given
    fake_api.on("GET", "/assignments/A1", (200, {"assignment": {"assignmentId": "A1", "status": "Rejected"},
                                                 "history": [{"action": "reject", "state": "FAILED"}]}))
    # When
    result = run("show", "A1")
    # Then
    assert result.exit_code == 0 and "\x1b[" not in result.stdout + result.stderr
