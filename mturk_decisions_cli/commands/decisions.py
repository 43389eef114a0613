"""Single decisions: reject, reverse, approve; and for automatic reversals, confirm and cancel-reversal."""
from __future__ import annotations

import uuid
from typing import Any

import click

from mturk_decisions_cli.app import App, pass_app
from mturk_decisions_cli.client import quote_segment
from mturk_decisions_cli.commands.options import (
    decision_options,
    duration_option,
    notify_options,
    notify_worker,
    time_option,
)
from mturk_decisions_cli.errors import EXIT_CODES_HELP
from mturk_decisions_cli.models import DecisionAnswer, Schedule, SinglePlan, mapping
from mturk_decisions_cli.render import Output


def decide(app: App, action: str, assignment_id: str, feedback: str | None, reason: str | None, dry_run: bool,
           idempotency_key: str | None, **extra: Any) -> None:
    """POST /assignments/ID/ACTION: the plan with --dry-run, else the decision (with an Idempotency-Key)."""
    body = {k: v for k, v in (("feedback", feedback), ("reason", reason), *extra.items()) if v is not None}
    path = f"/assignments/{quote_segment(assignment_id)}/{action}"
    if dry_run:
        plan = app.call("POST", path, json=body, query={"dryRun": "true"}, retry=True).body
        app.emit(Output(plan, lambda r: r.single_plan(SinglePlan.parse(plan))))
        return
    app.idempotency_key = idempotency_key or str(uuid.uuid4())
    answer = app.call("POST", path, json=body, headers={"Idempotency-Key": app.idempotency_key}).body
    app.emit(Output(answer, lambda r: r.decision(DecisionAnswer.parse(answer), action)))


@click.command(epilog=EXIT_CODES_HELP, short_help="Reject an assignment with feedback.")
@decision_options(feedback_required=True)
@click.option("--provisional-for", metavar="DURATION", callback=duration_option,
              help="Provisional rejection: reversed automatically after this period (PT48H, 48h, 3d) unless "
                   "confirmed with `mturk-decisions confirm ID`.")
@notify_options
@pass_app
def reject(app: App, assignment_id: str, feedback: str | None, reason: str | None, dry_run: bool,
           idempotency_key: str | None, provisional_for: str | None, notify_subject: str | None,
           notify_message: str | None) -> None:
    """Reject a Submitted assignment with feedback the worker sees (POST /assignments/ID/reject)."""
    decide(app, "reject", assignment_id, feedback, reason, dry_run, idempotency_key, provisionalFor=provisional_for,
           notifyWorker=notify_worker(notify_subject, notify_message))


@click.command(epilog=EXIT_CODES_HELP, short_help="Reverse a rejection (pay the worker).")
@decision_options(feedback_required=False)
@click.option("--at", "at", metavar="TIME", callback=time_option,
              help="Schedule the reversal for this time (ISO 8601, before the reversal deadline) instead of now; "
                   "cancel it with `mturk-decisions cancel-reversal ID`.")
@notify_options
@pass_app
def reverse(app: App, assignment_id: str, feedback: str | None, reason: str | None, dry_run: bool,
            idempotency_key: str | None, at: str | None, notify_subject: str | None,
            notify_message: str | None) -> None:
    """Reverse a rejection: approve it with OverrideRejection (POST /assignments/ID/reverse).

    MTurk allows it within 30 days of submission, while the HIT is not disposed, and with funds for the
    reward plus MTurk's fee. With --notify-subject and --notify-message the worker is e-mailed once the
    reversal succeeded ("Tell the worker the rejection was reversed").
    """
    decide(app, "reverse", assignment_id, feedback, reason, dry_run, idempotency_key, at=at,
           notifyWorker=notify_worker(notify_subject, notify_message))


@click.command(epilog=EXIT_CODES_HELP, short_help="Approve a submitted assignment.")
@decision_options(feedback_required=False)
@pass_app
def approve(app: App, assignment_id: str, feedback: str | None, reason: str | None, dry_run: bool,
            idempotency_key: str | None) -> None:
    """Approve a Submitted assignment (POST /assignments/ID/approve)."""
    decide(app, "approve", assignment_id, feedback, reason, dry_run, idempotency_key)


@click.command(epilog=EXIT_CODES_HELP, short_help="Confirm a provisional rejection (no automatic reversal).")
@click.argument("assignment_id", metavar="ASSIGNMENT_ID")
@pass_app
def confirm(app: App, assignment_id: str) -> None:
    """Confirm a provisional rejection: it will not be reversed automatically (POST /assignments/ID/confirm)."""
    change_schedule(app, "POST", f"/assignments/{quote_segment(assignment_id)}/confirm",
                    f"Confirmed the rejection of {assignment_id}: it will not be reversed.")


@click.command("cancel-reversal", epilog=EXIT_CODES_HELP, short_help="Cancel a pending automatic reversal.")
@click.argument("assignment_id", metavar="ASSIGNMENT_ID")
@pass_app
def cancel_reversal(app: App, assignment_id: str) -> None:
    """Cancel a pending automatic reversal: scheduled, provisional or funds retry
    (DELETE /assignments/ID/scheduled-reversal)."""
    change_schedule(app, "DELETE", f"/assignments/{quote_segment(assignment_id)}/scheduled-reversal",
                    f"Cancelled the automatic reversal of {assignment_id}.")


def change_schedule(app: App, method: str, path: str, done: str) -> None:
    answer = app.call(method, path).body
    app.emit(Output(answer, lambda r: r.schedule(Schedule.parse(mapping(answer).get("scheduledReversal")), done)))


COMMANDS = (reject, reverse, approve, confirm, cancel_reversal)
