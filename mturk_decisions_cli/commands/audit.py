"""Reads of the audit: one assignment (`show`), a worker's or a HIT's decisions (`history`)."""
from __future__ import annotations

import click

from mturk_decisions_cli.app import App, pass_app
from mturk_decisions_cli.client import quote_segment
from mturk_decisions_cli.commands.options import iso_option
from mturk_decisions_cli.commands.paging import pages, paging_options
from mturk_decisions_cli.errors import EXIT_CODES_HELP
from mturk_decisions_cli.models import AssignmentDetails, Decision
from mturk_decisions_cli.render import Output, Renderer


@click.command(epilog=EXIT_CODES_HELP, short_help="An assignment's MTurk state and decision history.")
@click.argument("assignment_id", metavar="ASSIGNMENT_ID")
@pass_app
def show(app: App, assignment_id: str) -> None:
    """MTurk's current view of an assignment and its decision history (GET /assignments/ID)."""
    answer = app.call("GET", f"/assignments/{quote_segment(assignment_id)}").body
    app.emit(Output(answer, lambda r: r.assignment(AssignmentDetails.parse(answer))))


@click.command(epilog=EXIT_CODES_HELP, short_help="The audit of a worker or a HIT.")
@click.option("--worker", "worker_id", metavar="WORKER_ID", help="The audit of one worker.")
@click.option("--hit", "hit_id", metavar="HIT_ID", help="The audit of one HIT.")
@click.option("--since", callback=iso_option, metavar="DATE", help="From this ISO date or time (UTC by default).")
@click.option("--until", callback=iso_option, metavar="DATE", help="Up to this ISO date or time (a date: its end).")
@paging_options("Decisions")
@pass_app
def history(app: App, worker_id: str | None, hit_id: str | None, since: str | None, until: str | None, limit: int,
            all_pages: bool, cursor: str | None) -> None:
    """The audit of one worker or one HIT, newest first (GET /decisions). Give --worker or --hit."""
    if bool(worker_id) == bool(hit_id):
        raise click.UsageError("Give exactly one of --worker or --hit.")
    query = {"workerId": worker_id, "hitId": hit_id, "since": since, "until": until, "limit": limit}
    document, items, next_cursor = pages(app, "/decisions", "decisions", query, cursor, all_pages)

    def show_history(r: Renderer) -> None:
        decisions = [Decision.parse(d) for d in items]
        who = f"worker {worker_id}" if worker_id else f"HIT {hit_id}"
        if not decisions:
            r.line(f"No decisions for {who}" + (" in that period." if since or until else "."))
        else:
            columns = ("createdAt", "action", "state", "assignmentId", "hitId" if worker_id else "workerId", "actor",
                       "feedback", "reason", "error")
            r.table(r.decisions_table(decisions, title=f"Decisions for {who}, newest first ({len(decisions)})",
                                      columns=columns))
        if next_cursor:
            r.note(f"More decisions: add --all, or --cursor {next_cursor}")

    app.emit(Output(document, show_history))


COMMANDS = (show, history)
