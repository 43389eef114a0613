"""Decisions in bulk: `apply` (an MTurk batch-results CSV) and `reverse-hit` (a HIT's rejections).

Both share one flow (`submit`): a dry run and its plan, the confirmation, the submission, then watching the
batch until it completes (`watching`).
"""
from __future__ import annotations

import os
import sys
from collections.abc import Callable
from typing import Any, BinaryIO

import click

from mturk_decisions_cli.app import App, pass_app
from mturk_decisions_cli.client import ApiResponse, quote_segment
from mturk_decisions_cli.commands.options import bulk_options, notify_options, notify_worker
from mturk_decisions_cli.commands.watching import finish, watch
from mturk_decisions_cli.errors import EXIT_CODES_HELP, Aborted, CliError, ExitCode, TransportError, refusals_hint
from mturk_decisions_cli.models import BatchAccepted, BatchPlan
from mturk_decisions_cli.render import Output, Renderer
from mturk_decisions_cli.uploads import UPLOAD_THRESHOLD_BYTES, upload_sender, whole_file

#: API Gateway accepts 10 MB, but a Lambda proxy integration only 6 MB of request payload.
MAX_UPLOAD_BYTES = 6 * 1024 * 1024
#: `send(dry_run)`: one submission of the batch, as a dry run (True) or for real (False).
Send = Callable[[bool], ApiResponse]


def submit(app: App, send: Send, source: str, dry_run: bool, yes: bool, watching: bool) -> None:
    """Dry run and plan, confirmation, submission, then watching: shared by `apply` and `reverse-hit`."""
    if (dry_run or not yes) and not _planned_and_confirmed(app, send, source, dry_run):
        return
    try:
        accepted_body = send(False).raise_for_error().body
    except TransportError as error:
        raise TransportError(error.message, hint=(
            "The batch may or may not have been created (a batch submission is never retried automatically). "
            "Check the recent decisions with `mturk-decisions history` before submitting it again.")) from None
    accepted = BatchAccepted.parse(accepted_body)
    if not watching or not accepted.batch_id:
        app.emit(Output(accepted_body, lambda r: _accepted(r, accepted)))
        return
    app.emit(Output.for_people(lambda r: r.batch_accepted(accepted)))
    finish(app, watch(app, accepted.batch_id, accepted.queued))


def _accepted(r: Renderer, accepted: BatchAccepted) -> None:
    r.batch_accepted(accepted)
    if accepted.batch_id:
        r.note(f"Watch it with: mturk-decisions batch {accepted.batch_id} --watch")


def _planned_and_confirmed(app: App, send: Send, source: str, dry_run: bool) -> bool:
    """The dry run: its plan shown (on stderr with --json, unless only the plan was asked for), then the
    confirmation. False when there is nothing more to do: a dry run, or nothing to apply."""
    plan_body = send(True).raise_for_error().body
    plan = BatchPlan.parse(plan_body)
    if dry_run:
        app.emit(Output(plan_body, lambda r: r.batch_plan(plan, source)))
        return False
    app.renderer.batch_plan(plan, source)  # with --json too (on stderr): the confirmation asks about it
    if plan.actionable == 0:
        refused = plan.counts["refused"]
        app.renderer.line("Nothing to apply: " + ("every item is refused or skipped." if refused
                                                  else "every item is skipped.") + " Nothing was changed.")
        if refused:
            raise CliError("Every item was refused by a pre-check.", exit_code=ExitCode.REFUSED,
                           hint=refusals_hint(plan.refused))
        return False
    cost = plan.cost.total if plan.cost else None
    question = f"Apply {plan.actionable} decision(s)" + (f" costing ${cost}" if cost not in (None, "0", "0.00") else "") + "?"
    if not _confirm(question, app.json_mode):
        raise Aborted("Aborted. Nothing was changed.")
    return True


def _confirm(question: str, json_mode: bool) -> bool:
    """Ask on stderr. With --json, not even click.confirm's readline space may reach stdout."""
    try:
        if not json_mode:
            return click.confirm(question, default=False, err=True)
        click.echo(f"{question} [y/N]: ", nl=False, err=True)
        answer = sys.stdin.readline()
        if not answer:
            raise click.Abort()
        return answer.strip().lower() in ("y", "yes")
    except (click.Abort, KeyboardInterrupt, EOFError):
        click.echo("", err=True)
        return False


