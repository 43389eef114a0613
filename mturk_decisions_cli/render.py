"""Presentation: rich tables for people, the API's JSON as-is for scripts (`--json`).

With `--json`, stdout carries exactly one JSON document and nothing else; everything meant for people
(plans before a confirmation, progress, errors) goes to stderr. Colours only when the stream is a
terminal (rich decides; `NO_COLOR` is honoured). Every string that comes from the API is rendered as
plain text, never as rich markup.
"""
from __future__ import annotations

import json
import os
import re
import sys
from collections.abc import Iterable, Mapping
from decimal import Decimal, InvalidOperation
from typing import Any

import click
from rich import box
from rich.console import Console
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TaskProgressColumn, TextColumn, TimeElapsedColumn
from rich.table import Table
from rich.text import Text

from mturk_decisions_cli.errors import ApiError, CliError

#: Rows shown per table before "... and N more".
MAX_ROWS = 50
_ACTION_DONE = {"reject": "Rejected", "reverse": "Reversed the rejection of", "approve": "Approved"}
_STATE_STYLE = {"SUCCEEDED": "green", "FAILED": "red", "PENDING": "yellow", "REFUSED": "red", "QUEUED": "cyan",
                "RUNNING": "cyan", "COMPLETED": "green", "SKIPPED": "dim", "DEAD_LETTERED": "red"}
#: Details shown first in an error, in this order; the other details follow.
_DETAIL_ORDER = ["currentStatus", "requiredStatus", "submittedAt", "deadline", "hitId", "balance", "amountNeeded",
                 "reward", "fee", "shortfall", "rule", "position", "codepoint", "length", "retryAfterSeconds",
                 "decisionId"]


def make_console(stderr: bool) -> Console:
    stream = sys.stderr if stderr else sys.stdout
    is_tty = hasattr(stream, "isatty") and stream.isatty()
    width = None if is_tty or os.environ.get("COLUMNS") else 160
    return Console(file=stream, width=width, highlight=False, soft_wrap=False, emoji=False)


def text(value: Any, style: str | None = None) -> Text:
    """A table cell or line from data: plain text, never markup."""
    if value is None or value == "":
        return Text("-", style="dim")
    if isinstance(value, bool):
        return Text("yes" if value else "no", style=style or ("green" if value else "red"))
    return Text(str(value), style=style or "")


def money(value: Any) -> str:
    """"1.2" -> "$1.20", "-0.40" -> "-$0.40"; anything that is not a number is shown as it is."""
    if value is None or value == "":
        return "-"
    try:
        amount = Decimal(str(value))
    except InvalidOperation:
        return f"${value}"
    return f"-${-amount:.2f}" if amount < 0 else f"${amount:.2f}"


def principal(arn: Any) -> str | None:
    """arn:aws:iam::123:user/alice -> user/alice (the full ARN is in --json)."""
    if not isinstance(arn, str) or not arn.startswith("arn:"):
        return arn
    return arn.split(":", 5)[-1]


_ARN = re.compile(r"arn:aws[a-z-]*:[^\s()]+")


def actor_name(actor: Any) -> str | None:
    """Every ARN in an actor as its last segment, for tables: arn:aws:iam::123:user/alice -> alice,
    ...:assumed-role/Role/bob -> bob, "schedule:provisional (requested by arn:...:user/alice)" -> "schedule:
    provisional (requested by alice)". Other actors as they are; the full value is in --json."""
    if not isinstance(actor, str):
        return actor
    return _ARN.sub(lambda arn: re.split(r"[/:]", arn.group(0))[-1] or arn.group(0), actor)


def when(value: Any) -> str:
    """An ISO time without the noise: 2026-11-23T15:57:16.101Z -> 2026-11-23 15:57:16Z."""
    if not isinstance(value, str) or "T" not in value:
        return "-" if value in (None, "") else str(value)
    date, _, rest = value.partition("T")
    clock = rest[:8]
    zone = "Z" if rest.endswith("Z") else ""
    return f"{date} {clock}{zone}"


