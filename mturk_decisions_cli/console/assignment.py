"""The Assignment page: MTurk's view, the decision history, and every single decision, each checked first.

Reject, reverse and approve go through a dry run (`?dryRun=true`) whose plan (checks passed, cost, balance
before and after) is shown with a Confirm button; the confirmation carries the Idempotency-Key, so sending the
form twice makes one decision. Feedback is checked here, as MTurk checks it, before anything is sent.
"""
from __future__ import annotations

from typing import Any
from urllib.parse import urlencode

from mturk_decisions_cli.client import quote_segment
from mturk_decisions_cli.console import markup
from mturk_decisions_cli.console.app import Console, Form
from mturk_decisions_cli.console.feedback import check_feedback, check_notification, normalized
from mturk_decisions_cli.console.markup import e
from mturk_decisions_cli.errors import CliError
from mturk_decisions_cli.local_proxy import Page

ACTIONS = {"reject": "Reject", "reverse": "Reverse the rejection", "approve": "Approve"}
PROVISIONAL = (("", "No: a final rejection"), ("PT1H", "1 hour"), ("PT24H", "24 hours"), ("PT48H", "48 hours"),
               ("PT72H", "72 hours"), ("P7D", "7 days"))
DONE = {"confirmed": "The provisional rejection is confirmed: it will not be reversed automatically.",
        "cancelled": "The automatic reversal is cancelled."}
DEFAULT_SUBJECT = "Your rejected work has been approved"
DEFAULT_MESSAGE = ("We reviewed your submission again and reversed our rejection: the assignment is now approved "
                   "and paid. We are sorry for the mistake.")
HISTORY_COLUMNS = ("createdAt", "action", "state", "actor", "source", "feedback", "reason")


def show(console: Console, form: Form, *, banner: str = "", status: int = 200, drafts: Form | None = None) -> Page:
    """GET /assignment?id=...: the look-up form, then the assignment, its actions and history."""
    assignment_id = form.get("id").strip()
    body = [banner] if banner else []
    if form.get("done") in DONE:
        body.append(markup.notice(e(DONE[form.get("done")])))
    body.append(lookup_form(assignment_id))
    if assignment_id:
        view, error = console.attempt("GET", f"/assignments/{quote_segment(assignment_id)}")
        body.append(markup.api_error(error) if error else details(view, drafts or Form()))
    return console.page("Assignment", "".join(body), current="/assignment", status=status)


def lookup_form(assignment_id: str) -> str:
    return ('<form method="get" action="/assignment" class="inline" role="search">'
            '<label for="lookup-id">Assignment id</label>'
            f'<input id="lookup-id" name="id" value="{e(assignment_id) if assignment_id else ""}" size="40" '
            'autocomplete="off" spellcheck="false" required>'
            '<button type="submit">Look up</button></form>')


def details(view: dict[str, Any], drafts: Form) -> str:
    assignment = view.get("assignment") or {}
    aid = str(assignment.get("assignmentId") or "")
    hit = assignment.get("hitId")
    facts = markup.dl([
        ("Status", f'<strong class="status" id="assignment-status">{e(assignment.get("status"))}</strong>'),
        ("Worker", markup.link("/rejections", str(assignment.get("workerId") or "—"), workerId=assignment.get("workerId"))),
        ("HIT", f'{e(assignment.get("hitTitle"))} · {markup.link("/rejections", str(hit or "—"), hitId=hit)} '
                f'({e(assignment.get("hitStatus"))})'),
        ("Reward", f'${e(assignment.get("reward"))}'),
        ("Submitted", markup.when(assignment.get("submittedAt"))),
        ("Approved", markup.when(assignment.get("approvedAt"))),
        ("Rejected", markup.when(assignment.get("rejectedAt"))),
        ("Feedback shown to the worker", f'<span class="pre">{e(assignment.get("requesterFeedback"))}</span>'),
        ("Reversal deadline", markup.countdown(assignment.get("reversalDeadline"))),
        ("Reversible now", "yes" if assignment.get("reversible") else "no"),
    ])
    parts = [f'<section aria-labelledby="facts-h"><h2 id="facts-h">{e(aid)}</h2>{facts}</section>',
             scheduled_block(aid, view.get("scheduledReversal")),
             actions(aid, str(assignment.get("status") or ""), drafts),
             history_block(view.get("history") or [])]
    return "".join(parts)


