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
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass
from decimal import Decimal, InvalidOperation
from typing import Any

import click
from rich import box
from rich.console import Console, JustifyMethod
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TaskProgressColumn, TextColumn, TimeElapsedColumn
from rich.table import Table
from rich.text import Text

from mturk_decisions_cli.errors import ApiError, CliError
from mturk_decisions_cli.models import (
    AssignmentDetails,
    AssignmentView,
    BatchAccepted,
    BatchItem,
    BatchPlan,
    BatchStatus,
    Cost,
    Decision,
    DecisionAnswer,
    Notification,
    Problem,
    Schedule,
    SinglePlan,
    Skip,
)

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


def principal(arn: str | None) -> str | None:
    """arn:aws:iam::123:user/alice -> user/alice (the full ARN is in --json)."""
    if not isinstance(arn, str) or not arn.startswith("arn:"):
        return arn
    return arn.split(":", 5)[-1]


_ARN = re.compile(r"arn:aws[a-z-]*:[^\s()]+")


def actor_name(actor: str | None) -> str | None:
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
    words = " ".join(str(value).split())
    return words if len(words) <= limit else words[: limit - 1] + "…"


def notification_text(notification: Notification) -> Text:
    """A decision's `notification`: "yes (sent)" or "FAILED: HardFailure ..." (the decision stands either way)."""
    if notification.sent:
        return Text("yes (e-mail sent by MTurk)", style="green")
    why = "; ".join(f"{code}: {message}" for code, message in notification.failures) or "unknown"
    return Text(f"no, MTurk did not send it ({why}); the decision stands", style="red")


def state_text(value: Any) -> Text:
    label = str(value or "-")
    return Text(label, style=_STATE_STYLE.get(label.upper(), ""))


#: What --json prints for an answer meant only for people: nothing.
NOTHING: Any = object()


@dataclass(frozen=True)
class Output:
    """A command's answer, printed by `Renderer.emit`: `document` as JSON with --json (the API's answer as-is,
    pages merged), else `show` for people. `Output.for_people` prints nothing with --json."""

    document: Any
    show: Callable[[Renderer], None]

    @classmethod
    def for_people(cls, show: Callable[[Renderer], None]) -> Output:
        return cls(NOTHING, show)


