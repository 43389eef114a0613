"""The Batches page: a batch-results CSV → its plan as a table → Apply → live progress → refused and failed items.

The CSV goes to POST /batches (`Content-Type: text/csv`), first with `?dryRun=true` for the plan; the console
keeps the file until "Apply" sends it again (the plan is recomputed by the API then: nothing is trusted from
the browser). Files over 5 MB take the CLI's upload path instead (`mturk-decisions apply FILE`).
"""
from __future__ import annotations

from typing import Any

from mturk_decisions_cli.client import quote_segment
from mturk_decisions_cli.console import markup
from mturk_decisions_cli.console.app import MAX_CSV_BYTES, Console, Form, KeptPlan
from mturk_decisions_cli.console.markup import e
from mturk_decisions_cli.errors import CliError
from mturk_decisions_cli.local_proxy import Page

OUTCOMES = ("reject", "reverse", "approve", "skipped", "refused")
PROBLEMS = ("FAILED", "REFUSED", "DEAD_LETTERED")
TERMINAL = {"COMPLETED", "FAILED", "CANCELLED", "CANCELED", "ABORTED"}


def show(console: Console, form: Form, *, banner: str = "") -> Page:
    body = [banner, upload_form(), started(console)]
    return console.page("Batches", "".join(body), current="/batches")


def upload_form() -> str:
    return ('<section aria-labelledby="upload-h"><h2 id="upload-h">Apply a batch-results CSV</h2>'
            '<p>The file the requester website exports: an <code>x</code> in <code>Approve</code> approves (and '
            'reverses a rejection), text in <code>Reject</code> rejects with that feedback. You see the plan '
            'before anything is sent.</p>'
            '<form method="post" action="/batches/plan" enctype="multipart/form-data" class="stack">'
            '<label for="csv-file">Batch-results CSV (at most 5 MB here; larger: <code>mturk-decisions apply'
            '</code>)</label><input type="file" id="csv-file" name="csv" accept=".csv,text/csv" required>'
            '<label for="csv-reason">Internal reason for every row (optional, never sent to MTurk)</label>'
            '<input id="csv-reason" name="reason" size="60">'
            '<button type="submit">Upload and show the plan…</button></form></section>')


def started(console: Console) -> str:
    rows = [[markup.link("/batches/view", batch_id, id=batch_id), e(source)]
            for batch_id, source in reversed(list(console.started_batches.items()))]
    return ('<section aria-labelledby="started-h"><h2 id="started-h">Batches started from this console</h2>'
            + markup.table(("Batch", "From"), rows, empty="None yet in this run. A batch started elsewhere: "
                                                           "open /batches/view?id=BATCH_ID.") + "</section>")


def plan_table(plan: dict[str, Any]) -> str:
    """Totals (counts by outcome, cost against the balance), then every item with its outcome and why."""
    totals = plan.get("totals") or {}
    cost = totals.get("cost") or {}
    funds = totals.get("sufficientFunds")
    counts = markup.table([o.capitalize() for o in OUTCOMES] + ["Total cost", "Balance now", "Balance after"],
                          [[e(totals.get(o, 0)) for o in OUTCOMES]
                           + [f'${e(cost.get("total") or "0.00")}', f'${e(totals.get("balance"))}',
                              f'${e(totals.get("balanceAfter"))}']], css="totals")
    warning = ("" if funds is not False else
               markup.notice("The balance does not cover this batch: top up the prepaid balance first.", "bad"))
    rows = [[e(i.get("line")), markup.link("/assignment", str(i.get("assignmentId")), id=i.get("assignmentId")),
             e(i.get("workerId")), e(i.get("action")), f'<strong>{e(i.get("outcome"))}</strong>',
             e((i.get("cost") or {}).get("total")), e(i.get("code")), e(i.get("message") or i.get("reason"))]
            for i in plan.get("items") or []]
    items = markup.table(("Line", "Assignment", "Worker", "Asked", "Outcome", "Cost $", "Refused: code", "Why"), rows,
                         empty="No item.", css="plan")
    skipped = plan.get("skippedRows") or []
    skipped_html = (f'<p>{len(skipped)} row(s) skipped (neither Approve nor Reject).</p>' if skipped else "")
    return (f'<section aria-labelledby="plan-h" id="plan"><h2 id="plan-h">The plan</h2>{counts}{warning}{items}'
            f'{skipped_html}<p>Nothing has been sent to MTurk yet.</p></section>')


