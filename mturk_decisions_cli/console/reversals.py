"""The Automatic reversals page: pending provisional, scheduled and funds-retry reversals (GET
/scheduled-reversals), with due time and deadline; confirm (provisional) or cancel each."""
from __future__ import annotations

from typing import Any

from mturk_decisions_cli.console import markup
from mturk_decisions_cli.console.app import Console, Form, is_route_missing
from mturk_decisions_cli.console.assignment import DONE, schedule_buttons
from mturk_decisions_cli.console.markup import e
from mturk_decisions_cli.local_proxy import Page

STATES = ("PENDING", "RUNNING", "DONE", "CANCELLED", "CONFIRMED", "FAILED", "EXPIRED")
KINDS = ("provisional", "scheduled", "funds-retry")
MISSING = ("This API has no <code>GET /scheduled-reversals</code> yet (it answered {code}): update the stack to list "
           "automatic reversals here. Each assignment's own reversal is on its Assignment page.")


def query_of(form: Form) -> dict[str, Any]:
    state = form.get("state") if form.get("state") in STATES else None
    kind = form.get("kind") if form.get("kind") in KINDS else None
    return {"state": state, "kind": kind, "hitId": form.get("hitId").strip() or None,
            "dueBefore": form.get("dueBefore").strip() or None, "limit": 50, "cursor": form.get("cursor") or None}


def show(console: Console, form: Form) -> Page:
    query = query_of(form)
    body = []
    if form.get("done") in DONE:
        body.append(markup.notice(e(DONE[form.get("done")])))
    body.append(filter_form(query))
    answer, error = console.attempt("GET", "/scheduled-reversals", query=query)
    if error:
        body.append(markup.notice(MISSING.format(code=e(getattr(error, "code", ""))), "bad") if is_route_missing(error)
                    else markup.api_error(error))
    else:
        body.append(reversal_table(answer.get("scheduledReversals") or [], back=back_of(query)))
        if answer.get("nextCursor"):
            body.append("<p>" + markup.link("/reversals", "Next page", **{**query, "limit": None,
                                                                          "cursor": answer["nextCursor"]}) + "</p>")
    return console.page("Automatic reversals", "".join(body), current="/reversals")


def back_of(query: dict[str, Any]) -> str:
    from urllib.parse import urlencode

    kept = {k: v for k, v in query.items() if v and k not in ("limit", "cursor")}
    return "/reversals" + ("?" + urlencode(kept) if kept else "")


def filter_form(query: dict[str, Any]) -> str:
    states = "".join(f'<option value="{s}"{" selected" if query["state"] == s else ""}>{s}</option>' for s in STATES)
    kinds = "".join(f'<option value="{k}"{" selected" if query["kind"] == k else ""}>{k}</option>' for k in KINDS)
    hit = query["hitId"] or ""
    due = query["dueBefore"] or ""
    return ('<form method="get" action="/reversals" class="inline" role="search">'
            f'<label for="rv-state">State</label><select id="rv-state" name="state"><option value="">pending (default)'
            f'</option>{states}</select>'
            f'<label for="rv-kind">Kind</label><select id="rv-kind" name="kind"><option value="">any</option>{kinds}'
            '</select>'
            f'<label for="rv-hit">HIT id</label><input id="rv-hit" name="hitId" value="{e(hit) if hit else ""}" size="30">'
            f'<label for="rv-due">Due before</label><input id="rv-due" name="dueBefore" value="{e(due) if due else ""}" '
            'placeholder="2026-12-31T00:00:00Z" size="22"><button type="submit">Filter</button></form>')


def reversal_table(reversals: list[dict[str, Any]], *, back: str) -> str:
    rows = []
    for item in reversals:
        aid = str(item.get("assignmentId"))
        buttons = schedule_buttons(aid, item, back=back, compact=True) if item.get("state") == "PENDING" else ""
        rows.append([markup.link("/assignment", aid, id=aid), e(item.get("hitId")), e(item.get("workerId")),
                     f'{e(item.get("kind"))}<br>{e(item.get("state"))}', markup.countdown(item.get("dueAt")),
                     markup.countdown(item.get("deadline")), e(item.get("attempts")), e(item.get("lastError")), buttons])
    return markup.table(("Assignment", "HIT", "Worker", "Kind, state", "Due", "Deadline", "Attempts", "Last error",
                         "Actions"), rows, empty="No automatic reversal matches.", css="reversals")
