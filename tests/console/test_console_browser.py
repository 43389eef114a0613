"""`mturk-decisions console` in headless Chromium against the offline stack: each page as a requester uses it.

Every test opens the address the command printed, works through the pages with the keyboard-reachable
controls a person would use (labels, buttons, links), checks what MTurk (the simulator) and the audit hold
afterwards, and saves a screenshot of the page under tests/artifacts/console/.
"""
from __future__ import annotations

from pathlib import Path

from playwright.sync_api import expect

from local.stack import DEMO_PRINCIPAL
from tests.console.conftest import UI_TIMEOUT_MS, screenshot


def _go(page, name: str) -> None:
    """Follow a link of the page's navigation, as a person (or the keyboard) would."""
    page.get_by_role("navigation", name="Pages").get_by_role("link", name=name, exact=True).click()


def _open_assignment(page, assignment_id: str) -> None:
    _go(page, "Assignment")
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


def _results_csv(rows: list[tuple[str, str, str, str, str]]) -> str:
    """A batch-results CSV as the requester website exports it (the columns the API reads, and one more)."""
    lines = ['"HITId","AssignmentId","WorkerId","AssignmentStatus","Answer.label","Approve","Reject"']
    lines += [f'"{hit}","{aid}","AWORKER","{status}","stop","{approve}","{reject}"'
              for hit, aid, status, approve, reject in rows]
    return "\r\n".join(lines) + "\r\n"


def test_given_a_results_csv_when_uploaded_then_its_plan_is_shown_applied_and_progress_reaches_completed(
        page, console, seed, sim, served, tmp_path):
    # Given a rejected assignment marked for approval (a reversal) and a submitted one marked for rejection
    to_reverse = seed(status="Rejected", days_ago=3)
    hit_id = sim.get_assignment_state(to_reverse).hit_id
    to_reject = seed(status="Submitted", hit_id=hit_id)
    csv_file = tmp_path / "Batch_4242_batch_results.csv"
    csv_file.write_text(_results_csv([(hit_id, to_reverse, "Rejected", "x", ""),
                                      (hit_id, to_reject, "Submitted", "", "The labels do not match the signs.")]))
    # When the requester uploads it on the Batches page
    _go(page, "Batches")
    page.get_by_label("Batch-results CSV (at most 5 MB here").set_input_files(str(csv_file))
    page.get_by_role("button", name="Upload and show the plan…").click()
    # Then the plan shows one reversal and one rejection, the cost against the balance; nothing is sent yet
    totals = page.locator("table.totals tbody tr")
    expect(totals).to_contain_text("$0.60")
    expect(page.locator("table.totals tbody td").nth(0)).to_have_text("1")  # reject
    expect(page.locator("table.totals tbody td").nth(1)).to_have_text("1")  # reverse
    expect(page.locator("table.plan")).to_contain_text(to_reverse)
    assert sim.get_assignment_state(to_reverse).status == "Rejected"
    screenshot(page, "batches_plan")
    # When the requester applies it
    page.get_by_role("button", name="Apply this batch").click()
    # Then the progress page follows the batch until COMPLETED, and MTurk holds both decisions
    expect(page.locator("#batch-status")).to_have_text("COMPLETED", timeout=UI_TIMEOUT_MS * 2)
    expect(page.locator("[data-count=succeeded]")).to_have_text("2")
    assert sim.get_assignment_state(to_reverse).status == "Approved"
    assert sim.get_assignment_state(to_reject).status == "Rejected"
    screenshot(page, "batches_progress")