def scheduled_block(aid: str, schedule: dict[str, Any] | None) -> str:
    if not schedule:
        return ""
    facts = markup.dl([("Kind", e(schedule.get("kind"))), ("State", e(schedule.get("state"))),
                       ("Due", markup.countdown(schedule.get("dueAt"))), ("Deadline", markup.when(schedule.get("deadline"))),
                       ("Attempts", e(schedule.get("attempts"))), ("Why", e(schedule.get("reason"))),
                       ("Last error", e(schedule.get("lastError")))])
    buttons = schedule_buttons(aid, schedule, back="/assignment?" + urlencode({"id": aid})) if schedule.get("state") == "PENDING" else ""
    return f'<section aria-labelledby="sched-h"><h2 id="sched-h">Automatic reversal</h2>{facts}{buttons}</section>'


def schedule_buttons(aid: str, schedule: dict[str, Any], *, back: str, compact: bool = False) -> str:
    """Confirm (a provisional rejection only) and cancel, as two small forms; `compact` for a table row."""
    words = ("Confirm", "Cancel") if compact else ("Confirm the rejection", "Cancel the automatic reversal")
    confirm = ""
    if schedule.get("kind") == "provisional":
        confirm = ('<form method="post" action="/assignment/confirm-reversal" class="inline">'
                   + markup.hidden(id=aid, back=back)
                   + f'<button type="submit" aria-label="Confirm the rejection of {e(aid)}">{words[0]}</button></form>')
    cancel = ('<form method="post" action="/assignment/cancel-reversal" class="inline">' + markup.hidden(id=aid, back=back)
              + f'<button type="submit" class="secondary" aria-label="Cancel the automatic reversal of {e(aid)}">'
                f'{words[1]}</button></form>')
    return f'<div class="buttons">{confirm}{cancel}</div>'


def actions(aid: str, status: str, drafts: Form) -> str:
    """The decisions MTurk allows in this status, side by side; a refused form keeps what was typed."""
    def kept(action: str) -> Form:
        return drafts if drafts.get("action") == action else Form()

    if status == "Submitted":
        return f'<div class="actions">{reject_form(aid, kept("reject"))}{simple_form(aid, "approve", kept("approve"))}</div>'
    if status == "Rejected":
        return f'<div class="actions">{reverse_form(aid, kept("reverse"))}</div>'
    return ""


def feedback_field(prefix: str, drafts: Form, *, required: bool) -> str:
    label = "Feedback the worker will see" + (" (required)" if required else " (optional)")
    return (f'<label for="{prefix}-feedback">{label}</label>'
            f'<textarea id="{prefix}-feedback" name="feedback" rows="4" data-feedback-check="{prefix}-check" '
            f'{"data-required" if required else ""} aria-describedby="{prefix}-check">{e(drafts.get("feedback")) if drafts.get("feedback") else ""}</textarea>'
            f'<div id="{prefix}-check" class="feedback-check" aria-live="polite">At most 1,024 characters; tab and '
            'line breaks are the only control characters MTurk accepts.</div>')


def reason_field(prefix: str, drafts: Form) -> str:
    value = drafts.get("reason")
    return (f'<label for="{prefix}-reason">Internal reason (kept in the audit, never sent to MTurk)</label>'
            f'<input id="{prefix}-reason" name="reason" value="{e(value) if value else ""}" size="60">')


def reject_form(aid: str, drafts: Form) -> str:
    options = "".join(f'<option value="{v}"{" selected" if drafts.get("provisionalFor") == v else ""}>{e(t)}</option>'
                      for v, t in PROVISIONAL)
    return ('<section aria-labelledby="reject-h"><h2 id="reject-h">Reject</h2>'
            '<form method="post" action="/assignment/plan" class="stack">' + markup.hidden(id=aid, action="reject")
            + feedback_field("reject", drafts, required=True) + reason_field("reject", drafts)
            + '<label for="reject-provisional">Provisional: reversed automatically unless confirmed within</label>'
            + f'<select id="reject-provisional" name="provisionalFor">{options}</select>'
            + '<button type="submit">Check and show the plan…</button></form></section>')


def simple_form(aid: str, action: str, drafts: Form) -> str:
    return (f'<section aria-labelledby="{action}-h"><h2 id="{action}-h">{ACTIONS[action]}</h2>'
            '<form method="post" action="/assignment/plan" class="stack">' + markup.hidden(id=aid, action=action)
            + feedback_field(action, drafts, required=False) + reason_field(action, drafts)
            + '<button type="submit">Check and show the plan…</button></form></section>')