class Renderer:
    def __init__(self, json_mode: bool = False) -> None:
        self.json_mode = json_mode
        self.out = make_console(stderr=False)
        self.err = make_console(stderr=True)

    @property
    def human(self) -> Console:
        """Where text for people goes: stdout, or stderr when stdout is reserved for JSON."""
        return self.err if self.json_mode else self.out

    # -- the one output path -----------------------------------------------------------------------------
    def emit(self, output: Output) -> None:
        """A command's answer: its JSON document with --json, else its text for people."""
        if not self.json_mode:
            output.show(self)
        elif output.document is not NOTHING:
            self.json(output.document)

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

    def table(self, table: Table) -> None:
        self.human.print(table)

    # -- errors ------------------------------------------------------------------------------------------
    def error(self, error: CliError, hint: str | None = None) -> None:
        """Always on stderr. With --json, an API error's JSON body also goes to stdout as-is."""
        hint = hint or error.hint
        if isinstance(error, ApiError):
            self._api_error(error)
        else:
            self.say(self.err, Text.assemble(("Error: ", "bold red"), error.message))
        if hint:
            self.say(self.err, Text.assemble(("What to do: ", "bold"), hint))

    def _api_error(self, error: ApiError) -> None:
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
            self.err.print(self.problems_table([Problem.parse(e) for e in errors]))
        if error.request_id:
            self.say(self.err, Text(f"  requestId: {error.request_id}", style="dim"))

    def problems_table(self, problems: list[Problem]) -> Table:
        """INVALID_BATCH / INVALID_REQUEST errors: line numbers when there are any."""
        has_line = any(p.has_line for p in problems)
        has_assignment = any(p.assignment_id for p in problems)
        table = Table(box=box.SIMPLE, show_edge=False, pad_edge=False)
        if has_line:
            table.add_column("line", justify="right")
        if has_assignment:
            table.add_column("assignment")
        table.add_column("field")
        table.add_column("problem", overflow="fold")
        for problem in problems[:MAX_ROWS]:
            cells = []
            if has_line:
                cells.append(text(problem.line))
            if has_assignment:
                cells.append(text(problem.assignment_id))
            cells += [text(problem.field), text(problem.message)]
            table.add_row(*cells)
        if len(problems) > MAX_ROWS:
            table.caption = f"... and {len(problems) - MAX_ROWS} more (use --json for all)"
        return table

    # -- single decisions --------------------------------------------------------------------------------
    def decision(self, answer: DecisionAnswer, action: str) -> None:
        if not answer.decided and answer.schedule is not None:
            self.schedule(answer.schedule, "Reversal scheduled.")  # reverse --at: 202, nothing decided yet
            return
        decision, assignment = answer.decision, answer.assignment
        assignment_id = decision.assignment_id or assignment.assignment_id or "?"
        title = Text.assemble((f"{_ACTION_DONE.get(action, action)} assignment ", "bold green"), (assignment_id, "bold"))
        self.line(title)
        table = _kv_table()
        _kv(table, "status", f"{assignment.previous_status or decision.previous_status or '?'} → "
                             f"{assignment.status or '?'}")
        _kv(table, "workerId", decision.worker_id)
        _kv(table, "hitId", decision.hit_id)
        if answer.cost:
            _kv(table, "cost", _cost(answer.cost))
        _kv(table, "decisionId", decision.decision_id)
        _kv(table, "state", state_text(decision.state))
        if decision.feedback is not None:
            _kv(table, "feedback", decision.feedback)
        if decision.reason is not None:
            _kv(table, "reason", decision.reason)
        _kv(table, "actor", decision.actor)
        _kv(table, "at", when(decision.finalized_at or decision.created_at))
        if answer.notification is not None:
            _kv(table, "worker told", notification_text(answer.notification))
        self.human.print(table)
        if answer.schedule is not None:
            self.schedule(answer.schedule, "Provisional: it will be reversed automatically unless confirmed.")
        if answer.warning:
            self.warn(answer.warning)

    def schedule(self, schedule: Schedule, title: str) -> None:
        """A pending (or settled) automatic reversal: provisional, scheduled or funds retry."""
        self.line(Text(title, style="bold"))
        table = _kv_table()
        for key, value in (("kind", schedule.kind), ("state", schedule.state), ("dueAt", schedule.due_at),
                           ("deadline", schedule.deadline), ("attempts", schedule.attempts),
                           ("lastError", schedule.last_error), ("reason", schedule.reason),
                           ("decisionId", schedule.decision_id)):
            if value not in (None, ""):
                _kv(table, key, state_text(value) if key == "state" else when(value) if key in ("dueAt", "deadline")
                    else value)
        self.human.print(table)
        assignment_id = schedule.assignment_id
        if schedule.pending and assignment_id:
            confirm = (f"`mturk-decisions confirm {assignment_id}` keeps the rejection; "
                       if schedule.kind == "provisional" else "")
            self.note(f"{confirm}`mturk-decisions cancel-reversal {assignment_id}` cancels the reversal.")

    def single_plan(self, plan: SinglePlan) -> None:
        self.line(Text.assemble(("Dry run: ", "bold cyan"), f"{plan.action} {plan.assignment_id} "
                                                             "would be accepted. Nothing was changed."))
        table = _kv_table()
        _kv(table, "status", f"{plan.current_status} → {plan.resulting_status}")
        for key, value in (("workerId", plan.worker_id), ("hitId", plan.hit_id), ("feedback", plan.feedback),
                           ("reason", plan.reason)):
            if value is not None:
                _kv(table, key, value)
        if plan.cost:
            _kv(table, "cost", _cost(plan.cost))
        if plan.balance is not None:
            _kv(table, "balance", f"{money(plan.balance)} → {money(plan.balance_after)} after")
        if plan.reversal_deadline:
            _kv(table, "reversal deadline", when(plan.reversal_deadline))
        if plan.checks_passed:
            _kv(table, "checks passed", ", ".join(plan.checks_passed))
        self.human.print(table)

    # -- show / history / pending ------------------------------------------------------------------------
    def assignment(self, details: AssignmentDetails) -> None:
        view, history = details.view, details.history
        self.line(Text(f"Assignment {view.assignment_id or '?'}", style="bold"))
        self.human.print(_assignment_table(view))
        self.line()
        if history:
            self.human.print(self.decisions_table(history, title="Decision history (newest first)",
                                                  columns=("createdAt", "action", "state", "previousStatus", "actor",
                                                           "source", "feedback", "reason", "error")))
        else:
            self.note("No decisions recorded for this assignment.")
        for decision in history:
            if decision.notification is not None:
                self.say(self.human, Text.assemble(
                    f"  {decision.action} {when(decision.created_at)}: worker told "
                    f"\"{shorten(decision.notification.subject, 60)}\" → ", notification_text(decision.notification)))
        if details.schedule is not None:
            self.line()
            self.schedule(details.schedule, "Automatic reversal")

    def decisions_table(self, decisions: Iterable[Decision | Mapping[str, Any]], title: str | None = None,
                        columns: tuple[str, ...] = ("createdAt", "action", "state", "assignmentId", "workerId",
                                                    "hitId", "actor", "feedback", "reason", "error")) -> Table:
        """Decisions, one line each where the terminal allows: identifiers are never split. Columns with no
        value are left out; on a narrow terminal the least needed ones go first (`_DROPPED_FIRST`)."""
        parsed = [d if isinstance(d, Decision) else Decision.parse(d) for d in decisions]
        rows = [{column: _decision_cell(decision, column) for column in columns} for decision in parsed]
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

    def schedules_table(self, schedules: Iterable[Schedule], title: str | None = None) -> Table:
        """Automatic reversals (GET /scheduled-reversals), one line each: identifiers are never split."""
        columns = ("dueAt", "kind", "state", "assignmentId", "hitId", "workerId", "deadline", "attempts", "lastError")
        table = Table(title=title, title_justify="left", box=box.SIMPLE_HEAD, show_edge=False, pad_edge=False)
        for column in columns:
            _add_column(table, column, justify="right" if column == "attempts" else "left")
        for s in schedules:
            table.add_row(text(when(s.due_at)), text(s.kind), state_text(s.state), text(s.assignment_id),
                          text(s.hit_id), text(s.worker_id), text(when(s.deadline)), text(s.attempts),
                          text(shorten(s.last_error, 40)))
        return table

    # -- batches -----------------------------------------------------------------------------------------
    def batch_plan(self, plan: BatchPlan, source: str) -> None:
        """The dry-run plan of a batch: counts by outcome, cost and funds, the refused and skipped items."""
        self.line(Text.assemble((f"Plan for {source}", "bold"), (" (dry run: nothing has been changed)", "dim")))
        counts = Table(box=box.SIMPLE_HEAD, show_edge=False, pad_edge=False)
        counts.add_column("outcome")
        counts.add_column("items", justify="right")
        for outcome, label in (("reject", "reject"), ("reverse", "reverse a rejection"), ("approve", "approve"),
                               ("refused", "refused by a pre-check"), ("skipped", "skipped")):
            style = "red" if outcome == "refused" and plan.counts[outcome] else ""
            counts.add_row(Text(label, style=style), Text(str(plan.counts[outcome]), style=style))
        self.human.print(counts)
        self._plan_funds(plan)
        if plan.refused:
            self.line()
            self.human.print(self.plan_items_table(plan.refused, "Refused (these will not be applied)"))
        if plan.skipped:
            self.line()
            self.human.print(self.skipped_table(plan.skipped))

    def _plan_funds(self, plan: BatchPlan) -> None:
        if plan.cost or plan.balance is not None:
            line = Text.assemble(("Cost: ", "bold"), _cost(plan.cost) if plan.cost else money(0))
            if plan.balance is not None:
                line.append(f"   Balance: {money(plan.balance)} → {money(plan.balance_after)} after")
            self.line(line)
        if plan.sufficient_funds is not None:
            self.line(Text.assemble(("Sufficient funds: ", "bold"), text(plan.sufficient_funds)))
            if not plan.sufficient_funds:
                self.say(self.err, Text.assemble(("Insufficient funds: ", "bold red"), Text(
                    "the reversals and approvals cost more than the balance; those beyond it will be refused. "
                    "Add funds at https://requester.mturk.com/account first.")))

    def plan_items_table(self, items: list[BatchItem], title: str) -> Table:
        table = Table(title=title, title_justify="left", box=box.SIMPLE_HEAD, show_edge=False, pad_edge=False)
        for column in ("line", "assignmentId", "workerId", "action", "code", "message"):
            _add_column(table, column, justify="right" if column == "line" else "left")
        for item in items[:MAX_ROWS]:
            table.add_row(text(item.line), text(item.assignment_id), text(item.worker_id),
                          text(item.action), text(item.code, style="red"), text(item.message))
        if len(items) > MAX_ROWS:
            table.caption = f"... and {len(items) - MAX_ROWS} more (use --json for all)"
        return table

    def batch_accepted(self, accepted: BatchAccepted) -> None:
        self.line(Text.assemble((f"Batch {accepted.batch_id or '?'}", "bold green"),
                                f" {accepted.status}: {accepted.queued_label} "
                                f"item(s) queued, {accepted.skipped_label} skipped."))
        if accepted.skipped_rows:
            self.human.print(self.skipped_table(accepted.skipped_rows))

    def skipped_table(self, rows: list[Skip]) -> Table:
        """Skipped rows grouped by reason (a results CSV often has many rows nobody marked)."""
        groups: dict[str, list[Any]] = {}
        for row in rows:
            groups.setdefault(row.why, []).append(row.line)
        table = Table(title="Skipped rows", title_justify="left", box=box.SIMPLE_HEAD, show_edge=False, pad_edge=False)
        table.add_column("rows", justify="right")
        table.add_column("reason", overflow="fold")
        table.add_column("lines", overflow="fold")
        for reason, lines in sorted(groups.items(), key=lambda group: -len(group[1])):
            shown = ", ".join(str(line) for line in lines[:12] if line is not None)
            table.add_row(str(len(lines)), Text(reason), Text(shown + (", …" if len(lines) > 12 else "")))
        return table

    def batch_status(self, status: BatchStatus) -> None:
        head = Text.assemble((f"Batch {status.batch_id if status.batch_id is not None else '?'}", "bold"), "  ",
                             state_text(status.status or "?"))
        self.line(head)
        table = _kv_table()
        done = status.done if status.done is not None else "?"
        total = status.total if status.total is not None else "?"
        if status.progress is not None:
            _kv(table, "progress", f"{done}/{total} ({status.progress * 100:.0f}%)")
        else:
            _kv(table, "progress", f"{done}/{total}")
        for key, value in (("createdAt", status.created_at), ("actor", status.actor), ("source", status.source)):
            if value:
                _kv(table, key, when(value) if key == "createdAt" else value)
        self.human.print(table)
        self.human.print(self.counts_table(status.counts))

    def counts_table(self, counts: Mapping[str, int]) -> Table:
        table = Table(box=box.SIMPLE_HEAD, show_edge=False, pad_edge=False)
        keys = ["queued", "succeeded", "failed", "refused", "skipped"]
        keys += [k for k in counts if k not in keys]
        styles = {"succeeded": "green", "failed": "red", "refused": "red", "queued": "cyan", "skipped": "dim",
                  "deadLettered": "red"}
        for key in keys:
            table.add_column(key, justify="right", style=styles.get(key, "") if counts.get(key) else "")
        table.add_row(*[str(counts.get(k, 0)) for k in keys])
        return table

    def batch_items_table(self, items: list[BatchItem], title: str | None = None,
                          limit: int | None = None, with_decision: bool = True) -> Table:
        table = Table(title=title, title_justify="left", box=box.SIMPLE_HEAD, show_edge=False, pad_edge=False)
        columns = ["line", "assignmentId", "action", "status", "code", "message"]
        if with_decision and any(item.decision_id for item in items):
            columns.append("decisionId")
        for column in columns:
            _add_column(table, column, justify="right" if column == "line" else "left")
        shown = items if limit is None else items[:limit]
        for item in shown:
            row = [text(item.line), text(item.assignment_id), text(item.action), state_text(item.status),
                   text(item.code, style="red") if item.code else text(None), text(item.message)]
            if "decisionId" in columns:
                row.append(text(item.decision_id))
            table.add_row(*row)
        if limit is not None and len(items) > limit:
            table.caption = f"... and {len(items) - limit} more"
        return table

    def progress(self, total: int) -> Progress:
        columns = [TextColumn("{task.description}"), BarColumn(), MofNCompleteColumn(), TaskProgressColumn(),
                   TimeElapsedColumn()]
        return Progress(*columns, console=self.err, transient=False)


