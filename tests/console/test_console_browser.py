"""`mturk-decisions console` in headless Chromium against the offline stack: each page as a requester uses it.

Every test opens the address the command printed, works through the pages with the keyboard-reachable
controls a person would use (labels, buttons, links), checks what MTurk (the simulator) and the audit hold
afterwards, and saves a screenshot of the page under tests/artifacts/console/.
"""
from __future__ import annotations

import re
from datetime import timedelta

import pytest
from playwright.sync_api import expect

from local.stack import DEMO_MTURK_KEY, DEMO_PRINCIPAL
from tests.console.conftest import README_SCREENSHOT, UI_TIMEOUT_MS, screenshot
from tests.waiting import wait_until


def _open_assignment(page, assignment_id: str) -> None:
    page.get_by_role("link", name="Assignment", exact=True).click()
    page.get_by_label("Assignment id").fill(assignment_id)
    page.get_by_role("button", name="Look up").click()
    expect(page.locator("#assignment-status")).to_be_visible()


def test_given_feedback_with_a_control_character_when_rejecting_then_the_rule_is_shown_and_nothing_is_sent(
        page, console, seed, sim, api, served):
    # Given a Submitted assignment, open in the console
    assignment_id = seed(status="Submitted")
    hit_id = sim.get_assignment_state(assignment_id).hit_id
    _open_assignment(page, assignment_id)
    # When the requester types feedback holding a BEL character (U+0007) and asks for the plan
    page.get_by_label("Feedback the worker will see (required)").fill("Labels\u0007 do not match.")
    live = page.locator("#reject-check")
    expect(live).to_contain_text("FORBIDDEN_CHARACTER")
    expect(live.locator("mark")).to_have_text("U+0007")
    page.locator("#reject-h + form").get_by_role("button", name="Check and show the plan…").click()
    # Then the page names the rule and marks the character where it is; nothing reached MTurk or the audit
    problem = page.locator("#problem")
    expect(problem).to_contain_text("FORBIDDEN_CHARACTER")
    expect(problem).to_contain_text("position 6")
    expect(problem.locator("mark")).to_have_text("U+0007")
    assert sim.get_assignment_state(assignment_id).status == "Submitted"
    assert api.get(f"/decisions?hitId={hit_id}").json()["decisions"] == []
    # And the typed text is kept in the form, to correct it
    expect(page.get_by_label("Feedback the worker will see (required)")).to_have_value("Labels\u0007 do not match.")
    screenshot(page, "assignment_reject_refused")


def test_given_a_rejection_when_reversing_then_the_plan_is_shown_and_applied_after_confirmation(
        page, console, seed, sim, served):
    # Given a rejected assignment, open in the console
    assignment_id = seed(status="Rejected", days_ago=2)
    _open_assignment(page, assignment_id)
    expect(page.locator("#assignment-status")).to_have_text("Rejected")
    # When the requester asks to reverse it
    page.locator("#reverse-h + form").get_by_role("button", name="Check and show the plan…").click()
    # Then the dry run's plan is shown (checks, cost, balance before and after) and nothing is changed yet
    plan = page.locator("#plan")
    expect(plan).to_contain_text("Rejected → Approved")
    expect(plan).to_contain_text("reversal-window")
    expect(plan).to_contain_text("$0.60 (reward $0.50 + fee $0.10)")
    expect(plan).to_contain_text("$100.00 → $99.40")
    assert sim.get_assignment_state(assignment_id).status == "Rejected"
    screenshot(page, "assignment_reverse_plan")
    # When the requester confirms
    page.get_by_role("button", name="Confirm: reverse the rejection").click()
    # Then the rejection is reversed at MTurk and the page shows the new status and the decision
    expect(page.locator(".notice.ok")).to_contain_text("Reversed the rejection")
    expect(page.locator("#assignment-status")).to_have_text("Approved")
    assert sim.get_assignment_state(assignment_id).status == "Approved"
    screenshot(page, "assignment_reversed")