def test_given_a_provisional_rejection_when_listed_under_automatic_reversals_then_it_can_be_confirmed(
        page, console, seed, sim, api, served):
    # Given a Submitted assignment rejected provisionally (24 hours) through the console
    assignment_id = seed(status="Submitted")
    _open_assignment(page, assignment_id)
    page.get_by_label("Feedback the worker will see (required)").fill("The answer was copied from another worker.")
    page.get_by_label("Provisional: reversed automatically unless confirmed within").select_option("PT24H")
    page.locator("#reject-h + form").get_by_role("button", name="Check and show the plan…").click()
    expect(page.locator("#plan")).to_contain_text("PT24H")
    page.get_by_role("button", name="Confirm: reject").click()
    expect(page.locator(".notice.ok")).to_contain_text("reversed automatically")
    # When the requester opens Automatic reversals
    _go(page, "Automatic reversals")
    row = page.locator("table.reversals tbody tr").filter(has_text=assignment_id)
    # Then the provisional rejection is listed, pending, with its due time and deadline
    expect(row).to_contain_text("provisional")
    expect(row).to_contain_text("PENDING")
    screenshot(page, "automatic_reversals")
    # When it is confirmed there
    row.get_by_role("button", name="Confirm the rejection").click()
    # Then the page says so, the schedule is confirmed and the assignment stays rejected
    expect(page.locator(".notice.ok")).to_contain_text("confirmed")
    expect(page.locator("table.reversals tbody tr").filter(has_text=assignment_id)).to_have_count(0)
    schedule = api.get(f"/assignments/{assignment_id}").json()["scheduledReversal"]
    assert schedule["state"] == "CONFIRMED"
    assert sim.get_assignment_state(assignment_id).status == "Rejected"


def test_given_rejections_of_a_hit_when_several_are_selected_then_they_are_reversed_as_one_batch(
        page, console, seed, sim, api, served):
    # Given two rejections of one HIT made through the API (so they are in the audit)
    first = seed(status="Submitted", days_ago=2)
    hit_id = sim.get_assignment_state(first).hit_id
    second = seed(status="Submitted", days_ago=2, hit_id=hit_id)
    for assignment_id in (first, second):
        assert api.post(f"/assignments/{assignment_id}/reject", {"feedback": "Wrong labels."}).status_code == 200
    # When the requester lists the HIT's rejections, selects both and asks to reverse them
    _go(page, "Rejections")
    page.get_by_label("HIT id").fill(hit_id)
    page.get_by_role("button", name="List rejections").click()
    expect(page.locator("table.rejections tbody tr")).to_have_count(2)
    expect(page.locator("table.rejections")).to_contain_text("days")
    screenshot(page, "rejections")
    page.get_by_label(f"Select {first}").check()
    page.get_by_label(f"Select {second}").check()
    page.get_by_role("button", name="Reverse the selected rejections…").click()
    # Then the plan shows both reversals; applied, they run as one batch to COMPLETED
    expect(page.locator("table.totals tbody td").nth(1)).to_have_text("2")
    page.get_by_role("button", name="Apply: reverse 2 rejection(s)").click()
    expect(page.locator("#batch-status")).to_have_text("COMPLETED", timeout=UI_TIMEOUT_MS * 2)
    assert {sim.get_assignment_state(a).status for a in (first, second)} == {"Approved"}


def test_given_decisions_in_the_audit_when_searching_then_they_are_listed_and_exported_as_csv(
        page, console, seed, sim, api, served):
    # Given a rejection in the audit
    assignment_id = seed(status="Submitted")
    worker_id = sim.get_assignment_state(assignment_id).worker_id
    assert api.post(f"/assignments/{assignment_id}/reject", {"feedback": "=cmd|' /C calc'!A0"}).status_code == 200
    # When the requester searches the worker's audit
    _go(page, "Audit")
    page.get_by_label("Worker id").fill(worker_id)
    page.get_by_role("button", name="Search").click()
    # Then the decision is listed, and the export is a CSV file of the same search, formulas defused
    expect(page.locator("table.audit tbody tr")).to_have_count(1)
    expect(page.locator("table.audit")).to_contain_text(assignment_id)
    screenshot(page, "audit")
    with page.expect_download() as downloaded:
        page.get_by_role("link", name="Export this search as CSV").click()
    text = Path(downloaded.value.path()).read_text(encoding="utf-8")
    assert text.splitlines()[0].startswith("createdAt,assignmentId,hitId,workerId,action")
    assert assignment_id in text and "'=cmd" in text