def reverse_form(aid: str, drafts: Form) -> str:
    notify = drafts.get("notify") == "on"
    subject = drafts.get("subject") or DEFAULT_SUBJECT
    message = drafts.get("message") or DEFAULT_MESSAGE
    return ('<section aria-labelledby="reverse-h"><h2 id="reverse-h">Reverse the rejection</h2>'
            '<form method="post" action="/assignment/plan" class="stack">' + markup.hidden(id=aid, action="reverse")
            + feedback_field("reverse", drafts, required=False) + reason_field("reverse", drafts)
            + '<fieldset><legend>Message to the worker</legend>'
            + f'<label class="check"><input type="checkbox" name="notify" id="reverse-notify"{" checked" if notify else ""}>'
              ' Tell the worker the rejection was reversed</label>'
            + f'<label for="reverse-subject">Subject (at most 200 characters)</label>'
              f'<input id="reverse-subject" name="subject" value="{e(subject)}" size="60" maxlength="200">'
            + f'<label for="reverse-message">Message (at most 4,096 characters)</label>'
              f'<textarea id="reverse-message" name="message" rows="3" maxlength="4096">{e(message)}</textarea>'
            + '</fieldset><button type="submit">Check and show the plan…</button></form></section>')


def history_block(history: list[dict[str, Any]]) -> str:
    rows = [[markup.when(d.get("createdAt")), e(d.get("action")), e(d.get("state")), markup.actor(d.get("actor")),
             *(e(d.get(c)) for c in HISTORY_COLUMNS[4:])] for d in history]
    return ('<section aria-labelledby="history-h"><h2 id="history-h">Decision history (newest first)</h2>'
            + markup.table(HISTORY_COLUMNS, rows, empty="No decision recorded for this assignment.") + "</section>")


def marked(text: str, positions: tuple[int, ...]) -> str:
    """The text as the worker would see it, each refused character shown as a marked code point."""
    wanted = set(positions)
    shown = [f'<mark title="position {i}">U+{ord(c):04X}</mark>' if i in wanted else e(c) for i, c in enumerate(text)]
    return f'<pre class="preview">{"".join(shown)}</pre>'


def requested(form: Form) -> tuple[str, str, dict[str, Any], str | None]:
    """(assignment id, action, the API body, what is wrong with it or None) from a decision form."""
    aid, action = form.get("id").strip(), form.get("action")
    feedback, reason = normalized(form.get("feedback")), form.get("reason").strip()
    body: dict[str, Any] = {"feedback": feedback or None, "reason": reason or None}
    problem = None
    if action == "reject":
        body["provisionalFor"] = form.get("provisionalFor") or None
    issue = check_feedback(feedback, required=action == "reject")
    if issue is not None:
        problem = (f'<p><strong class="code">INVALID_FEEDBACK</strong> (rule <strong class="rule">{e(issue.rule)}'
                   f'</strong>): {e(issue.message)} Nothing was sent.</p>'
                   + (marked(feedback, issue.positions) if issue.positions else ""))
    if action == "reverse" and form.get("notify") == "on" and problem is None:
        subject, message = form.get("subject").strip(), normalized(form.get("message")).strip()
        why = check_notification(subject, message)
        problem = f"<p>{e(why)} Nothing was sent.</p>" if why else None
        body["notifyWorker"] = {"subject": subject, "message": message}
    return aid, action, {k: v for k, v in body.items() if v is not None}, problem


def plan(console: Console, form: Form) -> Page:
    """POST /assignment/plan: check the form here, then the dry run; show the plan and a Confirm button."""
    aid, action, body, problem = requested(form)
    if action not in ACTIONS or not aid:
        return show(console, form, banner=markup.notice("Choose an assignment and a decision.", "bad"), status=400)
    if problem:
        return show(console, form, banner=f'<div class="error" role="alert" id="problem">{problem}</div>', status=400,
                    drafts=form)
    path = f"/assignments/{quote_segment(aid)}/{action}"
    answer, error = console.attempt("POST", path, json=body, query={"dryRun": "true"}, retry=True)
    if error:
        return show(console, form, banner=markup.api_error(error), status=200, drafts=form)
    return console.page(f"{ACTIONS[action]}: check the plan", plan_view(answer.get("plan") or {}, body)
                        + confirm_form(aid, action, body, form), current="/assignment")


