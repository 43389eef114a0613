"""The Audit page: decisions of a worker or a HIT (GET /decisions), in a time range, page by page; the same
search exported as CSV (every page, up to MAX_EXPORT rows)."""
from __future__ import annotations

import csv
import io
from typing import Any

from mturk_decisions_cli.console import markup
from mturk_decisions_cli.console.app import Console, Form
from mturk_decisions_cli.console.markup import e
from mturk_decisions_cli.errors import CliError
from mturk_decisions_cli.local_proxy import Page

COLUMNS = ("createdAt", "assignmentId", "hitId", "workerId", "action", "state", "source", "actor", "feedback",
           "reason", "batchId", "decisionId")
MAX_EXPORT = 10_000


def query_of(form: Form) -> dict[str, Any]:
    hit, worker = form.get("hitId").strip(), form.get("workerId").strip()
    return {"hitId": hit or None, "workerId": None if hit else (worker or None),
            "since": form.get("since").strip() or None, "until": form.get("until").strip() or None}


def show(console: Console, form: Form) -> Page:
    query = query_of(form)
    body = [search_form(query)]
    if query["hitId"] or query["workerId"]:
        answer, error = console.attempt("GET", "/decisions", query={**query, "limit": 50, "cursor": form.get("cursor") or None})
        if error:
            body.append(markup.api_error(error))
        else:
            body.append(results(query, answer))
    else:
        body.append("<p>Give a worker id or a HIT id (and optionally a time range, UTC).</p>")
    return console.page("Audit", "".join(body), current="/audit")


def search_form(query: dict[str, Any]) -> str:
    def field(name: str, label: str, size: int, hint: str = "") -> str:
        value = query.get(name) or ""
        return (f'<label for="au-{name}">{label}</label><input id="au-{name}" name="{name}" '
                f'value="{e(value) if value else ""}" size="{size}" placeholder="{hint}">')

    return ('<form method="get" action="/audit" class="inline" role="search">' + field("workerId", "Worker id", 20)
            + field("hitId", "or HIT id", 32) + field("since", "Since", 12, "2026-11-01")
            + field("until", "Until", 12, "2026-11-30") + '<button type="submit">Search</button></form>')


def results(query: dict[str, Any], answer: dict[str, Any]) -> str:
    decisions = answer.get("decisions") or []
    rows = [[markup.when(d.get("createdAt")), markup.link("/assignment", str(d.get("assignmentId")), id=d.get("assignmentId")),
             *(e(d.get(c)) for c in COLUMNS[2:7]), markup.actor(d.get("actor")),
             f'<span class="pre">{e(d.get("feedback"))}</span>', e(d.get("reason"))]
            for d in decisions]
    parts = ["<p>" + markup.link("/audit.csv", "Export this search as CSV", **query) + "</p>",
             markup.table(COLUMNS[:10], rows, empty="No decision matches.", css="audit")]
    if answer.get("nextCursor"):
        parts.append("<p>" + markup.link("/audit", "Next page", **query, cursor=answer["nextCursor"]) + "</p>")
    return "".join(parts)


def export(console: Console, form: Form) -> Page:
    """GET /audit.csv: every page of the search as one CSV file (a download)."""
    query = query_of(form)
    if not (query["hitId"] or query["workerId"]):
        return console.page("Audit", markup.notice("Give a worker id or a HIT id to export.", "bad"), status=400)
    out = io.StringIO()
    writer = csv.writer(out)
    writer.writerow(COLUMNS)
    cursor, count = None, 0
    try:
        while count < MAX_EXPORT:
            answer = console.api("GET", "/decisions", query={**query, "limit": 100, "cursor": cursor})
            for decision in answer.get("decisions") or []:
                writer.writerow([_cell(decision.get(c)) for c in COLUMNS])
                count += 1
            cursor = answer.get("nextCursor")
            if not cursor:
                break
    except CliError as error:
        return console.page("Audit", markup.api_error(error), current="/audit")
    name = "audit-" + (query["hitId"] or query["workerId"] or "search") + ".csv"
    safe = "".join(c for c in name if c.isalnum() or c in "-_.")
    return Page(out.getvalue().encode("utf-8"), "text/csv; charset=utf-8",
                headers={"Content-Disposition": f'attachment; filename="{safe}"'})


def _cell(value: Any) -> str:
    """A cell as text; a leading =, +, - or @ is quoted so a spreadsheet does not run it as a formula."""
    text = "" if value is None else str(value)
    return "'" + text if text[:1] in ("=", "+", "-", "@") else text
