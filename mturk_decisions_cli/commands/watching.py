"""Following a batch: `batch` (its status, counts and items), and watching one until it completes, with the
summary and exit code 1 when items failed, were refused or went to the dead-letter queue."""
from __future__ import annotations

from typing import Any

import click

from mturk_decisions_cli.app import App, pass_app
from mturk_decisions_cli.client import quote_segment
from mturk_decisions_cli.errors import EXIT_CODES_HELP, Aborted, BatchFailures, CliError, refusals_hint
from mturk_decisions_cli.models import BatchItem, BatchStatus, objects
from mturk_decisions_cli.render import Output, Renderer

#: Seconds between two polls of a batch while watching it (grows up to POLL_MAX_SECONDS).
POLL_SECONDS = 1.0
POLL_MAX_SECONDS = 5.0
PAGE_LIMIT = 100
TERMINAL_BATCH_STATES = {"COMPLETED", "FAILED", "CANCELLED", "CANCELED", "ABORTED"}
ITEM_STATUSES = ["QUEUED", "SUCCEEDED", "FAILED", "REFUSED", "SKIPPED", "DEAD_LETTERED"]
#: Items whose decision did not happen: listed after a batch, and the reason for exit code 1.
PROBLEM_STATUSES = ("FAILED", "REFUSED", "DEAD_LETTERED")
#: Problem items listed after a batch (the rest: `batch ID --items --status ...`).
PROBLEMS_SHOWN = 50


def batch_path(batch_id: str) -> str:
    return f"/batches/{quote_segment(batch_id)}"


def watch(app: App, batch_id: str, total: int) -> Any:
    """Poll the batch with a live progress bar until it is in a final state; return its last status (the API's
    answer as it is)."""
    interval = POLL_SECONDS
    answer: Any = {}
    try:
        with app.renderer.progress(total) as progress:
            task = progress.add_task(f"batch {batch_id[:12]}", total=total or None)
            while True:
                answer = _poll(app, batch_id)
                status = BatchStatus.parse(answer)
                progress.update(task, completed=status.done or 0, total=(status.total or 0) or total or None,
                                description=f"{status.state.lower():9} ok {status.count('succeeded')} "
                                            f"failed {status.count('failed')} refused {status.count('refused')}")
                if status.state in TERMINAL_BATCH_STATES:
                    break
                app.sleep(interval)
                interval = min(POLL_MAX_SECONDS, interval * 1.5)
    except KeyboardInterrupt:
        raise Aborted(f"Stopped watching. The batch goes on: see it with `mturk-decisions batch {batch_id} --watch`.") from None
    return answer


def _poll(app: App, batch_id: str) -> Any:
    try:
        return app.call("GET", batch_path(batch_id), query={"limit": 1}).body
    except CliError as error:
        error.hint = (error.hint or "") + (" " if error.hint else "") + (
            f"The batch goes on: resume watching with `mturk-decisions batch {batch_id} --watch`.")
        raise


def finish(app: App, final: Any) -> None:
    """After watching: the summary (or the final status as JSON); exit 1 when items failed or were refused."""
    batch_id = BatchStatus.parse(final).batch_id or ""
    document = app.call("GET", batch_path(batch_id)).body if batch_id else final
    status = BatchStatus.parse(document)
    failed, refused, dead = status.count("failed"), status.count("refused"), status.count("deadLettered")
    #: Listed for people only (--json has the counts): filled by `show_summary`, then named in the hint.
    problems: list[BatchItem] = []

    def show_summary(r: Renderer) -> None:
        r.line()
        r.batch_status(status)
        if failed or refused or dead:
            problems.extend(_problem_items(app, batch_id, status))
            if problems:
                r.table(r.batch_items_table(problems, "Items that failed or were refused", limit=PROBLEMS_SHOWN,
                                            with_decision=False))

    app.emit(Output(document, show_summary))
    _raise_for_problems(batch_id, failed, refused, dead, problems)