def plan_view(found: dict[str, Any], body: dict[str, Any]) -> str:
    cost = found.get("cost") or {}
    rows = [("Assignment", e(found.get("assignmentId"))), ("Worker", e(found.get("workerId"))),
            ("HIT", e(found.get("hitId"))),
            ("Status", f'{e(found.get("currentStatus"))} → <strong>{e(found.get("resultingStatus"))}</strong>'),
            ("Checks passed", ", ".join(e(c) for c in found.get("checksPassed") or []) or "—"),
            ("Cost", f'${e(cost.get("total") or "0.00")} (reward ${e(cost.get("reward") or "0.00")} + fee '
                     f'${e(cost.get("fee") or "0.00")})' if cost else "none"),
            ("Balance", f'${e(found.get("balance"))} → ${e(found.get("balanceAfter"))}'),
            ("Reversal deadline", markup.countdown(found.get("reversalDeadline")))]
    if body.get("feedback"):
        rows.append(("Feedback the worker will see", f'<pre class="preview">{e(body["feedback"])}</pre>'))
    if body.get("reason"):
        rows.append(("Internal reason", e(body["reason"])))
    if body.get("provisionalFor"):
        rows.append(("Provisional for", e(body["provisionalFor"]) + " (reversed automatically unless confirmed)"))
    if body.get("notifyWorker"):
        note = body["notifyWorker"]
        rows.append(("Message to the worker", f'<strong>{e(note["subject"])}</strong><pre class="preview">'
                                              f'{e(note["message"])}</pre>'))
    return ('<p>Every pre-check passed. Nothing has been sent to MTurk yet.</p>'
            f'<section aria-labelledby="plan-h" id="plan"><h2 id="plan-h">The plan</h2>{markup.dl(rows)}</section>')


def confirm_form(aid: str, action: str, body: dict[str, Any], form: Form) -> str:
    note = body.get("notifyWorker") or {}
    fields = markup.hidden(id=aid, action=action, key=form.idempotency_key(), feedback=body.get("feedback"),
                           reason=body.get("reason"), provisionalFor=body.get("provisionalFor"),
                           notify="on" if note else None, subject=note.get("subject"), message=note.get("message"))
    return ('<form method="post" action="/assignment/decide" class="buttons">' + fields
            + f'<button type="submit" id="confirm">Confirm: {e(ACTIONS[action].lower())}</button> '
            + markup.link("/assignment", "Back without sending", id=aid) + "</form>")


def decide(console: Console, form: Form) -> Page:
    """POST /assignment/decide: the decision itself (with the form's Idempotency-Key), then the assignment."""
    aid, action, body, problem = requested(form)
    if action not in ACTIONS or not aid or problem:
        return show(console, form, banner=f'<div class="error" role="alert">{problem or "Nothing to decide."}</div>',
                    status=400, drafts=form)
    path = f"/assignments/{quote_segment(aid)}/{action}"
    try:
        answer = console.api("POST", path, json=body, headers={"Idempotency-Key": form.idempotency_key()})
    except CliError as error:
        return show(console, Form({"id": [aid]}), banner=markup.api_error(error), drafts=form)
    return show(console, Form({"id": [aid]}), banner=outcome(action, answer))


def outcome(action: str, answer: dict[str, Any]) -> str:
    decision = answer.get("decision") or {}
    done = {"reject": "Rejected", "reverse": "Reversed the rejection of", "approve": "Approved"}[action]
    parts = [f'{done} assignment {e(decision.get("assignmentId"))}: decision {e(decision.get("decisionId"))}, '
             f'state {e(decision.get("state"))}.']
    if answer.get("scheduledReversal"):
        due = answer["scheduledReversal"].get("dueAt")
        parts.append(f" It will be reversed automatically at {markup.when(due)} unless confirmed.")
    note = answer.get("notification")
    if isinstance(note, dict):
        failures = note.get("failures") or []
        parts.append(f' Message to the worker: {e(note.get("status"))}'
                     + (": " + "; ".join(e(f.get("message") if isinstance(f, dict) else f) for f in failures)
                        if failures else "") + ".")
    kind = "bad" if isinstance(note, dict) and note.get("status") == "FAILED" else "ok"
    return markup.notice("".join(parts), kind)


def change_schedule(console: Console, form: Form, method: str, suffix: str, done: str) -> Page:
    """POST /assignment/confirm-reversal and /cancel-reversal: then back where the button was."""
    aid = form.get("id").strip()
    back = form.get("back") if form.get("back").startswith(("/assignment", "/reversals")) else "/reversals"
    try:
        console.api(method, f"/assignments/{quote_segment(aid)}/{suffix}")
    except CliError as error:
        return show(console, Form({"id": [aid]}), banner=markup.api_error(error))
    separator = "&" if "?" in back else "?"
    return console.redirect(back + separator + f"done={done}")


def confirm_reversal(console: Console, form: Form) -> Page:
    return change_schedule(console, form, "POST", "confirm", "confirmed")


def cancel_reversal(console: Console, form: Form) -> Page:
    return change_schedule(console, form, "DELETE", "scheduled-reversal", "cancelled")