def plan(console: Console, form: Form) -> Page:
    """POST /batches/plan: the uploaded CSV's dry run; the file is kept for Apply."""
    filename, data = form.files.get("csv", ("", b""))
    if not data:
        return show(console, form, banner=markup.notice("Choose a batch-results CSV file.", "bad"))
    if len(data) > MAX_CSV_BYTES:
        return show(console, form, banner=markup.notice(
            f"{e(filename)} is {len(data) / 1_048_576:.1f} MB; the console sends at most 5 MB in one request. Use "
            f"<code>mturk-decisions apply {e(filename)}</code>: it uploads larger files to S3.", "bad"))
    reason = form.get("reason").strip() or None
    answer, error = console.attempt("POST", "/batches", data=data, content_type="text/csv",
                                    query={"dryRun": "true", "reason": reason}, retry=True)
    if error:
        return show(console, form, banner=markup.api_error(error) + invalid_rows(error))
    plan_id = console.keep_plan(KeptPlan(data, reason, filename))
    apply_form = ('<form method="post" action="/batches/apply" class="buttons">'
                  + markup.hidden(plan=plan_id, key=form.idempotency_key())
                  + '<button type="submit" id="apply">Apply this batch</button> '
                  + markup.link("/batches", "Back without sending") + "</form>")
    body = f"<p>File: <strong>{e(filename)}</strong></p>" + plan_table(answer.get("plan") or {}) + apply_form
    return console.page("Batch: check the plan", body, current="/batches")


def invalid_rows(error: CliError) -> str:
    """INVALID_BATCH's bad rows with their line numbers."""
    rows = [[e(r.get("line")), e(r.get("assignmentId")), e(r.get("field")), e(r.get("message"))]
            for r in (getattr(error, "body", None) or {}).get("errors") or [] if isinstance(r, dict)]
    return markup.table(("Line", "Assignment", "Field", "Problem"), rows, empty="") if rows else ""


def apply(console: Console, form: Form) -> Page:
    kept = console.plans.get(form.get("plan"))
    if kept is None:
        return show(console, form, banner=markup.notice("This plan is no longer kept here (the console was "
                                                        "restarted, or it was applied): upload the file again.", "bad"))
    try:
        answer = console.api("POST", "/batches", data=kept.csv, content_type="text/csv",
                             query={"reason": kept.reason}, headers={"Idempotency-Key": form.idempotency_key()})
    except CliError as error:
        return show(console, form, banner=markup.api_error(error) + invalid_rows(error))
    console.plans.pop(form.get("plan"), None)
    batch_id = str(answer.get("batchId") or "")
    console.remember_batch(batch_id, kept.filename or "a CSV")
    return console.redirect("/batches/view", id=batch_id)


def view(console: Console, form: Form) -> Page:
    """GET /batches/view?id=...: progress (console.js polls /api/batches/ID until it is final), then problems."""
    batch_id = form.get("id").strip()
    if not batch_id:
        return show(console, form)
    batch, error = console.attempt("GET", f"/batches/{quote_segment(batch_id)}", query={"limit": 1})
    if error:
        return console.page("Batch", markup.api_error(error), current="/batches")
    return console.page(f"Batch {batch_id}", progress(batch) + problems(console, batch_id, batch), current="/batches")


def progress(batch: dict[str, Any]) -> str:
    counts = batch.get("counts") or {}
    total, done = int(batch.get("total") or 0), int(batch.get("done") or 0)
    final = str(batch.get("status")) in TERMINAL
    cells = "".join(f'<dt>{e(name)}</dt><dd data-count="{e(name)}">{e(counts.get(name, 0))}</dd>'
                    for name in ("queued", "succeeded", "failed", "refused", "skipped", "deadLettered"))
    poll = "" if final else f' data-batch-progress="/api/batches/{e(quote_segment(str(batch.get("batchId"))))}"'
    return (f'<section aria-labelledby="progress-h" id="progress"{poll}><h2 id="progress-h">Progress</h2>'
            f'<p>Status: <strong id="batch-status" aria-live="polite">{e(batch.get("status"))}</strong> · '
            f'<span id="batch-done">{done}</span> of {total} done · started {markup.when(batch.get("createdAt"))}</p>'
            f'<progress id="batch-progress" max="{max(total, 1)}" value="{done}" aria-label="Items done">'
            f'{done}/{total}</progress><dl class="facts counts">{cells}</dl></section>')


def problems(console: Console, batch_id: str, batch: dict[str, Any]) -> str:
    """The refused, failed and dead-lettered items (first page of each)."""
    rows: list[list[str]] = []
    for status in PROBLEMS:
        answer, _ = console.attempt("GET", f"/batches/{quote_segment(batch_id)}", query={"status": status, "limit": 100})
        rows += [[e(i.get("line")), markup.link("/assignment", str(i.get("assignmentId")), id=i.get("assignmentId")),
                  e(i.get("action")), e(i.get("status")), e(i.get("code") or i.get("errorCode")),
                  e(i.get("message") or i.get("error"))] for i in (answer or {}).get("items") or []]
    return ('<section aria-labelledby="problems-h"><h2 id="problems-h">Refused and failed items</h2>'
            + markup.table(("Line", "Assignment", "Asked", "Status", "Code", "Why"), rows,
                           empty="None so far.") + "</section>")