def _raise_for_problems(batch_id: str, failed: int, refused: int, dead: int, problems: list[BatchItem]) -> None:
    if dead:
        raise BatchFailures(
            f"Batch {batch_id} finished with {dead} item(s) whose chunk went to the dead-letter queue "
            f"({failed} failed, {refused} refused).",
            hint=f"See them with `mturk-decisions batch {batch_id} --items --status DEAD_LETTERED`. An operator "
                 "redrives the work DLQ once MTurk is reachable again; the items are then applied, never twice.")
    if failed or refused:
        raise BatchFailures(
            f"Batch {batch_id} finished with {failed} failed and {refused} refused item(s).",
            hint=f"See them with `mturk-decisions batch {batch_id} --items --status {'FAILED' if failed else 'REFUSED'}`"
                 f"{' (and REFUSED)' if failed and refused else ''}; " + (
                     refusals_hint([i for i in problems if i.status == "REFUSED"]) if problems and not failed
                     else "fix the cause and apply those items again."))


def _problem_items(app: App, batch_id: str, first: BatchStatus, max_pages: int = 20) -> list[BatchItem]:
    items: list[BatchItem] = []
    page, pages = first, 0
    while True:
        items += [i for i in page.items if (i.status or "").upper() in PROBLEM_STATUSES]
        cursor, pages = page.next_cursor, pages + 1
        if not cursor or pages >= max_pages or len(items) >= PROBLEMS_SHOWN:
            return items
        page = BatchStatus.parse(app.call("GET", batch_path(batch_id), query={"limit": PAGE_LIMIT, "cursor": cursor}).body)


@click.command("batch", epilog=EXIT_CODES_HELP, short_help="A batch's progress, counts and items.")
@click.argument("batch_id", metavar="BATCH_ID")
@click.option("--watch", "follow", is_flag=True, help="Follow it with a progress bar until it completes.")
@click.option("--items", "show_items", is_flag=True, help="List its items (every page).")
@click.option("--status", type=click.Choice(ITEM_STATUSES, case_sensitive=False), help="Only items in this status.")
@click.option("--limit", type=click.IntRange(1, 100), default=PAGE_LIMIT, show_default=True, help="Items per page.")
@pass_app
def batch(app: App, batch_id: str, follow: bool, show_items: bool, status: str | None, limit: int) -> None:
    """A batch's status, counts and progress; its items with --items (GET /batches/BATCH_ID)."""
    if follow:
        first = BatchStatus.parse(app.call("GET", batch_path(batch_id), query={"limit": 1}).body)
        app.emit(Output.for_people(lambda r: r.line(f"Watching batch {batch_id}...")))
        final = watch(app, batch_id, first.total or 0)
        if not show_items:
            finish(app, final)
            return
    query = {"limit": limit, "status": status.upper() if status else None}
    document = _with_every_item(app, batch_id, query) if show_items else app.call("GET", batch_path(batch_id), query=query).body
    answer = BatchStatus.parse(document)

    def show_batch(r: Renderer) -> None:
        r.batch_status(answer)
        if show_items:
            title = f"Items{' (' + status.upper() + ')' if status else ''}: {len(answer.items)}"
            r.table(r.batch_items_table(answer.items, title))

    app.emit(Output(document, show_batch))
    failed, refused, dead = answer.count("failed"), answer.count("refused"), answer.count("deadLettered")
    if follow and (failed or refused or dead):
        raise BatchFailures(f"Batch {batch_id} finished with {failed} failed, {refused} refused and {dead} "
                            "dead-lettered item(s).")


def _with_every_item(app: App, batch_id: str, query: dict[str, Any]) -> dict[str, Any]:
    """The batch's status with the items of every page (and no cursor)."""
    body = app.call("GET", batch_path(batch_id), query=query).body
    items = objects(body.get("items"))
    cursor = body.get("nextCursor")
    while cursor:
        page = app.call("GET", batch_path(batch_id), query={**query, "cursor": cursor}).body
        items += objects(page.get("items"))
        cursor = page.get("nextCursor")
    return {**body, "items": items, "nextCursor": None}


COMMANDS = (batch,)