def _assignment_table(view: AssignmentView) -> Table:
    """MTurk's view of an assignment, as `name  value` lines."""
    table = _kv_table()
    _kv(table, "status", state_text(view.status))
    for key, value in (("workerId", view.worker_id), ("hitId", view.hit_id), ("hitTitle", view.hit_title),
                       ("hitStatus", view.hit_status)):
        _kv(table, key, value)
    _kv(table, "reward", money(view.reward))
    for key, value in (("submittedAt", view.submitted_at), ("approvedAt", view.approved_at),
                       ("rejectedAt", view.rejected_at)):
        if value:
            _kv(table, key, when(value))
    if view.requester_feedback:
        _kv(table, "feedback", view.requester_feedback)
    if view.reversal_deadline:
        _kv(table, "reversal deadline", when(view.reversal_deadline))
    if view.reversible is not None:
        _kv(table, "reversible", text(view.reversible))
    return table


#: Columns of free text: they wrap by words and give up their width first, so identifiers stay whole.
_TEXT_COLUMNS = {"feedback": 12, "reason": 10, "message": 30}


#: Table headers that differ from the JSON key (the values are the key's).
_HEADERS = {"previousStatus": "before"}
#: Decision columns shown only when some decision has a value; and those a narrow terminal drops, in order.
_OPTIONAL = ("feedback", "reason", "error")
_DROPPED_FIRST = ("previousStatus", "reason", "source", "hitId", "workerId", "feedback", "actor")
#: The space between two columns of the tables (box.SIMPLE_HEAD, padding 1).
_GAP = 3


def _decision_cell(decision: Decision, column: str) -> Text:
    if column == "createdAt":
        return text(when(decision.created_at))
    if column == "state":
        return state_text(decision.state)
    if column in ("feedback", "reason"):
        return text(shorten(decision.value(column), 40))
    if column == "actor":
        return text(actor_name(decision.actor))
    if column == "error":
        return text(decision.error_code, style="red") if decision.error_code else text(None)
    return text(decision.value(column))


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


def _add_column(table: Table, name: str, justify: JustifyMethod = "left", header: str | None = None) -> None:
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


def _cost(cost: Cost) -> str:
    parts = [f"reward {money(cost.reward)}" if cost.reward is not None else None,
             f"fee {money(cost.fee)}" if cost.fee is not None else None]
    shown = [p for p in parts if p]
    return f"{money(cost.total)} ({' + '.join(shown)})" if shown else money(cost.total)