def shorten(value: Any, limit: int = 60) -> str | None:
    if value is None:
        return None
    value = " ".join(str(value).split())
    return value if len(value) <= limit else value[: limit - 1] + "…"


def notification_text(notification: Mapping[str, Any]) -> Text:
    """A decision's `notification`: "yes (sent)" or "FAILED: HardFailure ..." (the decision stands either way)."""
    if str(notification.get("status", "")).upper() == "SENT":
        return Text("yes (e-mail sent by MTurk)", style="green")
    failures = [f for f in notification.get("failures") or [] if isinstance(f, Mapping)]
    why = "; ".join(f"{f.get('code')}: {f.get('message')}" for f in failures) or "unknown"
    return Text(f"no, MTurk did not send it ({why}); the decision stands", style="red")


def state_text(value: Any) -> Text:
    label = str(value or "-")
    return Text(label, style=_STATE_STYLE.get(label.upper(), ""))


class Renderer:
    def __init__(self, json_mode: bool = False) -> None:
        self.json_mode = json_mode
        self.out = make_console(stderr=False)
        self.err = make_console(stderr=True)

    @property
    def human(self) -> Console:
        """Where text for people goes: stdout, or stderr when stdout is reserved for JSON."""
        return self.err if self.json_mode else self.out

    # -- plain output ------------------------------------------------------------------------------------
    def json(self, body: Any) -> None:
        click.echo(json.dumps(body, indent=2, ensure_ascii=False, sort_keys=False))

    @staticmethod
    def say(console: Console, message: str | Text) -> None:
        """One line of text: wrapped by words on a terminal, left whole when redirected (logs, scripts)."""
        message = message if isinstance(message, Text) else Text(message)
        console.print(message, soft_wrap=not console.is_terminal)

    def line(self, message: str | Text = "", style: str | None = None) -> None:
        self.say(self.human, message if isinstance(message, Text) else Text(message, style=style or ""))

    def note(self, message: str) -> None:
        self.say(self.human, Text(message, style="dim"))

    def warn(self, message: str) -> None:
        self.say(self.err, Text.assemble(("Warning: ", "bold yellow"), message))

    # -- errors ------------------------------------------------------------------------------------------
    def error(self, error: CliError, hint: str | None = None) -> None:
        """Always on stderr. With --json, an API error's JSON body also goes to stdout as-is."""
        hint = hint or error.hint
        if isinstance(error, ApiError):
            if self.json_mode:
                self.json(error.body)
            head = Text(f"Error {error.status} {error.code}", style="bold red")
            self.say(self.err, Text.assemble(head, ": ", error.message))
            details = error.details
            ordered = [k for k in _DETAIL_ORDER if k in details] + [k for k in details if k not in _DETAIL_ORDER]
            for key in ordered:
                value = details[key]
                if isinstance(value, (dict, list)):
                    value = json.dumps(value, ensure_ascii=False)
                if key in ("balance", "amountNeeded", "reward", "fee", "shortfall"):
                    value = money(value)
                self.say(self.err, Text.assemble((f"  {key}: ", "bold"), str(value)))
            errors = error.body.get("errors")
            if isinstance(errors, list) and errors:
                self.err.print(self.problems_table(errors))
            if error.request_id:
                self.say(self.err, Text(f"  requestId: {error.request_id}", style="dim"))
        else:
            self.say(self.err, Text.assemble(("Error: ", "bold red"), error.message))
        if hint:
            self.say(self.err, Text.assemble(("What to do: ", "bold"), hint))

    def problems_table(self, errors: list[Any]) -> Table:
        """INVALID_BATCH / INVALID_REQUEST errors: line numbers when there are any."""
        rows = [e if isinstance(e, dict) else {"message": str(e)} for e in errors]
        has_line = any("line" in r for r in rows)
        has_assignment = any(r.get("assignmentId") for r in rows)
        table = Table(box=box.SIMPLE, show_edge=False, pad_edge=False)
        if has_line:
            table.add_column("line", justify="right")
        if has_assignment:
            table.add_column("assignment")
        table.add_column("field")
        table.add_column("problem", overflow="fold")
        for row in rows[:MAX_ROWS]:
            cells = []
            if has_line:
                cells.append(text(row.get("line")))
            if has_assignment:
                cells.append(text(row.get("assignmentId")))
            cells += [text(row.get("field")), text(row.get("message"))]
            table.add_row(*cells)
        if len(rows) > MAX_ROWS:
            table.caption = f"... and {len(rows) - MAX_ROWS} more (use --json for all)"
        return table

    # -- single decisions --------------------------------------------------------------------------------
    def decision(self, body: Mapping[str, Any], action: str) -> None:
        if "decision" not in body and isinstance(body.get("scheduledReversal"), dict):
            self.schedule(body, "Reversal scheduled.")  # reverse --at: 202, nothing decided yet
            return
        decision = body.get("decision") or {}
        assignment = body.get("assignment") or {}
        assignment_id = decision.get("assignmentId") or assignment.get("assignmentId") or "?"
        title = Text.assemble((f"{_ACTION_DONE.get(action, action)} assignment ", "bold green"), (assignment_id, "bold"))
        self.line(title)
        table = _kv_table()
        _kv(table, "status", f"{assignment.get('previousStatus') or decision.get('previousStatus') or '?'} → "
                             f"{assignment.get('status') or '?'}")
        for key in ("workerId", "hitId"):
            _kv(table, key, decision.get(key))
        if body.get("cost"):
            _kv(table, "cost", _cost(body["cost"]))
        _kv(table, "decisionId", decision.get("decisionId"))
        _kv(table, "state", state_text(decision.get("state")))
        if decision.get("feedback") is not None:
            _kv(table, "feedback", decision.get("feedback"))
        if decision.get("reason") is not None:
            _kv(table, "reason", decision.get("reason"))
        _kv(table, "actor", decision.get("actor"))
        _kv(table, "at", when(decision.get("finalizedAt") or decision.get("createdAt")))
        if isinstance(body.get("notification"), dict):
            _kv(table, "worker told", notification_text(body["notification"]))
        self.human.print(table)
        if isinstance(body.get("scheduledReversal"), dict):
            self.schedule(body, "Provisional: it will be reversed automatically unless confirmed.")
        if body.get("warning"):
            self.warn(str(body["warning"]))

    def schedule(self, body: Mapping[str, Any], title: str) -> None:
        """A pending (or settled) automatic reversal: provisional, scheduled or funds retry."""
        schedule = body.get("scheduledReversal") or {}
        self.line(Text(title, style="bold"))
        table = _kv_table()
        for key in ("kind", "state", "dueAt", "deadline", "attempts", "lastError", "reason", "decisionId"):
            if schedule.get(key) not in (None, ""):
                value = schedule[key]
                _kv(table, key, state_text(value) if key == "state" else when(value) if key in ("dueAt", "deadline")
                    else value)
        self.human.print(table)
        assignment_id = schedule.get("assignmentId")
        if str(schedule.get("state", "")).upper() == "PENDING" and assignment_id:
            confirm = (f"`mturk-decisions confirm {assignment_id}` keeps the rejection; "
                       if schedule.get("kind") == "provisional" else "")
            self.note(f"{confirm}`mturk-decisions cancel-reversal {assignment_id}` cancels the reversal.")

    def single_plan(self, body: Mapping[str, Any]) -> None:
        plan = body.get("plan") or {}
        self.line(Text.assemble(("Dry run: ", "bold cyan"), f"{plan.get('action', '?')} {plan.get('assignmentId', '?')} "
                                                             "would be accepted. Nothing was changed."))
        table = _kv_table()
        _kv(table, "status", f"{plan.get('currentStatus', '?')} → {plan.get('resultingStatus', '?')}")
        for key in ("workerId", "hitId", "feedback", "reason"):
            if plan.get(key) is not None:
                _kv(table, key, plan.get(key))
        if plan.get("cost"):
            _kv(table, "cost", _cost(plan["cost"]))
        if plan.get("balance") is not None:
            _kv(table, "balance", f"{money(plan.get('balance'))} → {money(plan.get('balanceAfter'))} after")
        if plan.get("reversalDeadline"):
            _kv(table, "reversal deadline", when(plan["reversalDeadline"]))
        if plan.get("checksPassed"):
            _kv(table, "checks passed", ", ".join(map(str, plan["checksPassed"])))
        self.human.print(table)

    # -- show / history ----------------------------------------------------------------------------------
    def assignment(self, body: Mapping[str, Any]) -> None:
        view = body.get("assignment") or {}
        history = body.get("history") or []
        self.line(Text(f"Assignment {view.get('assignmentId', '?')}", style="bold"))
        table = _kv_table()
        _kv(table, "status", state_text(view.get("status")))
        for key in ("workerId", "hitId", "hitTitle"):
            _kv(table, key, view.get(key))
        _kv(table, "hitStatus", view.get("hitStatus"))
        _kv(table, "reward", money(view.get("reward")))
        for key in ("submittedAt", "approvedAt", "rejectedAt"):
            if view.get(key):
                _kv(table, key, when(view.get(key)))
        if view.get("requesterFeedback"):
            _kv(table, "feedback", view.get("requesterFeedback"))
        if view.get("reversalDeadline"):
            _kv(table, "reversal deadline", when(view.get("reversalDeadline")))
        if "reversible" in view:
            _kv(table, "reversible", text(bool(view.get("reversible"))))
        self.human.print(table)
        self.line()
        if history:
            self.human.print(self.decisions_table(history, title="Decision history (newest first)",
                                                  columns=("createdAt", "action", "state", "previousStatus", "actor",
                                                           "source", "feedback", "reason", "error")))
        else:
            self.note("No decisions recorded for this assignment.")
        for decision in history:
            notification = decision.get("notification") if isinstance(decision, Mapping) else None
            if isinstance(notification, Mapping):
                self.say(self.human, Text.assemble(
                    f"  {decision.get('action')} {when(decision.get('createdAt'))}: worker told "
                    f"\"{shorten(notification.get('subject'), 60)}\" → ", notification_text(notification)))
        if isinstance(body.get("scheduledReversal"), dict):
            self.line()
            self.schedule(body, "Automatic reversal")

    def decisions_table(self, decisions: Iterable[Mapping[str, Any]], title: str | None = None,
                        columns: tuple[str, ...] = ("createdAt", "action", "state", "assignmentId", "workerId",
                                                    "hitId", "actor", "feedback", "reason", "error")) -> Table:
        """Decisions, one line each where the terminal allows: identifiers are never split. Columns with no
        value are left out; on a narrow terminal the least needed ones go first (`_DROPPED_FIRST`)."""
        rows = [{column: _decision_cell(decision, column) for column in columns} for decision in decisions]
        shown = tuple(c for c in columns if c not in _OPTIONAL or any(r[c].plain != "-" for r in rows))
        columns = _fit(shown, rows, self.human.width)
        if _needed(columns, rows) > self.human.width:  # a very narrow terminal: one block per decision
            return _records(rows, shown, title)
        table = Table(title=title, title_justify="left", box=box.SIMPLE_HEAD, show_edge=False, pad_edge=False)
        for column in columns:
            _add_column(table, column, header=_HEADERS.get(column, column))
        for row in rows:
            table.add_row(*(row[column] for column in columns))
        return table

    def schedules_table(self, schedules: Iterable[Mapping[str, Any]], title: str | None = None) -> Table:
        """Automatic reversals (GET /scheduled-reversals), one line each: identifiers are never split."""
        columns = ("dueAt", "kind", "state", "assignmentId", "hitId", "workerId", "deadline", "attempts", "lastError")
        table = Table(title=title, title_justify="left", box=box.SIMPLE_HEAD, show_edge=False, pad_edge=False)
        for column in columns:
            _add_column(table, column, justify="right" if column == "attempts" else "left")
        for schedule in schedules:
            table.add_row(*(state_text(schedule.get(c)) if c == "state"
                            else text(when(schedule.get(c))) if c in ("dueAt", "deadline")
                            else text(shorten(schedule.get(c), 40)) if c == "lastError"
                            else text(schedule.get(c)) for c in columns))
        return table

    # -- batches -----------------------------------------------------------------------------------------
    def batch_plan(self, body: Mapping[str, Any], source: str) -> dict[str, Any]:
        """The dry-run plan of a batch; returns its totals (with defaults for missing keys)."""
        plan = body.get("plan") or {}
        items = [i for i in (plan.get("items") or []) if isinstance(i, dict)]
        totals = dict(plan.get("totals") or {})
        for outcome in ("reject", "reverse", "approve", "refused"):
            totals.setdefault(outcome, sum(1 for i in items if i.get("outcome") == outcome))
        totals.setdefault("skipped", sum(1 for i in items if i.get("outcome") in ("skip", "skipped")))
        self.line(Text.assemble((f"Plan for {source}", "bold"), (" (dry run: nothing has been changed)", "dim")))
        counts = Table(box=box.SIMPLE_HEAD, show_edge=False, pad_edge=False)
        counts.add_column("outcome")
        counts.add_column("items", justify="right")
        for outcome, label in (("reject", "reject"), ("reverse", "reverse a rejection"), ("approve", "approve"),
                               ("refused", "refused by a pre-check"), ("skipped", "skipped")):
            style = "red" if outcome == "refused" and totals.get(outcome) else ""
            counts.add_row(Text(label, style=style), Text(str(totals.get(outcome, 0)), style=style))
        self.human.print(counts)
        cost = totals.get("cost") or {}
        if cost or totals.get("balance") is not None:
            line = Text.assemble(("Cost: ", "bold"), _cost(cost) if cost else money(0))
            if totals.get("balance") is not None:
                line.append(f"   Balance: {money(totals.get('balance'))} → {money(totals.get('balanceAfter'))} after")
            self.line(line)
        sufficient = totals.get("sufficientFunds")
        if sufficient is not None:
            self.line(Text.assemble(("Sufficient funds: ", "bold"), text(bool(sufficient))))
            if not sufficient:
                self.say(self.err, Text.assemble(("Insufficient funds: ", "bold red"), Text(
                    "the reversals and approvals cost more than the balance; those beyond it will be refused. "
                    "Add funds at https://requester.mturk.com/account first.")))
        refused = [i for i in items if i.get("outcome") == "refused"]
        if refused:
            self.line()
            self.human.print(self.plan_items_table(refused, "Refused (these will not be applied)"))
        skipped = [i for i in items if i.get("outcome") in ("skip", "skipped")]
        if skipped:
            self.line()
            self.human.print(self.skipped_table(skipped))
        return totals

    def plan_items_table(self, items: list[Mapping[str, Any]], title: str) -> Table:
        table = Table(title=title, title_justify="left", box=box.SIMPLE_HEAD, show_edge=False, pad_edge=False)
        for column in ("line", "assignmentId", "workerId", "action", "code", "message"):
            _add_column(table, column, justify="right" if column == "line" else "left")
        for item in items[:MAX_ROWS]:
            table.add_row(text(item.get("line")), text(item.get("assignmentId")), text(item.get("workerId")),
                          text(item.get("action")), text(item.get("code"), style="red"), text(item.get("message")))
        if len(items) > MAX_ROWS:
            table.caption = f"... and {len(items) - MAX_ROWS} more (use --json for all)"
        return table

    def batch_accepted(self, body: Mapping[str, Any]) -> None:
        batch_id = body.get("batchId", "?")
        self.line(Text.assemble((f"Batch {batch_id}", "bold green"),
                                f" {body.get('status', 'QUEUED')}: {body.get('queued', body.get('total', '?'))} "
                                f"item(s) queued, {body.get('skipped', 0)} skipped."))
        skipped = [r for r in (body.get("skippedRows") or []) if isinstance(r, dict)]
        if skipped:
            self.human.print(self.skipped_table(skipped))

    def skipped_table(self, rows: list[Mapping[str, Any]]) -> Table:
        """Skipped rows grouped by reason (a results CSV often has many rows nobody marked)."""
        groups: dict[str, list[Any]] = {}
        for row in rows:
            groups.setdefault(str(row.get("reason") or row.get("message") or "-"), []).append(row.get("line"))
        table = Table(title="Skipped rows", title_justify="left", box=box.SIMPLE_HEAD, show_edge=False, pad_edge=False)
        table.add_column("rows", justify="right")
        table.add_column("reason", overflow="fold")
        table.add_column("lines", overflow="fold")
        for reason, lines in sorted(groups.items(), key=lambda group: -len(group[1])):
            shown = ", ".join(str(line) for line in lines[:12] if line is not None)
            table.add_row(str(len(lines)), Text(reason), Text(shown + (", …" if len(lines) > 12 else "")))
        return table

    def batch_status(self, body: Mapping[str, Any]) -> None:
        status = str(body.get("status") or "?")
        head = Text.assemble((f"Batch {body.get('batchId', '?')}", "bold"), "  ", state_text(status))
        self.line(head)
        table = _kv_table()
        total, done = body.get("total"), body.get("done")
        progress = body.get("progress")
        if isinstance(progress, (int, float)):
            _kv(table, "progress", f"{done if done is not None else '?'}/{total if total is not None else '?'} "
                                   f"({progress * 100:.0f}%)")
        else:
            _kv(table, "progress", f"{done if done is not None else '?'}/{total if total is not None else '?'}")
        for key in ("createdAt", "actor", "source"):
            if body.get(key):
                _kv(table, key, when(body[key]) if key == "createdAt" else body[key])
        self.human.print(table)
        self.human.print(self.counts_table(body.get("counts") or {}))

    def counts_table(self, counts: Mapping[str, Any]) -> Table:
        table = Table(box=box.SIMPLE_HEAD, show_edge=False, pad_edge=False)
        keys = ["queued", "succeeded", "failed", "refused", "skipped"]
        keys += [k for k in counts if k not in keys]
        styles = {"succeeded": "green", "failed": "red", "refused": "red", "queued": "cyan", "skipped": "dim",
                  "deadLettered": "red"}
        for key in keys:
            table.add_column(key, justify="right", style=styles.get(key, "") if counts.get(key) else "")
        table.add_row(*[str(counts.get(k, 0)) for k in keys])
        return table

    def batch_items_table(self, items: list[Mapping[str, Any]], title: str | None = None,
                          limit: int | None = None, with_decision: bool = True) -> Table:
        table = Table(title=title, title_justify="left", box=box.SIMPLE_HEAD, show_edge=False, pad_edge=False)
        columns = ["line", "assignmentId", "action", "status", "code", "message"]
        if with_decision and any(item.get("decisionId") for item in items):
            columns.append("decisionId")
        for column in columns:
            _add_column(table, column, justify="right" if column == "line" else "left")
        shown = items if limit is None else items[:limit]
        for item in shown:
            code = item.get("code")
            row = [text(item.get("line")), text(item.get("assignmentId")), text(item.get("action")),
                   state_text(item.get("status")), text(code, style="red") if code else text(None),
                   text(item.get("message"))]
            if "decisionId" in columns:
                row.append(text(item.get("decisionId")))
            table.add_row(*row)
        if limit is not None and len(items) > limit:
            table.caption = f"... and {len(items) - limit} more"
        return table

    def progress(self, total: int) -> "Progress":
        columns = [TextColumn("{task.description}"), BarColumn(), MofNCompleteColumn(), TaskProgressColumn(),
                   TimeElapsedColumn()]
        return Progress(*columns, console=self.err, transient=False)