@click.command(epilog=EXIT_CODES_HELP, short_help="Apply a batch-results CSV (plan, confirm, watch).")
@click.argument("csv_file", metavar="RESULTS.CSV", type=click.File("rb"))
@click.option("--reason", metavar="TEXT", help="Internal note kept in the audit of every row; never sent to MTurk.")
@bulk_options
@pass_app
def apply(app: App, csv_file: BinaryIO, reason: str | None, dry_run: bool, yes: bool, watch: bool) -> None:
    """Apply the decisions of an MTurk batch-results CSV (POST /batches, text/csv).

    The CSV is the one downloaded from the requester website (Manage > Review results > Download CSV), with
    an "x" in the Approve column or feedback in the Reject column. Without --yes, a dry run shows the plan
    (counts, refused items, cost against the balance) and asks before anything is changed. A file over 5 MB
    (up to 256 MB, 100,000 decisions) is uploaded to S3 instead, with a progress bar (POST /batches/uploads),
    and planned by the service before the same confirmation.
    """
    name = getattr(csv_file, "name", "-")
    if name in ("-", "<stdin>") and not (yes or dry_run):
        raise click.UsageError("Reading the CSV from stdin needs --yes or --dry-run (the confirmation reads stdin).")
    data = csv_file.read(UPLOAD_THRESHOLD_BYTES + 1)
    if not data.strip():
        raise click.BadParameter("the file is empty.", param_hint="RESULTS.CSV")
    if len(data) > UPLOAD_THRESHOLD_BYTES:  # over 5 MB: the CSV goes to S3, then the same plan, apply and watch
        submit(app, upload_sender(app, *whole_file(csv_file, data), reason), os.path.basename(name), dry_run, yes, watch)
        return

    def send(dry: bool) -> ApiResponse:
        query = {"reason": reason, "dryRun": "true" if dry else None}
        return app.client.request("POST", "/batches", data=data, content_type="text/csv", query=query, retry=dry)

    submit(app, send, os.path.basename(name), dry_run, yes, watch)


@click.command("reverse-hit", epilog=EXIT_CODES_HELP, short_help="Reverse the rejections of a HIT.")
@click.argument("hit_id", metavar="HIT_ID")
@click.option("--worker", "workers", multiple=True, metavar="WORKER_ID",
              help="Only this worker's rejections (repeat for several). Default: every rejection of the HIT.")
@click.option("--feedback", metavar="TEXT", help="What the workers see (at most 1024 characters).")
@click.option("--reason", metavar="TEXT", help="Internal note kept in the audit; never sent to MTurk.")
@notify_options
@bulk_options
@pass_app
def reverse_hit(app: App, hit_id: str, workers: tuple[str, ...], feedback: str | None, reason: str | None,
                notify_subject: str | None, notify_message: str | None, dry_run: bool, yes: bool, watch: bool) -> None:
    """Reverse the rejections of a HIT, all or some workers' (POST /hits/HIT_ID/reversals).

    Without --yes, a dry run shows the plan (what is reversible, what is refused and why, the cost against
    the balance) and asks before anything is changed. With --notify-subject and --notify-message, each worker
    whose reversal succeeded is e-mailed (100 workers per MTurk call).
    """
    notice = notify_worker(notify_subject, notify_message)
    body: dict[str, Any] = {k: v for k, v in (("feedback", feedback), ("reason", reason), ("notifyWorker", notice))
                            if v is not None}
    if workers:
        body["workerIds"] = list(dict.fromkeys(workers))

    def send(dry: bool) -> ApiResponse:
        return app.client.request("POST", f"/hits/{quote_segment(hit_id)}/reversals", json=body,
                                  query={"dryRun": "true"} if dry else None, retry=dry)

    submit(app, send, f"HIT {hit_id}", dry_run, yes, watch)


COMMANDS = (apply, reverse_hit)
