"""The Overview page: decisions per day (a chart from the audit), pending automatic reversals by deadline,
and the batches started from this console with their progress."""
from __future__ import annotations

from datetime import timedelta
from typing import Any

from mturk_decisions_cli.client import quote_segment
from mturk_decisions_cli.console import markup
from mturk_decisions_cli.console.app import Console, Form, is_route_missing
from mturk_decisions_cli.console.chart import bar_chart, per_day
from mturk_decisions_cli.console.markup import e
from mturk_decisions_cli.errors import ApiError, CliError
from mturk_decisions_cli.local_proxy import Page

DAYS = 14
MAX_PAGES = 20
SHOWN_REVERSALS = 10


def show(console: Console, form: Form) -> Page:
    body = [section("chart-h", f"Decisions per day (last {DAYS} days, UTC)", chart(console)),
            section("pending-h", "Pending automatic reversals, by deadline", pending(console)),
            section("batches-h", "Batches started from this console", batches(console))]
    return console.page("Overview", "".join(body), current="/")


def section(anchor: str, title: str, content: str) -> str:
    return f'<section aria-labelledby="{anchor}"><h2 id="{anchor}">{e(title)}</h2>{content}</section>'


def chart(console: Console) -> str:
    """All decisions of the last DAYS days (GET /decisions with a time range only); "no data" and why otherwise."""
    first = (console.now() - timedelta(days=DAYS - 1)).date()
    decisions: list[dict[str, Any]] = []
    cursor = None
    try:
        for _ in range(MAX_PAGES):
            answer = console.api("GET", "/decisions", query={"since": first.isoformat(), "limit": 100, "cursor": cursor})
            decisions += answer.get("decisions") or []
            cursor = answer.get("nextCursor")
            if not cursor:
                break
    except CliError as error:
        if isinstance(error, ApiError) and error.code == "INVALID_REQUEST":
            return (f'<p class="empty" id="chart-no-data">No data: this API cannot list all decisions in a time range '
                    f'yet ({e(error.code)}: {e(error.message)}). The Audit page searches by worker or HIT.</p>')
        return f'<div id="chart-no-data">No data: {markup.api_error(error)}</div>'
    more = " (the first pages only)" if cursor else ""
    return bar_chart(per_day(decisions, first, DAYS)) + f"<p>{len(decisions)} decision(s){more}.</p>"


def pending(console: Console) -> str:
    answer, error = console.attempt("GET", "/scheduled-reversals", query={"limit": 100})
    if error:
        if is_route_missing(error):
            return '<p class="empty">This API cannot list automatic reversals yet (no GET /scheduled-reversals).</p>'
        return markup.api_error(error)
    items = sorted(answer.get("scheduledReversals") or [], key=lambda s: str(s.get("deadline") or ""))
    rows = [[markup.link("/assignment", str(s.get("assignmentId")), id=s.get("assignmentId")), e(s.get("kind")),
             markup.countdown(s.get("dueAt")), markup.countdown(s.get("deadline"))] for s in items[:SHOWN_REVERSALS]]
    more = (f'<p>{markup.link("/reversals", f"All {len(items)} pending…")}</p>' if len(items) > SHOWN_REVERSALS
            else f'<p>{markup.link("/reversals", "Automatic reversals")}</p>')
    return markup.table(("Assignment", "Kind", "Due", "Deadline"), rows, empty="No automatic reversal is pending.") + more


def batches(console: Console) -> str:
    rows = []
    for batch_id, source in reversed(list(console.started_batches.items())[-10:]):
        batch, error = console.attempt("GET", f"/batches/{quote_segment(batch_id)}", query={"limit": 1})
        state = e(getattr(error, "code", "ERROR") if error else (batch or {}).get("status"))
        done = "" if error else f'{e(batch.get("done"))} / {e(batch.get("total"))}'
        rows.append([markup.link("/batches/view", batch_id, id=batch_id), e(source), state, done])
    return markup.table(("Batch", "From", "Status", "Done"), rows,
                        empty="No batch started from this console yet.") + f'<p>{markup.link("/batches", "Batches")}</p>'