#: Columns of free text: they wrap by words and give up their width first, so identifiers stay whole.
_TEXT_COLUMNS = {"feedback": 12, "reason": 10, "message": 30}


#: Table headers that differ from the JSON key (the values are the key's).
_HEADERS = {"previousStatus": "before"}
#: Decision columns shown only when some decision has a value; and those a narrow terminal drops, in order.
_OPTIONAL = ("feedback", "reason", "error")
_DROPPED_FIRST = ("previousStatus", "reason", "source", "hitId", "workerId", "feedback", "actor")
#: The space between two columns of the tables (box.SIMPLE_HEAD, padding 1).
_GAP = 3


def _decision_cell(decision: Mapping[str, Any], column: str) -> Text:
    if column == "createdAt":
        return text(when(decision.get("createdAt")))
    if column == "state":
        return state_text(decision.get("state"))
    if column in ("feedback", "reason"):
        return text(shorten(decision.get(column), 40))
    if column == "actor":
        return text(actor_name(decision.get("actor")))
    if column == "error":
        code = decision.get("errorCode")
        return text(code, style="red") if code else text(None)
    return text(decision.get(column))


def _needed(columns: tuple[str, ...], rows: list[dict[str, Text]]) -> int:
    """The width a table of `columns` needs to show every identifier whole."""
    widths = [_TEXT_COLUMNS[c] if c in _TEXT_COLUMNS
              else max([len(_HEADERS.get(c, c)), *(r[c].cell_len for r in rows)]) for c in columns]
    return sum(widths) + _GAP * (len(columns) - 1)


