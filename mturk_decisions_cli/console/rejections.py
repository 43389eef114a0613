"""The Rejections page: recent rejections of a HIT or a worker (from the audit), with the days left to reverse
each; several selected are reversed as one batch (POST /batches with a JSON item list), after its plan."""
from __future__ import annotations

from concurrent.futures import ThreadPoolExecutor
from datetime import datetime
from typing import Any

from mturk_decisions_cli.client import quote_segment
from mturk_decisions_cli.console import markup
from mturk_decisions_cli.console.app import Console, Form
from mturk_decisions_cli.console.batches import plan_table
from mturk_decisions_cli.console.markup import e
from mturk_decisions_cli.errors import CliError
from mturk_decisions_cli.local_proxy import Page

LIMIT = 50
MAX_SELECTED = 500


def show(console: Console, form: Form, *, banner: str = "") -> Page:
    hit_id, worker_id = form.get("hitId").strip(), form.get("workerId").strip()
    body = [banner, search_form(hit_id, worker_id)]
    if hit_id or worker_id:
        query = {"hitId": hit_id or None, "workerId": None if hit_id else worker_id, "limit": 100}
        answer, error = console.attempt("GET", "/decisions", query=query)
        if error:
            body.append(markup.api_error(error))
        else:
            body.append(rejection_list(console, answer.get("decisions") or []))
    else:
        body.append('<p>Give a HIT id or a worker id: their recent rejections are listed from the audit.</p>')
    return console.page("Rejections", "".join(body), current="/rejections")


def search_form(hit_id: str, worker_id: str) -> str:
    return ('<form method="get" action="/rejections" class="inline" role="search">'
            f'<label for="rej-hit">HIT id</label><input id="rej-hit" name="hitId" value="{e(hit_id) if hit_id else ""}" size="34">'
            f'<label for="rej-worker">or worker id</label><input id="rej-worker" name="workerId" '
            f'value="{e(worker_id) if worker_id else ""}" size="24"><button type="submit">List rejections</button></form>')


def latest_rejections(decisions: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """Each assignment's most recent successful rejection (the audit is newest first), at most LIMIT."""
    seen: dict[str, dict[str, Any]] = {}
    for decision in decisions:
        aid = str(decision.get("assignmentId") or "")
        if aid and decision.get("action") == "reject" and decision.get("state") == "SUCCEEDED" and aid not in seen:
            seen[aid] = decision
    return list(seen.values())[:LIMIT]


def rejection_list(console: Console, decisions: list[dict[str, Any]]) -> str:
    found = latest_rejections(decisions)
    if not found:
        return '<p class="empty">No rejection in the audit for this search.</p>'
    with ThreadPoolExecutor(max_workers=8) as pool:
        views = list(pool.map(lambda d: console.attempt("GET", f"/assignments/{quote_segment(d['assignmentId'])}")[0],
                              found))
    rows = [row(console, decision, view) for decision, view in zip(found, views, strict=True)]
    table = markup.table(("Select", "Assignment", "Worker", "Rejected at", "Status now", "Days left to reverse",
                          "Feedback"), rows, css="rejections")
    return ('<form method="post" action="/rejections/plan">' + table
            + '<div class="buttons"><button type="submit" id="reverse-selected">Reverse the selected rejections…'
              '</button></div></form>')


def row(console: Console, decision: dict[str, Any], view: dict[str, Any] | None) -> list[str]:
    aid = str(decision.get("assignmentId"))
    assignment = (view or {}).get("assignment") or {}
    status = assignment.get("status") or "unknown"
    left = days_left(console.now(), assignment.get("reversalDeadline"))
    can = status == "Rejected" and assignment.get("reversible") is not False
    box = (f'<input type="checkbox" name="assignmentId" value="{e(aid)}" id="sel-{e(aid)}" '
           f'aria-label="Select {e(aid)}"{"" if can else " disabled"}>')
    return [box, markup.link("/assignment", aid, id=aid), e(decision.get("workerId")),
            markup.when(decision.get("createdAt")), e(status), left, f'<span class="pre">{e(decision.get("feedback"))}</span>']


def days_left(now: datetime, deadline: str | None) -> str:
    if not deadline:
        return "—"
    try:
        end = datetime.fromisoformat(deadline.replace("Z", "+00:00"))
    except ValueError:
        return e(deadline)
    seconds = (end - now).total_seconds()
    if seconds <= 0:
        return '<span class="bad">closed</span>'
    return f'<span title="deadline {e(deadline)}">{seconds / 86400:.1f} days</span>'


def selected(form: Form) -> list[str]:
    return list(dict.fromkeys(a.strip() for a in form.all("assignmentId") if a.strip()))[:MAX_SELECTED]


def plan(console: Console, form: Form) -> Page:
    """POST /rejections/plan: the batch's dry run for the selected assignments, and Apply."""
    ids = selected(form)
    if not ids:
        return show(console, form, banner=markup.notice("Select at least one rejection to reverse.", "bad"))
    body = {"items": [{"assignmentId": aid, "action": "reverse"} for aid in ids]}
    answer, error = console.attempt("POST", "/batches", json=body, query={"dryRun": "true"}, retry=True)
    if error:
        return console.page("Reverse rejections", markup.api_error(error), current="/rejections")
    fields = "".join(markup.hidden(assignmentId=aid) for aid in ids) + markup.hidden(key=form.idempotency_key())
    apply_form = ('<form method="post" action="/rejections/apply" class="buttons">' + fields
                  + f'<button type="submit" id="apply">Apply: reverse {len(ids)} rejection(s)</button> '
                  + markup.link("/rejections", "Back without sending") + "</form>")
    return console.page("Reverse rejections: check the plan", plan_table(answer.get("plan") or {}) + apply_form,
                        current="/rejections")


def apply(console: Console, form: Form) -> Page:
    ids = selected(form)
    if not ids:
        return show(console, form, banner=markup.notice("Nothing selected: nothing was sent.", "bad"))
    body = {"items": [{"assignmentId": aid, "action": "reverse"} for aid in ids]}
    try:
        answer = console.api("POST", "/batches", json=body, headers={"Idempotency-Key": form.idempotency_key()})
    except CliError as error:
        return console.page("Reverse rejections", markup.api_error(error), current="/rejections")
    batch_id = str(answer.get("batchId") or "")
    console.remember_batch(batch_id, f"{len(ids)} reversal(s) from Rejections")
    return console.redirect("/batches/view", id=batch_id)
