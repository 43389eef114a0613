"""`pending`: the automatic reversals waiting (provisional rejections, scheduled reversals, funds retries)."""
from __future__ import annotations

import click

from mturk_decisions_cli.app import App, pass_app
from mturk_decisions_cli.commands.options import iso_option
from mturk_decisions_cli.commands.paging import pages, paging_options
from mturk_decisions_cli.errors import EXIT_CODES_HELP
from mturk_decisions_cli.models import Schedule
from mturk_decisions_cli.render import Output, Renderer

SCHEDULE_STATES = ["PENDING", "RUNNING", "DONE", "CANCELLED", "CONFIRMED", "FAILED", "EXPIRED"]


@click.command(epilog=EXIT_CODES_HELP, short_help="Automatic reversals waiting (or in a state) by due time.")
@click.option("--state", type=click.Choice(SCHEDULE_STATES, case_sensitive=False),
              help="Only this state. Default: the pending ones (PENDING and RUNNING).")
@click.option("--hit", "hit_id", metavar="HIT_ID", help="Only this HIT's.")
@click.option("--kind", type=click.Choice(["provisional", "scheduled", "funds-retry"]), help="Only this kind.")
@click.option("--due-before", callback=iso_option, metavar="TIME",
              help="Only those due before this ISO date or time (UTC by default).")
@paging_options("Reversals")
@pass_app
def pending(app: App, state: str | None, hit_id: str | None, kind: str | None, due_before: str | None, limit: int,
            all_pages: bool, cursor: str | None) -> None:
    """Automatic reversals (provisional rejections, scheduled reversals, funds retries) by due time, earliest
    first (GET /scheduled-reversals). Confirm one with `confirm ID`, cancel it with `cancel-reversal ID`."""
    query = {"state": state.upper() if state else None, "hitId": hit_id, "kind": kind, "dueBefore": due_before,
             "limit": limit}
    document, items, next_cursor = pages(app, "/scheduled-reversals", "scheduledReversals", query, cursor, all_pages)

    def show_pending(r: Renderer) -> None:
        schedules = [Schedule.parse(s) for s in items]
        what = f"{state.upper()} automatic reversals" if state else "Pending automatic reversals"
        if not schedules:
            r.line(f"No {what[0].lower() + what[1:]}" + (" matching the filters." if hit_id or kind or
                                                         due_before else "."))
        else:
            r.table(r.schedules_table(schedules, f"{what}, by due time ({len(schedules)})"))
        if next_cursor:
            r.note(f"More automatic reversals: add --all, or --cursor {next_cursor}")

    app.emit(Output(document, show_pending))


COMMANDS = (pending,)