def _fit(columns: tuple[str, ...], rows: list[dict[str, Text]], width: int) -> tuple[str, ...]:
    """Leave out the least needed columns until the others' identifiers fit on one line in `width`."""
    for column in _DROPPED_FIRST:
        if _needed(columns, rows) <= width:
            break
        columns = tuple(c for c in columns if c != column)
    return columns


def _records(rows: list[dict[str, Text]], columns: tuple[str, ...], title: str | None) -> Table:
    """Decisions as blocks of `name  value` lines: every identifier whole even on a narrow terminal."""
    table = Table(title=title, title_justify="left", box=None, show_header=False, pad_edge=False,
                  padding=(0, 2, 0, 0))
    table.add_column(style="bold", no_wrap=True)
    table.add_column(overflow="fold")
    for index, row in enumerate(rows):
        if index:
            table.add_row("", "")
        for column in columns:
            if row[column].plain != "-":
                table.add_row(Text(_HEADERS.get(column, column)), row[column])
    return table


def _add_column(table: Table, name: str, justify: str = "left", header: str | None = None) -> None:
    """Identifiers, times, states and codes on one line each, never split: free text (wrapped by words) gives
    up its width first; on a terminal too narrow even then, they are cut with a visible "…" (--json has all)."""
    if name in _TEXT_COLUMNS:
        table.add_column(header or name, justify=justify, overflow="fold", min_width=_TEXT_COLUMNS[name])
    else:
        table.add_column(header or name, justify=justify, no_wrap=True, overflow="ellipsis")


def _kv_table() -> Table:
    table = Table(box=None, show_header=False, pad_edge=False, padding=(0, 2, 0, 0))
    table.add_column(style="bold", no_wrap=True)
    table.add_column(overflow="fold")
    return table


def _kv(table: Table, key: str, value: Any) -> None:
    table.add_row(Text(f"  {key}"), value if isinstance(value, Text) else text(value))


def _cost(cost: Mapping[str, Any]) -> str:
    if not isinstance(cost, Mapping):
        return str(cost)
    total = money(cost.get("total"))
    parts = [f"reward {money(cost.get('reward'))}" if cost.get("reward") is not None else None,
             f"fee {money(cost.get('fee'))}" if cost.get("fee") is not None else None]
    parts = [p for p in parts if p]
    return f"{total} ({' + '.join(parts)})" if parts else total