def test_given_the_console_when_the_overview_opens_then_it_shows_the_chart_or_why_not_and_never_fails(
        page, console, served):
    # Given the console open
    # When the Overview is shown
    _go(page, "Overview")
    # Then it shows the decisions-per-day chart, or says why there is no data; and the other sections
    expect(page.locator("svg.chart, #chart-no-data")).to_have_count(1)
    expect(page.get_by_role("heading", name="Pending automatic reversals, by deadline")).to_be_visible()
    expect(page.get_by_role("heading", name="Batches started from this console")).to_be_visible()
    assert "token=" not in page.url
    screenshot(page, "overview")
    # And the keys never reached the page
    assert DEMO_PRINCIPAL.secret_access_key not in page.content()


def test_given_a_rejection_when_reversed_with_a_message_then_the_worker_is_told(page, console, seed, sim, served):
    # Given a rejected assignment, open in the console
    assignment_id = seed(status="Rejected", days_ago=2)
    worker_id = sim.get_assignment_state(assignment_id).worker_id
    _open_assignment(page, assignment_id)
    # When the requester reverses it with "Tell the worker the rejection was reversed" and a message
    page.get_by_label("Tell the worker the rejection was reversed").check()
    page.get_by_label("Subject (at most 200 characters)").fill("Your HIT was approved after all")
    page.get_by_label("Message (at most 4,096 characters)").fill("Sorry: our QA rule 7 was wrong.")
    page.locator("#reverse-h + form").get_by_role("button", name="Check and show the plan…").click()
    expect(page.locator("#plan")).to_contain_text("Your HIT was approved after all")
    screenshot(page, "readme_console", full_page=False)  # docs/images/console.png is a copy of this one
    page.get_by_role("button", name="Confirm: reverse the rejection").click()
    # Then the rejection is reversed, the page says the message was sent, and MTurk sent it to the worker
    expect(page.locator(".notice.ok")).to_contain_text("Message to the worker: SENT")
    assert sim.get_assignment_state(assignment_id).status == "Approved"
    sent = sim.worker_messages(worker_id)
    assert [(m.subject, m.message) for m in sent] == [("Your HIT was approved after all",
                                                       "Sorry: our QA rule 7 was wrong.")]
    screenshot(page, "assignment_reversed_and_told")


def test_given_only_a_keyboard_when_looking_up_an_assignment_then_every_step_is_reachable(page, console, seed, served):
    # Given a Submitted assignment and the console open, used with the keyboard only
    assignment_id = seed(status="Submitted")
    # When the requester tabs from the top of the page
    page.keyboard.press("Tab")
    first = page.evaluate("document.activeElement.textContent")
    page.keyboard.press("Tab")
    second = page.evaluate("document.activeElement.textContent")
    # Then the first stop skips to the content, the next is the first page of the navigation
    assert (first, second) == ("Skip to content", "Overview")
    # When it goes to Assignment with the keyboard, types the id and presses Enter
    page.keyboard.press("Tab")
    assert page.evaluate("document.activeElement.textContent") == "Assignment"
    page.keyboard.press("Enter")
    page.wait_for_url("**/assignment")
    page.get_by_label("Assignment id").focus()
    page.keyboard.type(assignment_id)
    page.keyboard.press("Enter")
    # Then the assignment is shown, and its reject feedback field is reachable by Tab from the look-up form
    expect(page.locator("#assignment-status")).to_have_text("Submitted")
    page.get_by_label("Assignment id").focus()
    for _ in range(12):
        page.keyboard.press("Tab")
        if page.evaluate("document.activeElement.id") == "reject-feedback":
            break
    assert page.evaluate("document.activeElement.id") == "reject-feedback"
